// tests/tools/test_layers.mjs - the floors check (layers.mjs) fails, naming the edge, on copies of
// the tree broken on purpose: an upward include, a circle on one floor, a module without a floor,
// a picture that leaves a module out, an allowance whose edge is gone. ctest unit_layers_rejects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = process.env.MB_SOURCE_DIR || new URL('../..', import.meta.url).pathname;
const script = join(root, 'tests', 'tools', 'layers.mjs');

// A copy of what the check reads, changed by edit(dir); returns { status, out }.
function run(edit, extra = []) {
  const dir = mkdtempSync(join(tmpdir(), 'mb-layers-'));
  try {
    cpSync(join(root, 'CONTRIBUTING.md'), join(dir, 'CONTRIBUTING.md'));
    cpSync(join(root, 'core'), join(dir, 'core'), { recursive: true });
    cpSync(join(root, 'include', 'moonbase'), join(dir, 'include', 'moonbase'), { recursive: true });
    edit?.(dir);
    const r = spawnSync(process.execPath, [script, '--root', dir, ...extra], { encoding: 'utf8' });
    return { status: r.status, out: r.stdout + r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const lines = (file) => readFileSync(file, 'utf8').split('\n').length;

test('the tree as it is passes', () => {
  const r = run();
  assert.equal(r.status, 0, r.out);
});

test('an include of a higher floor fails, naming file, line and edge', () => {
  let line;
  const r = run((dir) => {
    const f = join(dir, 'core', 'buf.c');
    line = lines(f);
    appendFileSync(f, '#include "moonbase/app.h"\n');
  });
  assert.equal(r.status, 1, r.out);
  assert.match(r.out, new RegExp(`core/buf\\.c:${line}: buf \\(floor 0\\) includes app\\.h \\(floor 4, pipeline\\): upward edge`));
});

test('a circle of includes on one floor fails, naming the circle', () => {
  const r = run((dir) => {
    appendFileSync(join(dir, 'core', 'numfmt.c'), '#include "moonbase/base64.h"\n');
    appendFileSync(join(dir, 'core', 'base64.c'), '#include "moonbase/numfmt.h"\n');
  });
  assert.equal(r.status, 1, r.out);
  assert.match(r.out, /circle: (base64 -> numfmt -> base64|numfmt -> base64 -> numfmt) \(core\//);
});

test('a module with no floor fails', () => {
  const r = run((dir) => writeFileSync(join(dir, 'core', 'newmod.c'), '#include "moonbase/buf.h"\n'));
  assert.equal(r.status, 1, r.out);
  assert.match(r.out, /core\/newmod\.c: module newmod has no floor in CONTRIBUTING\.md/);
});

test('a picture that leaves a module out fails', () => {
  const r = run((dir) => {
    const f = join(dir, 'CONTRIBUTING.md');
    const doc = readFileSync(f, 'utf8');
    const at = doc.indexOf('```', doc.indexOf('<!-- layers:end -->'));
    writeFileSync(f, doc.slice(0, at) + doc.slice(at).replace('  quota  ', '  '));
  });
  assert.equal(r.status, 1, r.out);
  assert.match(r.out, /the picture does not show quota on floor 1/);
});

test('an allowance lets its edge pass, and fails once the edge is gone', () => {
  // quota (floor 1) -> tenant_api (floor 3): upward, and no circle (nothing under tenant_api
  // includes quota)
  const upward = (dir) => appendFileSync(join(dir, 'core', 'quota.c'), '#include "moonbase/tenant_api.h"\n');
  let r = run(upward, ['--known', 'quota:tenant_api']);
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /core\/quota\.c:\d+: known: quota \(floor 1\) includes tenant_api\.h/);
  r = run(upward);
  assert.equal(r.status, 1, r.out); // the same tree without the allowance
  r = run(null, ['--known', 'quota:tenant_api']);
  assert.equal(r.status, 1, r.out);
  assert.match(r.out, /KNOWN_UPWARD lists quota -> tenant_api, which is gone: delete the entry/);
});
