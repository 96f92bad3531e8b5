// learn/checker/exercises.mjs - the learner track's phases and exercises, in order, with the
// check of each locally checkable one. A check gets a Context (harness.mjs): it calls the
// learner's handlers through `bootstrap invoke`, reads the template or workflow the way the
// project's own tests do, or runs the learner's query/client, and throws a CheckFailure naming
// the step, what was expected and what happened. No check reads handler source text.
//
// Exercise fields: id, phase (1..9), title, kind ('local' | 'aws' | 'coming'), files (what the
// learner edits, relative to the repository), task (one line), hint, check(ctx) for local ones,
// solution: how --solutions applies the reference solution to a temporary copy:
//   { copy: 'learn/solutions/x', to: 'learn/x' }        replace a file
//   { insert: 'learn/solutions/y.yaml', into: 'sam/template.yaml', after: /^Resources:.*\n/m }
//   { run: async (ctx, repo) => ... }                    produce the answer (a measurement)
import { readFileSync, mkdtempSync, cpSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseDocument } from 'yaml';
import { CheckFailure, expect, expectStatus, expectFieldError, show } from './harness.mjs';
import { runQuery, rowsFromLines, QueryError } from './insights.mjs';

export const PHASES = [
  [1, 'first function', '01-first-function.md'],
  [2, 'authentication', '02-authentication.md'],
  [3, 'database', '03-database.md'],
  [4, 'frontend', '04-frontend.md'],
  [5, 'infrastructure as code', '05-infrastructure.md'],
  [6, 'CI/CD', '06-cicd.md'],
  [7, 'monitoring', '07-monitoring.md'],
  [8, 'security', '08-security.md'],
  [9, 'performance', '09-performance.md'],
];

const sol = (name) => ({ copy: `learn/solutions/handlers/${name}`, to: `learn/handlers/${name}` });
const json = (v) => JSON.stringify(v);

// ---- shared data of the checks ----

// Members of a named tenant are in the Cognito group tenant:<name> (custom:tenant_id, when set,
// must agree); the runtime keys their data TENANT#org:<name> (docs/security.md, Tenancy).
const ALICE = { sub: 'u-alice', email: 'alice@moonbase.test', tenant: 'acme', groups: ['editors', 'tenant:acme'] };
const BOB = { sub: 'u-bob', email: 'bob@moonbase.test', groups: ['tenant:acme'] };
const CAROL = { sub: 'u-carol', email: 'carol@moonbase.test', groups: ['tenant:globex'] };
const ADMIN = { sub: 'u-ada', email: 'ada@moonbase.test', groups: ['admins', 'tenant:acme'] };
const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

// Sortable note ids for seeded notes: 26 Crockford characters, the number at the end.
const seededId = (i) => `01J${'0'.repeat(20)}${String(i).padStart(3, '0')}`;

async function seedNotes(ctx, tenant, n, extra = {}) {
  const ids = [];
  for (let i = 1; i <= n; i++) {
    const id = seededId(i);
    ids.push(id);
    await ctx.db.put(ctx.table, {
      PK: `TENANT#org:${tenant}`, SK: `NOTE#${id}`, id, title: `note ${i}`, body: '',
      createdAt: new Date(Date.UTC(2026, 0, i)).toISOString(), updatedAt: new Date(Date.UTC(2026, 0, i)).toISOString(),
      ...extra,
    });
  }
  return ids;
}

function repoFile(root, rel) {
  const p = path.join(root, rel);
  if (!existsSync(p)) throw new CheckFailure(rel, 'the file to exist', 'no such file');
  return readFileSync(p, 'utf8');
}

// The project's own template tooling (tests/infra), from the checker's repository.
async function templateTools(repo) {
  const cfn = await import(pathToFileURL(path.join(repo, 'tests/infra/cfn-yaml.mjs')));
  const checks = await import(pathToFileURL(path.join(repo, 'tests/infra/template-checks.mjs')));
  return { parseCfn: cfn.parseCfn, checkTemplate: checks.checkTemplate };
}

// Parse the learner's sam/template.yaml and run the project's template rules on it.
async function loadTemplate(ctx) {
  const { parseCfn, checkTemplate } = await templateTools(ctx.repo);
  let t;
  try {
    t = parseCfn(repoFile(ctx.root, 'sam/template.yaml'));
  } catch (e) {
    if (e instanceof CheckFailure) throw e;
    throw new CheckFailure('sam/template.yaml', 'valid YAML', e.message.split('\n')[0]);
  }
  const problems = checkTemplate(t, { makefile: repoFile(ctx.root, 'sam/Makefile') });
  expect(problems.length === 0, 'the template tests (tests/infra/template-checks.mjs)', 'no problems',
    () => problems.join('; '));
  return t;
}

// ---- phase 1: first function ----

async function checkGreet(ctx) {
  let r = await ctx.invoke('GET', '/greet', { query: 'name=Ada' });
  const body = expectStatus(r, 200, 'GET /greet?name=Ada');
  expect(body && body.message === 'Hello, Ada!', 'GET /greet?name=Ada', '{"message": "Hello, Ada!"}', () => show(r));
  r = await ctx.invoke('GET', '/greet', { query: 'name=Zo%C3%AB%20Smith' });
  expect(r.status === 200 && r.body.message === 'Hello, Zoë Smith!', 'GET /greet?name=Zoë Smith',
    '{"message": "Hello, Zoë Smith!"}', () => show(r));
  expectFieldError(await ctx.invoke('GET', '/greet'), 'name', 'GET /greet (no name)');
  expectFieldError(await ctx.invoke('GET', '/greet', { query: 'name=' }), 'name', 'GET /greet?name= (empty)');
  expectFieldError(await ctx.invoke('GET', '/greet', { query: `name=${'a'.repeat(41)}` }), 'name',
    'GET /greet with a 41-character name');
  // 40 characters that take 80 bytes: the limit is on characters.
  r = await ctx.invoke('GET', '/greet', { query: `name=${'%C3%A9'.repeat(40)}` });
  expect(r.status === 200, 'GET /greet with a 40-character name of 2-byte letters (é x 40)',
    'HTTP 200: 40 characters is allowed even when it is 80 bytes', () => show(r));
}

async function checkSum(ctx) {
  const post = (body) => ctx.invoke('POST', '/sum', { body });
  let r = await post({ numbers: [1, 2, 3.5] });
  expect(r.status === 200 && r.body.sum === 6.5, 'POST /sum {"numbers": [1, 2, 3.5]}', '200 {"sum": 6.5}', () => show(r));
  r = await post({ numbers: [] });
  expect(r.status === 200 && r.body.sum === 0, 'POST /sum {"numbers": []}', '200 {"sum": 0}', () => show(r));
  const bad = [
    [{}, 'no numbers'], [{ numbers: '1,2' }, 'numbers is a string'], [{ numbers: { a: 1 } }, 'numbers is an object'],
    [{ numbers: [1, '2'] }, 'a string in the list'], [{ numbers: [1, null] }, 'null in the list'],
    [{ numbers: Array(101).fill(1) }, '101 numbers (at most 100)'],
  ];
  for (const [body, what] of bad) expectFieldError(await post(body), 'numbers', `POST /sum, ${what}: ${json(body).slice(0, 40)}`);
  r = await ctx.invoke('POST', '/sum');
  expect(r.status === 400, 'POST /sum without a body', 'HTTP 400', () => show(r));
}

// ---- phase 2: authentication ----

async function checkWhoami(ctx) {
  let r = await ctx.invoke('GET', '/whoami');
  expect(r.status === 401, 'GET /whoami without a token', 'HTTP 401 (set auth = true on the route)', () => show(r));
  r = await ctx.invoke('GET', '/whoami', { token: 'not.a.token' });
  expect(r.status === 401, 'GET /whoami with a forged token', 'HTTP 401', () => show(r));
  r = await ctx.invoke('GET', '/whoami', { token: ctx.token(ALICE) });
  const b = expectStatus(r, 200, 'GET /whoami as alice');
  const want = { sub: ALICE.sub, email: ALICE.email, tenant: 'org:acme', groups: ALICE.groups };
  for (const [k, v] of Object.entries(want)) {
    expect(json(b[k]) === json(v), `GET /whoami as alice: field ${k}`, json(v), () => show(r));
  }
  const solo = { sub: 'u-solo', email: 'solo@moonbase.test' };
  r = await ctx.invoke('GET', '/whoami', { token: ctx.token(solo) });
  const s = expectStatus(r, 200, 'GET /whoami as a user in no tenant group');
  expect(s.tenant === 'user:u-solo' && json(s.groups) === '[]', 'GET /whoami as a user in no tenant group',
    '"tenant": "user:u-solo" (a personal tenant) and "groups": []', () => show(r));
}

// ---- phase 3: database ----

async function checkNotesCrud(ctx) {
  const A = ctx.token(ALICE);
  let r = await ctx.invoke('POST', '/notes', { token: A, body: { title: 'Buy milk', body: 'two litres' } });
  const created = expectStatus(r, 201, 'POST /notes');
  expect(ULID.test(created.id || ''), 'POST /notes: the new note\'s id', 'a ULID (ctx.ulid())', () => show(r));
  expect(created.title === 'Buy milk' && created.body === 'two litres', 'POST /notes: the answer',
    'the note with its title and body', () => show(r));
  const rows = await ctx.db.scan(ctx.table);
  const row = rows.find((x) => x.SK === `NOTE#${created.id}`);
  expect(row && row.PK === 'TENANT#org:acme', 'the table after POST /notes',
    `an item with SK "NOTE#${created.id}" in the partition TENANT#org:acme`, () => json(rows.map((x) => [x.PK, x.SK])));
  r = await ctx.invoke('GET', `/notes/${created.id}`, { token: A });
  expect(r.status === 200 && r.body.title === 'Buy milk', 'GET /notes/{id}', '200 with the note', () => show(r));
  r = await ctx.invoke('PUT', `/notes/${created.id}`, { token: A, body: { title: 'Buy oat milk' } });
  expect(r.status === 200 && r.body.title === 'Buy oat milk' && r.body.body === 'two litres',
    'PUT /notes/{id} {"title": "Buy oat milk"}', '200, the new title, the body unchanged', () => show(r));
  r = await ctx.invoke('GET', `/notes/${created.id}`, { token: A });
  expect(r.status === 200 && r.body.title === 'Buy oat milk', 'GET /notes/{id} after the PUT', 'the new title', () => show(r));
  r = await ctx.invoke('GET', `/notes/${created.id}`, { token: ctx.token(CAROL) });
  expect(r.status === 404, 'GET /notes/{id} by another tenant', 'HTTP 404', () => show(r));
  r = await ctx.invoke('DELETE', `/notes/${created.id}`, { token: A });
  expect(r.status === 204, 'DELETE /notes/{id}', 'HTTP 204', () => show(r));
  for (const [m, what] of [['GET', 'GET after DELETE'], ['DELETE', 'DELETE again'], ['PUT', 'PUT after DELETE']]) {
    r = await ctx.invoke(m, `/notes/${created.id}`, { token: A, body: m === 'PUT' ? { title: 'x' } : undefined });
    expect(r.status === 404, `${what}: ${m} /notes/{id}`, 'HTTP 404', () => show(r));
  }
  r = await ctx.invoke('GET', '/notes/not-a-note', { token: A });
  expect(r.status === 404, 'GET /notes/not-a-note', 'HTTP 404', () => show(r));
  const left = (await ctx.db.scan(ctx.table)).filter((x) => x.SK.startsWith('NOTE#'));
  expect(left.length === 0, 'the table after DELETE', 'no notes left', () => json(left));
}

async function checkNotesPages(ctx) {
  const ids = await seedNotes(ctx, 'acme', 7);
  await seedNotes(ctx, 'globex', 2); // another tenant's notes must never show
  await ctx.db.put(ctx.table, { PK: 'TENANT#org:acme', SK: 'PROFILE#u-alice', title: 'not a note' });
  const A = ctx.token(ALICE);
  let r = await ctx.invoke('GET', '/notes', { token: A });
  let b = expectStatus(r, 200, 'GET /notes');
  const listed = (b && Array.isArray(b.notes)) ? b.notes.map((n) => n.id) : null;
  const newestFirst = [...ids].reverse();
  expect(json(listed) === json(newestFirst) && b.cursor === null, 'GET /notes (7 notes, default limit 20)',
    `{"notes": [7 notes, newest first: ${newestFirst[0]}...], "cursor": null}`, () => show(r));
  const seen = [];
  let cursor;
  const sizes = [];
  for (let page = 0; page < 5; page++) {
    const query = `limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    r = await ctx.invoke('GET', '/notes', { token: A, query });
    b = expectStatus(r, 200, `GET /notes?${query.slice(0, 40)}`);
    expect(Array.isArray(b.notes), `GET /notes?${query.slice(0, 40)}`, 'a "notes" list', () => show(r));
    sizes.push(b.notes.length);
    seen.push(...b.notes.map((n) => n.id));
    cursor = b.cursor;
    if (cursor === null || cursor === undefined) break;
    expect(typeof cursor === 'string', 'the cursor of a page', 'a string, or null on the last page', () => show(r));
  }
  expect(json(seen) === json(newestFirst) && json(sizes) === '[3,3,1]', 'GET /notes?limit=3, following the cursor',
    'pages of 3, 3 and 1 notes: all 7 once, newest first, then "cursor": null', `pages of ${json(sizes)}: ${json(seen)}`);
  for (const limit of ['0', '101', 'abc', '2.5']) {
    expectFieldError(await ctx.invoke('GET', '/notes', { token: A, query: `limit=${limit}` }), 'limit', `GET /notes?limit=${limit}`);
  }
  r = await ctx.invoke('GET', '/notes', { token: A, query: 'limit=3&cursor=forged' });
  expect(r.status === 400, 'GET /notes?cursor=forged', 'HTTP 400 (pass the cursor to ctx.db.query as it came)', () => show(r));
}

async function checkNotesValidate(ctx) {
  const A = ctx.token(ALICE);
  const post = (body) => ctx.invoke('POST', '/notes', { token: A, body });
  const cases = [
    [{}, 'title'], [{ title: '' }, 'title'], [{ title: 42 }, 'title'], [{ title: 't'.repeat(101) }, 'title'],
    [{ title: 'ok', body: 5 }, 'body'], [{ title: 'ok', body: 'b'.repeat(2001) }, 'body'],
    [{ title: 'ok', tags: 'x' }, 'tags'], [{ title: 'ok', tags: ['a', 'b', 'c', 'd', 'e', 'f'] }, 'tags'],
    [{ title: 'ok', tags: [1] }, ['tags', 'tags[0]']], [{ title: 'ok', tags: [''] }, ['tags', 'tags[0]']],
    [{ title: 'ok', colour: 'red' }, 'colour'],
  ];
  for (const [body, field] of cases) expectFieldError(await post(body), field, `POST /notes ${json(body).slice(0, 50)}`);
  const written = (await ctx.db.scan(ctx.table)).filter((x) => x.SK.startsWith('NOTE#'));
  expect(written.length === 0, 'the table after the refused requests', 'nothing written', () => `${written.length} notes`);
  const r = await post({ title: 'é'.repeat(100), body: '', tags: ['home', 'urgent'] });
  expect(r.status === 201 && json(r.body.tags) === '["home","urgent"]', 'POST /notes with a 100-character title and two tags',
    '201 with "tags": ["home","urgent"]', () => show(r));
  expectFieldError(await ctx.invoke('PUT', `/notes/${r.body.id}`, { token: A, body: { title: '' } }), 'title',
    'PUT /notes/{id} {"title": ""}');
}

// ---- phase 4: frontend ----

// A tiny API Gateway: every request to /api/... becomes one `bootstrap invoke` of the app's own
// handlers/ (hello.lua), so the learner's client talks HTTP to the real pipeline.
async function withGateway(ctx, fn) {
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    try {
      const r = await ctx.invoke(req.method, url.pathname.replace(/^\/api/, ''), {
        query: url.search.slice(1), env: { HANDLERS_DIR: path.join(ctx.root, 'handlers') },
      });
      res.writeHead(r.status, r.headers);
      res.end(r.raw);
    } catch (e) {
      res.writeHead(502);
      res.end(String(e.message));
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  try {
    return await fn(`http://127.0.0.1:${server.address().port}/api`);
  } finally {
    server.close();
  }
}

async function checkHelloClient(ctx) {
  const file = 'learn/frontend/hello_client.js';
  // A fresh copy each time: import() caches modules by URL, and the learner edits the file.
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'learn-client-'));
  try {
    writeFileSync(path.join(tmp, 'hello_client.mjs'), repoFile(ctx.root, file));
    let mod;
    try {
      mod = await import(pathToFileURL(path.join(tmp, 'hello_client.mjs')));
    } catch (e) {
      throw new CheckFailure(file, 'a JavaScript module that loads', `${e.name}: ${e.message}`);
    }
    expect(typeof mod.greeting === 'function', file, 'an exported function greeting(apiBase, name)', Object.keys(mod).join(', ') || 'no exports');
    await withGateway(ctx, async (base) => {
      for (const name of ['Ada', 'Ada Lovelace & Charles Babbage', 'a=b#c?d+e%f', 'Zoë 🚀']) {
        let got;
        try { got = await mod.greeting(base, name); } catch (e) { got = `an error: ${e.message}`; }
        expect(got === `Hello, ${name}!`, `greeting(api, ${json(name)})`, json(`Hello, ${name}!`), json(got));
      }
      for (const [name, what] of [['', 'an empty name'], ['x'.repeat(65), 'a 65-character name']]) {
        let err = null;
        try { await mod.greeting(base, name); } catch (e) { err = e; }
        expect(err && err.status === 400 && err.field === 'name' && /name/.test(err.message),
          `greeting(api, ${what})`, 'a rejection: an Error with status 400, field "name" and the API\'s message',
          err ? `Error(${json(err.message)}) status ${err.status} field ${err.field}` : 'it resolved');
      }
    });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

// ---- phase 5: infrastructure as code ----

async function checkLogGroupOutput(ctx) {
  const t = await loadTemplate(ctx);
  const out = (t.Outputs || {}).LogGroupName;
  expect(out, 'sam/template.yaml Outputs', 'an output named LogGroupName', Object.keys(t.Outputs || {}).join(', '));
  const fn = Object.entries(t.Resources).find(([, r]) => r.Type === 'AWS::Serverless::Function');
  const fnLogs = fn && fn[1].Properties.LoggingConfig && fn[1].Properties.LoggingConfig.LogGroup;
  expect(fnLogs && json(out.Value) === json(fnLogs), 'Outputs.LogGroupName.Value',
    `the log group the function writes to (${json(fnLogs)})`, json(out.Value));
  expect(typeof out.Description === 'string' && out.Description.length > 0, 'Outputs.LogGroupName.Description', 'a description', json(out.Description));
  const name = out.Export && out.Export.Name;
  const sub = name && (name['Fn::Sub'] !== undefined ? [].concat(name['Fn::Sub'])[0] : null);
  expect(typeof sub === 'string' && sub.includes('${AWS::StackName}'), 'Outputs.LogGroupName.Export.Name',
    'a name built with !Sub from ${AWS::StackName} (export names are unique per region)', json(name));
}

// ---- phase 6: CI/CD ----

async function checkCiLintJob(ctx) {
  const rel = '.github/workflows/ci.yml';
  const doc = parseDocument(repoFile(ctx.root, rel), { uniqueKeys: true });
  expect(!doc.errors.length, rel, 'valid YAML', () => doc.errors.map((e) => e.message).join('; '));
  const wf = doc.toJS();
  const { workflowProblems } = await import(pathToFileURL(path.join(ctx.repo, 'tests/infra/workflow-checks.mjs')));
  const problems = workflowProblems('ci.yml', repoFile(ctx.root, rel), wf);
  expect(!problems.length, `${rel}: the workflow rules (tests/infra/workflow-checks.mjs)`, 'no problems', () => problems.join('; '));
  const jobs = Object.entries(wf.jobs || {});
  const found = jobs.flatMap(([id, job]) => (job.steps || []).map((s) => ({ id, job, step: s })))
    .find(({ step }) => typeof step.run === 'string' && /luacheck/.test(step.run) && /learn\/handlers/.test(step.run));
  expect(found, `${rel}: jobs`, 'a job with a step whose run: calls luacheck on learn/handlers',
    `jobs ${jobs.map(([id]) => id).join(', ')}, none linting learn/handlers`);
  const { id, job } = found;
  expect(job['runs-on'] && job.container === 'debian:12', `${rel}: job ${id}`,
    'runs-on and container: debian:12, like every job of this project', json({ 'runs-on': job['runs-on'], container: job.container }));
  expect(job.steps.some((s) => /^actions\/checkout@/.test(s.uses || '')), `${rel}: job ${id}`,
    'a step that uses actions/checkout (a job starts with an empty workspace)', json(job.steps.map((s) => s.uses || s.name)));
  // Run the step the way the runner would, in a scratch copy: it must pass on the learner's
  // handlers and fail once a handler that escapes the sandbox is added.
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'learn-ci-'));
  try {
    cpSync(path.join(ctx.root, 'learn/handlers'), path.join(scratch, 'learn/handlers'), { recursive: true });
    cpSync(path.join(ctx.repo, '.luacheckrc'), path.join(scratch, '.luacheckrc'));
    let r = await ctx.h.exec('bash', ['-e', '-c', found.step.run], { cwd: scratch });
    expect(r.code === 0, `the step "${found.step.name || found.step.run}" run on learn/handlers`, 'exit 0',
      () => `exit ${r.code}: ${(r.stdout + r.stderr).trim().split('\n').slice(-4).join(' | ')}`);
    cpSync(path.join(ctx.repo, 'tests/data/luacheck_bad.lua'), path.join(scratch, 'learn/handlers/escape.lua'));
    r = await ctx.h.exec('bash', ['-e', '-c', found.step.run], { cwd: scratch });
    expect(r.code !== 0, 'the same step with a handler using os.date, rawset and io added', 'a failure (non-zero exit)', 'exit 0');
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

// ---- phase 7: monitoring ----

async function checkFeedbackMetric(ctx) {
  const { checkOutput } = await import(pathToFileURL(path.join(ctx.repo, 'tests/emf_check_lib.mjs')));
  const comment = 'The export button is hidden, please move it';
  const r = await ctx.invoke('POST', '/feedback', { body: { rating: 4, comment } });
  expect(r.status === 202 && r.body.received === true, 'POST /feedback {"rating": 4, ...}', '202 {"received": true}', () => show(r));
  const out = checkOutput(r.stderr);
  expect(!out.problems.length, 'the EMF output', 'valid EMF documents', () => out.problems.join('; '));
  const emf = out.docs[0] || {};
  const metrics = (emf._aws?.CloudWatchMetrics?.[0]?.Metrics || []).map((m) => m.Name);
  expect(json(emf.FeedbackRating) === '4' || json(emf.FeedbackRating) === '[4]', 'the EMF document of the request',
    'a metric FeedbackRating with the value 4 (ctx.metric)', `metrics ${metrics.join(', ')}; FeedbackRating = ${json(emf.FeedbackRating)}`);
  const line = out.objects.find((o) => o.message === 'feedback received');
  expect(line && line.level === 'INFO' && line.rating === 4, 'the log lines of the request',
    'an INFO line "feedback received" with the field rating = 4 (ctx.log.info)',
    () => out.objects.filter((o) => !o._aws && o.type !== 'access').map((o) => json(o).slice(0, 120)).join(' | ') || 'no handler lines');
  expect(line.requestId && line.requestId === r.access?.requestId, 'the "feedback received" line', 'the request id of the access line (ctx.log adds it)', json(line.requestId));
  expect(!r.stderr.includes('export button'), 'the logs', 'no trace of the comment text (it may hold personal data)', 'the comment appears in the logs');
  for (const rating of [0, 6, '5', 4.5]) {
    const bad = await ctx.invoke('POST', '/feedback', { body: { rating } });
    expectFieldError(bad, 'rating', `POST /feedback {"rating": ${json(rating)}}`);
    const doc = checkOutput(bad.stderr).docs[0] || {};
    expect(doc.FeedbackRating === undefined, `the EMF document of POST /feedback {"rating": ${json(rating)}}`,
      'no FeedbackRating for a refused request', json(doc.FeedbackRating));
  }
}

// The expected answer of insights-query, computed here in plain JavaScript from the recording.
function errorsByRoute(rows) {
  const counts = new Map();
  for (const r of rows) {
    if (r.type === 'access' && r.status >= 400 && r.route !== undefined) counts.set(r.route, (counts.get(r.route) || 0) + 1);
  }
  return [...counts].map(([route, errors]) => ({ route, errors })).sort((a, b) => b.errors - a.errors);
}

async function checkInsightsQuery(ctx) {
  const rel = 'learn/queries/errors-by-route.insights';
  const query = repoFile(ctx.root, rel);
  const rows = rowsFromLines(readFileSync(path.join(ctx.repo, 'learn/data/app-logs.jsonl'), 'utf8').split('\n'));
  const want = errorsByRoute(rows);
  let got;
  try {
    got = runQuery(query, rows);
  } catch (e) {
    if (!(e instanceof QueryError)) throw e;
    const empty = !query.split('\n').some((l) => l.trim() && !l.trim().startsWith('#'));
    throw new CheckFailure(rel, 'a query this checker can run', empty ? 'only comments (write the query)' : e.message);
  }
  expect(json(got.columns) === '["route","errors"]', `${rel}: the columns`, '["route","errors"]', json(got.columns));
  expect(json(got.rows) === json(want), `${rel} run on learn/data/app-logs.jsonl`, json(want), json(got.rows.slice(0, 8)));
}

async function checkFeedbackAlarm(ctx) {
  const t = await loadTemplate(ctx);
  const alarms = Object.entries(t.Resources).filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm');
  const found = alarms.find(([, r]) => r.Properties && r.Properties.MetricName === 'FeedbackRating');
  expect(found, 'sam/template.yaml', 'an AWS::CloudWatch::Alarm on the metric FeedbackRating',
    `alarms on ${alarms.map(([, r]) => r.Properties?.MetricName).join(', ')}`);
  const [id, { Properties: p }] = found;
  expect(json(p.Namespace) === json({ Ref: 'MetricsNamespace' }), `${id}.Namespace`,
    'the EMF namespace the function writes to (!Ref MetricsNamespace)', json(p.Namespace));
  expect(p.Statistic === 'Average', `${id}.Statistic`, 'Average (a low average rating, not a count)', json(p.Statistic));
  expect(['LessThanThreshold', 'LessThanOrEqualToThreshold'].includes(p.ComparisonOperator) && p.Threshold >= 1 && p.Threshold <= 4,
    `${id}: ComparisonOperator and Threshold`, 'an alarm when the average falls below a rating between 1 and 4',
    json({ ComparisonOperator: p.ComparisonOperator, Threshold: p.Threshold }));
  expect(p.Period >= 300 && p.Period % 60 === 0, `${id}.Period`, 'at least 300 seconds, a multiple of 60 (a few ratings are noise)', json(p.Period));
  expect(p.TreatMissingData === 'notBreaching', `${id}.TreatMissingData`, 'notBreaching (no feedback is not bad feedback)', json(p.TreatMissingData));
}

// ---- phase 8: security ----

async function checkAdminGroup(ctx) {
  let r = await ctx.invoke('GET', '/admin/report');
  expect(r.status === 401, 'GET /admin/report without a token', 'HTTP 401', () => show(r));
  r = await ctx.invoke('GET', '/admin/report', { token: ctx.token(ALICE) });
  expect(r.status === 403, 'GET /admin/report as alice (group editors)', 'HTTP 403 (only the group admins)', () => show(r));
  r = await ctx.invoke('GET', '/admin/report', { token: ctx.token(BOB) });
  expect(r.status === 403, 'GET /admin/report as bob (only his tenant group)', 'HTTP 403', () => show(r));
  r = await ctx.invoke('GET', '/admin/report', { token: ctx.token(ADMIN) });
  expect(r.status === 200 && r.body.readBy === ADMIN.email, 'GET /admin/report as ada (group admins)', 'HTTP 200 with the report', () => show(r));
}

async function checkOwnerOnly(ctx) {
  const A = ctx.token(ALICE);
  const B = ctx.token(BOB);
  let r = await ctx.invoke('PUT', '/docs/plan', { token: A, body: { text: 'v1 by alice' } });
  expect(r.status === 201, 'PUT /docs/plan as alice (new document)', 'HTTP 201', () => show(r));
  r = await ctx.invoke('GET', '/docs/plan', { token: B });
  expect(r.status === 200 && r.body.text === 'v1 by alice', 'GET /docs/plan as bob (same tenant)', '200: reading stays open', () => show(r));
  r = await ctx.invoke('PUT', '/docs/plan', { token: B, body: { text: 'v2 by bob' } });
  expect(r.status === 403, 'PUT /docs/plan as bob (not the owner)', 'HTTP 403', () => show(r));
  r = await ctx.invoke('DELETE', '/docs/plan', { token: B });
  expect(r.status === 403, 'DELETE /docs/plan as bob (not the owner)', 'HTTP 403', () => show(r));
  const doc = (await ctx.db.scan(ctx.table)).find((x) => x.SK === 'DOC#plan');
  expect(doc && doc.text === 'v1 by alice' && doc.owner === ALICE.sub, 'the stored document after bob\'s attempts',
    'unchanged: alice\'s text, alice the owner', json(doc));
  r = await ctx.invoke('PUT', '/docs/plan', { token: A, body: { text: 'v2 by alice' } });
  expect(r.status === 200, 'PUT /docs/plan as alice (the owner)', 'HTTP 200', () => show(r));
  r = await ctx.invoke('DELETE', '/docs/plan', { token: A });
  expect(r.status === 204, 'DELETE /docs/plan as alice (the owner)', 'HTTP 204', () => show(r));
}

// A tenant handler: deployed by a tenant admin through the platform's API, run at /t/{name}.
async function checkTenantHandler(ctx) {
  const rel = 'learn/tenant/visits.lua';
  const source = repoFile(ctx.root, rel);
  const owner = { sub: 'u-tara', email: 'tara@moonbase.test', groups: ['tenant-admin', 'tenant:acme'] };
  let r = await ctx.invoke('PUT', '/tenant/handlers/visits', { token: ctx.token(owner), body: { source } });
  expect(r.status === 200 && Number.isInteger(r.body.version), `PUT /tenant/handlers/visits with ${rel} (as a tenant admin of acme)`,
    '200 {"name": "visits", "version": ...}: the API compiles the source on save', () => show(r));
  const B = ctx.token(BOB);
  for (const want of [1, 2]) {
    r = await ctx.invoke('GET', '/t/visits', { token: B });
    expect(r.status === 200 && r.body.visits === want && r.body.tenant === 'org:acme', `GET /t/visits as bob, visit ${want}`,
      `200 {"visits": ${want}, "tenant": "org:acme"}`, () => show(r));
  }
  r = await ctx.invoke('GET', '/t/visits', { token: ctx.token(ALICE) });
  expect(r.status === 200 && r.body.visits === 1, 'GET /t/visits as alice (same tenant, first visit)',
    '200 {"visits": 1}: one counter per user', () => show(r));
  r = await ctx.invoke('GET', '/t/visits', { token: ctx.token(CAROL) });
  expect(r.status === 404, 'GET /t/visits as carol (tenant globex)', 'HTTP 404: acme\'s handler does not exist in globex', () => show(r));
  const item = (await ctx.db.scan(ctx.table)).find((x) => x.PK === 'TENANT#org:acme' && /VISITS#u-bob$/.test(x.SK));
  expect(item && item.count === 2, 'the table after bob\'s two visits', 'an item SK "...VISITS#u-bob" with count 2 in TENANT#org:acme',
    () => json((item && [item.SK, item.count]) || 'no such item'));
}

// ---- phase 9: performance ----

async function checkBatchRead(ctx) {
  const ids = await seedNotes(ctx, 'acme', 4);
  const A = ctx.token(ALICE);
  const ask = [ids[2], ids[0], 'MISSING', ids[3]];
  const r = await ctx.invoke('GET', '/batch/notes', { token: A, query: `ids=${ask.join(',')}` });
  const b = expectStatus(r, 200, 'GET /batch/notes?ids=<3 notes and a missing id>');
  expect(json((b.notes || []).map((n) => n.id)) === json([ids[2], ids[0], ids[3]]), 'GET /batch/notes: the notes',
    'the 3 notes that exist, in the order asked for', () => show(r));
  const calls = [].concat(r.emf[0]?.DbLatency ?? []).length;
  expect(calls === 1, 'DynamoDB requests made by GET /batch/notes with 4 ids (the DbLatency values in its EMF document)',
    '1 (one BatchGetItem with ctx.db.batch_get)', `${calls}`);
  expectFieldError(await ctx.invoke('GET', '/batch/notes', { token: A, query: `ids=${Array(26).fill(ids[0]).join(',')}` }), 'ids',
    'GET /batch/notes with 26 ids');
}

// Median wall time of `bootstrap invoke` on GET /hello, over n runs (what bench/run-coldstart
// measures, with fewer runs).
async function medianColdStart(ctx, n) {
  const event = path.join(ctx.repo, 'sam/events/hello.json');
  const times = [];
  for (let i = 0; i < n; i++) {
    const r = await ctx.h.exec(ctx.h.bootstrap, ['invoke', '--event', event], { env: { HANDLERS_DIR: path.join(ctx.repo, 'handlers') } });
    times.push(r.ms);
  }
  return times.sort((a, b) => a - b)[n >> 1];
}

async function checkColdstart(ctx) {
  const rel = 'learn/answers/coldstart.json';
  let a;
  try { a = JSON.parse(repoFile(ctx.root, rel)); } catch (e) {
    if (e instanceof CheckFailure) throw e;
    throw new CheckFailure(rel, 'valid JSON', e.message);
  }
  for (const k of ['bootstrap_ms', 'node_ms', 'ratio']) {
    expect(typeof a[k] === 'number' && a[k] > 0, `${rel}: ${k}`, 'a positive number from bench/run-coldstart', json(a[k]));
  }
  expect(Math.abs(a.ratio - a.node_ms / a.bootstrap_ms) <= 0.1 * a.ratio + 0.1, `${rel}: ratio`,
    `node_ms / bootstrap_ms = ${(a.node_ms / a.bootstrap_ms).toFixed(1)}`, json(a.ratio));
  // The figure must be of this machine and this build: within 10x of a quick measurement here.
  const m = await medianColdStart(ctx, 5);
  expect(a.bootstrap_ms <= m * 10 && a.bootstrap_ms >= m / 10, `${rel}: bootstrap_ms`,
    `a figure measured on this machine (the checker measures ${m.toFixed(2)} ms; within 10x of that)`, json(a.bootstrap_ms));
}

// The reference solution of coldstart is a measurement: run the bench script with few runs on
// the checker's own bootstrap, GET /hello only (the routes that need dynalite and cognito-local
// would start them on the bench's fixed ports), one round, its state and output in a scratch
// folder (never the repository's build/), and write its figures.
async function solveColdstart(ctx) {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'learn-coldstart-'));
  let r;
  try {
    r = await ctx.h.exec('bash', [path.join(ctx.repo, 'bench/run-coldstart')], {
      env: {
        MB_BOOTSTRAP: ctx.h.bootstrap, COLD_ROUTES: 'hello', COLD_ROUNDS: '1', COLD_RUNS: '3', COLD_WARMUP: '1',
        MB_BUILD_DIR: scratch, BENCH_OUT: path.join(scratch, 'out'),
      },
      timeoutMs: 120000,
    });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const num = (re) => { const m = re.exec(r.stdout); return m ? Number(m[1]) : null; };
  const answer = {
    bootstrap_ms: num(/bootstrap invoke\s*:\s*([\d.]+) ms/),
    node_ms: num(/node peer\s*:\s*([\d.]+) ms/),
    ratio: num(/node \/ C\s*:\s*([\d.]+)x/),
  };
  if (r.code !== 0 || answer.bootstrap_ms === null) throw new Error(`bench/run-coldstart failed: ${r.stdout}${r.stderr}`);
  writeFileSync(path.join(ctx.root, 'learn/answers/coldstart.json'), `${JSON.stringify(answer, null, 2)}\n`);
}

// ---- the list, in order ----

const RESOURCES = /^Resources:[ \t]*\n/m;
const OUTPUTS = /^Outputs:[ \t]*\n/m;
const JOBS = /^jobs:[ \t]*\n/m;

export const EXERCISES = [
  {
    id: 'greet-name', phase: 1, title: 'GET /greet?name= with a validated name', kind: 'local',
    files: ['learn/handlers/greet.lua'], check: checkGreet, solution: [sol('greet.lua')],
    task: 'GET /greet?name=Ada answers {"message": "Hello, Ada!"}; a missing, empty or longer than 40 characters name answers 400 with "field": "name".',
    hint: 'req.query.name is the parameter (nil when absent). ctx.fail(400, "name is required", { field = "name" }) stops the handler with a clean 400. Count characters with utf8.len(name), not #name (bytes). Model: handlers/hello.lua.',
  },
  {
    id: 'sum-input', phase: 1, title: 'POST /sum: invalid input answers 400 by field', kind: 'local',
    files: ['learn/handlers/sum.lua'], check: checkSum, solution: [sol('sum.lua')],
    task: 'POST /sum {"numbers": [1, 2, 3.5]} answers {"sum": 6.5}; anything but a list of at most 100 numbers answers 400 with "field": "numbers".',
    hint: 'req.json is the parsed body. A JSON list is a Lua table whose metatable is json.array_mt (getmetatable(t) == json.array_mt); an object has none. Check type(n) == "number" for each element with ipairs.',
  },
  {
    id: 'whoami', phase: 2, title: 'GET /whoami from the verified token (req.user)', kind: 'local',
    files: ['learn/handlers/routes.lua', 'learn/handlers/whoami.lua'], check: checkWhoami, solution: [sol('routes.lua'), sol('whoami.lua')],
    task: 'GET /whoami needs a token (401 without) and answers sub, email, tenant and groups from req.user.',
    hint: 'Add auth = true to the /whoami route in learn/handlers/routes.lua: the runtime then verifies the token and fills req.user (sub, email, tenant — "org:<name>" or "user:<sub>" —, groups...) before your handler runs. Model: handlers/me.lua.',
  },
  {
    id: 'cognito-flows', phase: 2, title: 'Sign-up, password reset and MFA on Cognito', kind: 'aws',
    files: [],
    task: 'On a deployed stack (docs/deploy.md), sign up in the SPA, confirm with the emailed code, reset the password, then turn on TOTP MFA in the profile and log in again.',
    hint: 'Deploy as docs/deploy.md says (first time: cd sam && sam build --config-env dev && sam deploy --guided --config-env dev; then bash sam/deploy.sh --config-env dev, which also publishes the SPA). Then: aws cognito-idp admin-get-user --user-pool-id <UserPoolId output> --username <email> shows UserStatus CONFIRMED and, after MFA setup, UserMFASettingList [SOFTWARE_TOKEN_MFA]. Locally the same flows (except real email) run against cognito-local: scripts/up, then the SPA.',
  },
  {
    id: 'notes-crud', phase: 3, title: 'Notes: create, read, update, delete with ctx.db', kind: 'local',
    files: ['learn/handlers/notes.lua'], check: checkNotesCrud, solution: [sol('notes.lua')],
    task: 'POST /notes (201, id = ctx.ulid()), GET/PUT/DELETE /notes/{id} (404 when missing), stored as SK = "NOTE#<id>".',
    hint: 'ctx.db.put({ SK = "NOTE#" .. id, ... }), ctx.db.get("NOTE#" .. id) (nil when missing), ctx.db.update(key, { set = {...}, exists = true }), ctx.db.delete(key) (returns the old item or nil). Never set PK: ctx.db adds your tenant. Model: handlers/items.lua; reference: docs/handlers.md.',
  },
  {
    id: 'notes-pages', phase: 3, title: 'Notes: a list in pages with a cursor', kind: 'local',
    files: ['learn/handlers/notes.lua'], check: checkNotesPages, solution: [sol('notes.lua')],
    task: 'GET /notes?limit=N&cursor=C answers {"notes": [...newest first], "cursor": next page or null}; limit 1..100 (default 20), else 400 "field": "limit".',
    hint: 'ctx.db.query({ begins_with = "NOTE#", descending = true, limit = limit, cursor = req.query.cursor }) returns page.items and page.cursor (nil on the last page: send json.null). A forged cursor is refused by ctx.db itself.',
  },
  {
    id: 'notes-validate', phase: 3, title: 'Notes: refuse bad input by field', kind: 'local',
    files: ['learn/handlers/notes.lua'], check: checkNotesValidate, solution: [sol('notes.lua')],
    task: 'POST/PUT /notes: title 1..100 characters (required on POST), body up to 2000, tags a list of at most 5 strings of 1..20; unknown fields refused; 400 names the field; nothing written.',
    hint: 'Validate before any ctx.db call. ctx.validate(req.json, schema) answers the 400 by itself, naming the field: a schema like { type = "object", fields = { title = { type = "string", required = true, min_len = 1, max_len = 100 }, ... } } refuses unknown fields too (docs/handlers.md, ctx.validate; handlers/items.lua). By hand works as well: ctx.fail(400, message, { code = "validation", field = "title" }).',
  },
  {
    id: 'hello-client', phase: 4, title: 'The browser side: call the API and show its errors', kind: 'local',
    files: ['learn/frontend/hello_client.js'], check: checkHelloClient,
    solution: [{ copy: 'learn/solutions/frontend/hello_client.js', to: 'learn/frontend/hello_client.js' }],
    task: 'greeting(apiBase, name) fetches `${apiBase}/hello?name=...` and resolves to the message; a 400 rejects with an Error carrying status and field.',
    hint: 'Encode the name with encodeURIComponent (a "&" or "#" would otherwise end the parameter). await res.json() gives the body; when !res.ok build an Error from body.message and copy body.field. Model: ApiError in frontend/src/api.js.',
  },
  {
    id: 'log-group-output', phase: 5, title: 'A stack output: the function\'s log group', kind: 'local',
    files: ['sam/template.yaml'], check: checkLogGroupOutput,
    solution: [{ insert: 'learn/solutions/template/log-group-output.yaml', into: 'sam/template.yaml', after: OUTPUTS }],
    task: 'Add an output LogGroupName to sam/template.yaml: the log group the function writes to, with a description, exported as ${AWS::StackName}-LogGroupName.',
    hint: 'Under Outputs: LogGroupName: { Description: ..., Value: !Ref FunctionLogGroup, Export: { Name: !Sub "${AWS::StackName}-LogGroupName" } }. The function\'s LoggingConfig names the group. The template tests (npm: node --test tests/infra/test_sam_template.mjs) must still pass.',
  },
  {
    id: 'multi-env', phase: 5, title: 'Two environments from one template', kind: 'aws',
    files: [],
    task: 'Deploy dev and staging from the same template (sam deploy --config-env dev / staging) and compare their outputs.',
    hint: 'bash sam/deploy.sh --config-env dev, then bash sam/deploy.sh --config-env staging (sam/samconfig.toml holds one section per environment; docs/deploy.md, "Environments"). aws cloudformation describe-stacks --stack-name moonbase-staging --query "Stacks[0].Outputs" vs moonbase-dev: two ApiUrls, two tables, two user pools; the EMF Environment dimension tells their metrics apart, and the log retention differs (7 vs 30 days).',
  },
  {
    id: 'ci-lint-job', phase: 6, title: 'A CI job that lints your handlers', kind: 'local',
    files: ['.github/workflows/ci.yml'], check: checkCiLintJob,
    solution: [{ insert: 'learn/solutions/workflows/learn-lint-job.yaml', into: '.github/workflows/ci.yml', after: JOBS }],
    task: 'Add a job to .github/workflows/ci.yml that checks out the code and runs luacheck (with .luacheckrc) on learn/handlers, following the project\'s workflow rules (debian:12, pinned actions, job permissions).',
    hint: 'Copy the shape of the test job: runs-on, container: debian:12, permissions: { contents: read }, and steps: the checkout step exactly as the test job writes it (actions are pinned by commit SHA with a # vX.Y.Z comment), a step installing lua-check (apt-get), and - run: luacheck --no-color --config .luacheckrc learn/handlers. The checker runs the luacheck step here (keep the install in a step of its own): it must pass on your handlers and fail on a bad one.',
  },
  {
    id: 'approvals-rollback', phase: 6, title: 'Production behind an approval, and a rollback', kind: 'aws',
    files: [],
    task: 'In your fork, give the prod environment a required reviewer and promote a commit through dev -> staging -> prod; then push a handler that fails and watch the staging canary roll it back.',
    hint: 'GitHub: Settings -> Environments -> prod -> Required reviewers (docs/deploy.md, "GitHub Actions set-up"); deploy.yml then waits for the approval before prod. For the rollback, make a handler error on every request, push to main: during the staging canary (10% for 5 minutes) the canary errors alarm fires, CodeDeploy moves the alias back and the stage fails. aws deploy list-deployments and the CodeDeploy console show the rolled-back deployment.',
  },
  {
    id: 'feedback-metric', phase: 7, title: 'A business metric and a structured log line', kind: 'local',
    files: ['learn/handlers/feedback.lua'], check: checkFeedbackMetric, solution: [sol('feedback.lua')],
    task: 'POST /feedback {"rating": 1..5, "comment": ...} answers 202, puts the metric FeedbackRating = rating (ctx.metric) and logs "feedback received" with the rating (ctx.log.info), never the comment; a bad rating is a 400 with no metric.',
    hint: 'ctx.metric("FeedbackRating", rating, "None") and ctx.log.info("feedback received", { rating = rating }). Validate first: math.type(rating) == "integer" and 1 <= rating <= 5. Try it: HANDLERS_DIR=learn/handlers build/bootstrap invoke --event <file> and read stderr.',
  },
  {
    id: 'insights-query', phase: 7, title: 'A Logs Insights query on recorded log lines', kind: 'local',
    files: ['learn/queries/errors-by-route.insights'], check: checkInsightsQuery,
    solution: [{ copy: 'learn/solutions/queries/errors-by-route.insights', to: 'learn/queries/errors-by-route.insights' }],
    task: 'Write learn/queries/errors-by-route.insights: per route, the number of requests with status >= 400 (columns route, errors), most first, without unmatched requests.',
    hint: 'Only the access line of a request has a status (type = "access"). filter ... and ispresent(route) | stats count(*) as errors by route | sort errors desc. The lines are in learn/data/app-logs.jsonl; docs/observability.md has more queries.',
  },
  {
    id: 'feedback-alarm', phase: 7, title: 'An alarm on the business metric', kind: 'local',
    files: ['sam/template.yaml'], check: checkFeedbackAlarm,
    solution: [{ insert: 'learn/solutions/template/feedback-alarm.yaml', into: 'sam/template.yaml', after: RESOURCES }],
    task: 'Add an AWS::CloudWatch::Alarm to sam/template.yaml on the average FeedbackRating (namespace and [Environment] dimension of the EMF metrics) below a threshold, notifying AlarmTopic, missing data not breaching.',
    hint: 'Copy LatencyP99Alarm in sam/template.yaml and change MetricName, Statistic: Average, ComparisonOperator: LessThanThreshold, Threshold: 3, Period: 3600, TreatMissingData: notBreaching. The template tests also want AlarmActions: [!Ref AlarmTopic] and the Dimensions [Environment].',
  },
  {
    id: 'admin-group', phase: 8, title: 'A route only a Cognito group may call', kind: 'local',
    files: ['learn/handlers/routes.lua'], check: checkAdminGroup, solution: [sol('routes.lua')],
    task: 'GET /admin/report: 401 without a token, 403 for users outside the group "admins", 200 for admins.',
    hint: 'The check belongs in the route, not the handler: add groups = { "admins" } next to auth = true in learn/handlers/routes.lua. The runtime compares it with the token\'s cognito:groups and answers 403 itself.',
  },
  {
    id: 'owner-only', phase: 8, title: 'Only the owner may change a document', kind: 'local',
    files: ['learn/handlers/docs.lua'], check: checkOwnerOnly, solution: [sol('docs.lua')],
    task: 'PUT and DELETE /docs/{id} by anyone but the document\'s owner answer 403 and leave it unchanged; reading stays open to the tenant.',
    hint: 'The tenant boundary is enforced by ctx.db; inside a tenant it is yours to enforce. Compare existing.owner with req.user.sub and ctx.fail(403, ...). Better still, make the write conditional: ctx.db.put(doc, { expect = { owner = req.user.sub } }).',
  },
  {
    id: 'waf-rate-limit', phase: 8, title: 'The WAF rate rule in front of the API', kind: 'aws',
    files: [],
    task: 'On a deployed dev stack, lower the WAF per-IP rate limit and watch a burst of requests get 403 from WAF, before API Gateway or your handler see them.',
    hint: 'sam/template.yaml attaches a WAF web ACL to the API stage (WafEnabled, default "true"; managed rules + a rate-based rule of WafRateLimitPer5Min requests per IP in 5 minutes). bash sam/deploy.sh --config-env dev --param WafRateLimitPer5Min=100, then: for i in $(seq 1 400); do curl -s -o /dev/null -w "%{http_code}\\n" "$API/hello"; done | sort | uniq -c — 403s appear once the rule trips (it evaluates with a delay of up to a minute or two). The WAF console (Web ACLs, sampled requests) shows the blocked ones; the function logs never do.',
  },
  {
    id: 'tenant-handler', phase: 8, title: 'A tenant handler, deployed through the API', kind: 'local',
    files: ['learn/tenant/visits.lua'], check: checkTenantHandler,
    solution: [{ copy: 'learn/solutions/tenant/visits.lua', to: 'learn/tenant/visits.lua' }],
    task: 'Write learn/tenant/visits.lua: at GET /t/visits it counts the caller\'s visits (one item per user, SK "VISITS#<sub>") and answers {"visits": n, "tenant": ...}. The checker deploys it with PUT /tenant/handlers/visits as a tenant admin.',
    hint: 'ctx.db.update("VISITS#" .. req.user.sub, { add = { count = 1 } }) creates or increments the counter and returns the item after the update. A tenant handler is one file (no require) and runs in the same sandbox as yours; its ctx.db stays inside the tenant\'s APP# namespace. By hand: PUT /api/tenant/handlers/visits {"source": "..."} with a tenant-admin\'s token, then GET /api/t/visits.',
  },
  {
    id: 'batch-read', phase: 9, title: 'One DynamoDB request instead of N', kind: 'local',
    files: ['learn/handlers/batch_notes.lua'], check: checkBatchRead, solution: [sol('batch_notes.lua')],
    task: 'GET /batch/notes?ids=a,b,c works today with one GetItem per id; make it one BatchGetItem, same answer in the same order.',
    hint: 'ctx.db.batch_get({ "NOTE#" .. a, "NOTE#" .. b }) returns the items found, in any order: index them by id and answer in the order of ids. Each DynamoDB request adds a DbLatency value to the EMF document: that is how the checker counts them.',
  },
  {
    id: 'coldstart', phase: 9, title: 'Measure the cold start', kind: 'local',
    files: ['learn/answers/coldstart.json'], check: checkColdstart, solution: [{ run: solveColdstart }],
    task: 'Run COLD_ROUTES=hello bench/run-coldstart and write its three GET /hello figures (bootstrap invoke ms, node peer ms, the ratio) into learn/answers/coldstart.json.',
    hint: 'COLD_ROUTES=hello bench/run-coldstart (it builds build/ in Release first and needs hyperfine, which scripts/deps installs; without COLD_ROUTES it also measures /me and /profile). From its last lines copy "bootstrap invoke : X ms" into bootstrap_ms, "node peer : Y ms" into node_ms and "node / C : Zx" into ratio, as numbers. The checker measures too, so the figure must come from this machine.',
  },
  {
    id: 'cache-layers', phase: 9, title: 'API caching and a Lambda layer', kind: 'aws',
    files: [],
    task: 'On a deployed prod (or prod-like) stack, compare GET /profile latency with and without the API Gateway cache; then find out what the SharedLibsLayer saves on each deploy.',
    hint: 'sam/template.yaml enables the stage cache in prod only (CacheClusterEnabled, MethodSettings for GET /profile, 300 s; its cache key holds the Authorization header, so users never see each other\'s profile). Measure: for i in $(seq 1 50); do curl -s -o /dev/null -H "Authorization: Bearer $TOKEN" -w "%{time_total}\\n" "$API/profile"; done | sort -n | sed -n 25p, and compare with a dev stack. The layer (SharedLibsLayer: libcurl, OpenSSL, jansson... in /opt/lib) changes only when the libraries do: compare the function bundle\'s size (aws lambda get-function --query Configuration.CodeSize) with the layer\'s (aws lambda get-layer-version).',
  },
];
