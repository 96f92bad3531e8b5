// tests/integration/local_services.test.mjs - issue 19, finding 5: the local stand-ins for AWS
// (dynalite, cognito-local; scripts/services via scripts/guarded-service) listen on 127.0.0.1
// only, and no web page but the app's own can use them from a browser.
// Environment: MB_DYNAMODB_PORT, MB_COGNITO_PORT, MB_PORT — the ctest `services` fixture.
import fs from 'node:fs';
import assert from 'node:assert/strict';
import { test, failures } from './harness.mjs';

const ddbPort = Number(process.env.MB_DYNAMODB_PORT || 18000);
const cogPort = Number(process.env.MB_COGNITO_PORT || 19229);
const appOrigin = `http://localhost:${process.env.MB_PORT || 13000}`;

// The local addresses of the sockets listening on `port`, from /proc/net/tcp and tcp6.
function listeners(port) {
  const out = [];
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = fs.readFileSync(f, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4 || cols[3] !== '0A') continue; // 0A = LISTEN
      const [addr, p] = cols[1].split(':');
      if (parseInt(p, 16) === port) out.push(addr);
    }
  }
  return out;
}

await test('dynalite and cognito-local listen on 127.0.0.1 only', async () => {
  for (const port of [ddbPort, cogPort]) {
    const addrs = listeners(port);
    assert.ok(addrs.length > 0, `nothing listens on ${port}`);
    assert.deepEqual([...new Set(addrs)], ['0100007F'], `port ${port} listens on ${addrs}`);
  }
});

async function post(port, target, body, headers = {}) {
  const r = await fetch(`http://127.0.0.1:${port}/`, {
    method: 'POST',
    headers: { connection: 'close', 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target, ...headers },
    body: JSON.stringify(body),
  });
  return { status: r.status, text: await r.text() };
}

await test('a web page cannot use dynalite (any Origin: 403), other clients can', async () => {
  const page = await post(ddbPort, 'DynamoDB_20120810.ListTables', {}, { origin: 'https://evil.example' });
  assert.equal(page.status, 403, page.text);
  const app = await post(ddbPort, 'DynamoDB_20120810.ListTables', {}, { origin: appOrigin });
  assert.equal(app.status, 403, 'not even the app: the browser never talks to DynamoDB');
  const pre = await fetch(`http://127.0.0.1:${ddbPort}/`, { method: 'OPTIONS', headers: {
    connection: 'close', origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
  assert.equal(pre.status, 403);
  assert.equal(pre.headers.get('access-control-allow-origin'), null);
  const sdk = await post(ddbPort, 'DynamoDB_20120810.ListTables', {}, {
    'content-type': 'application/x-amz-json-1.0', 'x-amz-date': '20260101T000000Z',
    authorization: 'AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=00' });
  assert.equal(sdk.status, 200, sdk.text);
});

await test('cognito-local: only the app\'s pages, only the user-facing calls', async () => {
  const T = 'AWSCognitoIdentityProviderService.';
  const evil = await post(cogPort, `${T}InitiateAuth`, {}, { origin: 'https://evil.example' });
  assert.equal(evil.status, 403, evil.text);
  for (const op of ['AdminAddUserToGroup', 'AdminCreateUser', 'ListUserPools', 'CreateGroup']) {
    const r = await post(cogPort, `${T}${op}`, {}, { origin: appOrigin });
    assert.equal(r.status, 403, `${op} from the app's page: ${r.text}`);
  }
  const login = await post(cogPort, `${T}InitiateAuth`, { AuthFlow: 'USER_PASSWORD_AUTH', ClientId: 'none',
    AuthParameters: { USERNAME: 'x@y.z', PASSWORD: 'x' } }, { origin: appOrigin });
  assert.notEqual(login.status, 403, login.text);
  const admin = await post(cogPort, `${T}ListUserPools`, { MaxResults: 1 });
  assert.equal(admin.status, 200, `a script (no Origin) keeps the admin API: ${admin.text}`);
});

if (failures) {
  console.log(`${failures} test(s) failed`);
  process.exit(1);
}
console.log('all local services tests passed');
