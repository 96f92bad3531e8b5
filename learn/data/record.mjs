// learn/data/record.mjs - records the log lines the insights-query exercise runs its query on:
// a fixed mix of requests through the real `bootstrap invoke` and the app's handlers/ (no
// database, no tokens: successes, 400s, 401s, unmatched paths), every line of stderr kept.
// Regenerate with: node learn/data/record.mjs [path to bootstrap] > learn/data/app-logs.jsonl
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Harness } from '../checker/harness.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const bootstrap = process.argv[2] || path.join(root, 'build', 'bootstrap');
const mix = [
  [6, 'GET', '/hello', ''],
  [3, 'GET', '/hello', `name=${'x'.repeat(65)}`],
  [2, 'GET', '/hello', 'name=Ada'],
  [5, 'GET', '/me', ''],
  [2, 'GET', '/items', ''],
  [1, 'GET', '/activity', 'days=7'],
  [4, 'GET', '/nope', ''],
  [1, 'POST', '/hello', ''],
];
const h = new Harness({ bootstrap, jobs: 1 });
await h.start();
try {
  const ctx = await h.context(root);
  ctx.handlersDir = path.join(root, 'handlers');
  for (const [n, method, p, query] of mix) {
    for (let i = 0; i < n; i++) {
      const r = await ctx.invoke(method, p, { query, env: { ASAN_OPTIONS: '' } });
      process.stdout.write(r.stderr);
    }
  }
} finally {
  await h.stop();
}
