/* test_router.c - routes.lua tables -> route table, and method + path matching: literals,
 * params, specificity, 404/405 with Allow, OPTIONS, percent-decoding and the paths that must
 * never reach a handler; every malformed routes.lua entry is a config error naming the route. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "moonbase/router.h"

static const char s_routes[] = "return {\n"
                               "  { 'GET', '/hello', 'hello' },\n"
                               "  { 'GET', '/items', 'items' },\n"
                               "  { 'post', '/items', 'items' },\n"
                               "  { 'GET', '/items/{id}', 'item_get' },\n"
                               "  { 'PUT', '/items/{id}', 'item_put', auth = true },\n"
                               "  { 'GET', '/items/new', 'item_new' },\n"
                               "  { 'GET', '/users/{uid}/items/{id}', 'user_item' },\n"
                               "  { 'ANY', '/any', 'any' },\n"
                               "  { 'GET', '/', 'root' },\n"
                               "  { 'GET', '/both', 'both_get' },\n"
                               "  { 'ANY', '/both', 'both_any' },\n"
                               "  { 'DELETE', '/admin', 'admin', auth = true, groups = {'admins',"
                               " 'ops'}, token_use = 'access' },\n"
                               "}\n";

typedef struct fixture {
    lua_State *L;
    mb_router r;
    mb_route_match m;
} fixture;

/* Load routes from Lua source; returns the mb_router_load status and err. */
static int load(lua_State *L, mb_router *r, const char *src, mb_err *err) {
    if (luaL_dostring(L, src) != LUA_OK) {
        fail_msg("lua: %s", lua_tostring(L, -1));
    }
    int rc = mb_router_load(r, L, -1, err);
    lua_settop(L, 0);
    return rc;
}

static int setup(void **state) {
    fixture *fx = calloc(1, sizeof *fx);
    fx->L = luaL_newstate();
    luaL_openlibs(fx->L);
    mb_err err = {0};
    if (load(fx->L, &fx->r, s_routes, &err) != 0) {
        fail_msg("routes: %s", err.msg);
    }
    *state = fx;
    return 0;
}

static int teardown(void **state) {
    fixture *fx = *state;
    mb_route_match_cleanup(&fx->m);
    mb_router_cleanup(&fx->r);
    lua_close(fx->L);
    free(fx);
    return 0;
}

static mb_route_result match(fixture *fx, const char *method, const char *path) {
    mb_route_match_cleanup(&fx->m);
    return mb_router_match(&fx->r, mb_cur_from_cstr(method), mb_cur_from_cstr(path), &fx->m);
}

static void assert_param(fixture *fx, const char *name, const char *value, size_t vlen) {
    for (size_t i = 0; i < fx->m.param_count; i++) {
        if (mb_cur_eq(fx->m.param_names[i], mb_cur_from_cstr(name))) {
            assert_int_equal(fx->m.param_values[i].len, vlen);
            assert_memory_equal(fx->m.param_values[i].ptr, value, vlen);
            return;
        }
    }
    fail_msg("no param %s", name);
}

static void assert_allow(fixture *fx, const char *allow) {
    assert_non_null(fx->m.allow.ptr);
    assert_string_equal(fx->m.allow.ptr, allow);
}

static void test_router_literal_and_param_matching(void **state) {
    fixture *fx = *state;
    assert_int_equal(match(fx, "GET", "/hello"), MB_ROUTE_FOUND);
    assert_string_equal(fx->m.route->handler, "hello");
    assert_int_equal(fx->m.param_count, 0);
    assert_int_equal(match(fx, "POST", "/items"), MB_ROUTE_FOUND); /* method upper-cased */
    assert_string_equal(fx->m.route->method, "POST");
    assert_int_equal(match(fx, "GET", "/items/42"), MB_ROUTE_FOUND);
    assert_string_equal(fx->m.route->handler, "item_get");
    assert_int_equal(fx->m.param_count, 1);
    assert_param(fx, "id", "42", 2);
    assert_int_equal(match(fx, "PUT", "/items/7"), MB_ROUTE_FOUND);
    assert_true(fx->m.route->auth);
    assert_int_equal(match(fx, "GET", "/users/u-1/items/i_2"), MB_ROUTE_FOUND);
    assert_int_equal(fx->m.param_count, 2);
    assert_param(fx, "uid", "u-1", 3);
    assert_param(fx, "id", "i_2", 3);
    assert_int_equal(match(fx, "GET", "/"), MB_ROUTE_FOUND);
    assert_string_equal(fx->m.route->handler, "root");
    assert_int_equal(match(fx, "GET", "/hello/"), MB_ROUTE_FOUND); /* empty segments ignored */
    assert_int_equal(match(fx, "GET", "//hello"), MB_ROUTE_FOUND);
    assert_int_equal(match(fx, "GET", "/Hello"), MB_ROUTE_NOT_FOUND); /* case-sensitive */
    assert_int_equal(match(fx, "get", "/hello"), MB_ROUTE_METHOD_NOT_ALLOWED);
    assert_int_equal(match(fx, "DELETE", "/admin"), MB_ROUTE_FOUND);
    assert_int_equal(fx->m.route->group_count, 2);
    assert_string_equal(fx->m.route->groups[1], "ops");
    assert_int_equal(fx->m.route->token_use, MB_ROUTE_TOKEN_ACCESS);
    assert_int_equal(match(fx, "GET", "/users/a/items/b"), MB_ROUTE_FOUND);
    assert_string_equal(fx->m.route->pattern, "/users/{uid}/items/{id}");
}

static void test_router_specific_route_wins(void **state) {
    fixture *fx = *state;
    /* /items/{id} is listed first, but /items/new has more literal segments. */
    assert_int_equal(match(fx, "GET", "/items/new"), MB_ROUTE_FOUND);
    assert_string_equal(fx->m.route->handler, "item_new");
    assert_int_equal(fx->m.param_count, 0);
    /* Equal specificity: table order (GET /both before ANY /both). */
    assert_int_equal(match(fx, "GET", "/both"), MB_ROUTE_FOUND);
    assert_string_equal(fx->m.route->handler, "both_get");
    assert_int_equal(match(fx, "PATCH", "/both"), MB_ROUTE_FOUND);
    assert_string_equal(fx->m.route->handler, "both_any");
    assert_int_equal(match(fx, "DELETE", "/any"), MB_ROUTE_FOUND);
}

static void test_router_404_and_405_with_allow(void **state) {
    fixture *fx = *state;
    assert_int_equal(match(fx, "GET", "/nope"), MB_ROUTE_NOT_FOUND);
    assert_int_equal(match(fx, "GET", "/items/1/2"), MB_ROUTE_NOT_FOUND);
    assert_int_equal(match(fx, "GET", "/users/u/items"), MB_ROUTE_NOT_FOUND);
    assert_int_equal(match(fx, "DELETE", "/items/1"), MB_ROUTE_METHOD_NOT_ALLOWED);
    assert_allow(fx, "GET, PUT, OPTIONS");
    assert_null(fx->m.route);
    assert_int_equal(match(fx, "DELETE", "/hello"), MB_ROUTE_METHOD_NOT_ALLOWED);
    assert_allow(fx, "GET, OPTIONS");
    assert_int_equal(match(fx, "PATCH", "/items"), MB_ROUTE_METHOD_NOT_ALLOWED);
    assert_allow(fx, "GET, POST, OPTIONS");
    /* /items/new matches both GET routes: GET listed once. */
    assert_int_equal(match(fx, "PUT", "/items/new"), MB_ROUTE_FOUND); /* PUT /items/{id} */
    assert_int_equal(match(fx, "POST", "/items/new"), MB_ROUTE_METHOD_NOT_ALLOWED);
    assert_allow(fx, "GET, PUT, OPTIONS");
}

static void test_router_options_is_405_with_allow(void **state) {
    fixture *fx = *state;
    /* The router reports OPTIONS like any other method; the app answers the preflight. */
    assert_int_equal(match(fx, "OPTIONS", "/items/9"), MB_ROUTE_METHOD_NOT_ALLOWED);
    assert_allow(fx, "GET, PUT, OPTIONS");
    assert_int_equal(match(fx, "OPTIONS", "/nope"), MB_ROUTE_NOT_FOUND);
    assert_int_equal(match(fx, "OPTIONS", "/any"), MB_ROUTE_FOUND); /* ANY includes OPTIONS */
}

/* ANY matches every method, HEAD and OPTIONS included (its handler answers them). */
static void test_router_any_matches_every_method(void **state) {
    fixture *fx = *state;
    static const char *const methods[] = {"GET", "HEAD",  "OPTIONS", "POST",
                                          "PUT", "PATCH", "DELETE",  "TRACE"};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        assert_int_equal(match(fx, methods[i], "/any"), MB_ROUTE_FOUND);
        assert_string_equal(fx->m.route->handler, "any");
    }
    assert_int_equal(match(fx, "HEAD", "/both"), MB_ROUTE_FOUND);
    assert_string_equal(fx->m.route->handler, "both_any");
}

static void test_router_percent_decoding(void **state) {
    fixture *fx = *state;
    assert_int_equal(match(fx, "GET", "/items/a%20b"), MB_ROUTE_FOUND);
    assert_param(fx, "id", "a b", 3);
    assert_int_equal(match(fx, "GET", "/items/%41%42%63"), MB_ROUTE_FOUND);
    assert_param(fx, "id", "ABc", 3);
    assert_int_equal(match(fx, "GET", "/items/caf%C3%A9"), MB_ROUTE_FOUND);
    assert_param(fx, "id", "caf\xc3\xa9", 5);
    assert_int_equal(match(fx, "GET", "/it%65ms/5"), MB_ROUTE_FOUND); /* literal after decoding */
    assert_string_equal(fx->m.route->handler, "item_get");
    assert_int_equal(match(fx, "GET", "/items/..."), MB_ROUTE_FOUND); /* not a dot segment */
    assert_param(fx, "id", "...", 3);
    assert_int_equal(match(fx, "GET", "/items/a.b"), MB_ROUTE_FOUND);
    assert_int_equal(match(fx, "GET", "/items/%25"), MB_ROUTE_FOUND);
    assert_param(fx, "id", "%", 1);
}

static void test_router_bad_paths_rejected(void **state) {
    fixture *fx = *state;
    static const char *const bad[] = {
        "",
        "hello",
        "/items/..",
        "/items/.",
        "/../hello",
        "/items/%2e%2e",
        "/items/%2E%2e",
        "/items/%2e",
        "/%2e%2e/hello",
        "/items/%00",
        "/items/a%00b",
        "/items/a%2Fb",
        "/items/a%2fb",
        "/items/a%5Cb",
        "/items/a\\b",
        "/items/%zz",
        "/items/%4",
        "/items/%",
        "/items/%%41",
        "/items/%g0",
        "/items/a\001b", /* octal: at most three digits, so the 'b' stays a letter */
        "/items/a\x7f",
        "/items/%0a",
        "/items/%0D%0Aset-cookie:x",
        "/items/%7F",
        "/items/%1f",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (match(fx, "GET", bad[i]) != MB_ROUTE_BAD_PATH) {
            fail_msg("path %zu '%s' was not rejected", i, bad[i]);
        }
    }
    /* An embedded raw NUL (views are length-delimited). */
    mb_route_match_cleanup(&fx->m);
    assert_int_equal(
        mb_router_match(&fx->r, MB_CUR_LIT("GET"), (mb_cur){"/items/a\0b", 10}, &fx->m),
        MB_ROUTE_BAD_PATH);
    /* Bounds: path length and segment count. */
    char *longp = malloc(MB_ROUTER_MAX_PATH + 2);
    longp[0] = '/';
    memset(longp + 1, 'a', MB_ROUTER_MAX_PATH);
    longp[MB_ROUTER_MAX_PATH + 1] = '\0';
    assert_int_equal(match(fx, "GET", longp), MB_ROUTE_BAD_PATH);
    longp[MB_ROUTER_MAX_PATH] = '\0';
    assert_int_equal(match(fx, "GET", longp), MB_ROUTE_NOT_FOUND);
    free(longp);
    char many[200] = "";
    for (int i = 0; i < MB_ROUTER_MAX_SEGMENTS + 1; i++) {
        strcat(many, "/x");
    }
    assert_int_equal(match(fx, "GET", many), MB_ROUTE_BAD_PATH);
    many[2 * MB_ROUTER_MAX_SEGMENTS] = '\0';
    assert_int_equal(match(fx, "GET", many), MB_ROUTE_NOT_FOUND);
}

static void test_router_bad_routes_are_config_errors(void **state) {
    fixture *fx = *state;
    static const struct {
        const char *src;
        const char *msg;
    } cases[] = {
        {"return 'nope'", "must return a list"},
        {"return { {'GET', '/a', 'a'}, 'x' }", "route 2 must be a table"},
        {"return { {'GET', '/a', 'a'}, {'GET', '/b', 'b'}, {1, '/c', 'c'} }",
         "route 3: method must be a string"},
        {"return { {'GET', 5, 'a'} }", "route 1: path must be a string"},
        {"return { {'GET', '/a'} }", "route 1: handler must be a string"},
        {"return { {'GE T', '/a', 'a'} }", "route 1: bad method"},
        {"return { {'', '/a', 'a'} }", "route 1: bad method"},
        {"return { {'GET', 'a', 'a'} }", "route 1: path must start with '/'"},
        {"return { {'GET', '', 'a'} }", "route 1: path must start with '/'"},
        {"return { {'GET', '/a/{a-b}', 'a'} }", "route 1: bad parameter name"},
        {"return { {'GET', '/a/x{id}', 'a'} }", "route 1: braces must wrap a whole segment"},
        {"return { {'GET', '/a/{}', 'a'} }", "route 1: braces"},
        {"return { {'GET', '/a/{id}/{id}', 'a'} }", "route 1: parameter id appears twice"},
        {"return { {'GET', '/a', '../etc/passwd'} }", "route 1: handler names"},
        {"return { {'GET', '/a', 'a.lua'} }", "route 1: handler names"},
        {"return { {'GET', '/a', 'a\\0b'} }", "route 1: bad handler"},
        {"return { {'GET', '/a', 'a', auth = 'yes'} }", "route 1: auth must be true or false"},
        {"return { {'GET', '/a', 'a', auth = true, token_use = 'both'} }",
         "route 1: token_use must be"},
        {"return { {'GET', '/a', 'a', auth = true, groups = 'admins'} }",
         "route 1: groups must be a list"},
        {"return { {'GET', '/a', 'a', groups = {'admins'}} }", "route 1: groups need auth"},
        {"return { {'GET', '/a', 'a', auth = true, groups = {'x', 5}} }",
         "route 1: group must be a string"},
        {"local g = {} for i = 1, 17 do g[i] = 'g' .. i end\n"
         "return { {'GET', '/a', 'a', auth = true, groups = g} }",
         "route 1: too many groups"},
        {"return { {'GET', '/items/{id}', 'a'}, {'POST', '/items/{id}', 'b'},\n"
         "         {'get', '/items/{key}', 'c'} }",
         "route 3 duplicates route 1"},
        {"local r = {} for i = 1, 257 do r[i] = {'GET', '/r' .. i, 'h'} end return r",
         "more than 256 routes"},
        {"return { {'GET', '/' .. string.rep('a/', 33), 'a'} }", "route 1: too many path segments"},
        {"return { {'GET', '/' .. string.rep('a', 5000), 'a'} }", "route 1: path too long"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mb_router r;
        mb_err err = {0};
        int rc = load(fx->L, &r, cases[i].src, &err);
        if (rc != MB_ERR_CONFIG || !strstr(err.msg, cases[i].msg)) {
            fail_msg("case %zu: rc %d, message '%s', wanted '%s'", i, rc, err.msg, cases[i].msg);
        }
        assert_int_equal(r.count, 0); /* cleaned up */
        assert_null(r.routes);
    }
    /* An empty list is a valid (if useless) table: everything 404. */
    mb_router r;
    mb_err err = {0};
    assert_int_equal(load(fx->L, &r, "return {}", &err), 0);
    mb_route_match m;
    assert_int_equal(mb_router_match(&r, MB_CUR_LIT("GET"), MB_CUR_LIT("/"), &m),
                     MB_ROUTE_NOT_FOUND);
    mb_route_match_cleanup(&m);
    mb_router_cleanup(&r);
    mb_router_cleanup(NULL);
}

/* {name+} is greedy, as API Gateway's {proxy+}: one or more decoded segments, '/'-joined. */
static void test_router_greedy_param_takes_the_rest(void **state) {
    fixture *fx = *state;
    mb_router r;
    mb_err err = {0};
    assert_int_equal(load(fx->L, &r,
                          "return { { 'ANY', '/t/{name}', 'one' },"
                          " { 'ANY', '/t/{name}/{rest+}', 'many' } }",
                          &err),
                     0);
    mb_route_match m;
    assert_int_equal(mb_router_match(&r, MB_CUR_LIT("GET"), MB_CUR_LIT("/t/h"), &m),
                     MB_ROUTE_FOUND);
    assert_string_equal(m.route->handler, "one");
    mb_route_match_cleanup(&m);
    assert_int_equal(mb_router_match(&r, MB_CUR_LIT("POST"), MB_CUR_LIT("/t/h//a/b%20c/"), &m),
                     MB_ROUTE_FOUND);
    assert_string_equal(m.route->handler, "many");
    assert_int_equal(m.param_count, 2);
    assert_true(mb_cur_eq(m.param_names[0], MB_CUR_LIT("name")));
    assert_true(mb_cur_eq(m.param_values[0], MB_CUR_LIT("h")));
    assert_true(mb_cur_eq(m.param_names[1], MB_CUR_LIT("rest")));
    assert_true(mb_cur_eq(m.param_values[1], MB_CUR_LIT("a/b c")));
    mb_route_match_cleanup(&m);
    /* An encoded '/' still never reaches a handler, greedy or not. */
    assert_int_equal(mb_router_match(&r, MB_CUR_LIT("GET"), MB_CUR_LIT("/t/h/a%2Fb"), &m),
                     MB_ROUTE_BAD_PATH);
    mb_route_match_cleanup(&m);
    mb_router_cleanup(&r);
    static const char *const bad[] = {
        "return { { 'GET', '/t/{rest+}/x', 'h' } }", /* greedy not last */
        "return { { 'GET', '/t/{a}/{a+}', 'h' } }",  /* the same name twice */
        "return { { 'GET', '/t/{+}', 'h' } }",       /* no name */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(load(fx->L, &r, bad[i], &err), MB_ERR_CONFIG);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_router_literal_and_param_matching),  T(test_router_specific_route_wins),
        T(test_router_404_and_405_with_allow),      T(test_router_options_is_405_with_allow),
        T(test_router_any_matches_every_method),    T(test_router_percent_decoding),
        T(test_router_bad_paths_rejected),          T(test_router_bad_routes_are_config_errors),
        T(test_router_greedy_param_takes_the_rest),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
