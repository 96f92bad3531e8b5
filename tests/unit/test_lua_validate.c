/* test_lua_validate.c - ctx.validate(value, schema) in a real sandboxed host: each case decodes a
 * JSON value, validates it against a schema written in Lua, and must pass or fail with the
 * expected status, field path and message; a broken schema is a handler error (500), and the
 * validator reaches no global. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <lauxlib.h>

#include "foundation_testkit.h"
#include "host_testkit.h"

typedef struct fixture {
    char *dir;
    mb_lua_host *host;
    mb_lua_services svc;
    mb_lua_result res;
    char out[512];
    unsigned cases;
} fixture;

static int setup(void **state) {
    fixture *fx = calloc(1, sizeof *fx);
    fx->dir = tk_tempdir();
    fx->host = tk_host_new(fx->dir, (mb_lua_host_opts){0}, &fx->svc);
    *state = fx;
    return 0;
}

static int teardown(void **state) {
    fixture *fx = *state;
    tk_host_cleanup(fx->host, &fx->res, fx->dir);
    free(fx);
    return 0;
}

/* Validate JSON `value` against Lua `schema`; fx->out is "ok", or "status|field|message" for a
 * ctx.fail, or "error|message" for any other error. */
static mb_lua_outcome run(fixture *fx, const char *value, const char *schema) {
    char code[4096];
    snprintf(code, sizeof code,
             "return function(req, ctx)\n"
             "  local value = json.decode(req.body)\n"
             "  local ok, e = pcall(ctx.validate, value, %s)\n"
             "  if ok then return e == value and 'ok' or 'returned something else' end\n"
             "  if type(e) == 'table' then\n"
             "    return tostring(e.status) .. '|' .. tostring(e.field) .. '|' .. e.message end\n"
             "  return 'error|' .. tostring(e)\n"
             "end\n",
             schema);
    char name[32]; /* a fresh file per case: the host caches compiled handlers by name */
    snprintf(name, sizeof name, "v%u", ++fx->cases);
    char file[40];
    snprintf(file, sizeof file, "%s.lua", name);
    tk_write(fx->dir, file, code);
    lua_State *L = mb_lua_host_state(fx->host);
    mb_lua_outcome o = tk_host_call(fx->host, name, 0, 0, mb_cur_from_cstr(value), &fx->res);
    fx->out[0] = '\0';
    if (o == MB_LUA_OK) {
        snprintf(fx->out, sizeof fx->out, "%s", lua_tostring(L, -1));
    }
    tk_host_done(fx->host);
    return o;
}

static void expect(fixture *fx, const char *value, const char *schema, const char *want) {
    mb_lua_outcome o = run(fx, value, schema);
    if (o != MB_LUA_OK) {
        fail_msg("%s against %s: outcome %d (%s)", value, schema, (int)o, fx->res.message.ptr);
    }
    if (strcmp(fx->out, want) != 0) {
        fail_msg("%s against %s:\n  got  %s\n  want %s", value, schema, fx->out, want);
    }
}

/* Run handler file `name` (already written) with an empty request; assert it returns `want`. */
static void expect_handler(fixture *fx, const char *name, const char *want) {
    lua_State *L = mb_lua_host_state(fx->host);
    assert_int_equal(tk_host_call(fx->host, name, 0, 0, (mb_cur){0}, &fx->res), MB_LUA_OK);
    assert_string_equal(lua_tostring(L, -1), want);
    tk_host_done(fx->host);
}

static const char s_item[] =
    "{ type = 'object', fields = {\n"
    "  title = { type = 'string', required = true, min_len = 1, max_len = 5 },\n"
    "  done = { type = 'boolean' },\n"
    "  priority = { type = 'integer', min = 1, max = 5 },\n"
    "  status = { type = 'string', enum = { 'open', 'closed' } },\n"
    "  code = { type = 'string', pattern = '^[a-z]+%-%d+$' },\n"
    "  score = { type = 'number', min = 0, max = 1 },\n"
    "  note = { type = 'string', nullable = true },\n"
    "} }";

static void test_lua_validate_types_and_bounds(void **state) {
    fixture *fx = *state;
    expect(fx, "{\"title\":\"ab\"}", s_item, "ok");
    expect(fx,
           "{\"title\":\"héllo\",\"done\":true,\"priority\":5,\"status\":\"open\","
           "\"code\":\"ab-12\",\"score\":0.5,\"note\":null}",
           s_item, "ok");
    expect(fx, "{}", s_item, "400|title|title: is required");
    expect(fx, "{\"title\":\"\"}", s_item, "400|title|title: must be at least 1 character");
    expect(fx, "{\"title\":\"héllos\"}", s_item, "400|title|title: must be at most 5 characters");
    expect(fx, "{\"title\":7}", s_item, "400|title|title: must be a string");
    expect(fx, "{\"title\":\"a\",\"done\":\"yes\"}", s_item,
           "400|done|done: must be true or false");
    expect(fx, "{\"title\":\"a\",\"priority\":0}", s_item,
           "400|priority|priority: must be at least 1");
    expect(fx, "{\"title\":\"a\",\"priority\":6}", s_item,
           "400|priority|priority: must be at most 5");
    expect(fx, "{\"title\":\"a\",\"priority\":2.5}", s_item,
           "400|priority|priority: must be an integer");
    expect(fx, "{\"title\":\"a\",\"priority\":2.0}", s_item, "ok");
    expect(fx, "{\"title\":\"a\",\"status\":\"gone\"}", s_item,
           "400|status|status: must be one of: open, closed");
    expect(fx, "{\"title\":\"a\",\"code\":\"AB-1\"}", s_item,
           "400|code|code: has an invalid format");
    expect(fx, "{\"title\":\"a\",\"score\":\"1\"}", s_item, "400|score|score: must be a number");
    expect(fx, "{\"title\":\"a\",\"score\":1.5}", s_item, "400|score|score: must be at most 1");
    expect(fx, "{\"title\":\"a\",\"note\":5}", s_item, "400|note|note: must be a string");
    /* a schema's own message replaces the generated one */
    expect(fx, "{\"c\":\"red\"}",
           "{ type = 'object', fields = { c = { type = 'string', pattern = '^#%x%x%x$',\n"
           "  message = 'must be a colour like #1a2' } } }",
           "400|c|c: must be a colour like #1a2");
    /* an empty JSON array is not an object */
    expect(fx, "{\"title\":\"a\",\"p\":[]}",
           "{ type = 'object', fields = { title = { type = 'string' }, p = { type = 'object' } } }",
           "400|p|p: must be an object");
}

static void test_lua_validate_unknown_fields_refused(void **state) {
    fixture *fx = *state;
    expect(fx, "{\"title\":\"a\",\"admin\":true}", s_item,
           "400|admin|admin: is not an allowed field");
    /* the first unknown name in sorted order, whatever the table order */
    expect(fx, "{\"title\":\"a\",\"zz\":1,\"aa\":1}", s_item, "400|aa|aa: is not an allowed field");
    expect(fx, "{\"title\":\"a\",\"admin\":true}",
           "{ type = 'object', allow_unknown = true, fields = { title = { type = 'string' } } }",
           "ok");
}

/* Field paths through nested objects and arrays: JSON positions, counted from 0. */
static void test_lua_validate_nested_paths(void **state) {
    fixture *fx = *state;
    static const char schema[] =
        "{ type = 'object', fields = {\n"
        "  items = { type = 'array', required = true, min_items = 1, max_items = 3,\n"
        "    items = { type = 'object', fields = {\n"
        "      title = { type = 'string', required = true, max_len = 3 },\n"
        "      tags = { type = 'array', items = { type = 'string', enum = { 'a', 'b' } } },\n"
        "      owner = { type = 'object', fields = { id = { type = 'integer', required = true } } "
        "},\n"
        "    } } },\n"
        "} }";
    expect(fx, "{\"items\":[{\"title\":\"x\"},{\"title\":\"y\",\"tags\":[\"a\",\"b\"]}]}", schema,
           "ok");
    expect(fx, "{\"items\":[{\"title\":\"x\"},{\"title\":\"y\"},{\"title\":\"long\"}]}", schema,
           "400|items[2].title|items[2].title: must be at most 3 characters");
    expect(fx, "{\"items\":[{\"title\":\"x\",\"tags\":[\"a\",\"c\"]}]}", schema,
           "400|items[0].tags[1]|items[0].tags[1]: must be one of: a, b");
    expect(fx, "{\"items\":[{\"title\":\"x\",\"owner\":{}}]}", schema,
           "400|items[0].owner.id|items[0].owner.id: is required");
    expect(fx, "{\"items\":[{\"title\":\"x\",\"owner\":{\"id\":1,\"x\":2}}]}", schema,
           "400|items[0].owner.x|items[0].owner.x: is not an allowed field");
    expect(fx, "{\"items\":[]}", schema, "400|items|items: must have at least 1 item");
    expect(fx,
           "{\"items\":[{\"title\":\"a\"},{\"title\":\"a\"},{\"title\":\"a\"},{\"title\":\"a\"}]}",
           schema, "400|items|items: must have at most 3 items");
    expect(fx, "{\"items\":{\"title\":\"x\"}}", schema, "400|items|items: must be an array");
    expect(fx, "{\"items\":[5]}", schema, "400|items[0]|items[0]: must be an object");
    expect(fx, "[1,2]", schema, "400|nil|request body must be an object");
    expect(fx, "null", schema, "400|nil|request body must be an object");
}

/* A missing body (nil, e.g. no JSON sent) is required unless the schema says required = false. */
static void test_lua_validate_missing_body(void **state) {
    fixture *fx = *state;
    tk_write(
        fx->dir, "nobody.lua",
        "return function(req, ctx)\n"
        "  local ok, e = pcall(ctx.validate, nil, { type = 'object' })\n"
        "  local ok2 = pcall(ctx.validate, nil, { type = 'object', required = false })\n"
        "  local _, u = pcall(ctx.validate, '\\xff', { type = 'string' })\n"
        "  return tostring(ok) .. '|' .. e.message .. '|' .. tostring(ok2) .. '|' .. u.message\n"
        "end\n");
    expect_handler(fx, "nobody",
                   "false|request body is required (send it as application/json)|true|"
                   "request body must be valid UTF-8");
}

/* A schema mistake is the handler's bug: a plain error (500), naming where. */
static void test_lua_validate_bad_schema_is_handler_error(void **state) {
    fixture *fx = *state;
    expect(fx, "{\"a\":1}", "{ type = 'object', fields = { a = { type = 'int' } } }",
           "error|ctx.validate: bad schema at a: unknown type int");
    expect(fx, "{\"a\":1}",
           "{ type = 'object', fields = { a = { type = 'integer', maxlen = 3 } } }",
           "error|ctx.validate: bad schema at a: unknown key maxlen");
    expect(fx, "{}", "'object'", "error|ctx.validate: bad schema: a schema is a table");
}

/* The validator runs with an empty _ENV: a schema cannot make it reach globals, and handlers
 * cannot reach the validator's upvalues (it is a Lua function, but no debug library). */
static void test_lua_validate_isolated(void **state) {
    fixture *fx = *state;
    tk_write(fx->dir, "iso.lua",
             "return function(req, ctx)\n"
             "  local same = ctx.validate == require and 'leak' or type(ctx.validate)\n"
             "  return same .. '|' .. tostring(debug)\n"
             "end\n");
    expect_handler(fx, "iso", "function|nil");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lua_validate_types_and_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lua_validate_unknown_fields_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lua_validate_nested_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lua_validate_missing_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lua_validate_bad_schema_is_handler_error, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lua_validate_isolated, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
