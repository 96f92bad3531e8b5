// tests/integration/data_api.test.mjs - the data API end to end: the real handlers (profile, items,
// activity) run by the real bootstrap (`bootstrap invoke`) with real tokens from cognito-local,
// reading and writing a fresh table in dynalite through ctx.db (SigV4, marshalling, retries in C).
// Covers: profile create/read/update/validation; items CRUD, pagination across pages, stale
// version -> 409, forged and cross-tenant cursors -> 400; tenant isolation, including a
// deliberately malicious handler (copied with routes.lua into a temporary HANDLERS_DIR) that
// tries to reach another tenant's partition; the activity counters.
// Environment: MB_BUILD_DIR (bootstrap), MB_SOURCE_DIR, MB_DYNAMODB_PORT (18000),
//   MB_COGNITO_PORT (19229) — the ctest `services` fixture.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { cognitoEndpoint, createPoolAndClient, signUpConfirmLogin } from './cognito_helper.mjs';
import { createTable, ddb, ddbUrl, expectStatus, invoke, scanAll as scanTable } from './invoke_helper.mjs';
import { test, failures } from './harness.mjs';

const src = process.env.MB_SOURCE_DIR || process.cwd();
const build = path.resolve(src, process.env.MB_BUILD_DIR || 'build');
const bootstrap = path.join(build, 'bootstrap');
const table = `data-api-test-${Date.now()}-${process.pid}`;
// Each bootstrap invoke is a process of its own: they share cursors through CURSOR_SECRET.
const cursorSecret = crypto.randomBytes(32).toString('hex');

// ---- dynalite (direct, for set-up and for checking what really is in the table) ----

const scanAll = () => scanTable(table);

// A deliberately malicious handler: each attempt to name a partition (or to override the
// generated placeholders) must be refused with a Lua error; a plain read of another tenant's
// sort key must find nothing (the key is always prefixed with the caller's tenant).
const EVIL_HANDLER = String.raw`
return function(req, ctx)
  local db = ctx.db
  if not req.user then
    local ok, err = pcall(db.get, "ITEM#x")
    return { status = 200, body = { public_ok = ok, public_err = tostring(err) } }
  end
  local other = "TENANT#org:globex"
  local attempts = {}
  local function try(name, fn, ...)
    local ok, err = pcall(fn, ...)
    if type(err) == "table" then err = tostring(err.message or err.status) end
    attempts[name] = { ok = ok, err = tostring(err) }
  end
  try("put_pk", db.put, { PK = other, SK = "ITEM#EVIL", title = "x" })
  try("put_pk_new_tenant", db.put, { PK = "TENANT#globex-evil", SK = "ITEM#EVIL" })
  try("get_key_pk", db.get, { PK = other, SK = "ITEM#EVIL" })
  try("delete_key_pk", db.delete, { PK = other, SK = "ITEM#EVIL" })
  try("update_key_pk", db.update, { PK = other, SK = "ITEM#EVIL" }, { set = { a = 1 } })
  try("update_set_pk", db.update, "ITEM#EVIL", { set = { PK = other } })
  try("update_expr_pk", db.update, "ITEM#EVIL",
    { expression = "SET PK = :p", values = { [":p"] = "x" } })
  try("update_names_pk", db.update, "ITEM#EVIL",
    { expression = "SET #p = :p", names = { ["#p"] = "PK" }, values = { [":p"] = "x" } })
  try("update_expect_pk", db.update, "ITEM#EVIL", { set = { a = 1 }, expect = { PK = other } })
  try("put_condition_pk", db.put, { SK = "ITEM#EVIL" },
    { condition = "PK = :p", values = { [":p"] = "x" } })
  try("query_values_tenant", db.query, { filter = "title = :t", values = { [":t"] = other } })
  try("query_filter_pk", db.query, { filter = "PK = :t", values = { [":t"] = "x" } })
  try("query_override_pk", db.query, { values = { [":mb_pk"] = other } })
  try("query_names_prefix", db.query,
    { filter = "#mb_1 = :x", names = { ["#mb_1"] = "title" }, values = { [":x"] = "y" } })
  try("query_projection_pk", db.query, { projection = "PK, SK" })
  try("batch_get_pk", db.batch_get, { { PK = other, SK = "ITEM#EVIL" } })
  try("batch_write_put_pk", db.batch_write, { put = { { PK = other, SK = "ITEM#EVIL" } } })
  try("batch_write_delete_pk", db.batch_write, { delete = { { PK = other, SK = "ITEM#EVIL" } } })
  local own = db.get(req.query.sk)
  local mine = db.query({ begins_with = "ITEM#" })
  local batch = db.batch_get({ req.query.sk })
  return { status = 200, body = { attempts = attempts, own_read = own or json.null,
    own_query = #mine.items, batch = #batch } }
end
`;

// Every ctx.db operation and option the shipped handlers do not use, against dynalite.
const PROBE_HANDLER = String.raw`
return function(req, ctx)
  local db, r = ctx.db, {}
  db.put({ SK = "PROBE#1", n = 1 })
  r.old_n = db.put({ SK = "PROBE#1", n = 2 }, { ["return"] = "ALL_OLD" }).n
  r.updated_n = db.update("PROBE#1", { expression = "SET #n = #n + :one",
    names = { ["#n"] = "n" }, values = { [":one"] = 10 } }).n
  local ok, err = pcall(db.update, "PROBE#1", { set = { x = 1 }, expect = { n = 999 } })
  r.conflict = { ok = ok, is_conflict = db.is_conflict(err), status = err.status, code = err.code }
  ok, err = pcall(db.put, { SK = "PROBE#1" }, { exists = false, conflict = "already there" })
  r.exists_false = { ok = ok, is_conflict = db.is_conflict(err), message = err.message }
  ok, err = pcall(db.update, "PROBE#1", { expression = "SET SK = :x", values = { [":x"] = "y" } })
  r.aws_validation = { ok = ok, status = err.status }
  db.put({ SK = "PROBE#2", tags = db.set({ "b", "a", "b" }), nums = db.set({ 3, 1 }),
    blob = db.binary("\0\1\255"), big = "123456789012345678901234567890",
    dec = db.number("12345678901234567890.123"),
    nested = { list = setmetatable({}, json.array_mt), m = { k = true, z = json.null } } })
  local p2 = db.get("PROBE#2", { consistent = true })
  r.round_trip = { tags = #p2.tags, tag_type = p2.tags.type, nums = #p2.nums, nums_type = p2.nums.type,
    blob = p2.blob == db.binary("\0\1\255") and p2.blob:bytes() == "\0\1\255", big = p2.big,
    dec = tostring(p2.dec), dec_same = p2.dec == db.number("12345678901234567890.123"),
    empty_list = #p2.nested.list,
    k = p2.nested.m.k, null = p2.nested.m.z == json.null, pk = p2.PK == nil }
  local u2 = db.update("PROBE#2", { remove = { "blob" }, add = { count = 5, tags = db.set({ "c" }) },
    delete = { nums = db.set({ 1 }) } })
  r.clauses = { blob_gone = u2.blob == nil, count = u2.count, tags = #u2.tags, nums = #u2.nums }
  local puts, keys = {}, {}
  for i = 1, 25 do
    keys[i] = ("BATCH#%02d"):format(i)
    puts[i] = { SK = keys[i], i = i }
  end
  db.batch_write({ put = puts })
  r.batch_got = #db.batch_get(keys, { consistent = true })
  r.between = #db.query({ between = { "BATCH#05", "BATCH#09" }, consistent = true }).items
  local f = db.query({ begins_with = "BATCH#", filter = "#i > :m", names = { ["#i"] = "i" },
    values = { [":m"] = 20 }, projection = "SK, #i", consistent = true })
  local fields = 0
  for _ in pairs(f.items[1]) do fields = fields + 1 end
  r.filter = { count = #f.items, fields = fields }
  local seen, cursor, pages = 0, nil, 0
  repeat
    local pg = db.query({ begins_with = "BATCH#", limit = 10, cursor = cursor, filter = "#i > :m",
      names = { ["#i"] = "i" }, values = { [":m"] = 0 }, consistent = true })
    seen, cursor, pages = seen + #pg.items, pg.cursor, pages + 1
  until not cursor or pages > 10
  r.paged = { seen = seen, pages = pages }
  local asc = db.query({ begins_with = "BATCH#", limit = 2, consistent = true })
  local desc = db.query({ begins_with = "BATCH#", limit = 2, descending = true, consistent = true })
  r.order = { asc.items[1].SK, desc.items[1].SK }
  db.batch_write({ delete = keys })
  r.after_delete = #db.batch_get(keys, { consistent = true })
  r.deleted = db.delete("PROBE#2").SK
  r.deleted_again = db.delete("PROBE#2") == nil
  local a, b = ctx.ulid(), ctx.ulid()
  r.ulid = { a = a, b = b }
  return { status = 200, body = r }
end
`;

// ---- bootstrap invoke ----

let baseEnv;

// One request through `bootstrap invoke --event -`: {status, headers, body (parsed), stderr}.
function call(method, rawPath, opts = {}, env = {}) {
  return invoke(bootstrap, { ...baseEnv, ...env }, method, rawPath, opts);
}

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
const today = () => new Date().toISOString().slice(0, 10);

// ---- set-up: table, one pool, three users (two explicit tenants, one default = sub) ----

const endpoint = cognitoEndpoint();
await createTable(table);
const pool = await createPoolAndClient(endpoint, `data-api-${Date.now()}`);
const stamp = Date.now();
const users = {};
for (const [name, tenant] of [['alice', 'acme'], ['bob', 'globex'], ['carol', undefined]]) {
  const email = `${name}.${stamp}@moonbase.test`;
  const t = await signUpConfirmLogin(endpoint, pool, email, 'MoonbaseTest1', tenant);
  users[name] = { email, token: t.idToken, tenant };
}
baseEnv = {
  PATH: process.env.PATH,
  HANDLERS_DIR: path.join(src, 'handlers'),
  ENVIRONMENT: 'test',
  TABLE_NAME: table,
  DYNAMODB_ENDPOINT: ddbUrl,
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'local',
  AWS_SECRET_ACCESS_KEY: 'local',
  CURSOR_SECRET: cursorSecret,
  COGNITO_ISSUER: `${endpoint}/${pool.poolId}`,
  USER_POOL_ID: pool.poolId,
  CLIENT_ID: pool.clientId,
  ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0',
};
const A = users.alice.token;
const B = users.bob.token;
const C = users.carol.token;

// ---- profile ----

await test('GET /profile creates the profile from the token email on first use', async () => {
  const p = expectStatus(call('GET', '/profile', { token: A }), 200);
  assert.deepEqual(Object.keys(p).sort(),
    ['avatarColor', 'bio', 'createdAt', 'displayName', 'email', 'preferences', 'updatedAt']);
  assert.equal(p.email, users.alice.email);
  assert.equal(p.displayName, `alice.${stamp}`);
  assert.equal(p.bio, '');
  assert.match(p.avatarColor, /^#[0-9a-f]{6}$/i);
  assert.deepEqual(p.preferences, { theme: 'system', emailNotifications: true });
  assert.match(p.createdAt, RFC3339);
  const again = expectStatus(call('GET', '/profile', { token: A }), 200);
  assert.deepEqual(again, p, 'the second GET reads the same stored profile');
  const rows = (await scanAll()).filter((i) => i.SK.S.startsWith('USER#'));
  assert.equal(rows.length, 1);
  assert.equal(rows[0].PK.S, 'TENANT#org:acme', 'stored in the partition of the tenant group');
});

await test('PUT /profile updates a subset, merges preferences, keeps the rest', async () => {
  const before = expectStatus(call('GET', '/profile', { token: A }), 200);
  const p = expectStatus(call('PUT', '/profile', {
    token: A, body: { displayName: 'Ada Lovelace', preferences: { theme: 'dark' }, avatarColor: '#1a2B3c' },
  }), 200);
  assert.equal(p.displayName, 'Ada Lovelace');
  assert.equal(p.avatarColor, '#1a2B3c');
  assert.deepEqual(p.preferences, { theme: 'dark', emailNotifications: true });
  assert.equal(p.bio, '');
  assert.equal(p.email, users.alice.email);
  assert.equal(p.createdAt, before.createdAt);
  assert.ok(p.updatedAt >= before.updatedAt);
  const bio = 'é'.repeat(500); // 500 characters (1000 bytes) is allowed
  const q = expectStatus(call('PUT', '/profile', { token: A, body: { bio, preferences: { emailNotifications: false } } }), 200);
  assert.equal(q.bio, bio);
  assert.deepEqual(q.preferences, { theme: 'dark', emailNotifications: false });
  assert.deepEqual(expectStatus(call('GET', '/profile', { token: A }), 200), q);
});

await test('PUT /profile refuses unknown and invalid fields with a 400 naming the field', async () => {
  const cases = [
    [{ nickname: 'x' }, 'nickname'],
    [{ displayName: '' }, 'displayName'],
    [{ displayName: 'x'.repeat(61) }, 'displayName'],
    [{ displayName: 42 }, 'displayName'],
    [{ bio: 'x'.repeat(501) }, 'bio'],
    [{ avatarColor: 'red' }, 'avatarColor'],
    [{ avatarColor: '#12345' }, 'avatarColor'],
    [{ preferences: { theme: 'neon' } }, 'preferences.theme'],
    [{ preferences: { emailNotifications: 'yes' } }, 'preferences.emailNotifications'],
    [{ preferences: { fontSize: 3 } }, 'preferences.fontSize'],
    [{ preferences: [] }, 'preferences'],
  ];
  for (const [body, field] of cases) {
    const r = call('PUT', '/profile', { token: A, body });
    const e = expectStatus(r, 400, JSON.stringify(body));
    assert.equal(e.error, 'validation', JSON.stringify(e));
    assert.equal(e.field, field, JSON.stringify(e));
    assert.equal(typeof e.message, 'string');
    assert.ok(e.requestId);
  }
  const unknown = call('PUT', '/profile', { token: A, body: { nickname: 'x' } }).body;
  assert.equal(unknown.message, 'nickname: is not an allowed field');
  expectStatus(call('PUT', '/profile', { token: A, body: [1, 2] }), 400, 'array body');
  expectStatus(call('PUT', '/profile', { token: A, body: '{"bio":' }), 400, 'malformed JSON');
  const p = expectStatus(call('GET', '/profile', { token: A }), 200);
  assert.equal(p.displayName, 'Ada Lovelace', 'nothing was written by the refused requests');
});

await test('a user in no tenant gets their own personal partition (user:<sub>)', async () => {
  const p = expectStatus(call('GET', '/profile', { token: C }), 200);
  assert.equal(p.email, users.carol.email);
  const rows = (await scanAll()).filter((i) => i.email && i.email.S === users.carol.email);
  assert.equal(rows.length, 1);
  assert.match(rows[0].PK.S, /^TENANT#user:[0-9a-f-]{36}$/);
});

// ---- items ----

let item;
await test('POST /items creates an item (201) with a ULID id and version 1; GET reads it', async () => {
  const r = call('POST', '/items', { token: A, body: { title: 'Write tests', description: 'for ctx.db' } });
  item = expectStatus(r, 201);
  assert.deepEqual(Object.keys(item).sort(),
    ['createdAt', 'description', 'id', 'status', 'title', 'updatedAt', 'version']);
  assert.match(item.id, ULID);
  assert.equal(item.status, 'todo');
  assert.equal(item.version, 1);
  assert.match(item.createdAt, RFC3339);
  assert.equal(r.headers.location, `/items/${item.id}`);
  assert.deepEqual(expectStatus(call('GET', `/items/${item.id}`, { token: A }), 200), item);
  const stored = (await scanAll()).find((i) => i.SK.S === `ITEM#${item.id}`);
  assert.equal(stored.PK.S, 'TENANT#org:acme');
  assert.equal(stored.version.N, '1');
});

await test('POST /items validates: title required 1..120, status enum, unknown fields', async () => {
  for (const [body, field] of [[{}, 'title'], [{ title: '' }, 'title'], [{ title: 'x'.repeat(121) }, 'title'],
    [{ title: 'ok', status: 'later' }, 'status'], [{ title: 'ok', description: 'd'.repeat(2001) }, 'description'],
    [{ title: 'ok', owner: 'me' }, 'owner'], [{ title: 'ok', version: 3 }, 'version']]) {
    const e = expectStatus(call('POST', '/items', { token: A, body }), 400, JSON.stringify(body));
    assert.equal(e.error, 'validation');
    assert.equal(e.field, field);
  }
});

await test('PUT /items/{id} bumps the version; a stale version is 409 conflict', async () => {
  const u = expectStatus(call('PUT', `/items/${item.id}`, { token: A, body: { status: 'doing', version: 1 } }), 200);
  assert.equal(u.version, 2);
  assert.equal(u.status, 'doing');
  assert.equal(u.title, 'Write tests');
  assert.equal(u.createdAt, item.createdAt);
  const stale = call('PUT', `/items/${item.id}`, { token: A, body: { title: 'lost update', version: 1 } });
  assert.equal(expectStatus(stale, 409).error, 'conflict');
  const e = expectStatus(call('PUT', `/items/${item.id}`, { token: A, body: { title: 'x' } }), 400);
  assert.equal(e.field, 'version');
  const now = expectStatus(call('GET', `/items/${item.id}`, { token: A }), 200);
  assert.equal(now.title, 'Write tests', 'the stale write changed nothing');
  assert.equal(now.version, 2);
  expectStatus(call('PUT', '/items/01ARZ3NDEKTSV4RRFFQ69G5FAV', { token: A, body: { version: 1 } }), 404);
  expectStatus(call('GET', '/items/not-an-id', { token: A }), 404);
});

await test('DELETE /items/{id}: stale version 409, right version 204, then 404', async () => {
  assert.equal(expectStatus(call('DELETE', `/items/${item.id}`, { token: A, query: 'version=1' }), 409).error, 'conflict');
  expectStatus(call('DELETE', `/items/${item.id}`, { token: A, query: 'version=abc' }), 400);
  expectStatus(call('DELETE', `/items/${item.id}`, { token: A, query: 'version=2' }), 204);
  expectStatus(call('GET', `/items/${item.id}`, { token: A }), 404);
  expectStatus(call('DELETE', `/items/${item.id}`, { token: A }), 404);
  const other = expectStatus(call('POST', '/items', { token: A, body: { title: 'unconditional' } }), 201);
  expectStatus(call('DELETE', `/items/${other.id}`, { token: A }), 204, 'without version');
});

let pageCursor;
await test('GET /items paginates newest first across pages; the last cursor is null', async () => {
  const made = [];
  for (let i = 0; i < 7; i++) {
    made.push(expectStatus(call('POST', '/items', { token: B, body: { title: `item ${i}`, status: 'done' } }), 201).id);
  }
  const seen = [];
  let cursor = null;
  let pages = 0;
  do {
    const q = `limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const page = expectStatus(call('GET', '/items', { token: B, query: q }), 200);
    assert.ok(Array.isArray(page.items));
    assert.ok(page.items.length <= 3);
    seen.push(...page.items.map((x) => x.id));
    if (pages === 0) pageCursor = page.cursor;
    cursor = page.cursor;
    assert.ok(cursor === null || typeof cursor === 'string');
    pages++;
  } while (cursor && pages < 10);
  assert.equal(pages, 3, 'pages of 3, 3 and 1');
  assert.deepEqual(seen, [...made].reverse(), 'every item once, newest first');
  const all = expectStatus(call('GET', '/items', { token: B }), 200);
  assert.equal(all.items.length, 7);
  assert.equal(all.cursor, null);
  for (const bad of ['0', '101', 'ten', '2.5']) {
    assert.equal(expectStatus(call('GET', '/items', { token: B, query: `limit=${bad}` }), 400).field, 'limit');
  }
});

await test('a forged or damaged cursor is 400; a cursor of tenant B used by tenant A is 400', async () => {
  assert.ok(pageCursor, 'a cursor from the pagination test');
  expectStatus(call('GET', '/items', { token: B, query: `limit=3&cursor=${pageCursor}` }), 200, 'genuine');
  const raw = Buffer.from(pageCursor, 'base64url');
  const flipped = Buffer.from(raw);
  flipped[5] ^= 1;
  const json = raw.subarray(1, raw.length - 16).toString();
  const forgedKey = Buffer.concat([raw.subarray(0, 1), Buffer.from(json.replace('ITEM#', 'ITEM#Z')), raw.subarray(raw.length - 16)]);
  for (const bad of [flipped.toString('base64url'), forgedKey.toString('base64url'), 'not*base64',
    Buffer.from('{"SK":{"S":"ITEM#"}}').toString('base64url'), 'A'.repeat(5000), '']) {
    const r = call('GET', '/items', { token: B, query: `cursor=${encodeURIComponent(bad)}` });
    if (bad === '') { expectStatus(r, 400); continue; }
    assert.equal(expectStatus(r, 400, bad.slice(0, 40)).error, 'bad_request');
  }
  const cross = call('GET', '/items', { token: A, query: `limit=3&cursor=${pageCursor}` });
  expectStatus(cross, 400, 'cross-tenant cursor');
});

await test('tenants never see each other\'s items', async () => {
  const a = expectStatus(call('POST', '/items', { token: A, body: { title: 'acme secret' } }), 201);
  const bList = expectStatus(call('GET', '/items', { token: B, query: 'limit=100' }), 200);
  assert.ok(!bList.items.some((x) => x.id === a.id || x.title === 'acme secret'));
  assert.equal(bList.items.length, 7);
  expectStatus(call('GET', `/items/${a.id}`, { token: B }), 404);
  expectStatus(call('PUT', `/items/${a.id}`, { token: B, body: { title: 'pwned', version: 1 } }), 404);
  expectStatus(call('DELETE', `/items/${a.id}`, { token: B }), 404);
  expectStatus(call('DELETE', `/items/${a.id}`, { token: C }), 404);
  const still = expectStatus(call('GET', `/items/${a.id}`, { token: A }), 200);
  assert.equal(still.title, 'acme secret');
  const cList = expectStatus(call('GET', '/items', { token: C }), 200);
  assert.deepEqual(cList, { items: [], cursor: null }, 'an empty list is [] and the cursor null');
});

// ---- a malicious handler ----

await test('a handler that tries to reach another tenant is refused by ctx.db', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moonbase-evil-'));
  try {
    for (const f of fs.readdirSync(path.join(src, 'handlers'))) {
      fs.copyFileSync(path.join(src, 'handlers', f), path.join(dir, f));
    }
    fs.writeFileSync(path.join(dir, 'routes.lua'), `return {
  { "GET", "/evil", "evil", auth = true },
  { "GET", "/evil-public", "evil" },
  { "GET", "/probe", "probe", auth = true },
}\n`);
    fs.writeFileSync(path.join(dir, 'probe.lua'), PROBE_HANDLER);
    fs.writeFileSync(path.join(dir, 'evil.lua'), EVIL_HANDLER);
    const env = { HANDLERS_DIR: dir };
    const bItem = expectStatus(call('GET', '/items', { token: B, query: 'limit=1' }), 200).items[0];
    const res = expectStatus(call('GET', '/evil', { token: A, query: `sk=ITEM%23${bItem.id}` }, env), 200);
    const names = Object.keys(res.attempts);
    assert.ok(names.length >= 14, names.join(','));
    for (const [name, r] of Object.entries(res.attempts)) {
      assert.equal(r.ok, false, `${name} must be refused, got ${JSON.stringify(r)}`);
      assert.match(r.err, /PK|TENANT#|partition|:mb_|#mb_|key/, `${name}: ${r.err}`);
    }
    assert.equal(res.own_read, null, 'reading B\'s sort key from tenant A finds nothing');
    assert.ok(res.own_query >= 1, 'A still sees its own items');
    assert.equal(res.batch, 0, 'batch_get of B\'s sort key from tenant A finds nothing');
    const pub = call('GET', '/evil-public', {}, env);
    assert.equal(expectStatus(pub, 200).public_err.includes('auth = true'), true, pub.raw);
    // Nothing was written outside the known partitions.
    const pks = new Set((await scanAll()).map((i) => i.PK.S));
    for (const pk of pks) {
      assert.ok(pk === 'TENANT#org:acme' || pk === 'TENANT#org:globex' || /^TENANT#user:[0-9a-f-]{36}$/.test(pk), pk);
    }
    assert.ok(!pks.has('TENANT#globex-evil'));

    // The other operations and options, in the caller's partition (carol's).
    const p = expectStatus(call('GET', '/probe', { token: C }, env), 200);
    assert.equal(p.old_n, 1, 'put return = ALL_OLD');
    assert.equal(p.updated_n, 12, 'raw update expression with names and values');
    assert.deepEqual(p.conflict, { ok: false, is_conflict: true, status: 409, code: 'conflict' });
    assert.deepEqual(p.exists_false, { ok: false, is_conflict: true, message: 'already there' });
    assert.deepEqual(p.aws_validation, { ok: false, status: 400 }, 'ValidationException -> 400');
    assert.deepEqual(p.round_trip, { tags: 2, tag_type: 'SS', nums: 2, nums_type: 'NS', blob: true,
      big: '123456789012345678901234567890', dec: '12345678901234567890.123', dec_same: true,
      empty_list: 0, k: true, null: true, pk: true });
    assert.deepEqual(p.clauses, { blob_gone: true, count: 5, tags: 3, nums: 1 });
    assert.equal(p.batch_got, 25);
    assert.equal(p.between, 5);
    assert.deepEqual(p.filter, { count: 5, fields: 2 });
    assert.deepEqual(p.paged, { seen: 25, pages: 3 }, 'filtered pages follow LastEvaluatedKey');
    assert.deepEqual(p.order, ['BATCH#01', 'BATCH#25']);
    assert.equal(p.after_delete, 0);
    assert.equal(p.deleted, 'PROBE#2');
    assert.equal(p.deleted_again, true);
    assert.match(p.ulid.a, ULID);
    assert.ok(p.ulid.a < p.ulid.b, 'ULIDs of one process increase');
    const carolRows = (await scanAll()).filter((i) => i.SK.S.startsWith('PROBE#'));
    assert.equal(carolRows.length, 1);
    assert.match(carolRows[0].PK.S, /^TENANT#user:[0-9a-f-]{36}$/, 'written to the caller\'s partition');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// ---- activity ----

await test('GET /activity counts created/updated/deleted per day, zero-filled, oldest first', async () => {
  const act = expectStatus(call('GET', '/activity', { token: A, query: 'days=3' }), 200);
  assert.equal(act.days.length, 3);
  const d = new Date();
  const dates = [2, 1, 0].map((k) => new Date(d.getTime() - k * 86400000).toISOString().slice(0, 10));
  assert.deepEqual(act.days.map((x) => x.date), dates);
  // alice: 3 created (item, 'unconditional', 'acme secret'), 1 updated, 2 deleted.
  assert.deepEqual(act.days[2], { date: today(), created: 3, updated: 1, deleted: 2 });
  assert.deepEqual(act.days[0], { date: dates[0], created: 0, updated: 0, deleted: 0 });
  const b = expectStatus(call('GET', '/activity', { token: B }), 200);
  assert.equal(b.days.length, 30);
  assert.deepEqual(b.days[29], { date: today(), created: 7, updated: 0, deleted: 0 });
  assert.ok(b.days.slice(0, 29).every((x) => x.created === 0 && x.updated === 0 && x.deleted === 0));
  for (const bad of ['0', '91', 'x', '1.5']) {
    assert.equal(expectStatus(call('GET', '/activity', { token: A, query: `days=${bad}` }), 400).field, 'days');
  }
  expectStatus(call('GET', '/activity', { token: A, query: 'days=90' }), 200);
});

await test('no token: the data routes answer 401 without touching the table', async () => {
  for (const [m, p] of [['GET', '/profile'], ['GET', '/items'], ['POST', '/items'], ['GET', '/activity']]) {
    expectStatus(call(m, p, { body: m === 'POST' ? { title: 'x' } : undefined }), 401, `${m} ${p}`);
  }
});

await test('DynamoDB unreachable: a clean 503 with the request id, error logged', async () => {
  const r = call('GET', '/items', { token: A }, { DYNAMODB_ENDPOINT: 'http://127.0.0.1:9' });
  const e = expectStatus(r, 503);
  assert.equal(e.error, 'unavailable');
  assert.ok(e.requestId);
  assert.match(r.stderr, /DynamoDB call failed/);
});

await ddb('DeleteTable', { TableName: table }).catch(() => {});
console.log(failures ? `${failures} test(s) failed` : 'all data API tests passed');
process.exit(failures ? 1 : 0);
