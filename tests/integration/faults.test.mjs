// tests/integration/faults.test.mjs - the runtime under real misbehaviour (issue 17): the real
// bootstrap runs its Lambda Runtime API loop against a small Runtime API in this file (so each
// invocation has a real deadline, and one worker serves many invocations, as on Lambda), with
// tests/faults/fault_proxy.mjs between it and dynalite, and between it and cognito-local's JWKS;
// then the devserver with one worker whose proxy sits in front of the devserver's own Runtime API
// emulator (tests/faults/proxied_worker.mjs, which says why the proxy lives in the worker).
// Each case plans faults, sends one or more invocations and checks what the client sees, what is
// really in the table, the log lines and, at the end, that every worker exits cleanly (ASan and
// LeakSanitizer in the test build: a crash or a leak fails the case).
// Environment: MB_BUILD_DIR (bootstrap), MB_SOURCE_DIR, MB_DYNAMODB_PORT, MB_COGNITO_PORT — the
// ctest `services` fixture.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import assert from 'node:assert/strict';
import { cognitoCall, cognitoEndpoint, createPoolAndClient, login, signUpConfirmLogin } from './cognito_helper.mjs';
import { apiEvent, createTable, ddbUrl, scanAll } from './invoke_helper.mjs';
import { closedPort, startFaultProxy } from '../faults/fault_proxy.mjs';
import { test, sleep, failures } from './harness.mjs';

const src = process.env.MB_SOURCE_DIR || process.cwd();
const build = path.resolve(src, process.env.MB_BUILD_DIR || 'build');
const bootstrap = path.join(build, 'bootstrap');
const table = `faults-test-${Date.now()}-${process.pid}`;

// ---- a Runtime API: hands out queued events with a deadline, collects the answers ----

function startRuntimeApi() {
  const events = [];
  const waiting = [];
  const pending = new Map();
  const sockets = new Set();
  let dropResponses = 0;
  const serve = (res, ev) => {
    res.writeHead(200, {
      'content-type': 'application/json',
      'lambda-runtime-aws-request-id': ev.id,
      'lambda-runtime-deadline-ms': String(ev.deadline),
      'lambda-runtime-invoked-function-arn': 'arn:aws:lambda:us-east-1:000000000000:function:faults',
      'lambda-runtime-trace-id': `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${crypto.randomBytes(12).toString('hex')};Sampled=0`,
    });
    res.end(JSON.stringify(ev.event));
  };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const m = req.url.match(/^\/2018-06-01\/runtime\/invocation\/([^/]+)\/(response|error)$/);
      if (req.method === 'GET' && req.url === '/2018-06-01/runtime/invocation/next') {
        if (events.length) serve(res, events.shift());
        else waiting.push(res);
      } else if (req.method === 'POST' && m && pending.has(m[1])) {
        if (dropResponses > 0) {
          // The Runtime API goes away mid-request: the worker must retry (connection failure).
          dropResponses--;
          req.socket.destroy();
          return;
        }
        const p = pending.get(m[1]);
        pending.delete(m[1]);
        clearTimeout(p.timer);
        res.writeHead(202, { 'content-type': 'application/json' });
        res.end('{"status":"OK"}');
        p.resolve({ kind: m[2], at: Date.now(), deadline: p.deadline, json: JSON.parse(Buffer.concat(chunks)) });
      } else {
        res.writeHead(404);
        res.end();
      }
    });
  });
  server.keepAliveTimeout = 120000;
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    addr: `127.0.0.1:${server.address().port}`,
    dropNextResponses(n) { dropResponses = n; },
    // Queue one invocation; resolves with the answer or { kind: 'none' } 3 s past the deadline.
    invoke(event, budgetMs = 20000) {
      const id = crypto.randomUUID();
      const deadline = Date.now() + budgetMs;
      return new Promise((done) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          done({ kind: 'none', deadline });
        }, budgetMs + 3000);
        pending.set(id, { resolve: done, timer, deadline });
        const ev = { id, deadline, event };
        if (waiting.length) serve(waiting.shift(), ev);
        else events.push(ev);
      });
    },
    close() {
      for (const r of waiting) r.socket?.destroy();
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  })));
}

// ---- workers: the real bootstrap in its Runtime API loop ----

function startWorker(env) {
  const child = spawn(bootstrap, [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const w = { child, out: '', exited: null };
  child.stdout.on('data', (d) => { w.out += d; });
  child.stderr.on('data', (d) => { w.out += d; });
  w.done = new Promise((r) => child.on('exit', (code, signal) => { w.exited = { code, signal }; r(w.exited); }));
  return w;
}

// The worker's log lines (JSON) since mark.
function logLines(w, mark = 0) {
  return w.out.slice(mark).split('\n').filter((l) => l.startsWith('{')).map((l) => {
    try { return JSON.parse(l); } catch { return {}; }
  });
}

// Stop a worker by dropping its Runtime API (as Lambda does at shutdown it never answers /next
// again): it must exit by itself with status 0 and without a sanitizer report.
async function stopWorker(w, rt) {
  await rt.close();
  const timer = setTimeout(() => w.child.kill('SIGKILL'), 30000);
  const ex = await w.done;
  clearTimeout(timer);
  assert.deepEqual(ex, { code: 0, signal: null }, `worker exit ${JSON.stringify(ex)}:\n${w.out.slice(-3000)}`);
  assert.doesNotMatch(w.out, /AddressSanitizer|LeakSanitizer|runtime error:/, w.out.slice(-3000));
}

function response(r) {
  assert.equal(r.kind, 'response', `expected a response, got ${JSON.stringify(r).slice(0, 500)}`);
  const res = r.json;
  let body = res.body;
  try { body = JSON.parse(res.body); } catch { /* not JSON */ }
  return { status: res.statusCode, headers: res.headers || {}, body, raw: res.body || '' };
}

function expect(res, status, what) {
  assert.equal(res.status, status, `${what}: expected ${status}, got ${res.status}: ${res.raw}`);
  return res.body;
}

// No internals in an error answer: no Lua traceback, no C or DynamoDB detail.
function assertCleanError(res) {
  assert.doesNotMatch(res.raw, /stack traceback|\.lua:\d+|\.c:\d+|__type|amazonaws|Exception/, res.raw);
  assert.equal(typeof res.body?.message, 'string', res.raw);
  assert.equal(typeof res.body?.requestId, 'string', res.raw);
}

// ---- set-up: a table, a pool and one user; proxies in front of dynalite and the JWKS ----

const endpoint = cognitoEndpoint();
await createTable(table);
const pool = await createPoolAndClient(endpoint, `faults-${Date.now()}`);
const email = `faults.${Date.now()}@moonbase.test`;
const token = (await signUpConfirmLogin(endpoint, pool, email, 'MoonbaseTest1', 'acme')).idToken;
const jwksPath = `/${pool.poolId}/.well-known/jwks.json`;

function baseEnv({ ddb, jwks, runtime }) {
  return {
    PATH: process.env.PATH,
    HANDLERS_DIR: path.join(src, 'handlers'),
    ENVIRONMENT: 'test',
    TABLE_NAME: table,
    DYNAMODB_ENDPOINT: ddb,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    CURSOR_SECRET: 'f'.repeat(64),
    COGNITO_ISSUER: `${endpoint}/${pool.poolId}`,
    COGNITO_JWKS_URL: `${jwks}${jwksPath}`,
    USER_POOL_ID: pool.poolId,
    CLIENT_ID: pool.clientId,
    AWS_LAMBDA_RUNTIME_API: runtime,
    ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0',
    UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
  };
}

const dp = await startFaultProxy({ target: ddbUrl });
const jp = await startFaultProxy({ target: endpoint });
const rt = await startRuntimeApi();
const worker = startWorker(baseEnv({ ddb: dp.url, jwks: jp.url, runtime: rt.addr }));
const call = (method, p, opts = {}, budgetMs) =>
  rt.invoke(apiEvent(method, p, { token, ...opts }), budgetMs).then(response);
const items = async () => (await scanAll(table)).filter((it) => it.SK.S.startsWith('ITEM#'));

await test('warm-up: a worker behind both proxies answers', async () => {
  expect(await call('GET', '/items'), 200, 'GET /items');
  assert.ok(dp.stats.forwarded >= 1 && jp.stats.forwarded >= 1);
});

await test('throttling and 5xx from DynamoDB are retried, then the request succeeds', async () => {
  dp.plan('throttle', 'throttling', 'internal', 'unavailable');
  const before = dp.stats.requests;
  expect(await call('GET', '/items'), 200, 'GET /items after 4 retryable errors');
  assert.equal(dp.pending(), 0);
  assert.equal(dp.stats.requests - before, 5, 'four refused attempts and one that passed');
});

await test('a connection reset mid-request or mid-response and a truncated answer are retried', async () => {
  dp.plan('reset-request', 'reset-response', 'truncate');
  const before = dp.stats.requests;
  expect(await call('GET', '/items'), 200, 'GET /items after resets');
  assert.equal(dp.stats.requests - before, 4);
});

await test('added latency inside the deadline is only slower', async () => {
  dp.plan({ kind: 'latency', ms: 300 });
  const t0 = Date.now();
  expect(await call('GET', '/items'), 200, 'GET /items with 300 ms latency');
  assert.ok(Date.now() - t0 >= 300);
});

await test('DynamoDB down: 503 with Retry-After, an error log line, no internals', async () => {
  dp.always('reset-request');
  const mark = worker.out.length;
  const res = await call('GET', '/items');
  dp.always(null);
  expect(res, 503, 'GET /items, DynamoDB resetting every connection');
  assertCleanError(res);
  const ra = Object.entries(res.headers).find(([k]) => k.toLowerCase() === 'retry-after');
  assert.ok(ra && /^\d+$/.test(ra[1]) && Number(ra[1]) >= 1, `Retry-After: ${JSON.stringify(res.headers)}`);
  const errs = logLines(worker, mark).filter((l) => l.level === 'ERROR' && /DynamoDB/.test(l.message || l.msg || ''));
  assert.ok(errs.length >= 1, `no ERROR log line about DynamoDB:\n${worker.out.slice(mark)}`);
  assert.doesNotMatch(worker.out.slice(mark), /stack traceback/);
});

await test('DynamoDB connect failure (closed port) is a 503 too, from a fresh worker', async () => {
  const rt2 = await startRuntimeApi();
  const w2 = startWorker(baseEnv({ ddb: `http://127.0.0.1:${await closedPort()}`, jwks: jp.url, runtime: rt2.addr }));
  const res = response(await rt2.invoke(apiEvent('GET', '/items', { token })));
  expect(res, 503, 'GET /items, nothing listening');
  assertCleanError(res);
  await stopWorker(w2, rt2);
});

await test('DynamoDB host name that does not resolve: 503 before the deadline, from a fresh worker', async () => {
  const rt2 = await startRuntimeApi();
  // .invalid never resolves (RFC 6761): a DNS failure, whatever the machine's resolver.
  const w2 = startWorker(baseEnv({ ddb: 'http://moonbase-faults.invalid:8000', jwks: jp.url, runtime: rt2.addr }));
  const r = await rt2.invoke(apiEvent('GET', '/items', { token }), 8000);
  const res = response(r);
  assert.ok(res.status === 503 || res.status === 504, `status ${res.status}: ${res.raw}`);
  assertCleanError(res);
  assert.ok(r.at <= r.deadline, `answered ${r.at - r.deadline} ms after the deadline`);
  await stopWorker(w2, rt2);
});

for (const fault of ['hang', 'slow']) {
  await test(`DynamoDB ${fault === 'hang' ? 'half-open (never answers)' : 'answering past the deadline'}: the worker answers before the invocation deadline`, async () => {
    dp.always(fault === 'hang' ? 'hang' : { kind: 'slow', ms: 8000 });
    const r = await rt.invoke(apiEvent('GET', '/items', { token }), 2000);
    dp.always(null);
    const res = response(r);
    assert.ok(res.status === 504 || res.status === 503, `status ${res.status}: ${res.raw}`);
    assertCleanError(res);
    assert.ok(r.at <= r.deadline, `answered ${r.at - r.deadline} ms after the deadline`);
    // The worker is still usable afterwards.
    expect(await call('GET', '/items'), 200, 'GET /items after the fault');
  });
}

await test('garbage and truncated-then-closed DynamoDB bodies: a clean 5xx, the worker lives on', async () => {
  dp.always('garbage');
  const res = await call('GET', '/items');
  dp.always(null);
  assert.ok(res.status >= 500 && res.status <= 504, `status ${res.status}: ${res.raw}`);
  assertCleanError(res);
  dp.always('truncate');
  const res2 = await call('GET', '/items');
  dp.always(null);
  assert.ok(res2.status === 503 || res2.status === 504, `status ${res2.status}: ${res2.raw}`);
  assertCleanError(res2);
  expect(await call('GET', '/items'), 200, 'GET /items afterwards');
});

await test('every write acknowledged 2xx under throttles and resets is in the table afterwards', async () => {
  const acked = [];
  for (let i = 0; i < 12; i++) {
    dp.random({ 'reset-request': 0.15, throttle: 0.15 });
    const res = await call('POST', '/items', { body: { title: `acked-${i}` } });
    dp.random(null);
    if (res.status === 201) acked.push(res.body.id);
    else assert.ok(res.status === 503 || res.status === 504, `status ${res.status}: ${res.raw}`);
  }
  assert.ok(acked.length > 0, 'no write was acknowledged');
  const stored = new Set((await items()).map((it) => it.id.S));
  const missing = acked.filter((id) => !stored.has(id));
  assert.deepEqual(missing, [], 'acknowledged writes missing from the table');
});

await test('a create whose answer is lost is retried but stored once (conditional put), and reported created', async () => {
  const title = `once-${Date.now()}`;
  dp.plan('reset-response'); // the PutItem reaches dynalite; its answer is lost; the retry repeats it
  const res = await call('POST', '/items', { body: { title } });
  const same = (await items()).filter((it) => it.title.S === title);
  assert.equal(same.length, 1, `stored ${same.length} times`);
  expect(res, 201, 'POST /items whose first PutItem answer was lost');
  assert.equal(res.body.id, same[0].id.S);
});

// The day's activity counter is an unconditional ADD: without its idempotency marker
// (ctx.db.update's once = true) the retry of an applied attempt whose answer was lost counts the
// write a second time.
const activity = async () => {
  const day = new Date().toISOString().slice(0, 10);
  const rec = (await scanAll(table)).find((it) => it.SK.S === `ACTIVITY#${day}`) || {};
  return { created: Number(rec.created?.N || 0), updated: Number(rec.updated?.N || 0) };
};

await test('the activity counter whose ADD answer is lost is counted once (idempotency marker)', async () => {
  const before = await activity();
  dp.plan('pass', 'reset-response'); // PutItem passes; the counter's UpdateItem applies, its answer is lost
  const res = await call('POST', '/items', { body: { title: 'counted once' } });
  expect(res, 201, 'POST /items whose counter answer was lost');
  assert.equal(dp.pending(), 0, 'the planned reset was used');
  const after = await activity();
  assert.equal(after.created - before.created, 1, `created moved ${after.created - before.created} times`);
});

// An update is conditional on the version the client read (expect) and marked (once = true):
// its retry meets its own write, fails the condition, and the read-back finds its marker: 200
// with the item, stored once.
await test('an update whose answer is lost is applied once and answered 200 (version condition + marker)', async () => {
  const created = expect(await call('POST', '/items', { body: { title: 'v1' } }), 201, 'create');
  const before = await activity();
  dp.plan('pass', 'reset-response'); // GetItem passes; the UpdateItem applies, its answer is lost
  const res = await call('PUT', `/items/${created.id}`, { body: { title: 'v2', version: 1 } });
  assert.equal(dp.pending(), 0, 'the planned reset was used');
  const it = (await items()).find((x) => x.id.S === created.id);
  assert.equal(it.version.N, '2', 'version incremented once');
  assert.equal(it.title.S, 'v2');
  const body = expect(res, 200, 'PUT /items/{id} whose UpdateItem answer was lost');
  assert.deepEqual([body.version, body.title], [2, 'v2']);
  assert.deepEqual(Object.keys(body).filter((k) => k.startsWith('mb_')), [], 'no marker in the answer');
  assert.equal((await activity()).updated - before.updated, 1, 'updated counted once');
  // A real conflict stays a 409: the stale version 1 again.
  expect(await call('PUT', `/items/${created.id}`, { body: { title: 'v3', version: 1 } }), 409, 'stale version');
});

// A tenant handler deploy and delete (core/tenant_store.c): the handler count (ADD n +1 / -1 on
// COUNT) and the pointer's move (SET live = v, conditional on what the deploy expected; REMOVE
// live, conditional on there being one) are idempotent updates: a lost answer to either must not
// count twice, nor answer 409/404 for what was done (and a deploy answered 409 would give its
// count back while its handler is live).
await test('tenant handler deploy and delete whose count and pointer answers are lost: done once, answered as done', async () => {
  await cognitoCall(endpoint, 'CreateGroup', { UserPoolId: pool.poolId, GroupName: 'tenant-admin' });
  await cognitoCall(endpoint, 'AdminAddUserToGroup', { UserPoolId: pool.poolId, Username: email, GroupName: 'tenant-admin' });
  const admin = (await login(endpoint, pool.clientId, email, 'MoonbaseTest1')).idToken;
  const count = async () => {
    const it = (await scanAll(table)).find((x) => x.PK.S.startsWith('HANDLERS#') && x.SK.S === 'COUNT');
    return Number(it?.n?.N || 0);
  };
  const n0 = await count();
  const name = `counted${Date.now() % 100000}`;
  dp.plan({ kind: 'reset-response', only: '"S":"COUNT"' }, { kind: 'reset-response', only: 'SET live' });
  const put = await call('PUT', `/tenant/handlers/${name}`, { token: admin,
    body: { source: 'return function() return { status = 200, body = { ok = true } } end' } });
  assert.ok(put.status === 200 || put.status === 201, `PUT ${put.status}: ${put.raw}`);
  assert.equal(dp.pending(), 0, 'both planned resets were used');
  assert.equal(await count(), n0 + 1, 'the deploy counted once');
  expect(await call('GET', `/t/${name}`, { token: admin }), 200, 'the deployed handler answers');
  dp.plan({ kind: 'reset-response', only: 'REMOVE live' }, { kind: 'reset-response', only: '"S":"COUNT"' });
  expect(await call('DELETE', `/tenant/handlers/${name}`, { token: admin }), 200, 'DELETE');
  assert.equal(dp.pending(), 0, 'both planned resets were used');
  assert.equal(await count(), n0, 'the delete counted once');
  expect(await call('GET', `/t/${name}`, { token: admin }), 404, 'the deleted handler is gone');
});

// The per-tenant quota (core/quota.c) is a counter too: ADD requests 1 under the limit's
// condition, with the client's idempotency marker. A lost answer to it must not count the
// request twice (which would spend the quota early). A worker of its own with QUOTA_* set.
await test('the quota counter whose ADD answer is lost counts the request once (idempotency marker)', async () => {
  const r = await startRuntimeApi();
  const w = startWorker({ ...baseEnv({ ddb: dp.url, jwks: jp.url, runtime: r.addr }),
    QUOTA_REQUESTS: '1000', QUOTA_WINDOW_SECONDS: '3600' });
  const c = (method, p) => r.invoke(apiEvent(method, p, { token })).then(response);
  const used = async () => (await scanAll(table)).filter((it) => it.PK.S.startsWith('QUOTA#'))
    .reduce((n, it) => n + Number(it.requests?.N || 0), 0);
  try {
    expect(await c('GET', '/items'), 200, 'GET /items (warm-up, counted)');
    const n0 = await used();
    dp.plan({ kind: 'reset-response', only: 'QUOTA#' }); // applied; its answer lost; retried
    expect(await c('GET', '/items'), 200, 'GET /items whose quota answer was lost');
    assert.equal(dp.pending(), 0, 'the planned reset was used');
    assert.equal(await used() - n0, 1, `the quota counted the request ${await used() - n0} times`);
  } finally {
    await stopWorker(w, r);
  }
});

await test('the Runtime API dropping the response POST: the worker retries it and keeps serving', async () => {
  rt.dropNextResponses(1);
  expect(await call('GET', '/items'), 200, 'GET /items, first response POST reset');
  expect(await call('GET', '/items'), 200, 'the next invocation');
});

// ---- the devserver's Runtime API emulator behind a fault proxy ----
// The devserver (its pool runs the workers against its own emulator, one port per worker) with
// one worker: tests/faults/proxied_worker.mjs as --bootstrap puts a fault proxy inside the worker
// process, in front of the emulator, and runs the real bootstrap behind it.

const devWorkers = []; // { pid, control, exit: null | { code, signal } }, in start order
const ctl = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const m = JSON.parse(Buffer.concat(chunks));
    if (req.url === '/register') devWorkers.push({ pid: m.pid, control: m.control, exit: null });
    else if (req.url === '/exit') {
      const w = devWorkers.find((x) => x.pid === m.pid);
      if (w) w.exit = { code: m.code, signal: m.signal };
    }
    res.writeHead(204, { connection: 'close' });
    res.end();
  });
});
await new Promise((r) => ctl.listen(0, '127.0.0.1', r));
const dsPort = await closedPort();
const dsBase = `http://127.0.0.1:${dsPort}`;
let dsLog = '';
const ds = spawn(path.join(build, 'devserver'), ['--port', String(dsPort), '--workers', '1',
  '--timeout', '10', '--handlers', path.join(src, 'handlers'),
  '--bootstrap', path.join(src, 'tests/faults/proxied_worker.mjs')], {
  env: { ...baseEnv({ ddb: ddbUrl, jwks: endpoint, runtime: '' }),
    MB_FAULT_CONTROL: `http://127.0.0.1:${ctl.address().port}`, MB_FAULT_BOOTSTRAP: bootstrap },
  stdio: ['ignore', 'pipe', 'pipe'],
});
ds.stdout.on('data', (d) => { dsLog += d; });
ds.stderr.on('data', (d) => { dsLog += d; });
const dsExited = new Promise((r) => ds.on('exit', (code, signal) => r({ code, signal })));

const dsGet = async (p) => {
  const r = await fetch(`${dsBase}${p}`, { headers: { connection: 'close' } });
  const raw = await r.text();
  let body = raw;
  try { body = JSON.parse(raw); } catch { /* not JSON */ }
  return { status: r.status, body, raw };
};
const dsWorker = async () => (await dsGet('/__devserver/status')).body.workers[0];
async function until(what, pred, ms = 15000) {
  for (const t0 = Date.now(); Date.now() - t0 < ms; await sleep(50)) {
    const v = await pred().catch(() => null);
    if (v) return v;
  }
  throw new Error(`timed out waiting for ${what}:\n${dsLog.slice(-3000)}`);
}
// The live worker's proxy: plan or set faults, read its stats.
const live = () => devWorkers.filter((w) => !w.exit).at(-1);
async function proxyCtl(what, body) {
  const r = await fetch(`${live().control}/${what}`, { method: 'POST', body: JSON.stringify(body),
    headers: { connection: 'close' } });
  return r.json();
}
const hello = async (what) => {
  const res = await dsGet('/api/hello?name=faults');
  assert.equal(res.status, 200, `${what}: ${res.status} ${res.raw}`);
  assert.equal(res.body.message, 'Hello, faults!', res.raw);
};

await until('the devserver and its proxied worker', async () => (await dsWorker())?.ready && live());

// One fault on the response POST: the request it hit and the next one are answered 200 by the
// same worker, and the fault was used once.
async function responsePostFault(kind, what) {
  const before = await dsWorker();
  const n0 = (await proxyCtl('plan', [])).faults[kind] || 0;
  await proxyCtl('plan', [{ kind, only: '/response' }]);
  await hello(what);
  const st = await proxyCtl('plan', []);
  assert.equal(st.faults[kind] - n0, 1, JSON.stringify(st));
  await hello('the next request');
  assert.equal((await dsWorker()).pid, before.pid, 'the worker was reused');
}

await test('devserver emulator: the response POST reset mid-request: re-posted, 200, the same worker', async () => {
  await responsePostFault('reset-request', 'GET /api/hello, its response POST reset before the emulator saw it');
});

await test('devserver emulator: the response POST accepted but its answer lost: 200, the same worker serves on', async () => {
  const mark = dsLog.length;
  await responsePostFault('reset-response', 'GET /api/hello whose response POST answer was lost');
  assert.doesNotMatch(dsLog.slice(mark), /exited|killing/, dsLog.slice(mark));
  // The re-post is refused (the emulator, as Lambda, no longer knows the invocation): the worker
  // counts it delivered rather than reporting a failed post (core/runtime.c).
  assert.doesNotMatch(dsLog.slice(mark), /posting the response failed/, dsLog.slice(mark));
});

await test('devserver emulator: /next reset once: retried; /next answer lost: 502 for that request, then served on', async () => {
  const before = await dsWorker();
  const f0 = (await proxyCtl('plan', [])).faults;
  // The worker is waiting in /next already: the faults hit the /next after the next request.
  await proxyCtl('plan', [{ kind: 'reset-request', only: '/next' }, { kind: 'pass', only: '/next' },
    { kind: 'reset-response', only: '/next' }]);
  await hello('request 1 (its /next was in flight before the faults)');
  await hello('request 2 (handed out by the /next retried after a reset)');
  // Request 3's event is lost on its way to the worker: the worker asks /next again without
  // answering, which the emulator (as Lambda) counts as a failed invocation.
  const lost = await dsGet('/api/hello?name=faults');
  assert.equal(lost.status, 502, lost.raw);
  assert.match(lost.body.message, /without answering/, lost.raw);
  await hello('request 4');
  const st = await proxyCtl('plan', []);
  assert.deepEqual([st.faults['reset-request'] - f0['reset-request'],
    st.faults['reset-response'] - f0['reset-response']], [1, 1], JSON.stringify(st));
  assert.equal((await dsWorker()).pid, before.pid, 'the worker was reused');
});

await test('devserver emulator: /next reset every time: the worker exits 0 (no sanitizer report), the devserver replaces it', async () => {
  const old = live();
  await proxyCtl('always', { kind: 'reset-request', only: '/next' });
  await hello('the request served by the /next already in flight');
  // Six attempts with backoff (core/runtime.c), then "Runtime API unreachable, exiting".
  await until('the worker to give up', async () => old.exit);
  assert.deepEqual(old.exit, { code: 0, signal: null }, dsLog.slice(-3000));
  const fresh = await until('a replacement worker', async () => {
    const w = await dsWorker();
    return w?.ready && w.pid !== old.pid && live() ? w : null;
  });
  assert.notEqual(fresh.pid, old.pid);
  assert.match(dsLog, new RegExp(`worker 1 \\(pid ${old.pid}\\) exited with status 0; replacing it`), dsLog.slice(-3000));
  await hello('served by the replacement');
  assert.doesNotMatch(dsLog, /AddressSanitizer|LeakSanitizer|runtime error:/, dsLog.slice(-3000));
});

await test('devserver: stops cleanly after the faults (exit 0, workers gone, no sanitizer report)', async () => {
  ds.kill('SIGTERM');
  const ex = await Promise.race([dsExited, sleep(10000).then(() => 'hung')]);
  assert.deepEqual(ex, { code: 0, signal: null }, dsLog.slice(-3000));
  await until('every worker to report its exit', async () => devWorkers.every((w) => w.exit), 5000);
  assert.doesNotMatch(dsLog, /AddressSanitizer|LeakSanitizer|runtime error:/, dsLog.slice(-3000));
  ctl.close();
});

// ---- JWKS: each case is a fresh worker (a cold start) with its own JWKS proxy ----

async function coldWorker(jwksProxy) {
  const r = await startRuntimeApi();
  const w = startWorker(baseEnv({ ddb: ddbUrl, jwks: jwksProxy.url, runtime: r.addr }));
  return { r, w, call: (m, p) => r.invoke(apiEvent(m, p, { token })).then(response) };
}

for (const fault of ['reset-request', 'unavailable', 'garbage']) {
  await test(`JWKS ${fault} at cold start: 503 with Retry-After, the penalty box, recovery without restart`, async () => {
    const j = await startFaultProxy({ target: endpoint });
    j.always(fault);
    const { r, w, call: c } = await coldWorker(j);
    const res = await c('GET', '/me');
    expect(res, 503, `GET /me, JWKS ${fault}`);
    assertCleanError(res);
    assert.ok(Object.keys(res.headers).some((k) => k.toLowerCase() === 'retry-after'), JSON.stringify(res.headers));
    assert.ok(logLines(w).some((l) => l.level === 'ERROR' && /JWKS/.test(JSON.stringify(l))), w.out);
    const fetches = j.stats.requests;
    expect(await c('GET', '/me'), 503, 'second request inside the penalty box');
    assert.equal(j.stats.requests, fetches, 'no JWKS fetch inside the penalty box');
    j.always(null);
    await sleep(1200); // MB_JWKS_RETRY_S = 1
    expect(await c('GET', '/me'), 200, 'GET /me once the JWKS is back');
    await stopWorker(w, r);
    await j.close();
  });
}

// The JWKS is fetched with a 3 s timeout (core/auth.c, MB_AUTH_JWKS_TIMEOUT_MS). Each worker is
// warmed with a public route first, so the times below are the JWKS fetch, not the cold start.
const JWKS_TIMEOUT_MS = 3000;
const timed = async (p) => {
  const t0 = Date.now();
  const res = await p;
  return [res, Date.now() - t0];
};

await test('JWKS with added latency (800 ms): only slower, 200', async () => {
  const j = await startFaultProxy({ target: endpoint });
  j.always({ kind: 'latency', ms: 800 });
  const { r, w, call: c } = await coldWorker(j);
  expect(await c('GET', '/hello'), 200, 'GET /hello (warm-up)');
  const [res, ms] = await timed(c('GET', '/me'));
  expect(res, 200, 'GET /me, JWKS 800 ms late');
  assert.ok(ms >= 800, `answered in ${ms} ms`);
  assert.equal(j.stats.faults.latency, 1, 'one JWKS fetch');
  expect(await c('GET', '/me'), 200, 'GET /me again, keys cached');
  assert.equal(j.stats.requests, 1, 'no second fetch');
  await stopWorker(w, r);
  await j.close();
});

for (const [fault, what] of [[{ kind: 'slow', ms: 8000 }, 'answering past the 3 s timeout'],
  ['hang', 'half-open (accepts, never answers)']]) {
  await test(`JWKS ${what}: 503 after the timeout, the penalty box, recovery without restart`, async () => {
    const j = await startFaultProxy({ target: endpoint });
    j.always(fault);
    const { r, w, call: c } = await coldWorker(j);
    expect(await c('GET', '/hello'), 200, 'GET /hello (warm-up)');
    const [res, ms] = await timed(c('GET', '/me'));
    expect(res, 503, `GET /me, JWKS ${what}`);
    assertCleanError(res);
    assert.ok(Object.keys(res.headers).some((k) => k.toLowerCase() === 'retry-after'), JSON.stringify(res.headers));
    // Bounded by the JWKS timeout: not before it (it did wait), not long after it.
    assert.ok(ms >= JWKS_TIMEOUT_MS - 200 && ms < JWKS_TIMEOUT_MS + 2500, `answered in ${ms} ms`);
    assert.ok(logLines(w).some((l) => l.level === 'ERROR' && /JWKS/.test(JSON.stringify(l))), w.out);
    const fetches = j.stats.requests;
    const [res2, ms2] = await timed(c('GET', '/me'));
    expect(res2, 503, 'second request inside the penalty box');
    assert.equal(j.stats.requests, fetches, 'no JWKS fetch inside the penalty box');
    assert.ok(ms2 < 1000, `the penalty box answers at once, not after the timeout (${ms2} ms)`);
    j.always(null);
    await sleep(1200); // MB_JWKS_RETRY_S = 1
    expect(await c('GET', '/me'), 200, 'GET /me once the JWKS answers again');
    await stopWorker(w, r);
    await j.close();
  });
}

await test('Runtime API gone: the worker exits cleanly (status 0, no sanitizer report)', async () => {
  await stopWorker(worker, rt);
});

await dp.close();
await jp.close();
console.log(failures ? `${failures} failed` : 'all passed');
process.exit(failures ? 1 : 0);
