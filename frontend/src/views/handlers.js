// views/handlers.js - the Handlers page for tenant admins: write a Lua handler in the browser,
// Run it (a dry run: response, logs, usage; nothing saved), Deploy it (a new version, live at
// /api/t/<name> on every warm worker within about a second), call the live one, see its versions
// and roll back. Syntax and runtime errors are marked at their line in the editor. The API
// (/tenant/handlers) refuses non-admins anyway; this page only keeps them from a dead end.

import { h, busy, announce } from '../dom.js';
import { apiMessage } from '../errors.js';
import { createEditor } from '../editor.js';
import { TEMPLATES } from '../handlers/templates.js';
import { spinner, errorBox, empty, ago } from './ui.js';

const NAME = /^[a-z0-9][a-z0-9-]{0,39}$/;
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

/** True when the signed-in user may deploy handlers (the tenant-admin group in the ID token). */
export function isTenantAdmin(session) {
  const groups = session.claims['cognito:groups'];
  return Array.isArray(groups) && groups.includes('tenant-admin');
}

/** "a=1&b=two" -> {a: "1", b: "two"} */
function parseQuery(text) {
  return Object.fromEntries(new URLSearchParams(String(text || '').replace(/^\?/, '')));
}

function pretty(text) {
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return String(text ?? ''); }
}

export function handlersView(app, route = {}) {
  const state = { name: '', live: 0, dirty: false };
  const status = h('p', { class: 'hs-status', role: 'status', 'data-testid': 'handler-status' });
  const errorLine = h('p', { class: 'hs-error', role: 'alert', 'data-testid': 'handler-error', hidden: true });
  const listBody = h('div', { class: 'hs-list' });
  const versionsBody = h('div', { class: 'hs-versions', 'data-testid': 'versions' });
  const result = h('div', { class: 'hs-result', 'data-testid': 'result', 'aria-live': 'polite' });

  const nameInput = h('input', { type: 'text', name: 'handler-name', value: 'hello', autocomplete: 'off',
    spellcheck: 'false', 'aria-label': 'Handler name', pattern: NAME.source });
  const template = h('select', { 'aria-label': 'Starter template' },
    TEMPLATES.map((t) => h('option', { value: t.id }, t.label)));
  const useTemplate = h('button', { type: 'button', class: 'secondary small' }, 'Use template');
  const editorHost = h('div', { class: 'hs-editor', 'data-testid': 'editor' });
  const editor = createEditor(editorHost, TEMPLATES[0].source, () => { state.dirty = true; clearError(); });

  const method = h('select', { 'aria-label': 'Method' }, METHODS.map((m) => h('option', { value: m }, m)));
  const path = h('input', { type: 'text', 'aria-label': 'Path', value: '/t/hello', spellcheck: 'false' });
  const query = h('input', { type: 'text', 'aria-label': 'Query string', placeholder: 'name=you&x=1', spellcheck: 'false' });
  const body = h('textarea', { rows: '3', 'aria-label': 'JSON body', placeholder: '{"title": "buy milk"}', spellcheck: 'false' });

  const runBtn = h('button', { type: 'button', 'data-testid': 'run' }, 'Run');
  const deployBtn = h('button', { type: 'button', 'data-testid': 'deploy' }, 'Deploy');
  const callBtn = h('button', { type: 'button', class: 'secondary', 'data-testid': 'call-live' }, 'Call live');

  function clearError() {
    errorLine.hidden = true;
    errorLine.textContent = '';
    editor.clearErrors();
  }

  function showError(message, line) {
    errorLine.hidden = false;
    errorLine.textContent = line ? `Line ${line}: ${message}` : message;
    if (line) editor.showError(line, message);
  }

  function currentName() {
    const n = nameInput.value.trim();
    if (!NAME.test(n)) {
      showError('Handler names are 1-40 of a-z, 0-9 and "-", starting with a letter or digit.');
      nameInput.focus();
      return null;
    }
    return n;
  }

  function requestSpec(n) {
    const spec = { method: method.value, path: path.value || `/t/${n}`, query: parseQuery(query.value) };
    const text = body.value.trim();
    if (text) {
      try { spec.body = JSON.parse(text); } catch { throw new Error('The body must be valid JSON.'); }
    }
    return spec;
  }

  function showResponse(title, res, extra = []) {
    const headers = Object.entries(res.headers || {}).map(([k, v]) => `${k}: ${v}`).join('\n');
    result.replaceChildren(
      h('h3', {}, title),
      h('p', { class: `hs-code code-${String(res.status)[0]}xx`, 'data-testid': 'result-status' }, `HTTP ${res.status}`),
      headers ? h('pre', { class: 'hs-headers' }, headers) : null,
      h('pre', { class: 'hs-body', 'data-testid': 'result-body' }, pretty(res.body)),
      ...extra);
  }

  function logsBlock(logs) {
    if (!logs || !logs.length) return h('p', { class: 'hint' }, 'No logs.');
    return h('ul', { class: 'hs-logs', 'data-testid': 'logs' }, logs.map((l) =>
      h('li', {}, h('span', { class: `lvl lvl-${l.level}` }, l.level), ' ', l.message,
        l.fields && Object.keys(l.fields).length ? ` ${JSON.stringify(l.fields)}` : '')));
  }

  function usageBlock(u) {
    if (!u) return null;
    const kb = (u.memoryBytes / 1024).toFixed(1);
    return h('p', { class: 'hs-usage', 'data-testid': 'usage' },
      `${u.instructions.toLocaleString()} instructions · ${kb} KB · CPU ${u.cpuMs.toFixed(2)} ms · ${u.durationMs.toFixed(2)} ms`);
  }

  async function run() {
    clearError();
    const n = currentName();
    if (!n) return;
    let spec;
    try { spec = requestSpec(n); } catch (e) { showError(e.message); return; }
    try {
      const r = await app.api.post(`/tenant/handlers/${n}/test`, { source: editor.value, request: spec });
      const extra = [h('h3', {}, 'Logs'), logsBlock(r.logs), usageBlock(r.usage)];
      if (r.metrics && r.metrics.length) {
        extra.push(h('p', { class: 'hint' }, `Metrics: ${r.metrics.map((m) => `${m.name}=${m.value} ${m.unit}`).join(', ')}`));
      }
      if (r.error) {
        showError(r.error.message, r.error.line);
        result.replaceChildren(h('h3', {}, 'Dry run failed'), h('p', { class: 'hs-fail' }, r.error.message), ...extra);
      } else {
        showResponse('Dry run (not saved)', r.response, extra);
      }
      announce('Dry run finished.');
    } catch (err) {
      apiFailure(err);
    }
  }

  function apiFailure(err) {
    if (err.status === 401) return app.expired();
    const b = err.body || {};
    showError(b.message || apiMessage(err), b.error === 'syntax' ? b.line : 0);
  }

  async function deploy() {
    clearError();
    const n = currentName();
    if (!n) return;
    try {
      const body = { source: editor.value };
      if (state.name === n) body.expectedVersion = state.live; // 409 if someone else deployed
      const r = await app.api.put(`/tenant/handlers/${n}`, body);
      state.name = n;
      state.live = r.version;
      state.dirty = false;
      status.textContent = `Deployed ${n} version ${r.version}: live at /api/t/${n}.`;
      announce(status.textContent);
      await Promise.all([loadList(), loadVersions(n)]);
    } catch (err) {
      if (err.status === 409 && err.body && err.body.currentVersion !== undefined) {
        showError(`${err.message}. Reload version ${err.body.currentVersion} or deploy again.`);
        state.live = err.body.currentVersion;
        return;
      }
      apiFailure(err);
    }
  }

  async function callLive() {
    clearError();
    const n = currentName();
    if (!n) return;
    let spec;
    try { spec = requestSpec(n); } catch (e) { showError(e.message); return; }
    const qs = new URLSearchParams(spec.query).toString();
    const target = `${spec.path}${qs ? `?${qs}` : ''}`;
    const token = await app.session.idToken().catch(() => null);
    if (!token) return app.expired();
    const res = await app.api.send(spec.method, target, spec.body, token);
    const text = await res.text();
    const headers = {};
    res.headers.forEach((v, k) => { headers[k] = v; });
    showResponse(`Live: ${spec.method} /api${target}`, { status: res.status, headers, body: text });
  }

  async function open(n, version) {
    clearError();
    try {
      const r = await app.api.get(`/tenant/handlers/${n}${version ? `?version=${version}` : ''}`);
      nameInput.value = n;
      editor.value = r.source;
      state.name = n;
      state.live = r.live || 0;
      state.dirty = false;
      path.value = `/t/${n}`;
      status.textContent = version && version !== r.live
        ? `Showing ${n} version ${version} (live: ${r.live || 'none'}). Deploy to make it live.`
        : `Editing ${n}, live version ${r.live}.`;
      await loadVersions(n);
    } catch (err) {
      apiFailure(err);
    }
  }

  async function rollback(n, version) {
    clearError();
    try {
      const r = await app.api.post(`/tenant/handlers/${n}/rollback`, { version });
      await open(n); // the live source and versions; then the message (open sets its own)
      await loadList();
      state.live = r.version;
      status.textContent = `Rolled ${n} back to version ${version} (now live as version ${r.version}).`;
      announce(status.textContent);
    } catch (err) {
      apiFailure(err);
    }
  }

  async function remove(n) {
    clearError();
    try {
      await app.api.del(`/tenant/handlers/${n}`);
      status.textContent = `Deleted ${n}: /api/t/${n} now answers 404.`;
      announce(status.textContent);
      if (state.name === n) { state.name = ''; state.live = 0; }
      versionsBody.replaceChildren();
      await loadList();
    } catch (err) {
      apiFailure(err);
    }
  }

  async function loadList() {
    listBody.replaceChildren(spinner());
    try {
      const r = await app.api.get('/tenant/handlers');
      if (!r.handlers.length) {
        listBody.replaceChildren(empty('No handlers yet', 'Pick a template, Run it, then Deploy.'));
        return;
      }
      listBody.replaceChildren(h('p', { class: 'hint' }, `${r.handlers.length} of ${r.limit} handlers`),
        h('ul', { class: 'hs-names', 'data-testid': 'handler-list' }, r.handlers.map((x) =>
          h('li', {},
            h('button', { type: 'button', class: 'link', onclick: () => open(x.name) }, x.name),
            h('span', { class: 'hint' }, ` v${x.version} · ${x.size} B · ${ago(x.updatedAt)}`)))));
    } catch (err) {
      if (err.status === 401) return app.expired();
      listBody.replaceChildren(errorBox(apiMessage(err), loadList));
    }
  }

  async function loadVersions(n) {
    try {
      const r = await app.api.get(`/tenant/handlers/${n}/versions`);
      versionsBody.replaceChildren(h('h3', {}, `Versions of ${n}`),
        h('ol', { class: 'hs-version-list', reversed: true }, r.versions.map((v) => {
          const live = v.version === r.live;
          return h('li', { dataset: { version: String(v.version) } },
            h('span', { class: live ? 'badge live' : 'badge' }, live ? `v${v.version} live` : `v${v.version}`),
            ` ${ago(v.createdAt)}${v.rolledBackFrom ? ` (rollback to v${v.rolledBackFrom})` : ''} `,
            h('button', { type: 'button', class: 'link', onclick: () => open(n, v.version) }, 'View'),
            live ? null : h('button', { type: 'button', class: 'secondary small', 'data-testid': `rollback-${v.version}`,
              onclick: (e) => busy(e.currentTarget, 'Rolling back…', () => rollback(n, v.version)) }, 'Roll back'));
        })),
        h('button', { type: 'button', class: 'danger small', onclick: (e) => busy(e.currentTarget, 'Deleting…', () => remove(n)) },
          `Delete ${n}`));
    } catch (err) {
      if (err.status === 404) { versionsBody.replaceChildren(); return; }
      versionsBody.replaceChildren(errorBox(apiMessage(err), () => loadVersions(n)));
    }
  }

  useTemplate.addEventListener('click', () => {
    const t = TEMPLATES.find((x) => x.id === template.value);
    editor.value = t.source;
    if (!state.name || nameInput.value === state.name) nameInput.value = t.id;
    path.value = `/t/${nameInput.value}`;
    method.value = t.id === 'webhook' ? 'POST' : 'GET';
    body.value = t.id === 'webhook' ? '{"event": "order.created", "data": {"id": 1}}' : '';
    clearError();
  });
  nameInput.addEventListener('change', () => { path.value = `/t/${nameInput.value.trim()}`; });
  // #/handlers?lesson=<name>: a lesson's starter (learn/tenant/<name>.lua, copied into the bundle
  // by scripts/build-frontend) opens in the editor under that handler name.
  if (/^[a-z0-9][a-z0-9-]{0,39}$/.test(route.lesson || '')) {
    fetch(new URL(`learn/tenant/${route.lesson}.lua.txt`, document.baseURI), { cache: 'no-store' })
      .then((res) => (res.ok ? res.text() : Promise.reject(new Error(`HTTP ${res.status}`))))
      .then((source) => {
        editor.value = source;
        nameInput.value = route.lesson;
        path.value = `/t/${route.lesson}`;
        status.textContent = `Lesson starter "${route.lesson}" loaded: edit it, Run, then Deploy.`;
      })
      .catch((err) => { status.textContent = `No lesson starter "${route.lesson}" (${err.message}).`; });
  }
  runBtn.addEventListener('click', () => busy(runBtn, 'Running…', run));
  deployBtn.addEventListener('click', () => busy(deployBtn, 'Deploying…', deploy));
  callBtn.addEventListener('click', () => busy(callBtn, 'Calling…', callLive));

  const logout = h('button', { type: 'button', class: 'secondary small' }, 'Log out');
  logout.addEventListener('click', () => busy(logout, 'Logging out…', () => app.logout()));
  loadList();

  return h('div', { class: 'dashboard handlers-page' },
    h('header', { class: 'topbar' },
      h('div', { class: 'brand' }, h('span', { class: 'logo', 'aria-hidden': 'true' }), 'Moonbase'),
      h('nav', { class: 'who' }, h('a', { href: '#/dashboard' }, 'Dashboard'), logout)),
    h('div', { class: 'page' },
      h('div', { class: 'greeting' },
        h('h1', { id: 'view-title', tabindex: '-1' }, 'Handlers'),
        h('p', { class: 'subtitle' }, 'Lua routes of your tenant, live at /api/t/<name>. Run is a dry run; Deploy makes a new version.')),
      h('div', { class: 'grid hs-grid' },
        h('div', { class: 'col-side' },
          h('section', { class: 'card' }, h('header', { class: 'card-head' }, h('h2', {}, 'Your handlers')),
            h('div', { class: 'card-body' }, listBody)),
          h('section', { class: 'card' }, h('div', { class: 'card-body' }, versionsBody))),
        h('div', { class: 'col-main' },
          h('section', { class: 'card' },
            h('header', { class: 'card-head' }, h('h2', {}, 'Editor')),
            h('div', { class: 'card-body hs-edit' },
              h('div', { class: 'hs-row' }, nameInput, template, useTemplate),
              editorHost, errorLine,
              h('div', { class: 'hs-row' }, method, path),
              h('div', { class: 'hs-row' }, query),
              body,
              h('div', { class: 'hs-row' }, runBtn, deployBtn, callBtn),
              status, result))))));
}
