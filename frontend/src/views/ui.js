// views/ui.js - building blocks shared by the dashboard sections: cards, the
// loading / error-with-retry / empty states, and date formatting.

import { h } from '../dom.js';
import { apiMessage } from '../errors.js';

export function spinner(label = 'Loading…') {
  return h('div', { class: 'loading', role: 'status' }, h('span', { class: 'spin', 'aria-hidden': 'true' }), label);
}

export function errorBox(message, retry) {
  return h('div', { class: 'error-state', role: 'alert' },
    h('p', {}, message),
    retry ? h('button', { type: 'button', class: 'secondary', onclick: retry }, 'Try again') : null);
}

export function empty(title, text) {
  return h('div', { class: 'empty-state' }, h('p', { class: 'empty-title' }, title), h('p', {}, text));
}

export function card(id, title, ...extra) {
  const body = h('div', { class: 'card-body' });
  const el = h('section', { class: `card card-${id}`, id, 'aria-labelledby': `${id}-title` },
    h('header', { class: 'card-head' }, h('h2', { id: `${id}-title` }, title), ...extra), body);
  return { el, body };
}

/**
 * Runs load() and renders its result into body, with a loading state while pending and an
 * error state with a retry button on failure. Returns the reload function.
 * onUnauthorized(err) runs for a 401 that a token refresh could not fix.
 */
export function loadable(el, body, load, render, onUnauthorized) {
  let seq = 0;
  async function run() {
    const mine = ++seq;
    body.replaceChildren(spinner());
    el.setAttribute('aria-busy', 'true');
    try {
      const data = await load();
      if (mine !== seq) return;
      body.replaceChildren(render(data, run));
    } catch (err) {
      if (mine !== seq) return;
      if (err.status === 401 && onUnauthorized) { onUnauthorized(err); return; }
      body.replaceChildren(errorBox(apiMessage(err), run));
    } finally {
      if (mine === seq) el.removeAttribute('aria-busy');
    }
  }
  run();
  return run;
}

const rtf = typeof Intl !== 'undefined' && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' }) : null;

/** "3 minutes ago" for an RFC 3339 timestamp; '' when unreadable. */
export function ago(iso, now = Date.now()) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const s = Math.round((t - now) / 1000);
  const steps = [[60, 'second'], [3600, 'minute'], [86400, 'hour'], [86400 * 30, 'day'], [86400 * 365, 'month']];
  let unit = 'year'; let div = 86400 * 365;
  for (let i = 0; i < steps.length; i++) {
    if (Math.abs(s) < steps[i][0]) { unit = steps[i][1]; div = i === 0 ? 1 : steps[i - 1][0]; break; }
  }
  if (unit === 'second' && Math.abs(s) < 10) return 'just now';
  const v = Math.round(s / div);
  return rtf ? rtf.format(v, unit) : `${Math.abs(v)} ${unit}s ago`;
}
