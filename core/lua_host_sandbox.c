/* lua_host_sandbox.c - the handlers' environment, built once per state: the read-only base
 * environment (allow-listed base functions and libraries behind read-only proxies, json), and the
 * sandboxed replacements of setmetatable, load, print and xpcall. See core/lua_host_priv.h. */
#include "lua_host_priv.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <lauxlib.h>
#include <lualib.h>

#include "moonbase/json.h"
#include "moonbase/log.h"
#include "moonbase/lua_aux.h"
#include "moonbase/lua_limits.h"

/* ---- sandboxed replacements for base functions ---- */

static int s_readonly_newindex(lua_State *L) {
    return luaL_error(L, "attempt to modify a read-only table");
}

/* The iterator of a proxy's pairs(): walks the source table held as its upvalue, so the
 * (writable) source never reaches Lua code.  [-2, +2|1, e] */
static int s_proxy_next(lua_State *L) {
    lua_settop(L, 2);                       /* stack: proxy, key */
    lua_pushvalue(L, 2);                    /* stack: proxy, key, key */
    if (lua_next(L, lua_upvalueindex(1))) { /* stack: proxy, key, k, v */
        return 2;
    }
    lua_pushnil(L);
    return 1;
}

/* __pairs of a proxy: returns (iterator, proxy, nil). Returning the source table as the state
 * would hand handlers a writable shared table (`local _, t = pairs(string); t.upper = ...`). */
static int s_proxy_pairs(lua_State *L) {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushcclosure(L, s_proxy_next, 1); /* stack: proxy, next */
    lua_pushvalue(L, 1);                  /* stack: proxy, next, proxy */
    lua_pushnil(L);
    return 3;
}

/* Replace the table on the stack top by a read-only proxy in front of it. [-1, +1, m] */
static void s_make_readonly(lua_State *L) {
    lua_newtable(L);          /* stack: src, proxy */
    lua_createtable(L, 0, 4); /* stack: src, proxy, mt */
    lua_pushvalue(L, -3);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, s_readonly_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushvalue(L, -3);
    lua_pushcclosure(L, s_proxy_pairs, 1);
    lua_setfield(L, -2, "__pairs");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable"); /* getmetatable() shows false */
    lua_setmetatable(L, -2);            /* stack: src, proxy */
    lua_remove(L, -2);                  /* stack: proxy */
}

/* setmetatable(t, mt) without __gc: a finalizer would run later, outside any budget, in
 * whichever request happens to trigger the collector. */
static int s_setmetatable(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_getfield(L, 2, "__gc");
        if (!lua_isnil(L, -1)) {
            return luaL_error(L, "__gc metamethods are not allowed in handlers");
        }
        lua_pop(L, 1);
    } else {
        luaL_argexpected(L, lua_isnil(L, 2), 2, "nil or table");
    }
    if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL) {
        return luaL_error(L, "cannot change a protected metatable");
    }
    lua_settop(L, 2);
    lua_setmetatable(L, 1);
    return 1;
}

/* load(text [, chunkname [, mode [, env]]]): text chunks only, _ENV defaults to the request's. */
static int s_load(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    const char *name = luaL_optstring(L, 2, "=(load)");
    if (luaL_loadbufferx(L, s, len, name, "t") != LUA_OK) {
        luaL_pushfail(L);
        lua_insert(L, -2);
        return 2; /* fail, message */
    }
    if (!lua_isnoneornil(L, 4)) {
        lua_pushvalue(L, 4);
    } else {
        lua_rawgetp(L, LUA_REGISTRYINDEX, &mb_lua_host_key_env);
    }
    lua_setupvalue(L, -2, 1); /* stack: ..., fn */
    return 1;
}

void mb_lua_host_push_print_text(lua_State *L) {
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        luaL_tolstring(L, i, NULL); /* __tostring and __name honoured, as the stock print */
        luaL_addvalue(&b);
        if (i < n) {
            luaL_addchar(&b, '\t');
        }
    }
    luaL_pushresult(&b); /* stack: args..., text */
}

/* print(...) -> nothing. [-0, +0, e]
 * One INFO line of the process logger (the services' mb_log) with "print": true: the same
 * request context, escaping, bounds and redaction as ctx.log, so a value ctx.secret read or a
 * token-shaped string prints as [REDACTED], and a newline in the text cannot forge a log line
 * (Lambda ships stderr to CloudWatch Logs line by line). A host run without services (tools,
 * some tests) has no logger and no secrets: the text goes to stderr as it is. */
static int s_print(lua_State *L) {
    mb_lua_host_push_print_text(L);
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    mb_lua_services *svc = mb_lua_aux_services(L);
    if (svc && svc->log) {
        mb_log_field f = mb_log_field_bool("print", true);
        mb_log_write_cur(svc->log, MB_LOG_INFO, (mb_cur){s, len}, &f, 1);
    } else {
        fwrite(s, 1, len, stderr);
        fputc('\n', stderr);
    }
    return 0;
}

static const char *const s_base_allow[] = {
    "assert",   "error", "ipairs", "next",     "pairs",  "pcall",  "select",       "tonumber",
    "tostring", "type",  "xpcall", "rawequal", "rawget", "rawlen", "getmetatable", NULL,
};

static const luaL_Reg s_libs[] = {
    {"string", luaopen_string}, {"table", luaopen_table},         {"math", luaopen_math},
    {"utf8", luaopen_utf8},     {"coroutine", luaopen_coroutine}, {NULL, NULL},
};

/* Library members kept out of handlers' reach even inside allowed libraries. */
static const char *const s_lib_deny[] = {"dump", "randomseed", NULL};

/* Copy a library table minus s_lib_deny into a read-only proxy set as base[name]. [-1, +0, m] */
static void s_add_lib(lua_State *L, int base, const char *name) {
    lua_newtable(L); /* stack: lib, copy */
    lua_pushnil(L);
    while (lua_next(L, -3) != 0) { /* stack: lib, copy, key, value */
        bool deny = false;
        for (int i = 0; s_lib_deny[i] && lua_type(L, -2) == LUA_TSTRING; i++) {
            deny = deny || strcmp(lua_tostring(L, -2), s_lib_deny[i]) == 0;
        }
        if (deny) {
            lua_pop(L, 1);
            continue;
        }
        lua_pushvalue(L, -2);
        lua_insert(L, -2); /* stack: lib, copy, key, key, value */
        lua_rawset(L, -4); /* stack: lib, copy, key */
    }
    s_make_readonly(L); /* stack: lib, proxy */
    lua_setfield(L, base, name);
    lua_pop(L, 1);
}

/* xpcall(f, msgh, ...) whose message handler runs after the protected call has returned. Lua
 * calls a message handler for an error raised by a hook (the budget or deadline) with hooks
 * disabled, so with the stock xpcall `xpcall(loop, function() while true do end end)` would run
 * forever past any budget. */
static const char s_xpcall_src[] = "local pcall, pack, unpack = ...\n"
                                   "return function(f, msgh, ...)\n"
                                   "  local r = pack(pcall(f, ...))\n"
                                   "  if r[1] then return unpack(r, 1, r.n) end\n"
                                   "  return false, msgh(r[2])\n"
                                   "end\n";

/* Set base.xpcall (base at index base, still a plain table). [-0, +0, e] */
static void s_add_xpcall(lua_State *L, int base) {
    if (luaL_loadbufferx(L, s_xpcall_src, sizeof s_xpcall_src - 1, "=xpcall", "t") != LUA_OK) {
        lua_error(L);
    } /* stack: chunk */
    lua_getfield(L, base, "pcall");
    luaL_requiref(L, "table", luaopen_table, 0); /* stack: chunk, pcall, table */
    lua_getfield(L, -1, "pack");
    lua_getfield(L, -2, "unpack");
    lua_remove(L, -3); /* stack: chunk, pcall, pack, unpack */
    lua_call(L, 3, 1); /* stack: xpcall */
    lua_setfield(L, base, "xpcall");
}

void mb_lua_host_build_base(lua_State *L) {
    lua_newtable(L); /* stack: base */
    int base = lua_gettop(L);
    luaL_requiref(L, "_G", luaopen_base, 0); /* stack: base, _G */
    for (int i = 0; s_base_allow[i]; i++) {
        lua_getfield(L, -1, s_base_allow[i]);
        lua_setfield(L, base, s_base_allow[i]);
    }
    lua_pop(L, 1);
    for (const luaL_Reg *lib = s_libs; lib->name; lib++) {
        luaL_requiref(L, lib->name, lib->func, 0);
        s_add_lib(L, base, lib->name);
    }
    luaL_requiref(L, "os", luaopen_os, 0); /* stack: base, os */
    lua_createtable(L, 0, 2);              /* stack: base, os, safe_os */
    lua_getfield(L, -2, "time");
    lua_setfield(L, -2, "time");
    lua_getfield(L, -2, "clock");
    lua_setfield(L, -2, "clock");
    s_make_readonly(L);
    lua_setfield(L, base, "os");
    lua_pop(L, 1); /* stack: base */
    static const luaL_Reg own[] = {{"setmetatable", s_setmetatable},
                                   {"load", s_load},
                                   {"print", s_print},
                                   {"require", mb_lua_host_require},
                                   {NULL, NULL}};
    luaL_setfuncs(L, own, 0);
    mb_lua_limits_push_collectgarbage(L);
    lua_setfield(L, base, "collectgarbage");
    s_add_xpcall(L, base);
    mb_json_push_lib(L); /* stack: base, json */
    s_make_readonly(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, base, "json");
    lua_setfield(L, base, "cjson"); /* stack: base */
    s_make_readonly(L);             /* stack: base_proxy */
    lua_rawsetp(L, LUA_REGISTRYINDEX, &mb_lua_host_key_base);
}

/* Strings share one metatable whose __index is the real string library: hide it, so
 * getmetatable("").__index.upper = ... cannot reach a table shared by every request. */
void mb_lua_host_protect_string_mt(lua_State *L) {
    lua_pushliteral(L, "");
    if (lua_getmetatable(L, -1)) { /* stack: "", mt */
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "__metatable");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}
