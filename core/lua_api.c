/* lua_api.c - composes the per-request `ctx` table from the injectors (moonbase/lua_api.h) and
 * implements the small core of it: ctx.fail, ctx.request_id, ctx.now, ctx.remaining_ms. */
#include "moonbase/lua_api.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

static const char s_key_services = 's';
#define FAIL_MT "moonbase.fail"

void mb_lua_api_register(lua_State *L, mb_lua_services *svc) {
    lua_pushlightuserdata(L, svc);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &s_key_services);
    luaL_newmetatable(L, FAIL_MT); /* stack: fail_mt */
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
    luaL_newmetatable(L, MB_LUA_ARRAY_MT); /* normally created by lua_host already */
    lua_pop(L, 1);
}

mb_lua_services *mb_lua_api_services(lua_State *L) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &s_key_services);
    mb_lua_services *svc = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return svc;
}

/* Copy details[key] into the fail object when it is a short string. [-0, +0, e] */
static void s_fail_detail(lua_State *L, int details, const char *key, size_t max) {
    if (lua_getfield(L, details, key) == LUA_TSTRING && luaL_len(L, -1) <= (lua_Integer)max) {
        lua_setfield(L, -2, key); /* stack: ..., fail */
        return;
    }
    lua_pop(L, 1);
}

/* A fail message is sent to the client: one that echoes its input ("unknown field '<1 MB>'")
 * is cut here, at a character boundary, and marked with "...". */
#define FAIL_MESSAGE_MAX 256

/* Push a fail object {status, message} with the FAIL_MT metatable. [-0, +1, m] */
static void s_push_fail(lua_State *L, lua_Integer status, const char *message) {
    lua_createtable(L, 0, 4); /* stack: fail */
    lua_pushinteger(L, status);
    lua_setfield(L, -2, "status");
    size_t n = strlen(message);
    if (n <= FAIL_MESSAGE_MAX) {
        lua_pushlstring(L, message, n);
    } else {
        n = FAIL_MESSAGE_MAX;
        while (n > 0 && ((unsigned char)message[n] & 0xC0) == 0x80) {
            n--; /* message[n] continues a UTF-8 sequence: cut before the sequence */
        }
        lua_pushlstring(L, message, n); /* stack: fail, head */
        lua_pushliteral(L, "...");
        lua_concat(L, 2);
    }
    lua_setfield(L, -2, "message");
    luaL_setmetatable(L, FAIL_MT);
}

/* ctx.fail(status, message [, details]): status 400..599 (default 400); raises a fail object
 * that the app answers as {"error": code, "message": message[, "field": field]}.  [-3, +0, v] */
static int s_fail(lua_State *L) {
    lua_Integer status = luaL_optinteger(L, 1, 400);
    const char *msg = luaL_optstring(L, 2, "request failed");
    luaL_argcheck(L, status >= 400 && status <= 599, 1, "status must be 400..599");
    luaL_argexpected(L, lua_isnoneornil(L, 3) || lua_istable(L, 3), 3, "table or nil");
    s_push_fail(L, status, msg); /* stack: status, msg, details?, fail */
    if (lua_istable(L, 3)) {
        s_fail_detail(L, 3, "code", 32);
        s_fail_detail(L, 3, "field", 64);
    }
    return lua_error(L);
}

int mb_lua_api_raise_fail(lua_State *L, int status, const char *code, const char *message) {
    s_push_fail(L, status >= 400 && status <= 599 ? status : 500,
                message ? message : "request failed"); /* stack: fail */
    if (code && strlen(code) <= 32) {
        lua_pushstring(L, code);
        lua_setfield(L, -2, "code");
    }
    return lua_error(L);
}

static mb_cur s_str_field(lua_State *L, int idx, const char *key) {
    lua_getfield(L, idx, key);
    size_t len = 0;
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
    lua_pop(L, 1); /* the string stays alive: the fail table at idx references it */
    return (mb_cur){s ? s : "", len};
}

bool mb_lua_api_is_fail(lua_State *L, int idx, mb_lua_fail *out) {
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx)) {
        return false;
    }
    luaL_getmetatable(L, FAIL_MT); /* stack: mt, fail_mt */
    bool is = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    if (!is) {
        return false;
    }
    lua_getfield(L, idx, "status");
    out->status = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    out->message = s_str_field(L, idx, "message");
    out->code = s_str_field(L, idx, "code");
    out->field = s_str_field(L, idx, "field");
    return true;
}

static int64_t s_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ctx.now() -> integer milliseconds since the epoch.  [-0, +1, -] */
static int s_now(lua_State *L) {
    lua_pushinteger(L, s_now_ms());
    return 1;
}

/* ctx.timestamp([ms]) -> RFC 3339 UTC with milliseconds, e.g. "2026-11-25T13:20:03.123Z".
 * Handlers have no os.date, so this is their clock for createdAt/updatedAt.  [-1, +1, -] */
static int s_timestamp(lua_State *L) {
    int64_t ms = lua_isnoneornil(L, 1) ? s_now_ms() : (int64_t)luaL_checkinteger(L, 1);
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
    mb_lua_services *svc = mb_lua_api_services(L);
    if (!svc || !svc->deadline_ms) {
        lua_pushnil(L);
        return 1;
    }
    int64_t left = svc->deadline_ms - s_now_ms();
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
    mb_lua_services *svc = mb_lua_api_services(L);
    lua_createtable(L, 0, 8); /* stack: ctx */
    mb_lua_inject_fail_api(L);
    mb_lua_inject_log_api(L);
    mb_lua_inject_metric_api(L);
    mb_lua_inject_db_api(L);
    if (svc) {
        lua_pushlstring(L, svc->request_id.ptr ? svc->request_id.ptr : "", svc->request_id.len);
        lua_setfield(L, -2, "request_id");
        lua_pushstring(L, svc->cfg && svc->cfg->environment ? svc->cfg->environment : "dev");
        lua_setfield(L, -2, "environment");
    }
}
