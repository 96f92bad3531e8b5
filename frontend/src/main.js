// main.js - boots the SPA: reads /config.json, restores the session, routes views by hash.

import { CognitoClient } from './cognito.js';
import { Session } from './session.js';
import { Api } from './api.js';
import { h } from './dom.js';
import { startRouter, navigate } from './router.js';
import { loginView, signupView, confirmView, forgotView, resetView } from './views/auth.js';
import { dashboardView } from './views/dashboard.js';
import { handlersView, isTenantAdmin } from './views/handlers.js';
import { spinner, errorBox } from './views/ui.js';

const root = document.getElementById('app');
const REQUIRED = ['apiUrl', 'cognitoEndpoint', 'clientId'];

const ROUTES = {
  '/login': { view: loginView, title: 'Log in', public: true, guestOnly: true },
  '/signup': { view: signupView, title: 'Create account', public: true, guestOnly: true },
  '/confirm': { view: confirmView, title: 'Confirm your email', public: true },
  '/forgot': { view: forgotView, title: 'Reset your password', public: true },
  '/reset': { view: resetView, title: 'Choose a new password', public: true },
  '/dashboard': { view: dashboardView, title: 'Dashboard' },
  '/handlers': { view: handlersView, title: 'Handlers', admin: true },
};

async function loadConfig() {
  const res = await fetch(new URL('config.json', document.baseURI), { cache: 'no-store' });
  if (!res.ok) throw new Error(`config.json answered HTTP ${res.status}`);
  const cfg = await res.json();
  const missing = REQUIRED.filter((k) => typeof cfg[k] !== 'string' || !cfg[k]);
  if (missing.length) throw new Error(`config.json lacks ${missing.join(', ')}`);
  return cfg;
}

function applyTheme(theme) {
  document.documentElement.dataset.theme = ['light', 'dark'].includes(theme) ? theme : 'system';
}

function makeApp(config) {
  const cognito = new CognitoClient(config);
  const session = new Session(cognito, { globalSignOut: config.environment !== 'local' });
  const api = new Api(config.apiUrl, session);
  let flash = '';
  let expiring = false;
  const app = {
    config, cognito, session, api, navigate, applyTheme,
    flash(msg) { flash = msg; },
    takeFlash() { const m = flash; flash = ''; return m; },
    /** The session cannot be refreshed any more: back to log in, once. */
    expired() {
      if (expiring) return;
      expiring = true;
      session.clear();
      app.flash('Your session has expired. Please log in again.');
      navigate('/login', { next: '/dashboard' });
      setTimeout(() => { expiring = false; }, 0);
    },
    async logout() {
      const { revoked } = await session.signOut();
      applyTheme('system');
      app.flash(revoked ? 'You have been logged out.' : 'You have been logged out on this device.');
      navigate('/login');
    },
  };
  session.onExpired = () => app.expired();
  return app;
}

function render(app, { path, query }) {
  const route = ROUTES[path];
  if (!route) return navigate(app.session.signedIn ? '/dashboard' : '/login');
  if (!route.public && !app.session.signedIn) return navigate('/login', { next: path });
  if (route.guestOnly && app.session.signedIn) return navigate('/dashboard');
  if (route.admin && !isTenantAdmin(app.session)) return navigate('/dashboard');
  if (route.public) applyTheme('system');
  document.title = `${route.title} · Moonbase`;
  root.dataset.view = path.slice(1);
  root.replaceChildren(route.view(app, query));
  const heading = root.querySelector('h1');
  if (heading) heading.focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

async function boot() {
  root.replaceChildren(h('div', { class: 'boot' }, spinner('Starting Moonbase…')));
  let config;
  try {
    config = await loadConfig();
  } catch (err) {
    root.dataset.view = 'error';
    root.replaceChildren(h('section', { class: 'auth-card' },
      h('h1', { tabindex: '-1' }, 'Moonbase could not start'),
      errorBox(`The app configuration could not be loaded (${err.message}). Check that the server is running, then try again.`, boot)));
    return;
  }
  const app = makeApp(config);
  app.session.restore();
  startRouter((route) => render(app, route));
}

boot();
