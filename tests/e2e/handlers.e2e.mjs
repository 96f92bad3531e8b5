#!/usr/bin/env node
// tests/e2e/handlers.e2e.mjs - the Handlers page end to end in Chromium (playwright-core) against
// the real local stack (devserver + cognito-local + dynalite), as the seeded demo users.
// Flow: log in as the demo admin -> Handlers link -> a syntax error is marked at its line ->
// write a handler in the CodeMirror editor -> Run (dry run: response, logs, usage; nothing live)
// -> Deploy -> call it through /api/t/<name> -> deploy v2 -> roll back to v1 and see the old
// output again -> log out (no GlobalSignOut against cognito-local) -> as the second demo user
// (another tenant) the first tenant's handler is 404. Any unexpected console error fails.
// Environment: MB_E2E_URL (default http://localhost:13000), MB_STATE_DIR (the stack's state:
// stack.json names the demo users), MB_CHROMIUM, MB_E2E_ARTIFACTS.

import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const BASE = (process.env.MB_E2E_URL || 'http://localhost:13000').replace(/\/+$/, '');
const STATE = process.env.MB_STATE_DIR || path.join(repo, '.local');
const ART = process.env.MB_E2E_ARTIFACTS || path.join(here, 'artifacts');
const DEMO = { email: 'demo@moonbase.local', password: 'MoonbaseDemo1' };
const DEMO2 = { email: 'demo2@moonbase.local', password: 'MoonbaseDemo2' };
fs.mkdirSync(ART, { recursive: true });

let step = 'start';
let allowed = [];
const consoleErrors = [];
const log = (m) => process.stdout.write(`  ${m}\n`);
function assert(cond, msg) { if (!cond) throw new Error(`[${step}] ${msg}`); }
function begin(name, allow = []) { step = name; allowed = allow; log(`- ${name}`); }

const HANDLER = (tag, extra = '') => `-- e2e handler ${tag}
return function(req, ctx)
  ctx.log.info("called", { tag = "${tag}" })${extra}
  return { status = 200, body = { tag = "${tag}", tenant = req.user.tenant, who = req.query.who } }
end
`;

/** Replace the editor's text as a user pasting it would: select all, then a paste event that
 *  CodeMirror handles itself. (Playwright's insertText edits the contenteditable natively, and
 *  Chromium's editing then writes style attributes that the page's CSP rightly refuses.) */
async function setSource(page, text) {
  const content = page.locator('[data-testid="editor"] .cm-content');
  await content.click();
  await page.keyboard.press('Control+A');
  await content.evaluate((el, t) => {
    const data = new DataTransfer();
    data.setData('text/plain', t);
    el.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
  }, text);
}

async function login(page, who) {
  await page.goto(`${BASE}/#/login`);
  await page.getByLabel('Email', { exact: true }).fill(who.email);
  await page.getByLabel('Password', { exact: true }).fill(who.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForFunction(() => location.hash.startsWith('#/dashboard'));
}

/** GET /api/t/<name> with the page's session token: {status, body}. */
async function callLive(page, name, query = '') {
  return page.evaluate(async ([n, q]) => {
    const s = JSON.parse(sessionStorage.getItem('moonbase.session'));
    const cfg = await (await fetch('/config.json')).json();
    const r = await fetch(`${cfg.apiUrl}/t/${n}${q}`, { headers: { authorization: `Bearer ${s.idToken}` } });
    const text = await r.text();
    let body = text;
    try { body = JSON.parse(text); } catch { /* not JSON */ }
    return { status: r.status, body };
  }, [name, query]);
}

async function eventuallyTag(page, name, tag, ms = 3000) {
  const t0 = Date.now();
  let last;
  while (Date.now() - t0 < ms) {
    last = await callLive(page, name);
    if (last.status === 200 && last.body.tag === tag) return Date.now() - t0;
    await page.waitForTimeout(100);
  }
  assert(false, `/api/t/${name} did not answer ${tag} within ${ms} ms: ${JSON.stringify(last)}`);
  return 0;
}

async function run() {
  const stack = JSON.parse(fs.readFileSync(path.join(STATE, 'stack.json'), 'utf8'));
  assert(stack.demoUser2, 'stack.json names the second demo user (scripts/seed)');
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mb-e2e-handlers-'));
  const context = await chromium.launchPersistentContext(userDir, {
    executablePath: process.env.MB_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
  });
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(10000);
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    if (allowed.some((re) => re.test(m.text()))) return;
    consoleErrors.push(`[${step}] ${m.text()}`);
  });
  page.on('pageerror', (e) => consoleErrors.push(`[${step}] uncaught: ${e.message}`));
  const cognitoCalls = [];
  page.on('request', (r) => {
    const target = r.headers()['x-amz-target'];
    if (target) cognitoCalls.push({ step, target: target.replace(/^.*\./, '') });
  });
  const name = `e2e-${crypto.randomBytes(3).toString('hex')}`;
  try {
    begin('log in as the demo admin; the Handlers link is there');
    await login(page, DEMO);
    await page.getByTestId('nav-handlers').click();
    await page.waitForFunction(() => location.hash.startsWith('#/handlers'));
    await page.getByRole('heading', { name: 'Handlers', exact: true }).waitFor();
    await page.locator('[data-testid="editor"] .cm-editor').waitFor();
    assert(await page.locator('[data-testid="editor"] .cm-content .tok-keyword, [data-testid="editor"] .cm-content span').count() > 0,
      'the Lua source is highlighted');

    begin('a lesson opens its starter in the editor (#/handlers?lesson=visits, learn/tenant/visits.lua)');
    await page.evaluate(() => { location.hash = '#/handlers?lesson=visits'; });
    await page.getByTestId('handler-status').filter({ hasText: 'Lesson starter "visits" loaded' }).waitFor();
    assert(/Exercise tenant-handler/.test(await page.locator('[data-testid="editor"] .cm-content').textContent()),
      'the editor shows learn/tenant/visits.lua');
    assert(await page.getByLabel('Handler name').inputValue() === 'visits', 'the handler name is the lesson\'s');

    begin('a syntax error is shown at its line', [/status of 400/]);
    await page.getByLabel('Handler name').fill(name);
    await setSource(page, 'return function(req, ctx)\n  local x = \nend\n');
    await page.getByTestId('deploy').click();
    await page.getByTestId('handler-error').filter({ hasText: 'Line 3' }).waitFor();
    await page.locator('[data-testid="editor"] .cm-lint-marker-error').waitFor();
    await page.screenshot({ path: path.join(ART, 'handlers-syntax-error.png') });

    begin('Run: a dry run shows response, logs and usage', [/status of 404/]); // /t/ before Deploy
    await setSource(page, HANDLER('v1'));
    await page.getByLabel('Query string').fill('who=browser');
    await page.getByTestId('run').click();
    await page.getByTestId('result-status').filter({ hasText: 'HTTP 200' }).waitFor();
    const dry = JSON.parse(await page.getByTestId('result-body').textContent());
    assert(dry.tag === 'v1' && dry.who === 'browser', `dry run body ${JSON.stringify(dry)}`);
    assert(/called/.test(await page.getByTestId('logs').textContent()), 'the log line is shown');
    assert(/instructions/.test(await page.getByTestId('usage').textContent()), 'usage is shown');
    const before = await callLive(page, name);
    assert(before.status === 404, `a dry run deploys nothing: ${before.status}`);

    begin('Deploy v1 and call it through /api/t/<name>');
    await page.getByTestId('deploy').click();
    await page.getByTestId('handler-status').filter({ hasText: 'version 1' }).waitFor();
    await eventuallyTag(page, name, 'v1');
    const live = await callLive(page, name, '?who=me');
    assert(live.body.who === 'me' && live.body.tenant === `user:${stack.demoUser.sub}`, JSON.stringify(live));
    await page.getByTestId('call-live').click();
    await page.getByTestId('result-status').filter({ hasText: 'HTTP 200' }).waitFor();
    assert(/"v1"/.test(await page.getByTestId('result-body').textContent()), 'Call live shows v1');

    begin('Deploy v2, then roll back to v1 and see the old output');
    await setSource(page, HANDLER('v2'));
    await page.getByTestId('deploy').click();
    await page.getByTestId('handler-status').filter({ hasText: 'version 2' }).waitFor();
    await eventuallyTag(page, name, 'v2');
    await page.locator('[data-testid="versions"] li[data-version="2"] .badge.live').waitFor();
    await page.getByTestId('rollback-1').click();
    await page.getByTestId('handler-status').filter({ hasText: 'Rolled' }).waitFor();
    const ms = await eventuallyTag(page, name, 'v1');
    log(`  rolled back output live after ${ms} ms`);
    await page.locator('[data-testid="versions"] li[data-version="3"] .badge.live').waitFor();
    assert(/"v1"/.test(await page.locator('[data-testid="editor"] .cm-content').textContent()), 'the editor shows the live v1 source');
    await page.screenshot({ path: path.join(ART, 'handlers.png'), fullPage: true });
    if (process.env.MB_E2E_DOCS === '1') {
      fs.copyFileSync(path.join(ART, 'handlers.png'), path.join(repo, 'docs', 'screenshots', 'handlers.png'));
    }

    begin('log out: no GlobalSignOut against cognito-local, no console error');
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForFunction(() => location.hash.startsWith('#/login'));
    assert(!cognitoCalls.some((c) => c.target === 'GlobalSignOut'), 'GlobalSignOut was not called');
    assert(cognitoCalls.some((c) => c.step === step && c.target === 'RevokeToken'), 'the refresh token was revoked');

    begin('the second demo user (another tenant) gets 404 for it', [/status of 404/]);
    await login(page, DEMO2);
    const other = await callLive(page, name);
    assert(other.status === 404, `another tenant's handler: ${other.status} ${JSON.stringify(other.body)}`);
    await page.getByTestId('nav-handlers').click();
    await page.getByRole('heading', { name: 'Handlers', exact: true }).waitFor();
    await page.locator('.hs-list .loading').waitFor({ state: 'detached' });
    assert(!(await page.locator('.hs-list').textContent()).includes(name), 'not in the second user\'s list');

    step = 'end';
    await page.waitForTimeout(300);
    assert(consoleErrors.length === 0, `console errors:\n    ${consoleErrors.join('\n    ')}`);
  } catch (e) {
    await page.screenshot({ path: path.join(ART, `handlers-failure-${step.replace(/[^a-z0-9]+/gi, '-')}.png`) }).catch(() => {});
    if (consoleErrors.length) log(`console errors so far:\n    ${consoleErrors.join('\n    ')}`);
    throw e;
  } finally {
    await context.close();
    fs.rmSync(userDir, { recursive: true, force: true });
  }
}

const t0 = Date.now();
run().then(() => log(`PASS e2e handlers (${((Date.now() - t0) / 1000).toFixed(1)} s)`), (e) => {
  process.stderr.write(`FAIL e2e handlers: ${e.stack || e.message}\n`);
  process.exit(1);
});
