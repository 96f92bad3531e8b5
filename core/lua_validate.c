/* lua_validate.c - ctx.validate(value, schema): declarative validation of decoded JSON with
 * field-path errors (moonbase/lua_api.h). The validator is Lua (it walks Lua tables and calls
 * back into ctx.fail); it is compiled once per state, gets every function it uses as an argument
 * and runs with an empty _ENV, so it reaches nothing a handler could not. It runs inside the
 * handler's call, under the handler's budgets. */
#include <lauxlib.h>
#include <lualib.h>

#include "moonbase/lua_aux.h"

static const char s_key_validate = 'v';

/* Arguments: fail, utf8.len, math.type, string.find, string.format, table.sort, table.concat,
 * json.null, the
 * array metatable, then the base functions it uses. Returns validate(value, schema) -> value. */
static const char s_validator[] =
    "local fail, utf8len, mtype, sfind, sformat, sort, concat, null, array_mt,\n"
    "      type, pairs, ipairs, next, tostring, error, getmetatable, rawlen = ...\n"
    "local KEYS = { type = true, required = true, min_len = true, max_len = true, min = true,\n"
    "  max = true, pattern = true, enum = true, fields = true, items = true, min_items = true,\n"
    "  max_items = true, allow_unknown = true, nullable = true, message = true }\n"
    "local TYPES = { string = true, number = true, integer = true, boolean = true,\n"
    "  object = true, array = true, null = true, any = true }\n"
    "local check\n"
    "local function bad(path, msg, s)\n"
    "  if s and s.message then msg = s.message end\n"
    "  if path == '' then fail(400, 'request body ' .. msg, { code = 'validation' }) end\n"
    "  fail(400, path .. ': ' .. msg, { code = 'validation', field = path })\n"
    "end\n"
    "local function schema_error(path, msg)\n"
    "  error('ctx.validate: bad schema' .. (path ~= '' and (' at ' .. path) or '') .. ': ' .. msg, "
    "0)\n"
    "end\n"
    "local function join(path, key) if path == '' then return key end return path .. '.' .. key "
    "end\n"
    "local function sorted_keys(t)\n"
    "  local keys = {}\n"
    "  for k in pairs(t) do keys[#keys + 1] = tostring(k) end\n"
    "  sort(keys)\n"
    "  return keys\n"
    "end\n"
    "-- A JSON array: decoded with the array metatable, or keys exactly 1..n.\n"
    "local function is_array(t)\n"
    "  if getmetatable(t) == array_mt then return true end\n"
    "  local n, count = rawlen(t), 0\n"
    "  for k in pairs(t) do\n"
    "    if mtype(k) ~= 'integer' or k < 1 or k > n then return false end\n"
    "    count = count + 1\n"
    "  end\n"
    "  return count == n\n"
    "end\n"
    "local function check_schema(s, path)\n"
    "  if type(s) ~= 'table' then schema_error(path, 'a schema is a table') end\n"
    "  for k in pairs(s) do\n"
    "    if not KEYS[k] then schema_error(path, 'unknown key ' .. tostring(k)) end\n"
    "  end\n"
    "  if s.type ~= nil and not TYPES[s.type] then\n"
    "    schema_error(path, 'unknown type ' .. tostring(s.type))\n"
    "  end\n"
    "end\n"
    "local function check_object(v, s, path)\n"
    "  if type(v) ~= 'table' or getmetatable(v) == array_mt or (next(v) ~= nil and is_array(v)) "
    "then\n"
    "    return bad(path, 'must be an object', s)\n"
    "  end\n"
    "  local fields = s.fields or {}\n"
    "  if type(fields) ~= 'table' then schema_error(path, 'fields is a table') end\n"
    "  for _, name in ipairs(sorted_keys(fields)) do\n"
    "    local fs = fields[name]\n"
    "    if type(fs) == 'table' then\n"
    "      local fv = v[name]\n"
    "      if fv == nil then\n"
    "        if fs.required then bad(join(path, name), 'is required', fs) end\n"
    "      else\n"
    "        check(fv, fs, join(path, name))\n"
    "      end\n"
    "    else\n"
    "      schema_error(join(path, name), 'a schema is a table')\n"
    "    end\n"
    "  end\n"
    "  if not s.allow_unknown then\n"
    "    for _, k in ipairs(sorted_keys(v)) do\n"
    "      if fields[k] == nil then bad(join(path, k), 'is not an allowed field') end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local function check_array(v, s, path)\n"
    "  if type(v) ~= 'table' or not is_array(v) then return bad(path, 'must be an array', s) end\n"
    "  local n = rawlen(v)\n"
    "  if s.min_items and n < s.min_items then\n"
    "    bad(path, sformat('must have at least %d item%s', s.min_items, s.min_items == 1 and '' or "
    "'s'), s)\n"
    "  end\n"
    "  if s.max_items and n > s.max_items then\n"
    "    bad(path, sformat('must have at most %d item%s', s.max_items, s.max_items == 1 and '' or "
    "'s'), s)\n"
    "  end\n"
    "  if s.items ~= nil then\n"
    "    for i = 1, n do check(v[i], s.items, path .. '[' .. (i - 1) .. ']') end\n"
    "  end\n"
    "end\n"
    "local function check_string(v, s, path)\n"
    "  if type(v) ~= 'string' then return bad(path, 'must be a string', s) end\n"
    "  local n = utf8len(v)\n"
    "  if not n then return bad(path, 'must be valid UTF-8', s) end\n"
    "  if s.min_len and n < s.min_len then\n"
    "    bad(path, sformat('must be at least %d character%s', s.min_len, s.min_len == 1 and '' or "
    "'s'), s)\n"
    "  end\n"
    "  if s.max_len and n > s.max_len then\n"
    "    bad(path, sformat('must be at most %d character%s', s.max_len, s.max_len == 1 and '' or "
    "'s'), s)\n"
    "  end\n"
    "  if s.pattern and not sfind(v, s.pattern) then bad(path, 'has an invalid format', s) end\n"
    "end\n"
    "local function check_number(v, s, path, integer)\n"
    "  if type(v) ~= 'number' or v ~= v then\n"
    "    return bad(path, integer and 'must be an integer' or 'must be a number', s)\n"
    "  end\n"
    "  if integer and mtype(v) ~= 'integer' and v % 1 ~= 0 then\n"
    "    return bad(path, 'must be an integer', s)\n"
    "  end\n"
    "  if s.min and v < s.min then bad(path, 'must be at least ' .. tostring(s.min), s) end\n"
    "  if s.max and v > s.max then bad(path, 'must be at most ' .. tostring(s.max), s) end\n"
    "end\n"
    "check = function(v, s, path)\n"
    "  check_schema(s, path)\n"
    "  if v == null and (s.nullable or s.type == 'null') then return end\n"
    "  local t = s.type or 'any'\n"
    "  if t == 'object' then check_object(v, s, path)\n"
    "  elseif t == 'array' then check_array(v, s, path)\n"
    "  elseif t == 'string' then check_string(v, s, path)\n"
    "  elseif t == 'number' or t == 'integer' then check_number(v, s, path, t == 'integer')\n"
    "  elseif t == 'boolean' then\n"
    "    if type(v) ~= 'boolean' then bad(path, 'must be true or false', s) end\n"
    "  elseif t == 'null' then bad(path, 'must be null', s)\n"
    "  end\n"
    "  if s.enum ~= nil then\n"
    "    if type(s.enum) ~= 'table' then schema_error(path, 'enum is a list') end\n"
    "    local names = {}\n"
    "    for i, allowed in ipairs(s.enum) do\n"
    "      if v == allowed then return end\n"
    "      names[i] = tostring(allowed)\n"
    "    end\n"
    "    local list = concat(names, ', ')\n"
    "    bad(path, #list <= 80 and ('must be one of: ' .. list) or 'must be one of the allowed "
    "values', s)\n"
    "  end\n"
    "end\n"
    "return function(value, schema)\n"
    "  if value == nil then\n"
    "    check_schema(schema, '')\n"
    "    if schema.required == false then return value end\n"
    "    bad('', 'is required (send it as application/json)')\n"
    "  end\n"
    "  check(value, schema, '')\n"
    "  return value\n"
    "end\n";

/* Compile the validator with its arguments; ctx (with ctx.fail) at ctx_idx. [-0, +1, e] */
static void s_build(lua_State *L, int ctx_idx) {
    luaL_checkstack(L, 24, "ctx.validate"); /* the chunk and its 17 arguments, plus scratch */
    if (luaL_loadbufferx(L, s_validator, sizeof s_validator - 1, "=ctx.validate", "t") != LUA_OK) {
        lua_error(L);
    } /* stack: chunk */
    lua_newtable(L);
    lua_setupvalue(L, -2, 1); /* _ENV = {}: no globals at all */
    lua_getfield(L, ctx_idx, "fail");
    luaL_requiref(L, "utf8", luaopen_utf8, 0);
    lua_getfield(L, -1, "len");
    lua_remove(L, -2);
    luaL_requiref(L, "math", luaopen_math, 0);
    lua_getfield(L, -1, "type");
    lua_remove(L, -2);
    luaL_requiref(L, "string", luaopen_string, 0); /* the metered find (lua_pattern) */
    lua_getfield(L, -1, "find");
    lua_getfield(L, -2, "format");
    lua_remove(L, -3);
    luaL_requiref(L, "table", luaopen_table, 0);
    lua_getfield(L, -1, "sort");
    lua_getfield(L, -2, "concat");
    lua_remove(L, -3);
    mb_lua_aux_push_null(L); /* json.null */
    luaL_getmetatable(L, MB_LUA_ARRAY_MT);
    luaL_requiref(L, "_G", luaopen_base, 0);
    static const char *const base[] = {"type",     "pairs", "ipairs",       "next",
                                       "tostring", "error", "getmetatable", "rawlen"};
    for (size_t i = 0; i < sizeof base / sizeof base[0]; i++) {
        lua_getfield(L, -1 - (int)i, base[i]);
    }
    lua_remove(L, -9);  /* stack: chunk, fail ... array_mt, type ... rawlen */
    lua_call(L, 17, 1); /* stack: validate */
}

void mb_lua_inject_validate_api(lua_State *L) {
    int ctx = lua_gettop(L);
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &s_key_validate) != LUA_TFUNCTION) {
        lua_pop(L, 1);
        s_build(L, ctx);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &s_key_validate);
    } /* stack: ctx, validate */
    lua_setfield(L, ctx, "validate");
}
