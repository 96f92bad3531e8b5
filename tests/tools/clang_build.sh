#!/usr/bin/env bash
# tests/tools/clang_build.sh - build every target (the core, both mains, every test, the
# benchmarks) with clang under the project's -Werror flags, so a warning only clang raises
# (-Wstring-concatenation, ...) fails the suite the way a gcc one does. scripts/test builds with
# gcc; this is the second compiler. Incremental: the build folder is kept between runs.
# Exit 77 (ctest SKIP) when clang is not installed (scripts/deps installs it).
# Env: MB_CLANG_BUILD_DIR (default <repo>/build-clang), MB_CLANG_JOBS (default 2), MB_CLANG_CC.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${MB_CLANG_BUILD_DIR:-$root/build-clang}"
cc="${MB_CLANG_CC:-$(command -v clang || command -v clang-14 || true)}"
if [ -z "$cc" ] || ! command -v "$cc" >/dev/null 2>&1; then
  echo "clang build: SKIP: clang is not installed (scripts/deps installs it)"
  exit 77
fi
mkdir -p "$build"
# Debug without sanitizers: the warnings are what this build is for, and -O0 keeps it short.
if ! cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Debug \
  -DMOONBASE_TESTS=ON >"$build/configure.log" 2>&1; then
  cat "$build/configure.log"
  exit 1
fi
if ! cmake --build "$build" -j"${MB_CLANG_JOBS:-2}" >"$build/build.log" 2>&1; then
  grep -E 'error|warning' "$build/build.log" | head -40
  echo "clang build: FAILED (full log: $build/build.log)"
  exit 1
fi
echo "clang build: every target built with $("$cc" --version | head -1)"
