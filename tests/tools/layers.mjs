// tests/tools/layers.mjs [--root DIR] - check the include floors of the C core (ctest unit_layers).
// The floors are declared once, in the table between <!-- layers:begin --> and <!-- layers:end -->
// in CONTRIBUTING.md: a floor number, its name, the modules on it. A module is the base name of
// core/*.c, core/*.h and include/moonbase/*.h (app.c + app.h are module app). The check reads
// every `#include "moonbase/<mod>.h"` (and a core-private `#include "<mod>.h"`) in those files and
// fails, naming the file, line and edge, when
//   - a module includes a module on a higher floor (an upward edge),
//   - the includes between modules form a circle (even on one floor),
//   - a source file's module has no floor, or the table names a module with no file,
//   - the ASCII picture under the table does not show a module on its floor,
//   - an entry of KNOWN_UPWARD below no longer happens (delete it: the allowance must not
//     outlive the edge, or a new edge could hide behind it).
// Prints one line per problem and a summary; exits 1 on any problem. --root points it at another
// tree (tests/tools/test_layers.mjs runs it on broken copies to show it fails); --known a:b
// allows one more edge for that run.
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join, basename } from 'node:path';

// Upward edges that exist today and are being removed, each allowed only while the edge exists;
// remove the entry together with the edge. None left: issue 14 (branch i14o) removed the last
// ones (lua_db, lua_db_cursor, lua_secret, lua_validate -> lua_api).
const KNOWN_UPWARD = [
  // ['from', 'to', 'why it is still there'],
];

const args = process.argv.slice(2);
const rootArg = args.indexOf('--root');
// --known from:to adds an allowance for this run only: test_layers.mjs checks with it that an
// allowance lets its edge pass and fails once the edge is gone, whatever KNOWN_UPWARD holds.
args.forEach((a, i) => {
  if (a === '--known') KNOWN_UPWARD.push([...args[i + 1].split(':'), 'given with --known']);
});
const root =
  rootArg >= 0 ? args[rootArg + 1] : process.env.MB_SOURCE_DIR || new URL('../..', import.meta.url).pathname;

const problems = [];
const problem = (msg) => problems.push(msg);

// ---- the declared floors ----
const doc = readFileSync(join(root, 'CONTRIBUTING.md'), 'utf8');
const begin = doc.indexOf('<!-- layers:begin -->');
const end = doc.indexOf('<!-- layers:end -->');
if (begin < 0 || end < begin) {
  console.log('layers: CONTRIBUTING.md has no <!-- layers:begin --> ... <!-- layers:end --> table');
  process.exit(1);
}
const floorOf = new Map(); // module -> floor number
const floorNames = new Map(); // floor number -> name
for (const line of doc.slice(begin, end).split('\n')) {
  const m = /^\|\s*(\d+(?:\.\d+)?)\s*\|([^|]*)\|([^|]*)\|\s*$/.exec(line);
  if (!m) continue;
  const floor = Number(m[1]);
  floorNames.set(floor, m[2].trim());
  for (const mod of m[3].replace(/`/g, ' ').split(/\s+/).filter(Boolean)) {
    if (floorOf.has(mod)) problem(`CONTRIBUTING.md: ${mod} is on two floors (${floorOf.get(mod)}, ${floor})`);
    floorOf.set(mod, floor);
  }
}

// ---- the picture: the first fenced block after the table ----
const fence = doc.indexOf('```', end);
const picture = fence >= 0 ? doc.slice(doc.indexOf('\n', fence) + 1, doc.indexOf('```', fence + 3)) : '';
const shown = new Map(); // floor -> words on its lines
let current = null;
for (const line of picture.split('\n')) {
  const m = /^\s*(\d+(?:\.\d+)?)\s/.exec(line);
  if (m) current = Number(m[1]);
  if (current === null) continue;
  if (!shown.has(current)) shown.set(current, []);
  shown.get(current).push(...(line.match(/[a-z][a-z0-9_]*\*?/g) || []));
}
const onPicture = (mod, floor) =>
  (shown.get(floor) || []).some((w) => (w.endsWith('*') ? mod.startsWith(w.slice(0, -1)) : w === mod));
for (const [mod, floor] of floorOf) {
  if (!onPicture(mod, floor)) problem(`CONTRIBUTING.md: the picture does not show ${mod} on floor ${floor}`);
}

// ---- the files and their includes ----
const files = [];
for (const [dir, re] of [
  ['core', /\.[ch]$/],
  [join('include', 'moonbase'), /\.h$/],
]) {
  if (!existsSync(join(root, dir))) continue;
  for (const f of readdirSync(join(root, dir)).sort()) if (re.test(f)) files.push(join(dir, f));
}
const modules = new Set(files.map((f) => basename(f).replace(/\.[ch]$/, '')));
for (const f of files) {
  const mod = basename(f).replace(/\.[ch]$/, '');
  if (!floorOf.has(mod)) problem(`${f}: module ${mod} has no floor in CONTRIBUTING.md`);
}
for (const mod of floorOf.keys()) {
  if (!modules.has(mod)) problem(`CONTRIBUTING.md: ${mod} has a floor but no file in core/ or include/moonbase/`);
}

const edges = new Map(); // "from to" -> [where, ...]
for (const f of files) {
  const from = basename(f).replace(/\.[ch]$/, '');
  readFileSync(join(root, f), 'utf8')
    .split('\n')
    .forEach((line, i) => {
      const m = /^\s*#\s*include\s+"(moonbase\/)?([A-Za-z0-9_]+)\.h"/.exec(line);
      if (!m || m[2] === from) return;
      if (!m[1] && !existsSync(join(root, 'core', `${m[2]}.h`))) return; // not one of ours
      const key = `${from} ${m[2]}`;
      if (!edges.has(key)) edges.set(key, []);
      edges.get(key).push(`${f}:${i + 1}`);
    });
}

// ---- upward edges ----
const known = new Set(KNOWN_UPWARD.map(([a, b]) => `${a} ${b}`));
for (const [key, where] of edges) {
  const [from, to] = key.split(' ');
  const ff = floorOf.get(from);
  const ft = floorOf.get(to);
  if (ff === undefined || ft === undefined || ft <= ff) continue;
  const what = `${from} (floor ${ff}) includes ${to}.h (floor ${ft}, ${floorNames.get(ft)}): upward edge`;
  if (known.has(key)) {
    console.log(`${where[0]}: known: ${what}`);
    continue;
  }
  problem(`${where[0]}: ${what}`);
}
for (const [from, to] of KNOWN_UPWARD) {
  const ff = floorOf.get(from);
  const ft = floorOf.get(to);
  if (!edges.has(`${from} ${to}`) || !(ft > ff)) {
    problem(`tests/tools/layers.mjs: KNOWN_UPWARD lists ${from} -> ${to}, which is gone: delete the entry`);
  }
}

// ---- circles: depth-first search over the module graph, one report per circle found ----
const next = new Map();
for (const key of edges.keys()) {
  const [from, to] = key.split(' ');
  if (!next.has(from)) next.set(from, []);
  next.get(from).push(to);
}
const state = new Map(); // module -> 1 on the path, 2 done
const path = [];
const circles = new Set();
const visit = (mod) => {
  state.set(mod, 1);
  path.push(mod);
  for (const to of (next.get(mod) || []).sort()) {
    if (state.get(to) === 1) {
      const ring = path.slice(path.indexOf(to)).concat(to);
      const name = ring.join(' -> ');
      if (!circles.has(name)) {
        circles.add(name);
        const where = ring.slice(0, -1).map((m, i) => edges.get(`${m} ${ring[i + 1]}`)[0]);
        problem(`circle: ${name} (${where.join(', ')})`);
      }
    } else if (!state.has(to)) {
      visit(to);
    }
  }
  path.pop();
  state.set(mod, 2);
};
for (const mod of [...modules].sort()) if (!state.has(mod)) visit(mod);

for (const p of problems) console.log(p);
console.log(
  `layers: ${modules.size} modules on ${floorNames.size} floors, ${edges.size} include edges, ` +
    `${KNOWN_UPWARD.length} known upward, ${problems.length} problem(s)`,
);
process.exit(problems.length ? 1 : 0);
