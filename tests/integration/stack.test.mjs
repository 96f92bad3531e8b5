// tests/integration/stack.test.mjs - the one-command local stack: scripts/stack start (services,
// seed, devserver with the real bootstrap), idempotent restart, /config.json, a real login as the
// demo user against cognito-local, authenticated API calls through the devserver into dynalite,
// and stop stopping exactly what start started.
// It runs a stack of its own (state <build>/test-state-stack, ports 18002/19231/13002 at offset 0:
// the fixture ports + 2), apart from the ctest `services`/`stack` fixtures (18000/19229/13000)
// that other tests keep using.
// Environment: MB_BUILD_DIR, MB_SOURCE_DIR.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';
import { ddb } from './invoke_helper.mjs';
import { test, failures } from './harness.mjs';

const src = process.env.MB_SOURCE_DIR || process.cwd();
const build = path.resolve(src, process.env.MB_BUILD_DIR || 'build');
const env = {
  ...process.env,
  MB_BUILD_DIR: build,
  MB_STATE_DIR: path.join(build, 'test-state-stack'),
  // The fixture ports (ctest passes them, offset by scripts/test) + 2.
  MB_DYNAMODB_PORT: String(Number(process.env.MB_DYNAMODB_PORT || 18000) + 2),
  MB_COGNITO_PORT: String(Number(process.env.MB_COGNITO_PORT || 19229) + 2),
  MB_PORT: String(Number(process.env.MB_PORT || 13000) + 2),
  MB_WORKERS: '2',
  ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0',
};
const base = `http://127.0.0.1:${env.MB_PORT}`;
const cognitoUrl = `http://127.0.0.1:${env.MB_COGNITO_PORT}`;
const state = env.MB_STATE_DIR;

function stack(cmd) {
  const r = spawnSync(path.join(src, 'scripts/stack'), [cmd], { env, encoding: 'utf8', timeout: 90000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

async function cognito(action, body) {
  const r = await fetch(cognitoUrl, { method: 'POST', headers: {
    connection: 'close', // spawnSync blocks the event loop between calls: no stale kept-alive socket
    'content-type': 'application/x-amz-json-1.1',
    'x-amz-target': `AWSCognitoIdentityProviderService.${action}` }, body: JSON.stringify(body) });
  const j = await r.json();
  assert.ok(r.ok, `${action}: ${JSON.stringify(j)}`);
  return j;
}

// A fresh start every run: leftovers of an interrupted run are stopped, then the state removed.
stack('stop');
fs.rmSync(state, { recursive: true, force: true });

let ids;
await test('scripts/stack start brings the stack up and prints the URL and demo login', async () => {
  const r = stack('start');
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, new RegExp(`http://localhost:${env.MB_PORT}`));
  assert.match(r.out, /demo@moonbase\.local \/ MoonbaseDemo1/);
  ids = JSON.parse(fs.readFileSync(path.join(state, 'stack.json'), 'utf8'));
  const senv = fs.readFileSync(path.join(state, 'stack.env'), 'utf8');
  for (const k of ['TABLE_NAME', 'USER_POOL_ID', 'CLIENT_ID', 'COGNITO_ISSUER', 'DYNAMODB_ENDPOINT',
    'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'ENVIRONMENT', 'CORS_ALLOWED_ORIGINS']) {
    assert.match(senv, new RegExp(`^${k}=.+$`, 'm'), `stack.env lacks ${k}`);
  }
  assert.match(senv, new RegExp(`^COGNITO_ISSUER=http://localhost:${env.MB_COGNITO_PORT}/${ids.userPoolId}$`, 'm'));
});

await test('a second start reuses the running stack and the same resources', async () => {
  const pid = fs.readFileSync(path.join(state, 'devserver.pid'), 'utf8').trim();
  const r = stack('start');
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /already running/);
  assert.equal(fs.readFileSync(path.join(state, 'devserver.pid'), 'utf8').trim(), pid);
  const again = JSON.parse(fs.readFileSync(path.join(state, 'stack.json'), 'utf8'));
  assert.equal(again.userPoolId, ids.userPoolId);
  assert.equal(again.clientId, ids.clientId);
});

await test('the user pool has the contract password policy and custom:tenant_id', async () => {
  const d = await cognito('DescribeUserPool', { UserPoolId: ids.userPoolId });
  const pp = d.UserPool.Policies.PasswordPolicy;
  assert.equal(pp.MinimumLength, 10);
  assert.equal(pp.RequireUppercase, true);
  assert.equal(pp.RequireLowercase, true);
  assert.equal(pp.RequireNumbers, true);
  assert.equal(pp.RequireSymbols, false);
  assert.deepEqual(d.UserPool.UsernameAttributes, ['email']);
  assert.ok(d.UserPool.SchemaAttributes.some((a) => a.Name === 'custom:tenant_id'));
  // Issue 19, finding 1: users may not write their tenant (only the admin path sets it).
  const c = await cognito('DescribeUserPoolClient', { UserPoolId: ids.userPoolId, ClientId: ids.clientId });
  assert.deepEqual(c.UserPoolClient.WriteAttributes, ['email']);
});

await test('the stack has its own random cursor key, owner-only, stable across seeds', async () => {
  const key = fs.readFileSync(path.join(state, 'cursor.key'), 'utf8').trim();
  assert.match(key, /^[0-9a-f]{64}$/);
  assert.equal(fs.statSync(path.join(state, 'cursor.key')).mode & 0o077, 0);
  const senv = fs.readFileSync(path.join(state, 'stack.env'), 'utf8');
  assert.match(senv, new RegExp(`^CURSOR_SECRET=${key}$`, 'm'));
  assert.equal(fs.statSync(path.join(state, 'stack.env')).mode & 0o077, 0);
});

await test('/config.json has the contract shape and the seeded ids', async () => {
  const r = await fetch(`${base}/config.json`);
  assert.equal(r.status, 200);
  const c = await r.json();
  assert.deepEqual(c, {
    apiUrl: `http://localhost:${env.MB_PORT}/api`, cognitoEndpoint: `http://localhost:${env.MB_COGNITO_PORT}`,
    region: 'us-east-1', userPoolId: ids.userPoolId, clientId: ids.clientId, environment: 'local',
  });
});

let token;
await test('the demo user logs in and GET /api/me answers with its claims', async () => {
  const a = await cognito('InitiateAuth', { AuthFlow: 'USER_PASSWORD_AUTH', ClientId: ids.clientId,
    AuthParameters: { USERNAME: 'demo@moonbase.local', PASSWORD: 'MoonbaseDemo1' } });
  token = a.AuthenticationResult.IdToken;
  const r = await fetch(`${base}/api/me`, { headers: { authorization: `Bearer ${token}` } });
  const text = await r.text();
  assert.equal(r.status, 200, text);
  const me = JSON.parse(text);
  assert.equal(me.email, 'demo@moonbase.local');
  assert.equal(me.sub, ids.demoUser.sub);
  assert.equal(me.tenant, `user:${ids.demoUser.sub}`);
  assert.equal(me.tenant_kind, 'personal');
  const anon = await fetch(`${base}/api/me`);
  assert.equal(anon.status, 401);
});

await test('the seeded demo items are listed through the devserver', async () => {
  const r = await fetch(`${base}/api/items`, { headers: { authorization: `Bearer ${token}` } });
  const text = await r.text();
  assert.equal(r.status, 200, text);
  const j = JSON.parse(text);
  assert.ok(j.items.length >= 3, text);
  for (const it of j.items) {
    for (const k of ['id', 'title', 'status', 'version', 'createdAt', 'updatedAt']) {
      assert.ok(k in it, `item lacks ${k}: ${JSON.stringify(it)}`);
    }
  }
  assert.ok(j.items.some((it) => it.title === 'Edit handlers/hello.lua'));
});

await test('the seed moves a personal tenant\'s items from TENANT#<sub> to TENANT#user:<sub>', async () => {
  const url = `http://127.0.0.1:${env.MB_DYNAMODB_PORT}`;
  const sub = ids.demoUser.sub;
  const legacy = { PK: { S: `TENANT#${sub}` }, SK: { S: 'ITEM#00000000000000000000LEGACY' },
    id: { S: '00000000000000000000LEGACY' }, title: { S: 'from before the namespaces' },
    status: { S: 'todo' }, version: { N: '1' }, createdAt: { S: '2026-01-01T00:00:00Z' },
    updatedAt: { S: '2026-01-01T00:00:00Z' } };
  await ddb('PutItem', { TableName: ids.tableName, Item: legacy }, url);
  const r = spawnSync(path.join(src, 'scripts/seed'), [], { env, encoding: 'utf8', timeout: 60000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /moved 1 items/);
  const old = await ddb('GetItem', { TableName: ids.tableName, Key: { PK: legacy.PK, SK: legacy.SK } }, url);
  assert.equal(old.Item, undefined);
  const res = await fetch(`${base}/api/items?limit=100`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200);
  assert.ok((await res.json()).items.some((it) => it.title === 'from before the namespaces'));
});

await test('scripts/seed add-to-tenant is the admin path into a named tenant', async () => {
  const seed = (...a) => spawnSync(path.join(src, 'scripts/seed'), a, { env, encoding: 'utf8', timeout: 60000 });
  const signUp = async (email, attrs = []) => {
    await cognito('SignUp', { ClientId: ids.clientId, Username: email, Password: 'MoonbaseTest1',
      UserAttributes: [{ Name: 'email', Value: email }, ...attrs] });
    await cognito('AdminConfirmSignUp', { UserPoolId: ids.userPoolId, Username: email });
  };
  const me = async (email) => {
    const a = await cognito('InitiateAuth', { AuthFlow: 'USER_PASSWORD_AUTH', ClientId: ids.clientId,
      AuthParameters: { USERNAME: email, PASSWORD: 'MoonbaseTest1' } });
    const r = await fetch(`${base}/api/me`, { headers: { authorization: `Bearer ${a.AuthenticationResult.AccessToken}` } });
    return { status: r.status, body: await r.json() };
  };
  const email = `member.${Date.now()}@moonbase.test`;
  await signUp(email);
  assert.equal((await me(email)).body.tenant_kind, 'personal');
  const r = seed('add-to-tenant', email, 'acme');
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const m = await me(email);
  assert.equal(m.status, 200);
  assert.equal(m.body.tenant, 'org:acme');
  // a user who wrote another tenant into custom:tenant_id at sign-up cannot be added
  const other = `claims.${Date.now()}@moonbase.test`;
  await signUp(other, [{ Name: 'custom:tenant_id', Value: 'globex' }]);
  const bad = seed('add-to-tenant', other, 'acme');
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /custom:tenant_id globex/);
  assert.equal(seed('add-to-tenant', email, 'Not Valid').status, 1);
  assert.equal(seed('frobnicate').status, 2);
});

await test('scripts/stack stop stops exactly what start started', async () => {
  const pid = Number(fs.readFileSync(path.join(state, 'devserver.pid'), 'utf8'));
  const r = stack('stop');
  assert.equal(r.code, 0, r.out);
  assert.equal(fs.existsSync(`/proc/${pid}`), false, 'devserver still running');
  await assert.rejects(fetch(`${base}/config.json`), 'port still answering');
  const st = spawnSync(path.join(src, 'scripts/services'), ['status'], { env, encoding: 'utf8' }).stdout;
  const running = st.split('\n').filter((l) => l.includes(': running')).length;
  assert.equal(running, 0, `start started the services, so stop stops them:\n${st}`);
});

if (failures > 0) stack('stop');
console.log(failures === 0 ? 'stack: all tests passed' : `stack: ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
