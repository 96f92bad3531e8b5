// learn/checker/learn.mjs - the learner track's checker (run it as scripts/learn).
//   list                      every exercise with its status (the checks run), phase by phase
//   check [exercise]          run the checks; for each failing one: what was checked, what was
//                             expected, what happened, the hint
//   check --solutions [ex]    the same on a temporary copy of the tree with the reference
//                             solutions applied (learn/solutions/); the tree itself is never written
//   hint <exercise>           the task, the hint and the lesson of an exercise
//   next                      the first exercise not done yet, with its lesson and what fails
//   reset <exercise>          put the exercise's files back as committed (git stash, so your
//                             version stays recoverable with git stash pop)
// Options: --root DIR (the learner's tree; default: this repository), --jobs N (processes run at
// once; default 2). Environment: MB_BUILD_DIR (bootstrap's folder, default build), MB_BOOTSTRAP.
// Exit: 0 when every check run passed, 1 when one failed, 2 for a usage error.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CheckFailure, Harness } from './harness.mjs';
import { EXERCISES, PHASES } from './exercises.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
// What --solutions copies: every folder an exercise edits or a check reads from the tree.
const TREE = ['learn', 'sam', '.github', 'handlers'];
const LOCAL = EXERCISES.filter((e) => e.kind === 'local');

function usage(message) {
  if (message) console.error(`learn: ${message}`);
  console.error('usage: scripts/learn list | check [--solutions] [exercise] | hint <exercise> | next | reset <exercise>\n' +
    '       options: --root DIR, --jobs N');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { root: process.env.MB_LEARN_ROOT || repo, jobs: 2, solutions: false, rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--solutions') opts.solutions = true;
    else if (a === '--root') opts.root = argv[++i] || usage('--root needs a folder');
    else if (a === '--jobs') {
      opts.jobs = Number(argv[++i]);
      if (!Number.isInteger(opts.jobs) || opts.jobs < 1) usage('--jobs needs a positive integer');
    } else if (a === '-h' || a === '--help') usage();
    else if (a.startsWith('-')) usage(`unknown option ${a}`);
    else opts.rest.push(a);
  }
  opts.root = path.resolve(opts.root);
  return opts;
}

function exercise(id) {
  const e = EXERCISES.find((x) => x.id === id);
  if (!e) usage(`no exercise "${id}"; the exercises: ${EXERCISES.map((x) => x.id).join(', ')}`);
  return e;
}

const lessonOf = (e) => `learn/${PHASES[e.phase - 1][2]}`;

function bootstrapPath() {
  if (process.env.MB_BOOTSTRAP) return path.resolve(process.env.MB_BOOTSTRAP);
  const build = path.resolve(repo, process.env.MB_BUILD_DIR || 'build');
  const b = path.join(build, 'bootstrap');
  if (!existsSync(b)) {
    console.error(`learn: ${b} is missing; build it first: cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build --target bootstrap`);
    process.exit(2);
  }
  return b;
}

// ---- --solutions: a temporary copy of the tree with the reference solutions applied ----

function copyTree(root) {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'learn-solutions-'));
  for (const dir of TREE) {
    if (!existsSync(path.join(root, dir))) continue;
    cpSync(path.join(root, dir), path.join(tmp, dir), {
      recursive: true, filter: (src) => !src.includes(`${path.sep}.aws-sam`),
    });
  }
  return tmp;
}

async function applySolutions(exercises, tmp, ctxFor) {
  const done = new Set();
  for (const e of exercises) {
    for (const s of e.solution || []) {
      const key = JSON.stringify({ ...s, run: s.run && e.id, after: String(s.after) });
      if (done.has(key)) continue; // shared files (notes.lua, routes.lua) once
      done.add(key);
      if (s.copy) {
        cpSync(path.join(repo, s.copy), path.join(tmp, s.to));
      } else if (s.insert) {
        const file = path.join(tmp, s.into);
        const text = readFileSync(file, 'utf8');
        const m = s.after.exec(text);
        if (!m) throw new Error(`${s.into}: cannot find ${s.after} to insert ${s.insert} after`);
        const at = m.index + m[0].length;
        writeFileSync(file, text.slice(0, at) + readFileSync(path.join(repo, s.insert), 'utf8') + text.slice(at));
      } else if (s.run) {
        await s.run(await ctxFor(), repo);
      }
    }
  }
}

// ---- running checks ----

// Runs the checks of `exercises` against `root`; resolves to [{ e, ok, failure, ms }] in order.
// Exercises run concurrently (the harness bounds the processes); stopAtFirst runs them in order
// and stops at the first failure (for `next`).
async function runChecks(h, exercises, root, { stopAtFirst = false } = {}) {
  const one = async (e) => {
    const t0 = Date.now();
    try {
      await e.check(await h.context(root));
      return { e, ok: true, ms: Date.now() - t0 };
    } catch (err) {
      return { e, ok: false, failure: err, ms: Date.now() - t0 };
    }
  };
  if (!stopAtFirst) return Promise.all(exercises.map(one));
  const out = [];
  for (const e of exercises) {
    const r = await one(e);
    out.push(r);
    if (!r.ok) break;
  }
  return out;
}

async function withHarness(opts, fn) {
  const h = new Harness({ bootstrap: bootstrapPath(), repo, jobs: opts.jobs });
  await h.start();
  try {
    return await fn(h);
  } finally {
    await h.stop();
  }
}

// ---- output ----

const STATUS = { aws: 'on AWS', coming: 'coming' };

function printTable(results) {
  const byId = new Map(results.map((r) => [r.e.id, r]));
  const rows = [['phase', 'exercise', 'status', 'what']];
  let last = 0;
  for (const e of EXERCISES) {
    const r = byId.get(e.id);
    const status = STATUS[e.kind] || (r ? (r.ok ? 'done' : 'to do') : 'not run');
    rows.push([e.phase !== last ? `${e.phase} ${PHASES[e.phase - 1][1]}` : '', e.id, status, e.title]);
    last = e.phase;
  }
  const w = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) console.log(`  ${r[0].padEnd(w[0])}  ${r[1].padEnd(w[1])}  ${r[2].padEnd(w[2])}  ${r[3]}`);
  const run = results.filter((r) => r.e.kind === 'local');
  const done = run.filter((r) => r.ok).length;
  const aws = EXERCISES.filter((e) => e.kind === 'aws').length;
  const coming = EXERCISES.filter((e) => e.kind === 'coming').length;
  console.log(`\nprogress: ${done} of ${LOCAL.length} local exercises done` +
    `${run.length < LOCAL.length ? ` (${run.length} checked)` : ''}; ${aws} more need an AWS account` +
    ` (scripts/learn hint <exercise>)${coming ? `, ${coming} coming` : ''}`);
}

function indent(text, pad) {
  return String(text).split('\n').join(`\n${pad}`);
}

function printFailure(r) {
  const { e, failure: f } = r;
  console.log(`\nFAIL ${e.id}  (phase ${e.phase}, ${lessonOf(e)}; edit ${e.files.join(', ')})`);
  if (f instanceof CheckFailure) {
    console.log(`  check:    ${indent(f.step, '            ')}`);
    console.log(`  expected: ${indent(f.expected, '            ')}`);
    console.log(`  got:      ${indent(f.got, '            ')}`);
  } else {
    console.log(`  the check could not run: ${indent(f && f.stack ? f.stack : f, '    ')}`);
  }
  console.log(`  hint:     ${e.hint}`);
}

// ---- commands ----

async function cmdCheck(opts) {
  const selected = opts.rest.length ? opts.rest.map(exercise) : LOCAL;
  for (const e of selected) if (e.kind !== 'local') usage(`${e.id} is checked on AWS, not here: scripts/learn hint ${e.id}`);
  let root = opts.root;
  let tmp = null;
  const results = await withHarness(opts, async (h) => {
    if (opts.solutions) {
      tmp = copyTree(opts.root);
      root = tmp;
      await applySolutions(selected, tmp, () => h.context(tmp));
    }
    try {
      return await runChecks(h, selected, root);
    } finally {
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    }
  });
  if (opts.solutions) console.log('reference solutions (learn/solutions/) applied to a temporary copy of the tree:\n');
  if (selected.length > 1) printTable(results);
  for (const r of results) {
    if (r.ok) {
      if (selected.length === 1) console.log(`ok   ${r.e.id}: ${r.e.title} (${r.ms} ms)`);
    } else printFailure(r);
  }
  const failed = results.filter((r) => !r.ok).length;
  if (!failed && selected.length === 1 && !opts.solutions) console.log('\nnext: scripts/learn next');
  return failed ? 1 : 0;
}

async function cmdList(opts) {
  const results = await withHarness(opts, (h) => runChecks(h, LOCAL, opts.root));
  printTable(results);
  return 0;
}

function cmdHint(opts) {
  if (opts.rest.length !== 1) usage('hint needs one exercise');
  const e = exercise(opts.rest[0]);
  console.log(`${e.id}: ${e.title}  (phase ${e.phase}, ${PHASES[e.phase - 1][1]}; lesson ${lessonOf(e)})`);
  console.log(`  task:  ${e.task}`);
  if (e.files.length) console.log(`  edit:  ${e.files.join(', ')}`);
  console.log(`  hint:  ${e.hint}`);
  console.log(e.kind === 'local' ? `  check: scripts/learn check ${e.id}`
    : e.kind === 'aws' ? '  check: needs an AWS account; not checked by scripts/learn' : '  check: not available yet');
  return 0;
}

async function cmdNext(opts) {
  const results = await withHarness(opts, (h) => runChecks(h, LOCAL, opts.root, { stopAtFirst: true }));
  const failed = results.find((r) => !r.ok);
  if (!failed) {
    console.log(`All ${LOCAL.length} local exercises are done. The rest need an AWS account:`);
    for (const e of EXERCISES.filter((x) => x.kind !== 'local')) {
      console.log(`  ${e.id.padEnd(20)} ${STATUS[e.kind].padEnd(7)} ${e.title}`);
    }
    return 0;
  }
  const e = failed.e;
  const n = LOCAL.indexOf(e) + 1;
  console.log(`Next: ${e.id} (${n} of ${LOCAL.length}), phase ${e.phase}: ${PHASES[e.phase - 1][1]}`);
  console.log(`  read:  ${lessonOf(e)}`);
  console.log(`  task:  ${e.task}`);
  console.log(`  edit:  ${e.files.join(', ')}`);
  console.log(`  then:  scripts/learn check ${e.id}   (stuck? scripts/learn hint ${e.id})`);
  printFailure(failed);
  return 1;
}

function cmdReset(opts) {
  if (opts.rest.length !== 1) usage('reset needs one exercise');
  const e = exercise(opts.rest[0]);
  if (!e.files.length) { console.log(`${e.id} has no files to reset`); return 0; }
  const git = (...args) => spawnSync('git', ['-C', opts.root, ...args], { encoding: 'utf8' });
  if (git('rev-parse', '--git-dir').status !== 0) {
    console.error(`learn: ${opts.root} is not a git checkout; reset needs git`);
    return 2;
  }
  const changed = git('status', '--porcelain', '--', ...e.files).stdout.trim();
  if (!changed) { console.log(`${e.files.join(', ')}: already as committed; nothing to reset`); return 0; }
  const shared = EXERCISES.filter((x) => x !== e && x.files.some((f) => e.files.includes(f))).map((x) => x.id);
  const r = git('stash', 'push', '-m', `scripts/learn reset ${e.id}`, '--', ...e.files);
  if (r.status !== 0) { console.error(`learn: git stash failed: ${r.stderr.trim()}`); return 1; }
  console.log(`reset ${e.files.join(', ')} to the committed version; your version is in git stash ` +
    '(git stash list; git stash pop brings it back)');
  if (shared.length) console.log(`note: these files also hold ${shared.join(', ')}, reset with it`);
  return 0;
}

const COMMANDS = { list: cmdList, check: cmdCheck, hint: cmdHint, next: cmdNext, reset: cmdReset };

const opts = parseArgs(process.argv.slice(2));
const cmd = opts.rest.shift();
if (!cmd || !COMMANDS[cmd]) usage(cmd ? `unknown command ${cmd}` : undefined);
if (!existsSync(path.join(opts.root, 'learn'))) usage(`${opts.root} has no learn/ folder`);
process.exitCode = await COMMANDS[cmd](opts);
