// router.js - hash routing: "#/login", "#/dashboard?limit=2". Reload and back/forward work
// because the route lives in the URL.

/** Parses location.hash into {path, query}. */
export function parseHash(hash) {
  const raw = String(hash || '').replace(/^#/, '') || '/';
  const [path, qs = ''] = raw.split('?');
  return { path: path.startsWith('/') ? path : `/${path}`, query: Object.fromEntries(new URLSearchParams(qs)) };
}

export function navigate(path, query) {
  const qs = query && Object.keys(query).length ? `?${new URLSearchParams(query)}` : '';
  const target = `#${path}${qs}`;
  if (location.hash === target) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = target;
}

/** Calls onRoute({path, query}) now and on every hash change. */
export function startRouter(onRoute) {
  const run = () => onRoute(parseHash(location.hash));
  window.addEventListener('hashchange', run);
  run();
}
