#!/usr/bin/env node
// tests/faults/fault_proxy.mjs - a fault-injecting HTTP proxy for the fault tests (issue 17):
// placed between the bootstrap and dynalite, cognito-local's JWKS or a Runtime API, it forwards
// each request unchanged unless a fault is planned for it. dynalite never throttles, times out or
// resets a connection; this makes it do so, on purpose and per request.
//
// Library use (tests/integration/faults.test.mjs):
//   const p = await startFaultProxy({ target: 'http://127.0.0.1:18000' });
//   p.plan('throttle', 'throttle');   // the next two requests get a throttling answer, then pass
//   p.always('hang');                 // every request from now on (p.always(null): none)
//   p.random({ reset: 0.05, throttle: 0.05 });  // per request, by probability (load runs)
//   p.stats                          // { requests, forwarded, faults: { kind: n } }
//   await p.close();
// Faults (a string, or { kind, ...options }):
//   pass                  forward unchanged (latencyMs: delay before forwarding)
//   latency               forward after ms (default 200)
//   reset-request         destroy the connection once the request arrived (never forwarded)
//   reset-response        forward (the target applies it), send the status line, headers and
//                         half the body, then destroy the connection: the answer is lost
//   hang                  accept and never answer (half-open: the connection stays open)
//   slow                  forward, then hold the answer for ms (default 10000) before sending it
//   status                answer { status (503), body, type } without forwarding
//   throttle              400 ProvisionedThroughputExceededException (not forwarded)
//   throttling            400 ThrottlingException (not forwarded)
//   internal              500 InternalServerError (not forwarded)
//   unavailable           503 ServiceUnavailable (not forwarded)
//   truncate              forward, then send headers announcing the full length and half the
//                         body, then end the connection cleanly (FIN, not RST)
//   garbage               forward, then answer 200 with a non-JSON body of the same length
// A fault with `only: '<text>'` applies only to requests whose path, X-Amz-Target or body
// contains the text (e.g. '/invocation/next', 'UpdateItem', '"S":"COUNT"'); the others pass, and
// a planned one stays queued for the next match.
// A connect failure needs no proxy: point the client at a closed port (closedPort() finds one).
//
// CLI (load runs): node tests/faults/fault_proxy.mjs --listen PORT --target URL
//   [--reset P] [--throttle P] [--stats-file FILE]: random faults with probability P each;
//   on SIGTERM/SIGINT it writes its stats as JSON to FILE (or stdout) and exits.
import http from 'node:http';
import net from 'node:net';

const DDB_ERROR = (type, message) => JSON.stringify({
  __type: `com.amazonaws.dynamodb.v20120810#${type}`, message });

const CANNED = {
  throttle: [400, DDB_ERROR('ProvisionedThroughputExceededException',
    'The level of configured provisioned throughput for the table was exceeded.')],
  throttling: [400, DDB_ERROR('ThrottlingException', 'Rate of requests exceeds the allowed throughput.')],
  internal: [500, DDB_ERROR('InternalServerError', 'Internal server error')],
  unavailable: [503, DDB_ERROR('ServiceUnavailable', 'Service unavailable')],
};

const norm = (f) => (f == null ? null : typeof f === 'string' ? { kind: f } : f);

export async function startFaultProxy({ target, port = 0, host = '127.0.0.1' }) {
  const to = new URL(target);
  const queue = [];
  let standing = null;
  let odds = null;
  const sockets = new Set();
  const stats = { requests: 0, forwarded: 0, faults: {} };

  // Forward req to the target; resolves { status, headers, body } (or rejects on a target error).
  function forward(req, body) {
    stats.forwarded++;
    return new Promise((resolve, reject) => {
      const headers = { ...req.headers, host: to.host };
      const up = http.request({ host: to.hostname, port: to.port, method: req.method,
        path: req.url, headers, agent: false }, (r) => {
        const chunks = [];
        r.on('data', (c) => chunks.push(c));
        r.on('end', () => resolve({ status: r.statusCode, headers: r.headers, body: Buffer.concat(chunks) }));
        r.on('error', reject);
      });
      up.on('error', reject);
      up.end(body);
    });
  }

  const applies = (f, req, body) => !f.only || req.url.includes(f.only) ||
    (req.headers['x-amz-target'] || '').includes(f.only) || body.includes(f.only);

  function pick(req, body) {
    if (queue.length) return applies(queue[0], req, body) ? queue.shift() : { kind: 'pass' };
    if (standing) return applies(standing, req, body) ? standing : { kind: 'pass' };
    if (odds) {
      let x = Math.random();
      for (const [kind, p] of Object.entries(odds)) {
        if (x < p) return { kind };
        x -= p;
      }
    }
    return { kind: 'pass' };
  }

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  function send(res, { status, headers, body }) {
    const h = { ...headers };
    delete h['transfer-encoding'];
    h['content-length'] = String(body.length);
    res.writeHead(status, h);
    res.end(body);
  }

  async function handle(req, res, body) {
    stats.requests++;
    const f = pick(req, body);
    stats.faults[f.kind] = (stats.faults[f.kind] || 0) + 1;
    const sock = req.socket;
    switch (f.kind) {
      case 'pass':
      case 'latency':
        await sleep(f.latencyMs ?? f.ms ?? (f.kind === 'latency' ? 200 : 0));
        return send(res, await forward(req, body));
      case 'reset-request':
        return sock.resetAndDestroy ? sock.resetAndDestroy() : sock.destroy();
      case 'hang':
        return undefined; // the socket stays open until the client gives up or close()
      case 'slow': {
        const up = await forward(req, body);
        await sleep(f.ms ?? 10000);
        if (!sock.destroyed) send(res, up);
        return undefined;
      }
      case 'reset-response':
      case 'truncate': {
        const up = await forward(req, body);
        const h = { ...up.headers };
        delete h['transfer-encoding'];
        h['content-length'] = String(up.body.length);
        res.writeHead(up.status, h);
        res.write(up.body.subarray(0, up.body.length >> 1));
        // Let the partial answer leave before the connection goes.
        setTimeout(() => {
          if (f.kind === 'truncate') sock.end();
          else if (sock.resetAndDestroy) sock.resetAndDestroy();
          else sock.destroy();
        }, 20);
        return undefined;
      }
      case 'garbage': {
        const up = await forward(req, body);
        const junk = Buffer.alloc(Math.max(up.body.length, 16), '{"\u0001<<garbage');
        return send(res, { status: 200, headers: { 'content-type': up.headers['content-type'] || 'application/json' }, body: junk });
      }
      case 'status':
        return send(res, { status: f.status ?? 503, headers: { 'content-type': 'application/x-amz-json-1.0' },
          body: Buffer.from(f.body ?? (f.type ? DDB_ERROR(f.type, f.message || f.type) : '')) });
      default: {
        const canned = CANNED[f.kind];
        if (!canned) throw new Error(`fault_proxy: unknown fault ${f.kind}`);
        return send(res, { status: canned[0], headers: { 'content-type': 'application/x-amz-json-1.0' },
          body: Buffer.from(canned[1]) });
      }
    }
  }

  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks)).catch(() => {
        // The target is down or reset us: the client sees a reset too.
        req.socket.destroy();
      });
    });
  });
  server.keepAliveTimeout = 60000;
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });

  return {
    port: server.address().port,
    url: `http://${host}:${server.address().port}`,
    stats,
    plan(...faults) { queue.push(...faults.map(norm)); },
    always(fault) { standing = norm(fault); },
    random(o) { odds = o; },
    reset() { queue.length = 0; standing = null; odds = null; },
    pending() { return queue.length; },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

// A TCP port with nothing listening on it (bound then closed): connect -> ECONNREFUSED.
export async function closedPort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name, def) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : def;
  };
  const p = await startFaultProxy({ target: arg('target'), port: Number(arg('listen', 0)) });
  const reset = Number(arg('reset', 0));
  const throttle = Number(arg('throttle', 0));
  if (reset || throttle) p.random({ 'reset-response': reset, throttle });
  console.error(`fault_proxy: ${p.url} -> ${arg('target')} (reset ${reset}, throttle ${throttle})`);
  const done = async () => {
    const out = JSON.stringify(p.stats);
    const file = arg('stats-file');
    if (file) (await import('node:fs')).writeFileSync(file, `${out}\n`);
    else console.log(out);
    await p.close();
    process.exit(0);
  };
  process.on('SIGTERM', done);
  process.on('SIGINT', done);
}
