/* test_ddb_marshal.c - Lua <-> AttributeValue JSON: exact output, round trips of every type,
 * number rules, depth bounds, request/response envelopes, and rejection of malformed input
 * (plus a mutation loop: no input crashes, leaks or leaves the Lua stack unbalanced). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "moonbase/ddb_marshal.h"
#include "moonbase/text.h"

/* Test-only bindings so cases read as Lua: marshal(v [, "item"|"request"]) -> json | nil, msg;
 * unmarshal(json [, "item"|"response"]) -> value | nil, msg, status; set(t [, type]);
 * binary(s); number(text) -> decimal | nil, msg; kind(v) -> "binary" | "decimal" | type(v). */
static int l_marshal(lua_State *L) {
    const char *mode = luaL_optstring(L, 2, "value");
    mb_buf b = {0};
    mb_err err = {0};
    int rc = strcmp(mode, "item") == 0      ? mb_ddb_marshal_item(L, 1, &b, &err)
             : strcmp(mode, "request") == 0 ? mb_ddb_marshal_request(L, 1, &b, &err)
                                            : mb_ddb_marshal_value(L, 1, &b, &err);
    if (rc == 0) {
        lua_pushlstring(L, b.ptr ? b.ptr : "", b.len);
    }
    mb_buf_cleanup(&b);
    if (rc != 0) {
        lua_pushnil(L);
        lua_pushstring(L, err.msg);
        lua_pushinteger(L, rc);
        return 3;
    }
    return 1;
}

static int l_unmarshal(lua_State *L) {
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    const char *mode = luaL_optstring(L, 2, "value");
    mb_err err = {0};
    int top = lua_gettop(L);
    int rc = strcmp(mode, "item") == 0 ? mb_ddb_marshal_unmarshal_item(L, (mb_cur){s, n}, &err)
             : strcmp(mode, "response") == 0
                 ? mb_ddb_marshal_unmarshal_response(L, (mb_cur){s, n}, &err)
                 : mb_ddb_marshal_unmarshal_value(L, (mb_cur){s, n}, &err);
    if (rc != 0) {
        if (lua_gettop(L) != top) {
            return luaL_error(L, "stack not restored on error");
        }
        lua_pushnil(L);
        lua_pushstring(L, err.msg);
        lua_pushinteger(L, rc);
        return 3;
    }
    if (lua_gettop(L) != top + 1) {
        return luaL_error(L, "unmarshal pushed %d values", lua_gettop(L) - top);
    }
    return 1;
}

static int l_set(lua_State *L) {
    mb_err err = {0};
    const char *type = luaL_optstring(L, 2, NULL);
    if (mb_ddb_marshal_push_set(L, 1, type, &err) != 0) {
        lua_pushnil(L);
        lua_pushstring(L, err.msg);
        return 2;
    }
    return 1;
}

static int l_binary(lua_State *L) {
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    mb_ddb_value_push_binary(L, (mb_cur){s, n});
    return 1;
}

static int l_number(lua_State *L) {
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    mb_err err = {0};
    if (mb_ddb_value_push_number(L, (mb_cur){s, n}, &err) != 0) {
        lua_pushnil(L);
        lua_pushstring(L, err.msg);
        return 2;
    }
    return 1;
}

static int l_kind(lua_State *L) {
    mb_cur v;
    lua_pushstring(L, mb_ddb_value_to_binary(L, 1, &v)   ? "binary"
                      : mb_ddb_value_to_number(L, 1, &v) ? "decimal"
                                                         : luaL_typename(L, 1));
    return 1;
}

static const char *const k_prelude =
    "null = marshal_null\n"
    "function eq(a, b)\n"
    "  if type(a) ~= type(b) then return false end\n"
    "  if type(a) == 'number' then return a == b and math.type(a) == math.type(b) end\n"
    "  if type(a) ~= 'table' then return a == b end\n"
    "  for k, v in pairs(a) do if not eq(v, b[k]) then return false end end\n"
    "  for k in pairs(b) do if a[k] == nil then return false end end\n"
    "  local ma, mb = getmetatable(a), getmetatable(b)\n"
    "  if ma == array_mt then ma = nil end if mb == array_mt then mb = nil end\n"
    "  return ma == mb\n"
    "end\n"
    "function check(cond, ...) if not cond then error(table.concat({...}, ' '), 2) end end\n"
    "function roundtrip(v) local j = assert(marshal(v)); local back, msg = unmarshal(j);\n"
    "  check(back ~= nil, j, msg);\n"
    "  check(eq(v, back), 'round trip of', j); return j end\n"
    "function refused(json, mode, want) local v, msg, st = unmarshal(json, mode)\n"
    "  check(v == nil, 'accepted:', json); check(want == nil or st == want, json, msg, st)\n"
    "  return msg end\n";

static int setup(void **state) {
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    mb_lua_aux_open(L);
    luaL_getmetatable(L, MB_LUA_ARRAY_MT); /* the shared array metatable */
    lua_setglobal(L, "array_mt");
    mb_ddb_marshal_open(L);
    lua_register(L, "marshal", l_marshal);
    lua_register(L, "unmarshal", l_unmarshal);
    lua_register(L, "set", l_set);
    lua_register(L, "binary", l_binary);
    lua_register(L, "number", l_number);
    lua_register(L, "kind", l_kind);
    lua_pushlightuserdata(L, NULL);
    lua_setglobal(L, "marshal_null");
    lua_pushinteger(L, MB_ERR_INVALID);
    lua_setglobal(L, "INVALID");
    lua_pushinteger(L, MB_ERR_LIMIT);
    lua_setglobal(L, "LIMIT");
    if (luaL_dostring(L, k_prelude) != LUA_OK) {
        print_error("%s\n", lua_tostring(L, -1));
        return -1;
    }
    *state = L;
    return 0;
}

static int teardown(void **state) {
    lua_close(*state);
    return 0;
}

static void run_lua(void **state, const char *code) {
    lua_State *L = *state;
    int top = lua_gettop(L);
    if (luaL_dostring(L, code) != LUA_OK) {
        print_error("%s\n", lua_tostring(L, -1));
        fail();
    }
    lua_settop(L, top);
}

static void test_ddb_marshal_exact_json_for_scalars(void **state) {
    run_lua(
        state,
        "check(marshal('a\\0b') == '{\"S\":\"a\\\\u0000b\"}', marshal('a\\0b'))\n"
        "check(marshal('q\"\\\\\\n\\t\\1\\127') == "
        "'{\"S\":\"q\\\\\"\\\\\\\\\\\\n\\\\t\\\\u0001\\127\"}',"
        "  marshal('q\"\\\\\\n\\t\\1\\127'))\n"
        "check(marshal('h\\u{e9}\\u{1F600}') == '{\"S\":\"h\\u{e9}\\u{1F600}\"}')\n"
        "check(marshal(math.maxinteger) == '{\"N\":\"9223372036854775807\"}')\n"
        "check(marshal(math.mininteger) == '{\"N\":\"-9223372036854775808\"}')\n"
        "check(marshal(0.1) == '{\"N\":\"0.1\"}', marshal(0.1))\n"
        "check(marshal(1/3) == '{\"N\":\"0.3333333333333333\"}', marshal(1/3))\n"
        "check(marshal(-0.0) == '{\"N\":\"0\"}')\n"
        /* floats are written in DynamoDB's canonical form, and must be in its range */
        "check(marshal(1e20) == '{\"N\":\"100000000000000000000\"}', marshal(1e20))\n"
        "check(marshal(-1.5e-7) == '{\"N\":\"-0.00000015\"}', marshal(-1.5e-7))\n"
        "check(marshal(1e125) == '{\"N\":\"1' .. string.rep('0', 125) .. '\"}')\n"
        "check(marshal(1e-130) == '{\"N\":\"0.' .. string.rep('0', 129) .. '1\"}')\n"
        "check(marshal(1e126) == nil and marshal(1e300) == nil and marshal(5e-324) == nil)\n"
        "check(marshal(number('12345678901234567890')) == '{\"N\":\"12345678901234567890\"}')\n"
        "check(marshal(number('-001.2500e2')) == '{\"N\":\"-125\"}')\n"
        "check(marshal(binary('')) == '{\"B\":\"\"}')\n"
        "check(marshal(true) == '{\"BOOL\":true}' and marshal(false) == '{\"BOOL\":false}')\n"
        "check(marshal(null) == '{\"NULL\":true}')\n"
        "check(marshal(binary('\\0\\255ab')) == '{\"B\":\"AP9hYg==\"}', "
        "marshal(binary('\\0\\255ab')))\n"
        "check(marshal({}) == '{\"M\":{}}')\n"
        "check(marshal(setmetatable({}, array_mt)) == '{\"L\":[]}')\n"
        "check(marshal(setmetatable({}, {})) == '{\"M\":{}}') -- a metatable of someone else's\n"
        "check(marshal(setmetatable({a = 1}, {})) == '{\"M\":{\"a\":{\"N\":\"1\"}}}')\n"
        "check(marshal(setmetatable({'x'}, array_mt)) == '{\"L\":[{\"S\":\"x\"}]}')\n"
        "check(marshal({setmetatable({}, {}), set({'a'})}) == "
        "'{\"L\":[{\"M\":{}},{\"SS\":[\"a\"]}]}')\n"
        "check(marshal({1, 'x'}) == '{\"L\":[{\"N\":\"1\"},{\"S\":\"x\"}]}')\n"
        "check(marshal({a = {b = true}}) == '{\"M\":{\"a\":{\"M\":{\"b\":{\"BOOL\":true}}}}}')\n"
        "check(marshal(set({'b', 'a', 'b'})) == '{\"SS\":[\"b\",\"a\"]}', 'dedupe')\n"
        "check(marshal(set({3, 1.5, '12345678901234567890123'})) =="
        "  '{\"NS\":[\"3\",\"1.5\",\"12345678901234567890123\"]}')\n"
        "check(marshal(set({'\\0\\1'}, 'BS')) == '{\"BS\":[\"AAE=\"]}')\n"
        "check(marshal(set({binary('\\0\\1'), binary('')})) == '{\"BS\":[\"AAE=\",\"\"]}')\n"
        /* NS members are sent canonical and compare by value: 1, '1.0' and number('1') are one */
        "check(marshal(set({1, '1.0', number('1'), 2.5, '0.1e1', number('3')})) =="
        "  '{\"NS\":[\"1\",\"2.5\",\"3\"]}', marshal(set({1, '1.0', number('1'), 2.5, '3'})))\n"
        "check(marshal({a = 1}, 'item') == '{\"a\":{\"N\":\"1\"}}')\n");
}

static void test_ddb_marshal_round_trips_every_type(void **state) {
    run_lua(
        state,
        "roundtrip('') roundtrip('with\\0nul\\0') roundtrip('\\u{10FFFF}\\u{2028}\\127')\n"
        "roundtrip(0) roundtrip(-1) roundtrip(math.maxinteger) roundtrip(math.mininteger)\n"
        "roundtrip(0.1) roundtrip(-2.5) roundtrip(1e125) roundtrip(1e-130) roundtrip(-9.5e-100)\n"
        /* an integral float is sent as integer text: it comes back an integer */
        "check(math.type(unmarshal(marshal(2^53 + 0.0))) == 'integer' and unmarshal(marshal(2.0)) "
        "== 2)\n"
        "roundtrip(true) roundtrip(false) roundtrip(null)\n"
        "roundtrip({}) roundtrip(setmetatable({}, array_mt)) roundtrip({{}, {1, {2}}})\n"
        "roundtrip(set({'x', 'y'})) roundtrip(set({1, 2.5}))\n"
        "check(marshal(unmarshal('{\"L\":[]}')) == '{\"L\":[]}', 'empty L stays a list')\n"
        "check(marshal(unmarshal('{\"M\":{}}')) == '{\"M\":{}}')\n"
        "local item = {s = 'str', n = 42, f = 3.25, b = true, z = null,\n"
        "  m = {deep = {deeper = {'a', 'b', {c = 1}}}}, l = {1, 'two', false, {x = 'y'}},\n"
        "  ss = set({'a', 'b'}), ns = set({1, 2})}\n"
        "local j = assert(marshal(item, 'item'))\n"
        "check(eq(item, assert(unmarshal(j, 'item'))), j)\n"
        /* B comes back as a binary value, BS members too */
        "roundtrip(binary('\\0\\255')) roundtrip(binary(''))\n"
        "check(kind(unmarshal(marshal(binary('\\0\\255')))) == 'binary')\n"
        "local bs = unmarshal('{\"BS\":[\"AAE=\",\"/w==\"]}')\n"
        "check(getmetatable(bs) == false and bs.type == 'BS' and bs[1] == binary('\\0\\1'))\n"
        "check(kind(bs[2]) == 'binary' and bs[2] == binary('\\255') and bs[2] ~= '\\255')\n"
        "roundtrip(set({binary('a'), binary('\\0')})) "
        "roundtrip(number('12345678901234567890123'))\n"
        "roundtrip({b = binary('\\1\\2'), n = number('0.1000000000000000000001'), l = "
        "{binary('')}})\n");
}

static void test_ddb_marshal_numbers_never_silently_rounded(void **state) {
    run_lua(
        state,
        "local function n(s) return unmarshal('{\"N\":\"' .. s .. '\"}') end\n"
        "check(math.type(n('42')) == 'integer' and n('42') == 42)\n"
        "check(n('-9223372036854775808') == math.mininteger)\n"
        "check(n('9223372036854775807') == math.maxinteger)\n"
        "local function dec(v, text) return kind(v) == 'decimal' and tostring(v) == text end\n"
        "check(dec(n('9223372036854775808'), '9223372036854775808'), 'beyond int64: a decimal')\n"
        "check(dec(n('12345678901234567890123456789012345678'),"
        "  '12345678901234567890123456789012345678'))\n"
        "check(dec(n('-12345678901234567890123456789012345678e88'),"
        "  '-12345678901234567890123456789012345678' .. string.rep('0', 88)), 'canonical')\n"
        "check(n('100000000000000000000') == 1e20, 'a double that holds it exactly')\n"
        "check(math.type(n('1.5')) == 'float' and n('1.5') == 1.5)\n"
        "check(n('0.1') == 0.1 and n('1.10') == 1.1 and n('1E+2') == 100.0 and n('-0.0') == 0)\n"
        "check(n('1.5e-7') == 1.5e-7)\n"
        "check(dec(n('0.10000000000000000001'), '0.10000000000000000001'), 'rounding refused')\n"
        "check(dec(n('3.141592653589793238'), '3.141592653589793238'))\n"
        /* what DynamoDB cannot hold is not a number it sent: refused */
        "for _, bad in ipairs({'1e400', '1E126', '1E-131', "
        "'123456789012345678901234567890123456789'}) do\n"
        "  local v, msg, st = n(bad); check(v == nil and st == INVALID, 'accepted N', bad) end\n"
        "for _, bad in ipairs({'', '-', '1.', '.5', '1e', '1e+', 'abc', '--1', '+1', '1 ', '0x10',"
        "  'NaN', 'Infinity', '1.2.3'}) do\n"
        "  local v, msg, st = n(bad); check(v == nil and st == INVALID, 'accepted N', bad) end\n"
        "refused('{\"N\":1}', nil, INVALID)\n"
        "refused('{\"N\":\"1\\\\u0030\"}', nil, INVALID)\n"
        /* marshal side */
        "local v, msg = marshal(0/0); check(v == nil and msg:find('NaN'), msg)\n"
        "check(marshal(math.huge) == nil and marshal(-math.huge) == nil)\n"
        "check(set({'12a'}, 'NS') == nil and set({}) == nil and set({true}) == nil)\n"
        "check(set({'a'}, 'XS') == nil and set({1}, 'SS') == nil)\n");
}

static void test_ddb_marshal_rejects_unstorable_lua_values(void **state) {
    run_lua(
        state,
        "local function bad(v, want) local j, msg, st = marshal(v)\n"
        "  check(j == nil and st == (want or INVALID), 'accepted', tostring(v), msg) end\n"
        "bad(print) bad(coroutine.create(print)) bad(io.stdout) bad(nil)\n"
        "bad('\\255') bad('\\192\\128') bad('\\237\\160\\128') bad('\\244\\144\\128\\128')\n"
        "bad({1, 2, nil, 4}) bad({1, x = 2}) bad({[1.5] = 1}) bad({[true] = 1}) bad({[0] = 1})\n"
        "bad({x = print}) check(getmetatable(set({'a'})) == false, 'the set metatable is "
        "protected')\n"
        "local m = {} local cur = m for i = 1, 40 do cur.k = {} cur = cur.k end bad(m, LIMIT)\n"
        "check(marshal(1, 'item') == nil and marshal({1}, 'item') == nil)\n");
}

static void test_ddb_marshal_unmarshal_rejects_malformed(void **state) {
    run_lua(
        state,
        "refused('') refused('{}') refused('{\"S\":\"a\",\"N\":\"1\"}', nil, INVALID)\n"
        "local _, msg = unmarshal('{\"S\":\"a\",\"N\":\"1\"}') check(msg:find('two type'), msg)\n"
        "_, msg = unmarshal('{\"X\":\"a\"}') check(msg:find('unknown type tag'), msg)\n"
        "refused('{\"S\":1}') refused('{\"S\":null}') refused('{\"BOOL\":\"true\"}')\n"
        "refused('{\"NULL\":false}') refused('{\"M\":[]}') refused('{\"L\":{}}')\n"
        "refused('{\"M\":{\"a\":1}}') refused('{\"L\":[\"a\"]}') refused('{\"SS\":[1]}')\n"
        "refused('{\"SS\":[]}') refused('{\"SS\":\"a\"}') refused('{\"NS\":[\"x\"]}')\n"
        "refused('{\"S\":\"a\\\\\\0b\"}', nil, INVALID) -- a backslash before a NUL byte\n"
        "refused('{\"M\":{\"a\\\\\\0\":{\"S\":\"x\"}}}', nil, INVALID)\n"
        "for _, b in ipairs({'A', 'AA=', 'A===', 'AB==', 'AAB=', '@@@@', 'AA==AA=='}) do\n"
        "  refused('{\"B\":\"' .. b .. '\"}', nil, INVALID) end\n"
        "check(unmarshal('{\"B\":\"AA\\\\u003d=\"}') == binary('\\0'), 'escaped base64')\n"
        "check(unmarshal('{\"B\":\"\"}') == binary('') and unmarshal('{\"B\":\"AA==\"}') == "
        "binary('\\0'))\n"
        "refused('{\"S\":\"a\"') refused('{\"S\":\"a') refused('{\"S\":\"a\"}x')\n"
        "refused('{\"S\":\"\\1\"}') refused('{\"S\":\"\\255\"}') refused('{\"S\":\"\\\\x\"}')\n"
        "refused('{\"S\":\"\\\\ud800\"}') refused('{\"S\":\"\\\\udc00\"}')\n"
        "refused('{\"S\":\"\\\\ud800\\\\u0041\"}') refused('{\"S\":\"\\\\u12\"}')\n"
        "check(unmarshal('{\"S\":\"\\\\u0000\\\\ud83d\\\\ude00\\\\/\\\\n\"}') == "
        "'\\0\\u{1F600}/\\n')\n"
        "check(unmarshal(' { \"S\" : \"a\" } ') == 'a')\n"
        "refused('{\"M\":{\"a\":{\"S\":\"x\"},}}') refused('[{\"S\":\"x\"}]') refused('\"S\"')\n"
        "local deep = '{\"S\":\"x\"}' for i = 1, 31 do deep = '{\"L\":[' .. deep .. ']}' end\n"
        "check(unmarshal(deep), '31 levels accepted')\n"
        "refused('{\"L\":[' .. deep .. ']}', nil, LIMIT)\n"
        "local huge = string.rep('{\"L\":[', 100000)\n"
        "refused(huge, nil, LIMIT) refused(string.rep('[', 100000), 'response', LIMIT)\n"
        "refused('{\"a\":1}', 'item') refused('{\"a\":{\"S\":\"x\"}', 'item')\n");
}

static void test_ddb_marshal_request_and_response_envelopes(void **state) {
    run_lua(
        state,
        "local j = assert(marshal({TableName = 't', Key = {PK = 'p', n = 1},\n"
        "  ConsistentRead = true, Limit = 10}, 'request'))\n"
        "check(j:find('\"Key\":{', 1, true) and j:find('\"PK\":{\"S\":\"p\"}', 1, true)\n"
        "  and j:find('\"n\":{\"N\":\"1\"}', 1, true) and j:find('\"Limit\":10', 1, true)\n"
        "  and j:find('\"ConsistentRead\":true', 1, true) and j:find('\"TableName\":\"t\"', 1, "
        "true), j)\n"
        "j = assert(marshal({RequestItems = {t = {{PutRequest = {Item = {a = 'x'}}},\n"
        "  {DeleteRequest = {Key = {a = 'y'}}}}}}, 'request'))\n"
        "check(j:find('{\"PutRequest\":{\"Item\":{\"a\":{\"S\":\"x\"}}}}', 1, true), j)\n"
        "j = assert(marshal({RequestItems = {t = {Keys = {{a = 'x'}, {a = 'y'}}}}}, 'request'))\n"
        "check(j:find('\"Keys\":[{\"a\":{\"S\":\"x\"}},{\"a\":{\"S\":\"y\"}}]', 1, true), j)\n"
        "j = assert(marshal({ExpressionAttributeNames = {['#n'] = 'name'},\n"
        "  ExpressionAttributeValues = {[':v'] = 5}}, 'request'))\n"
        "check(j:find('\"#n\":\"name\"', 1, true) and j:find('\":v\":{\"N\":\"5\"}', 1, true), j)\n"
        "check(marshal({Key = 'x'}, 'request') == nil and marshal({Keys = {1}}, 'request') == "
        "nil)\n"
        "local r = assert(unmarshal('{\"Items\":[{\"a\":{\"N\":\"1\"}},{\"a\":{\"S\":\"b\"}}],'\n"
        "  .. '\"Count\":2,\"ScannedCount\":2,\"LastEvaluatedKey\":{\"PK\":{\"S\":\"k\"}},'\n"
        "  .. '\"ConsumedCapacity\":{\"CapacityUnits\":0.5,\"TableName\":\"t\"}}', 'response'))\n"
        "check(r.Count == 2 and math.type(r.Count) == 'integer' and r.Items[1].a == 1)\n"
        "check(r.Items[2].a == 'b' and r.LastEvaluatedKey.PK == 'k')\n"
        "check(r.ConsumedCapacity.CapacityUnits == 0.5)\n"
        "r = "
        "assert(unmarshal('{\"Responses\":{\"t\":[{\"a\":{\"BOOL\":true}}]},\"UnprocessedKeys\":'\n"
        "  .. '{\"t\":{\"Keys\":[{\"a\":{\"S\":\"z\"}}],\"ConsistentRead\":true}}}', 'response'))\n"
        "check(r.Responses.t[1].a == true and r.UnprocessedKeys.t.Keys[1].a == 'z')\n"
        "r = assert(unmarshal('{\"UnprocessedItems\":{\"t\":[{\"PutRequest\":{\"Item\":'\n"
        "  .. '{\"a\":{\"NULL\":true}}}}]}, \"x\": null, \"y\": [1, -2.5e3, \"s\", false]}', "
        "'response'))\n"
        "check(r.UnprocessedItems.t[1].PutRequest.Item.a == null and r.x == null)\n"
        "check(r.y[2] == -2500.0 and r.y[3] == 's' and r.y[4] == false)\n"
        "check(eq(assert(unmarshal('{}', 'response')), {}))\n"
        "refused('{\"Item\":{\"a\":{\"Q\":1}}}', 'response', INVALID)\n"
        "refused('{\"Items\":{}}', 'response', INVALID) refused('{\"a\":01x}', 'response')\n"
        "refused('{\"a\":tru}', 'response') refused('{\"a\" 1}', 'response')\n");
}

/* Binary values both ways: every byte value, the empty value, B and BS read back as the same kind
 * of value binary() makes (so writing them back sends B/BS again, byte for byte), and the byte
 * operations handlers use. */
static void test_ddb_marshal_binary_values_round_trip(void **state) {
    run_lua(
        state,
        "local all = {} for i = 0, 255 do all[#all + 1] = string.char(i) end\n"
        "all = table.concat(all)\n"
        "local b = binary(all)\n"
        "check(#b == 256 and b:bytes() == all and tostring(b) == all, 'bytes')\n"
        "local j = assert(marshal(b))\n"
        "local back = assert(unmarshal(j))\n"
        "check(kind(back) == 'binary' and back == b and back:bytes() == all, 'Lua -> B -> Lua')\n"
        "check(marshal(back) == j, 'B -> Lua -> B: the same bytes on the wire')\n"
        "for i = 0, 255 do local one = binary(string.char(i))\n"
        "  local w = assert(marshal(one)); local r = assert(unmarshal(w))\n"
        "  check(r == one and #r == 1 and r:byte(1) == i and marshal(r) == w, 'byte', i) end\n"
        /* the empty binary: B "" both ways, and an empty BS member */
        "local e = assert(unmarshal('{\"B\":\"\"}'))\n"
        "check(kind(e) == 'binary' and #e == 0 and e == binary('') and marshal(e) == "
        "'{\"B\":\"\"}')\n"
        "check(unmarshal('{\"B\":\"AA\\\\u003d=\"}') == binary('\\0'), 'escaped base64')\n"
        "local bs = assert(unmarshal('{\"BS\":[\"\",\"AP8=\"]}'))\n"
        "check(kind(bs[1]) == 'binary' and #bs[1] == 0 and bs[2] == binary('\\0\\255'))\n"
        "check(marshal(bs) == '{\"BS\":[\"\",\"AP8=\"]}', marshal(bs))\n"
        /* as bytes: string.sub/byte rules, DynamoDB's unsigned order, concatenation */
        "local x = binary('\\0abc\\255')\n"
        "check(x:sub(2, 3) == 'ab' and x:sub(-1) == '\\255' and x:sub(4, 2) == '' and x:sub(0) == "
        "x:bytes())\n"
        "check(select('#', x:byte(1, -1)) == 5 and select(5, x:byte(1, -1)) == 255 and x:byte(9) "
        "== "
        "nil)\n"
        "check(binary('a') < binary('b') and binary('a') < binary('ab') and binary('\\127') < "
        "binary('\\128'))\n"
        "check(binary('') <= binary('') and not (binary('b') <= binary('a')))\n"
        "check(binary('x') ~= 'x' and binary('x') ~= number('1'), 'a binary equals only a "
        "binary')\n"
        "check(('<' .. binary('\\1') .. '>') == '<\\1>' and binary('a') .. binary('b') == 'ab')\n"
        "check(getmetatable(x) == false, 'protected metatable')\n"
        "check(not pcall(function() return x < 'a' end), 'binary < string is an error')\n");
}

/* Decimal numbers: DynamoDB's rules (38 digits, 1E-130..9.99E+125, grammar), the canonical form
 * DynamoDB sends back, N read back beyond int64/double as a decimal that writes the same N, and
 * decimals in items, keys, expression values and sets. */
static void test_ddb_marshal_decimal_numbers_exact(void **state) {
    run_lua(
        state,
        "local function text(v) return kind(v) == 'decimal' and tostring(v) end\n"
        "local nines = string.rep('9', 38)\n"
        "local cases = {\n"
        "  {'12345678901234567890', '12345678901234567890'}, {'-0', '0'}, {'0.000', '0'},\n"
        "  {'1.50', '1.5'}, {'1e3', '1000'}, {'00012', '12'}, {'-1.0e-5', '-0.00001'},\n"
        "  {'1E-130', '0.' .. string.rep('0', 129) .. '1'},\n"
        "  {'-1E-130', '-0.' .. string.rep('0', 129) .. '1'},\n"
        "  {'9.' .. string.rep('9', 37) .. 'E+125', nines .. string.rep('0', 88)},\n"
        "  {nines, nines}, {'0.' .. nines, '0.' .. nines}, {'123.456e-2', '1.23456'},\n"
        "}\n"
        "for _, c in ipairs(cases) do local v, msg = number(c[1])\n"
        "  check(text(v) == c[2], c[1], tostring(v), msg) end\n"
        "for _, bad in ipairs({'', '-', '1.', '.5', '+1', '1e', 'NaN', 'Infinity', '-Infinity',\n"
        "  'inf', '0x10', ' 1', '1 ', '1e126', '1E-131', nines .. '9', '1' .. string.rep('0', "
        "300),\n"
        "  '9.' .. string.rep('9', 38) .. 'E+125'}) do\n"
        "  local v, msg = number(bad); check(v == nil and msg, 'accepted', bad) end\n"
        "local _, msg = number(nines .. '1'); check(msg:find('38 significant digits'), msg)\n"
        "_, msg = number('1e126'); check(msg:find('range'), msg)\n"
        /* both directions, and the wire text stays the same */
        "for _, t in ipairs({'12345678901234567890', '-' .. nines, '0.1000000000000000000001',\n"
        "  nines .. string.rep('0', 88), '0.' .. string.rep('0', 129) .. '1234567890123456789'}) "
        "do\n"
        "  local w = '{\"N\":\"' .. t .. '\"}'\n"
        "  local v = assert(unmarshal(w)); check(text(v) == t, 'read back as a decimal', t)\n"
        "  check(marshal(v) == w, 'written back the same', marshal(v), w)\n"
        "  check(marshal(number(t)) == w) end\n"
        /* comparisons: exact, with decimals and Lua numbers; concatenation; equality */
        "local big = number('12345678901234567890')\n"
        "check(big == number('1234567890123456789e1') and big ~= number('12345678901234567891'))\n"
        "check(big > math.maxinteger and big < 1.3e19 and big >= number('12345678901234567890'))\n"
        "check(number('-0.5') < 0 and number('0.1') == number('0.10') and number('2') <= 2)\n"
        "check(number('0.1') > 0.1 == false and number('0.1') < 0.1 == false, '0.1 as stored')\n"
        "check(big < math.huge and big > -math.huge and not (big < 0/0) and not (big >= 0/0))\n"
        "check('n=' .. big == 'n=12345678901234567890' and number('5') ~= 5)\n"
        "check(getmetatable(big) == false and not pcall(function() return big < 'x' end))\n"
        /* in an item, a key, expression values, a set */
        "local item = {n = big, l = {number('1e-100')}, m = {d = number('-7.25')}}\n"
        "local j = assert(marshal(item, 'item'))\n"
        "check(eq(assert(unmarshal(j, 'item')), {n = big, l = {1e-100}, m = {d = -7.25}}), j)\n"
        "local r = assert(marshal({Key = {PK = 'p', SK = big}, ExpressionAttributeValues =\n"
        "  {[':v'] = number('0.123456789012345678901234567891')}}, 'request'))\n"
        "check(r:find('\"SK\":{\"N\":\"12345678901234567890\"}', 1, true), r)\n"
        "check(r:find('\":v\":{\"N\":\"0.123456789012345678901234567891\"}', 1, true), r)\n"
        "local ns = assert(set({big, 1, '12345678901234567890', number('1.0')}))\n"
        "check(#ns == 2 and ns.type == 'NS', 'deduplicated by value')\n"
        "check(marshal(ns) == '{\"NS\":[\"12345678901234567890\",\"1\"]}', marshal(ns))\n"
        "local back = assert(unmarshal(marshal(ns)))\n"
        "check(text(back[1]) == '12345678901234567890' and back[2] == 1 and marshal(back) == "
        "marshal(ns))\n"
        "check(set({'1e126'}, 'NS') == nil and set({nines .. '1'}, 'NS') == nil)\n");
}

/* One nesting bound both ways: 31 levels of M/L in an attribute (32 with the item, DynamoDB's
 * count) are written and read; 32 are refused before sending, naming the attribute, and refused
 * when read, also inside a response envelope (once read one level short of what was written). */
static void test_ddb_marshal_depth_limit_both_ways(void **state) {
    run_lua(
        state,
        "local function nest(n, leaf, map) local v = leaf\n"
        "  for i = 1, n do if map then v = {k = v} else v = {v} end end return v end\n"
        "for _, map in ipairs({true, false}) do\n"
        "  local ok = {doc = nest(31, 'x', map)}\n"
        "  local j = assert(marshal(ok, 'item'))\n"
        "  check(eq(assert(unmarshal(j, 'item')), ok), 'read back at the limit')\n"
        "  local r = assert(unmarshal('{\"Item\":' .. j .. ',\"Attributes\":' .. j .. '}', "
        "'response'))\n"
        "  check(eq(r.Item, ok) and eq(r.Attributes, ok), 'and inside a response')\n"
        "  local q = assert(unmarshal('{\"Items\":[' .. j .. '],\"Responses\":{\"t\":[' .. j .. "
        "']},'\n"
        "    .. '\"UnprocessedItems\":{\"t\":[{\"PutRequest\":{\"Item\":' .. j .. '}}]}}', "
        "'response'))\n"
        "  check(eq(q.Items[1], ok) and eq(q.Responses.t[1], ok) and\n"
        "    eq(q.UnprocessedItems.t[1].PutRequest.Item, ok))\n"
        "  check(marshal({Item = ok}, 'request'), 'a request at the limit')\n"
        "  local v, msg, st = marshal({a = 1, doc = nest(32, 'x', map)}, 'item')\n"
        "  check(v == nil and st == LIMIT and msg:find('attribute \"doc\"', 1, true), msg)\n"
        "  v, msg, st = marshal({Item = {deep = nest(32, 'x', map)}}, 'request')\n"
        "  check(v == nil and st == LIMIT and msg:find('\"deep\"', 1, true), msg)\n"
        "  check(select(3, marshal(nest(32, 'x', map))) == LIMIT, 'a value counts like an "
        "attribute')\n"
        "  check(marshal(nest(31, 'x', map)), 'a value at the limit')\n"
        "  local past = '{\"doc\":{\"L\":[' .. assert(marshal(nest(31, 'x', map))) .. ']}}'\n"
        "  refused(past, 'item', LIMIT) refused('{\"Item\":' .. past .. '}', 'response', LIMIT)\n"
        "end\n"
        /* any refused attribute is named, not only a deep one */
        "local _, msg = marshal({ok = 1, price = 0/0}, 'item')\n"
        "check(msg:find('attribute \"price\"', 1, true) and msg:find('NaN'), msg)\n");
}

/* The reader's name cache: thousands of names (so slots collide), of every length around the
 * cached limit, read twice (cold and warm cache), an empty name and an escaped one. */
static void test_ddb_marshal_names_survive_the_cache(void **state) {
    run_lua(
        state,
        "local function name(i) return string.format('n%d_%s', i, string.rep('x', i % 45)) end\n"
        "local parts = {}\n"
        "for i = 1, 3000 do parts[i] = string.format('\"%s\":{\"N\":\"%d\"}', name(i), i) end\n"
        "local json = '{' .. table.concat(parts, ',') .. '}'\n"
        "for round = 1, 2 do\n"
        "  local t, count = assert(unmarshal(json, 'item')), 0\n"
        "  for k, v in pairs(t) do count = count + 1; check(name(v) == k, k, v) end\n"
        "  check(count == 3000, count)\n"
        "end\n"
        "local t = assert(unmarshal('{\"\":{\"S\":\"e\"},\"a\\\\u0063\":{\"S\":\"ac\"},'\n"
        "  .. '\"ab\":{\"S\":\"ab\"},\"ba\":{\"S\":\"ba\"}}', 'item'))\n"
        "check(t[''] == 'e' and t.ac == 'ac' and t.ab == 'ab' and t.ba == 'ba')\n"
        "local r = assert(unmarshal('{\"Count\":1,\"Item\":{\"Count\":{\"N\":\"2\"}}}', "
        "'response'))\n"
        "check(r.Count == 1 and r.Item.Count == 2)\n");
}

/* ---- fast paths against plain references (printf/strtod, a byte-at-a-time escaper) ---- */

static uint64_t g_rng = 88172645463325252ULL;

static uint64_t s_rand(void) { /* xorshift64: reproducible, no libc state */
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

/* What the header promises for a float: the shortest of %.15g/%.16g/%.17g that reads back. */
static void s_ref_double(double d, char *buf, size_t size) {
    if (d == 0) {
        snprintf(buf, size, "0");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, d);
        if (strtod(buf, NULL) == d) {
            return;
        }
    }
}

static void s_norm(const char *t, char *o, size_t size);

/* The float's N text must have the decimal value of the reference's shortest form, written
 * without exponent (DynamoDB's canonical form), or be refused when outside DynamoDB's range. */
static void s_check_double(lua_State *L, double d) {
    char want[64], wnorm[200], gnorm[200];
    s_ref_double(d, want, sizeof want);
    s_norm(want, wnorm, sizeof wnorm);
    const char *at = strchr(wnorm, '@');
    long exp = strtol(at + 1, NULL, 10);
    bool in_range = d == 0 || (exp >= -129 && exp <= 126);
    mb_buf b = {0};
    mb_err err = {0};
    lua_pushnumber(L, d);
    int rc = mb_ddb_marshal_value(L, -1, &b, &err);
    lua_pop(L, 1);
    if (!in_range) {
        assert_int_equal(rc, MB_ERR_INVALID);
        mb_buf_cleanup(&b);
        return;
    }
    assert_int_equal(rc, 0);
    assert_true(b.len > 8 && memcmp(b.ptr, "{\"N\":\"", 6) == 0);
    char got[200];
    snprintf(got, sizeof got, "%.*s", (int)(b.len - 8), b.ptr + 6);
    s_norm(got, gnorm, sizeof gnorm);
    if (strcmp(gnorm, wnorm) != 0 || strpbrk(got, "eE+")) {
        print_error("%.17g: got %s want the value of %s\n", d, got, want);
        fail();
    }
    mb_buf_cleanup(&b);
}

/* Doubles: short decimals (where the printf-free path applies), their neighbours, and random
 * bit patterns (where it must step aside). */
static void test_ddb_marshal_float_text_matches_printf(void **state) {
    lua_State *L = *state;
    for (int i = 0; i < 200000; i++) {
        uint64_t r = s_rand();
        int digits = 1 + (int)(r % 17), k = (int)((r >> 8) % 24);
        double m = (double)((r >> 16) % 100000000000000000ULL);
        while (m >= 1.0 && m >= pow(10, digits)) {
            m = floor(m / 10);
        }
        double d = m / pow(10, k) * ((r >> 63) ? -1 : 1);
        s_check_double(L, d);
        s_check_double(L, nextafter(d, INFINITY));
        uint64_t bits = s_rand();
        double x;
        memcpy(&x, &bits, sizeof x);
        if (isfinite(x)) {
            s_check_double(L, x);
        }
    }
}

/* The decimal value of a number text as "-digits@exponent" (0.DIGITS x 10^exponent, zeros
 * trimmed), so texts compare by value: "1.50" and "15e-1" both give "15@1". */
static void s_norm(const char *t, char *o, size_t size) {
    char digits[200];
    int nd = 0, point = 0;
    bool neg = *t == '-', seen_point = false;
    t += neg;
    for (; *t && *t != 'e' && *t != 'E'; t++) {
        if (*t == '.') {
            seen_point = true;
        } else if (nd == 0 && *t == '0') {
            point -= seen_point;
        } else {
            digits[nd++] = *t;
            point += !seen_point;
        }
    }
    while (nd > 0 && digits[nd - 1] == '0') {
        nd--;
    }
    long e = *t ? strtol(t + 1, NULL, 10) : 0;
    snprintf(o, size, "%s%.*s@%ld", neg && nd ? "-" : "", nd, digits, nd ? point + e : 0);
}

/* N texts: a float comes back exactly when the double's shortest form has the text's decimal
 * value, and then equals strtod's double; otherwise the exact text comes back. */
static void test_ddb_marshal_float_parse_matches_strtod(void **state) {
    lua_State *L = *state;
    char text[64], json[96], back[64], a[160], b[160];
    for (int i = 0; i < 200000; i++) {
        uint64_t r = s_rand();
        int n = snprintf(text, sizeof text, "%s%llu.%0*llu", (r & 1) ? "-" : "",
                         (unsigned long long)((r >> 1) % 1000000), (int)((r >> 21) % 12) + 1,
                         (unsigned long long)((r >> 25) % 100000000000ULL));
        if ((r >> 60) & 1) {
            n += snprintf(text + n, sizeof text - (size_t)n, "e%d", (int)((r >> 40) % 61) - 30);
        }
        snprintf(json, sizeof json, "{\"N\":\"%s\"}", text);
        mb_err err = {0};
        assert_int_equal(mb_ddb_marshal_unmarshal_value(L, mb_cur_from_cstr(json), &err), 0);
        double want = strtod(text, NULL);
        s_ref_double(want, back, sizeof back);
        s_norm(text, a, sizeof a);
        s_norm(back, b, sizeof b);
        if (strcmp(a, b) == 0) {
            assert_int_equal(lua_type(L, -1), LUA_TNUMBER);
            assert_true(!lua_isinteger(L, -1));
            double d = lua_tonumber(L, -1);
            assert_memory_equal(&d, &want, sizeof d);
        } else { /* a decimal value with the text's value, in canonical form */
            mb_cur t;
            assert_true(mb_ddb_value_to_number(L, -1, &t));
            char canon[200];
            snprintf(canon, sizeof canon, "%.*s", (int)t.len, t.ptr);
            s_norm(canon, b, sizeof b);
            assert_string_equal(a, b);
            assert_null(strpbrk(canon, "eE+"));
        }
        lua_pop(L, 1);
    }
}

/* A byte-at-a-time JSON string writer with its own UTF-8 check (the reference). */
static int s_ref_json_string(const unsigned char *p, size_t n, char *o) {
    int len = 0;
    o[len++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (c >= 0x80) {
            int k = c >= 0xC2 && c <= 0xDF   ? 2
                    : c >= 0xE0 && c <= 0xEF ? 3
                    : c >= 0xF0 && c <= 0xF4 ? 4
                                             : 0;
            if (k == 0 || i + (size_t)k > n) {
                return -1;
            }
            uint32_t cp = c & (0x7F >> k);
            for (int j = 1; j < k; j++) {
                if ((p[i + (size_t)j] & 0xC0) != 0x80) {
                    return -1;
                }
                cp = cp << 6 | (p[i + (size_t)j] & 0x3F);
            }
            if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
                (cp >= 0xD800 && cp <= 0xDFFF)) {
                return -1;
            }
            memcpy(o + len, p + i, (size_t)k);
            len += k;
            i += (size_t)k - 1;
        } else if (c == '"' || c == '\\') {
            len += snprintf(o + len, 8, "\\%c", c);
        } else if (c < 0x20) {
            const char *e = c == '\b'   ? "\\b"
                            : c == '\f' ? "\\f"
                            : c == '\n' ? "\\n"
                            : c == '\r' ? "\\r"
                            : c == '\t' ? "\\t"
                                        : NULL;
            len += e ? snprintf(o + len, 8, "%s", e) : snprintf(o + len, 8, "\\u%04x", c);
        } else {
            o[len++] = (char)c;
        }
    }
    o[len++] = '"';
    return len;
}

/* rc and the bytes written: pre, want (wl bytes), post when want is set, else a refusal; the
 * buffer keeps its trailing NUL. */
static void s_check_written(int rc, const mb_buf *b, const char *pre, const char *want, int wl,
                            const char *post) {
    assert_int_equal(rc, want ? 0 : MB_ERR_INVALID);
    if (want) {
        char expect[2200];
        int el = snprintf(expect, sizeof expect, "%s%.*s%s", pre, wl, want, post);
        assert_int_equal(b->len, (size_t)el);
        assert_memory_equal(b->ptr, expect, (size_t)el);
        assert_int_equal(b->ptr[b->len], '\0');
    }
}

/* The item writer's inline string path (a value and a map key) must agree with the reference
 * writer: want is its output (wl bytes), or NULL when the bytes are not valid UTF-8. */
static void s_check_writer_string(lua_State *L, const unsigned char *in, size_t n, const char *want,
                                  int wl) {
    mb_buf b = {0};
    mb_err err = {0};
    lua_pushlstring(L, (const char *)in, n); /* stack: s */
    s_check_written(mb_ddb_marshal_value(L, -1, &b, &err), &b, "{\"S\":", want, wl, "}");
    mb_buf_reset(&b);
    lua_createtable(L, 0, 1); /* stack: s, {[s] = 1} */
    lua_pushvalue(L, -2);
    lua_pushinteger(L, 1);
    lua_rawset(L, -3);
    s_check_written(mb_ddb_marshal_item(L, -1, &b, &err), &b, "{", want, wl, ":{\"N\":\"1\"}}");
    lua_pop(L, 2);
    mb_buf_cleanup(&b);
}

/* Random strings mixing plain ASCII runs (the 8-bytes-at-a-time path), quotes, backslashes,
 * control bytes, UTF-8 sequences and broken ones, at every offset; each must be written as the
 * reference writes it (or refused when the reference refuses it), and read back exactly; the
 * item writer's own inline path for values and map keys must write the same bytes. */
static void test_ddb_marshal_json_strings_match_reference(void **state) {
    lua_State *L = *state;
    static const char *const pieces[] = {"a",
                                         "0123456789abcdef",
                                         "\"",
                                         "\\",
                                         "\n",
                                         "\x01",
                                         "\x7f",
                                         "\xc3\xa9",
                                         "\xe2\x82\xac",
                                         "\xf0\x9f\x98\x80",
                                         "\xc3",
                                         "\xed\xa0\x80",
                                         "\xff",
                                         "/",
                                         " ",
                                         "\0"};
    unsigned char in[256];
    char want[2048];
    for (int i = 0; i < 100000; i++) {
        size_t n = 0;
        for (int parts = (int)(s_rand() % 12); parts > 0; parts--) {
            const char *pc = pieces[s_rand() % (sizeof pieces / sizeof *pieces)];
            size_t pl = pc[0] ? strlen(pc) : 1;
            memcpy(in + n, pc, pl);
            n += pl;
        }
        int wl = s_ref_json_string(in, n, want);
        mb_buf b = {0};
        mb_err err = {0};
        int rc = mb_text_json_quote(&b, (mb_cur){(const char *)in, n}, 0);
        assert_int_equal(rc, wl < 0 ? MB_ERR_INVALID : 0);
        if (wl >= 0) {
            assert_int_equal(b.len, (size_t)wl);
            assert_memory_equal(b.ptr, want, (size_t)wl);
            char json[2100];
            int jl = snprintf(json, sizeof json, "{\"S\":%.*s}", wl, want);
            assert_int_equal(mb_ddb_marshal_unmarshal_value(L, (mb_cur){json, (size_t)jl}, &err),
                             0);
            size_t back_len;
            const char *back = lua_tolstring(L, -1, &back_len);
            assert_int_equal(back_len, n);
            assert_memory_equal(back, in, n);
            lua_pop(L, 1);
        }
        mb_buf_cleanup(&b);
        s_check_writer_string(L, in, n, wl < 0 ? NULL : want, wl);
    }
}

/* Flip, drop and insert bytes of a valid response: every variant is accepted or refused
 * cleanly (ASan/UBSan watch), and the stack is always balanced (l_unmarshal checks). */
static void test_ddb_marshal_mutations_never_crash(void **state) {
    lua_State *L = *state;
    static const char seed[] =
        "{\"Items\":[{\"a\":{\"M\":{\"b\":{\"L\":[{\"N\":\"1.5\"},{\"S\":\"x\\u00e9\\n\"},"
        "{\"B\":\"AP8=\"},{\"SS\":[\"a\",\"b\"]},{\"NULL\":true},{\"BOOL\":false}]}}}}],"
        "\"Count\":1,\"LastEvaluatedKey\":{\"PK\":{\"S\":\"k\"}}}";
    static const char alphabet[] = "{}[]\":,\\u0123456789eE.-+SNBLMtrufalsn \x01\xc3\xff";
    unsigned seedv = 12345;
    char buf[sizeof seed + 4];
    for (int iter = 0; iter < 20000; iter++) {
        memcpy(buf, seed, sizeof seed);
        size_t len = sizeof seed - 1;
        for (int k = 0; k < 1 + iter % 3; k++) {
            seedv = seedv * 1103515245u + 12345u;
            size_t pos = (seedv >> 8) % len;
            char c = alphabet[(seedv >> 20) % (sizeof alphabet - 1)];
            if (k % 3 == 2 && len > 1) {
                memmove(buf + pos, buf + pos + 1, len - pos - 1);
                len--;
            } else {
                buf[pos] = c;
            }
        }
        int top = lua_gettop(L);
        mb_err err = {0};
        int rc = mb_ddb_marshal_unmarshal_response(L, (mb_cur){buf, len}, &err);
        assert_int_equal(lua_gettop(L), top + (rc == 0));
        if (rc != 0) {
            assert_true(rc == MB_ERR_INVALID || rc == MB_ERR_LIMIT);
            assert_true(err.msg[0] != '\0');
        }
        lua_settop(L, top);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ddb_marshal_exact_json_for_scalars, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ddb_marshal_round_trips_every_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ddb_marshal_binary_values_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ddb_marshal_decimal_numbers_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ddb_marshal_depth_limit_both_ways, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ddb_marshal_numbers_never_silently_rounded, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ddb_marshal_rejects_unstorable_lua_values, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ddb_marshal_unmarshal_rejects_malformed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ddb_marshal_request_and_response_envelopes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ddb_marshal_mutations_never_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ddb_marshal_names_survive_the_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ddb_marshal_float_text_matches_printf, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ddb_marshal_float_parse_matches_strtod, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ddb_marshal_json_strings_match_reference, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
