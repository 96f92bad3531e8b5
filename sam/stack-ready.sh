#!/usr/bin/env bash
# sam/stack-ready.sh STACK [REGION] - make STACK deployable before a deploy or a delete: wait while
# CloudFormation works on it (*_IN_PROGRESS), and recover the states a cancelled or failed run
# leaves behind instead of failing the next deploy on them:
#   ROLLBACK_COMPLETE, ROLLBACK_FAILED, REVIEW_IN_PROGRESS (a first create that failed, or a change
#     set never executed): the stack holds nothing worth keeping and cannot be updated -> delete it
#   UPDATE_ROLLBACK_FAILED: continue-update-rollback, then wait
#   UPDATE_IN_PROGRESS still running after the wait limit: cancel-update-stack, then wait for the
#     rollback
#   DELETE_FAILED: exit 1 (something outside the stack holds a resource; see the events)
# A missing stack is ready. Exits 0 when the stack is absent or in a stable *_COMPLETE state.
# MB_STACK_WAIT (seconds, default 3600) bounds the wait; MB_STACK_POLL (default 15) the poll.
set -euo pipefail
if [ "$#" -lt 1 ] || [ "$#" -gt 2 ]; then
  echo "usage: $0 STACK [REGION]" >&2
  exit 2
fi
stack=$1
region=${2:-${AWS_REGION:-us-east-1}}
[[ "$stack" =~ ^[A-Za-z][A-Za-z0-9-]{0,127}$ ]] || { echo "stack-ready: bad stack name '$stack'" >&2; exit 2; }
limit=${MB_STACK_WAIT:-3600}
poll=${MB_STACK_POLL:-15}
cfn() { aws cloudformation "$@" --region "$region" --stack-name "$stack"; }

status() {
  local out
  if out=$(cfn describe-stacks --query 'Stacks[0].StackStatus' --output text 2>&1); then
    echo "$out"
  elif grep -q 'does not exist' <<<"$out"; then
    echo NONE
  else
    echo "stack-ready: cannot read $stack: $out" >&2
    return 1
  fi
}

start=$SECONDS
cancelled=0 continued=0 deleting=0
while :; do
  st=$(status)
  waited=$((SECONDS - start))
  case "$st" in
    NONE | DELETE_COMPLETE)
      echo "stack-ready: $stack does not exist (ready for a first deploy)"
      exit 0 ;;
    ROLLBACK_COMPLETE | ROLLBACK_FAILED | REVIEW_IN_PROGRESS)
      if [ "$deleting" = 0 ]; then
        echo "stack-ready: $stack is $st (nothing deployable in it): deleting it"
        cfn delete-stack
        deleting=1
      fi ;;
    UPDATE_ROLLBACK_FAILED)
      if [ "$continued" = 0 ]; then
        echo "stack-ready: $stack is UPDATE_ROLLBACK_FAILED: continuing the rollback"
        cfn continue-update-rollback
        continued=1
      fi ;;
    DELETE_FAILED)
      echo "stack-ready: $stack is DELETE_FAILED; see its events (aws cloudformation describe-stack-events)" >&2
      exit 1 ;;
    *_IN_PROGRESS)
      if [ "$st" = UPDATE_IN_PROGRESS ] && [ "$waited" -ge "$limit" ] && [ "$cancelled" = 0 ]; then
        echo "stack-ready: $stack still UPDATE_IN_PROGRESS after ${waited}s: cancelling the update"
        cfn cancel-update-stack
        cancelled=1
      fi ;;
    *_COMPLETE)
      echo "stack-ready: $stack is $st"
      exit 0 ;;
    *)
      echo "stack-ready: $stack is in an unknown state '$st'" >&2
      exit 1 ;;
  esac
  if [ "$waited" -ge $((limit * 2)) ]; then
    echo "stack-ready: $stack still $st after ${waited}s; giving up" >&2
    exit 1
  fi
  echo "stack-ready: $stack is $st; waiting ${poll}s"
  sleep "$poll"
done
