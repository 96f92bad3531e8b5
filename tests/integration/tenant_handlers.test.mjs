// tests/integration/tenant_handlers.test.mjs - tenant handlers end to end: the /tenant/handlers
// API and /t/{name} through the real devserver (two warm bootstrap workers) against dynalite and
// cognito-local, with real tokens (custom:tenant_id, the tenant-admin group).
// Covers: two tenants with a handler of the same name each run their own; a non-admin gets 403
// and the live handler is unchanged; syntax error 400 with the line; binary chunk 400; oversized
// 413; bad names; concurrent deploys with the same expectedVersion (one wins, the others 409, no
// lost version); rollback; dry run (response, logs, metrics, usage, runtime error line) does not
// change what /t/ runs; hostile handlers (endless loop, memory bomb, GC stop + allocation churn)
// are cut and the next request works; ctx.db of a tenant handler cannot reach platform records,
// file-handler data or another tenant; a deploy made by another process is seen by the warm
// workers within 2 s; list / get ?version / versions / delete; the SPA's starter templates;
// the 50-handler cap; {rest+}.
// Environment: MB_BUILD_DIR, MB_SOURCE_DIR, MB_DYNAMODB_PORT, MB_COGNITO_PORT (the `services`
// fixture), MB_TENANT_TEST_PORT (its devserver).
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import assert from 'node:assert/strict';
import { cognitoCall, cognitoEndpoint, createPoolAndClient, signUpConfirmLogin } from './cognito_helper.mjs';
import { test, sleep, countFailure, failures } from './harness.mjs';

const src = process.env.MB_SOURCE_DIR || process.cwd();
const build = path.resolve(src, process.env.MB_BUILD_DIR || 'build');
const port = Number(process.env.MB_TENANT_TEST_PORT || 13007);
const base = `http://127.0.0.1:${port}/api`;
const ddbUrl = `http://127.0.0.1:${process.env.MB_DYNAMODB_PORT || 18000}`;
const table = `tenant-test-${Date.now()}-${process.pid}`;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mb-tenant-'));

// ---- dynalite, directly: set-up and checks of what really is in the table ----

async function ddb(action, body) {
  const now = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '');
  const res = await fetch(ddbUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': `DynamoDB_20120810.${action}`,
      'x-amz-date': now,
      authorization: `AWS4-HMAC-SHA256 Credential=local/${now.slice(0, 8)}/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=${'0'.repeat(64)}`,
    },
    body: JSON.stringify(body),
  });
  const json = await res.json();
  assert.ok(res.ok, `${action}: ${JSON.stringify(json)}`);
  return json;
}

async function createTable() {
  await ddb('CreateTable', {
    TableName: table,
    AttributeDefinitions: [{ AttributeName: 'PK', AttributeType: 'S' }, { AttributeName: 'SK', AttributeType: 'S' }],
    KeySchema: [{ AttributeName: 'PK', KeyType: 'HASH' }, { AttributeName: 'SK', KeyType: 'RANGE' }],
    BillingMode: 'PAY_PER_REQUEST',
  });
  for (let i = 0; i < 100; i++) {
    const d = await ddb('DescribeTable', { TableName: table });
    if (d.Table.TableStatus === 'ACTIVE') return;
    await sleep(50);
  }
  throw new Error('table did not become ACTIVE');
}

async function getItem(pk, sk) {
  const r = await ddb('GetItem', { TableName: table, Key: { PK: { S: pk }, SK: { S: sk } }, ConsistentRead: true });
  return r.Item;
}

// ---- users: acme admin, acme member, globex admin, and a tenant for the cap test ----

const endpoint = cognitoEndpoint();
await createTable();
const pool = await createPoolAndClient(endpoint, `tenant-${Date.now()}`);
// Named tenants are Cognito groups "tenant:<name>" (moonbase/auth.h): the key is "org:<name>".
for (const g of ['tenant-admin', 'tenant:acme', 'tenant:globex', 'tenant:captenant']) {
  await cognitoCall(endpoint, 'CreateGroup', { UserPoolId: pool.poolId, GroupName: g });
}
const stamp = Date.now();
const users = {};
for (const [name, tenant, admin] of [['alice', 'acme', true], ['mallory', 'acme', false],
  ['bob', 'globex', true], ['cap', 'captenant', true]]) {
  const email = `${name}.${stamp}@moonbase.test`;
  await signUpConfirmLogin(endpoint, pool, email, 'MoonbaseTest1');
  await cognitoCall(endpoint, 'AdminAddUserToGroup', { UserPoolId: pool.poolId, Username: email, GroupName: `tenant:${tenant}` });
  if (admin) {
    await cognitoCall(endpoint, 'AdminAddUserToGroup', { UserPoolId: pool.poolId, Username: email, GroupName: 'tenant-admin' });
  }
  // Log in again so the id token carries cognito:groups.
  const auth = await cognitoCall(endpoint, 'InitiateAuth', {
    AuthFlow: 'USER_PASSWORD_AUTH', ClientId: pool.clientId,
    AuthParameters: { USERNAME: email, PASSWORD: 'MoonbaseTest1' },
  });
  users[name] = { email, tenant: `org:${tenant}`, token: auth.AuthenticationResult.IdToken };
}
const ALICE = users.alice.token;
const MALLORY = users.mallory.token;
const BOB = users.bob.token;

const env = {
  PATH: process.env.PATH,
  HANDLERS_DIR: path.join(src, 'handlers'),
  ENVIRONMENT: 'test',
  TABLE_NAME: table,
  DYNAMODB_ENDPOINT: ddbUrl,
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'local',
  AWS_SECRET_ACCESS_KEY: 'local-test-secret',
  COGNITO_ISSUER: `${endpoint}/${pool.poolId}`,
  USER_POOL_ID: pool.poolId,
  CLIENT_ID: pool.clientId,
  LOG_LEVEL: 'warn',
  // A tenth of the default budget: the endless loops below end in well under a second even
  // under the sanitizers, and no handler here needs more.
  MOONBASE_INSTRUCTION_LIMIT: '20000000',
  ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0',
};

// ---- the devserver: two warm workers ----

const logFile = path.join(tmp, 'devserver.log');
const out = fs.openSync(logFile, 'w');
const devserver = spawn(path.join(build, 'devserver'), ['--port', String(port), '--workers', '2',
  '--bootstrap', path.join(build, 'bootstrap'), '--rate', '0', '--timeout', '30'],
{ env, stdio: ['ignore', out, out] });
fs.closeSync(out);
const exited = new Promise((resolve) => devserver.on('exit', (code, sig) => resolve({ code, sig })));
let ready = false;
for (let i = 0; i < 300 && !ready; i++) {
  const st = await fetch(`http://127.0.0.1:${port}/__devserver/status`).then((r) => r.json()).catch(() => null);
  ready = !!(st && st.workers.length === 2 && st.workers.every((w) => w.ready));
  if (!ready) await sleep(50);
}
if (!ready) {
  devserver.kill('SIGKILL');
  throw new Error(`devserver did not become ready:\n${fs.readFileSync(logFile, 'utf8')}`);
}

async function api(method, p, token, body) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(base + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: res.status, body: json, headers: res.headers, text };
}

function expect(res, status, what = '') {
  assert.equal(res.status, status, `${what} expected ${status}, got ${res.status}: ${res.text}`);
  return res.body;
}

const deploy = (token, name, source, extra = {}) =>
  api('PUT', `/tenant/handlers/${name}`, token, { source, ...extra });

// A handler answering {tag, tenant, sub}: which code ran, for whom.
const tagged = (tag) => `return function(req, ctx)
  return { status = 200, body = { tag = ${JSON.stringify(tag)}, tenant = req.user.tenant, sub = req.user.sub } }
end
`;

// Poll until fn() is truthy (fn returns the value), at most ms.
async function eventually(fn, ms, what) {
  const t0 = Date.now();
  let last;
  while (Date.now() - t0 < ms) {
    last = await fn();
    if (last) return last;
    await sleep(50);
  }
  throw new Error(`${what}: not within ${ms} ms`);
}

// Requests in parallel (both workers answer some of them): the tags seen.
async function burstTags(name, token, n = 8) {
  const rs = await Promise.all(Array.from({ length: n }, () => api('GET', `/t/${name}`, token)));
  return rs.map((r) => (r.status === 200 ? r.body.tag : `HTTP ${r.status}`));
}

// ---- tests ----

await test('two tenants with a handler of the same name each run only their own', async () => {
  const a = expect(await deploy(ALICE, 'hello', tagged('acme-1')), 200, 'alice deploys');
  assert.equal(a.version, 1);
  expect(await deploy(BOB, 'hello', tagged('globex-1')), 200, 'bob deploys');
  const ra = expect(await api('GET', '/t/hello', MALLORY), 200, 'mallory (acme member) runs it');
  assert.equal(ra.tag, 'acme-1');
  assert.equal(ra.tenant, 'org:acme');
  const rb = expect(await api('GET', '/t/hello', BOB), 200);
  assert.equal(rb.tag, 'globex-1');
  assert.equal(rb.tenant, 'org:globex');
  expect(await deploy(ALICE, 'only-acme', tagged('acme-only')), 200);
  expect(await api('GET', '/t/only-acme', BOB), 404, 'another tenant\'s handler is never reachable');
  expect(await api('GET', '/t/nothing-here', ALICE), 404, 'unknown handler');
  expect(await api('GET', '/t/hello'), 401, 'no token');
});

await test('a non-admin gets 403 on every write and the live handler is unchanged', async () => {
  expect(await deploy(MALLORY, 'hello', tagged('evil')), 403, 'PUT');
  expect(await api('POST', '/tenant/handlers/hello/rollback', MALLORY, { version: 1 }), 403, 'rollback');
  expect(await api('POST', '/tenant/handlers/hello/test', MALLORY, { source: tagged('x') }), 403, 'test');
  expect(await api('DELETE', '/tenant/handlers/hello', MALLORY), 403, 'DELETE');
  const list = expect(await api('GET', '/tenant/handlers', MALLORY), 200, 'reads are for members');
  assert.ok(list.handlers.some((h) => h.name === 'hello' && h.version === 1));
  assert.equal(expect(await api('GET', '/t/hello', MALLORY), 200).tag, 'acme-1');
});

await test('PUT checks the source: syntax error 400 with its line, binary 400, 64 KB 413, names', async () => {
  const bad = expect(await deploy(ALICE, 'broken', 'return function(req, ctx)\n  local x = 1\n  if x then\n    return {\nend\n'), 400);
  assert.equal(bad.error, 'syntax');
  assert.equal(bad.line, 5, JSON.stringify(bad));
  assert.match(bad.message, /^broken:5:/);
  const bin = expect(await deploy(ALICE, 'binary', '\u001bLuaT\u0000\u0019\u0093\r\n'), 400);
  assert.match(bin.message, /binary chunks are not accepted/);
  const nul = expect(await deploy(ALICE, 'nul', 'return 1\u0000'), 400);
  assert.match(nul.message, /text/);
  const big = `return function() return { status = 200 } end\n--${'x'.repeat(64 * 1024)}`;
  expect(await deploy(ALICE, 'big', big), 413);
  const exact = `return function() return { status = 200, body = "ok" } end\n--`;
  expect(await deploy(ALICE, 'exactly64k', exact + 'x'.repeat(64 * 1024 - exact.length)), 200, 'exactly 64 KB');
  for (const name of ['Hello', '-x', 'a_b', 'a'.repeat(41), 'a.b']) {
    expect(await deploy(ALICE, encodeURIComponent(name), tagged('x')), 400, `name ${name}`);
  }
  expect(await deploy(ALICE, 'a'.repeat(40), tagged('x')), 200, '40 characters');
  expect(await api('PUT', '/tenant/handlers/nosrc', ALICE, { source: 42 }), 400);
  expect(await api('PUT', '/tenant/handlers/nosrc', ALICE, { source: 'return 1', expectedVersion: 'x' }), 400);
  for (const name of ['broken', 'binary', 'nul', 'big']) {
    expect(await api('GET', `/tenant/handlers/${name}`, ALICE), 404, `${name} was not saved`);
  }
});

await test('concurrent deploys with the same expectedVersion: one wins, the rest 409, no lost version', async () => {
  const live = expect(await api('GET', '/tenant/handlers/hello', ALICE), 200).version;
  const rs = await Promise.all([1, 2, 3, 4].map((i) =>
    deploy(ALICE, 'hello', tagged(`race-${i}`), { expectedVersion: live })));
  const wins = rs.filter((r) => r.status === 200);
  const lost = rs.filter((r) => r.status === 409);
  assert.equal(wins.length, 1, rs.map((r) => r.text).join('\n'));
  assert.equal(lost.length, 3);
  const winner = wins[0].body.version;
  for (const r of lost) {
    assert.equal(r.body.error, 'conflict');
    assert.ok(r.body.currentVersion === live || r.body.currentVersion === winner, r.text);
  }
  const now = expect(await api('GET', '/tenant/handlers/hello', ALICE), 200);
  assert.equal(now.version, winner);
  const winnerTag = /race-\d/.exec(now.source)[0];
  const vs = expect(await api('GET', '/tenant/handlers/hello/versions', ALICE), 200);
  assert.equal(vs.live, winner);
  const numbers = vs.versions.map((v) => v.version);
  assert.deepEqual(numbers, [...numbers].sort((x, y) => y - x), 'newest first');
  assert.ok(numbers.includes(live) && numbers.includes(winner), 'the old and the winning version are kept');
  assert.equal(new Set(numbers).size, numbers.length, 'no version number twice');
  // A stale expectedVersion later is 409 with the current version; no overwrite happened.
  const stale = expect(await deploy(ALICE, 'hello', tagged('stale'), { expectedVersion: live }), 409);
  assert.equal(stale.currentVersion, winner);
  await eventually(async () => (await burstTags('hello', ALICE)).every((t) => t === winnerTag), 2500,
    'every worker runs the winner');
});

await test('rollback appends a version with the old source, and /t/ runs it', async () => {
  const v1 = expect(await deploy(ALICE, 'flip', tagged('first')), 200).version;
  const v2 = expect(await deploy(ALICE, 'flip', tagged('second')), 200).version;
  assert.equal(v2, v1 + 1);
  await eventually(async () => (await burstTags('flip', ALICE)).every((t) => t === 'second'), 2500, 'second live');
  const rb = expect(await api('POST', '/tenant/handlers/flip/rollback', ALICE, { version: v1 }), 200);
  assert.equal(rb.version, v2 + 1);
  assert.equal(rb.rolledBackFrom, v1);
  await eventually(async () => (await burstTags('flip', ALICE)).every((t) => t === 'first'), 2500, 'rolled back');
  const vs = expect(await api('GET', '/tenant/handlers/flip/versions', ALICE), 200);
  assert.deepEqual(vs.versions.map((v) => v.version), [v2 + 1, v2, v1], 'history is append-only');
  assert.equal(vs.versions[0].rolledBackFrom, v1);
  assert.equal(vs.versions[0].sha256, vs.versions[2].sha256);
  assert.ok(!('source' in vs.versions[0]), 'the version list carries no source');
  const old = expect(await api('GET', `/tenant/handlers/flip?version=${v2}`, ALICE), 200);
  assert.equal(old.version, v2);
  assert.equal(old.live, v2 + 1);
  assert.match(old.source, /"second"/);
  expect(await api('POST', '/tenant/handlers/flip/rollback', ALICE, { version: 99 }), 404);
  expect(await api('GET', '/tenant/handlers/flip?version=99', ALICE), 404);
  expect(await api('GET', '/tenant/handlers/flip?version=x', ALICE), 400);
});

await test('dry run: response, logs, metrics, usage; runtime error line; /t/ is unchanged', async () => {
  const before = (await burstTags('flip', ALICE))[0];
  const source = `return function(req, ctx)
  ctx.log.info("dry", { n = 1, bad = function() end })
  print("printed", 42)
  ctx.metric("Things", 3, "Count")
  local t = {}
  for i = 1, 1000 do t[i] = ("x"):rep(10) .. i end
  return { status = 201, headers = { ["x-dry"] = "yes" },
    body = { q = req.query.q, rest = req.params.rest, json = req.json and req.json.a, method = req.method } }
end
`;
  const r = expect(await api('POST', '/tenant/handlers/flip/test', ALICE, {
    source, request: { method: 'post', path: '/t/flip/a/b', query: { q: 'z' }, body: { a: 7 } },
  }), 200);
  assert.equal(r.response.status, 201);
  assert.equal(r.response.headers['x-dry'], 'yes');
  assert.deepEqual(JSON.parse(r.response.body), { q: 'z', rest: 'a/b', json: 7, method: 'POST' });
  assert.deepEqual(r.logs.map((l) => [l.level, l.message]), [['info', 'dry'], ['print', 'printed\t42']]);
  assert.deepEqual(r.logs[0].fields, { n: 1 });
  assert.deepEqual(r.metrics, [{ name: 'Things', value: 3, unit: 'Count' }]);
  assert.ok(r.usage.instructions > 1000, JSON.stringify(r.usage));
  assert.ok(r.usage.memoryBytes > 10000, JSON.stringify(r.usage));
  assert.ok(r.usage.cpuMs > 0 && r.usage.durationMs > 0, JSON.stringify(r.usage));
  const err = expect(await api('POST', '/tenant/handlers/flip/test', ALICE, {
    source: 'return function(req, ctx)\n  local x = nil\n  return x.y\nend\n' }), 200);
  assert.equal(err.error.type, 'runtime');
  assert.equal(err.error.line, 3);
  assert.match(err.error.message, /^flip:3: attempt to index/);
  assert.ok(!/lua_host|\.c:|bootstrap/.test(JSON.stringify(err)), 'no host internals');
  // SECRET_ARNS are the platform's secrets: a tenant's code never reads them (dry run or /t/).
  const sec = expect(await api('POST', '/tenant/handlers/flip/test', ALICE, {
    source: 'return function(req, ctx) return { status = 200, body = ctx.secret("cursor") } end\n' }), 200);
  assert.equal(sec.error.type, 'runtime', JSON.stringify(sec));
  assert.match(sec.error.message, /ctx\.secret is not available to tenant handlers/);
  const fail = expect(await api('POST', '/tenant/handlers/flip/test', ALICE, {
    source: 'return function(req, ctx) ctx.fail(422, "nope") end' }), 200);
  assert.equal(fail.response.status, 422);
  assert.equal(JSON.parse(fail.response.body).message, 'nope');
  const syntax = expect(await api('POST', '/tenant/handlers/flip/test', ALICE, { source: 'return function(' }), 400);
  assert.equal(syntax.error, 'syntax');
  const saved = expect(await api('POST', '/tenant/handlers/flip/test', ALICE, {}), 200);
  assert.equal(JSON.parse(saved.response.body).tag, before, 'no source: the saved live one runs');
  assert.deepEqual(await burstTags('flip', ALICE), Array(8).fill(before), 'the dry run changed nothing');
  const vs = expect(await api('GET', '/tenant/handlers/flip/versions', ALICE), 200);
  assert.equal(vs.versions.length, 3, 'no version was saved');
});

await test('hostile handlers are cut by the limits and the next request works', async () => {
  const hostile = {
    loop: 'return function() while true do end end',
    bomb: 'return function() local s = "x" while true do s = s .. s end end',
    churn: `return function()
  pcall(collectgarbage, "stop")
  local keep = {}
  while true do
    for i = 1, 1000 do keep[#keep + 1] = { i, tostring(i) } end
  end
end`,
    catcher: 'return function() while true do pcall(function() while true do end end) end end',
  };
  for (const [name, source] of Object.entries(hostile)) {
    expect(await deploy(ALICE, name, source), 200, `deploy ${name}`);
  }
  for (const name of Object.keys(hostile)) {
    const t0 = Date.now();
    const r = await api('GET', `/t/${name}`, ALICE);
    const ms = Date.now() - t0;
    console.log(`     ${name}: ${r.status} after ${ms} ms`);
    assert.ok(r.status >= 500 && r.status < 600, `${name}: ${r.status} ${r.text}`);
    assert.ok(ms < 15000, `${name} took ${ms} ms`);
    assert.ok(!/traceback|\.c:/.test(r.text), `${name}: no internals in ${r.text}`);
    const ok = await burstTags('hello', ALICE, 4);
    assert.ok(ok.every((t) => /^race-\d$/.test(t)), `after ${name}: ${ok}`);
  }
  const dry = expect(await api('POST', '/tenant/handlers/loop/test', ALICE, {}), 200);
  assert.equal(dry.error.type, 'limit');
  assert.match(dry.error.message, /instruction budget|deadline|CPU/);
});

await test('ctx.db of a tenant handler cannot reach platform records, file-handler data or other tenants', async () => {
  await ddb('PutItem', { TableName: table, Item: { PK: { S: 'TENANT#org:acme' }, SK: { S: 'ITEM#file' }, title: { S: 'file data' } } });
  const before = await getItem('HANDLERS#org:acme', 'PTR#hello');
  assert.ok(before && before.live, 'the pointer exists');
  const evil = String.raw`return function(req, ctx)
  local db, r = ctx.db, {}
  local function try(name, fn, ...)
    local ok, err = pcall(fn, ...)
    if type(err) == "table" then err = err.message end
    r[name] = { ok = ok, err = tostring(err) }
  end
  try("get_platform_pk", db.get, { PK = "HANDLERS#org:acme", SK = "PTR#hello" })
  try("put_platform_pk", db.put, { PK = "HANDLERS#org:acme", SK = "PTR#hello", live = 999 })
  try("put_other_tenant", db.put, { PK = "TENANT#org:globex", SK = "x" })
  try("values_other_tenant", db.query, { filter = "a = :t", values = { [":t"] = "TENANT#org:globex" } })
  try("names_pk", db.update, "x", { expression = "SET #p = :p", names = { ["#p"] = "PK" }, values = { [":p"] = "HANDLERS#org:acme" } })
  r.ptr_read = db.get("PTR#hello") or json.null
  r.file_read = db.get("ITEM#file") or json.null
  db.put({ SK = "PTR#hello", live = 999 })
  db.put({ SK = "note", text = "mine" })
  r.own = db.get("note").text
  local q = db.query()
  r.keys = {}
  for _, it in ipairs(q.items) do r.keys[#r.keys + 1] = it.SK end
  r.range = #db.query({ between = { "A", "z" } }).items
  return { status = 200, body = r }
end
`;
  expect(await deploy(ALICE, 'evil', evil), 200);
  const r = expect(await api('GET', '/t/evil', ALICE), 200);
  for (const k of ['get_platform_pk', 'put_platform_pk', 'put_other_tenant', 'values_other_tenant', 'names_pk']) {
    assert.equal(r[k].ok, false, `${k} must be refused: ${JSON.stringify(r[k])}`);
  }
  assert.equal(r.ptr_read, null, 'the platform pointer is not in the handler\'s namespace');
  assert.equal(r.file_read, null, 'file handlers\' data is not in the namespace');
  assert.equal(r.own, 'mine');
  assert.deepEqual(r.keys.sort(), ['PTR#hello', 'note'], 'the handler sees its own keys only');
  assert.equal(r.range, 2);
  const after = await getItem('HANDLERS#org:acme', 'PTR#hello');
  assert.deepEqual(after, before, 'the platform pointer is untouched');
  assert.ok(await getItem('TENANT#org:acme', 'APP#PTR#hello'), 'the handler\'s write landed in APP#');
  assert.equal(await getItem('TENANT#org:globex', 'x'), undefined);
  const scan = await ddb('Scan', { TableName: table });
  for (const it of scan.Items) {
    if (it.PK.S.startsWith('TENANT#') && it.SK.S !== 'ITEM#file') {
      assert.ok(it.SK.S.startsWith('APP#'), `tenant handler data outside APP#: ${it.PK.S} ${it.SK.S}`);
    }
  }
  // Bob's handler of another tenant sees nothing of acme's.
  expect(await deploy(BOB, 'peek', 'return function(req, ctx) return { status = 200, body = { n = #ctx.db.query().items, note = ctx.db.get("note") or json.null } } end'), 200);
  assert.deepEqual(expect(await api('GET', '/t/peek', BOB), 200), { n: 0, note: null });
});

await test('a deploy by another process is seen by the warm workers within 2 s', async () => {
  const v1 = expect(await deploy(ALICE, 'warm', tagged('old')), 200).version;
  await eventually(async () => (await burstTags('warm', ALICE)).every((t) => t === 'old'), 2500, 'old everywhere');
  // Deploy through a separate bootstrap process: the devserver's workers learn of it only
  // through the store. Meanwhile keep both workers busy (their cached copy stays warm) and
  // watch the pointer in the table: the clock starts when the new version is live there.
  const ev = {
    version: '2.0', routeKey: '$default', rawPath: '/tenant/handlers/warm', rawQueryString: '',
    headers: { authorization: `Bearer ${ALICE}`, 'content-type': 'application/json' },
    requestContext: { http: { method: 'PUT', path: '/tenant/handlers/warm', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1' },
      requestId: `t-${crypto.randomUUID()}`, stage: '$default' },
    body: JSON.stringify({ source: tagged('new') }), isBase64Encoded: false,
  };
  const child = spawn(path.join(build, 'bootstrap'), ['invoke', '--event', '-'], { env, stdio: ['pipe', 'pipe', 'ignore'] });
  let stdout = '';
  child.stdout.on('data', (d) => { stdout += d; });
  const done = new Promise((resolve) => child.on('exit', resolve));
  child.stdin.end(JSON.stringify(ev));
  let t0 = 0;
  let staleAfter = 0;
  const t1 = await eventually(async () => {
    const tags = await burstTags('warm', ALICE);
    if (!t0) {
      const ptr = await getItem('HANDLERS#org:acme', 'PTR#warm');
      if (Number(ptr.live.N) > v1) t0 = Date.now();
      return 0;
    }
    if (tags.includes('old')) staleAfter = Date.now() - t0;
    return tags.every((t) => t === 'new') ? Date.now() : 0;
  }, 15000, 'new everywhere');
  await done;
  assert.equal(JSON.parse(stdout).statusCode, 200, stdout);
  console.log(`     deploy live in the table -> every warm worker runs it: ${t1 - t0} ms ` +
    `(old copy still served ${staleAfter} ms after the write)`);
  assert.ok(t1 - t0 <= 2000, `took ${t1 - t0} ms`);
});

await test('list, get, versions, delete, re-create continues the numbering, {rest+}', async () => {
  const list = expect(await api('GET', '/tenant/handlers', ALICE), 200);
  assert.equal(list.limit, 50);
  const names = list.handlers.map((h) => h.name);
  assert.deepEqual(names, [...names].sort());
  const hello = list.handlers.find((h) => h.name === 'hello');
  assert.ok(hello.version >= 2 && hello.size > 0 && hello.updatedAt, JSON.stringify(hello));
  const bobs = expect(await api('GET', '/tenant/handlers', BOB), 200).handlers.map((h) => h.name);
  assert.deepEqual(bobs, ['hello', 'peek'], 'each tenant lists its own');
  expect(await deploy(ALICE, 'gone', tagged('gone-1')), 200);
  assert.equal(expect(await api('GET', '/t/gone', ALICE), 200).tag, 'gone-1');
  expect(await api('DELETE', '/tenant/handlers/gone', ALICE), 200);
  expect(await api('DELETE', '/tenant/handlers/gone', ALICE), 404, 'twice');
  await eventually(async () => (await burstTags('gone', ALICE)).every((t) => t === 'HTTP 404'), 2500, 'gone everywhere');
  expect(await api('GET', '/tenant/handlers/gone', ALICE), 404);
  assert.ok(!expect(await api('GET', '/tenant/handlers', ALICE), 200).handlers.some((h) => h.name === 'gone'));
  const again = expect(await deploy(ALICE, 'gone', tagged('gone-2')), 200);
  assert.equal(again.version, 2, 'numbering continues after a delete');
  expect(await deploy(ALICE, 'echo', 'return function(req) return { status = 200, body = { rest = req.params.rest or json.null, name = req.params.name, m = req.method } } end'), 200);
  assert.deepEqual(expect(await api('DELETE', '/t/echo/a/b%20c/', ALICE), 200), { rest: 'a/b c', name: 'echo', m: 'DELETE' });
  assert.deepEqual(expect(await api('POST', '/t/echo', ALICE, {}), 200), { rest: null, name: 'echo', m: 'POST' });
});

await test('the SPA\'s starter templates deploy and do what they say', async () => {
  const { TEMPLATES } = await import(pathToFileURL(path.join(src, 'frontend/src/handlers/templates.js')).href);
  const tpl = Object.fromEntries(TEMPLATES.map((t) => [t.id, t.source]));
  assert.deepEqual(Object.keys(tpl), ['hello', 'counter', 'todo', 'webhook']);
  for (const [id, source] of Object.entries(tpl)) expect(await deploy(ALICE, `tpl-${id}`, source), 200, id);
  assert.equal(expect(await api('GET', '/t/tpl-hello?name=you', MALLORY), 200).message, 'Hello, you!');
  assert.equal(expect(await api('GET', '/t/tpl-counter', ALICE), 200).count, 1);
  assert.equal(expect(await api('GET', '/t/tpl-counter', MALLORY), 200).count, 2, 'one counter per tenant');
  assert.equal(expect(await api('GET', '/t/tpl-counter', BOB), 404).error, 'not_found');
  const todo = expect(await api('POST', '/t/tpl-todo', ALICE, { title: 'buy milk' }), 201);
  assert.equal(todo.title, 'buy milk');
  assert.deepEqual(expect(await api('GET', '/t/tpl-todo', MALLORY), 200).todos.map((t) => t.title), ['buy milk']);
  assert.equal(expect(await api('POST', '/t/tpl-todo', ALICE, { title: '' }), 400).field, 'title');
  expect(await api('DELETE', `/t/tpl-todo/${todo.id}`, ALICE), 200);
  assert.deepEqual(expect(await api('GET', '/t/tpl-todo', ALICE), 200).todos, []);
  const hook = expect(await api('POST', '/t/tpl-webhook', ALICE, { event: 'order.created', data: { id: 1 } }), 202);
  assert.deepEqual(hook, { accepted: true, event: 'order.created' });
  assert.equal(expect(await api('POST', '/t/tpl-webhook', ALICE, { event: 'no spaces!' }), 400).field, 'event');
  assert.equal(expect(await api('POST', '/t/tpl-webhook', ALICE, { event: 'x', extra: 1 }), 400).field, 'extra');
  expect(await api('GET', '/t/tpl-webhook', ALICE), 405);
});

await test('at most 50 handlers per tenant (409 with a clear message); a delete frees a slot', async () => {
  const T = users.cap.token;
  for (let i = 0; i < 50; i += 5) {
    const rs = await Promise.all([0, 1, 2, 3, 4].map((k) => deploy(T, `h${i + k}`, tagged(`h${i + k}`))));
    rs.forEach((r) => expect(r, 200, 'within the cap'));
  }
  const over = expect(await deploy(T, 'h50', tagged('x')), 409);
  assert.equal(over.error, 'handler_limit');
  assert.match(over.message, /at most 50 handlers/);
  expect(await deploy(T, 'h0', tagged('update')), 200, 'a new version of an existing one is fine');
  expect(await api('DELETE', '/tenant/handlers/h1', T), 200);
  expect(await deploy(T, 'h50', tagged('x')), 200, 'the freed slot');
  expect(await deploy(T, 'h51', tagged('x')), 409);
  assert.equal(expect(await api('GET', '/tenant/handlers', T), 200).handlers.length, 50);
});

devserver.kill('SIGTERM');
const res = await Promise.race([exited, sleep(8000).then(() => 'hung')]);
if (res === 'hung' || res.code !== 0) {
  countFailure();
  console.log(`FAIL devserver exit ${JSON.stringify(res)}:\n${fs.readFileSync(logFile, 'utf8').slice(-3000)}`);
}
if (/ERROR: (Address|Leak)Sanitizer|runtime error:/.test(fs.readFileSync(logFile, 'utf8'))) {
  countFailure();
  console.log(`FAIL sanitizer report in the workers' log:\n${fs.readFileSync(logFile, 'utf8').slice(-5000)}`);
}
fs.rmSync(tmp, { recursive: true, force: true });
console.log(failures ? `${failures} test(s) failed` : 'all tenant handler tests passed');
process.exit(failures ? 1 : 0);
