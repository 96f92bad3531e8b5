// tests/infra/workflow-checks.mjs - the shape rules of the GitHub Actions workflows (see
// test_workflows.mjs, which runs them on the real files and on broken copies), in a module of
// their own so that other checkers (scripts/learn's ci-lint-job) apply the same rules.

// Permissions a job may ask for, and why (anything else, or any at the top level, is refused).
const ALLOWED_PERMISSIONS = {
  contents: ['read'], // checkout
  'id-token': ['write'], // OIDC role for AWS (jobs with configure-aws-credentials or deploy-stage)
  actions: ['read'], // deploy gate: find the CI run of the commit
  'pull-requests': ['write'], // preview: comment the URLs
};

// Shape problems of one parsed workflow (empty = fine); used on the real files and broken copies.
export function workflowProblems(name, text, wf) {
  const bad = [];
  if (!wf || typeof wf !== 'object') return [`${name}: not a mapping`];
  if (!wf.permissions || typeof wf.permissions !== 'object' || Object.keys(wf.permissions).length) {
    bad.push(`${name}: top-level permissions must be {} (each job asks for its own)`);
  }
  // Third-party actions by full commit SHA with the version in a comment.
  for (const m of text.matchAll(/^\s*-?\s*uses:\s*(\S+)(.*)$/gm)) {
    const [, ref, rest] = m;
    if (ref.startsWith('./')) continue;
    if (!/@[0-9a-f]{40}$/.test(ref)) bad.push(`${name}: ${ref} is not pinned by a full commit SHA`);
    else if (!/#\s*v\d+(\.\d+)*/.test(rest)) bad.push(`${name}: ${ref} has no "# vX.Y.Z" version comment`);
  }
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
    const perms = job.permissions;
    if (!perms || typeof perms !== 'object') bad.push(`${name}/${id}: declare the job's permissions`);
    for (const [k, v] of Object.entries(perms || {})) {
      if (!(ALLOWED_PERMISSIONS[k] || []).includes(v)) bad.push(`${name}/${id}: permission ${k}: ${v} is not needed`);
    }
    if (typeof job.uses === 'string') { // a reusable workflow call: no steps of its own
      if (!/^\.\/\.github\/workflows\/[\w-]+\.yml$/.test(job.uses)) bad.push(`${name}/${id}: calls ${job.uses}, not a local workflow`);
      continue;
    }
    if (perms && perms['id-token'] && !job.steps.some((s) => String(s.uses || '').startsWith('aws-actions/configure-aws-credentials@'))) {
      bad.push(`${name}/${id}: id-token: write without AWS credentials`);
    }
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
      if ((perms || {})['id-token'] !== 'write') bad.push(`${name}/${id}: OIDC needs permissions id-token: write`);
      const cred = job.steps.find((s) => String(s.uses || '').startsWith('aws-actions/configure-aws-credentials@'));
      if (!cred.with || !cred.with['role-to-assume']) bad.push(`${name}/${id}: configure-aws-credentials without role-to-assume`);
      if (!job.environment) bad.push(`${name}/${id}: AWS jobs run in a GitHub environment (its reviewers and role)`);
    }
  }
  return bad;
}
