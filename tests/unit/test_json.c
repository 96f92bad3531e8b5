/* test_json.c - strict JSON <-> Lua: round trips, every strictness rule, integer exactness,
 * NUL bytes, array/object encoding rules, UTF-8 repair on encode, and an out-of-memory loop in
 * which the Lua allocator fails from the Nth allocation on, for N = 1, 2, ... */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <lauxlib.h>
#include <lualib.h>

#include "moonbase/json.h"
#include "moonbase/text.h"
#include "moonbase/lua_api.h"

/* ---- a Lua state whose allocator can be told to fail ---- */

typedef struct alloc_ctl {
    size_t count;   /* allocations (growing requests) so far */
    size_t fail_at; /* fail this one and every later one; 0 = never */
    size_t live;    /* bytes currently allocated */
} alloc_ctl;

static void *s_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    alloc_ctl *c = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        c->live -= old;
        return NULL;
    }
    if (nsize > old && ++c->count >= c->fail_at && c->fail_at) {
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (p) {
        c->live = c->live - old + nsize;
    }
    return p;
}

static lua_State *new_state(alloc_ctl *c) {
    lua_State *L = lua_newstate(s_alloc, c);
    assert_non_null(L);
    luaL_openlibs(L);
    mb_lua_aux_open(L); /* the array metatable */
    mb_json_push_lib(L);
    lua_setglobal(L, "json");
    return L;
}

static int setup(void **state) {
    alloc_ctl *c = calloc(1, sizeof *c);
    lua_State *L = new_state(c);
    lua_pushlightuserdata(L, c);
    lua_setfield(L, LUA_REGISTRYINDEX, "test.ctl");
    *state = L;
    return 0;
}

static int teardown(void **state) {
    lua_State *L = *state;
    lua_getfield(L, LUA_REGISTRYINDEX, "test.ctl");
    alloc_ctl *c = lua_touserdata(L, -1);
    lua_close(L);
    free(c);
    return 0;
}

/* Decode then encode; returns the encoding (static buffer) or NULL when decoding failed. */
static const char *roundtrip(lua_State *L, const char *text, mb_err *err) {
    static char out[4096];
    int top = lua_gettop(L);
    int rc = mb_json_decode(L, mb_cur_from_cstr(text), MB_JSON_MAX_DEPTH, err);
    if (rc != 0) {
        assert_int_equal(lua_gettop(L), top);
        return NULL;
    }
    assert_int_equal(lua_gettop(L), top + 1);
    mb_buf b = {0};
    assert_int_equal(mb_json_encode(L, -1, &b, err), 0);
    assert_int_equal(lua_gettop(L), top + 1);
    snprintf(out, sizeof out, "%s", b.ptr);
    mb_buf_cleanup(&b);
    lua_pop(L, 1);
    return out;
}

/* Run Lua code that leaves one value, encode it; returns rc and the text in *out. */
static int encode_lua(lua_State *L, const char *code, mb_buf *out, mb_err *err) {
    assert_int_equal(luaL_dostring(L, code), LUA_OK);
    int top = lua_gettop(L);
    int rc = mb_json_encode(L, -1, out, err);
    assert_int_equal(lua_gettop(L), top);
    lua_pop(L, 1);
    return rc;
}

static void test_json_roundtrip_canonical_documents(void **state) {
    lua_State *L = *state;
    static const char *const docs[] = {
        "[1,-2,3.5,\"s\",true,false,null,[],{}]",
        "{\"a\":1}",
        "{\"nested\":{\"list\":[[[]],{\"k\":[null]}]}}",
        "\"esc \\\" \\\\ \\n \\r \\t \\u0001 / \\u001f\"",
        "9223372036854775807",
        "-9223372036854775808",
        "0",
        "-1",
        "0.1",
        "1e+300",
        "[\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"]",
        "\"a\\u0000b\"",
        "[[],[{}],{\"\":\"\"}]",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        mb_err err = {0};
        const char *out = roundtrip(L, docs[i], &err);
        if (!out || strcmp(out, docs[i]) != 0) {
            fail_msg("doc %zu: %s -> %s (%s)", i, docs[i], out ? out : "error", err.msg);
        }
    }
}

/* Several keys: order is not kept, so compare the documents structurally with jansson. */
static void test_json_roundtrip_objects_structurally(void **state) {
    lua_State *L = *state;
    const char *doc = "{\"title\":\"t\",\"n\":5,\"f\":-0.25,\"tags\":[\"a\",\"b\"],"
                      "\"deep\":{\"x\":null,\"y\":true,\"z\":{}},\"empty\":[]}";
    mb_err err = {0};
    const char *out = roundtrip(L, doc, &err);
    assert_non_null(out);
    json_t *a = json_loads(doc, 0, NULL), *b = json_loads(out, 0, NULL);
    assert_non_null(b);
    assert_true(json_equal(a, b));
    json_decref(a);
    json_decref(b);
}

static void test_json_decode_rejects_non_strict_input(void **state) {
    lua_State *L = *state;
    static const char *const bad[] = {
        "NaN",
        "Infinity",
        "-Infinity",
        "[NaN]",
        "0x10",
        "0X1",
        "01",
        "-01",
        "00",
        "+1",
        ".5",
        "1.",
        "1.e5",
        "1e",
        "1e+",
        "-",
        "--1",
        "[1,]",
        "{\"a\":1,}",
        "[,1]",
        "[1,,2]",
        "[1 2]",
        "{\"a\" 1}",
        "{\"a\"}",
        "{a:1}",
        "{1:2}",
        "{'a':1}",
        "'a'",
        "tru",
        "nul",
        "fals",
        "True",
        "",
        " ",
        "\n",
        "[",
        "]",
        "{",
        "[1] ]",
        "{} x",
        "1 2",
        "\"abc",
        "\"\\x41\"",
        "\"\\u12\"",
        "\"\\u12g4\"",
        "\"\\",
        "\"\\\"",
        "\"\\a\"",
        "\"tab\there\"",
        "\"nl\nhere\"",
        "\"\x01\"",
        "\"\x1f\"",
        "\"\xff\"",
        "\"\xc0\xaf\"",
        "\"\xe0\x80\xaf\"",
        "\"\xed\xa0\x80\"",
        "\"\xf4\x90\x80\x80\"",
        "\"\xc3\"",
        "\"\xe2\x82\"",
        "\"\x80\"",
        "\"\\ud800\"",
        "\"\\udc00\"",
        "\"\\ud800\\u0041\"",
        "\"\\ud800x\"",
        "\"\\udbff\\udbff\"",
        "[1]\x00",
        "/* c */ 1",
        "[1e999999999999999999999]x",
        "\xef\xbb\xbf[1]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mb_err err = {0};
        int top = lua_gettop(L);
        size_t len = strlen(bad[i]);
        if (strcmp(bad[i], "[1]") == 0) {
            len = 4; /* the embedded NUL case */
        }
        int rc = mb_json_decode(L, (mb_cur){bad[i], len}, MB_JSON_MAX_DEPTH, &err);
        if (rc != MB_ERR_INVALID && rc != MB_ERR_LIMIT) {
            fail_msg("bad doc %zu (%s) accepted (rc %d)", i, bad[i], rc);
        }
        assert_int_equal(lua_gettop(L), top);
        assert_non_null(strstr(err.msg, "invalid JSON at byte"));
    }
}

static void test_json_decode_accepts_edge_cases(void **state) {
    lua_State *L = *state;
    mb_err err = {0};
    assert_int_equal(mb_json_decode(L, MB_CUR_LIT(" \t\n\r[1]\n "), 8, &err), 0);
    lua_pop(L, 1);
    assert_int_equal(mb_json_decode(L, MB_CUR_LIT("\"\\ud83d\\ude00\\u00e9\\/\""), 8, &err), 0);
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    assert_int_equal(len, 7);
    assert_memory_equal(s, "\xf0\x9f\x98\x80\xc3\xa9/", 7);
    lua_pop(L, 1);
    assert_int_equal(mb_json_decode(L, MB_CUR_LIT("\"a\\u0000b\""), 8, &err), 0);
    s = lua_tolstring(L, -1, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(s, "a\0b", 3);
    lua_pop(L, 1);
    assert_int_equal(mb_json_decode(L, MB_CUR_LIT("-0.0e-0"), 8, &err), 0);
    assert_false(lua_isinteger(L, -1));
    lua_pop(L, 1);
    assert_int_equal(mb_json_decode(L, MB_CUR_LIT("null"), 8, &err), 0);
    assert_true(lua_islightuserdata(L, -1) && lua_touserdata(L, -1) == NULL);
    lua_pop(L, 1);
    assert_int_equal(mb_json_decode(L, (mb_cur){NULL, 0}, 8, &err), MB_ERR_INVALID);
}

static void test_json_integers_exact_floats_otherwise(void **state) {
    lua_State *L = *state;
    mb_err err = {0};
    assert_int_equal(mb_json_decode(L,
                                    MB_CUR_LIT("[9223372036854775807,-9223372036854775808,"
                                               "9223372036854775808,12345678901234567890,"
                                               "1.0,1E2,9007199254740993]"),
                                    8, &err),
                     0);
    lua_rawgeti(L, -1, 1);
    assert_true(lua_isinteger(L, -1));
    assert_true(lua_tointeger(L, -1) == INT64_MAX);
    lua_rawgeti(L, -2, 2);
    assert_true(lua_isinteger(L, -1));
    assert_true(lua_tointeger(L, -1) == INT64_MIN);
    lua_rawgeti(L, -3, 3);
    assert_false(lua_isinteger(L, -1));
    assert_true(lua_tonumber(L, -1) == 9223372036854775808.0);
    lua_rawgeti(L, -4, 4);
    assert_false(lua_isinteger(L, -1));
    lua_rawgeti(L, -5, 5);
    assert_false(lua_isinteger(L, -1));
    lua_rawgeti(L, -6, 6);
    assert_false(lua_isinteger(L, -1));
    assert_true(lua_tonumber(L, -1) == 100.0);
    lua_rawgeti(L, -7, 7);
    assert_true(lua_isinteger(L, -1)); /* beyond 2^53 but exact as an integer */
    assert_true(lua_tointeger(L, -1) == 9007199254740993LL);
    lua_settop(L, 0);
    /* Floats re-encode to the same double with the fewest digits. */
    static const double vals[] = {
        0.1, 1.0 / 3, 1e-300, 5e-324, 1.7976931348623157e308, -2.5, 9007199254740992.0, 123456.789};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        mb_buf b = {0};
        lua_pushnumber(L, vals[i]);
        assert_int_equal(mb_json_encode(L, -1, &b, &err), 0);
        lua_pop(L, 1);
        assert_int_equal(mb_json_decode(L, mb_buf_cur(&b), 8, &err), 0);
        if (lua_tonumber(L, -1) != vals[i]) {
            fail_msg("%.17g encoded as %s", vals[i], b.ptr);
        }
        lua_pop(L, 1);
        mb_buf_cleanup(&b);
    }
    mb_buf b = {0};
    assert_int_equal(
        encode_lua(L, "return {5.0, math.maxinteger, math.mininteger, -0.0}", &b, &err), 0);
    assert_string_equal(b.ptr, "[5,9223372036854775807,-9223372036854775808,-0]");
    mb_buf_cleanup(&b);
}

static void test_json_depth_bound(void **state) {
    lua_State *L = *state;
    char doc[300];
    mb_err err = {0};
    for (int depth = 63; depth <= 65; depth++) {
        memset(doc, '[', (size_t)depth);
        memset(doc + depth, ']', (size_t)depth);
        int rc = mb_json_decode(L, (mb_cur){doc, 2 * (size_t)depth}, MB_JSON_MAX_DEPTH, &err);
        assert_int_equal(rc, depth <= MB_JSON_MAX_DEPTH ? 0 : MB_ERR_LIMIT);
        lua_settop(L, 0);
    }
    assert_non_null(strstr(err.msg, "nesting"));
    /* A smaller caller bound, objects too, and a very deep attack without any crash. */
    assert_int_equal(mb_json_decode(L, MB_CUR_LIT("{\"a\":{\"b\":{}}}"), 2, &err), MB_ERR_LIMIT);
    assert_int_equal(mb_json_decode(L, MB_CUR_LIT("{\"a\":{\"b\":{}}}"), 3, &err), 0);
    lua_settop(L, 0);
    size_t n = 200000;
    char *deep = malloc(n);
    memset(deep, '[', n);
    assert_int_equal(mb_json_decode(L, (mb_cur){deep, n}, MB_JSON_MAX_DEPTH, &err), MB_ERR_LIMIT);
    free(deep);
    assert_int_equal(lua_gettop(L), 0);
    /* Encoding is bounded the same way: a cycle is a nesting error, not a crash. */
    mb_buf b = {0};
    assert_int_equal(encode_lua(L, "local t = {} t.self = t return t", &b, &err), MB_ERR_LIMIT);
    assert_int_equal(encode_lua(L, "local t = {} t[1] = t return t", &b, &err), MB_ERR_LIMIT);
    mb_buf_cleanup(&b);
}

static void test_json_long_and_out_of_range_numbers(void **state) {
    lua_State *L = *state;
    char doc[512];
    mb_err err = {0};
    memset(doc, '1', 400);
    doc[400] = '\0';
    doc[1] = '.';
    assert_int_equal(mb_json_decode(L, (mb_cur){doc, 400}, 8, &err), 0);
    lua_pop(L, 1);
    memset(doc, '1', 401);
    assert_int_equal(mb_json_decode(L, (mb_cur){doc, 401}, 8, &err), MB_ERR_LIMIT);
    assert_non_null(strstr(err.msg, "number too long"));
    /* Beyond the range of a double: JSON cannot carry Infinity, so this is refused too. */
    assert_int_equal(mb_json_decode(L, MB_CUR_LIT("1e999"), 8, &err), MB_ERR_LIMIT);
    assert_int_equal(mb_json_decode(L, MB_CUR_LIT("[-1e400]"), 8, &err), MB_ERR_LIMIT);
    memset(doc, '9', 330);
    assert_int_equal(mb_json_decode(L, (mb_cur){doc, 330}, 8, &err), MB_ERR_LIMIT);
    assert_int_equal(lua_gettop(L), 0);
    /* Tiny numbers underflow quietly to zero (still finite). */
    assert_int_equal(mb_json_decode(L, MB_CUR_LIT("1e-999"), 8, &err), 0);
    assert_true(lua_tonumber(L, -1) == 0.0);
    lua_pop(L, 1);
}

static void test_json_encode_empty_tables_and_array_mt(void **state) {
    lua_State *L = *state;
    mb_err err = {0};
    mb_buf b = {0};
    assert_int_equal(encode_lua(L, "return {}", &b, &err), 0);
    assert_string_equal(b.ptr, "{}");
    mb_buf_reset(&b);
    assert_int_equal(encode_lua(L, "return setmetatable({}, json.array_mt)", &b, &err), 0);
    assert_string_equal(b.ptr, "[]");
    mb_buf_reset(&b);
    assert_int_equal(encode_lua(L, "return json.decode('{\"a\":[],\"b\":{}}').a", &b, &err), 0);
    assert_string_equal(b.ptr, "[]");
    mb_buf_reset(&b);
    assert_int_equal(encode_lua(L, "return {a = json.null, b = {json.null}}", &b, &err), 0);
    assert_true(strcmp(b.ptr, "{\"a\":null,\"b\":[null]}") == 0 ||
                strcmp(b.ptr, "{\"b\":[null],\"a\":null}") == 0);
    mb_buf_reset(&b);
    assert_int_equal(encode_lua(L, "return json.encode({1, 'two', {x = false}})", &b, &err), 0);
    assert_string_equal(b.ptr, "\"[1,\\\"two\\\",{\\\"x\\\":false}]\"");
    mb_buf_cleanup(&b);
}

static void test_json_encode_rejects_unrepresentable_values(void **state) {
    lua_State *L = *state;
    static const char *const bad[] = {
        "return {1, 2, nil, 4}",
        "return {1, 2, x = 1}",
        "return {[2] = 'b'}",
        "return {[1.5] = 1}",
        "return {[true] = 1}",
        "return {[0] = 1}",
        "return {a = 0/0}",
        "return {math.huge}",
        "return -math.huge",
        "return 0/0",
        "return print",
        "return {f = function() end}",
        "return coroutine.create(function() end)",
        "return io.stdout",
        "return setmetatable({1, x = 2}, json.array_mt)",
    };
    mb_buf b = {0};
    mb_buf_append_cstr(&b, "prefix");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mb_err err = {0};
        int rc = encode_lua(L, bad[i], &b, &err);
        if (rc != MB_ERR_INVALID) {
            fail_msg("%s: rc %d out %s", bad[i], rc, b.ptr);
        }
        assert_string_equal(b.ptr, "prefix"); /* nothing half-written is left behind */
        assert_non_null(strstr(err.msg, "cannot encode JSON"));
    }
    mb_err err = {0};
    encode_lua(L, "return {n = 0/0}", &b, &err);
    assert_non_null(strstr(err.msg, "NaN"));
    mb_buf_cleanup(&b);
    /* From Lua, json.encode raises and json.decode too. */
    assert_int_not_equal(luaL_dostring(L, "return json.encode({0/0})"), LUA_OK);
    assert_int_not_equal(luaL_dostring(L, "return json.decode('[1,]')"), LUA_OK);
    assert_non_null(strstr(lua_tostring(L, -1), "invalid JSON at byte 3"));
    lua_settop(L, 0);
}

static void test_json_encode_repairs_utf8_and_escapes_controls(void **state) {
    lua_State *L = *state;
    static const struct {
        const char *in;
        size_t len;
        const char *out;
    } cases[] = {
        {"a\xff"
         "b",
         3,
         "\"a\xef\xbf\xbd"
         "b\""},
        {"\xc0\xaf", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\""},
        {"\xed\xa0\x80", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""},
        {"\xe2\x82", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\""},
        {"ok \xc3\xa9", 5, "\"ok \xc3\xa9\""},
        {"\x01\n\t\r\"\\/\x7f", 8, "\"\\u0001\\n\\t\\r\\\"\\\\/\x7f\""},
        {"a\0b", 3, "\"a\\u0000b\""},
        {"\x1f\b\f", 3, "\"\\u001f\\b\\f\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mb_buf b = {0};
        mb_err err = {0};
        lua_pushlstring(L, cases[i].in, cases[i].len);
        assert_int_equal(mb_json_encode(L, -1, &b, &err), 0);
        lua_pop(L, 1);
        assert_string_equal(b.ptr, cases[i].out);
        assert_true(mb_text_utf8_valid(mb_buf_cur(&b)));
        /* and it decodes back (strictly) */
        assert_int_equal(mb_json_decode(L, mb_buf_cur(&b), 8, &err), 0);
        lua_pop(L, 1);
        mb_buf_cleanup(&b);
    }
    /* Keys are repaired as well. */
    mb_buf b = {0};
    mb_err err = {0};
    assert_int_equal(encode_lua(L, "return {['k\\255'] = 1}", &b, &err), 0);
    assert_string_equal(b.ptr, "{\"k\xef\xbf\xbd\":1}");
    mb_buf_cleanup(&b);
}

static void test_json_is_utf8_rules(void **state) {
    (void)state;
    assert_true(mb_text_utf8_valid(MB_CUR_LIT("")));
    assert_true(mb_text_utf8_valid(MB_CUR_LIT("plain \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80")));
    assert_true(mb_text_utf8_valid(MB_CUR_LIT("\xf4\x8f\xbf\xbf")));  /* U+10FFFF */
    assert_true(mb_text_utf8_valid(MB_CUR_LIT("\xee\x80\x80")));      /* U+E000 */
    assert_false(mb_text_utf8_valid(MB_CUR_LIT("\xf4\x90\x80\x80"))); /* > U+10FFFF */
    assert_false(mb_text_utf8_valid(MB_CUR_LIT("\xed\xbf\xbf")));     /* surrogate */
    assert_false(mb_text_utf8_valid(MB_CUR_LIT("\xc1\xbf")));         /* overlong */
    assert_false(mb_text_utf8_valid(MB_CUR_LIT("\xf0\x8f\xbf\xbf"))); /* overlong 4 */
    assert_false(mb_text_utf8_valid(MB_CUR_LIT("\xf5\x80\x80\x80")));
    assert_false(mb_text_utf8_valid(MB_CUR_LIT("\xe2\x28\xa1")));
    assert_false(mb_text_utf8_valid(MB_CUR_LIT("abc\xf0\x9f\x98"))); /* truncated */
}

/* The allocator fails the Nth allocation and every one after it, for N = 1, 2, ... until the
 * call succeeds: each failure is MB_ERR_NOMEM with the stack balanced, and once the state is
 * closed nothing is left allocated. */
static void test_json_out_of_memory_loop(void **state) {
    (void)state;
    const char *doc = "{\"items\":[{\"id\":\"01J\",\"title\":\"t\\u00e9\\n\",\"n\":1.5,"
                      "\"tags\":[\"a\",\"b\",null,true]},{\"deep\":[[[[{}]]]]}],"
                      "\"big\":12345678901234567890,\"s\":\"" /* a longer string */
                      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}";
    bool decoded = false, encoded = false;
    for (size_t n = 1; n < 100000 && !(decoded && encoded); n++) {
        alloc_ctl c = {0};
        lua_State *L = new_state(&c);
        int top = lua_gettop(L);
        mb_err err = {0};
        c.fail_at = c.count + n;
        int rc = mb_json_decode(L, mb_cur_from_cstr(doc), MB_JSON_MAX_DEPTH, &err);
        if (rc == 0) {
            decoded = true;
            mb_buf b = {0};
            rc = mb_json_encode(L, -1, &b, &err); /* keeps failing from here on */
            if (rc == 0) {
                encoded = true;
                c.fail_at = 0;
                lua_settop(L, top);
                assert_int_equal(mb_json_decode(L, mb_buf_cur(&b), 64, &err), 0);
            } else {
                assert_int_equal(rc, MB_ERR_NOMEM);
                assert_int_equal(b.len, 0);
                assert_int_equal(lua_gettop(L), top + 1);
            }
            mb_buf_cleanup(&b);
        } else {
            assert_int_equal(rc, MB_ERR_NOMEM);
            assert_int_equal(lua_gettop(L), top);
        }
        c.fail_at = 0;
        lua_close(L);
        assert_int_equal(c.live, 0);
    }
    assert_true(decoded && encoded);
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_json_roundtrip_canonical_documents),
        T(test_json_roundtrip_objects_structurally),
        T(test_json_decode_rejects_non_strict_input),
        T(test_json_decode_accepts_edge_cases),
        T(test_json_integers_exact_floats_otherwise),
        T(test_json_depth_bound),
        T(test_json_long_and_out_of_range_numbers),
        T(test_json_encode_empty_tables_and_array_mt),
        T(test_json_encode_rejects_unrepresentable_values),
        T(test_json_encode_repairs_utf8_and_escapes_controls),
        cmocka_unit_test(test_json_is_utf8_rules),
        cmocka_unit_test(test_json_out_of_memory_loop),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
