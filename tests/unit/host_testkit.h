/* host_testkit.h - a real sandboxed Lua host for the unit tests that run handler files
 * (test_lua_host, test_lua_limits, test_lua_pattern, test_lua_validate): making one over a
 * handlers directory, and one invocation of a handler with req and a real ctx. Header-only, like
 * foundation_testkit.h, which it uses;
 * include cmocka first.
 * Ownership: the test owns the host (mb_lua_host_free) and the result (mb_lua_result_cleanup). */
#ifndef MOONBASE_TEST_HOST_TESTKIT_H
#define MOONBASE_TEST_HOST_TESTKIT_H

#include <lauxlib.h>

#include "foundation_testkit.h"

#include "moonbase/lua_api.h"
#include "moonbase/lua_host.h"

/* A host over `dir` with the options in o (o.handlers_dir is set here); svc, when not NULL, is
 * stored as its services (what ctx's bindings reach). Fails the test when it cannot be made. */
static inline mb_lua_host *tk_host_new(const char *dir, mb_lua_host_opts o, mb_lua_services *svc) {
    o.handlers_dir = dir;
    mb_err err = {0};
    mb_lua_host *host = mb_lua_host_new(&o, &err);
    if (!host) {
        fail_msg("mb_lua_host_new: %s", err.msg);
    }
    if (svc) {
        mb_lua_aux_set_services(mb_lua_host_state(host), svc);
    }
    return host;
}

/* Begin an invocation (the deadline, and the CPU budget when cpu_ms is not 0) and call handler
 * `name` with req = { body = body } (no body when body.ptr is NULL) and a fresh ctx; *res is
 * cleaned and filled anew. The stack must be empty before. On MB_LUA_OK the handler's value is
 * at index 3, otherwise the stack holds req and ctx: read what you need, then tk_host_done(). */
static inline mb_lua_outcome tk_host_call(mb_lua_host *host, const char *name, int64_t deadline,
                                          unsigned cpu_ms, mb_cur body, mb_lua_result *res) {
    lua_State *L = mb_lua_host_state(host);
    assert_int_equal(lua_gettop(L), 0);
    mb_lua_host_begin(host, deadline);
    if (cpu_ms) {
        mb_lua_host_set_cpu_budget(host, cpu_ms);
    }
    lua_createtable(L, 0, 1); /* stack: req */
    if (body.ptr) {
        lua_pushlstring(L, body.ptr, body.len);
        lua_setfield(L, -2, "body");
    }
    mb_lua_open_api(L); /* stack: req, ctx */
    mb_lua_result_cleanup(res);
    *res = (mb_lua_result){0};
    mb_lua_outcome o = mb_lua_host_call(host, name, 1, 2, res);
    assert_int_equal(lua_gettop(L), o == MB_LUA_OK ? 3 : 2); /* balanced whatever the outcome */
    return o;
}

/* End the invocation tk_host_call began: empty the stack, then mb_lua_host_end. */
static inline void tk_host_done(mb_lua_host *host) {
    lua_settop(mb_lua_host_state(host), 0);
    mb_lua_host_end(host);
}

/* Release a host fixture: the host, the last result and the handlers directory (tk_tempdir's,
 * removed with its files). Each may be NULL. */
static inline void tk_host_cleanup(mb_lua_host *host, mb_lua_result *res, char *dir) {
    mb_lua_host_free(host);
    mb_lua_result_cleanup(res);
    if (dir) {
        tk_rmdir(dir);
    }
}

#endif
