#!/usr/bin/env bash
# tests/integration/bench_quick.sh - `bench/run --quick` on a tiny run (cold start and warm: one
# round of one run per route and side, one second of load per route and side), then checks what it
# wrote: results.md with every table (3 cold-start routes, 4 warm routes, the memory table) and a
# finite Node/C ratio in each row, and results.svg with one bar per ratio. It checks that the
# pipeline works (the Node.js peer answers like the C worker, the scripts parse wrk, hyperfine and
# /proc, the report renders), not the figures. Environment: MB_BUILD_DIR (the build to run),
# BENCH_DYNAMODB_PORT, BENCH_COGNITO_PORT, BENCH_PORT (its own services and devservers; see
# tests/CMakeLists.txt).
set -euo pipefail
cd "$(dirname "$0")/../.."
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
COLD_ROUNDS=1 COLD_RUNS=1 COLD_WARMUP=0 WARM_ROUNDS=1 BENCH_SECONDS=1 BENCH_CONNECTIONS=2 WARMUP=0 MEM_TRIALS=0 \
  bench/run --quick --out "$out" --only coldstart,warm >"$out/log" 2>&1 || { cat "$out/log"; exit 1; }
node - "$out" <<'JS'
const fs = require('fs');
const dir = process.argv[2];
const md = fs.readFileSync(`${dir}/results.md`, 'utf8');
const svg = fs.readFileSync(`${dir}/results.svg`, 'utf8');
const fail = (m) => { console.error(`bench_quick: ${m}\n--- results.md\n${md}`); process.exit(1); };
const rowsOf = (title) => {
  const part = md.split('### ').find((s) => s.startsWith(title));
  if (!part) fail(`no "${title}" section`);
  return part.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| route') && !l.startsWith('| |') && !l.startsWith('|---'));
};
const ratio = /\*\*([0-9.,]+)x\*\*/;
const expect = (title, routes) => {
  const rows = rowsOf(title);
  for (const r of routes) {
    const row = rows.find((l) => l.startsWith(`| ${r} |`));
    if (!row) fail(`${title}: no row for ${r}`);
    const m = ratio.exec(row);
    if (!m || !(Number(m[1].replace(/,/g, '')) > 0)) fail(`${title}: no finite ratio in ${row}`);
  }
};
expect('Cold start', ['GET /hello', 'GET /me', 'GET /profile']);
expect('Warm', ['GET /hello', 'GET /me', 'GET /items', 'POST /items']);
expect('Memory', ['peak RSS (VmHWM)']);
if (!/^- commit: `[0-9a-f]{40}`/m.test(md)) fail('no commit line');
if (!md.includes('![Node.js / Moonbase ratios](results.svg)')) fail('results.md does not show the chart');
if (!svg.startsWith('<svg ') || !svg.trimEnd().endsWith('</svg>')) fail('results.svg is not an SVG document');
const bars = (svg.match(/<rect x="\d/g) || []).length;
if (bars !== 8) fail(`results.svg has ${bars} bars, want 8 (3 cold start, 4 warm CPU, 1 RSS)`);
console.log('bench_quick: results.md and results.svg complete');
JS
