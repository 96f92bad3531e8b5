// emf_check_lib.mjs - shared by tests/emf_schema_check.mjs and the bootstrap observability test:
// parse log output line by line and validate every EMF document (a line with `_aws`) against
// tests/data/emf.schema.json (ajv) plus the spec's cross-references that a schema cannot say:
// each dimension key names a string root member, each metric a number or <= 100 numbers.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv from 'ajv';

const here = dirname(fileURLToPath(import.meta.url));
const schema = JSON.parse(readFileSync(join(here, 'data', 'emf.schema.json'), 'utf8'));
const validate = new Ajv({ allErrors: true, strict: true }).compile(schema);

function crossCheck(doc, n, problems, metricNames) {
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

// Returns { problems: [string], objects: [parsed lines], docs: [EMF documents], metricNames: Set }.
export function checkOutput(text, { allowNonJson = false } = {}) {
  const problems = [];
  const objects = [];
  const docs = [];
  const metricNames = new Set();
  text.split('\n').forEach((line, i) => {
    if (line === '') return;
    let doc;
    try {
      doc = JSON.parse(line);
    } catch {
      if (!allowNonJson) problems.push(`line ${i + 1}: not JSON: ${line.slice(0, 120)}`);
      return;
    }
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
      problems.push(`line ${i + 1}: not a JSON object`);
      return;
    }
    objects.push(doc);
    if (!('_aws' in doc)) return;
    docs.push(doc);
    if (Buffer.byteLength(line) > 256 * 1024) problems.push(`line ${i + 1}: document over 256 KB`);
    if (!validate(doc)) {
      problems.push(`line ${i + 1}: ${validate.errors.map((e) => `${e.instancePath} ${e.message}`).join('; ')}`);
      return;
    }
    crossCheck(doc, i + 1, problems, metricNames);
  });
  return { problems, objects, docs, metricNames };
}
