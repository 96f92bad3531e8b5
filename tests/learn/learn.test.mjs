// tests/learn/learn.test.mjs - scripts/learn both ways, on a fresh copy of the learner's tree
// (the committed learn/, sam/, .github/, handlers/): every local exercise fails its check with a
// message (check / expected / got / hint), every one passes with the reference solutions
// (check --solutions), and neither run changes a byte of the tree. Also: list, hint, next,
// usage errors and reset (git stash) output.
// Environment: MB_SOURCE_DIR (the repository), MB_BOOTSTRAP (the bootstrap under test).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EXERCISES } from '../../learn/checker/exercises.mjs';

const src = path.resolve(process.env.MB_SOURCE_DIR || new URL('../..', import.meta.url).pathname);
const TREE = ['learn', 'sam', '.github', 'handlers'];
const local = EXERCISES.filter((e) => e.kind === 'local').map((e) => e.id);

// The committed tree when this is a git checkout (a developer's own exercise work must not make
// the "fresh" run pass), else the files as they are (a tarball is fresh by definition).
function freshTree() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'learn-fresh-'));
  const archive = spawnSync('sh', ['-c', `git -C "${src}" archive HEAD ${TREE.join(' ')} | tar -x -C "${dir}"`]);
  const committed = spawnSync('git', ['-C', src, 'ls-files', '--error-unmatch', 'learn/checker/learn.mjs']).status === 0;
  if (archive.status !== 0 || !committed) {
    for (const d of TREE) cpSync(path.join(src, d), path.join(dir, d), { recursive: true });
  }
  return dir;
}

function treeHash(dir) {
  const h = crypto.createHash('sha256');
  const walk = (rel) => {
    for (const name of readdirSync(path.join(dir, rel)).sort()) {
      const p = path.join(rel, name);
      if (statSync(path.join(dir, p)).isDirectory()) walk(p);
      else h.update(`${p}\0`).update(readFileSync(path.join(dir, p))).update('\0');
    }
  };
  walk('.');
  return h.digest('hex');
}

function learn(args, root) {
  const r = spawnSync(path.join(src, 'scripts/learn'), [...args, ...(root ? ['--root', root] : [])], {
    encoding: 'utf8', timeout: 300000, env: { ...process.env, MB_LEARN_ROOT: '' },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const fresh = freshTree();
const before = treeHash(fresh);
process.on('exit', () => rmSync(fresh, { recursive: true, force: true }));

test('fresh tree: every local exercise fails, each with check / expected / got / hint', () => {
  const r = learn(['check'], fresh);
  assert.equal(r.code, 1, r.out + r.err);
  for (const id of local) {
    const block = r.out.split('\nFAIL ').find((b) => b.startsWith(`${id} `));
    assert.ok(block, `no failure reported for ${id}:\n${r.out}`);
    for (const label of ['check:', 'expected:', 'got:', 'hint:']) assert.match(block, new RegExp(`\\n  ${label} +\\S`), `${id}: ${label}\n${block}`);
    assert.doesNotMatch(block, /could not run/, `${id} must fail on behaviour, not crash:\n${block}`);
  }
  assert.match(r.out, new RegExp(`progress: 0 of ${local.length} local exercises done`));
  assert.equal(treeHash(fresh), before, 'check changed the tree');
});

test('check --solutions: every local exercise passes; the tree is untouched', () => {
  const r = learn(['check', '--solutions'], fresh);
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, new RegExp(`progress: ${local.length} of ${local.length} local exercises done`));
  for (const id of local) assert.match(r.out, new RegExp(`  ${id} +done `), id);
  assert.doesNotMatch(r.out, /\nFAIL /);
  assert.equal(treeHash(fresh), before, 'check --solutions changed the tree');
});

test('list: one row per exercise, in phase order, with its status', () => {
  const r = learn(['list'], fresh);
  assert.equal(r.code, 0, r.err);
  const ids = [...r.out.matchAll(/^ {2}.*?\s([a-z0-9-]+) {2,}(to do|done|on AWS|coming) /gm)].map((m) => [m[1], m[2]]);
  assert.deepEqual(ids.map((x) => x[0]), EXERCISES.map((e) => e.id));
  for (const [id, status] of ids) {
    const e = EXERCISES.find((x) => x.id === id);
    assert.equal(status, { local: 'to do', aws: 'on AWS', coming: 'coming' }[e.kind], id);
  }
  for (const p of ['1 first function', '5 infrastructure as code', '9 performance']) assert.match(r.out, new RegExp(p));
});

test('hint: task, files, hint, lesson and how to check', () => {
  const r = learn(['hint', 'greet-name']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^greet-name: .*lesson learn\/01-first-function\.md/);
  assert.match(r.out, /task: +GET \/greet\?name=Ada/);
  assert.match(r.out, /edit: +learn\/handlers\/greet\.lua/);
  assert.match(r.out, /hint: +req\.query\.name/);
  assert.match(r.out, /check: scripts\/learn check greet-name/);
  const aws = learn(['hint', 'multi-env']);
  assert.match(aws.out, /needs an AWS account/);
  const bad = learn(['hint', 'no-such-exercise']);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /no exercise "no-such-exercise"; the exercises: greet-name, sum-input/);
});

test('next on a fresh tree: the first exercise, its lesson and why it fails', () => {
  const r = learn(['next'], fresh);
  assert.equal(r.code, 1);
  assert.match(r.out, /^Next: greet-name \(1 of \d+\), phase 1: first function/);
  assert.match(r.out, /read: +learn\/01-first-function\.md/);
  assert.match(r.out, /FAIL greet-name/);
});

test('usage errors exit 2 and say what is wrong', () => {
  assert.equal(learn(['frobnicate']).code, 2);
  const aws = learn(['check', 'cognito-flows']);
  assert.equal(aws.code, 2);
  assert.match(aws.err, /checked on AWS/);
  assert.equal(learn(['check', '--jobs', '0']).code, 2);
});

test('reset puts the committed file back and keeps the learner version in git stash', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'learn-reset-'));
  try {
    cpSync(path.join(fresh, 'learn'), path.join(dir, 'learn'), { recursive: true });
    const git = (...a) => spawnSync('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@t', ...a], { encoding: 'utf8' });
    git('init', '-q');
    git('add', '.');
    git('commit', '-q', '-m', 'starters');
    const file = path.join(dir, 'learn/handlers/greet.lua');
    const starter = readFileSync(file, 'utf8');
    writeFileSync(file, 'return function() return { status = 200 } end\n');
    let r = learn(['reset', 'greet-name'], dir);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /git stash pop/);
    assert.equal(readFileSync(file, 'utf8'), starter);
    assert.match(git('stash', 'list').stdout, /scripts\/learn reset greet-name/);
    r = learn(['reset', 'greet-name'], dir);
    assert.match(r.out, /nothing to reset/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the SPA bundle links the lessons, which the build copies next to it', () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'learn-spa-'));
  try {
    const r = spawnSync(path.join(src, 'scripts/build-frontend'), [out], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(readFileSync(path.join(out, 'app.js'), 'utf8'), /learn\/README\.txt/);
    const index = readFileSync(path.join(out, 'learn/README.txt'), 'utf8');
    const lessons = [...index.matchAll(/\]\(([\w-]+\.txt)\)/g)].map((m) => m[1]);
    assert.equal(lessons.length, 9, index);
    for (const l of lessons) assert.match(readFileSync(path.join(out, 'learn', l), 'utf8'), /^# Phase \d/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
