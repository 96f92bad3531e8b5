#!/usr/bin/env bash
# sam/bundle-libs.sh BINARY DESTDIR MAX_GLIBC - copy the shared libraries BINARY needs (the whole
# closure that ldd resolves on this machine) into DESTDIR, leaving out glibc's own libraries, then
# check that neither the binary nor any copied library needs a glibc symbol version newer than
# MAX_GLIBC (what the Lambda runtime has). An empty DESTDIR checks the binary alone (the function
# bundle; its libraries travel in the layer). Exits non-zero, naming the file, when a library is
# not found, when the binary is a sanitizer build, or when a glibc version is too new.
set -euo pipefail

if [ "$#" -ne 3 ]; then
  echo "usage: $0 BINARY DESTDIR MAX_GLIBC" >&2
  exit 2
fi
bin=$1 dest=$2 max=$3

for tool in ldd objdump; do
  command -v "$tool" >/dev/null || { echo "bundle-libs: $tool is missing (apt-get install binutils libc-bin)" >&2; exit 1; }
done

# glibc's libraries: provided by the runtime, and they must match its dynamic loader.
is_glibc() {
  case "$1" in
    linux-vdso.so.* | ld-linux*.so.* | libc.so.* | libm.so.* | libpthread.so.* | libdl.so.* | \
      librt.so.* | libresolv.so.* | libutil.so.* | libanl.so.* | libnsl.so.* | libBrokenLocale.so.* | \
      libnss_*.so.* | libthread_db.so.* | libmvec.so.* | libc_malloc_debug.so.*) return 0 ;;
  esac
  return 1
}

deps=$(ldd "$bin" 2>&1) || { echo "bundle-libs: ldd failed on $bin: $deps" >&2; exit 1; }
# Libraries the binary loads with dlopen() on first use (core/http.c: libcurl, kept out of the
# cold start) do not show in its ldd output: add them and their own closure.
# shellcheck disable=SC2043 # one library today; the loop is the place to add another
for lazy in libcurl.so.4; do
  # awk reads to the end (no early exit): under pipefail, ldconfig killed by SIGPIPE would fail
  # the build now and then (exit 141).
  lpath=$(ldconfig -p | awk -v n="$lazy" '!found && $1 == n && /x86-64/ { print $NF; found = 1 }')
  [ -n "$lpath" ] || { echo "bundle-libs: $lazy (loaded at run time) not found; apt-get install libcurl4" >&2; exit 1; }
  deps+=$'\n'"$lazy => $lpath (0x0)"$'\n'"$(ldd "$lpath")"
done
deps=$(sort -u <<<"$deps")
if grep -q 'not found' <<<"$deps"; then
  echo "bundle-libs: unresolved libraries for $bin:" >&2
  grep 'not found' <<<"$deps" >&2
  exit 1
fi
if grep -Eq 'lib(asan|ubsan|tsan|lsan)\.so' <<<"$deps"; then
  echo "bundle-libs: $bin is a sanitizer build; package a Release build (cmake -DCMAKE_BUILD_TYPE=Release)" >&2
  exit 1
fi

copied=0
[ -n "$dest" ] && mkdir -p "$dest"
# Lines look like "libcurl.so.4 => /lib/x86_64-linux-gnu/libcurl.so.4 (0x...)".
while [ -n "$dest" ] && read -r name arrow path _; do
  [ "$arrow" = "=>" ] || continue
  case "$path" in /*) ;; *) continue ;; esac
  is_glibc "$name" && continue
  cp -L "$path" "$dest/$name"
  chmod 0644 "$dest/$name"
  copied=$((copied + 1))
done <<<"$deps"

# The newest GLIBC_x.y version a file needs (undefined symbols only), or nothing.
needs() {
  objdump -T "$1" | awk '/\*UND\*/' | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/^GLIBC_//' | sort -uV | tail -n 1
}
bad=0
for f in "$bin" ${dest:+"$dest"/*}; do
  [ -f "$f" ] || continue
  v=$(needs "$f")
  [ -n "$v" ] || continue
  if [ "$(printf '%s\n%s\n' "$v" "$max" | sort -V | tail -n 1)" != "$max" ]; then
    echo "bundle-libs: $(basename "$f") needs GLIBC_$v but the Lambda runtime has $max" >&2
    bad=1
  fi
done
[ "$bad" = 0 ] || exit 1
if [ -n "$dest" ]; then
  echo "bundle-libs: copied $copied libraries into $dest (all need glibc <= $max)"
else
  echo "bundle-libs: $(basename "$bin") needs glibc <= $max"
fi
