#!/usr/bin/env bash
# sam/delete-stack.sh STACK [REGION] - tear down one Moonbase stack: empty its frontend bucket
# (CloudFormation cannot delete a bucket that holds objects, or object versions in prod), then
# `sam delete`, which deletes the stack and the packaged artifacts SAM uploaded for it.
# A missing stack is not an error (the preview cleanup may run twice). Prod tables and user pools
# have deletion protection: turn it off by hand first, on purpose (see docs/deploy.md).
set -euo pipefail
if [ "$#" -lt 1 ] || [ "$#" -gt 2 ]; then
  echo "usage: $0 STACK [REGION]" >&2
  exit 2
fi
stack=$1
region=${2:-${AWS_REGION:-us-east-1}}
[[ "$stack" =~ ^[A-Za-z][A-Za-z0-9-]{0,127}$ ]] || { echo "delete-stack: bad stack name '$stack'" >&2; exit 2; }

if ! bucket=$(aws cloudformation describe-stacks --region "$region" --stack-name "$stack" \
    --query "Stacks[0].Outputs[?OutputKey=='FrontendBucket'].OutputValue" --output text 2>/dev/null); then
  echo "delete-stack: no stack $stack in $region; nothing to do"
  exit 0
fi

if [ -n "$bucket" ] && [ "$bucket" != "None" ]; then
  echo "delete-stack: emptying s3://$bucket"
  aws s3 rm "s3://$bucket" --recursive --region "$region" --only-show-errors
  # Versioned buckets (prod) keep old versions and delete markers: remove those too, 500 a batch.
  while :; do
    batch=$(aws s3api list-object-versions --region "$region" --bucket "$bucket" --output json \
      --query '{Objects: [Versions[].{Key: Key, VersionId: VersionId}, DeleteMarkers[].{Key: Key, VersionId: VersionId}][] | [0:500]}')
    [ "$(printf '%s' "$batch" | tr -d ' \n')" != '{"Objects":[]}' ] || break
    aws s3api delete-objects --region "$region" --bucket "$bucket" --delete "$batch" >/dev/null
  done
fi

echo "delete-stack: deleting $stack (CloudFront takes several minutes to disable)"
sam delete --stack-name "$stack" --region "$region" --no-prompts
echo "delete-stack: $stack deleted"
