#!/usr/bin/env bash
# sample_events.sh BOOTSTRAP SOURCE_DIR - run `bootstrap invoke --event` on every file in
# sam/events/ and check each prints exactly one JSON proxy response (integer statusCode, headers
# object, string body) and exits 0; then check the usage errors exit non-zero with a one-line
# message. Registered in ctest as unit_sample_events.
set -u
bootstrap=${1:?usage: sample_events.sh BOOTSTRAP SOURCE_DIR}
src=${2:?usage: sample_events.sh BOOTSTRAP SOURCE_DIR}
export HANDLERS_DIR="$src/handlers"
unset AWS_LAMBDA_RUNTIME_API
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# check_response FILE EXPECTED_STATUS(optional): one line of JSON shaped like a proxy response.
check_response() {
  # shellcheck disable=SC2016 # the $ belong to the JavaScript
  node -e '
    const fs = require("fs");
    const text = fs.readFileSync(process.argv[1], "utf8");
    const lines = text.split("\n").filter((l) => l.length > 0);
    if (lines.length !== 1) throw new Error(`expected one line, got ${lines.length}`);
    const r = JSON.parse(lines[0]);
    if (!Number.isInteger(r.statusCode) || r.statusCode < 100 || r.statusCode > 599)
      throw new Error(`bad statusCode ${r.statusCode}`);
    if (typeof r.headers !== "object" || r.headers === null) throw new Error("no headers object");
    if (typeof r.body !== "string") throw new Error("body is not a string");
    if (typeof r.isBase64Encoded !== "boolean") throw new Error("no isBase64Encoded");
    const want = process.argv[2];
    if (want && String(r.statusCode) !== want) throw new Error(`status ${r.statusCode}, wanted ${want}`);
  ' "$1" "${2:-}"
}

count=0
for ev in "$src"/sam/events/*.json; do
  name=$(basename "$ev" .json)
  count=$((count + 1))
  if ! "$bootstrap" invoke --event "$ev" >"$tmp/out" 2>"$tmp/err"; then
    fail "$name: exit status $? ($(head -c 300 "$tmp/err"))"
    continue
  fi
  case "$name" in
    hello | hello-v1) want=200 ;;
    not-found) want=404 ;;
    hello-post-not-allowed) want=405 ;;
    *) want= ;;
  esac
  check_response "$tmp/out" "$want" 2>"$tmp/why" || fail "$name: $(tail -n 3 "$tmp/why")"
done
[ "$count" -ge 2 ] || fail "expected sample events in $src/sam/events, found $count"

# The same event from stdin.
"$bootstrap" invoke --event - <"$src/sam/events/hello.json" >"$tmp/out" 2>/dev/null ||
  fail "stdin: exit status $?"
check_response "$tmp/out" 200 2>"$tmp/why" || fail "stdin: $(tail -n 3 "$tmp/why")"

# Usage and start-up errors: non-zero exit, exactly one line on stderr, nothing on stdout.
usage_error() { # NAME ENV... -- ARGS...
  local name=$1; shift
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  if env "${envs[@]}" "$bootstrap" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null; then
    fail "$name: exited 0"
    return
  fi
  local lines
  lines=$(wc -l <"$tmp/err")
  [ "$lines" -eq 1 ] || fail "$name: $lines lines on stderr: $(cat "$tmp/err")"
  [ ! -s "$tmp/out" ] || fail "$name: wrote to stdout: $(head -c 200 "$tmp/out")"
  if [ -n "${want_text:-}" ] && ! grep -q -- "$want_text" "$tmp/err"; then
    fail "$name: message does not mention '$want_text': $(cat "$tmp/err")"
  fi
}
want_text=--event usage_error "missing --event" X=1 -- invoke
want_text=--event usage_error "--event without a file" X=1 -- invoke --event
want_text=/nonexistent/event.json usage_error "unreadable file" X=1 -- invoke --event /nonexistent/event.json
want_text=LOG_LEVEL usage_error "bad LOG_LEVEL" LOG_LEVEL=chatty -- invoke --event "$src/sam/events/hello.json"
want_text=JWT_CLOCK_SKEW_SECONDS usage_error "bad skew" JWT_CLOCK_SKEW_SECONDS=-5 -- invoke --event "$src/sam/events/hello.json"
want_text=AWS_LAMBDA_RUNTIME_API usage_error "no runtime API" X=1 --
mkdir -p "$tmp/broken"
printf 'return {\n  { "GET", "/x" "x" },\n}\n' >"$tmp/broken/routes.lua"
want_text=routes.lua:2 usage_error "routes.lua syntax error" HANDLERS_DIR="$tmp/broken" -- invoke --event "$src/sam/events/hello.json"
want_text=routes.lua usage_error "missing routes.lua" HANDLERS_DIR="$tmp/nowhere" -- invoke --event "$src/sam/events/hello.json"

# --version and --help succeed.
"$bootstrap" --version | grep -q "bootstrap" || fail "--version"
"$bootstrap" --help | grep -q "invoke --event" || fail "--help"
if "$bootstrap" --bogus >/dev/null 2>&1; then fail "unknown argument exited 0"; fi

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "sample events: $count files OK, usage errors OK"
