# Moonbase: thin wrapper over CMake and the scripts. CMake stays the build.
#   make up     install what is missing, build, start the local stack (API + SPA on :3000)
#   make test   install what is missing, build with sanitizers, run every test (ctest)
#   make down   stop the local stack
.PHONY: up down test build bench clean
up:
	scripts/up
down:
	scripts/down
test:
	scripts/test
build:
	cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
	cmake --build build -j
bench: build
	bench/run
clean:
	rm -rf build build-test
