// emf_schema_check.mjs - validate log output read from stdin: every line must be one JSON object;
// every line with an `_aws` member must be a valid EMF document (tests/emf_check_lib.mjs).
// Usage: <producer> | node tests/emf_schema_check.mjs [--expect-docs N] [--require Name,Name]
//        [--allow-non-json]
import { readFileSync } from 'node:fs';
import { checkOutput } from './emf_check_lib.mjs';

const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const expectDocs = opt('--expect-docs');
const required = (opt('--require') || '').split(',').filter(Boolean);

const r = checkOutput(readFileSync(0, 'utf8'), { allowNonJson: args.includes('--allow-non-json') });
if (expectDocs !== undefined && r.docs.length !== Number(expectDocs)) {
  r.problems.push(`expected ${expectDocs} EMF documents, found ${r.docs.length}`);
}
for (const name of required) {
  if (!r.metricNames.has(name)) r.problems.push(`metric ${name} missing`);
}
for (const p of r.problems) console.error(p);
console.log(`emf-schema: ${r.objects.length} JSON lines, ${r.docs.length} EMF documents`);
console.log(`${r.problems.length === 0 ? 1 : 0} passed, ${r.problems.length === 0 ? 0 : 1} failed`);
process.exit(r.problems.length === 0 ? 0 : 1);
