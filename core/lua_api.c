/* lua_api.c - composes the per-request `ctx` table from the injectors (moonbase/lua_api.h) and
 * implements the small core of it: ctx.fail, ctx.request_id, ctx.now, ctx.remaining_ms. */
#include "moonbase/lua_api.h"

#include "moonbase/clock.h"
#include "moonbase/config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

/* Copy details[key] into the fail object when it is a short string. [-0, +0, e] */
static void s_fail_detail(lua_State *L, int details, const char *key, size_t max) {
    if (lua_getfield(L, details, key) == LUA_TSTRING && luaL_len(L, -1) <= (lua_Integer)max) {
        lua_setfield(L, -2, key); /* stack: ..., fail */
        return;
    }
    lua_pop(L, 1);
}

/* ctx.fail(status, message [, details]): status 400..599 (default 400); raises a fail object
 * that the app answers as {"error": code, "message": message[, "field": field]}.  [-3, +0, v] */
static int s_fail(lua_State *L) {
    lua_Integer status = luaL_optinteger(L, 1, 400);
    const char *msg = luaL_optstring(L, 2, "request failed");
    luaL_argcheck(L, status >= 400 && status <= 599, 1, "status must be 400..599");
    luaL_argexpected(L, lua_isnoneornil(L, 3) || lua_istable(L, 3), 3, "table or nil");
    mb_lua_aux_push_fail(L, status, msg); /* stack: status, msg, details?, fail */
    if (lua_istable(L, 3)) {
        s_fail_detail(L, 3, "code", 32);
        s_fail_detail(L, 3, "field", 64);
    }
    return lua_error(L);
}

/* Wall-clock ms on the services' clock (the real one unless a test set its own). */
static int64_t s_now_ms(lua_State *L) {
    mb_lua_services *svc = mb_lua_aux_services(L);
    return mb_clock_now_ms(svc ? svc->clock : NULL);
}

/* ctx.now() -> integer milliseconds since the epoch.  [-0, +1, -] */
static int s_now(lua_State *L) {
    lua_pushinteger(L, s_now_ms(L));
    return 1;
}

/* ctx.timestamp([ms]) -> RFC 3339 UTC with milliseconds, e.g. "2026-11-25T13:20:03.123Z".
 * Handlers have no os.date, so this is their clock for createdAt/updatedAt.  [-1, +1, -] */
static int s_timestamp(lua_State *L) {
    int64_t ms = lua_isnoneornil(L, 1) ? s_now_ms(L) : (int64_t)luaL_checkinteger(L, 1);
    luaL_argcheck(L, ms >= 0 && ms < 253402300800000LL, 1, "out of range");
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char out[32];
    size_t n = strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, sizeof out - n, ".%03dZ", (int)(ms % 1000));
    lua_pushstring(L, out);
    return 1;
}

/* ctx.remaining_ms() -> milliseconds left before the invocation deadline (nil if none). */
static int s_remaining(lua_State *L) {
    mb_lua_services *svc = mb_lua_aux_services(L);
    if (!svc || !svc->deadline_ms) {
        lua_pushnil(L);
        return 1;
    }
    int64_t left = svc->deadline_ms - s_now_ms(L);
    lua_pushinteger(L, left > 0 ? left : 0);
    return 1;
}

void mb_lua_inject_fail_api(lua_State *L) {
    lua_pushcfunction(L, s_fail);
    lua_setfield(L, -2, "fail");
    lua_pushcfunction(L, s_now);
    lua_setfield(L, -2, "now");
    lua_pushcfunction(L, s_timestamp);
    lua_setfield(L, -2, "timestamp");
    lua_pushcfunction(L, s_remaining);
    lua_setfield(L, -2, "remaining_ms");
}

void mb_lua_open_api(lua_State *L) {
    mb_lua_services *svc = mb_lua_aux_services(L);
    lua_createtable(L, 0, 8); /* stack: ctx */
    mb_lua_inject_fail_api(L);
    mb_lua_inject_log_api(L);
    mb_lua_inject_metric_api(L);
    mb_lua_inject_db_api(L);
    mb_lua_inject_ulid_api(L);
    mb_lua_inject_validate_api(L);
    mb_lua_inject_secret_api(L);
    if (svc) {
        lua_pushlstring(L, svc->request_id.ptr ? svc->request_id.ptr : "", svc->request_id.len);
        lua_setfield(L, -2, "request_id");
        lua_pushstring(L, svc->cfg && svc->cfg->environment ? svc->cfg->environment : "dev");
        lua_setfield(L, -2, "environment");
    }
}
