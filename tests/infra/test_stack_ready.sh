#!/usr/bin/env bash
# tests/infra/test_stack_ready.sh - sam/stack-ready.sh waits for and recovers a stuck stack (what a
# cancelled preview or deploy run leaves) by driving a stand-in `aws` that plays back a scripted
# sequence of stack states and logs the calls. What this cannot show: that AWS moves through the
# states this way; only a real stack shows that.
set -euo pipefail
root=${MB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$work/calls" ] && sed 's/^/  call: /' "$work/calls" >&2; exit 1; }

mkdir -p "$work/bin"
# describe-stacks answers the next line of $STATES (the last one repeats); NONE = no such stack.
cat >"$work/bin/aws" <<'SH'
#!/usr/bin/env bash
printf 'aws' >>"$CALLS"; printf ' [%s]' "$@" >>"$CALLS"; echo >>"$CALLS"
if [ "$1 $2" = "cloudformation describe-stacks" ]; then
  n=$(cat "$STATES.n" 2>/dev/null || echo 1)
  st=$(sed -n "${n}p" "$STATES"); [ -n "$st" ] || st=$(tail -n 1 "$STATES")
  echo $((n + 1)) >"$STATES.n"
  if [ "$st" = NONE ]; then echo "An error occurred (ValidationError): Stack with id x does not exist" >&2; exit 254; fi
  echo "$st"
fi
SH
chmod +x "$work/bin/aws"

run() { # run NAME "STATE STATE ..." -> exit code; calls in $work/calls
  local states
  read -r -a states <<<"$2"
  printf '%s\n' "${states[@]}" >"$work/states"
  rm -f "$work/states.n" "$work/calls"
  PATH="$work/bin:$PATH" CALLS="$work/calls" STATES="$work/states" MB_STACK_POLL=0 MB_STACK_WAIT=3 \
    bash "$root/sam/stack-ready.sh" moonbase-pr-7 eu-west-1 >"$work/out" 2>&1
}
calls() { grep -c -- "$1" "$work/calls" || true; }

run fresh "NONE" || fail "a missing stack must be ready"
echo "ok: missing stack is ready"

run stable "UPDATE_COMPLETE" || fail "UPDATE_COMPLETE must be ready"
[ "$(calls '\[delete-stack\]')" = 0 ] || fail "a healthy stack was deleted"
echo "ok: stable stack is ready, untouched"

run busy "UPDATE_IN_PROGRESS UPDATE_IN_PROGRESS UPDATE_COMPLETE_CLEANUP_IN_PROGRESS UPDATE_COMPLETE" ||
  fail "an update in progress must be waited for"
[ "$(calls 'describe-stacks')" = 4 ] || fail "expected 4 polls"
[ "$(calls 'cancel-update-stack')" = 0 ] || fail "cancelled a short update"
echo "ok: waits while an update runs"

run failed-create "ROLLBACK_COMPLETE DELETE_IN_PROGRESS NONE" || fail "ROLLBACK_COMPLETE must be recovered"
[ "$(calls '\[delete-stack\] \[--region\] \[eu-west-1\] \[--stack-name\] \[moonbase-pr-7\]')" = 1 ] ||
  fail "ROLLBACK_COMPLETE: expected one delete-stack"
echo "ok: a failed first create is deleted, then ready"

run rollback-failed "UPDATE_ROLLBACK_FAILED UPDATE_ROLLBACK_IN_PROGRESS UPDATE_ROLLBACK_COMPLETE" ||
  fail "UPDATE_ROLLBACK_FAILED must be recovered"
[ "$(calls 'continue-update-rollback')" = 1 ] || fail "expected continue-update-rollback"
echo "ok: a failed rollback is continued"

# Stuck: UPDATE_IN_PROGRESS past the limit (3 s here) is cancelled once, then the rollback waited for.
printf '%s\n' UPDATE_IN_PROGRESS >"$work/states"
rm -f "$work/states.n" "$work/calls"
( sleep 4; printf '%s\n' UPDATE_ROLLBACK_COMPLETE >>"$work/states"; echo 1000 >"$work/states.n" ) &
PATH="$work/bin:$PATH" CALLS="$work/calls" STATES="$work/states" MB_STACK_POLL=1 MB_STACK_WAIT=3 \
  bash "$root/sam/stack-ready.sh" moonbase-pr-7 eu-west-1 >"$work/out" 2>&1 || { cat "$work/out"; fail "a stuck update must be cancelled and recovered"; }
wait
[ "$(calls 'cancel-update-stack')" = 1 ] || fail "expected exactly one cancel-update-stack"
echo "ok: an update stuck past the limit is cancelled, its rollback waited for"

if run broken "DELETE_FAILED"; then fail "DELETE_FAILED must fail"; fi
grep -q 'describe-stack-events' "$work/out" || fail "DELETE_FAILED message should point at the events"
echo "ok: DELETE_FAILED stops with a pointer to the events"

if PATH="$work/bin:$PATH" CALLS="$work/calls" STATES="$work/states" bash "$root/sam/stack-ready.sh" 'bad name' >/dev/null 2>&1; then
  fail "a bad stack name must be refused"
fi
echo "ok: bad stack name refused"
