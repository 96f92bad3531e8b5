// tests/integration/auth.test.mjs - native JWT verification end to end through the real
// bootstrap: GET /me with tokens from cognito-local (id and access accepted, a second pool's
// token rejected), forged/malformed/expired tokens (signed here with a key whose JWKS a tiny local
// HTTP server serves), JWKS unreachable -> 503, and key rotation picked up by a long-running
// worker (devserver --workers 1) without a restart.
// Environment: MB_BUILD_DIR (bootstrap + devserver), MB_SOURCE_DIR, MB_COGNITO_PORT (19229),
//   MB_AUTH_TEST_PORT (devserver port for the rotation test, default 13101).
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import assert from 'node:assert/strict';
import { cognitoTokens } from './cognito_helper.mjs';
import { test, sleep, failures } from './harness.mjs';

const src = process.env.MB_SOURCE_DIR || process.cwd();
const build = path.resolve(src, process.env.MB_BUILD_DIR || 'build');
const bootstrap = path.join(build, 'bootstrap');
const devserverBin = path.join(build, 'devserver');
const handlers = path.join(src, 'handlers');
const devPort = Number(process.env.MB_AUTH_TEST_PORT || 13101);

function meEvent(authorization) {
  const headers = { accept: 'application/json', host: 'localhost' };
  if (authorization !== undefined) headers.authorization = authorization;
  return {
    version: '2.0', routeKey: '$default', rawPath: '/me', rawQueryString: '', headers,
    requestContext: {
      http: { method: 'GET', path: '/me', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1' },
      requestId: `auth-${crypto.randomUUID()}`, stage: '$default',
    },
    isBase64Encoded: false,
  };
}

// Run `bootstrap invoke --event -` once; resolves {status, headers, body (parsed when JSON)}.
// Asynchronous on purpose: the JWKS server below lives in this process and must keep answering.
function invoke(authorization, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(bootstrap, ['invoke', '--event', '-'], {
      env: { PATH: process.env.PATH, HANDLERS_DIR: handlers, ENVIRONMENT: 'test', ...env },
    });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 20000);
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      try {
        assert.equal(code, 0, `bootstrap exited ${code}: ${err}`);
        const res = JSON.parse(out);
        let body = res.body;
        try { body = JSON.parse(res.body); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers || {}, body, raw: res.body, stderr: err });
      } catch (e) {
        reject(e);
      }
    });
    child.stdin.end(JSON.stringify(meEvent(authorization)));
  });
}

function assert401(res, token) {
  assert.equal(res.status, 401, `expected 401, got ${res.status}: ${res.raw}`);
  assert.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"');
  assert.equal(res.body.error, 'unauthorized');
  if (token) assert.ok(!res.raw.includes(token.split('.')[1]), 'the body must not echo the token');
}

// ---- a local issuer: RSA keys made here, JWKS served by a tiny HTTP server ----
const b64u = (b) => Buffer.from(b).toString('base64url');
function makeKey(kid) {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { kid, privateKey, jwk: { ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' } };
}
function sign(key, payload, header = { alg: 'RS256', kid: key.kid }) {
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(payload))}`;
  return `${input}.${b64u(crypto.sign('sha256', Buffer.from(input), key.privateKey))}`;
}
const jwksServer = { keys: [], hits: 0 };
const server = http.createServer((req, res) => {
  if (req.url.endsWith('/.well-known/jwks.json')) {
    jwksServer.hits++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: jwksServer.keys.map((k) => k.jwk) }));
  } else {
    res.writeHead(404);
    res.end();
  }
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const localIssuer = `http://127.0.0.1:${server.address().port}/local_testpool`;
const localEnv = { COGNITO_ISSUER: localIssuer, USER_POOL_ID: 'local_testpool', CLIENT_ID: 'local-client' };
const now = () => Math.floor(Date.now() / 1000);
function claims(extra = {}) {
  return {
    sub: 'local-user-1', iss: localIssuer, token_use: 'id', aud: 'local-client',
    email: 'local@moonbase.test', 'cognito:username': 'local-user-1',
    'custom:tenant_id': 'tenant-a', 'cognito:groups': ['admins', 'tenant:tenant-a'],
    iat: now() - 5, exp: now() + 600, ...extra,
  };
}
const k1 = makeKey('key-1');
const k2 = makeKey('key-2');
jwksServer.keys = [k1];

// ---- cognito-local ----
const a = await cognitoTokens();
const b = await cognitoTokens();
const cogEnv = { COGNITO_ISSUER: a.issuer, USER_POOL_ID: a.poolId, CLIENT_ID: a.clientId };
const payloadOf = (t) => JSON.parse(Buffer.from(t.split('.')[1], 'base64url'));

await test('cognito-local id token: 200 with the identity', async () => {
  const r = await invoke(`Bearer ${a.idToken}`, cogEnv);
  assert.equal(r.status, 200, r.raw + r.stderr);
  const p = payloadOf(a.idToken);
  assert.equal(r.body.sub, p.sub);
  assert.equal(r.body.email, a.email);
  assert.equal(r.body.username, p['cognito:username']);
  assert.equal(r.body.tenant, `user:${p.sub}`);
  assert.deepEqual(r.body.groups, []);
  assert.equal(r.body.token_use, 'id');
});

await test('cognito-local access token: 200, scheme case-insensitive', async () => {
  const r = await invoke(`bearer ${a.accessToken}`, cogEnv);
  assert.equal(r.status, 200, r.raw + r.stderr);
  assert.equal(r.body.token_use, 'access');
  assert.equal(r.body.sub, payloadOf(a.accessToken).sub);
});

await test('token from a second pool: 401', async () => {
  assert401(await invoke(`Bearer ${b.idToken}`, cogEnv), b.idToken);
  assert401(await invoke(`Bearer ${b.accessToken}`, cogEnv), b.accessToken);
});

await test('missing, malformed and forged tokens: 401, never a crash', async () => {
  assert401(await invoke(undefined, cogEnv));
  assert401(await invoke('Basic dXNlcjpwYXNz', cogEnv));
  assert401(await invoke('Bearer not.a.jwt', cogEnv));
  assert401(await invoke(`Bearer ${'A'.repeat(20000)}`, cogEnv));
  const [h, p, s] = a.idToken.split('.');
  const flipped = s[5] === 'A' ? 'B' : 'A';
  assert401(await invoke(`Bearer ${h}.${p}.${s.slice(0, 5)}${flipped}${s.slice(6)}`, cogEnv), a.idToken);
  const none = `${b64u(JSON.stringify({ alg: 'none', kid: 'CognitoLocal' }))}.${p}.`;
  assert401(await invoke(`Bearer ${none}`, cogEnv), none);
  const wrongAud = { ...cogEnv, CLIENT_ID: 'someone-else' };
  assert401(await invoke(`Bearer ${a.idToken}`, wrongAud), a.idToken);
});

await test('local issuer: valid token 200 (with groups and tenant), expired token 401', async () => {
  const ok = await invoke(`Bearer ${sign(k1, claims())}`, localEnv);
  assert.equal(ok.status, 200, ok.raw + ok.stderr);
  assert.deepEqual(ok.body.groups, ['admins', 'tenant:tenant-a']);
  assert.equal(ok.body.tenant, 'org:tenant-a');
  const expired = sign(k1, claims({ iat: now() - 7200, exp: now() - 3600 }));
  const r = await invoke(`Bearer ${expired}`, localEnv);
  assert401(r, expired);
  assert.equal(r.body.message, 'token expired');
  const wrongIss = sign(k1, claims({ iss: a.issuer }));
  assert401(await invoke(`Bearer ${wrongIss}`, localEnv), wrongIss);
});

await test('JWKS unreachable: 503', async () => {
  const r = await invoke(`Bearer ${a.idToken}`, { ...cogEnv, COGNITO_ISSUER: 'http://127.0.0.1:9/nowhere' });
  assert.equal(r.status, 503, r.raw);
  assert.equal(r.body.error, 'unavailable');
});

await test('JWKS rotation picked up by a running worker, old key dropped', async () => {
  const child = spawn(devserverBin, ['--port', String(devPort), '--workers', '1', '--handlers', handlers], {
    env: { PATH: process.env.PATH, ENVIRONMENT: 'test', ...localEnv }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr.on('data', (d) => { log += d; });
  const get = async (token) => {
    const res = await fetch(`http://127.0.0.1:${devPort}/api/me`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, body: await res.json() };
  };
  try {
    for (let i = 0; i < 100; i++) {
      try { await fetch(`http://127.0.0.1:${devPort}/api/hello`); break; } catch { await sleep(100); }
    }
    jwksServer.keys = [k1];
    const t1 = sign(k1, claims());
    const t2 = sign(k2, claims({ sub: 'local-user-2' }));
    let r = await get(t1);
    assert.equal(r.status, 200, JSON.stringify(r.body) + log);
    const hits = jwksServer.hits;
    jwksServer.keys = [k2]; // rotation: key-1 retired, key-2 published
    r = await get(t2);
    assert.equal(r.status, 401, 'an unknown kid right after a fetch waits for the 10 s window');
    assert.equal(jwksServer.hits, hits, 'no refetch inside the window');
    await sleep(10500);
    r = await get(t2);
    assert.equal(r.status, 200, JSON.stringify(r.body) + log);
    assert.equal(r.body.sub, 'local-user-2');
    assert.equal(jwksServer.hits, hits + 1);
    r = await get(t1);
    assert.equal(r.status, 401, 'a cached token whose key left the JWKS is no longer accepted');
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.on('exit', r));
  }
});

server.close();
if (failures > 0) {
  console.log(`${failures} test(s) failed`);
  process.exit(1);
}
console.log('all auth integration tests passed');
