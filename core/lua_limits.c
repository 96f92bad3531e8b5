/* lua_limits.c - bounded string.rep, table.insert/remove/move and a restricted collectgarbage
 * (moonbase/lua_limits.h). insert and remove are Lua 5.4's own (ltablib.c), rewritten to pay
 * for their shifts first; rep and move wrap the stock functions. */
#include "moonbase/lua_limits.h"

#include <stdint.h>
#include <string.h>

#include <lauxlib.h>

typedef struct meter {
    mb_lua_pattern_charge_fn charge;
    void *ud;
} meter;

/* Pay `moves` element moves before doing them; raises the charge function's message when the
 * budget cannot cover them. A count too large to represent is clamped: it is refused anyway. */
static void s_pay(lua_State *L, lua_Unsigned moves) {
    meter *m = lua_touserdata(L, lua_upvalueindex(1));
    const lua_Unsigned most = SIZE_MAX / 2 / MB_LUA_LIMITS_MOVE_COST;
    size_t units = (size_t)(moves > most ? most : moves) * MB_LUA_LIMITS_MOVE_COST;
    const char *msg = units ? m->charge(L, m->ud, units) : NULL;
    if (msg) {
        luaL_error(L, "%s", msg);
    }
}

/* string.rep(s, n [, sep]): the stock loop runs n times even when every copy is empty. */
static int s_rep(lua_State *L) {
    size_t l, lsep;
    luaL_checklstring(L, 1, &l);
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_optlstring(L, 3, "", &lsep);
    if (n > 0 && l == 0 && lsep == 0) {
        lua_pushliteral(L, "");
        return 1;
    }
    return lua_tocfunction(L, lua_upvalueindex(2))(L); /* output-sized: the allocator meters it */
}

/* table.move(a1, f, e, t [, a2]): pays e - f + 1 moves, then the stock function. */
static int s_move(lua_State *L) {
    lua_Integer f = luaL_checkinteger(L, 2);
    lua_Integer e = luaL_checkinteger(L, 3);
    if (e >= f) {
        s_pay(L, (lua_Unsigned)e - (lua_Unsigned)f + 1u);
    }
    return lua_tocfunction(L, lua_upvalueindex(2))(L);
}

/* table.insert(t, [pos,] v) */
static int s_insert(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer e = luaL_intop(+, luaL_len(L, 1), 1); /* first empty element */
    lua_Integer pos = e;
    switch (lua_gettop(L)) {
    case 2:
        break;
    case 3:
        pos = luaL_checkinteger(L, 2);
        luaL_argcheck(L, (lua_Unsigned)pos - 1u < (lua_Unsigned)e, 2, "position out of bounds");
        s_pay(L, (lua_Unsigned)e - (lua_Unsigned)pos);
        for (lua_Integer i = e; i > pos; i--) { /* move up elements */
            lua_geti(L, 1, i - 1);
            lua_seti(L, 1, i); /* t[i] = t[i - 1] */
        }
        break;
    default:
        return luaL_error(L, "wrong number of arguments to 'insert'");
    }
    lua_seti(L, 1, pos); /* t[pos] = v */
    return 0;
}

/* table.remove(t [, pos]) */
static int s_remove(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer size = luaL_len(L, 1);
    lua_Integer pos = luaL_optinteger(L, 2, size);
    if (pos != size) { /* pos must be in [1, size + 1] */
        luaL_argcheck(L, (lua_Unsigned)pos - 1u <= (lua_Unsigned)size, 2, "position out of bounds");
    }
    if (pos < size) {
        s_pay(L, (lua_Unsigned)size - (lua_Unsigned)pos);
    }
    lua_geti(L, 1, pos); /* result = t[pos] */
    for (; pos < size; pos++) {
        lua_geti(L, 1, pos + 1);
        lua_seti(L, 1, pos); /* t[pos] = t[pos + 1] */
    }
    lua_pushnil(L);
    lua_seti(L, 1, pos); /* remove entry t[pos] */
    return 1;
}

/* Replace lib[name] (lib at index idx) by fn with upvalues (meter, stock function). */
static void s_replace(lua_State *L, int idx, const char *name, lua_CFunction fn) {
    lua_pushvalue(L, -1);       /* stack: meter, meter */
    lua_getfield(L, idx, name); /* stack: meter, meter, stock */
    lua_pushcclosure(L, fn, 2); /* stack: meter, fn */
    lua_setfield(L, idx, name); /* stack: meter */
}

void mb_lua_limits_inject(lua_State *L, int string_idx, int table_idx,
                          mb_lua_pattern_charge_fn charge, void *ud) {
    string_idx = lua_absindex(L, string_idx);
    table_idx = lua_absindex(L, table_idx);
    meter *m = lua_newuserdatauv(L, sizeof *m, 0); /* stack: meter */
    m->charge = charge;
    m->ud = ud;
    s_replace(L, string_idx, "rep", s_rep);
    s_replace(L, table_idx, "move", s_move);
    s_replace(L, table_idx, "insert", s_insert);
    s_replace(L, table_idx, "remove", s_remove);
    lua_pop(L, 1);
}

/* collectgarbage([opt [, arg]]): "collect" (the default), "step" and "count" only. Stopping the
 * collector or retuning it would let garbage pile up past what the cap's emergency collections
 * can keep up with, and the setting would outlive the request. [-(0|1|2), +1, e] */
static int s_collectgarbage(lua_State *L) {
    static const char *const opts[] = {"collect", "step", "count", NULL};
    const char *opt = luaL_optstring(L, 1, "collect");
    int o = 0;
    while (opts[o] && strcmp(opts[o], opt) != 0) {
        o++;
    }
    if (!opts[o]) {
        return luaL_error(L,
                          "collectgarbage(\"%s\") is not allowed in handlers (allowed: \"count\", "
                          "\"collect\", \"step\")",
                          opt);
    }
    if (o == 0) {
        lua_gc(L, LUA_GCCOLLECT);
        lua_pushinteger(L, 0);
    } else if (o == 1) {
        lua_Integer n = luaL_optinteger(L, 2, 0);
        lua_pushboolean(L, lua_gc(L, LUA_GCSTEP, n < 0 ? 0 : n > INT32_MAX ? INT32_MAX : (int)n));
    } else {
        int kb = lua_gc(L, LUA_GCCOUNT);
        int b = lua_gc(L, LUA_GCCOUNTB);
        lua_pushnumber(L, (lua_Number)kb + ((lua_Number)b / 1024));
    }
    return 1;
}

void mb_lua_limits_push_collectgarbage(lua_State *L) {
    lua_pushcfunction(L, s_collectgarbage);
}
