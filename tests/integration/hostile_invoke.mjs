// hostile_invoke.mjs - the hostile-handler suite through `bootstrap invoke`: each handler of the
// issue's list (collector stopped + allocation churn, allocation loop, table.concat/string.rep
// chain, deep string.format, coroutine bombs, a CPU-heavy C call) must answer a 500 with
// errorType CpuBudget in the log and Errors5xx = 1 in the EMF document, with the whole process
// (less what starting and answering a trivial route costs) using at most twice the route's
// cpu_ms of CPU time; a route without cpu_ms
// gets the platform default (MOONBASE_CPU_MS), and a memory bomb gets a clean 500
// (MemoryLimitExceeded). CPU time is what bash's `time` reports for the child (user + sys), so a
// loaded machine stretches the wall clock but not the figure.
// Usage: node tests/integration/hostile_invoke.mjs <path to bootstrap>
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const bootstrap = process.argv[2] || join(process.env.MB_BUILD_DIR || 'build', 'bootstrap');
const dir = mkdtempSync(join(tmpdir(), 'mb-hostile-'));
const CPU_MS = 300;
const handlers = {
  gc_churn: `pcall(collectgarbage, "stop")
    while true do local _ = { string.rep("y", 4096) } end`,
  alloc_loop: 'while true do local _ = { string.rep("y", 4096) } end',
  concat_chain: `local t = {} for i = 1, 20000 do t[i] = string.rep("ab", 100) end
    while true do local s = table.concat(t) end`,
  rep_chain: 'while true do local s = "x" for i = 1, 22 do s = s:rep(2) end end',
  format_deep: `local function f(n) if n == 0 then return "" end
      return string.format("%s%5.2f|%q", f(n - 1), n / 3, ("z"):rep(n)) end
    while true do f(150) end`,
  coroutine_bomb: `local function bomb(n)
      local co = coroutine.create(function() while true do pcall(bomb, n + 1) end end)
      coroutine.resume(co)
    end
    while true do pcall(bomb, 0) end`,
  coroutine_wrap: `while true do
      local co = coroutine.wrap(function() while true do coroutine.yield(("z"):rep(1000)) end end)
      for i = 1, 100 do co() end
    end`,
  sort_c: `local u = {} for i = 1, 50000 do u[i] = tostring((i * 7919) % 50021) end
    while true do table.sort(u) end`,
  spin_default: 'local x = 0 while true do x = x + 1 end',
  ok: 'return { status = 200, body = { ok = true } }',
  memory_bomb: 'local t = {} for i = 1, 1e9 do t[i] = string.rep("x", 4096) .. i end',
};
const routes = Object.keys(handlers).map((name) =>
  ['spin_default', 'memory_bomb', 'ok'].includes(name)
    ? `{ "GET", "/${name}", "${name}" },`
    : `{ "GET", "/${name}", "${name}", cpu_ms = ${CPU_MS} },`);
writeFileSync(join(dir, 'routes.lua'), `return {\n${routes.join('\n')}\n}\n`);
for (const [name, body] of Object.entries(handlers)) {
  writeFileSync(join(dir, `${name}.lua`), `return function(req, ctx)\n${body}\nend\n`);
}

function event(path) {
  return JSON.stringify({
    version: '2.0', routeKey: '$default', rawPath: path, rawQueryString: '', headers: {},
    requestContext: { http: { method: 'GET', path, sourceIp: '203.0.113.7' }, requestId: 'r' },
    isBase64Encoded: false,
  });
}

// Run one event; returns { response, logs, cpuMs } with cpuMs the child's user + sys time.
function invoke(path, env) {
  const evFile = join(dir, 'event.json');
  writeFileSync(evFile, event(path));
  const r = spawnSync('bash', ['-c',
    'TIMEFORMAT="%3U %3S"; { time "$0" invoke --event "$1" >"$2" 2>"$3"; } 2>"$4"',
    bootstrap, evFile, join(dir, 'out'), join(dir, 'err'), join(dir, 'time')], {
    env: { ...process.env, HANDLERS_DIR: dir, ENVIRONMENT: 'test', ...env },
    timeout: 120000,
  });
  if (r.status !== 0) throw new Error(`${path}: exit ${r.status}: ${readFileSync(join(dir, 'err'), 'utf8').slice(0, 500)}`);
  const [user, sys] = readFileSync(join(dir, 'time'), 'utf8').trim().split(/\s+/).map(Number);
  const logs = readFileSync(join(dir, 'err'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  return { response: JSON.parse(readFileSync(join(dir, 'out'), 'utf8')), logs, cpuMs: (user + sys) * 1000 };
}

let failures = 0;
function check(name, cond, why) {
  if (!cond) {
    failures++;
    console.error(`FAIL ${name}: ${why}`);
  }
}

function expectCut(name, errorType, budgetMs, env) {
  const { response, logs, cpuMs } = invoke(`/${name}`, env);
  console.log(`${name}: ${response.statusCode} after ${(cpuMs - baseMs).toFixed(0)} ms CPU (budget ${budgetMs})`);
  check(name, response.statusCode === 500, `status ${response.statusCode}`);
  check(name, JSON.parse(response.body).error === 'internal', `body ${response.body}`);
  check(name, logs.some((l) => l.errorType === errorType), `no errorType ${errorType} in the log`);
  const emf = logs.find((l) => l._aws);
  check(name, emf && emf.Errors5xx === 1, 'no Errors5xx = 1 in the EMF document');
  const handlerMs = cpuMs - baseMs;
  if (errorType === 'CpuBudget') check(name, handlerMs <= 2 * budgetMs, `${handlerMs} ms CPU > 2 x ${budgetMs}`);
}

let baseMs = 0;
try {
  // What a process costs without a hostile handler: start-up (ASan's included) and one answer.
  const base = [0, 1, 2].map(() => invoke('/ok'));
  check('ok', base.every((b) => b.response.statusCode === 200), 'the trivial route failed');
  baseMs = Math.min(...base.map((b) => b.cpuMs));
  console.log(`start-up + trivial route: ${baseMs.toFixed(0)} ms CPU`);
  for (const name of Object.keys(handlers)) {
    if (['spin_default', 'memory_bomb', 'ok'].includes(name)) continue;
    expectCut(name, 'CpuBudget', CPU_MS);
  }
  // No cpu_ms on the route: the platform default applies (here set to 400 ms).
  expectCut('spin_default', 'CpuBudget', 400, { MOONBASE_CPU_MS: '400' });
  // The memory cap per invocation: a clean 500, not an OOM kill (a generous CPU budget, so the
  // memory limit is what trips).
  expectCut('memory_bomb', 'MemoryLimitExceeded', 0, { MOONBASE_CPU_MS: '5000' });
  // A cpu_ms above the platform maximum refuses to start, naming the route.
  const r = spawnSync(bootstrap, ['invoke', '--event', '-'], {
    input: event('/alloc_loop'),
    env: { ...process.env, HANDLERS_DIR: dir, MOONBASE_CPU_MS: '100', MOONBASE_CPU_MAX_MS: '200' },
  });
  check('cpu_max', r.status !== 0 && /above the platform maximum 200/.test(r.stderr.toString()),
    `exit ${r.status}: ${r.stderr}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
if (failures) {
  console.error(`${failures} failure(s)`);
  process.exit(1);
}
console.log('hostile_invoke: all handlers cut within their budgets');
