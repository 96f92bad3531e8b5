/* fuzz_util.h - helpers shared by the libFuzzer harnesses: a fresh Lua state shaped like the
 * one the Lua host gives the core (array metatable registered), a deep comparison of Lua values
 * for round-trip properties, and a crash-on-violation check.
 * Header-only (static functions): each harness includes it once. */
#ifndef MOONBASE_FUZZ_UTIL_H
#define MOONBASE_FUZZ_UTIL_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "moonbase/lua_api.h"

/* A property violation is a bug: abort so libFuzzer saves the input as a crash. */
#define FZ_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond);            \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* A new state with the registry entries the core expects (the array metatable). */
static inline lua_State *fz_lua_new(void) {
    lua_State *L = luaL_newstate();
    FZ_CHECK(L != NULL);
    mb_lua_aux_open(L); /* the array metatable */
    return L;
}

static bool fz_lua_equal_at(lua_State *L, int a, int b, int depth);

static inline bool fz_table_subset(lua_State *L, int a, int b, int depth) {
    lua_pushnil(L);               /* start 'next' loop over a */
    while (lua_next(L, a) != 0) { /* stack: key, va */
        lua_pushvalue(L, -2);     /* stack: key, va, key */
        lua_rawget(L, b);         /* stack: key, va, vb */
        bool eq = fz_lua_equal_at(L, lua_gettop(L) - 1, lua_gettop(L), depth + 1);
        lua_pop(L, 2); /* stack: key */
        if (!eq) {
            lua_pop(L, 1);
            return false;
        }
    }
    return true;
}

static inline size_t fz_table_count(lua_State *L, int t) {
    size_t n = 0;
    lua_pushnil(L); /* start 'next' loop */
    while (lua_next(L, t) != 0) {
        lua_pop(L, 1);
        n++;
    }
    return n;
}

/* Structural equality: numbers by value (5 == 5.0), tables by contents and metatable. */
static bool fz_lua_equal_at(lua_State *L, int a, int b, int depth) {
    a = lua_absindex(L, a);
    b = lua_absindex(L, b);
    FZ_CHECK(depth < 200 && lua_checkstack(L, 8));
    if (lua_type(L, a) != lua_type(L, b)) {
        return false;
    }
    if (lua_type(L, a) == LUA_TUSERDATA) { /* binary and decimal values compare by __eq */
        return lua_compare(L, a, b, LUA_OPEQ);
    }
    if (lua_type(L, a) != LUA_TTABLE) {
        return lua_rawequal(L, a, b);
    }
    bool mta = lua_getmetatable(L, a), mtb = lua_getmetatable(L, b);
    bool same_mt = mta == mtb && (!mta || lua_rawequal(L, -1, -2));
    lua_pop(L, (int)mta + (int)mtb);
    /* One direction plus equal sizes: checking both directions would visit every nested table
     * 2^depth times. */
    return same_mt && fz_table_count(L, a) == fz_table_count(L, b) &&
           fz_table_subset(L, a, b, depth);
}

static inline bool fz_lua_equal(lua_State *L, int a, int b) {
    return fz_lua_equal_at(L, a, b, 0);
}

#endif
