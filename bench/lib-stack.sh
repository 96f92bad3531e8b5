# bench/lib-stack.sh - sourced by bench/run-devserver and bench/run-soak: a local stack of their
# own (dynalite + cognito-local on the ports the caller exported, seeded) and a devserver over a
# Release build. Needs: root, build, port, MB_STATE_DIR/MB_DYNAMODB_PORT/MB_COGNITO_PORT exported.

ds_pid=""
bench_stop() {
  if [ -n "$ds_pid" ]; then kill -TERM "$ds_pid" 2>/dev/null || true; wait "$ds_pid" 2>/dev/null || true; fi
  ds_pid=""
}

# Stop the devserver and the services (the callers' EXIT trap).
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

# bench_devserver_start WORKERS LOG: a devserver on $port (no rate limit, warn-level logs), set
# $ds_pid, and wait until its workers are ready. bench_handlers overrides the handlers dir.
bench_devserver_start() {
  (
    set -a; . "$MB_STATE_DIR/stack.env"; set +a
    export LOG_LEVEL=warn
    exec "$build/devserver" --port "$port" --workers "$1" --handlers "${bench_handlers:-$root/handlers}" \
      --bootstrap "$build/bootstrap" --rate 0 >"$2" 2>&1
  ) &
  ds_pid=$!
  for _ in $(seq 1 100); do
    curl -s "http://127.0.0.1:$port/__devserver/status" | grep -q '"ready":true' && break
    sleep 0.1
  done
}

# The worker pids of the running devserver, one per line.
bench_worker_pids() {
  curl -s "http://127.0.0.1:$port/__devserver/status" | grep -o '"pid":[0-9]*' | tail -n +2 | cut -d: -f2
}
