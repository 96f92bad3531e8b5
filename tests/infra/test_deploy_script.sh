#!/usr/bin/env bash
# tests/infra/test_deploy_script.sh - sam/deploy.sh and sam/delete-stack.sh drive the sam and aws
# CLIs correctly. AWS cannot be reached from here, so `sam` and `aws` are stand-in scripts on PATH
# that log their arguments and play back canned stack outputs; everything else is real (argument
# parsing, samconfig.toml reading, parameter merging, scripts/build-frontend, config-json.mjs).
# What this cannot show: that AWS accepts the calls. Only a real deploy shows that.
set -euo pipefail
root=${MB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$work/calls" ] && sed 's/^/  call: /' "$work/calls" >&2; exit 1; }
command -v node >/dev/null || fail "node is required"

mkdir -p "$work/bin" "$work/bucket"
cat >"$work/bin/sam" <<'SH'
#!/usr/bin/env bash
printf 'sam' >>"$CALLS"; printf ' [%s]' "$@" >>"$CALLS"; echo >>"$CALLS"
SH
cat >"$work/bin/aws" <<'SH'
#!/usr/bin/env bash
printf 'aws' >>"$CALLS"; printf ' [%s]' "$@" >>"$CALLS"; echo >>"$CALLS"
case "$1 $2" in
  "cloudformation describe-stacks")
    [ "${STACK_MISSING:-}" = 1 ] && { echo "Stack does not exist" >&2; exit 254; }
    case "$*" in
      *FrontendBucket*) echo "fake-bucket" ;;
      *) cat "$OUTPUTS" ;;
    esac ;;
  "s3 sync") cp -R "$3/." "$BUCKET/" ;;
  "s3 cp") cp "$3" "$BUCKET/$(basename "$4")" ;;
  "s3api list-object-versions") echo '{"Objects": []}' ;;
  "cloudfront create-invalidation") echo "I123" ;;
esac
SH
chmod +x "$work/bin/sam" "$work/bin/aws"
cat >"$work/outputs.json" <<'JSON'
[{"OutputKey":"ApiUrl","OutputValue":"https://abc123.execute-api.eu-west-1.amazonaws.com"},
 {"OutputKey":"Region","OutputValue":"eu-west-1"},
 {"OutputKey":"UserPoolId","OutputValue":"eu-west-1_AbC123"},
 {"OutputKey":"UserPoolClientId","OutputValue":"1h2j3k4l5m6n7o8p9q0r"},
 {"OutputKey":"Environment","OutputValue":"dev"},
 {"OutputKey":"FrontendBucket","OutputValue":"moonbase-pr-7-frontendbucket-xyz"},
 {"OutputKey":"DistributionId","OutputValue":"E2ABCDEF"},
 {"OutputKey":"FrontendUrl","OutputValue":"https://d111.cloudfront.net"}]
JSON
export CALLS="$work/calls" OUTPUTS="$work/outputs.json" BUCKET="$work/bucket" PATH="$work/bin:$PATH"
export GITHUB_OUTPUT="$work/gh_output" AWS_REGION=eu-west-1 ALARM_EMAIL=ops@example.com

# 1. A preview deploy: dev settings, own stack name, merged parameters, published SPA + config.
bash "$root/sam/deploy.sh" --config-env dev --stack-name moonbase-pr-7 \
  --param LogRetentionDays=3 --param MetricsNamespace=ServerlessApp/Preview >"$work/out" 2>&1 \
  || { cat "$work/out"; fail "deploy.sh failed"; }
grep -qx 'sam \[build\] \[--config-env\] \[dev\]' "$work/calls" || fail "sam build --config-env dev not run"
deploy=$(grep '^sam \[deploy\]' "$work/calls") || fail "sam deploy not run"
for want in '[--stack-name] [moonbase-pr-7]' '[--s3-prefix] [moonbase-pr-7]' '[--region] [eu-west-1]' '[--no-confirm-changeset]'; do
  [[ "$deploy" == *"$want"* ]] || fail "sam deploy lacks $want"
done
# samconfig's dev list, with --param values replacing LogRetentionDays in place, then extras.
want='[--parameter-overrides] [Environment=dev AllowedOrigins=http://localhost:3000 LogRetentionDays=3 LogLevel=debug ThrottleRateLimit=50 ThrottleBurstLimit=100 WafEnabled=false MetricsNamespace=ServerlessApp/Preview AlarmEmail=ops@example.com]'
[[ "$deploy" == *"$want"* ]] || fail "parameter overrides not merged as expected: $deploy"
node -e '
  const c = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const want = {apiUrl: "https://abc123.execute-api.eu-west-1.amazonaws.com",
    cognitoEndpoint: "https://cognito-idp.eu-west-1.amazonaws.com/", region: "eu-west-1",
    userPoolId: "eu-west-1_AbC123", clientId: "1h2j3k4l5m6n7o8p9q0r", environment: "dev"};
  if (JSON.stringify(c) !== JSON.stringify(want)) { console.error(JSON.stringify(c)); process.exit(1); }
' "$work/bucket/config.json" || fail "config.json in the bucket is not the contract"
for f in index.html app.js styles.css; do [ -s "$work/bucket/$f" ] || fail "$f not uploaded"; done
grep -q '^aws \[s3\] \[cp\] .*config.json\] \[s3://moonbase-pr-7-frontendbucket-xyz/config.json\] .*\[--cache-control\] \[no-cache\]' "$work/calls" \
  || fail "config.json not uploaded uncached to the stack's bucket"
grep -q '^aws \[cloudfront\] \[create-invalidation\] \[--distribution-id\] \[E2ABCDEF\] \[--paths\] \[/\*\]' "$work/calls" \
  || fail "CloudFront not invalidated"
grep -qx 'frontend_url=https://d111.cloudfront.net' "$GITHUB_OUTPUT" || fail "frontend_url not written to GITHUB_OUTPUT"
echo "ok: preview deploy drives sam/aws as expected"

# 2. prod reads its own samconfig section; bad input is refused before any CLI call.
: >"$work/calls"
unset ALARM_EMAIL
bash "$root/sam/deploy.sh" --config-env prod >"$work/out" 2>&1 || { cat "$work/out"; fail "prod deploy failed"; }
grep -q '^sam \[deploy\] .*\[--stack-name\] \[moonbase-prod\] .*\[Environment=prod LogRetentionDays=90 LogLevel=info ThrottleRateLimit=100 ThrottleBurstLimit=200 WafEnabled=true\]' "$work/calls" \
  || fail "prod did not use [prod.deploy.parameters]"
: >"$work/calls"
for args in "--config-env test" "--config-env dev --stack-name bad_name" "--config-env dev --param nokey" "--bogus"; do
  # shellcheck disable=SC2086
  if bash "$root/sam/deploy.sh" $args >/dev/null 2>&1; then fail "deploy.sh accepted: $args"; fi
done
[ ! -s "$work/calls" ] || fail "a refused deploy still called a CLI"
echo "ok: prod settings used; bad arguments refused"

# 3. delete-stack: empties the bucket, then sam delete; a missing stack is fine.
: >"$work/calls"
bash "$root/sam/delete-stack.sh" moonbase-pr-7 eu-west-1 >"$work/out" 2>&1 || { cat "$work/out"; fail "delete-stack failed"; }
rm_line=$(grep -n '^aws \[s3\] \[rm\] \[s3://fake-bucket\] \[--recursive\]' "$work/calls" | cut -d: -f1)
del_line=$(grep -n '^sam \[delete\] \[--stack-name\] \[moonbase-pr-7\] \[--region\] \[eu-west-1\] \[--no-prompts\]' "$work/calls" | cut -d: -f1)
if [ -z "$rm_line" ] || [ -z "$del_line" ] || [ "$rm_line" -ge "$del_line" ]; then fail "bucket not emptied before sam delete"; fi
: >"$work/calls"
STACK_MISSING=1 bash "$root/sam/delete-stack.sh" moonbase-pr-8 eu-west-1 >"$work/out" 2>&1 || fail "missing stack should be a no-op"
! grep -q '^sam' "$work/calls" || fail "sam delete called for a missing stack"
echo "ok: delete-stack empties then deletes; missing stack is a no-op"
