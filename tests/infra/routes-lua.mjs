// tests/infra/routes-lua.mjs - handlers/routes.lua as data, read by the real Lua 5.4 interpreter
// (the file is Lua, not JSON): [{ method, path, handler, auth }]; and the platform's own route
// table (core/tenant_api.c keeps one in the same format as a C string). The template tests compare
// them with the REST API's methods, so a route added without its API method (or with the wrong
// authorizer) fails there.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const DUMP = `
local ok, routes = pcall(dofile, arg[1])
if not ok then io.stderr:write(tostring(routes), "\\n") os.exit(2) end
for _, r in ipairs(routes) do
  io.write(r[1], "\\t", r[2], "\\t", r[3], "\\t", tostring(r.auth == true), "\\n")
end`;

function runLua(file) {
  // `lua5.4 - FILE`: the dump code comes on stdin and finds the route file in arg[1].
  const r = spawnSync('lua5.4', ['-', file], { encoding: 'utf8', input: DUMP });
  if (r.error) throw new Error(`lua5.4 is needed to read routes.lua: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${file} did not load: ${r.stderr}`);
  return r.stdout.trim().split('\n').filter(Boolean).map((line) => {
    const [method, path, handler, auth] = line.split('\t');
    return { method, path, handler, auth: auth === 'true' };
  });
}

export function loadRoutes(root) {
  return runLua(join(root, 'handlers', 'routes.lua'));
}

// The string literal `s_routes_src` of core/tenant_api.c, its macros replaced by their #define
// values from include/moonbase/tenant_api.h, run as Lua like routes.lua.
export function loadPlatformRoutes(root) {
  const c = readFileSync(join(root, 'core', 'tenant_api.c'), 'utf8');
  const h = readFileSync(join(root, 'include', 'moonbase', 'tenant_api.h'), 'utf8');
  const m = /s_routes_src\[\]\s*=([\s\S]*?);/.exec(c);
  if (!m) throw new Error('core/tenant_api.c: the platform route table s_routes_src was not found');
  const defines = Object.fromEntries([...h.matchAll(/#define\s+(\w+)\s+"([^"]*)"/g)].map((d) => [d[1], d[2]]));
  const pieces = m[1].match(/"(?:[^"\\]|\\.)*"|\b[A-Z_][A-Z0-9_]*\b/g) || [];
  const lua = pieces.map((p) => {
    if (p.startsWith('"')) return JSON.parse(p);
    if (!(p in defines)) throw new Error(`core/tenant_api.c: unknown macro ${p} in the route table`);
    return defines[p];
  }).join('');
  const dir = mkdtempSync(join(tmpdir(), 'mb-routes-'));
  const file = join(dir, 'platform_routes.lua');
  writeFileSync(file, lua);
  try {
    return runLua(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
