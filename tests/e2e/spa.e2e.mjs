#!/usr/bin/env node
// tests/e2e/spa.e2e.mjs - the browser SPA end to end, in Debian's Chromium driven by
// playwright-core, against the real local stack (devserver + cognito-local + dynalite).
// Nothing is mocked; the one interception is the "API down" case, which serves the real
// /config.json with apiUrl pointed at a closed port.
//
// Environment:
//   MB_E2E_URL     base URL of the devserver (default http://localhost:13000)
//   MB_STATE_DIR   the stack's state dir: cognito.log there is where cognito-local prints the
//                  confirmation and reset codes (the way the local stack exposes them)
//   MB_COGNITO_LOG overrides the log path
//   MB_E2E_ARTIFACTS screenshot folder (default tests/e2e/artifacts)
//   MB_E2E_DOCS=1  also refresh docs/screenshots/{login,dashboard}.png
//   MB_E2E_NO_BUILD=1 skip running scripts/build-frontend first (the devserver must serve
//                  frontend/dist, i.e. it was built before `scripts/stack start`)
//
// Flow: weak password -> sign up -> wrong code -> confirm (code from the cognito-local log) ->
// existing email -> wrong password -> keyboard-only log in -> dashboard shows the email ->
// profile (API validation error inline, then saved) -> create 3 items -> paginate -> edit ->
// stale edit gets 409 -> delete -> chart renders -> reload keeps the session -> expired token is
// refreshed (before the call, and after a 401), a dead refresh token leads back to log in -> logout -> protected view redirects to login ->
// API down shows the error state and retry recovers -> forgot/reset password -> TOTP MFA set up
// (and the log in challenge when the pool enables MFA). Any unexpected console error fails.

import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const BASE = (process.env.MB_E2E_URL || 'http://localhost:13000').replace(/\/+$/, '');
const STATE = process.env.MB_STATE_DIR || path.join(repo, '.local');
const COG_LOG = process.env.MB_COGNITO_LOG || path.join(STATE, 'cognito.log');
const ART = process.env.MB_E2E_ARTIFACTS || path.join(here, 'artifacts');
const DOCS = process.env.MB_E2E_DOCS === '1';
const STRONG = 'Moonbase-Test1';
const NEWPASS = 'Moonbase-Reset2';

fs.mkdirSync(ART, { recursive: true });
for (const f of fs.readdirSync(ART)) if (f.endsWith('.png')) fs.rmSync(path.join(ART, f)); // this run's only

// ---------------------------------------------------------------------------------- helpers

let step = 'start';
const consoleErrors = [];
let allowed = []; // regexps of console errors the current step expects (HTTP 4xx it provokes)

function log(msg) { process.stdout.write(`  ${msg}\n`); }
function assert(cond, msg) { if (!cond) throw new Error(`[${step}] ${msg}`); }
let stepT0 = Date.now();
function begin(name, allow = []) {
  const ms = Date.now() - stepT0;
  if (ms > 2000) log(`  (previous step took ${(ms / 1000).toFixed(1)} s)`);
  stepT0 = Date.now();
  step = name; allowed = allow; log(`- ${name}`);
}

const RES_4XX = (codes) => new RegExp(`Failed to load resource: the server responded with a status of (${codes.join('|')})`);

async function shot(page, name) {
  await page.screenshot({ path: path.join(ART, `${name}.png`), fullPage: true });
  if (DOCS && (name === 'login' || name === 'dashboard')) {
    const dir = path.join(repo, 'docs', 'screenshots');
    fs.mkdirSync(dir, { recursive: true });
    fs.copyFileSync(path.join(ART, `${name}.png`), path.join(dir, `${name}.png`));
  }
}

/** The confirmation or reset code cognito-local holds for `email`: read from its data file
 *  ($MB_STATE_DIR/cognito/.cognito/db/<pool>.json, where scripts/services runs it), else from
 *  the code box it prints to its log. (The log is written asynchronously by pino-pretty and can
 *  lag behind by minutes, so the data file comes first.) */
function currentCode(email, poolId) {
  const db = process.env.MB_COGNITO_DB || path.join(STATE, 'cognito', '.cognito', 'db', `${poolId}.json`);
  try {
    const users = JSON.parse(fs.readFileSync(db, 'utf8')).Users || {};
    for (const u of Object.values(users)) {
      const mail = (u.Attributes || []).find((a) => a.Name === 'email');
      if (mail && mail.Value === email && u.ConfirmationCode) return u.ConfirmationCode;
    }
  } catch { /* not there (yet): try the log */ }
  let text = '';
  try { text = fs.readFileSync(COG_LOG).toString('utf8'); } catch { return null; }
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/\x1b\[[0-9;]*m/g, '');
  const re = /Destination:\s+(\S+)[\s│|]+Code:\s+(\d+)/g;
  let m; let code = null;
  while ((m = re.exec(clean))) if (m[1] === email) code = m[2];
  return code;
}

/** Waits for a code for `email` different from `previous` (the one before the request). */
async function codeFor(email, poolId, previous) {
  for (let i = 0; i < 100; i++) {
    const code = currentCode(email, poolId);
    if (code && code !== previous) return code;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`[${step}] no new code for ${email} in cognito-local's data or ${COG_LOG}`);
}

function base32Decode(s) {
  const alpha = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = ''; const out = [];
  for (const c of s.replace(/[\s=]/g, '').toUpperCase()) {
    const v = alpha.indexOf(c);
    if (v < 0) throw new Error(`bad base32 ${c}`);
    bits += v.toString(2).padStart(5, '0');
  }
  for (let i = 0; i + 8 <= bits.length; i += 8) out.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(out);
}
/** RFC 6238 TOTP (SHA-1, 6 digits, 30 s), what authenticator apps compute. */
function totp(secret, t = Date.now()) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(t / 1000 / 30)));
  const mac = crypto.createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const o = mac[mac.length - 1] & 15;
  return String((mac.readUInt32BE(o) & 0x7fffffff) % 1e6).padStart(6, '0');
}

function b64url(obj) { return Buffer.from(JSON.stringify(obj)).toString('base64url'); }
/** A copy of a JWT with a changed payload; its signature no longer matches. */
function forgeJwt(token, patch, sig) {
  const [hdr, body, s] = token.split('.');
  const claims = JSON.parse(Buffer.from(body, 'base64url'));
  return `${hdr}.${b64url({ ...claims, ...patch })}.${sig || s}`;
}

async function cognito(config, target, body) {
  const r = await fetch(config.cognitoEndpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': `AWSCognitoIdentityProviderService.${target}` },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: await r.json().catch(() => ({})) };
}

const fieldError = (page, form, name) => page.locator(`form[name="${form}"] [data-field="${name}"] .field-error, form[aria-label="${form}"] [data-field="${name}"] .field-error`);
const hashPath = (page) => new URL(page.url()).hash;

async function waitHash(page, prefix) {
  await page.waitForFunction((p) => location.hash.startsWith(p), prefix, { timeout: 10000 });
}

/** Every input, select and textarea on the page has an accessible label. */
async function checkLabels(page) {
  const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea')]
    .filter((el) => el.type !== 'hidden' && !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
    .map((el) => el.name || el.outerHTML.slice(0, 60)));
  assert(unlabelled.length === 0, `inputs without a label: ${unlabelled.join(', ')}`);
}

async function noHorizontalScroll(page) {
  // Chart.js resizes its canvas from a ResizeObserver: give the layout a moment to settle.
  let sw = 0; let w = 0;
  for (let i = 0; i < 20; i++) {
    ({ sw, w } = await page.evaluate(() => ({ sw: document.documentElement.scrollWidth, w: window.innerWidth })));
    if (sw <= w + 1) return;
    await page.waitForTimeout(100);
  }
  assert(false, `page scrolls horizontally (${sw} > ${w})`);
}

const itemTitles = (page) => page.locator('#items .item h3').allTextContents();

async function sessionTokens(page) {
  return page.evaluate(() => JSON.parse(sessionStorage.getItem('moonbase.session') || 'null'));
}

// ---------------------------------------------------------------------------------- the test

async function run() {
  // The devserver serves frontend/dist from disk: rebuild it (fast, idempotent) so the test always
  // drives the current sources, then make sure the stack really serves the built bundle.
  if (process.env.MB_E2E_NO_BUILD !== '1') {
    execFileSync(path.join(repo, 'scripts', 'build-frontend'), { stdio: 'inherit' });
  }
  const indexRes = await fetch(`${BASE}/`).catch(() => null);
  const indexHtml = indexRes && indexRes.ok ? await indexRes.text() : '';
  if (indexRes && !/app\.js\?v=/.test(indexHtml)) {
    throw new Error(`${BASE}/ does not serve the built SPA (frontend/dist): run scripts/build-frontend before scripts/stack start`);
  }
  const cfgRes = await fetch(`${BASE}/config.json`).catch((e) => {
    throw new Error(`the local stack does not answer at ${BASE} (${(e.cause && (e.cause.code || e.cause.message)) || e.message}); start it with `
      + 'MB_PORT=13000 MB_STATE_DIR=... scripts/stack start, or set MB_E2E_URL');
  });
  assert(cfgRes.ok, `GET ${BASE}/config.json answered ${cfgRes.status}`);
  const config = await cfgRes.json();
  log(`stack: ${BASE}, api ${config.apiUrl}, cognito ${config.cognitoEndpoint}`);

  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mb-e2e-chromium-'));
  const context = await chromium.launchPersistentContext(userDir, {
    executablePath: process.env.MB_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 860 },
  });
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(10000);
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = m.text();
    if (allowed.some((re) => re.test(text))) return;
    consoleErrors.push(`[${step}] ${text} ${m.location() && m.location().url ? `(${m.location().url})` : ''}`);
  });
  page.on('pageerror', (e) => consoleErrors.push(`[${step}] uncaught: ${e.message}`));
  const cognitoCalls = [];
  page.on('request', (r) => {
    const target = r.headers()['x-amz-target'];
    if (target) cognitoCalls.push({ step, target: target.replace(/^.*\./, ''), body: r.postData() || '' });
  });
  const calls = (target, s = step) => cognitoCalls.filter((c) => c.target === target && c.step === s);

  const email = `e2e-${Date.now().toString(36)}-${crypto.randomBytes(3).toString('hex')}@example.com`;
  log(`user: ${email}`);

  try {
    begin('login view');
    await page.goto(`${BASE}/`);
    await waitHash(page, '#/login');
    await page.getByRole('heading', { name: 'Log in' }).waitFor();
    await checkLabels(page);
    await shot(page, 'login');

    begin('sign up: weak password is explained and blocked');
    await page.getByRole('link', { name: 'Create an account' }).click();
    await waitHash(page, '#/signup');
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByLabel('Password', { exact: true }).fill('weakpassword');
    assert(await page.locator('.rules li.met').count() === 2, 'length+lowercase should be met for "weakpassword"');
    assert(await page.locator('.rules li:not(.met)').count() === 2, 'uppercase and number should be missing');
    await page.getByRole('button', { name: 'Create account' }).click();
    const weak = await fieldError(page, 'signup', 'password').textContent();
    assert(/uppercase/i.test(weak) && /number/i.test(weak), `weak password message: "${weak}"`);
    assert(calls('SignUp').length === 0, 'a weak password must not reach Cognito');
    await checkLabels(page);
    await shot(page, 'signup-weak-password');

    begin('sign up');
    let mark = currentCode(email, config.userPoolId);
    await page.getByLabel('Password', { exact: true }).fill(STRONG);
    assert(await page.locator('.rules li:not(.met)').count() === 0, 'all rules met');
    await page.getByRole('button', { name: 'Create account' }).click();
    await waitHash(page, '#/confirm');
    assert(await page.getByLabel('Email', { exact: true }).inputValue() === email, 'confirm view keeps the email');
    await page.locator('.notice').waitFor();
    await checkLabels(page);
    await shot(page, 'confirm');

    begin('confirm: wrong code', [RES_4XX([400])]);
    const code = await codeFor(email, config.userPoolId, mark);
    const wrong = code === '000000' ? '111111' : '000000';
    await page.getByLabel('Confirmation code').fill(wrong);
    await page.getByRole('button', { name: 'Confirm account' }).click();
    await fieldError(page, 'confirm', 'code').filter({ hasText: 'not right' }).waitFor();

    begin('confirm: resend code', [RES_4XX([400, 500])]);
    await page.getByRole('button', { name: 'Send a new code' }).click();
    // Real Cognito sends a new code; cognito-local has no ResendConfirmationCode and the SPA says so.
    await page.locator('.resend-note:not(:empty), form[name="confirm"] .form-error:not([hidden])').first().waitFor();
    const resent = await page.locator('.resend-note').textContent();
    const code2 = resent ? await codeFor(email, config.userPoolId, code) : code;

    begin('confirm');
    await page.getByLabel('Confirmation code').fill(code2);
    await page.getByRole('button', { name: 'Confirm account' }).click();
    await waitHash(page, '#/login');
    await page.locator('.notice', { hasText: 'confirmed' }).waitFor();
    assert(await page.getByLabel('Email', { exact: true }).inputValue() === email, 'login view prefilled with the email');

    begin('existing email', [RES_4XX([400])]);
    await page.goto(`${BASE}/#/signup`);
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByLabel('Password', { exact: true }).fill(STRONG);
    await page.getByRole('button', { name: 'Create account' }).click();
    await fieldError(page, 'signup', 'email').filter({ hasText: 'already exists' }).waitFor();
    await shot(page, 'signup-existing-email');

    begin('wrong password', [RES_4XX([400])]);
    await page.goto(`${BASE}/#/login`);
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByLabel('Password', { exact: true }).fill('Not-the-password1');
    await page.getByRole('button', { name: 'Log in' }).click();
    await fieldError(page, 'login', 'password').filter({ hasText: 'Incorrect email or password' }).waitFor();
    assert(await page.getByLabel('Password', { exact: true }).getAttribute('aria-invalid') === 'true', 'password marked invalid');
    assert(hashPath(page).startsWith('#/login'), 'stays on login');
    await shot(page, 'login-wrong-password');

    begin('keyboard-only log in');
    await page.getByLabel('Email', { exact: true }).focus();
    await page.keyboard.press('Control+A');
    await page.keyboard.type(email);
    await page.keyboard.press('Tab');
    assert(await page.evaluate(() => document.activeElement.name) === 'password', 'Tab goes from email to password');
    await page.keyboard.press('Control+A');
    await page.keyboard.type(STRONG);
    await page.keyboard.press('Enter');
    await waitHash(page, '#/dashboard');

    begin('dashboard shows the email');
    await page.getByTestId('user-email').filter({ hasText: email }).waitFor();
    await page.locator('.greeting .subtitle', { hasText: email }).waitFor();
    await page.locator('#profile form').waitFor();
    await page.locator('#items .empty-state').waitFor();
    await page.locator('#activity .empty-state, #activity canvas').first().waitFor();
    await checkLabels(page);
    await shot(page, 'dashboard-empty');

    begin('profile: API validation error shown inline', [RES_4XX([400])]);
    const dn = page.locator('#profile').getByLabel('Display name');
    await dn.fill('x'.repeat(61));
    await page.getByRole('button', { name: 'Save profile' }).click();
    const dnErr = page.locator('#profile [data-field="displayName"] .field-error');
    await dnErr.filter({ hasText: /\S/ }).waitFor();
    assert(await dn.getAttribute('aria-invalid') === 'true', 'display name marked invalid');
    await shot(page, 'profile-validation');

    begin('profile: save');
    await dn.fill('Ada Lovelace');
    await page.locator('#profile').getByLabel('Bio').fill('Counting engines since 1843.');
    await page.getByRole('button', { name: 'Save profile' }).click();
    await page.locator('#profile .saved', { hasText: 'Saved' }).waitFor();
    await page.locator('.greeting h1', { hasText: 'Ada Lovelace' }).waitFor();
    assert((await dnErr.textContent()) === '', 'error cleared');

    begin('create 3 items (submit disabled while pending)');
    // Hold the first POST for a moment (it still goes to the real API) to see the pending state.
    const apiItems = `${config.apiUrl.replace(/\/+$/, '')}/items`;
    let release;
    const held = new Promise((r) => { release = r; });
    await page.route(apiItems, async (route) => { await held; await route.continue(); });
    await page.locator('form.new-item').getByLabel('Title').fill('First item');
    await page.locator('form.new-item').getByRole('button', { name: 'Add item' }).click();
    const pending = page.locator('form.new-item button[type="submit"]');
    await page.waitForFunction(() => document.querySelector('form.new-item button[type="submit"]').disabled);
    assert(await pending.getAttribute('aria-busy') === 'true', 'pending submit is aria-busy');
    assert((await pending.textContent()).startsWith('Adding'), 'pending submit says what it does');
    release();
    await page.locator('#items .item h3', { hasText: 'First item' }).waitFor();
    await page.unroute(apiItems);
    assert(!(await pending.isDisabled()), 'submit enabled again');
    for (const t of ['Second item', 'Third item']) {
      await page.locator('form.new-item').getByLabel('Title').fill(t);
      await page.locator('form.new-item').getByRole('button', { name: 'Add item' }).click();
      await page.locator('#items .item h3', { hasText: t }).waitFor();
    }
    let titles = await itemTitles(page);
    assert(JSON.stringify(titles) === JSON.stringify(['Third item', 'Second item', 'First item']), `newest first: ${titles}`);

    begin('paginate');
    await page.goto(`${BASE}/#/dashboard?limit=2`);
    await page.waitForFunction(() => document.querySelectorAll('#items .item').length === 2);
    titles = await itemTitles(page);
    assert(JSON.stringify(titles) === JSON.stringify(['Third item', 'Second item']), `first page: ${titles}`);
    const more = page.getByRole('button', { name: 'Load more' });
    await more.waitFor();
    for (let i = 0; i < 3 && await more.count(); i++) {
      await more.click();
      await page.waitForFunction(() => !document.querySelector('#items .more button[aria-busy]'));
    }
    titles = await itemTitles(page);
    assert(JSON.stringify(titles) === JSON.stringify(['Third item', 'Second item', 'First item']), `after load more: ${titles}`);
    assert(await more.count() === 0, 'no "Load more" after the last page');

    begin('edit (Escape cancels)');
    const second = page.locator('#items .item', { hasText: 'Second item' });
    await second.getByRole('button', { name: 'Edit' }).click();
    await page.keyboard.press('Escape');
    await page.locator('#items form.item-edit').waitFor({ state: 'detached' });
    await second.getByRole('button', { name: 'Edit' }).click();
    await page.locator('#items form.item-edit').getByLabel('Title').fill('Second item, edited');
    await page.locator('#items form.item-edit').getByLabel('Status').selectOption('done');
    await page.locator('#items form.item-edit').getByRole('button', { name: 'Save' }).click();
    const edited = page.locator('#items .item', { hasText: 'Second item, edited' });
    await edited.waitFor();
    assert(await edited.getAttribute('data-version') === '2', 'version went to 2');
    assert((await edited.locator('.badge').textContent()) === 'Done', 'status shown as Done');

    begin('stale edit is refused (409) and can be reloaded', [RES_4XX([409])]);
    const third = page.locator('#items .item', { hasText: 'Third item' });
    const thirdId = await third.getAttribute('data-id');
    // Someone else (another tab) updates the item behind the page's back, over the real API.
    const behind = await page.evaluate(async ({ api, id }) => {
      const t = JSON.parse(sessionStorage.getItem('moonbase.session'));
      const r = await fetch(`${api}/items/${id}`, { method: 'PUT', headers: { Authorization: `Bearer ${t.idToken}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ title: 'Third item (other tab)', version: 1 }) });
      return r.status;
    }, { api: config.apiUrl.replace(/\/+$/, ''), id: thirdId });
    assert(behind === 200, `update from the other tab: ${behind}`);
    await third.getByRole('button', { name: 'Edit' }).click();
    await page.locator('#items form.item-edit').getByLabel('Title').fill('Third item, mine');
    await page.locator('#items form.item-edit').getByRole('button', { name: 'Save' }).click();
    await page.locator('#items form.item-edit .form-error', { hasText: 'changed' }).waitFor();
    await shot(page, 'item-conflict');
    await page.getByRole('button', { name: 'Reload item' }).click();
    await page.locator('#items .item h3', { hasText: 'Third item (other tab)' }).waitFor();

    begin('delete');
    const first = page.locator('#items .item', { hasText: 'First item' });
    await first.getByRole('button', { name: 'Delete' }).click();
    await first.locator('.confirm').getByRole('button', { name: 'Delete' }).click();
    await page.waitForFunction(() => ![...document.querySelectorAll('#items .item h3')].some((h) => h.textContent === 'First item'));
    titles = await itemTitles(page);
    assert(titles.length === 2, `two items left: ${titles}`);

    begin('chart renders');
    await page.locator('#activity[data-chart="ready"]').waitFor();
    const box = await page.locator('#activity canvas').boundingBox();
    assert(box && box.width > 100 && box.height > 100, `chart canvas size ${JSON.stringify(box)}`);
    const stat = await page.locator('#activity .stat').textContent();
    assert(/3\s*items created/.test(stat), `activity counts 3 created items: "${stat}"`);
    const painted = await page.evaluate(() => {
      const c = document.querySelector('#activity canvas');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
      return n;
    });
    assert(painted > 500, `chart drew pixels (${painted})`);
    await page.evaluate(() => document.activeElement && document.activeElement.blur());
    await shot(page, 'dashboard');

    begin('responsive: phone width');
    await page.setViewportSize({ width: 390, height: 844 });
    await noHorizontalScroll(page);
    await shot(page, 'dashboard-phone');
    await page.setViewportSize({ width: 1280, height: 860 });

    begin('reload keeps the session');
    await page.reload();
    await page.getByTestId('user-email').filter({ hasText: email }).waitFor();
    await page.waitForFunction(() => document.querySelectorAll('#items .item').length === 2);
    assert(hashPath(page).startsWith('#/dashboard'), 'still on the dashboard');
    assert(await page.evaluate(() => localStorage.length) === 0, 'nothing in localStorage');

    begin('expired session: refreshed before the call');
    let tokens = await sessionTokens(page);
    const goodId = tokens.idToken;
    await page.evaluate((t) => sessionStorage.setItem('moonbase.session', JSON.stringify(t)),
      { ...tokens, idToken: forgeJwt(goodId, { exp: Math.floor(Date.now() / 1000) - 300 }) });
    await page.reload();
    await page.getByTestId('user-email').filter({ hasText: email }).waitFor();
    await page.waitForFunction(() => document.querySelectorAll('#items .item').length === 2);
    assert(calls('InitiateAuth').some((c) => c.body.includes('REFRESH_TOKEN_AUTH')), 'REFRESH_TOKEN_AUTH was used');
    tokens = await sessionTokens(page);
    assert(tokens.idToken !== goodId && tokens.refreshToken, 'a new ID token is stored');

    begin('rejected token: refreshed after a 401', [RES_4XX([401])]);
    const before = calls('InitiateAuth').length;
    await page.evaluate((t) => sessionStorage.setItem('moonbase.session', JSON.stringify(t)),
      { ...tokens, idToken: forgeJwt(tokens.idToken, {}, 'c2lnbmF0dXJlLW5vdC12YWxpZA') });
    await page.reload();
    await page.getByTestId('user-email').filter({ hasText: email }).waitFor();
    await page.waitForFunction(() => document.querySelectorAll('#items .item').length === 2);
    assert(calls('InitiateAuth').length > before, 'a 401 triggered a refresh');
    assert(await page.locator('.error-state').count() === 0, 'no error state after the refresh');

    begin('revoked refresh token: back to log in, then in again', [RES_4XX([400])]);
    tokens = await sessionTokens(page);
    await page.evaluate((t) => sessionStorage.setItem('moonbase.session', JSON.stringify(t)),
      { ...tokens, idToken: forgeJwt(tokens.idToken, { exp: Math.floor(Date.now() / 1000) - 300 }), refreshToken: 'revoked-or-unknown' });
    await page.reload();
    await waitHash(page, '#/login');
    await page.locator('.notice', { hasText: 'session has expired' }).waitFor();
    assert(await sessionTokens(page) === null, 'the dead session is cleared');
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByLabel('Password', { exact: true }).fill(STRONG);
    await page.getByRole('button', { name: 'Log in' }).click();
    await waitHash(page, '#/dashboard');
    await page.getByTestId('user-email').filter({ hasText: email }).waitFor();

    begin('logout'); // cognito-local has no GlobalSignOut: on the local stack the SPA only revokes
    await page.getByRole('button', { name: 'Log out' }).click();
    await waitHash(page, '#/login');
    await page.locator('.notice', { hasText: 'logged out' }).waitFor();
    assert(await sessionTokens(page) === null, 'session cleared from sessionStorage');
    assert(calls('GlobalSignOut', 'logout').length === 0, 'no GlobalSignOut against cognito-local');
    assert(calls('RevokeToken', 'logout').length === 1, 'the refresh token was revoked');

    begin('protected view redirects to login');
    await page.goto(`${BASE}/#/dashboard`);
    await waitHash(page, '#/login');
    assert(decodeURIComponent(hashPath(page)).includes('next=/dashboard'), `login remembers the target: ${hashPath(page)}`);
    await page.getByRole('heading', { name: 'Log in' }).waitFor();
    await page.getByRole('link', { name: 'Create an account' }).click();
    await waitHash(page, '#/signup');
    await page.goBack();
    await waitHash(page, '#/login');
    await page.getByRole('heading', { name: 'Log in' }).waitFor();

    begin('API down: error state with retry', [/ERR_CONNECTION_REFUSED|Failed to load resource: net::/]);
    const deadApi = 'http://127.0.0.1:9/api';
    await page.route(`${BASE}/config.json`, async (route) => {
      const res = await route.fetch();
      const cfg = await res.json();
      await route.fulfill({ response: res, json: { ...cfg, apiUrl: deadApi } });
    });
    await page.reload();
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByLabel('Password', { exact: true }).fill(STRONG);
    await page.getByRole('button', { name: 'Log in' }).click();
    await waitHash(page, '#/dashboard');
    await page.locator('#items .error-state', { hasText: 'could not be reached' }).waitFor();
    await page.locator('#activity .error-state').waitFor();
    await page.locator('#profile .error-state').waitFor();
    await page.locator('.me-error .error-state').waitFor();
    await shot(page, 'api-down');
    await page.locator('#items').getByRole('button', { name: 'Try again' }).click();
    await page.locator('#items .error-state').waitFor();
    await page.unroute(`${BASE}/config.json`);
    await page.reload(); // the API is back (real config): the same session loads the data
    await page.waitForFunction(() => document.querySelectorAll('#items .item').length === 2);
    assert(await page.locator('.error-state').count() === 0, 'no error state once the API is back');

    begin('forgot and reset password', [RES_4XX([400, 500])]); // 500: GlobalSignOut on cognito-local
    await page.getByRole('button', { name: 'Log out' }).click();
    await waitHash(page, '#/login');
    await page.getByRole('link', { name: 'Forgot your password?' }).click();
    await waitHash(page, '#/forgot');
    await checkLabels(page);
    await shot(page, 'forgot');
    mark = currentCode(email, config.userPoolId);
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByRole('button', { name: 'Send reset code' }).click();
    await waitHash(page, '#/reset');
    const resetCode = await codeFor(email, config.userPoolId, mark);
    await page.getByLabel('Reset code').fill(resetCode);
    await page.getByLabel('New password', { exact: true }).fill('short');
    await page.getByRole('button', { name: 'Set new password' }).click();
    await fieldError(page, 'reset', 'password').filter({ hasText: 'needs' }).waitFor();
    await page.getByLabel('New password', { exact: true }).fill(NEWPASS);
    await checkLabels(page);
    await shot(page, 'reset');
    await page.getByRole('button', { name: 'Set new password' }).click();
    await waitHash(page, '#/login');
    await page.locator('.notice', { hasText: 'password has been changed' }).waitFor();
    await page.getByLabel('Password', { exact: true }).fill(NEWPASS);
    await page.getByRole('button', { name: 'Log in' }).click();
    await waitHash(page, '#/dashboard');
    await page.getByTestId('user-email').filter({ hasText: email }).waitFor();

    begin('MFA: set up an authenticator app', [RES_4XX([400])]);
    const sec = page.locator('#security');
    await sec.getByRole('button', { name: 'Set up authenticator app' }).click();
    const secret = await sec.locator('code.secret').getAttribute('data-secret');
    assert(/^[A-Z2-7]{16,}$/.test(secret), `a base32 secret is shown: ${secret}`);
    await sec.getByLabel('6-digit code').fill(totp(secret) === '000000' ? '111111' : '000000');
    await sec.getByRole('button', { name: 'Verify and turn on' }).click();
    await sec.locator('[data-field="code"] .field-error', { hasText: 'not right' }).waitFor();
    await sec.getByLabel('6-digit code').fill(totp(secret));
    await checkLabels(page);
    await shot(page, 'mfa-setup');
    await sec.getByRole('button', { name: 'Verify and turn on' }).click();
    await sec.locator('[data-mfa="on"]').waitFor();

    begin('MFA: log in asks for the code when the pool enables MFA', [RES_4XX([400, 500])]);
    const pool = await cognito(config, 'DescribeUserPool', { UserPoolId: config.userPoolId });
    const mfaMode = pool.body.UserPool && pool.body.UserPool.MfaConfiguration;
    await page.getByRole('button', { name: 'Log out' }).click();
    await waitHash(page, '#/login');
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByLabel('Password', { exact: true }).fill(NEWPASS);
    await page.getByRole('button', { name: 'Log in' }).click();
    if (mfaMode === 'OPTIONAL' || mfaMode === 'ON') {
      await page.getByRole('heading', { name: 'Two-step verification' }).waitFor();
      await shot(page, 'login-mfa');
      await page.getByLabel('Code from your authenticator app').fill(totp(secret));
      await page.getByRole('button', { name: 'Verify' }).click();
      log(`  pool MfaConfiguration ${mfaMode}: SOFTWARE_TOKEN_MFA challenge answered`);
    } else {
      log(`  pool MfaConfiguration ${mfaMode}: Cognito issues no challenge; log in goes straight through`);
    }
    await waitHash(page, '#/dashboard');
    await page.getByTestId('user-email').filter({ hasText: email }).waitFor();
    await page.locator('#security [data-mfa="on"]').waitFor();
    await page.locator('#security').getByRole('button', { name: 'Turn off' }).click();
    await page.locator('#security [data-mfa="off"]').waitFor();

    step = 'end';
    await page.waitForTimeout(300);
    assert(consoleErrors.length === 0, `console errors:\n    ${consoleErrors.join('\n    ')}`);
  } catch (e) {
    await shot(page, `failure-${step.replace(/[^a-z0-9]+/gi, '-')}`).catch(() => {});
    if (consoleErrors.length) log(`console errors so far:\n    ${consoleErrors.join('\n    ')}`);
    throw e;
  } finally {
    await context.close();
    fs.rmSync(userDir, { recursive: true, force: true });
  }
}

const t0 = Date.now();
run().then(() => {
  log(`PASS e2e SPA (${((Date.now() - t0) / 1000).toFixed(1)} s); screenshots in ${path.relative(repo, ART) || ART}`);
}, (e) => {
  process.stderr.write(`FAIL e2e SPA: ${e.stack || e.message}\n`);
  process.exit(1);
});
