-- .luacheckrc: lint for handlers/ (run: luacheck handlers/; ctest: unit_luacheck_handlers).
-- Handlers run in Moonbase's sandbox (core/lua_host.c), so the standard globals are exactly
-- the sandbox's allow-list: a handler that uses io, os.date, debug, package, rawset... fails
-- here instead of at run time. Handlers define no globals (everything is `local`).
stds.moonbase = {
  read_globals = {
    "assert", "error", "ipairs", "next", "pairs", "pcall", "select", "tonumber", "tostring",
    "type", "xpcall", "rawequal", "rawget", "rawlen", "getmetatable", "setmetatable", "load",
    "print", "require", "collectgarbage", -- collectgarbage: "count", "collect", "step" only
    string = { other_fields = true },
    table = { other_fields = true },
    math = { other_fields = true },
    utf8 = { other_fields = true },
    coroutine = { other_fields = true },
    os = { fields = { "time", "clock" } },
    json = { fields = { "encode", "decode", "null", "array_mt" } },
    cjson = { fields = { "encode", "decode", "null", "array_mt" } },
  },
}
std = "moonbase"
max_line_length = 100
-- Every handler has the signature (req, ctx); not using one of them is fine.
ignore = { "212/req", "212/ctx" }
