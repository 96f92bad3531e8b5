// obs_node.mjs - the Node.js way of one invocation's observability work, for bench/run-obs:
// a JSON logger class (JSON.stringify per line, key and token redaction, LOG_LEVEL filter, one
// fs.writeSync per line) and aws-embedded-metrics (createMetricsLogger, setDimensions, putMetric,
// setProperty, flush) writing through its Lambda console sink. Same steps as bench/obs_bench.c.
// Run with stdout to /dev/null: `node bench/obs_node.mjs [iterations] >/dev/null`; the result is
// one JSON object on stderr.
import { openSync, writeSync } from 'node:fs';
// The library resolves its environment when it is loaded: configure it first, then import it.
process.env.AWS_EMF_ENVIRONMENT ??= 'Lambda';
process.env.AWS_EMF_NAMESPACE ??= 'ServerlessApp';
const { createMetricsLogger, Unit } = await import('aws-embedded-metrics');

const LEVELS = { debug: 0, info: 1, warn: 2, error: 3 };
const SECRET_KEY = /authorization|password|passwd|secret|token|cookie|credential|api[-_]?key|private_?key|session|signature/i;
const JWT = /eyJ[A-Za-z0-9_-]{7,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*/g;
const BEARER = /\b(Bearer|Basic) [A-Za-z0-9._~+\/=-]{8,}/gi;

class JsonLogger {
  constructor(level, fd) {
    this.level = LEVELS[level];
    this.fd = fd;
    this.ctx = {};
  }
  begin(ctx) { this.ctx = ctx; }
  end() { this.ctx = {}; }
  static clean(v) { return typeof v === 'string' ? v.replace(JWT, '[REDACTED]').replace(BEARER, '$1 [REDACTED]') : v; }
  write(level, message, fields = {}) {
    if (LEVELS[level] < this.level) return;
    const line = { timestamp: new Date().toISOString(), level: level.toUpperCase(), message: JsonLogger.clean(message), ...this.ctx };
    for (const [k, v] of Object.entries(fields)) {
      line[k in line ? `_${k}` : k] = SECRET_KEY.test(k) ? '[REDACTED]' : JsonLogger.clean(v);
    }
    writeSync(this.fd, JSON.stringify(line) + '\n');
  }
  access(a) {
    this.write(a.status >= 500 ? 'error' : a.status >= 400 ? 'warn' : 'info', `${this.ctx.route} ${a.status}`,
      { type: 'access', status: a.status, durationMs: a.durationMs, requestBytes: a.requestBytes, responseBytes: a.responseBytes });
  }
}

async function invocation(log, i) {
  const requestId = `c0ffee00-0000-4000-8000-${String(i).padStart(12, '0')}`;
  const traceId = 'Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1';
  log.begin({ requestId, traceId, method: 'GET', path: '/items/01HF7Z3K9Q', route: 'GET /items/{id}',
    tenant: 'tenant-42', userId: '8f3e2a1c-1111-2222-3333-444455556666', coldStart: i === 0 });
  const metrics = createMetricsLogger();
  metrics.setDimensions([{ Environment: 'bench' }, { Environment: 'bench', Route: 'GET /items/{id}' }]);
  metrics.setProperty('requestId', requestId);
  metrics.setProperty('traceId', traceId);
  const fields = { itemId: '01HF7Z3K9Q', version: 3, cached: false, authorization: 'Bearer eyJhbGciOi.eyJzdWIi.sig' };
  log.write('info', 'item loaded', fields);
  log.write('debug', 'cache miss', { itemId: fields.itemId });
  metrics.putMetric('ItemsRead', 1, Unit.Count);
  metrics.putMetric('DbLatency', 4.5, Unit.Milliseconds);
  log.access({ status: 200, durationMs: 5.125, requestBytes: 0, responseBytes: 312 });
  metrics.putMetric('Latency', 5.125, Unit.Milliseconds);
  metrics.putMetric('ColdStart', i === 0 ? 1 : 0, Unit.Count);
  metrics.putMetric('Errors4xx', 0, Unit.Count);
  metrics.putMetric('Errors5xx', 0, Unit.Count);
  await metrics.flush();
  log.end();
}

const iters = Number(process.argv[2] || 50000);
const log = new JsonLogger('info', openSync('/dev/null', 'w'));
for (let i = 0; i < Math.max(1000, iters / 10); i++) await invocation(log, i); // JIT warm-up
const t0 = process.hrtime.bigint();
for (let i = 0; i < iters; i++) await invocation(log, i);
const ns = Number(process.hrtime.bigint() - t0) / iters;
process.stderr.write(JSON.stringify({ impl: 'node', iterations: iters, nsPerInvocation: Math.round(ns) }) + '\n');
