// learn/checker/harness.mjs - what the exercise checks run on: the real `bootstrap invoke` with
// HANDLERS_DIR pointing at the learner's handlers, one in-memory dynalite shared by every check of
// a run (a fresh table per exercise), and a local token issuer (an RSA key made here, its JWKS
// served over HTTP) so that routes with `auth = true` verify real RS256 tokens exactly as they
// verify Cognito's. Nothing here reads handler source: every check observes behaviour.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

// A failed check: what was being checked, what was expected, what happened.
export class CheckFailure extends Error {
  constructor(step, expected, got) {
    super(`${step}: expected ${expected}, got ${got}`);
    this.step = step;
    this.expected = expected;
    this.got = got;
  }
}

// Throws a CheckFailure unless cond holds.
export function expect(cond, step, expected, got) {
  if (!cond) throw new CheckFailure(step, expected, typeof got === 'function' ? got() : got);
}

// Short printable form of a response for "got ...".
export function show(res) {
  const body = res.raw === undefined ? '' : String(res.raw);
  const text = `HTTP ${res.status} ${body.length > 300 ? `${body.slice(0, 300)}...` : body}`;
  const err = (res.logs || []).find((o) => o.level === 'ERROR' && o.type !== 'access');
  return err ? `${text}\nhandler error in the logs: ${err.message}` : text;
}

export function expectStatus(res, status, step) {
  expect(res.status === status, step, `HTTP ${status}`, () => show(res));
  return res.body;
}

// A 400 whose JSON body names `field` (the app's {"error", "message", "field"} shape); `field`
// may be a list of accepted names (a list element as "tags" or ctx.validate's "tags[0]").
export function expectFieldError(res, field, step) {
  expectStatus(res, 400, step);
  const got = res.body && typeof res.body === 'object' ? res.body.field : undefined;
  const ok = [].concat(field);
  expect(ok.includes(got), step, `a 400 body with "field": ${ok.map((f) => `"${f}"`).join(' or ')}`, () => show(res));
}

// ---- dynalite, in this process, in memory ----

function signedHeaders(action) {
  const now = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '');
  return {
    // One connection per call: checks block the event loop in spawnSync (bootstrap invoke), and a
    // kept-alive socket that dynalite closed meanwhile would be reused unseen ("fetch failed").
    connection: 'close',
    'content-type': 'application/x-amz-json-1.0',
    'x-amz-target': `DynamoDB_20120810.${action}`,
    'x-amz-date': now,
    // dynalite wants a well-formed SigV4 header; it does not check the signature.
    authorization: `AWS4-HMAC-SHA256 Credential=local/${now.slice(0, 8)}/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=${'0'.repeat(64)}`,
  };
}

export class Dynamo {
  constructor(url) { this.url = url; }

  async call(action, body) {
    const res = await fetch(this.url, { method: 'POST', headers: signedHeaders(action), body: JSON.stringify(body) });
    const json = await res.json();
    if (!res.ok) throw new Error(`dynalite ${action}: ${JSON.stringify(json)}`);
    return json;
  }

  // The app's table shape: PK (tenant partition) + SK, on demand.
  async createTable(name) {
    await this.call('CreateTable', {
      TableName: name,
      AttributeDefinitions: [{ AttributeName: 'PK', AttributeType: 'S' }, { AttributeName: 'SK', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'PK', KeyType: 'HASH' }, { AttributeName: 'SK', KeyType: 'RANGE' }],
      BillingMode: 'PAY_PER_REQUEST',
    });
  }

  // Every item of the table, as plain objects (S and N attributes only: what the checks seed).
  async scan(table) {
    const out = [];
    let start;
    do {
      const r = await this.call('Scan', { TableName: table, ...(start ? { ExclusiveStartKey: start } : {}) });
      out.push(...r.Items.map(unmarshal));
      start = r.LastEvaluatedKey;
    } while (start);
    return out;
  }

  async put(table, item) {
    await this.call('PutItem', { TableName: table, Item: marshal(item) });
  }
}

function marshal(item) {
  const out = {};
  for (const [k, v] of Object.entries(item)) out[k] = typeof v === 'number' ? { N: String(v) } : { S: String(v) };
  return out;
}

function unmarshal(item) {
  const out = {};
  for (const [k, v] of Object.entries(item)) {
    if ('S' in v) out[k] = v.S;
    else if ('N' in v) out[k] = Number(v.N);
    else out[k] = v;
  }
  return out;
}

async function listen(server) {
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return server.address().port;
}

// ---- a local token issuer (what Cognito is for the runtime: a JWKS URL and RS256 tokens) ----

const b64u = (b) => Buffer.from(b).toString('base64url');

class Issuer {
  constructor() {
    const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.key = privateKey;
    this.jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'learn-1', alg: 'RS256', use: 'sig' };
    this.poolId = 'local_learnpool';
    this.clientId = 'learn-client';
    this.server = http.createServer((req, res) => {
      if (req.url === `/${this.poolId}/.well-known/jwks.json`) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ keys: [this.jwk] }));
      } else {
        res.writeHead(404);
        res.end();
      }
    });
  }

  async start() {
    const port = await listen(this.server);
    this.issuer = `http://127.0.0.1:${port}/${this.poolId}`;
  }

  // A token for a user: { sub, email, tenant, groups, use } (tenant -> custom:tenant_id, which
  // the runtime only cross-checks: tenant membership is the Cognito group tenant:<name>).
  token({ sub, email, tenant, groups = [], use = 'id' }) {
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      sub, iss: this.issuer, token_use: use, iat: now - 5, exp: now + 900,
      'cognito:username': sub, ...(use === 'id' ? { aud: this.clientId, email } : { client_id: this.clientId }),
      ...(tenant ? { 'custom:tenant_id': tenant } : {}),
      ...(groups.length ? { 'cognito:groups': groups } : {}),
    };
    const input = `${b64u(JSON.stringify({ alg: 'RS256', kid: this.jwk.kid, typ: 'JWT' }))}.${b64u(JSON.stringify(claims))}`;
    return `${input}.${b64u(crypto.sign('sha256', Buffer.from(input), this.key))}`;
  }
}

// ---- one API Gateway HTTP API (payload 2.0) event ----

export function apiEvent(method, rawPath, { query = '', token, body, headers = {} } = {}) {
  const h = { accept: 'application/json', host: 'localhost', ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  if (body !== undefined && !h['content-type']) h['content-type'] = 'application/json';
  const params = new URLSearchParams(query);
  return {
    version: '2.0', routeKey: '$default', rawPath, rawQueryString: query, headers: h,
    queryStringParameters: query ? Object.fromEntries(params) : undefined,
    requestContext: {
      http: { method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'scripts/learn' },
      requestId: `learn-${crypto.randomUUID()}`, stage: '$default',
    },
    body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)),
    isBase64Encoded: false,
  };
}

// Parse bootstrap's stderr: one JSON object per line; EMF documents are those with `_aws`.
export function parseLogs(stderr) {
  const objects = [];
  for (const line of stderr.split('\n')) {
    if (!line.trim()) continue;
    try { objects.push(JSON.parse(line)); } catch { objects.push({ unparsed: line }); }
  }
  return {
    logs: objects,
    emf: objects.filter((o) => o && o._aws),
    access: objects.find((o) => o && o.type === 'access'),
  };
}

// Runs one process at a time per slot: the machine may be small and shared.
class Limiter {
  constructor(n) { this.n = n; this.queue = []; }
  async run(fn) {
    if (this.n === 0) await new Promise((r) => this.queue.push(r));
    else this.n--;
    try { return await fn(); } finally {
      const next = this.queue.shift();
      if (next) next(); else this.n++;
    }
  }
}

// The services of one checker run. `bootstrap` is the binary; `jobs` bounds concurrent processes.
export class Harness {
  // repo: the checker's own repository (tests/infra, bench/, recorded data live there).
  constructor({ bootstrap, repo, jobs = 2 }) {
    this.bootstrap = bootstrap;
    this.repo = repo;
    this.limiter = new Limiter(jobs);
    this.issuer = new Issuer();
    this.tables = 0;
    // Each `bootstrap invoke` is a new process: without a shared CURSOR_SECRET a cursor would only
    // be valid in the process that made it (as on Lambda across execution environments).
    this.cursorSecret = crypto.randomBytes(32).toString('hex');
  }

  async start() {
    const dynalite = require('dynalite');
    this.ddbServer = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
    const port = await listen(this.ddbServer);
    this.db = new Dynamo(`http://127.0.0.1:${port}`);
    await this.issuer.start();
  }

  async stop() {
    for (const s of [this.ddbServer, this.issuer.server]) {
      if (!s || !s.listening) continue;
      const closed = new Promise((r) => s.close(r));
      s.closeAllConnections(); // fetch keeps connections alive; do not wait for them to time out
      await closed;
    }
  }

  // Runs a command (no shell) under the process limiter: {code, signal, stdout, stderr, ms}, where
  // ms is the process's own wall time (from spawn to exit, not counting the wait for a slot).
  exec(cmd, args, { env = {}, input, timeoutMs = 30000, cwd } = {}) {
    return this.limiter.run(() => new Promise((resolve, reject) => {
      const t0 = process.hrtime.bigint();
      const child = spawn(cmd, args, { env: { PATH: process.env.PATH, ...env }, cwd });
      let stdout = '';
      let stderr = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.stdout.on('data', (d) => { stdout += d; });
      child.stderr.on('data', (d) => { stderr += d; });
      child.on('error', (e) => { clearTimeout(timer); reject(e); });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout, stderr, ms: Number(process.hrtime.bigint() - t0) / 1e6 });
      });
      child.stdin.on('error', () => {}); // the child may exit before reading everything
      child.stdin.end(input);
    }));
  }

  // A context for one exercise: its own table, the learner's tree at `root`.
  async context(root) {
    const table = `learn-${process.pid}-${++this.tables}`;
    await this.db.createTable(table);
    return new Context(this, root, table);
  }
}

export class Context {
  constructor(harness, root, table) {
    this.h = harness;
    this.repo = harness.repo;
    this.root = root;
    this.table = table;
    this.db = harness.db;
    this.handlersDir = path.join(root, 'learn', 'handlers');
  }

  // A signed id token (see Issuer.token).
  token(user) { return this.h.issuer.token(user); }

  env(extra = {}) {
    return {
      HANDLERS_DIR: this.handlersDir,
      ENVIRONMENT: 'test',
      LOG_LEVEL: 'info',
      TABLE_NAME: this.table,
      DYNAMODB_ENDPOINT: this.db.url,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'learn-local-secret',
      CURSOR_SECRET: this.h.cursorSecret,
      COGNITO_ISSUER: this.h.issuer.issuer,
      USER_POOL_ID: this.h.issuer.poolId,
      CLIENT_ID: this.h.issuer.clientId,
      ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0',
      ...extra,
    };
  }

  // One request through `bootstrap invoke --event -`:
  // {status, headers, body (parsed JSON or the text), raw, stderr, logs, emf, access}.
  async invoke(method, rawPath, opts = {}) {
    const event = apiEvent(method, rawPath, opts);
    const r = await this.h.exec(this.h.bootstrap, ['invoke', '--event', '-'],
      { env: this.env(opts.env), input: JSON.stringify(event) });
    if (r.code !== 0) {
      throw new CheckFailure(`${method} ${rawPath}`, 'bootstrap invoke to produce a response',
        `exit ${r.code ?? r.signal}: ${r.stderr.trim().split('\n').slice(-3).join('\n')}`);
    }
    let res;
    try { res = JSON.parse(r.stdout); } catch {
      throw new CheckFailure(`${method} ${rawPath}`, 'a JSON proxy response on stdout', r.stdout.slice(0, 200));
    }
    let body = res.body;
    try { body = JSON.parse(res.body); } catch { /* empty or not JSON */ }
    return {
      status: res.statusCode, headers: res.headers || {}, body, raw: res.body, stderr: r.stderr,
      ...parseLogs(r.stderr),
    };
  }
}
