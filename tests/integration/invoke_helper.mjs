// invoke_helper.mjs - what the integration tests that run handlers through `bootstrap invoke`
// share: DynamoDB calls to dynalite (set-up, and checking what really is in the table), a fresh
// table, HTTP API v2 events, and one request through `bootstrap invoke --event -`.
// Environment: MB_DYNAMODB_PORT (18000) — the ctest `services` fixture.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import assert from 'node:assert/strict';

export const ddbUrl = `http://127.0.0.1:${process.env.MB_DYNAMODB_PORT || 18000}`;

export async function ddb(action, body, url = ddbUrl) {
  const now = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '');
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      // One connection per call: between calls the tests block their event loop in spawnSync
      // (bootstrap invoke), so a kept-alive socket can be closed by dynalite's 5 s keep-alive
      // timeout unseen and then reused: "fetch failed" (other side closed) under load.
      connection: 'close',
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': `DynamoDB_20120810.${action}`,
      'x-amz-date': now,
      // dynalite wants a well-formed SigV4 header; it does not check the signature.
      authorization: `AWS4-HMAC-SHA256 Credential=local/${now.slice(0, 8)}/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=${'0'.repeat(64)}`,
    },
    body: JSON.stringify(body),
  });
  const json = await res.json();
  assert.ok(res.ok, `${action}: ${JSON.stringify(json)}`);
  return json;
}

export async function createTable(table) {
  await ddb('CreateTable', {
    TableName: table,
    AttributeDefinitions: [{ AttributeName: 'PK', AttributeType: 'S' }, { AttributeName: 'SK', AttributeType: 'S' }],
    KeySchema: [{ AttributeName: 'PK', KeyType: 'HASH' }, { AttributeName: 'SK', KeyType: 'RANGE' }],
    BillingMode: 'PAY_PER_REQUEST',
  });
  for (let i = 0; i < 100; i++) {
    const d = await ddb('DescribeTable', { TableName: table });
    if (d.Table.TableStatus === 'ACTIVE') return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('table did not become ACTIVE');
}

export async function scanAll(table) {
  const out = [];
  let start;
  do {
    const r = await ddb('Scan', { TableName: table, ...(start ? { ExclusiveStartKey: start } : {}) });
    out.push(...r.Items);
    start = r.LastEvaluatedKey;
  } while (start);
  return out;
}

export function apiEvent(method, rawPath, { token, body, query = '' } = {}) {
  const headers = { accept: 'application/json', host: 'localhost' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  return {
    version: '2.0', routeKey: '$default', rawPath, rawQueryString: query, headers,
    // API Gateway sends both; the runtime reads the decoded map (repeated keys joined by ',').
    queryStringParameters: query ? Object.fromEntries(new URLSearchParams(query)) : undefined,
    requestContext: {
      http: { method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1' },
      requestId: `test-${crypto.randomUUID()}`, stage: '$default',
    },
    body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)),
    isBase64Encoded: false,
  };
}

// One request through `bootstrap invoke --event -`: {status, headers, body (parsed), raw, stderr}.
export function invoke(bootstrap, env, method, rawPath, opts = {}) {
  const r = spawnSync(bootstrap, ['invoke', '--event', '-'], {
    input: JSON.stringify(apiEvent(method, rawPath, opts)),
    env,
    encoding: 'utf8',
    timeout: 30000,
  });
  assert.equal(r.status, 0, `bootstrap exited ${r.status}: ${r.stderr}`);
  const res = JSON.parse(r.stdout);
  let body = res.body;
  try { body = JSON.parse(res.body); } catch { /* empty or not JSON */ }
  return { status: res.statusCode, headers: res.headers || {}, body, raw: res.body, stderr: r.stderr };
}

export function expectStatus(res, status, what = '') {
  assert.equal(res.status, status, `${what} expected ${status}, got ${res.status}: ${res.raw}\n${res.stderr}`);
  return res.body;
}
