#!/usr/bin/env bash
# tests/infra/test_sam_package.sh - `make build-MoonbaseFunction` and `make build-SharedLibsLayer`
# (sam/Makefile, what `sam build` runs) produce a function bundle (bootstrap + handlers/) and a
# layer (lib/ holding every non-glibc library + certs/ with the CA bundle) that together can run:
# no glibc library copied; nothing needing glibc > 2.34.
# Uses a stand-in binary linked like bootstrap (curl, OpenSSL, jansson), so it runs before
# the real binary exists; when the Release build/bootstrap exists it is packaged and checked too.
# Also proves the guards fire: a too-new glibc requirement and a sanitizer build are refused.
set -euo pipefail
root=${MB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cat >"$work/standin.c" <<'C'
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
int main(void) {
    json_t *j = json_object();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    EVP_MD_CTX_free(EVP_MD_CTX_new());
    printf("standin ok %s\n", curl_version());
    json_decref(j);
    curl_global_cleanup();
    return 0;
}
C
cc -O1 -o "$work/standin" "$work/standin.c" -lcurl -ljansson -lcrypto || fail "cannot build the stand-in binary"

# package BINARY ARTIFACTS_DIR [extra make args]: the function bundle in ARTIFACTS_DIR and the layer
# in ARTIFACTS_DIR.layer, as `sam build` makes them (each target gets its own folder).
package() {
  local bin=$1 art=$2
  shift 2
  make --no-print-directory -C "$root/sam" build-MoonbaseFunction ARTIFACTS_DIR="$art" \
    MOONBASE_BUILD=0 BOOTSTRAP="$bin" "$@" &&
    make --no-print-directory -C "$root/sam" build-SharedLibsLayer ARTIFACTS_DIR="$art.layer" \
      MOONBASE_BUILD=0 BOOTSTRAP="$bin" "$@"
}

check_artifact() { # check_artifact ARTIFACTS_DIR (the layer is ARTIFACTS_DIR.layer)
  local fn=$1 art=$1.layer
  [ -x "$fn/bootstrap" ] || fail "no executable bootstrap in the function bundle"
  [ -f "$fn/handlers/routes.lua" ] || [ -z "$(ls -A "$root/handlers")" ] || fail "handlers/ not copied"
  diff -r "$root/handlers" "$fn/handlers" >/dev/null || fail "handlers/ differs from the repository's"
  if [ -e "$fn/lib" ] || [ -e "$fn/certs" ]; then fail "libraries or certs in the function bundle (they belong to the layer)"; fi
  if [ -e "$art/bootstrap" ] || [ -e "$art/handlers" ]; then fail "the layer holds the function's files"; fi
  [ -s "$art/certs/ca-certificates.crt" ] || fail "CA bundle missing from the layer"
  for lib in libcurl.so.4 libjansson.so.4 libcrypto.so.3 libssl.so.3; do
    [ -f "$art/lib/$lib" ] || fail "$lib not bundled"
  done
  # libcurl is dlopen()ed at run time (core/http.c): its own closure must resolve inside lib/ too.
  ! env -i LD_LIBRARY_PATH="$art/lib" ldd "$art/lib/libcurl.so.4" | grep -q 'not found' ||
    fail "libcurl's dependencies are not all bundled"
  for lib in libc.so.6 libm.so.6 libpthread.so.0 libdl.so.2 ld-linux-x86-64.so.2 libresolv.so.2; do
    [ ! -e "$art/lib/$lib" ] || fail "glibc library $lib must not be bundled"
  done
  # With only the artifact's lib/ on the path, every non-glibc library resolves inside it.
  local out
  out=$(env -i LD_LIBRARY_PATH="$art/lib" ldd "$fn/bootstrap")
  ! grep -q 'not found' <<<"$out" || fail "unresolved libraries: $out"
  while read -r name arrow path _; do
    [ "$arrow" = "=>" ] || continue
    case "$name" in libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|libresolv.so.*|ld-linux*) continue ;; esac
    case "$path" in "$art/lib/"*) ;; *) fail "$name resolved outside the artifact: $path" ;; esac
  done <<<"$out"
}

# 1. The stand-in: packaged, self-contained, and it runs from the artifact.
package "$work/standin" "$work/art" >"$work/log" 2>&1 || { cat "$work/log"; fail "packaging failed"; }
check_artifact "$work/art"
env -i LD_LIBRARY_PATH="$work/art.layer/lib" "$work/art/bootstrap" | grep -q '^standin ok' ||
  fail "the packaged binary does not run with the layer's libraries"
echo "ok: stand-in packaged ($(find "$work/art.layer/lib" -type f | wc -l) libraries in the layer) and runs from it"

# 2. A runtime with an older glibc than the libraries need is refused, naming the library.
if package "$work/standin" "$work/art2" MAX_GLIBC=2.17 >"$work/log" 2>&1; then
  fail "MAX_GLIBC=2.17 should be refused (Debian 12 libraries need 2.34)"
fi
grep -q 'needs GLIBC_2\.[0-9]* but the Lambda runtime has 2.17' "$work/log" || { cat "$work/log"; fail "no glibc message"; }
echo "ok: too-new glibc requirement refused"

# 3. A sanitizer build is refused.
if cc -fsanitize=address -o "$work/asan" "$work/standin.c" -lcurl -ljansson -ljwt -lcrypto 2>/dev/null; then
  if package "$work/asan" "$work/art3" >"$work/log" 2>&1; then fail "an ASan binary was packaged"; fi
  grep -q 'sanitizer build' "$work/log" || { cat "$work/log"; fail "no sanitizer message"; }
  echo "ok: sanitizer build refused"
fi

# 4. Outside the repository (SAM's scratch copy) the Makefile says what to do.
if make --no-print-directory -C "$root/sam" build-MoonbaseFunction ARTIFACTS_DIR="$work/art4" \
     MOONBASE_ROOT="$work" MOONBASE_BUILD=0 BOOTSTRAP="$work/standin" >"$work/log" 2>&1; then
  fail "a wrong MOONBASE_ROOT was accepted"
fi
grep -q 'build-in-source' "$work/log" || { cat "$work/log"; fail "no hint about --build-in-source"; }
echo "ok: wrong repository root refused with a hint"

# 5. The real Release binary, when it has been built.
real="$root/build/bootstrap"
if [ -x "$real" ]; then
  package "$real" "$work/real" >"$work/log" 2>&1 || { cat "$work/log"; fail "packaging build/bootstrap failed"; }
  check_artifact "$work/real"
  echo "ok: build/bootstrap packaged: $(tail -n 1 "$work/log")"
else
  echo "note: $real not built yet; only the stand-in was packaged"
fi
