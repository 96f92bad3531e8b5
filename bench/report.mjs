// bench/report.mjs - turns the JSON that the bench/run-* scripts leave in one directory into
// bench/results.md (machine, date, commit, one table per comparison: C, Node, Node/C, with the
// min / median / max of the rounds) and an SVG bar chart of the Node/C ratios against the goals.
// No network and no dependencies: the SVG is written as text.
//   node bench/report.mjs DIR [--md FILE] [--svg FILE] [--notes FILE]
//                      write results.md and the chart (default DIR/results.md, DIR/results.svg);
//                      results.md links the chart by its relative path and ends with FILE
//   node bench/report.mjs --section NAME DIR   print one section's table (the run-* scripts)
// Inputs in DIR (each optional; a missing one leaves its section out): meta.json (bench/run),
// coldstart.json (run-coldstart), warm.json and memory.json (run-devserver), micro-*.json
// (run-jwt, run-marshal, run-obs: {"rows": [{name, unit, c, node, goal?}]}).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, dirname } from 'node:path';

// The goals of issue 18, as Node/C ratios (higher is better for C).
const GOALS = { coldstart: 40, warmCpu: 5, rss: 8 };

const sorted = (a) => [...a].sort((x, y) => x - y);
function median(a) {
  const s = sorted(a);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
const min = (a) => Math.min(...a);
const max = (a) => Math.max(...a);
function fmt(v, digits) {
  if (!Number.isFinite(v)) return 'n/a';
  if (digits === undefined) digits = Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2;
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
const spread = (a, d) => `${fmt(median(a), d)} (${fmt(min(a), d)}–${fmt(max(a), d)})`;
const verdict = (ratio, goal) => (ratio >= goal ? `met (≥ ${goal}x)` : `**missed** (goal ${goal}x: ${fmt(ratio / goal * 100, 0)}% of it)`);
// Per-round ratios: round i of one side against round i of the other (they ran back to back).
const ratios = (num, den) => num.map((v, i) => v / den[i]);

function load(dir, name) {
  if (name === 'micro.json') { // the micro-benchmarks' rows, in a fixed order
    const rows = ['jwt', 'marshal', 'obs'].flatMap((m) => load(dir, `micro-${m}.json`)?.rows ?? []);
    return rows.length ? { rows } : null;
  }
  const f = join(dir, name);
  return existsSync(f) ? JSON.parse(readFileSync(f, 'utf8')) : null;
}

// Every ratio the chart shows: { group, label, value, goal|null }.
function ratioRows(dir) {
  const rows = [];
  const cold = load(dir, 'coldstart.json');
  for (const r of cold?.routes ?? []) {
    rows.push({ group: 'cold start', label: r.route, value: median(r.node.roundMediansMs) / median(r.c.roundMediansMs), goal: GOALS.coldstart });
  }
  const warm = load(dir, 'warm.json');
  for (const r of warm?.routes ?? []) {
    rows.push({ group: 'warm CPU / request', label: r.route, value: median(r.node.map((x) => x.cpuUsPerReq)) / median(r.c.map((x) => x.cpuUsPerReq)), goal: GOALS.warmCpu });
  }
  const mem = load(dir, 'memory.json');
  if (mem) rows.push({ group: 'warm worker RSS', label: 'peak RSS', value: mem.node.hwmKb / mem.c.hwmKb, goal: GOALS.rss });
  for (const r of load(dir, 'micro.json')?.rows ?? []) {
    rows.push({ group: 'micro-benchmarks', label: r.name, value: r.node / r.c, goal: r.goal ?? null });
  }
  return rows;
}

function sectionColdstart(dir) {
  const d = load(dir, 'coldstart.json');
  if (!d) return null;
  const L = [];
  L.push(`### Cold start: one process per event`);
  L.push('');
  L.push(`Wall time from exec to exit of \`bootstrap invoke --event FILE\` (C) and of \`node bench/node_peer/invoke.mjs FILE\` (Node.js), same event, same local services; ${d.rounds} rounds of ${d.runsPerRound} runs per side (hyperfine), the sides taking turns. Each time cell: median of the round medians (min–max of the round medians); CPU: user + system time of one run (median over the rounds of each round's mean), which a busy machine inflates less than wall time.`);
  L.push('');
  L.push('| route | C ms | Node ms | Node / C (min–max of rounds) | goal | C CPU ms | Node CPU ms | Node / C CPU | C peak RSS MB | Node peak RSS MB |');
  L.push('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of d.routes) {
    const c = r.c.roundMediansMs;
    const n = r.node.roundMediansMs;
    const ratio = median(n) / median(c);
    const rr = ratios(n, c);
    L.push(`| ${r.route} | ${spread(c)} | ${spread(n)} | **${fmt(ratio, 1)}x** (${fmt(min(rr), 1)}–${fmt(max(rr), 1)}) | ${verdict(ratio, GOALS.coldstart)} | ${fmt(median(r.c.roundCpuMs))} | ${fmt(median(r.node.roundCpuMs))} | ${fmt(median(r.node.roundCpuMs) / median(r.c.roundCpuMs), 1)}x | ${fmt(median(r.c.peakRssKb) / 1024, 1)} | ${fmt(median(r.node.peakRssKb) / 1024, 1)} |`);
  }
  return L.join('\n');
}

function sectionWarm(dir) {
  const d = load(dir, 'warm.json');
  if (!d) return null;
  const L = [];
  L.push('### Warm: request for request through the devserver');
  L.push('');
  L.push(`The same devserver (API Gateway + Lambda Runtime API emulator, one worker) drives once the C \`bootstrap\` (in production mode, as on Lambda: no hot reload of the handler files) and once the Node.js peer (${d.nodeWorker}). Load: \`wrk -t1 -c${d.connections} -d${d.seconds}s\` per route and side, ${d.rounds} round(s), the sides taking turns. CPU / request = user + system time of the worker process over the run (from /proc/PID/stat) divided by the requests wrk completed. Each cell: median of the rounds (min–max).`);
  L.push('');
  L.push('| route | C req/s | Node req/s | C p50 / p99 ms | Node p50 / p99 ms | C CPU µs/req | Node CPU µs/req | Node / C CPU | goal |');
  L.push('|---|---|---|---|---|---|---|---|---|');
  for (const r of d.routes) {
    const g = (side, k) => r[side].map((x) => x[k]);
    const cc = g('c', 'cpuUsPerReq');
    const nc = g('node', 'cpuUsPerReq');
    const ratio = median(nc) / median(cc);
    const rr = ratios(nc, cc);
    L.push(`| ${r.route} | ${spread(g('c', 'rps'), 0)} | ${spread(g('node', 'rps'), 0)} | ${fmt(median(g('c', 'p50')), 2)} / ${fmt(median(g('c', 'p99')), 2)} | ${fmt(median(g('node', 'p50')), 2)} / ${fmt(median(g('node', 'p99')), 2)} | ${spread(cc, 0)} | ${spread(nc, 0)} | **${fmt(ratio, 1)}x** (${fmt(min(rr), 1)}–${fmt(max(rr), 1)}) | ${verdict(ratio, GOALS.warmCpu)} |`);
  }
  if (d.devserverCpuUsPerReq) {
    L.push('');
    L.push(`For scale: the devserver itself (API Gateway + emulator, C) spent a median ${fmt(median(d.devserverCpuUsPerReq.c), 0)} µs of CPU per request in the C runs and ${fmt(median(d.devserverCpuUsPerReq.node), 0)} µs in the Node runs; wrk ran on the same cores.`);
  }
  return L.join('\n');
}

function sectionMemory(dir) {
  const d = load(dir, 'memory.json');
  if (!d) return null;
  const L = [];
  const ratio = d.node.hwmKb / d.c.hwmKb;
  L.push('### Memory: one warm worker');
  L.push('');
  L.push(`Peak RSS (VmHWM) of the one devserver worker after the warm runs above (C: ${fmt(d.c.requests, 0)} requests, Node: ${fmt(d.node.requests, 0)}).`);
  L.push('');
  L.push('| | C | Node | Node / C | goal |');
  L.push('|---|---|---|---|---|');
  L.push(`| peak RSS (VmHWM) | ${fmt(d.c.hwmKb / 1024, 1)} MB | ${fmt(d.node.hwmKb / 1024, 1)} MB | **${fmt(ratio, 1)}x** | ${verdict(ratio, GOALS.rss)} |`);
  L.push(`| RSS now | ${fmt(d.c.rssKb / 1024, 1)} MB | ${fmt(d.node.rssKb / 1024, 1)} MB | ${fmt(d.node.rssKb / d.c.rssKb, 1)}x | |`);
  if (d.c.rollup && d.node.rollup) {
    for (const [k, label] of [['Pss', 'PSS (shared pages split)'], ['Private_Dirty', 'private dirty'], ['Anonymous', 'anonymous']]) {
      L.push(`| ${label} | ${fmt(d.c.rollup[k] / 1024, 1)} MB | ${fmt(d.node.rollup[k] / 1024, 1)} MB | ${fmt(d.node.rollup[k] / d.c.rollup[k], 1)}x | |`);
    }
  }
  if (d.c.groups) {
    const sum = (rows, k) => rows.reduce((a, x) => a + x[k], 0);
    const top = d.c.groups.slice(0, 14);
    const rest = d.c.groups.slice(14);
    if (rest.length) top.push({ name: `${rest.length} other mappings`, rssKb: sum(rest, 'rssKb'), privateKb: sum(rest, 'privateKb'), sharedKb: sum(rest, 'sharedKb') });
    L.push('');
    L.push('Where the C worker\'s RSS goes (/proc/PID/smaps, grouped by mapping; shared = pages other processes map too, e.g. libc):');
    L.push('');
    L.push('| mapping | RSS kB | private kB | shared kB |');
    L.push('|---|---|---|---|');
    for (const g of top) L.push(`| ${g.name} | ${fmt(g.rssKb, 0)} | ${fmt(g.privateKb, 0)} | ${fmt(g.sharedKb, 0)} |`);
    // What the runtime itself links or calls; every other library is in the process only because
    // Debian's libcurl4-openssl links it (GnuTLS via librtmp, Kerberos, LDAP, SSH, IDN, PSL...).
    const own = /^(the executable|\[|libc\.so|libm\.so|ld-linux|libcrypto\.so|libssl\.so|libcurl\.so|libjansson\.so|libz\.so|libnghttp2\.so|libasan\.so|libubsan\.so|libstdc\+\+\.so|libgcc_s\.so)/;
    const extra = d.c.groups.filter((g) => !own.test(g.name));
    const extraKb = sum(extra, 'rssKb');
    L.push('');
    L.push(`${extra.length} of the mapped libraries are there only because Debian's libcurl links them (${extra.slice(0, 6).map((g) => g.name.replace(/\.so$/, '')).join(', ')}, ...; the runtime uses none of them): ${fmt(extraKb / 1024, 1)} MB of the C worker's RSS. Without them the peak would be about ${fmt((d.c.hwmKb - extraKb) / 1024, 1)} MB, Node / C about ${fmt(d.node.hwmKb / (d.c.hwmKb - extraKb), 1)}x (an estimate from the mappings, not a measurement).`);
  }
  if (d.c.luaHeapKb !== undefined) {
    L.push('');
    L.push(`Lua heap of the warm C worker (the state's own allocator count, read from the worker): ${fmt(d.c.luaHeapKb, 0)} kB.`);
  }
  if (d.trials?.length) {
    L.push('');
    L.push('Cheap changes tried on the C worker: each a fresh devserver and worker under the same load (wrk, the same seconds per route), peak RSS after it:');
    L.push('');
    L.push('| variant | peak RSS MB | vs baseline |');
    L.push('|---|---|---|');
    const base = d.trials[0].hwmKb;
    for (const t of d.trials) L.push(`| ${t.name} | ${fmt(t.hwmKb / 1024, 2)} | ${fmt((t.hwmKb - base) / 1024, 2)} MB |`);
  }
  return L.join('\n');
}

function sectionMicro(dir) {
  const d = load(dir, 'micro.json');
  if (!d) return null;
  const L = [];
  L.push('### Micro-benchmarks (bench/run-jwt, run-marshal, run-obs)');
  L.push('');
  L.push('In-process costs of the hot parts, each against its Node.js library in the same run; each script takes the fastest (jwt, marshal) or median (obs) of its own rounds.');
  L.push('');
  L.push('| what | unit | C | Node | Node / C | goal |');
  L.push('|---|---|---|---|---|---|');
  for (const r of d.rows) {
    const ratio = r.node / r.c;
    L.push(`| ${r.name} | ${r.unit} | ${fmt(r.c)} | ${fmt(r.node)} | **${fmt(ratio, 1)}x** | ${r.goal ? verdict(ratio, r.goal) : ''} |`);
  }
  return L.join('\n');
}

const SECTIONS = { coldstart: sectionColdstart, warm: sectionWarm, memory: sectionMemory, micro: sectionMicro };

// ---- the chart ----

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

// A horizontal bar per ratio on a log scale (1x..10^k), grouped, with the goal as a tick.
function chartSvg(rows, title) {
  const W = 760;
  const left = 230;
  const right = 70;
  const barH = 18;
  const gap = 6;
  const groupGap = 26;
  const top = 56;
  const plotW = W - left - right;
  const hi = Math.max(10, ...rows.map((r) => r.value), ...rows.map((r) => r.goal ?? 0));
  const decades = Math.ceil(Math.log10(hi) + 0.05);
  const x = (v) => left + (Math.log10(Math.max(1, v)) / decades) * plotW;
  const out = [];
  let y = top;
  let group = null;
  for (const r of rows) {
    if (r.group !== group) {
      if (group !== null) y += groupGap - gap;
      group = r.group;
      out.push(`<text x="12" y="${y + 12}" class="group">${esc(group)}</text>`);
      y += 20;
    }
    const met = r.goal == null || r.value >= r.goal;
    out.push(`<text x="${left - 8}" y="${y + 13}" class="label" text-anchor="end">${esc(r.label)}</text>`);
    out.push(`<rect x="${left}" y="${y}" width="${Math.max(1, x(r.value) - left).toFixed(1)}" height="${barH}" class="${met ? 'met' : 'missed'}"/>`);
    const end = Math.max(x(r.value), r.goal != null && Math.abs(x(r.goal) - x(r.value)) < 40 ? x(r.goal) : 0);
    out.push(`<text x="${(end + 5).toFixed(1)}" y="${y + 13}" class="value">${esc(fmt(r.value, r.value >= 100 ? 0 : 1))}x</text>`);
    if (r.goal != null) {
      const gx = x(r.goal).toFixed(1);
      out.push(`<line x1="${gx}" x2="${gx}" y1="${y - 2}" y2="${y + barH + 2}" class="goal"/>`);
    }
    y += barH + gap;
  }
  const H = y + 44;
  const grid = [];
  for (let k = 0; k <= decades; k++) {
    const gx = x(10 ** k).toFixed(1);
    grid.push(`<line x1="${gx}" x2="${gx}" y1="${top - 6}" y2="${y}" class="grid"/>`);
    grid.push(`<text x="${gx}" y="${y + 16}" class="axis" text-anchor="middle">${10 ** k}x</text>`);
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif">
<style>
.title{font-size:15px;font-weight:bold;fill:#111}.sub{font-size:11px;fill:#555}.group{font-size:12px;font-weight:bold;fill:#333}
.label{font-size:12px;fill:#222}.value{font-size:11px;fill:#222}.axis{font-size:10px;fill:#666}
.met{fill:#2e7d32}.missed{fill:#e65100}.goal{stroke:#111;stroke-width:2}.grid{stroke:#ddd;stroke-width:1}
</style>
<rect width="100%" height="100%" fill="#fff"/>
<text x="12" y="22" class="title">${esc(title)}</text>
<text x="12" y="40" class="sub">How many times more the Node.js peer takes than Moonbase (C); log scale. Black tick: the goal. Green: goal met; orange: missed.</text>
${grid.join('\n')}
${out.join('\n')}
<text x="12" y="${H - 10}" class="sub">bench/results.md has the figures behind each bar (min / median / max of the rounds).</text>
</svg>
`;
}

// ---- results.md ----

function metaLines(meta) {
  if (!meta) return [];
  return [
    `- date: ${meta.date}`,
    `- commit: \`${meta.commit}\`${meta.dirty ? ' (with uncommitted changes)' : ''}`,
    `- machine: ${meta.cpu}, ${meta.cpus} CPUs, ${meta.memory}, ${meta.os}, kernel ${meta.kernel}`,
    `- toolchain: ${meta.cc}; Node.js ${meta.node}`,
    `- mode: ${meta.quick ? '`--quick` (short runs: indicative only)' : 'full'}; load average ${meta.loadBefore} before, ${meta.loadAfter} after`,
    ...(meta.shared ? [`- the machine was **shared** with other work during the run: absolute times are noisy; the ratios come from rounds in which C and Node took turns, so a slow spell hits one round of one side rather than the comparison`] : []),
  ];
}

function resultsMd(dir, svgHref, notesFile) {
  const meta = load(dir, 'meta.json');
  const L = ['# Benchmark results (generated by `make bench`; do not edit by hand)', ''];
  L.push(...metaLines(meta), '');
  const rows = ratioRows(dir);
  if (rows.length && svgHref) L.push(`![Node.js / Moonbase ratios](${svgHref})`, '');
  const goalRows = rows.filter((r) => r.goal != null && r.group !== 'micro-benchmarks');
  if (goalRows.length) {
    L.push('## Goals (issue 18)', '');
    L.push('| comparison | Node / C | goal | |');
    L.push('|---|---|---|---|');
    for (const r of goalRows) L.push(`| ${r.group}, ${r.label} | ${fmt(r.value, 1)}x | ≥ ${r.goal}x | ${r.value >= r.goal ? 'met' : `**missed** by ${fmt(r.goal / r.value, 2)}x`} |`);
    L.push('');
  }
  L.push('## Tables', '');
  for (const name of Object.keys(SECTIONS)) {
    const s = SECTIONS[name](dir);
    if (s) L.push(s, '');
  }
  if (notesFile) L.push(readFileSync(notesFile, 'utf8').trim(), '');
  return L.join('\n');
}

function main(argv) {
  const args = [...argv];
  const opt = (name) => {
    const i = args.indexOf(name);
    if (i < 0) return undefined;
    const v = args[i + 1];
    args.splice(i, 2);
    return v;
  };
  const section = opt('--section');
  const md = opt('--md');
  const svg = opt('--svg');
  const notes = opt('--notes');
  const dir = args[0];
  if (!dir || !existsSync(dir)) {
    process.stderr.write('usage: node bench/report.mjs DIR [--md FILE] [--svg FILE] [--notes FILE] | --section NAME DIR\n');
    process.exit(2);
  }
  if (section) {
    const fn = SECTIONS[section];
    if (!fn) { process.stderr.write(`report: no section ${section}\n`); process.exit(2); }
    process.stdout.write((fn(dir) ?? `(no ${section} results in ${dir})`) + '\n');
    return;
  }
  const mdFile = md ?? join(dir, 'results.md');
  const svgFile = svg ?? join(dir, 'results.svg');
  const meta = load(dir, 'meta.json');
  writeFileSync(svgFile, chartSvg(ratioRows(dir), `Moonbase (C) vs Node.js peer${meta ? `, ${meta.date.slice(0, 10)}, ${meta.commit.slice(0, 9)}` : ''}${meta?.quick ? ' (quick run)' : ''}`));
  writeFileSync(mdFile, resultsMd(dir, relative(dirname(mdFile), svgFile), notes));
  process.stdout.write(`report: wrote ${mdFile} and ${svgFile}\n`);
}

main(process.argv.slice(2));
