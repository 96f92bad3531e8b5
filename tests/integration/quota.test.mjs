// tests/integration/quota.test.mjs - per-tenant request quotas end to end: the devserver with two
// bootstrap workers, real cognito-local tokens, a fresh table in dynalite. The counter in
// DynamoDB is the only state, so the quota holds across both workers: requests sent in parallel
// beyond the tenant's quota (and a route's own `quota = N`) get 429 with Retry-After, the
// Throttled EMF metric counts them, another tenant is unaffected, and the counters sit under
// PK QUOTA#<tenant>, out of ctx.db's reach.
// Environment: MB_BUILD_DIR, MB_SOURCE_DIR, MB_DYNAMODB_PORT, MB_COGNITO_PORT (services fixture).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { cognitoEndpoint, createPoolAndClient, signUpConfirmLogin } from './cognito_helper.mjs';
import { createTable, ddbUrl, scanAll } from './invoke_helper.mjs';
import { test, sleep, failures } from './harness.mjs';

const src = process.env.MB_SOURCE_DIR || process.cwd();
const build = path.resolve(src, process.env.MB_BUILD_DIR || 'build');
const table = `quota-test-${Date.now()}-${process.pid}`;
const TENANT_QUOTA = 6;
const ROUTE_QUOTA = 2;

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mb-quota-'));
fs.writeFileSync(path.join(tmp, 'routes.lua'), `return {
  { "GET", "/a", "ok", auth = true },
  { "GET", "/b", "ok", auth = true, quota = ${ROUTE_QUOTA} },
}\n`);
fs.writeFileSync(path.join(tmp, 'ok.lua'),
  'return function(req, ctx) return { status = 200, body = { tenant = req.user.tenant } } end\n');

const endpoint = cognitoEndpoint();
await createTable(table);
const pool = await createPoolAndClient(endpoint, `quota-${Date.now()}`);
const stamp = Date.now();
const ada = await signUpConfirmLogin(endpoint, pool, `ada.${stamp}@moonbase.test`, 'MoonbaseTest1');
const bob = await signUpConfirmLogin(endpoint, pool, `bob.${stamp}@moonbase.test`, 'MoonbaseTest1');

const port = await freePort();
const logFile = path.join(tmp, 'devserver.log');
const out = fs.openSync(logFile, 'w');
const child = spawn(path.join(build, 'devserver'), ['--port', String(port), '--workers', '2',
  '--handlers', tmp, '--bootstrap', path.join(build, 'bootstrap'), '--rate', '0'], {
  env: {
    ...process.env, ENVIRONMENT: 'test', AWS_REGION: 'us-east-1', TABLE_NAME: table,
    DYNAMODB_ENDPOINT: ddbUrl, AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local',
    COGNITO_ISSUER: `${endpoint}/${pool.poolId}`, USER_POOL_ID: pool.poolId, CLIENT_ID: pool.clientId,
    QUOTA_REQUESTS: String(TENANT_QUOTA), QUOTA_WINDOW_SECONDS: '3600', LOG_LEVEL: 'warn',
    ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0',
  },
  stdio: ['ignore', out, out],
});
fs.closeSync(out);
const base = `http://127.0.0.1:${port}`;

const get = (p, token) => fetch(`${base}/api${p}`, { headers: { authorization: `Bearer ${token}` } });

try {
  for (let i = 0; i < 300; i++) {
    const st = await fetch(`${base}/__devserver/status`).then((r) => r.json()).catch(() => null);
    if (st && st.workers.length === 2 && st.workers.every((w) => w.ready)) break;
    if (i === 299) throw new Error(`devserver not ready:\n${fs.readFileSync(logFile, 'utf8')}`);
    await sleep(50);
  }

  await test('a route quota: 2 of 3 parallel requests pass, the third is 429 with Retry-After', async () => {
    const rs = await Promise.all([1, 2, 3].map(() => get('/b', ada.idToken)));
    const codes = rs.map((r) => r.status).sort();
    assert.deepEqual(codes, [200, 200, 429]);
    const limited = rs.find((r) => r.status === 429);
    const retry = Number(limited.headers.get('retry-after'));
    assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= 3600, `Retry-After ${retry}`);
    const body = await limited.json();
    assert.equal(body.error, 'too_many_requests');
  });

  await test('the tenant quota holds across both workers: 6 in all, then 429', async () => {
    // 3 requests counted so far (the 429 above counted against the tenant's total too)
    const rs = await Promise.all([1, 2, 3, 4, 5].map(() => get('/a', ada.idToken)));
    assert.deepEqual(rs.map((r) => r.status).sort(), [200, 200, 200, 429, 429]);
    assert.equal((await get('/a', ada.idToken)).status, 429);
  });

  await test('another tenant is not affected', async () => {
    assert.equal((await get('/a', bob.idToken)).status, 200);
  });

  await test('the counters: one conditional counter per tenant and window, under QUOTA#', async () => {
    const items = (await scanAll(table)).filter((i) => i.PK.S.startsWith('QUOTA#'));
    const ada_ = items.filter((i) => !i.SK.S.endsWith('#GET /b') && Number(i.requests.N) === TENANT_QUOTA);
    assert.equal(ada_.length, 1, JSON.stringify(items));
    const route = items.find((i) => i.SK.S.endsWith('#GET /b'));
    assert.equal(Number(route.requests.N), ROUTE_QUOTA);
    assert.ok(Number(route.expiresAt.N) > Date.now() / 1000, 'expiresAt for the table TTL');
  });

  await test('Throttled is counted in EMF, the worker logs say why', async () => {
    await sleep(200);
    const log = fs.readFileSync(logFile, 'utf8');
    const throttled = log.split('\n').filter((l) => l.includes('"Throttled":1'));
    assert.ok(throttled.length >= 4, `${throttled.length} EMF documents with Throttled`);
    assert.match(log, /tenant quota spent/);
  });
} finally {
  child.kill('SIGTERM');
  await sleep(500);
  fs.rmSync(tmp, { recursive: true, force: true });
}
if (failures) {
  console.log(`${failures} failure(s)`);
  process.exit(1);
}
