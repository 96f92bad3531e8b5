// obs_invoke.mjs - `bootstrap invoke` end to end for observability: for each request, stderr must
// hold only JSON lines, exactly one access line and exactly one spec-valid EMF document, also when
// the handler fails (metrics flushed, Errors5xx = 1, ERROR line with errorType and traceback, no
// trace in the response). Uses the real binary and real handlers written to a temp HANDLERS_DIR.
// Usage: node tests/integration/obs_invoke.mjs <path to bootstrap>
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkOutput } from '../emf_check_lib.mjs';

const bootstrap = process.argv[2] || join(process.env.MB_BUILD_DIR || 'build', 'bootstrap');
const dir = mkdtempSync(join(tmpdir(), 'mb-obs-'));
const files = {
  'routes.lua': `return {
    { "GET", "/ok", "ok" },
    { "GET", "/boom", "boom" },
    { "GET", "/obs", "obs" },
    { "GET", "/obs-fail", "obs_fail" },
  }`,
  'ok.lua': 'return function(req, ctx) return { status = 200, body = { ok = true } } end',
  'boom.lua': `return function(req, ctx)
    local missing = nil
    return missing.field
  end`,
  'obs.lua': `return function(req, ctx)
    ctx.log.info("hello from handler", { password = "Hunter2Hunter2", n = 7 })
    ctx.log.debug("debug detail", { k = "v" })
    ctx.metric("Greetings", 1, "Count")
    ctx.metric("Greetings", 2, "Count")
    return { status = 200, body = { ok = true } }
  end`,
  'obs_fail.lua': `return function(req, ctx)
    ctx.metric("BeforeCrash", 1, "Count")
    error("crashed after the metric")
  end`,
};
for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);

const JWT = 'eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiJhYmMiLCJ0b2tlbl91c2UiOiJpZCJ9.c2lnbmF0dXJlc2lnbmF0dXJl';
function event(path, headers = {}) {
  return JSON.stringify({
    version: '2.0', routeKey: '$default', rawPath: path, rawQueryString: '',
    headers: { accept: 'application/json', host: 'localhost', ...headers },
    requestContext: {
      accountId: '123456789012', apiId: 'local', domainName: 'localhost', stage: '$default',
      http: { method: 'GET', path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' },
      requestId: 'obs-test', routeKey: '$default', time: '25/Nov/2026:13:20:03 +0000', timeEpoch: 1795612803000,
    },
    isBase64Encoded: false,
  });
}

let passed = 0;
let failed = 0;
function check(name, cond, detail = '') {
  if (cond) {
    passed++;
  } else {
    failed++;
    console.error(`FAIL ${name}${detail ? `: ${detail}` : ''}`);
  }
}

function invoke(path, { logLevel = 'info', headers } = {}) {
  const r = spawnSync(bootstrap, ['invoke', '--event', '-'], {
    input: event(path, headers), encoding: 'utf8', timeout: 20000,
    env: { ...process.env, HANDLERS_DIR: dir, LOG_LEVEL: logLevel, ENVIRONMENT: 'test' },
  });
  const out = checkOutput(r.stderr);
  for (const p of out.problems) check(`${path}: stderr`, false, p);
  check(`${path}: exit 0`, r.status === 0, `status ${r.status} ${r.stderr.slice(0, 300)}`);
  let response = {};
  try { response = JSON.parse(r.stdout); } catch { check(`${path}: stdout is JSON`, false, r.stdout.slice(0, 200)); }
  const access = out.objects.filter((o) => o.type === 'access');
  check(`${path}: one access line`, access.length === 1, `${access.length}`);
  check(`${path}: one EMF document`, out.docs.length === 1, `${out.docs.length}`);
  return { r, response, out, access: access[0] || {}, emf: out.docs[0] || {} };
}

try {
  let t = invoke('/ok');
  check('/ok status', t.response.statusCode === 200);
  check('/ok access', t.access.status === 200 && t.access.route === 'GET /ok' && typeof t.access.durationMs === 'number');
  check('/ok emf', t.emf.Route === 'GET /ok' && t.emf.Environment === 'test' && t.emf.Errors5xx === 0 && t.emf.ColdStart === 1);
  check('/ok requestId matches', t.access.requestId && t.access.requestId === t.emf.requestId);

  t = invoke('/boom');
  check('/boom status 500', t.response.statusCode === 500);
  check('/boom no trace in response', !/traceback|boom\.lua/.test(t.r.stdout), t.r.stdout);
  const err = t.out.objects.find((o) => o.level === 'ERROR' && o.type !== 'access');
  check('/boom ERROR line', err && err.errorType && /boom\.lua/.test(err.message || '') && /traceback/.test(err.traceback || ''),
    JSON.stringify(err));
  check('/boom access errorType', t.access.status === 500 && t.access.errorType === err?.errorType);
  check('/boom Errors5xx', t.emf.Errors5xx === 1 && t.emf.Errors4xx === 0);

  t = invoke('/nope');
  check('/nope 404', t.response.statusCode === 404);
  check('/nope UNMATCHED', t.emf.Route === 'UNMATCHED' && t.emf.Errors4xx === 1 && t.access.route === undefined);

  t = invoke('/obs', { logLevel: 'debug', headers: { authorization: `Bearer ${JWT}`, cookie: 'sid=abc123' } });
  const hl = t.out.objects.find((o) => o.message === 'hello from handler');
  check('/obs handler line', hl && hl.level === 'INFO' && hl.n === 7 && hl.requestId === t.access.requestId && hl.route === 'GET /obs',
    JSON.stringify(hl));
  check('/obs password redacted', hl && hl.password === '[REDACTED]' && !t.r.stderr.includes('Hunter2'));
  check('/obs no token anywhere in the logs', !t.r.stderr.includes('eyJhbGci') && !t.r.stderr.includes('abc123'));
  check('/obs debug line at LOG_LEVEL=debug', t.out.objects.some((o) => o.message === 'debug detail'));
  check('/obs metric values', JSON.stringify(t.emf.Greetings) === '[1,2]', JSON.stringify(t.emf));

  t = invoke('/obs', { logLevel: 'error' });
  check('/obs LOG_LEVEL=error drops info', !t.out.objects.some((o) => o.message === 'hello from handler'));

  t = invoke('/obs-fail');
  check('/obs-fail 500', t.response.statusCode === 500);
  check('/obs-fail metric flushed on error', t.emf.BeforeCrash === 1 && t.emf.Errors5xx === 1, JSON.stringify(t.emf));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
