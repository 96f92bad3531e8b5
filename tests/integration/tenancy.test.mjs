// tests/integration/tenancy.test.mjs - issue 19's tenancy findings, end to end: real users in
// cognito-local (a client configured as scripts/seed configures it), the real handlers run by the
// real bootstrap (`bootstrap invoke`), a fresh table in dynalite.
//   1. a user who writes custom:tenant_id at sign-up (cognito-local does not enforce the client's
//      WriteAttributes) does not get into that tenant, nor into the personal tenant of the user
//      whose sub they wrote; personal and named tenants have distinct keys.
//   2. an ID token and an access token of one user resolve the same tenant.
//   3. a DynamoDB error (a cursor whose key DynamoDB refuses) reaches the client as a generic 400;
//      the DynamoDB text goes to the log only.
//   4. cursors cannot be minted from the public local AWS_SECRET_ACCESS_KEY.
// Environment: MB_BUILD_DIR (bootstrap), MB_SOURCE_DIR, MB_DYNAMODB_PORT, MB_COGNITO_PORT.
import crypto from 'node:crypto';
import path from 'node:path';
import assert from 'node:assert/strict';
import { cognitoCall, cognitoEndpoint, createPoolAndClient, login, signUpConfirmLogin } from './cognito_helper.mjs';
import { createTable, ddb, ddbUrl, expectStatus, invoke, scanAll } from './invoke_helper.mjs';
import { test, failures } from './harness.mjs';

const src = process.env.MB_SOURCE_DIR || process.cwd();
const build = path.resolve(src, process.env.MB_BUILD_DIR || 'build');
const bootstrap = path.join(build, 'bootstrap');
const table = `tenancy-test-${Date.now()}-${process.pid}`;
const cursorSecret = crypto.randomBytes(32).toString('hex');
const PASSWORD = 'MoonbaseTest1';

const endpoint = cognitoEndpoint();
await createTable(table);
const pool = await createPoolAndClient(endpoint, `tenancy-${Date.now()}`);
const env = {
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
const call = (method, p, opts = {}, extra = {}) => invoke(bootstrap, { ...env, ...extra }, method, p, opts);
const sub = (t) => JSON.parse(Buffer.from(t.split('.')[1], 'base64url')).sub;
const stamp = Date.now();
const email = (n) => `${n}.${stamp}@moonbase.test`;

// The victims: a personal user and a member of the named tenant acme (admin path).
const victim = await signUpConfirmLogin(endpoint, pool, email('victim'), PASSWORD);
const member = await signUpConfirmLogin(endpoint, pool, email('member'), PASSWORD, 'acme');
const victimSub = sub(victim.idToken);
const victimItem = expectStatus(call('POST', '/items', { token: victim.idToken, body: { title: 'victim secret' } }), 201);
const acmeItem = expectStatus(call('POST', '/items', { token: member.idToken, body: { title: 'acme secret' } }), 201);

await test('the app client does not let users write custom:tenant_id (as the seed and template)', async () => {
  const d = await cognitoCall(endpoint, 'DescribeUserPoolClient', { UserPoolId: pool.poolId, ClientId: pool.clientId });
  assert.deepEqual(d.UserPoolClient.WriteAttributes, ['email']);
  assert.ok(d.UserPoolClient.ReadAttributes.includes('custom:tenant_id'));
});

// Finding 1: the attack of the issue. cognito-local accepts the attribute at sign-up (it does
// not enforce WriteAttributes), so the token really carries it: the runtime must not honour it.
for (const [who, claimed, victimToken, victimItemId, victimPk] of [
  ['personal', () => victimSub, () => victim.idToken, () => victimItem.id, () => `TENANT#user:${victimSub}`],
  ['named', () => 'acme', () => member.idToken, () => acmeItem.id, () => 'TENANT#org:acme'],
]) {
  await test(`sign-up with custom:tenant_id of a ${who} tenant does not get into it`, async () => {
    const attacker = await signUpConfirmLogin(endpoint, pool, email(`attacker-${who}`), PASSWORD, undefined,
      [{ Name: 'custom:tenant_id', Value: claimed() }]);
    const claims = JSON.parse(Buffer.from(attacker.idToken.split('.')[1], 'base64url'));
    assert.equal(claims['custom:tenant_id'], claimed(), 'cognito-local let the attribute through');
    const id = attacker.idToken;
    for (const [m, p, body] of [['GET', '/items'], ['GET', `/items/${victimItemId()}`],
      ['POST', '/items', { title: 'planted' }], ['DELETE', `/items/${victimItemId()}`], ['GET', '/me']]) {
      const r = call(m, p, { token: id, body });
      expectStatus(r, 403, `${m} ${p} with the attacker's ID token`);
      assert.equal(r.body.message, 'no valid tenant for this user');
      assert.match(r.stderr, /custom:tenant_id without its tenant group/);
    }
    // The access token has no attribute: it is the attacker's own personal tenant, empty.
    const own = expectStatus(call('GET', '/items', { token: attacker.accessToken }), 200);
    assert.deepEqual(own.items, []);
    expectStatus(call('GET', `/items/${victimItemId()}`, { token: attacker.accessToken }), 404);
    expectStatus(call('DELETE', `/items/${victimItemId()}`, { token: attacker.accessToken }), 404);
    // The victim still has exactly its item, and nothing was planted in its partition.
    const mine = expectStatus(call('GET', '/items', { token: victimToken() }), 200);
    assert.deepEqual(mine.items.map((i) => i.id), [victimItemId()]);
    const rows = (await scanAll(table)).filter((i) => i.PK.S === victimPk() && i.SK.S.startsWith('ITEM#'));
    assert.equal(rows.length, 1);
  });
}

await test('a named tenant called like a user\'s sub is a different partition', async () => {
  const w = await signUpConfirmLogin(endpoint, pool, email('lookalike'), PASSWORD, victimSub);
  const me = expectStatus(call('GET', '/me', { token: w.idToken }), 200);
  assert.equal(me.tenant, `org:${victimSub}`);
  assert.deepEqual(expectStatus(call('GET', '/items', { token: w.idToken }), 200).items, []);
  expectStatus(call('GET', `/items/${victimItem.id}`, { token: w.idToken }), 404);
  const it = expectStatus(call('POST', '/items', { token: w.idToken, body: { title: 'lookalike' } }), 201);
  const row = (await scanAll(table)).find((i) => i.SK.S === `ITEM#${it.id}`);
  assert.equal(row.PK.S, `TENANT#org:${victimSub}`);
  assert.equal((await scanAll(table)).filter((i) => i.PK.S === `TENANT#user:${victimSub}` && i.SK.S.startsWith('ITEM#')).length, 1);
});

await test('a user in two tenant groups is refused (which tenant would it be?)', async () => {
  const two = await signUpConfirmLogin(endpoint, pool, email('two'), PASSWORD, 'acme');
  await cognitoCall(endpoint, 'CreateGroup', { UserPoolId: pool.poolId, GroupName: 'tenant:globex' });
  await cognitoCall(endpoint, 'AdminAddUserToGroup', { UserPoolId: pool.poolId, Username: email('two'), GroupName: 'tenant:globex' });
  const t = await login(endpoint, pool.clientId, email('two'), PASSWORD);
  expectStatus(call('GET', '/items', { token: t.accessToken }), 403);
  expectStatus(call('GET', '/items', { token: two.accessToken }), 200, 'the token from before the second group');
});

// Finding 2: before, an access token resolved tenant = sub, so the member's own item was 404.
await test('ID and access tokens of one user resolve the same tenant', async () => {
  for (const [u, tenant, itemId] of [[member, 'org:acme', acmeItem.id], [victim, `user:${victimSub}`, victimItem.id]]) {
    const a = expectStatus(call('GET', '/me', { token: u.idToken }), 200);
    const b = expectStatus(call('GET', '/me', { token: u.accessToken }), 200);
    assert.equal(a.tenant, tenant);
    assert.equal(b.tenant, tenant);
    assert.equal(expectStatus(call('GET', `/items/${itemId}`, { token: u.accessToken }), 200).id, itemId);
    assert.deepEqual(expectStatus(call('GET', '/items', { token: u.accessToken }), 200),
      expectStatus(call('GET', '/items', { token: u.idToken }), 200));
  }
});

// The cursor format of core/lua_db.c, to mint cursors with a key the test knows.
function mintCursor(secret, tenant, keyJson) {
  const k = crypto.createHmac('sha256', secret).update('moonbase-cursor-secret').digest();
  const len = Buffer.alloc(4);
  len.writeUInt32BE(Buffer.byteLength(tenant));
  const mac = crypto.createHmac('sha256', k)
    .update(Buffer.concat([Buffer.from('moonbase-cursor-v1\0'), len, Buffer.from(tenant), Buffer.from(keyJson)]))
    .digest().subarray(0, 16);
  return Buffer.concat([Buffer.from([1]), Buffer.from(keyJson), mac]).toString('base64url');
}

// Finding 3: the issue's reproduction, with a cursor the test can mint because it knows the key.
await test('a DynamoDB validation error is a generic 400; its text goes to the log only', async () => {
  const good = mintCursor(cursorSecret, `user:${victimSub}`, '{"SK":{"S":"ITEM#ZZZZ"}}');
  expectStatus(call('GET', '/items', { token: victim.idToken, query: `cursor=${good}` }), 200, 'a well-typed minted cursor');
  // A well-typed SK plus an attribute that is not part of the key: refused by DynamoDB itself
  // ("The provided starting key is invalid"). (A wrongly typed SK, the issue's cursor, is now
  // refused by ctx.db before sending: "invalid cursor".)
  const bad = mintCursor(cursorSecret, `user:${victimSub}`, '{"SK":{"S":"ITEM#ZZZZ"},"zz":{"S":"x"}}');
  const r = call('GET', '/items', { token: victim.idToken, query: `cursor=${bad}` });
  expectStatus(r, 400);
  assert.equal(r.body.message, 'the database refused the request');
  assert.ok(r.body.requestId);
  assert.doesNotMatch(r.raw, /DynamoDB|Validation|schema|key element/i);
  assert.match(r.stderr, /ValidationException/);
  assert.match(r.stderr, /DynamoDB refused the request/);
});

// Finding 4: the key no longer derives from AWS_SECRET_ACCESS_KEY (= "local" on every local
// stack). A cursor minted from "local" is refused with or without a CURSOR_SECRET.
await test('a cursor minted from AWS_SECRET_ACCESS_KEY=local is refused', async () => {
  const forged = mintCursor('local', `user:${victimSub}`, '{"SK":{"S":"ITEM#ZZZZ"}}');
  for (const extra of [{}, { CURSOR_SECRET: '' }]) {
    const r = call('GET', '/items', { token: victim.idToken, query: `cursor=${forged}` }, extra);
    expectStatus(r, 400, JSON.stringify(extra));
    assert.equal(r.body.message, 'invalid cursor');
    if (extra.CURSOR_SECRET === '') assert.match(r.stderr, /CURSOR_SECRET is not set/);
  }
});

await ddb('DeleteTable', { TableName: table }).catch(() => {});
if (failures) {
  console.log(`${failures} test(s) failed`);
  process.exit(1);
}
console.log('all tenancy tests passed');
