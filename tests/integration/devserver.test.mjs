// tests/integration/devserver.test.mjs - the devserver end to end against the real bootstrap:
// API Gateway v2 events through the Runtime API emulator, worker life cycle (timeout, crash,
// replacement), hot reload, concurrency, throttling, static files, shutdown.
// Needs no dynalite/cognito: only public routes (GET /hello) and test-only handlers.
// Environment: MB_BUILD_DIR (with devserver + bootstrap), MB_SOURCE_DIR (repo root),
//   MB_DEVSERVER_TEST_PORT (default 13001: :13000 belongs to the ctest `stack` fixture).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { test, sleep, countFailure, failures } from './harness.mjs';

const src = process.env.MB_SOURCE_DIR || process.cwd();
const build = path.resolve(src, process.env.MB_BUILD_DIR || 'build');
const port = Number(process.env.MB_DEVSERVER_TEST_PORT || 13001);
const base = `http://127.0.0.1:${port}`;
const devserverBin = path.join(build, 'devserver');
const bootstrapBin = path.join(build, 'bootstrap');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mb-devserver-'));
const handlers = path.join(tmp, 'handlers');
const frontend = path.join(tmp, 'frontend');
const dumps = path.join(tmp, 'events');
const configFile = path.join(tmp, 'config.json');

// ---- fixtures: a private copy of handlers/ plus test-only routes, a tiny frontend ----

// A handler that keeps its worker busy for a while (a hostile pattern: the metered matcher
// charges it to the instruction budget, so the bootstrap itself ends it at its budget or deadline).
const SLOW_LUA = `return function(req, ctx)
  local s = ("a"):rep(6000)
  local found = s:find(".-.-.-b")
  return { status = 200, body = { found = found } }
end
`;

function prepare() {
  fs.cpSync(path.join(src, 'handlers'), handlers, { recursive: true });
  const routesFile = path.join(handlers, 'routes.lua');
  const routes = fs.readFileSync(routesFile, 'utf8');
  assert.match(routes, /return\s*\{/, 'handlers/routes.lua must return a table literal');
  fs.writeFileSync(routesFile, routes.replace(/return\s*\{/,
    'return {\n  { "GET", "/__test/slow", "__test_slow" },\n'));
  fs.writeFileSync(path.join(handlers, '__test_slow.lua'), SLOW_LUA);
  fs.mkdirSync(frontend);
  fs.mkdirSync(dumps);
  fs.writeFileSync(path.join(frontend, 'index.html'), '<!doctype html><title>mb</title>\n');
  fs.writeFileSync(path.join(frontend, 'app.js'), 'console.log("mb");\n');
  fs.writeFileSync(path.join(frontend, 'style.css'), 'body{margin:0}\n');
  fs.writeFileSync(path.join(tmp, 'secret.txt'), 'TOP-SECRET\n');
  const cognitoEndpoint = `http://localhost:${process.env.MB_COGNITO_PORT || 19229}`;
  fs.writeFileSync(configFile, JSON.stringify({ apiUrl: `${base}/api`, region: 'us-east-1',
    userPoolId: 'local_test', clientId: 'test', cognitoEndpoint, environment: 'local' }));
}

// ---- devserver process ----

function workerEnv() {
  return { ...process.env, ENVIRONMENT: 'local', AWS_REGION: 'us-east-1',
    CORS_ALLOWED_ORIGINS: 'http://allowed.example', LOG_LEVEL: 'warn',
    ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0' };
}

async function startDevserver(args) {
  const logFile = path.join(tmp, `devserver-${Date.now()}.log`);
  const out = fs.openSync(logFile, 'w');
  const child = spawn(devserverBin, ['--port', String(port), '--workers', '2',
    '--handlers', handlers, '--frontend', frontend, '--config', configFile,
    '--bootstrap', bootstrapBin, '--dump-events', dumps, ...args],
  { env: workerEnv(), stdio: ['ignore', out, out] });
  fs.closeSync(out);
  const exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve({ code, sig })));
  const ds = { child, exited, logFile, log: () => fs.readFileSync(logFile, 'utf8') };
  for (let i = 0; i < 300; i++) {
    const st = await status().catch(() => null);
    if (st && st.workers.length === 2 && st.workers.every((w) => w.ready)) return ds;
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error(`devserver did not become ready:\n${ds.log()}`);
}

async function stopDevserver(ds) {
  const pids = (await status()).workers.map((w) => w.pid);
  ds.child.kill('SIGTERM');
  const res = await Promise.race([ds.exited, sleep(8000).then(() => 'hung')]);
  assert.notEqual(res, 'hung', 'devserver did not exit within 8 s of SIGTERM');
  assert.equal(res.code, 0, `devserver exit ${JSON.stringify(res)}:\n${ds.log().slice(-3000)}`);
  for (const pid of pids) {
    assert.equal(fs.existsSync(`/proc/${pid}`), false, `worker ${pid} survived shutdown`);
  }
}

async function status() {
  const r = await fetch(`${base}/__devserver/status`);
  return r.json();
}

// A raw HTTP/1.1 request (no client-side path normalisation): returns {status, body}.
function rawRequest(text) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => sock.write(text));
    let data = '';
    sock.setEncoding('latin1');
    sock.on('data', (d) => { data += d; });
    sock.on('error', reject);
    sock.on('close', () => {
      const m = /^HTTP\/1\.1 (\d{3})/.exec(data);
      resolve({ status: m ? Number(m[1]) : 0, body: data.split('\r\n\r\n').slice(1).join('') });
    });
    setTimeout(() => sock.destroy(), 5000);
  });
}

// ---- comparisons with `bootstrap invoke` ----

function invokeDirect(eventFile) {
  const r = spawnSync(bootstrapBin, ['invoke', '--event', eventFile], {
    env: { ...workerEnv(), HANDLERS_DIR: handlers, MOONBASE_DEV: '1' }, encoding: 'utf8',
  });
  assert.equal(r.status, 0, `bootstrap invoke failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

// Fields that legitimately differ between two runs of the same event.
function normalise(body) {
  const drop = new Set(['timestamp', 'requestId']);
  return JSON.parse(JSON.stringify(body), (k, v) => (drop.has(k) ? undefined : v));
}

async function sameAsInvoke(method, url, init = {}) {
  const r = await fetch(`${base}${url}`, { method, ...init });
  const text = await r.text();
  const rid = r.headers.get('apigw-requestid');
  assert.ok(rid, 'apigw-requestid header missing');
  const eventFile = path.join(dumps, `${rid}.json`);
  const ev = JSON.parse(fs.readFileSync(eventFile, 'utf8'));
  assert.equal(ev.version === '2.0' ? ev.requestContext.http.method : ev.httpMethod, method);
  const direct = invokeDirect(eventFile);
  assert.equal(r.status, direct.statusCode, `${method} ${url}: status differs`);
  let directBody = direct.body || '';
  if (direct.isBase64Encoded) directBody = Buffer.from(directBody, 'base64').toString('utf8');
  const ct = r.headers.get('content-type') || '';
  if (ct.includes('json') && text.length > 0) {
    assert.deepEqual(normalise(JSON.parse(text)), normalise(JSON.parse(directBody)),
      `${method} ${url}: body differs`);
  } else {
    assert.equal(text, directBody, `${method} ${url}: body differs`);
  }
  const directCt = Object.entries(direct.headers || {})
    .find(([k]) => k.toLowerCase() === 'content-type');
  if (directCt) assert.equal(ct, directCt[1], `${method} ${url}: content-type differs`);
  return { status: r.status, text, ev };
}

// ---- the tests ----

async function mainSuite() {
  const ds = await startDevserver(['--timeout', '10']);
  await test('cold starts are logged for both workers', async () => {
    const log = ds.log();
    assert.match(log, /worker 1 cold start: pid \d+/);
    assert.match(log, /worker 2 cold start: pid \d+/);
  });

  await test('GET /api/hello answers like the contract', async () => {
    const r = await fetch(`${base}/api/hello?name=Moon`);
    assert.equal(r.status, 200);
    const j = await r.json();
    assert.equal(j.message, 'Hello, Moon!');
    assert.match(j.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/);
  });

  await test('the event is a REST v1 event on the route\'s resource, /api prefix = stage', async () => {
    const { ev } = await sameAsInvoke('GET', '/api/hello?name=a%20b&x=1&x=2', {
      headers: { cookie: 'c1=v1; c2=v2', 'X-Custom': 'Yes' },
    });
    assert.equal(ev.resource, '/hello');
    assert.equal(ev.path, '/hello');
    assert.deepEqual(ev.queryStringParameters, { name: 'a b', x: '2' });
    assert.deepEqual(ev.multiValueQueryStringParameters, { name: ['a b'], x: ['1', '2'] });
    assert.equal(ev.headers.cookie, 'c1=v1; c2=v2');
    assert.equal(ev.headers['X-Custom'], 'Yes');
    assert.equal(ev.requestContext.stage, 'api');
    assert.equal(ev.requestContext.path, '/api/hello');
    assert.equal(ev.requestContext.resourcePath, '/hello');
    assert.equal(ev.requestContext.identity.sourceIp, '127.0.0.1');
    assert.equal(typeof ev.requestContext.requestTimeEpoch, 'number');
    const other = await sameAsInvoke('GET', '/api/no/such/route');
    assert.equal(other.ev.resource, '/{proxy+}');
    assert.deepEqual(other.ev.pathParameters, { proxy: 'no/such/route' });
  });

  await test('routes through the emulator equal `bootstrap invoke` (same event)', async () => {
    await sameAsInvoke('GET', '/api/hello');
    await sameAsInvoke('GET', '/api/hello?name=%C3%A9t%C3%A9');
    await sameAsInvoke('GET', '/api/no-such-route');
    await sameAsInvoke('DELETE', '/api/hello');
    await sameAsInvoke('GET', '/api/me'); // protected: 401 or 503 without a token
    await sameAsInvoke('POST', '/api/items', {
      headers: { 'content-type': 'application/json' }, body: '{"title": ',
    });
    const bin = await sameAsInvoke('POST', '/api/hello', {
      headers: { 'content-type': 'application/octet-stream' }, body: Buffer.from([0, 255, 1]),
    });
    assert.equal(bin.ev.isBase64Encoded, true);
    assert.equal(bin.ev.body, 'AP8B');
  });

  await test('a handler edit is live on the next request (no restart)', async () => {
    const file = path.join(handlers, 'hello.lua');
    const orig = fs.readFileSync(file, 'utf8');
    assert.match(orig, /Hello, /);
    fs.writeFileSync(file, orig.replace(/Hello, /g, 'Howdy, '));
    for (let i = 0; i < 4; i++) { // both workers
      const j = await (await fetch(`${base}/api/hello?name=Moon`)).json();
      assert.equal(j.message, 'Howdy, Moon!');
    }
    fs.writeFileSync(file, 'return function(req, ctx)\n  return {status = 200,, body = "x"}\nend\n');
    const r = await fetch(`${base}/api/hello`);
    const text = await r.text();
    assert.equal(r.status, 500);
    assert.match(text, /hello\.lua:2/, `syntax error body should name file and line: ${text}`);
    fs.writeFileSync(file, orig);
    const back = await (await fetch(`${base}/api/hello?name=Moon`)).json();
    assert.equal(back.message, 'Hello, Moon!');
  });

  await test('50 concurrent clients all get their own correct answer', async () => {
    const rs = await Promise.all(Array.from({ length: 50 }, async (_, i) => {
      const r = await fetch(`${base}/api/hello?name=client${i}`);
      return { status: r.status, body: await r.json() };
    }));
    rs.forEach((r, i) => {
      assert.equal(r.status, 200);
      assert.equal(r.body.message, `Hello, client${i}!`);
    });
  });

  await test('a worker killed mid-request: client 502, replaced, next request fine', async () => {
    const before = await status();
    const pending = fetch(`${base}/api/__test/slow`).then(async (r) => ({ status: r.status, body: await r.text() }));
    let busy;
    for (let i = 0; i < 100 && !busy; i++) {
      busy = (await status()).workers.find((w) => w.busy);
      if (!busy) await sleep(20);
    }
    assert.ok(busy, 'no worker became busy with the slow request');
    process.kill(busy.pid, 'SIGKILL');
    const res = await pending;
    assert.equal(res.status, 502, res.body);
    assert.equal(JSON.parse(res.body).error, 'internal');
    const ok = await fetch(`${base}/api/hello?name=after`);
    assert.equal(ok.status, 200);
    for (let i = 0; i < 100; i++) {
      const st = await status();
      if (st.workers.length === 2 && st.workers.every((w) => w.ready)) {
        assert.ok(!st.workers.some((w) => w.pid === busy.pid), 'killed pid still listed');
        assert.equal(st.workers.length, before.workers.length);
        return;
      }
      await sleep(50);
    }
    assert.fail('the killed worker was not replaced');
  });

  await test('static files, content types, SPA fallback and /config.json', async () => {
    let r = await fetch(`${base}/`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^text\/html/);
    assert.match(await r.text(), /<title>mb<\/title>/);
    r = await fetch(`${base}/app.js`);
    assert.match(r.headers.get('content-type'), /^text\/javascript/);
    r = await fetch(`${base}/style.css`);
    assert.match(r.headers.get('content-type'), /^text\/css/);
    r = await fetch(`${base}/dashboard`);
    assert.equal(r.status, 200, 'client-side route falls back to index.html');
    r = await fetch(`${base}/missing.js`);
    assert.equal(r.status, 404);
    r = await fetch(`${base}/config.json`);
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), JSON.parse(fs.readFileSync(configFile, 'utf8')));
  });

  await test('path traversal is refused', async () => {
    for (const p of ['/../secret.txt', '/%2e%2e/secret.txt', '/..%2fsecret.txt',
      '/%2E%2E%2Fsecret.txt', '/./../secret.txt', '/app.js%00.html', '/..\\secret.txt']) {
      const r = await rawRequest(`GET ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.ok(r.status >= 400 && r.status < 500, `${p}: status ${r.status}`);
      assert.doesNotMatch(r.body, /TOP-SECRET/, `${p} leaked the file`);
    }
  });

  await test('API Gateway limits: 413 for a body over 10 MB, CORS preflight', async () => {
    const r = await rawRequest('POST /api/hello HTTP/1.1\r\nHost: x\r\nContent-Length: 10485761\r\n' +
      'Content-Type: application/json\r\nConnection: close\r\n\r\n');
    assert.equal(r.status, 413);
    const pre = await fetch(`${base}/api/items`, { method: 'OPTIONS', headers: {
      origin: 'http://allowed.example', 'access-control-request-method': 'POST' } });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), 'http://allowed.example');
    const bad = await fetch(`${base}/api/items`, { method: 'OPTIONS', headers: {
      origin: 'http://evil.example', 'access-control-request-method': 'POST' } });
    assert.equal(bad.headers.get('access-control-allow-origin'), null);
    const simple = await fetch(`${base}/api/hello`, { headers: { origin: 'http://allowed.example' } });
    const acao = simple.headers.get('access-control-allow-origin');
    assert.equal(acao, 'http://allowed.example', 'exactly one allow-origin value');
  });

  await test('SIGTERM: clean exit, workers reaped', () => stopDevserver(ds));
}

// --payload-format 2.0: the HTTP API event instead (the cheaper API type, docs/deploy.md).
async function httpApiSuite() {
  const ds = await startDevserver(['--timeout', '10', '--payload-format', '2.0']);
  await test('--payload-format 2.0: a v2 event with the /api prefix stripped', async () => {
    const { ev } = await sameAsInvoke('GET', '/api/hello?name=a%20b&x=1&x=2', {
      headers: { cookie: 'c1=v1; c2=v2', 'X-Custom': 'Yes' },
    });
    assert.equal(ev.version, '2.0');
    assert.equal(ev.rawPath, '/hello');
    assert.equal(ev.rawQueryString, 'name=a%20b&x=1&x=2');
    assert.deepEqual(ev.queryStringParameters, { name: 'a b', x: '1,2' });
    assert.deepEqual(ev.cookies, ['c1=v1', 'c2=v2']);
    assert.equal(ev.headers['x-custom'], 'Yes');
    assert.equal(ev.routeKey, '$default');
    assert.equal(ev.requestContext.stage, '$default');
    assert.equal(ev.requestContext.http.sourceIp, '127.0.0.1');
    assert.equal(typeof ev.requestContext.timeEpoch, 'number');
  });
  await stopDevserver(ds);
}

async function limitsSuite() {
  // Same port again: also proves the first instance released it.
  // The stage's bucket alone (no per-client bucket: devserver_guard.test.mjs covers that one).
  const ds = await startDevserver(['--timeout', '1', '--rate', '2', '--burst', '4', '--client-rate', '0']);
  await test('a worker that never answers: 504 at the timeout, worker killed and replaced, next request OK', async () => {
    // The bootstrap stops runaway handlers itself (budget, deadline, metered patterns), so a
    // worker that truly hangs is made by freezing every worker: only the devserver's own
    // deadline can end the invocation then.
    const pids = (await status()).workers.map((w) => w.pid);
    for (const pid of pids) process.kill(pid, 'SIGSTOP');
    let r, ms;
    try {
      const t0 = Date.now();
      r = await fetch(`${base}/api/hello?name=frozen`);
      ms = Date.now() - t0;
    } finally {
      for (const pid of pids) {
        try { process.kill(pid, 'SIGCONT'); } catch { /* the killed one is gone */ }
      }
    }
    assert.equal(r.status, 504, await r.text());
    assert.ok(ms >= 900 && ms < 3000, `504 after ${ms} ms`);
    await sleep(600); // let the bucket refill a token
    const ok = await fetch(`${base}/api/hello?name=next`);
    assert.equal(ok.status, 200);
    assert.match(ds.log(), /deadline; killing the worker/);
    const now = (await status()).workers.map((w) => w.pid);
    assert.ok(pids.some((p) => !now.includes(p)), 'the frozen worker that held the request was replaced');
  });

  await test('a runaway handler under a short deadline: the bootstrap answers 504 itself, no kill', async () => {
    const before = (await status()).workers.map((w) => w.pid).sort();
    await sleep(600);
    const r = await fetch(`${base}/api/__test/slow`);
    assert.ok(r.status === 504 || r.status === 500, `runaway handler got ${r.status}`);
    const after = (await status()).workers.map((w) => w.pid).sort();
    assert.deepEqual(after, before, 'no worker had to be killed');
  });

  await test('throttling: 429 with Retry-After beyond rate + burst', async () => {
    await sleep(2100); // refill the bucket to its burst of 4
    const rs = await Promise.all(Array.from({ length: 12 }, () => fetch(`${base}/api/hello`)));
    const codes = rs.map((r) => r.status);
    const limited = rs.filter((r) => r.status === 429);
    assert.ok(codes.filter((c) => c === 200).length >= 4, `codes ${codes}`);
    assert.ok(limited.length >= 6, `codes ${codes}`);
    const retry = Number(limited[0].headers.get('retry-after'));
    assert.ok(retry >= 1, 'Retry-After must be a positive number of seconds');
    assert.equal((await limited[0].json()).error, 'too_many_requests');
    const st = await fetch(`${base}/app.js`);
    assert.equal(st.status, 200, 'static files are not throttled');
  });

  await test('SIGTERM during an in-flight request: clean exit', async () => {
    await sleep(1100); // a token for the request below (rate 2/s)
    const pending = fetch(`${base}/api/__test/slow`).then((r) => r.status, () => 0);
    await sleep(200);
    await stopDevserver(ds);
    const code = await pending;
    assert.ok(code === 503 || code === 0, `in-flight request got ${code}`);
  });
}

// The emulator's side of the Runtime API contract, and the limits the real bootstrap never
// reaches (it caps its own responses), driven by a misbehaving stand-in runtime.
async function emulatorSuite() {
  const fake = path.join(src, 'tests/integration/fake_runtime.mjs');
  const ds = await startDevserver(['--timeout', '5', '--bootstrap', fake]);
  await test('Runtime API: request id, deadline, trace id, function ARN, dev env', async () => {
    const r = await fetch(`${base}/api/info`);
    assert.equal(r.status, 200);
    const j = await r.json();
    assert.match(j.requestId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.ok(j.deadlineMs > j.now && j.deadlineMs <= j.now + 5100, `deadline ${j.deadlineMs - j.now} ms`);
    assert.match(j.traceId, /^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$/);
    assert.match(j.arn, /^arn:aws:lambda:[a-z0-9-]+:\d{12}:function:moonbase-local$/);
    assert.deepEqual(j.env, { dev: '1', handlers: fs.realpathSync(handlers) });
    assert.equal(j.event.path, '/info'); // REST v1 by default
  });
  await test('Runtime API: an unknown request id is refused (400), the real one still works', async () => {
    const j = await (await fetch(`${base}/api/wrong-id`)).json();
    assert.equal(j.wrongIdStatus, 400);
  });
  await test('a response over 6 MB: 502, and the runtime is told 413', async () => {
    const r = await fetch(`${base}/api/big`);
    assert.equal(r.status, 502);
    assert.match((await r.json()).message, /6 MB/);
    assert.doesNotMatch(ds.log(), /fake_runtime: 7 MB response got/);
  });
  await test('a malformed proxy response gives 502; a function error gives 500', async () => {
    assert.equal((await fetch(`${base}/api/nonjson`)).status, 502);
    assert.equal((await fetch(`${base}/api/error`)).status, 500);
    assert.equal((await fetch(`${base}/api/info`)).status, 200);
  });
  await test('SIGTERM: clean exit (fake runtime)', () => stopDevserver(ds));
}

try {
  for (const f of [devserverBin, bootstrapBin]) {
    if (!fs.existsSync(f)) throw new Error(`${f} missing: build the devserver and bootstrap targets`);
  }
  prepare();
  await mainSuite();
  await httpApiSuite();
  await limitsSuite();
  await emulatorSuite();
} catch (e) {
  countFailure();
  console.log(`FAIL setup: ${e.stack || e}`);
} finally {
  if (failures === 0) fs.rmSync(tmp, { recursive: true, force: true });
  else console.log(`(kept ${tmp} for inspection)`);
}
console.log(failures === 0 ? 'devserver: all tests passed' : `devserver: ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
