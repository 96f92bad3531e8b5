// tests/integration/devserver_guard.test.mjs - issue 19, findings 6-12, over raw sockets against
// the real devserver and bootstrap: what API Gateway refuses is refused (400/414/431/501) with an
// answer and a log line, never an empty reply or a hang; the access log cannot be forged and
// redacts secrets; one busy client cannot starve another and its 429s do not flood the log; a
// worker's Runtime API port serves that worker only. Also /api/hello counts characters.
// Environment: MB_BUILD_DIR, MB_SOURCE_DIR, MB_DEVSERVER_TEST_PORT (shared with
// integration_devserver: both RUN_SERIAL).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { test, sleep, failures } from './harness.mjs';

const src = process.env.MB_SOURCE_DIR || process.cwd();
const build = path.resolve(src, process.env.MB_BUILD_DIR || 'build');
const port = Number(process.env.MB_DEVSERVER_TEST_PORT || 13001);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mb-guard-'));
const logFile = path.join(tmp, 'devserver.log');

// Send raw bytes, read until the server closes (or `ms` pass): {status, head, body, timedOut}.
function raw(bytes, { localAddress, ms = 5000, toPort = port } = {}) {
  return new Promise((resolve) => {
    const chunks = [];
    let timedOut = false;
    const sock = net.connect({ port: toPort, host: '127.0.0.1', localAddress }, () => sock.write(bytes));
    const timer = setTimeout(() => { timedOut = true; sock.destroy(); }, ms);
    sock.on('data', (d) => chunks.push(d));
    sock.on('error', () => {});
    sock.on('close', () => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks);
      const text = all.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      const end = all.indexOf('\r\n\r\n');
      const head = end < 0 ? text : text.slice(0, end);
      const body = end < 0 ? '' : all.subarray(end + 4).toString('utf8');
      resolve({ status: m ? Number(m[1]) : 0, head, body, timedOut, bytes: all.length });
    });
  });
}

const req = (line, headers = ['Host: localhost'], body = '') =>
  Buffer.concat([Buffer.isBuffer(line) ? line : Buffer.from(line, 'latin1'),
    Buffer.from(` HTTP/1.1\r\n${[...headers, 'Connection: close'].join('\r\n')}\r\n\r\n${body}`, 'latin1')]);

const log = () => fs.readFileSync(logFile, 'latin1');
const accessLines = () => log().split('\n').filter((l) => /^devserver: \S+ 127\.0\.0\.\d+ "/.test(l));

async function start(args) {
  const out = fs.openSync(logFile, 'w');
  const child = spawn(path.join(build, 'devserver'), ['--port', String(port), '--workers', '1',
    '--handlers', path.join(src, 'handlers'), '--bootstrap', path.join(build, 'bootstrap'), ...args],
  { env: { ...process.env, ENVIRONMENT: 'local', AWS_REGION: 'us-east-1', LOG_LEVEL: 'warn',
    ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0' }, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  for (let i = 0; i < 300; i++) {
    const st = await fetch(`http://127.0.0.1:${port}/__devserver/status`).then((r) => r.json()).catch(() => null);
    if (st && st.workers.length === 1 && st.workers[0].ready) return { child, exited };
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error(`devserver did not become ready:\n${log()}`);
}

async function stop(ds) {
  ds.child.kill('SIGTERM');
  const code = await Promise.race([ds.exited, sleep(8000).then(() => 'hung')]);
  assert.equal(code, 0, `devserver exit ${code}:\n${log().slice(-3000)}`);
}

let ds = await start(['--rate', '0']);

await test('finding 6: invalid UTF-8 in path, query or method is a 400, and logged', async () => {
  for (const line of [Buffer.from('GET /api/hello\xff', 'latin1'), Buffer.from('GET /api/hello?name=\xc3', 'latin1'),
    Buffer.from('GET /api/%FF'), Buffer.from('G\xc3\xa9T /api/hello', 'latin1')]) {
    const r = await raw(req(line));
    assert.equal(r.status, 400, `${line.toString('latin1')}: ${r.head}`);
    assert.match(r.body, /"error":"bad_request"/);
  }
  assert.ok(accessLines().some((l) => l.includes('"GET /api/hello\\xff" 400')), log().slice(-2000));
});

await test('finding 7: 1,000 query parameters get an answer; past 8 KB 414, past 10 KB of head 431', async () => {
  const q = Array.from({ length: 1000 }, (_, i) => `a${i}=1`).join('&');
  const r = await raw(req(`GET /api/hello?${q}`));
  assert.ok(r.status >= 200 && r.status < 500, `got ${r.status} (${r.bytes} bytes)`);
  for (const n of [9000, 200000]) {
    const long = await raw(req(`GET /api/hello?${'a&'.repeat(n / 2)}`));
    assert.equal(long.status, 414, `${n}-byte target: ${long.head}`);
  }
  const big = await raw(req('GET /api/hello', ['Host: localhost', `X-Big: ${'v'.repeat(11000)}`]));
  assert.equal(big.status, 431, big.head);
});

await test('finding 8: a 200th header is refused with 431, not dropped', async () => {
  const headers = ['Host: localhost', ...Array.from({ length: 198 }, (_, i) => `X-H${i}: v`), 'Authorization: Bearer abc'];
  const r = await raw(req('GET /api/me', headers));
  assert.equal(r.status, 431, r.head);
  assert.doesNotMatch(r.body, /missing bearer token/);
});

await test('finding 9: ambiguous framing 400, unsupported codings 501, HTTP/1.1 without Host 400', async () => {
  const cases = [
    [['Host: x', 'Content-Length: 2', 'Content-Length: 5'], 'abcde', 400],
    [['Host: x', 'Content-Length: 5', 'Transfer-Encoding: chunked'], '0\r\n\r\n', 400],
    [['Host: x', 'Transfer-Encoding: gzip, chunked'], '0\r\n\r\n', 501],
    [['Host: x', 'Transfer-Encoding: identity'], 'ab', 501],
    [[], '', 400],
    [['Host: a', 'Host: b'], '', 400],
  ];
  for (const [headers, body, status] of cases) {
    const r = await raw(req('POST /api/items', headers, body), { ms: 3000 });
    assert.equal(r.timedOut, false, `${headers}: no answer (hang)`);
    assert.equal(r.status, status, `${headers}: ${r.head}`);
  }
  const ok = await raw(req('POST /api/hello', ['Host: x', 'Transfer-Encoding: chunked'], '0\r\n\r\n'));
  assert.equal(ok.status, 405, 'plain chunked still reaches the API');
});

await test('finding 10: the access log escapes the target and redacts secret query values', async () => {
  await raw(req('GET /api/hello?x="%20200%201B\x1b[31m\rforged&access_token=t0k3n&code=c0d3&name=ok'));
  const line = accessLines().find((l) => l.includes('forged'));
  assert.ok(line, log().slice(-2000));
  assert.equal((line.match(/"/g) || []).length, 2, `only the log's own quotes: ${line}`);
  assert.doesNotMatch(line, /[\x00-\x1f\x7f]/);
  assert.match(line, /\\x22%20200%201B\\x1b\[31m\\x0dforged/);
  assert.match(line, /access_token=REDACTED&code=REDACTED&name=ok/);
  assert.doesNotMatch(log(), /t0k3n|c0d3/);
});

await test('/api/hello counts characters, not bytes', async () => {
  const emoji = encodeURIComponent('\u{1F600}'.repeat(20));
  const r = await raw(req(`GET /api/hello?name=${emoji}`));
  assert.equal(r.status, 200, r.body);
  assert.ok(JSON.parse(r.body).message.includes('\u{1F600}'.repeat(20)));
  const long = await raw(req(`GET /api/hello?name=${encodeURIComponent('\u00e9'.repeat(65))}`));
  assert.equal(long.status, 400);
  assert.match(long.body, /at most 64 characters/);
});

await test('finding 12: a worker\'s Runtime API port refuses every process but the worker', async () => {
  const m = /AWS_LAMBDA_RUNTIME_API=127\.0\.0\.1:(\d+)/.exec(log());
  assert.ok(m, 'the worker port is logged');
  const rt = Number(m[1]);
  const next = await raw(Buffer.from('GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n'), { toPort: rt, ms: 3000 });
  assert.equal(next.timedOut, false, 'closed at once, not held waiting for an invocation');
  assert.equal(next.status, 0, `no Runtime API answer: ${next.head}`);
  const inject = await raw(Buffer.from('POST /2018-06-01/runtime/invocation/x/response HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}'), { toPort: rt, ms: 3000 });
  assert.equal(inject.status, 0);
  assert.match(log(), /Runtime API port \d+: refused a connection/);
  const r = await fetch(`http://127.0.0.1:${port}/api/hello?name=still`);
  assert.equal(r.status, 200, 'the worker itself still serves');
});

await stop(ds);
ds = await start(['--rate', '4', '--burst', '4']); // per client: half, 2 per second, burst 2

await test('finding 11: a busy client is throttled alone; its 429 lines are rate-limited', async () => {
  const get = (ip) => raw(req('GET /api/hello'), { localAddress: ip });
  const busy = [];
  const t0 = Date.now(); // 1.5 s of back-to-back requests: past the log gate's one second
  while (Date.now() - t0 < 1500) busy.push((await get('127.0.0.2')).status);
  const other = [];
  for (let i = 0; i < 2; i++) other.push((await get('127.0.0.3')).status);
  const refused = busy.filter((s) => s === 429).length;
  assert.ok(busy.filter((s) => s === 200).length <= 6, `busy client: ${busy}`); // 2 + 2/s
  assert.ok(refused >= 5, `busy client: ${busy}`);
  assert.deepEqual(other.filter((s) => s !== 200), [], `the other client: ${other}`);
  const lines429 = accessLines().filter((l) => l.includes('" 429 '));
  assert.ok(lines429.length <= 3, `${lines429.length} 429 lines for ${refused} refusals`);
  assert.match(log(), /throttling: \d+ more requests answered 429/);
});

await stop(ds);
fs.rmSync(tmp, { recursive: true, force: true });
if (failures) {
  console.log(`${failures} test(s) failed`);
  process.exit(1);
}
console.log('all devserver guard tests passed');
