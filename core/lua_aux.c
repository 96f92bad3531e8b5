/* lua_aux.c - the Lua value layer: array metatable, null, fail object, services registry and the
 * protected call (see moonbase/lua_aux.h). This file uses only the official API of Lua. */
#include "moonbase/lua_aux.h"

#include <string.h>

#include <lauxlib.h>

#define FAIL_MT "moonbase.fail"
#define MAX_FAIL_CODE 32

static const char s_key_services = 's';
static const char s_key_traceback = 't';

/* ---- value model ---- */

/* __newindex of the array metatable's guard. [-0, +0, v] */
static int s_array_mt_readonly(lua_State *L) {
    return luaL_error(L, "json.array_mt is read-only (one table shared by every request)");
}

void mb_lua_aux_open(lua_State *L) {
    /* Handlers reach the array metatable itself (json.array_mt, to mark an empty table as []),
     * and it is one table for the whole warm process: a field written into it (an __index, a
     * __name carrying data) would reach every later request, whatever its tenant. So it stays
     * empty (no __name) behind a guard whose __newindex refuses every write and whose
     * __metatable hides it; handlers have no rawset. */
    luaL_newmetatable(L, MB_LUA_ARRAY_MT); /* stack: array_mt */
    lua_pushliteral(L, "__name");
    lua_pushnil(L);
    lua_rawset(L, -3);        /* raw: a second open finds the guard already in place */
    lua_createtable(L, 0, 2); /* stack: array_mt, guard */
    lua_pushcfunction(L, s_array_mt_readonly);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2); /* stack: array_mt */
    lua_pop(L, 1);
    luaL_newmetatable(L, FAIL_MT); /* stack: fail_mt */
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable"); /* getmetatable(fail) cannot reach it */
    lua_pop(L, 1);
}

void mb_lua_aux_new_array(lua_State *L, int narr) {
    lua_createtable(L, narr, 0); /* stack: array */
    mb_lua_aux_mark_array(L);
}

void mb_lua_aux_mark_array(lua_State *L) {
    if (luaL_getmetatable(L, MB_LUA_ARRAY_MT) != LUA_TTABLE) { /* stack: table, mt|nil */
        lua_pop(L, 1);
        return;
    }
    lua_setmetatable(L, -2);
}

bool mb_lua_aux_is_marked_array(lua_State *L, int idx) {
    if (!lua_getmetatable(L, idx)) {
        return false;
    }
    luaL_getmetatable(L, MB_LUA_ARRAY_MT); /* stack: mt, array_mt */
    bool marked = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return marked;
}

void mb_lua_aux_push_null(lua_State *L) {
    lua_pushlightuserdata(L, NULL);
}

bool mb_lua_aux_is_null(lua_State *L, int idx) {
    return lua_type(L, idx) == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == NULL;
}

/* ---- services ---- */

void mb_lua_aux_set_services(lua_State *L, mb_lua_services *svc) {
    lua_pushlightuserdata(L, svc);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &s_key_services);
}

mb_lua_services *mb_lua_aux_services(lua_State *L) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &s_key_services);
    mb_lua_services *svc = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return svc;
}

/* ---- fail ---- */

void mb_lua_aux_push_fail(lua_State *L, lua_Integer status, const char *message) {
    lua_createtable(L, 0, 4); /* stack: fail */
    lua_pushinteger(L, status >= 400 && status <= 599 ? status : 500);
    lua_setfield(L, -2, "status");
    message = message ? message : "request failed";
    size_t n = strlen(message);
    if (n <= MB_LUA_FAIL_MESSAGE_MAX) {
        lua_pushlstring(L, message, n);
    } else {
        n = MB_LUA_FAIL_MESSAGE_MAX;
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

int mb_lua_aux_raise_fail(lua_State *L, int status, const char *code, const char *message) {
    mb_lua_aux_push_fail(L, status, message); /* stack: fail */
    if (code && strlen(code) <= MAX_FAIL_CODE) {
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

bool mb_lua_aux_is_fail(lua_State *L, int idx, mb_lua_fail *out) {
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

/* ---- protected calls ---- */

/* The message handler (lua.c's msghandler, minus the rewriting): records a traceback for the
 * logs and passes the error value through untouched. */
static int s_msghandler(lua_State *L) {
    const char *msg = lua_type(L, 1) == LUA_TSTRING ? lua_tostring(L, 1) : NULL;
    luaL_traceback(L, L, msg, 1); /* stack: error, traceback */
    lua_rawsetp(L, LUA_REGISTRYINDEX, &s_key_traceback);
    lua_settop(L, 1);
    return 1;
}

int mb_lua_aux_pcall(lua_State *L, int nargs, int nresults) {
    int base = lua_gettop(L) - nargs; /* the function's slot */
    lua_pushcfunction(L, s_msghandler);
    lua_insert(L, base); /* stack: msgh, fn, args... */
    int rc = lua_pcall(L, nargs, nresults, base);
    lua_remove(L, base); /* stack: results... | error */
    return rc;
}

int mb_lua_aux_cpcall(lua_State *L, lua_CFunction fn, int arg, void *ud, int nresults) {
    int nargs = 1;
    if (arg != 0) {
        arg = lua_absindex(L, arg);
    }
    lua_pushcfunction(L, fn); /* stack: fn */
    if (arg != 0) {
        lua_pushvalue(L, arg); /* stack: fn, value */
        nargs++;
    }
    lua_pushlightuserdata(L, ud); /* stack: fn, [value,] ud */
    return mb_lua_aux_pcall(L, nargs, nresults);
}

void mb_lua_aux_push_traceback(lua_State *L) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &s_key_traceback);
}

void mb_lua_aux_clear_traceback(lua_State *L) {
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &s_key_traceback);
}
