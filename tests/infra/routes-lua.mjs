// tests/infra/routes-lua.mjs - handlers/routes.lua as data, read by the real Lua 5.4 interpreter
// (the file is Lua, not JSON): [{ method, path, handler, auth }]. The template tests compare it
// with the REST API's methods, so a route added to routes.lua without its API method (or with the
// wrong authorizer) fails there.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const DUMP = `
local ok, routes = pcall(dofile, arg[1])
if not ok then io.stderr:write(tostring(routes), "\\n") os.exit(2) end
for _, r in ipairs(routes) do
  io.write(r[1], "\\t", r[2], "\\t", r[3], "\\t", tostring(r.auth == true), "\\n")
end`;

export function loadRoutes(root) {
  const file = join(root, 'handlers', 'routes.lua');
  // `lua5.4 - FILE`: the dump code comes on stdin and finds routes.lua in arg[1].
  const r = spawnSync('lua5.4', ['-', file], { encoding: 'utf8', input: DUMP });
  if (r.error) throw new Error(`lua5.4 is needed to read routes.lua: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`routes.lua did not load: ${r.stderr}`);
  return r.stdout.trim().split('\n').filter(Boolean).map((line) => {
    const [method, path, handler, auth] = line.split('\t');
    return { method, path, handler, auth: auth === 'true' };
  });
}
