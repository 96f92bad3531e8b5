// emf_schema_check.mjs - validate log output read from stdin: every line must be one JSON object;
// every line with an `_aws` member must be a valid EMF document (tests/data/emf.schema.json via
// ajv, plus the spec's cross-references between directives and root members, checked here).
// Usage: <producer> | node tests/emf_schema_check.mjs [--expect-docs N] [--require Name,Name]
//        [--allow-non-json]   (bootstrap's stderr may hold nothing else but JSON lines)
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv from 'ajv';

const here = dirname(fileURLToPath(import.meta.url));
const schema = JSON.parse(readFileSync(join(here, 'data', 'emf.schema.json'), 'utf8'));
const validate = new Ajv({ allErrors: true, strict: true }).compile(schema);

const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const expectDocs = opt('--expect-docs');
const required = (opt('--require') || '').split(',').filter(Boolean);
const allowNonJson = args.includes('--allow-non-json');

const problems = [];
let docs = 0;
let lines = 0;
const metricNames = new Set();

function crossCheck(doc, n) {
  for (const d of doc._aws.CloudWatchMetrics) {
    for (const set of d.Dimensions) {
      for (const key of set) {
        if (typeof doc[key] !== 'string') problems.push(`line ${n}: dimension ${key} is not a string root member`);
      }
    }
    for (const m of d.Metrics) {
      const v = doc[m.Name];
      const ok = typeof v === 'number' ||
        (Array.isArray(v) && v.length <= 100 && v.every((x) => typeof x === 'number'));
      if (!ok) problems.push(`line ${n}: metric ${m.Name} has no numeric root member`);
      metricNames.add(m.Name);
    }
  }
}

const input = readFileSync(0, 'utf8');
input.split('\n').forEach((line, i) => {
  if (line === '') return;
  lines++;
  let doc;
  try {
    doc = JSON.parse(line);
  } catch (e) {
    if (!allowNonJson) problems.push(`line ${i + 1}: not JSON: ${line.slice(0, 120)}`);
    return;
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    problems.push(`line ${i + 1}: not a JSON object`);
    return;
  }
  if (!('_aws' in doc)) return;
  docs++;
  if (Buffer.byteLength(line) > 256 * 1024) problems.push(`line ${i + 1}: document over 256 KB`);
  if (!validate(doc)) {
    problems.push(`line ${i + 1}: ${validate.errors.map((e) => `${e.instancePath} ${e.message}`).join('; ')}`);
    return;
  }
  crossCheck(doc, i + 1);
});

if (expectDocs !== undefined && docs !== Number(expectDocs)) {
  problems.push(`expected ${expectDocs} EMF documents, found ${docs}`);
}
for (const name of required) {
  if (!metricNames.has(name)) problems.push(`metric ${name} missing`);
}
for (const p of problems) console.error(p);
console.log(`emf-schema: ${lines} lines, ${docs} EMF documents`);
console.log(`${problems.length === 0 ? 1 : 0} passed, ${problems.length === 0 ? 0 : 1} failed`);
process.exit(problems.length === 0 ? 0 : 1);
