// views/dashboard.js - the signed-in page: header with the lessons link (learn/), the user and
// log out, greeting (GET /me + GET /profile), items, activity chart, profile editor and two-step
// verification.

import { h, busy } from '../dom.js';
import { apiMessage } from '../errors.js';
import { itemsSection } from './items.js';
import { activitySection } from './activity.js';
import { profileSection } from './profile.js';
import { mfaSection } from './mfa.js';
import { isTenantAdmin } from './handlers.js';

function greetingWord(d = new Date()) {
  const hr = d.getHours();
  return hr < 5 ? 'Good evening' : hr < 12 ? 'Good morning' : hr < 18 ? 'Good afternoon' : 'Good evening';
}

function initials(name) {
  const parts = String(name || '?').replace(/@.*/, '').split(/[\s._-]+/).filter(Boolean);
  return ((parts[0] || '?')[0] + (parts[1] ? parts[1][0] : '')).toUpperCase();
}

export function dashboardView(app, query) {
  const limit = Math.min(100, Math.max(1, parseInt(query.limit, 10) || 10));
  const email = app.session.email;
  const who = { me: null, profile: null };

  const avatar = h('span', { class: 'avatar', 'aria-hidden': 'true' }, initials(email));
  const userLabel = h('span', { class: 'user-email', 'data-testid': 'user-email' }, email);
  const logout = h('button', { type: 'button', class: 'secondary small' }, 'Log out');
  logout.addEventListener('click', () => busy(logout, 'Logging out…', () => app.logout()));

  const title = h('h1', { id: 'view-title', tabindex: '-1' }, `${greetingWord()}!`);
  const sub = h('p', { class: 'subtitle' }, email ? `Signed in as ${email}` : '');
  const meError = h('div', { class: 'me-error' });

  function paintWho() {
    const name = (who.profile && who.profile.displayName) || (who.me && who.me.email) || email;
    title.textContent = `${greetingWord()}, ${name}!`;
    const mail = (who.me && who.me.email) || (who.profile && who.profile.email) || email;
    sub.textContent = `Signed in as ${mail}`;
    userLabel.textContent = mail;
    avatar.textContent = initials(name);
    if (who.profile && who.profile.avatarColor) avatar.style.background = who.profile.avatarColor;
  }

  async function loadMe() {
    meError.replaceChildren();
    try {
      who.me = await app.api.get('/me');
      paintWho();
    } catch (err) {
      if (err.status === 401) return app.expired();
      const retry = h('button', { type: 'button', class: 'secondary small', onclick: loadMe }, 'Try again');
      meError.replaceChildren(h('div', { class: 'error-state inline', role: 'alert' },
        h('p', {}, `We could not load your account. ${apiMessage(err)}`), retry));
    }
  }

  const activity = activitySection(app);
  const items = itemsSection(app, { limit, onChange: () => activity.reload() });
  const profile = profileSection(app, {
    onSaved: (p) => { who.profile = p; paintWho(); app.applyTheme(p.preferences && p.preferences.theme); },
  });
  const mfa = mfaSection(app);
  loadMe();

  return h('div', { class: 'dashboard' },
    h('header', { class: 'topbar' },
      h('div', { class: 'brand' }, h('span', { class: 'logo', 'aria-hidden': 'true' }), 'Moonbase'),
      h('div', { class: 'who' },
        h('a', { href: 'learn/README.txt', target: '_blank', rel: 'noopener' }, 'Lessons'),
        isTenantAdmin(app.session) ? h('a', { href: '#/handlers', 'data-testid': 'nav-handlers' }, 'Handlers') : null,
        avatar, userLabel, logout)),
    h('div', { class: 'page' },
      h('div', { class: 'greeting' }, title, sub, meError),
      h('div', { class: 'grid' },
        h('div', { class: 'col-main' }, items.el),
        h('div', { class: 'col-side' }, activity.el, profile.el, mfa.el))));
}
