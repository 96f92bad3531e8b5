// tests/infra/test_workflows.mjs - the GitHub Actions workflows parse (a YAML error fails CI here,
// since actionlint is not available) and keep their shape: every job has a runner and steps, every
// step exactly one of `uses`/`run`, `${{ }}` balanced, AWS only through OIDC (no stored keys),
// builds in debian:12, prod behind a GitHub environment, previews never for forks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';

const root = process.env.MB_SOURCE_DIR || new URL('../..', import.meta.url).pathname;
const dir = join(root, '.github', 'workflows');
const files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();

function load(name) {
  const text = readFileSync(join(dir, name), 'utf8');
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length) throw new Error(`${name}: ${doc.errors.map((e) => e.message).join('; ')}`);
  return { text, wf: doc.toJS() };
}

// Shape problems of one parsed workflow (empty = fine); used on the real files and broken copies.
export function workflowProblems(name, text, wf) {
  const bad = [];
  if (!wf || typeof wf !== 'object') return [`${name}: not a mapping`];
  if (typeof wf.name !== 'string') bad.push(`${name}: no name`);
  if (!wf.on) bad.push(`${name}: no "on" trigger`);
  if (!wf.jobs || typeof wf.jobs !== 'object' || !Object.keys(wf.jobs).length) bad.push(`${name}: no jobs`);
  const opens = (text.match(/\$\{\{/g) || []).length;
  const closes = (text.match(/\}\}/g) || []).length;
  if (opens !== closes) bad.push(`${name}: ${opens} "\${{" but ${closes} "}}"`);
  if (/AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|aws-access-key-id/.test(text)) {
    bad.push(`${name}: stored AWS keys are not allowed (use OIDC)`);
  }
  for (const [id, job] of Object.entries(wf.jobs || {})) {
    if (!job['runs-on']) bad.push(`${name}/${id}: no runs-on`);
    if (!Array.isArray(job.steps) || !job.steps.length) { bad.push(`${name}/${id}: no steps`); continue; }
    if (!job.container || job.container !== 'debian:12') bad.push(`${name}/${id}: must run in container debian:12`);
    job.steps.forEach((s, i) => {
      const n = ('uses' in s ? 1 : 0) + ('run' in s ? 1 : 0);
      if (n !== 1) bad.push(`${name}/${id} step ${i + 1}: needs exactly one of uses/run`);
      if ('uses' in s && !/^[\w.-]+\/[\w./-]+@[\w.-]+$/.test(s.uses)) bad.push(`${name}/${id} step ${i + 1}: uses "${s.uses}" is not owner/repo@ref`);
    });
    const usesAws = job.steps.some((s) => String(s.uses || '').startsWith('aws-actions/configure-aws-credentials@'));
    if (usesAws) {
      const perms = { ...(wf.permissions || {}), ...(job.permissions || {}) };
      if (perms['id-token'] !== 'write') bad.push(`${name}/${id}: OIDC needs permissions id-token: write`);
      const cred = job.steps.find((s) => String(s.uses || '').startsWith('aws-actions/configure-aws-credentials@'));
      if (!cred.with || !cred.with['role-to-assume']) bad.push(`${name}/${id}: configure-aws-credentials without role-to-assume`);
      if (!job.environment) bad.push(`${name}/${id}: AWS jobs run in a GitHub environment (its reviewers and role)`);
    }
  }
  return bad;
}

test('there are the four workflows', () => {
  assert.deepEqual(files, ['ci.yml', 'deploy.yml', 'preview-cleanup.yml', 'preview.yml']);
});

for (const f of files) {
  test(`${f} parses and keeps its shape`, () => {
    const { text, wf } = load(f);
    assert.deepEqual(workflowProblems(f, text, wf), []);
  });
}

test('ci runs .ci/run in debian:12 on push and pull_request', () => {
  const { wf } = load('ci.yml');
  assert.ok('push' in wf.on && 'pull_request' in wf.on);
  const steps = wf.jobs.test.steps.map((s) => s.run || '').join('\n');
  assert.match(steps, /\.ci\/run/);
  const lint = wf.jobs['template-lint'].steps.map((s) => s.run || '').join('\n');
  assert.match(lint, /pip install --quiet cfn-lint/);
  assert.match(lint, /tests\/infra\/cfn_lint\.sh/);
});

test('deploy: main -> dev, manual staging/prod through GitHub environments', () => {
  const { wf } = load('deploy.yml');
  assert.deepEqual(wf.on.push.branches, ['main']);
  assert.deepEqual(wf.on.workflow_dispatch.inputs.environment.options, ['dev', 'staging', 'prod']);
  const job = wf.jobs.deploy;
  assert.match(job.environment.name, /inputs\.environment \|\| 'dev'/);
  assert.match(job.steps.map((s) => s.run || '').join('\n'), /sam\/deploy\.sh --config-env "\$TARGET_ENV"/);
  assert.equal(wf.concurrency['cancel-in-progress'], false);
});

test('previews: per-PR stack, never for forks, deleted on close', () => {
  const p = load('preview.yml').wf;
  const c = load('preview-cleanup.yml').wf;
  assert.deepEqual(p.on.pull_request.types, ['opened', 'synchronize', 'reopened']);
  assert.deepEqual(c.on.pull_request.types, ['closed']);
  for (const job of [p.jobs.preview, c.jobs.cleanup]) {
    assert.equal(job.if, 'github.event.pull_request.head.repo.full_name == github.repository');
    assert.equal(job.env.STACK, 'moonbase-pr-${{ github.event.pull_request.number }}');
  }
  assert.equal(p.permissions['pull-requests'], 'write');
  assert.match(p.jobs.preview.steps.map((s) => s.run || '').join('\n'), /--config-env dev --stack-name "\$STACK"/);
  assert.match(c.jobs.cleanup.steps.map((s) => s.run || '').join('\n'), /sam\/delete-stack\.sh "\$STACK"/);
});

test('the shape check catches broken workflows', () => {
  const { text, wf } = load('deploy.yml');
  const clone = () => JSON.parse(JSON.stringify(wf));
  const cases = [
    [(w) => { delete w.permissions['id-token']; }, /id-token/],
    [(w) => { w.jobs.deploy.steps[0].uses = 'actions/checkout@v4'; }, /exactly one of uses\/run/],
    [(w) => { w.jobs.deploy.container = 'ubuntu:24.04'; }, /debian:12/],
    [(w) => { delete w.jobs.deploy.environment; }, /GitHub environment/],
    [(w) => { delete w.jobs.deploy['runs-on']; }, /runs-on/],
  ];
  for (const [mutate, expect] of cases) {
    const w = clone();
    mutate(w);
    const problems = workflowProblems('deploy.yml', text, w);
    assert.ok(problems.some((p) => expect.test(p)), `${expect} not reported: ${JSON.stringify(problems)}`);
  }
  assert.ok(workflowProblems('x', `${text}\n# \${{ broken`, wf).some((p) => /"\$\{\{"/.test(p)));
  assert.ok(workflowProblems('x', `${text}\n# AWS_SECRET_ACCESS_KEY`, wf).some((p) => /OIDC/.test(p)));
  assert.throws(() => {
    const doc = parseDocument('name: x\non: [push\njobs: {}\n', { prettyErrors: true });
    if (doc.errors.length) throw new Error(doc.errors[0].message);
  });
});
