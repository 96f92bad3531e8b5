#!/usr/bin/env bash
# sam/deploy.sh - build, deploy and publish one Moonbase stack; what the deploy and preview
# workflows run, and what a person runs after the first `sam deploy --guided`.
#
#   sam/deploy.sh --config-env dev|staging|prod [--stack-name NAME] [--param Key=Value]...
#
# 1. sam build + sam deploy with samconfig.toml's settings for the config env (stack name, region,
#    parameter_overrides), plus --param overrides and AlarmEmail=$ALARM_EMAIL when that is set.
#    (--parameter-overrides replaces samconfig's list as a whole, so the list is merged here.)
# 2. Builds the SPA (scripts/build-frontend), writes /config.json from the stack outputs
#    (sam/config-json.mjs), syncs both to the frontend bucket and invalidates CloudFront.
# Needs: sam, aws (CLI), node, the C toolchain (scripts/deps), AWS credentials. AWS_REGION, when
# set, overrides samconfig's region. Writes frontend_url/api_url/stack_name to $GITHUB_OUTPUT
# when that is set (GitHub Actions).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

usage() { echo "usage: $0 --config-env dev|staging|prod [--stack-name NAME] [--param Key=Value]..." >&2; exit 2; }
env_name="" stack="" extra=()
while [ "$#" -gt 0 ]; do
  case "$1" in
    --config-env) env_name=${2:-}; shift 2 ;;
    --stack-name) stack=${2:-}; shift 2 ;;
    --param) extra+=("${2:-}"); shift 2 ;;
    *) usage ;;
  esac
done
case "$env_name" in dev|staging|prod) ;; *) usage ;; esac
for tool in sam aws node; do
  command -v "$tool" >/dev/null || { echo "deploy: $tool is not installed (see docs/deploy.md)" >&2; exit 1; }
done

# Value of KEY in [ENV.deploy.parameters] of samconfig.toml (strings only, quotes removed).
samconfig() {
  awk -v sect="[$env_name.deploy.parameters]" -v key="$1" '
    $0 == sect { inside = 1; next }
    /^\[/ { inside = 0 }
    inside && index($0, key " = ") == 1 { v = substr($0, length(key) + 4); gsub(/^"|"$/, "", v); print v; exit }
  ' "$here/samconfig.toml"
}
[ -n "$stack" ] || stack=$(samconfig stack_name)
region=${AWS_REGION:-$(samconfig region)}
[[ "$stack" =~ ^[A-Za-z][A-Za-z0-9-]{0,49}$ ]] || { echo "deploy: bad stack name '$stack' (letters, digits, -; <= 50)" >&2; exit 2; }

# Merge: samconfig's overrides, then --param, then AlarmEmail from the environment; later wins.
declare -A params=()
order=()
add_param() {
  local k=${1%%=*} v=${1#*=}
  [[ "$1" == *=* && "$k" =~ ^[A-Za-z0-9]+$ ]] || { echo "deploy: bad parameter '$1' (want Key=Value)" >&2; exit 2; }
  [ -n "${params[$k]+x}" ] || order+=("$k")
  params[$k]=$v
}
read -r -a base <<<"$(samconfig parameter_overrides)"
for p in "${base[@]}" "${extra[@]}"; do add_param "$p"; done
[ -z "${ALARM_EMAIL:-}" ] || add_param "AlarmEmail=$ALARM_EMAIL"
overrides=()
for k in "${order[@]}"; do overrides+=("$k=${params[$k]}"); done

echo "deploy: stack $stack, config env $env_name, region $region"
echo "deploy: parameters ${overrides[*]}"
cd "$here"
sam build --config-env "$env_name"
sam deploy --config-env "$env_name" --stack-name "$stack" --s3-prefix "$stack" --region "$region" \
  --no-confirm-changeset --no-fail-on-empty-changeset --parameter-overrides "${overrides[*]}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
aws cloudformation describe-stacks --region "$region" --stack-name "$stack" \
  --query 'Stacks[0].Outputs' --output json >"$work/outputs.json"
output() { node -e 'const o=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));const v=o.find(x=>x.OutputKey===process.argv[2]);if(!v){process.exit(1)}console.log(v.OutputValue)' "$work/outputs.json" "$1"; }
bucket=$(output FrontendBucket)
dist=$(output DistributionId)
site=$(output FrontendUrl)
api=$(output ApiUrl)

# The SPA plus its config: hashed-query assets may be cached, index.html and config.json never.
node "$root/scripts/build-frontend" "$work/site"
node "$here/config-json.mjs" "$work/outputs.json" >"$work/site/config.json"
aws s3 sync "$work/site" "s3://$bucket/" --region "$region" --delete \
  --exclude index.html --exclude config.json --cache-control "public,max-age=86400"
aws s3 cp "$work/site/index.html" "s3://$bucket/index.html" --region "$region" \
  --cache-control "no-cache" --content-type "text/html; charset=utf-8"
aws s3 cp "$work/site/config.json" "s3://$bucket/config.json" --region "$region" \
  --cache-control "no-cache" --content-type "application/json"
aws cloudfront create-invalidation --distribution-id "$dist" --paths "/*" --query 'Invalidation.Id' --output text

echo "deploy: app $site"
echo "deploy: api $api"
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  { echo "frontend_url=$site"; echo "api_url=$api"; echo "stack_name=$stack"; } >>"$GITHUB_OUTPUT"
fi
