// bench/node_peer/app.mjs - the Node.js peer of Moonbase's API for the benchmarks: the same
// routes as handlers/ (GET /hello, GET /me, GET /profile, GET and POST /items) written the way
// a Node.js Lambda function usually is: one handler(event, context) module whose init, outside
// the handler, loads aws-jwt-verify (JWKS fetched on first verify, then cached), the AWS SDK v3
// DynamoDB document client (keep-alive) and aws-embedded-metrics; a JSON access log line and one
// EMF document per invocation, as the C runtime writes. It does the same work as the Lua handlers
// (validation, tenant prefix on every key, ULIDs, HMAC'd list cursors, the activity counter) so
// that bench/run-coldstart and bench/run-devserver compare like with like.
// Run by bench/node_peer/invoke.mjs (one process per event) and by bench/node_peer/bootstrap
// (a Runtime API worker for the devserver). Environment: the workers' (TABLE_NAME, CLIENT_ID,
// COGNITO_ISSUER, DYNAMODB_ENDPOINT, AWS_REGION, AWS credentials, LOG_LEVEL).
import { createHmac, randomBytes } from 'node:crypto';
import { writeSync } from 'node:fs';
import http from 'node:http';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { JwtRsaVerifier } from 'aws-jwt-verify';
import { SimpleJwksCache } from 'aws-jwt-verify/jwk';

// aws-embedded-metrics picks its sink when it is loaded: outside Lambda (invoke.mjs) it would
// otherwise probe the EC2 metadata service. Lambda's sink is stdout, as the C runtime's.
process.env.AWS_EMF_ENVIRONMENT ??= 'Lambda';
process.env.AWS_EMF_NAMESPACE ??= 'ServerlessApp';
const { createMetricsLogger, Unit } = await import('aws-embedded-metrics');

const env = process.env;
const clientIds = (env.CLIENT_ID || '').split(',').filter(Boolean);
const issuer = env.COGNITO_ISSUER;
// aws-jwt-verify fetches JWKS over https only (node:https); the local cognito-local serves http,
// so its fetcher here is the same GET with node:http.
const httpFetcher = {
  fetch: (uri) => new Promise((resolve, reject) => {
    http.get(uri, { timeout: 3000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`JWKS fetch: HTTP ${res.statusCode}`));
        const b = Buffer.concat(chunks);
        return resolve(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
      });
    }).on('error', reject).on('timeout', function onTimeout() { this.destroy(new Error('JWKS fetch timed out')); });
  }),
};
const verifier = issuer
  ? JwtRsaVerifier.create({
    issuer,
    jwksUri: `${issuer}/.well-known/jwks.json`,
    audience: null, // Cognito: id tokens carry aud, access tokens client_id; checked below
    customJwtCheck: ({ payload }) => {
      const use = payload.token_use;
      const client = use === 'id' ? payload.aud : payload.client_id;
      if ((use !== 'id' && use !== 'access') || !clientIds.includes(client)) {
        throw new Error('token not issued for this client');
      }
    },
  }, { jwksCache: new SimpleJwksCache({ fetcher: issuer.startsWith('http:') ? httpFetcher : undefined }) })
  : null;
const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({
  region: env.AWS_REGION || 'us-east-1',
  ...(env.DYNAMODB_ENDPOINT ? { endpoint: env.DYNAMODB_ENDPOINT } : {}),
}), { marshallOptions: { removeUndefinedValues: true } });
const table = env.TABLE_NAME;
const cursorKey = createHmac('sha256', env.CURSOR_SECRET || env.AWS_SECRET_ACCESS_KEY || 'local')
  .update('moonbase-cursor-secret').digest();
const LEVELS = { debug: 0, info: 1, warn: 2, error: 3 };
const logLevel = LEVELS[(env.LOG_LEVEL || 'info').toLowerCase()] ?? 1;
let coldStart = true;

class HttpError extends Error {
  constructor(status, message, extra = {}) {
    super(message);
    this.status = status;
    this.extra = extra;
  }
}
const fail = (status, message, extra) => { throw new HttpError(status, message, extra); };
const failField = (field, message) => fail(400, message, { code: 'validation', field });

// ---- the handlers (same rules as handlers/*.lua) ----

function hello(req) {
  const name = req.query.name ?? 'world';
  if (name.length > 64) failField('name', 'name must be at most 64 characters');
  if (/[\u0000-\u001f\u007f]/.test(name)) failField('name', 'name must not contain control characters');
  if (name === '') failField('name', 'name must not be empty');
  return { status: 200, body: { message: `Hello, ${name}!`, timestamp: new Date().toISOString() } };
}

function me(req) {
  const u = req.user;
  return {
    status: 200,
    body: { sub: u.sub, email: u.email, username: u.username, tenant: u.tenant, groups: u.groups, token_use: u.token_use },
  };
}

const pk = (req) => `TENANT#${req.user.tenant}`;

async function profile(req) {
  const key = { PK: pk(req), SK: `USER#${req.user.sub}` };
  let p = (await ddb.send(new GetCommand({ TableName: table, Key: key }))).Item;
  if (!p) {
    const email = req.user.email || '';
    const now = new Date().toISOString();
    p = {
      ...key, email, displayName: ([...(email.match(/^([^@]+)@/)?.[1] ?? 'user')].slice(0, 60).join('')),
      bio: '', avatarColor: '#4f46e5', preferences: { theme: 'system', emailNotifications: true },
      createdAt: now, updatedAt: now,
    };
    try {
      await ddb.send(new PutCommand({ TableName: table, Item: p, ConditionExpression: 'attribute_not_exists(PK)' }));
    } catch (e) {
      if (e.name !== 'ConditionalCheckFailedException') throw e;
      p = (await ddb.send(new GetCommand({ TableName: table, Key: key, ConsistentRead: true }))).Item;
    }
  }
  const prefs = p.preferences || {};
  return {
    status: 200,
    body: {
      displayName: p.displayName, bio: p.bio, avatarColor: p.avatarColor,
      preferences: { theme: prefs.theme, emailNotifications: prefs.emailNotifications },
      email: req.user.email || p.email, createdAt: p.createdAt, updatedAt: p.updatedAt,
    },
  };
}

const view = (it) => ({
  id: it.id, title: it.title, description: it.description, status: it.status,
  version: it.version, createdAt: it.createdAt, updatedAt: it.updatedAt,
});

// A cursor is the last key's SK, MAC'd so a client cannot forge a key (as ctx.db does).
function encodeCursor(sk) {
  const mac = createHmac('sha256', cursorKey).update(sk).digest('base64url').slice(0, 22);
  return Buffer.from(JSON.stringify({ sk, mac })).toString('base64url');
}
function decodeCursor(text) {
  try {
    const { sk, mac } = JSON.parse(Buffer.from(text, 'base64url').toString());
    if (typeof sk === 'string' && mac === createHmac('sha256', cursorKey).update(sk).digest('base64url').slice(0, 22)) return sk;
  } catch { /* fall through */ }
  return fail(400, 'invalid cursor', { code: 'validation', field: 'cursor' });
}

async function listItems(req) {
  let limit = 20;
  if (req.query.limit !== undefined) {
    limit = Number(req.query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) failField('limit', 'limit must be an integer 1..100');
  }
  const start = req.query.cursor !== undefined ? decodeCursor(req.query.cursor) : undefined;
  const page = await ddb.send(new QueryCommand({
    TableName: table, Limit: limit, ScanIndexForward: false,
    KeyConditionExpression: 'PK = :pk AND begins_with(SK, :sk)',
    ExpressionAttributeValues: { ':pk': pk(req), ':sk': 'ITEM#' },
    ...(start ? { ExclusiveStartKey: { PK: pk(req), SK: start } } : {}),
  }));
  return {
    status: 200,
    body: {
      items: (page.Items || []).map(view),
      cursor: page.LastEvaluatedKey ? encodeCursor(page.LastEvaluatedKey.SK) : null,
    },
  };
}

// ULID: 48-bit millisecond time + 80 random bits, Crockford base32 (what ctx.ulid makes).
const B32 = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
function ulid() {
  let t = Date.now();
  let out = '';
  for (let i = 0; i < 10; i++) { out = B32[t % 32] + out; t = Math.floor(t / 32); }
  const r = randomBytes(16);
  for (let i = 0; i < 16; i++) out += B32[r[i] & 31];
  return out;
}

function checkText(field, value, min, max) {
  const n = typeof value === 'string' ? [...value].length : -1;
  if (n < min || n > max) failField(field, `${field} must be a string of ${min} to ${max} characters`);
}

async function createItem(req) {
  const body = req.json;
  if (body === null || typeof body !== 'object' || Array.isArray(body)) fail(400, 'the body must be a JSON object', { code: 'validation' });
  for (const f of Object.keys(body)) {
    if (!['title', 'description', 'status'].includes(f)) failField(f, `unknown field '${f}'`);
  }
  checkText('title', body.title, 1, 120);
  if (body.description !== undefined) checkText('description', body.description, 0, 2000);
  if (body.status !== undefined && !['todo', 'doing', 'done'].includes(body.status)) failField('status', 'status must be todo, doing or done');
  const id = ulid();
  const now = new Date().toISOString();
  const item = {
    PK: pk(req), SK: `ITEM#${id}`, id, title: body.title, description: body.description ?? '',
    status: body.status ?? 'todo', version: 1, createdAt: now, updatedAt: now,
  };
  await ddb.send(new PutCommand({ TableName: table, Item: item, ConditionExpression: 'attribute_not_exists(PK)' }));
  await ddb.send(new UpdateCommand({
    TableName: table, Key: { PK: pk(req), SK: `ACTIVITY#${now.slice(0, 10)}` },
    UpdateExpression: 'ADD #c :one', ExpressionAttributeNames: { '#c': 'created' }, ExpressionAttributeValues: { ':one': 1 },
  }));
  return { status: 201, headers: { location: `/items/${id}` }, body: view(item) };
}

const routes = {
  'GET /hello': { fn: hello },
  'GET /me': { fn: me, auth: true },
  'GET /profile': { fn: profile, auth: true },
  'GET /items': { fn: listItems, auth: true },
  'POST /items': { fn: createItem, auth: true },
};

// ---- the pipeline: event -> request -> auth -> handler -> proxy response ----

function request(event) {
  const v2 = event.version === '2.0';
  const headers = {};
  for (const [k, v] of Object.entries(event.headers || {})) headers[k.toLowerCase()] = v;
  let body = event.body ?? '';
  if (event.isBase64Encoded && body) body = Buffer.from(body, 'base64').toString();
  return {
    method: v2 ? event.requestContext.http.method : event.httpMethod,
    path: v2 ? event.rawPath : event.path,
    query: event.queryStringParameters || {},
    headers,
    body,
  };
}

async function authenticate(req) {
  const m = /^Bearer (.+)$/.exec(req.headers.authorization || '');
  if (!m || !verifier) fail(401, 'missing or invalid token');
  let c;
  try {
    c = await verifier.verify(m[1]);
  } catch (e) {
    if (env.MB_PEER_DEBUG) log('warn', 'token rejected', { error: String(e) });
    fail(401, 'missing or invalid token');
  }
  req.user = {
    sub: c.sub, email: c.email, username: c['cognito:username'] ?? c.username,
    tenant: c['custom:tenant_id'] || c.sub, groups: c['cognito:groups'] || [], token_use: c.token_use,
  };
}

function log(level, message, fields) {
  if (LEVELS[level] < logLevel) return;
  writeSync(2, JSON.stringify({ timestamp: new Date().toISOString(), level: level.toUpperCase(), message, ...fields }) + '\n');
}

export async function handler(event, context) {
  const t0 = process.hrtime.bigint();
  const requestId = context?.awsRequestId || 'local';
  const req = request(event);
  const routeName = `${req.method} ${req.path}`;
  const route = routes[routeName];
  const metrics = createMetricsLogger();
  metrics.setDimensions({ Environment: env.ENVIRONMENT || 'dev', Route: route ? routeName : 'UNMATCHED' });
  metrics.setProperty('requestId', requestId);
  let res;
  try {
    if (!route) fail(404, 'not found');
    if (route.auth) await authenticate(req);
    if ((req.headers['content-type'] || '').startsWith('application/json') && req.body) {
      try { req.json = JSON.parse(req.body); } catch { fail(400, 'malformed JSON body'); }
    }
    res = await route.fn(req);
  } catch (e) {
    if (!(e instanceof HttpError)) log('error', 'handler error', { requestId, error: String(e) });
    res = e instanceof HttpError
      ? { status: e.status, body: { error: e.message, ...e.extra, requestId } }
      : { status: 500, body: { error: 'internal error', requestId } };
  }
  const body = res.body === undefined ? '' : JSON.stringify(res.body);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  log(res.status >= 500 ? 'error' : res.status >= 400 ? 'warn' : 'info', `${routeName} ${res.status}`, {
    requestId, method: req.method, path: req.path, route: routeName, coldStart, type: 'access',
    status: res.status, durationMs: Math.round(ms * 1000) / 1000, requestBytes: (event.body || '').length, responseBytes: body.length,
  });
  metrics.putMetric('Latency', Math.round(ms * 1000) / 1000, Unit.Milliseconds);
  metrics.putMetric('ColdStart', coldStart ? 1 : 0, Unit.Count);
  metrics.putMetric('Errors4xx', res.status >= 400 && res.status < 500 ? 1 : 0, Unit.Count);
  metrics.putMetric('Errors5xx', res.status >= 500 ? 1 : 0, Unit.Count);
  await metrics.flush();
  coldStart = false;
  return {
    statusCode: res.status,
    headers: { 'content-type': 'application/json', 'x-request-id': requestId, ...(res.headers || {}) },
    body,
    isBase64Encoded: false,
  };
}
