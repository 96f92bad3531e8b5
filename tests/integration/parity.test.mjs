// tests/integration/parity.test.mjs - local parity with what AWS runs:
//  - the devserver's REST v1 events have the fields and types of AWS's sample events
//    (tests/data/apigw/rest-v1-shape.json) and, on auth = true routes, the Cognito authorizer's
//    claims (strings, dates) of a real cognito-local token; public routes carry no authorizer
//  - the AWS CLI on this machine invokes the function through the devserver's Lambda Invoke API
//    (`aws lambda invoke --endpoint-url ... --function-name MoonbaseFunction`)
//  - sam/local-env.mjs writes an env.json whose issuer is the tokens' `iss` and whose JWKS URL and
//    DynamoDB endpoint use another host name for the same services; bootstrap invoke with that
//    environment (127.0.0.1 standing in for host.docker.internal: no Docker here) accepts the token,
//    and refuses it when the JWKS URL points nowhere (so the variable is really used).
// Needs the `services` fixture (cognito-local). Environment: MB_BUILD_DIR, MB_SOURCE_DIR,
// MB_COGNITO_PORT, MB_DYNAMODB_PORT.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { cognitoEndpoint, createPoolAndClient, signUpConfirmLogin } from './cognito_helper.mjs';
import { envJson } from '../../sam/local-env.mjs';
import { test, sleep, failures } from './harness.mjs';

const src = process.env.MB_SOURCE_DIR || process.cwd();
const build = path.resolve(src, process.env.MB_BUILD_DIR || 'build');
const bootstrapBin = path.join(build, 'bootstrap');
const devserverBin = path.join(build, 'devserver');
const shape = JSON.parse(fs.readFileSync(path.join(src, 'tests/data/apigw/rest-v1-shape.json'), 'utf8'));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mb-parity-'));
const dumps = path.join(tmp, 'events');
fs.mkdirSync(dumps);

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

const typeOf = (v) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

// Problems of `ev` against the shape: missing fields, wrong types, fields AWS does not send.
export function shapeProblems(ev, want = shape.event, where = '', optional = shape.optional) {
  const bad = [];
  for (const [k, t] of Object.entries(want)) {
    const p = where ? `${where}.${k}` : k;
    if (!(k in ev)) { bad.push(`${p} missing`); continue; }
    if (t && typeof t === 'object' && !Array.isArray(t)) {
      if (typeOf(ev[k]) !== 'object') bad.push(`${p} is ${typeOf(ev[k])}, want object`);
      else bad.push(...shapeProblems(ev[k], t, p, optional));
      continue;
    }
    const types = [t].flat();
    if (!types.includes(typeOf(ev[k]))) bad.push(`${p} is ${typeOf(ev[k])}, want ${types.join('|')}`);
  }
  for (const k of Object.keys(ev)) {
    const p = where ? `${where}.${k}` : k;
    if (!(k in want) && !optional.includes(p)) bad.push(`${p} is not in AWS's events`);
  }
  return bad;
}

function decodeJwt(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
}

async function main() {
  const cog = cognitoEndpoint();
  const ids = await createPoolAndClient(cog, `moonbase-parity-${Date.now()}`);
  const email = `parity-${Date.now()}@example.com`;
  const tokens = await signUpConfirmLogin(cog, ids, email, 'Parity-Pass1', undefined);
  const claims = decodeJwt(tokens.idToken);
  const issuer = `${cog}/${ids.poolId}`;
  const ddbPort = process.env.MB_DYNAMODB_PORT || 18000;
  const stackEnv = {
    TABLE_NAME: 'moonbase-parity', USER_POOL_ID: ids.poolId, CLIENT_ID: ids.clientId,
    COGNITO_ISSUER: issuer, DYNAMODB_ENDPOINT: `http://localhost:${ddbPort}`,
    CORS_ALLOWED_ORIGINS: 'http://localhost:3000', CURSOR_SECRET: 'parity-cursor-key-0123456789abcdef',
  };
  const port = await freePort();
  const logFile = path.join(tmp, 'devserver.log');
  const out = fs.openSync(logFile, 'w');
  const ds = spawn(devserverBin, ['--port', String(port), '--workers', '1', '--handlers', path.join(src, 'handlers'),
    '--bootstrap', bootstrapBin, '--dump-events', dumps, '--rate', '0'], {
    env: { ...process.env, ...stackEnv, AWS_REGION: 'us-east-1', ENVIRONMENT: 'local', LOG_LEVEL: 'warn',
      AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local' },
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  const base = `http://127.0.0.1:${port}`;
  try {
    for (let i = 0; i < 200; i++) {
      const st = await fetch(`${base}/__devserver/status`).then((r) => r.json()).catch(() => null);
      if (st && st.workers.length === 1 && st.workers[0].ready) break;
      await sleep(50);
    }
    const dumped = async (url, init) => {
      const r = await fetch(`${base}${url}`, init);
      const body = await r.text();
      const rid = r.headers.get('apigw-requestid');
      return { status: r.status, body, ev: JSON.parse(fs.readFileSync(path.join(dumps, `${rid}.json`), 'utf8')) };
    };

    await test('REST v1 event of a public route: AWS\'s fields and types, no authorizer', async () => {
      const { status, ev } = await dumped('/api/hello?name=Ada&x=1&x=2', { headers: { 'X-Trace': 'a' } });
      assert.equal(status, 200);
      assert.deepEqual(shapeProblems(ev), []);
      assert.equal(ev.resource, '/hello');
      assert.equal(ev.requestContext.authorizer, undefined);
      assert.deepEqual(ev.multiValueQueryStringParameters.x, ['1', '2']);
    });

    await test('REST v1 event of an auth = true route: the Cognito authorizer\'s claims of the real token', async () => {
      const { status, body, ev } = await dumped('/api/me', { headers: { Authorization: `Bearer ${tokens.idToken}` } });
      assert.equal(status, 200, body);
      assert.deepEqual(shapeProblems(ev), []);
      const got = ev.requestContext.authorizer.claims;
      for (const [k, v] of Object.entries(got)) assert.equal(typeof v, 'string', `claim ${k} is not a string`);
      assert.equal(got.sub, claims.sub);
      assert.equal(got.email, claims.email);
      assert.equal(got.token_use, 'id');
      assert.equal(got.iss, issuer);
      const dateRe = new RegExp(shape.cognitoClaims.datePattern);
      for (const k of shape.cognitoClaims.dateClaims) {
        assert.match(got[k], dateRe, `${k}: ${got[k]}`);
        assert.equal(Date.parse(got[k].replace(' UTC ', ' ') + ' UTC'), claims[k] * 1000, `${k} is not the token's`);
      }
      assert.equal(got.auth_time, String(claims.auth_time));
      assert.equal(JSON.parse(body).sub ?? JSON.parse(body).user?.sub ?? claims.sub, claims.sub);
    });

    await test('the shape check itself fails on a v2 event and on an extra field', async () => {
      const v2 = JSON.parse(fs.readFileSync(path.join(src, 'sam/events/hello.json'), 'utf8'));
      assert.ok(shapeProblems(v2).length > 5);
      const { ev } = await dumped('/api/hello');
      ev.requestContext.http = {};
      assert.ok(shapeProblems(ev).some((p) => /requestContext.http is not in AWS's events/.test(p)));
    });

    const awsEnv = { ...process.env, AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local',
      AWS_DEFAULT_REGION: 'us-east-1', AWS_REGION: 'us-east-1', AWS_CONFIG_FILE: path.join(tmp, 'none'),
      AWS_SHARED_CREDENTIALS_FILE: path.join(tmp, 'none'), AWS_EC2_METADATA_DISABLED: 'true', AWS_PAGER: '' };
    const aws = (args) => spawnSync('aws', args, { env: awsEnv, encoding: 'utf8', timeout: 60000 });

    await test('aws lambda invoke --endpoint-url: the function answers through the devserver', async () => {
      const v = aws(['--version']);
      assert.equal(v.status, 0, `the aws CLI is needed (scripts/deps installs it): ${v.error || v.stderr}`);
      console.log(`     (${(v.stdout || v.stderr).trim()})`);
      for (const ev of ['sam/events/hello.json', 'sam/events/hello-v1.json']) {
        const outFile = path.join(tmp, `out-${path.basename(ev)}`);
        const r = aws(['lambda', 'invoke', '--endpoint-url', base, '--function-name', 'MoonbaseFunction',
          '--payload', `fileb://${path.join(src, ev)}`, outFile]);
        assert.equal(r.status, 0, `aws lambda invoke ${ev}: ${r.stderr}`);
        const meta = JSON.parse(r.stdout);
        assert.equal(meta.StatusCode, 200);
        assert.equal(meta.ExecutedVersion, '$LATEST');
        assert.equal(meta.FunctionError, undefined);
        const resp = JSON.parse(fs.readFileSync(outFile, 'utf8'));
        assert.equal(resp.statusCode, 200);
        assert.match(JSON.parse(resp.body).message, /^Hello, (Ada|Grace)!$/);
      }
    });

    await test('aws lambda invoke: unknown function and malformed payload fail as Lambda fails them', async () => {
      const r = aws(['lambda', 'invoke', '--endpoint-url', base, '--function-name', 'NoSuchFunction',
        '--payload', `fileb://${path.join(src, 'sam/events/hello.json')}`, path.join(tmp, 'x.json')]);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /ResourceNotFoundException/);
      const bad = path.join(tmp, 'bad.json');
      fs.writeFileSync(bad, '{"not json');
      const r2 = aws(['lambda', 'invoke', '--endpoint-url', base, '--function-name', 'MoonbaseFunction',
        '--payload', `fileb://${bad}`, path.join(tmp, 'y.json')]);
      assert.notEqual(r2.status, 0);
      assert.match(r2.stderr, /InvalidRequestContentException/);
    });
  } finally {
    ds.kill('SIGTERM');
    await new Promise((r) => ds.on('exit', r));
  }

  // env.json for `sam local invoke`: the function in Docker reaches the host by another name.
  const meEvent = path.join(tmp, 'me.json');
  const v1 = JSON.parse(fs.readFileSync(path.join(src, 'sam/events/hello-v1.json'), 'utf8'));
  v1.path = '/me';
  v1.resource = '/me';
  v1.requestContext.resourcePath = '/me';
  v1.headers.Authorization = `Bearer ${tokens.idToken}`;
  v1.multiValueHeaders.Authorization = [v1.headers.Authorization];
  fs.writeFileSync(meEvent, JSON.stringify(v1));
  const invokeWith = (vars) => {
    const r = spawnSync(bootstrapBin, ['invoke', '--event', meEvent], {
      env: { PATH: process.env.PATH, HANDLERS_DIR: path.join(src, 'handlers'), AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local', ...vars }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout);
  };

  await test('env.json from sam/local-env.mjs: issuer = the tokens\' iss, keys fetched under the Docker host name', async () => {
    const env = envJson(stackEnv, { dockerHost: '127.0.0.1' }).MoonbaseFunction;
    assert.equal(env.COGNITO_ISSUER, claims.iss);
    assert.match(env.COGNITO_JWKS_URL, /^http:\/\/127\.0\.0\.1:\d+\/.+\/\.well-known\/jwks\.json$/);
    assert.match(env.DYNAMODB_ENDPOINT, /^http:\/\/127\.0\.0\.1:\d+$/);
    const ok = invokeWith(env);
    assert.equal(ok.statusCode, 200, ok.body);
    // The JWKS URL is really used: pointed at nothing, the same token is not accepted.
    const dead = await freePort();
    const bad = invokeWith({ ...env, COGNITO_JWKS_URL: `http://127.0.0.1:${dead}/none/.well-known/jwks.json` });
    assert.notEqual(bad.statusCode, 200);
    // And the issuer is really checked: the Docker host name as issuer refuses the token.
    const wrongIss = invokeWith({ ...env, COGNITO_ISSUER: env.COGNITO_JWKS_URL.replace('/.well-known/jwks.json', '') });
    assert.equal(wrongIss.statusCode, 401);
  });

  await test('the shipped sam/env.json is what sam/local-env.mjs writes for the default local stack', async () => {
    const shipped = JSON.parse(fs.readFileSync(path.join(src, 'sam/env.json'), 'utf8'));
    const pool = shipped.MoonbaseFunction.USER_POOL_ID;
    const want = envJson({ TABLE_NAME: 'moonbase-local', USER_POOL_ID: pool, CLIENT_ID: shipped.MoonbaseFunction.CLIENT_ID,
      COGNITO_ISSUER: `http://localhost:9229/${pool}`, DYNAMODB_ENDPOINT: 'http://localhost:8000',
      CORS_ALLOWED_ORIGINS: 'http://localhost:3000' });
    assert.deepEqual(shipped, want);
  });

  fs.rmSync(tmp, { recursive: true, force: true });
  console.log(failures ? `${failures} failed` : 'all passed');
  process.exit(failures ? 1 : 0);
}

main().catch((e) => { console.error(e); process.exit(1); });
