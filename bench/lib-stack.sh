# bench/lib-stack.sh - sourced by bench/run-coldstart, run-devserver and run-soak: a local stack of
# their own (dynalite + cognito-local on the ports the caller exported, seeded) and devservers over
# a Release build. Needs: root, build, port, MB_STATE_DIR/MB_DYNAMODB_PORT/MB_COGNITO_PORT exported.

ds_pids=""
# Stop every devserver this script started (their workers die with them).
bench_stop() {
  local p
  for p in $ds_pids; do kill -TERM "$p" 2>/dev/null || true; done
  for p in $ds_pids; do wait "$p" 2>/dev/null || true; done
  ds_pids=""
}

# Stop the devservers and the services (the callers' EXIT trap).
bench_cleanup() {
  bench_stop
  "$root/scripts/services" stop >/dev/null 2>&1 || true
}

# Start the services, seed them, and set $token to the demo user's id token.
bench_services_start() {
  "$root/scripts/services" start >/dev/null
  "$root/scripts/seed" >/dev/null
  token=$(node -e '
    const s = require(process.argv[1]);
    fetch(`http://127.0.0.1:${process.argv[2]}/`, { method: "POST", headers: {
      "content-type": "application/x-amz-json-1.1",
      "x-amz-target": "AWSCognitoIdentityProviderService.InitiateAuth" },
      body: JSON.stringify({ AuthFlow: "USER_PASSWORD_AUTH", ClientId: s.clientId,
        AuthParameters: { USERNAME: "demo@moonbase.local", PASSWORD: "MoonbaseDemo1" } }) })
    .then((r) => r.json()).then((j) => console.log(j.AuthenticationResult.IdToken));
  ' "$MB_STATE_DIR/stack.json" "$MB_COGNITO_PORT")
}

# bench_devserver_start WORKERS LOG [BOOTSTRAP [PORT]]: a devserver on PORT (default $port) whose
# workers run BOOTSTRAP (default the C bootstrap; any Runtime API client works, e.g.
# bench/node_peer/bootstrap), no rate limit, LOG_LEVEL $BENCH_LOG_LEVEL (default warn), output
# appended to LOG, extra environment (VAR=value ...) from $BENCH_WORKER_ENV; bench_handlers
# overrides the handlers dir. Sets $ds_pid, adds it to $ds_pids, waits until its workers are ready.
bench_devserver_start() {
  local p="${4:-$port}"
  (
    set -a; . "$MB_STATE_DIR/stack.env"; set +a
    export LOG_LEVEL="${BENCH_LOG_LEVEL:-warn}"
    # shellcheck disable=SC2086 # BENCH_WORKER_ENV is a list of VAR=value words
    exec env ${BENCH_WORKER_ENV:-} "$build/devserver" --port "$p" --workers "$1" \
      --handlers "${bench_handlers:-$root/handlers}" --bootstrap "${3:-$build/bootstrap}" --rate 0 >>"$2" 2>&1
  ) &
  ds_pid=$!
  ds_pids="$ds_pids $ds_pid"
  for _ in $(seq 1 200); do
    curl -s "http://127.0.0.1:$p/__devserver/status" | grep -q '"ready":true' && return 0
    sleep 0.1
  done
  echo "bench: the devserver on port $p has no ready worker after 20 s; see $2" >&2
  return 1
}

# bench_worker_pids [PORT]: the worker pids of the devserver on PORT (default $port), one a line.
bench_worker_pids() {
  curl -s "http://127.0.0.1:${1:-$port}/__devserver/status" | grep -o '"pid":[0-9]*' | tail -n +2 | cut -d: -f2
}
