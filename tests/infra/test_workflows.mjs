// tests/infra/test_workflows.mjs - the GitHub Actions workflows keep their design (actionlint
// checks the syntax and expressions separately, unit_actionlint): every job has a runner and steps
// (or calls a local reusable workflow), every step exactly one of `uses`/`run`, third-party actions
// pinned by full commit SHA with the version in a comment, no permissions at the top and only what
// each job needs, AWS only through OIDC, builds in debian:12, deploys only after CI passed and
// promoted dev -> staging -> prod through GitHub environments, previews queued (never cancelled),
// recovered when stuck, never for forks, deleted on close.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { workflowProblems } from './workflow-checks.mjs';

const root = process.env.MB_SOURCE_DIR || new URL('../..', import.meta.url).pathname;
const dir = join(root, '.github', 'workflows');
const files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();

function load(name) {
  const text = readFileSync(join(dir, name), 'utf8');
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length) throw new Error(`${name}: ${doc.errors.map((e) => e.message).join('; ')}`);
  return { text, wf: doc.toJS() };
}

test('there are the five workflows', () => {
  assert.deepEqual(files, ['ci.yml', 'deploy-stage.yml', 'deploy.yml', 'preview-cleanup.yml', 'preview.yml']);
});

for (const f of files) {
  test(`${f} parses and keeps its shape`, () => {
    const { text, wf } = load(f);
    assert.deepEqual(workflowProblems(f, text, wf), []);
  });
}

const runs = (job) => job.steps.map((s) => s.run || '').join('\n');

test('ci runs .ci/run in debian:12 on push and pull_request, plus coverage', () => {
  const { wf } = load('ci.yml');
  assert.ok('push' in wf.on && 'pull_request' in wf.on);
  const steps = wf.jobs.test.steps.map((s) => s.run || '').join('\n');
  assert.match(steps, /\.ci\/run/);
  const cov = wf.jobs.coverage;
  assert.match(runs(cov), /scripts\/coverage/);
  assert.match(runs(cov), />>"\$GITHUB_STEP_SUMMARY"/);
  const upload = cov.steps.find((s) => String(s.uses || '').startsWith('actions/upload-artifact@'));
  assert.ok(upload && upload.with.name === 'coverage' && /build-coverage\/coverage/.test(upload.with.path));
  const lint = wf.jobs['template-lint'].steps.map((s) => s.run || '').join('\n');
  assert.match(lint, /pip install --quiet cfn-lint/);
  assert.match(lint, /tests\/infra\/cfn_lint\.sh/);
});

test('deploy: only after CI passed for the commit, then dev -> staging -> prod', () => {
  const { wf } = load('deploy.yml');
  assert.equal(wf.on.push, undefined, 'a push must not deploy before CI');
  assert.deepEqual(wf.on.workflow_run, { workflows: ['ci'], types: ['completed'], branches: ['main'] });
  const gate = wf.jobs.gate;
  assert.match(gate.if, /workflow_run\.conclusion == 'success'/);
  assert.match(gate.if, /workflow_run\.event == 'push'/);
  assert.match(gate.if, /head_repository\.full_name == github\.repository/);
  assert.match(gate.steps[0].with.script, /listWorkflowRuns\([^)]*workflow_id: 'ci\.yml', head_sha: sha, status: 'success'/s);
  const chain = [['dev', ['gate']], ['staging', ['gate', 'dev']], ['prod', ['gate', 'staging']]];
  for (const [env, needs] of chain) {
    const job = wf.jobs[env];
    assert.deepEqual([job.needs].flat(), needs, `${env} needs`);
    assert.equal(job.uses, './.github/workflows/deploy-stage.yml');
    assert.equal(job.with.environment, env);
    assert.equal(job.with.ref, '${{ needs.gate.outputs.sha }}');
  }
  const stage = load('deploy-stage.yml').wf;
  const job = stage.jobs.deploy;
  assert.equal(job.environment.name, '${{ inputs.environment }}');
  assert.equal(job.concurrency['cancel-in-progress'], false);
  const checkout = job.steps.find((s) => String(s.uses || '').startsWith('actions/checkout@'));
  assert.equal(checkout.with.ref, '${{ inputs.ref }}');
  const order = job.steps.map((s) => s.run || '');
  const ready = order.findIndex((r) => /sam\/stack-ready\.sh "\$STACK"/.test(r));
  const deploy = order.findIndex((r) => /sam\/deploy\.sh --config-env "\$TARGET_ENV"/.test(r));
  assert.ok(ready >= 0 && deploy > ready, 'stack-ready must run before the deploy');
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
  assert.equal(p.jobs.preview.permissions['pull-requests'], 'write');
  assert.match(runs(p.jobs.preview), /--config-env dev --stack-name "\$STACK"/);
  assert.match(runs(c.jobs.cleanup), /sam\/delete-stack\.sh "\$STACK"/);
  // Queued, never cancelled, and sharing one group so the delete waits for a deploy in flight.
  assert.equal(p.concurrency['cancel-in-progress'], false);
  assert.equal(p.concurrency.group, c.concurrency.group);
  for (const job of [p.jobs.preview, c.jobs.cleanup]) {
    const order = job.steps.map((s) => s.run || '');
    const ready = order.findIndex((r) => /sam\/stack-ready\.sh "\$STACK"/.test(r));
    const act = order.findIndex((r) => /sam\/(deploy|delete-stack)\.sh/.test(r));
    assert.ok(ready >= 0 && act > ready, 'stack-ready must run before the deploy/delete');
  }
});

test('the shape check catches broken workflows', () => {
  const { text, wf } = load('deploy-stage.yml');
  const clone = () => JSON.parse(JSON.stringify(wf));
  const cases = [
    [(w) => { delete w.jobs.deploy.permissions['id-token']; }, /id-token/],
    [(w) => { w.jobs.deploy.steps[0].uses = 'actions/checkout@v4'; }, /exactly one of uses\/run/],
    [(w) => { w.jobs.deploy.container = 'ubuntu:24.04'; }, /debian:12/],
    [(w) => { delete w.jobs.deploy.environment; }, /GitHub environment/],
    [(w) => { delete w.jobs.deploy['runs-on']; }, /runs-on/],
    [(w) => { w.permissions = { contents: 'write' }; }, /top-level permissions/],
    [(w) => { w.jobs.deploy.permissions.contents = 'write'; }, /contents: write is not needed/],
    [(w) => { w.jobs.deploy.permissions.packages = 'write'; }, /packages: write/],
    [(w) => { delete w.jobs.deploy.permissions; }, /declare the job's permissions/],
  ];
  for (const [mutate, expect] of cases) {
    const w = clone();
    mutate(w);
    const problems = workflowProblems('deploy-stage.yml', text, w);
    assert.ok(problems.some((p) => expect.test(p)), `${expect} not reported: ${JSON.stringify(problems)}`);
  }
  const tagOnly = text.replace(/(actions\/checkout)@[0-9a-f]{40}/, '$1@v7');
  assert.ok(workflowProblems('x', tagOnly, wf).some((p) => /not pinned by a full commit SHA/.test(p)));
  const noComment = text.replace(/(actions\/checkout@[0-9a-f]{40}) # v[\d.]+/, '$1');
  assert.ok(workflowProblems('x', noComment, wf).some((p) => /version comment/.test(p)));
  assert.ok(workflowProblems('x', `${text}\n# \${{ broken`, wf).some((p) => /"\$\{\{"/.test(p)));
  assert.ok(workflowProblems('x', `${text}\n# AWS_SECRET_ACCESS_KEY`, wf).some((p) => /OIDC/.test(p)));
  assert.throws(() => {
    const doc = parseDocument('name: x\non: [push\njobs: {}\n', { prettyErrors: true });
    if (doc.errors.length) throw new Error(doc.errors[0].message);
  });
});
