/* fuzz_router.c - libFuzzer harness for mb_router_match: fuzzed method and raw path against a
 * fixed route table (the real routes plus params, ANY and a deep pattern). Input: the method up
 * to the first space (absent: GET), then the path. Properties: a matched route has the method
 * (or ANY) and as many params as {param} segments; no decoded param is empty, ".", "..", or
 * holds '/', '\\', NUL or a control byte; 405 lists at least OPTIONS. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "moonbase/router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char s_routes[] =
    "return {"
    " { 'GET', '/hello', 'hello' },"
    " { 'GET', '/me', 'me', auth = true },"
    " { 'GET', '/items', 'items', auth = true },"
    " { 'POST', '/items', 'items', auth = true, token_use = 'id' },"
    " { 'GET', '/items/{id}', 'items', auth = true },"
    " { 'PUT', '/items/{id}', 'items', auth = true, groups = { 'admins', 'editors' } },"
    " { 'delete', '/items/{id}', 'items', auth = true },"
    " { 'GET', '/items/special', 'special' },"
    " { 'ANY', '/any/{a}/x/{b}', 'any' },"
    " { 'GET', '/{tenant}/files/{name}', 'files' },"
    " { 'PATCH', '/a/b/c/d/e/f/g/h/{i}/j/k/l/m/n/o/p', 'deep' },"
    "}";

static mb_router g_router;

static void s_init(void) {
    lua_State *L = fz_lua_new();
    mb_err err = {0};
    FZ_CHECK(luaL_dostring(L, s_routes) == LUA_OK);
    FZ_CHECK(mb_router_load(&g_router, L, -1, &err) == 0);
    lua_close(L);
}

static void s_check_param(mb_cur v) {
    FZ_CHECK(v.len > 0);
    FZ_CHECK(!mb_cur_eq(v, MB_CUR_LIT(".")) && !mb_cur_eq(v, MB_CUR_LIT("..")));
    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.ptr[i];
        FZ_CHECK(c >= 0x20 && c != 0x7f && c != '/' && c != '\\');
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static bool ready;
    if (!ready) {
        s_init();
        ready = true;
    }
    const char *p = (const char *)data;
    const char *sp = memchr(p, ' ', size);
    mb_cur method = sp ? (mb_cur){p, (size_t)(sp - p)} : MB_CUR_LIT("GET");
    mb_cur path = sp ? (mb_cur){sp + 1, size - (size_t)(sp - p) - 1} : (mb_cur){p, size};
    mb_route_match m;
    mb_route_result r = mb_router_match(&g_router, method, path, &m);
    if (r == MB_ROUTE_FOUND) {
        const mb_route *rt = m.route;
        FZ_CHECK(strcmp(rt->method, "ANY") == 0 || mb_cur_eq(mb_cur_from_cstr(rt->method), method));
        FZ_CHECK(m.param_count == rt->seg_count - rt->literal_count);
        for (size_t i = 0; i < m.param_count; i++) {
            s_check_param(m.param_values[i]);
        }
    } else if (r == MB_ROUTE_METHOD_NOT_ALLOWED) {
        FZ_CHECK(m.allow.len > 0 && strstr(m.allow.ptr, "OPTIONS") != NULL);
    } else {
        FZ_CHECK(r == MB_ROUTE_NOT_FOUND || r == MB_ROUTE_BAD_PATH);
    }
    mb_route_match_cleanup(&m);
    return 0;
}
