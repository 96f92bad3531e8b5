/* ddb_marshal_set.c - DynamoDB sets in Lua (mb_ddb_marshal_push_set, the protected set metatable)
 * and what a set member sends; the rest of the module is split by seam (ddb_marshal_priv.h). */
#include "ddb_marshal_priv.h"

#include <lauxlib.h>

#include "moonbase/ddb_value.h"

/* What a set member puts on the wire, before quoting: an NS member's canonical text (from a Lua
 * number, a decimal number or a numeric string) into buf, a BS member's bytes (a binary value or
 * a string), an SS member's string. Shared by the writer and the set constructor. */
int mb_ddb_marshal_member_text(lua_State *L, int idx, char kind, char *buf, mb_cur *out,
                               mb_err *err) {
    int t = lua_type(L, idx);
    if ((kind == 'N' && mb_ddb_value_to_number(L, idx, out)) ||
        (kind == 'B' && mb_ddb_value_to_binary(L, idx, out))) {
        return 0;
    }
    if (kind == 'N' && (t == LUA_TNUMBER || t == LUA_TSTRING)) {
        int n = t == LUA_TNUMBER
                    ? mb_ddb_value_lua_number_text(L, idx, buf, err)
                    : mb_ddb_value_number_canonical(mb_ddb_marshal_string_cur(L, idx), buf, err);
        *out = (mb_cur){buf, n < 0 ? 0 : (size_t)n};
        return n < 0 ? n : 0;
    }
    if (t == LUA_TSTRING) {
        *out = mb_ddb_marshal_string_cur(L, idx);
        return 0;
    }
    return mb_err_set(err, MB_ERR_INVALID, "ddb: %cS member of type %s", kind,
                      luaL_typename(L, idx));
}

/* Push the set metatable, made on first use. Protected (__metatable = false): every request
 * and tenant of the process shares it, so a handler must not be able to reach and change it. */
void mb_ddb_marshal_push_set_mt(lua_State *L) {
    if (luaL_newmetatable(L, MB_DDB_SET_MT)) { /* stack: ..., mt */
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "__metatable");
    }
}

void mb_ddb_marshal_open(lua_State *L) {
    mb_ddb_marshal_push_set_mt(L);
    lua_pop(L, 1);
    mb_ddb_value_open(L);
}

/* The type letter of a set to build ('S', 'N', 'B'), inferring from the first member. */
static char s_new_set_kind(lua_State *L, int members, const char *type) {
    if (type) {
        bool ok = strlen(type) == 2 && type[1] == 'S' && strchr("SNB", type[0]);
        return ok ? type[0] : 0;
    }
    lua_rawgeti(L, members, 1); /* stack: ..., first */
    int t = lua_type(L, -1);
    mb_cur v;
    char kind = t == LUA_TSTRING                    ? 'S'
                : t == LUA_TNUMBER                  ? 'N'
                : mb_ddb_value_to_number(L, -1, &v) ? 'N'
                : mb_ddb_value_to_binary(L, -1, &v) ? 'B'
                                                    : 0;
    lua_pop(L, 1);
    return kind;
}

/* Check one member and push its de-duplication key: what goes on the wire (an NS member's
 * canonical text, so 1, 1.0 and "1.0" are one member, as DynamoDB sees them). */
static int s_push_member_key(lua_State *L, int v, char kind, mb_err *err) {
    char buf[MB_DDB_NUMBER_MAX_CANONICAL];
    mb_cur key;
    int rc = mb_ddb_marshal_member_text(L, v, kind, buf, &key, err);
    if (rc == 0 && kind == 'S' && !mb_text_utf8_valid(key)) {
        rc = mb_err_set(err, MB_ERR_INVALID, "ddb: SS member is not valid UTF-8");
    }
    if (rc == 0) {
        lua_pushlstring(L, key.len ? key.ptr : "", key.len);
    }
    return rc;
}

static int s_fill_set(lua_State *L, int members, lua_Integer n, char kind, int set, mb_err *err) {
    int seen = lua_gettop(L) + 1;
    lua_createtable(L, 0, (int)(n < 1024 ? n : 1024)); /* stack: ..., set, seen */
    lua_Integer count = 0;
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, members, i); /* stack: ..., set, seen, member */
        int rc = s_push_member_key(L, seen + 1, kind, err);
        if (rc != 0) {
            return rc;
        }
        lua_pushvalue(L, -1); /* stack: ..., set, seen, member, key, key */
        if (lua_rawget(L, seen) == LUA_TNIL) {
            lua_pop(L, 1);
            lua_pushboolean(L, 1);
            lua_rawset(L, seen); /* seen[key] = true; stack: ..., set, seen, member */
            lua_rawseti(L, set, ++count);
        } else {
            lua_pop(L, 3);
        }
    }
    lua_pop(L, 1); /* stack: ..., set */
    return 0;
}

int mb_ddb_marshal_push_set(lua_State *L, int members_idx, const char *type, mb_err *err) {
    int top = lua_gettop(L);
    int members = lua_absindex(L, members_idx);
    if (lua_type(L, members) != LUA_TTABLE || !lua_checkstack(L, 8)) {
        return mb_err_set(err, MB_ERR_INVALID, "ddb: set members must be a table");
    }
    lua_Integer n = (lua_Integer)lua_rawlen(L, members);
    char kind = n > 0 ? s_new_set_kind(L, members, type) : 0;
    if (!kind) {
        return mb_err_set(err, MB_ERR_INVALID,
                          n > 0 ? "ddb: set type must be SS, NS or BS" : "ddb: empty set");
    }
    lua_createtable(L, (int)(n < 1024 ? n : 1024), 1); /* stack: ..., set */
    int rc = s_fill_set(L, members, n, kind, top + 1, err);
    if (rc != 0) {
        lua_settop(L, top);
        return rc;
    }
    char t[3] = {kind, 'S', 0};
    lua_pushstring(L, t);
    lua_setfield(L, -2, "type");
    mb_ddb_marshal_push_set_mt(L);
    lua_setmetatable(L, -2);
    return 0;
}
