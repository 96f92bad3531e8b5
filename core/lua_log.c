/* lua_log.c - ctx.log.debug/info/warn/error(message [, fields]) for Lua handlers: lines go through
 * the process logger (moonbase/log.h), so the request context, escaping and redaction apply. */
#include "moonbase/log.h"
#include "moonbase/lua_aux.h"

#include <lauxlib.h>

static const char *const s_level_names[] = {"debug", "info", "warn", "error"};

/* One field from the key/value pair on the top of the stack (key at -2, a string). The strings
 * stay alive while the fields table holds them, which outlasts the write. [-0, +0, -] */
static void s_field(lua_State *L, mb_log_field *f) {
    size_t klen = 0;
    f->key = lua_tolstring(L, -2, &klen); /* a string already: no in-place conversion */
    f->key_len = klen;
    switch (lua_type(L, -1)) {
    case LUA_TSTRING: {
        size_t len = 0;
        const char *s = lua_tolstring(L, -1, &len);
        f->type = MB_LOG_FIELD_STR;
        f->v.s = (mb_cur){s, len};
        break;
    }
    case LUA_TNUMBER:
        if (lua_isinteger(L, -1)) {
            f->type = MB_LOG_FIELD_INT;
            f->v.i = (int64_t)lua_tointeger(L, -1);
        } else {
            f->type = MB_LOG_FIELD_NUM;
            f->v.n = (double)lua_tonumber(L, -1);
        }
        break;
    case LUA_TBOOLEAN:
        f->type = MB_LOG_FIELD_BOOL;
        f->v.b = lua_toboolean(L, -1);
        break;
    default: /* tables, functions...: their type name, never their address or contents */
        f->type = MB_LOG_FIELD_STR;
        f->v.s = mb_cur_from_cstr(luaL_typename(L, -1));
        break;
    }
}

/* ctx.log.<level>(message [, fields]) -> nothing.  [-0, +0, v]
 * message: a string (numbers are converted); fields: nil or a table whose string keys become
 * members of the line (other keys are skipped; past MB_LOG_MAX_FIELDS, "fieldsDropped" counts
 * what was left out). Upvalue 1: the mb_log_level. */
static int s_log(lua_State *L) {
    mb_log_level level = (mb_log_level)lua_tointeger(L, lua_upvalueindex(1));
    size_t mlen = 0;
    const char *msg = luaL_checklstring(L, 1, &mlen);
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
    }
    mb_lua_services *svc = mb_lua_aux_services(L);
    if (!svc || !mb_log_enabled(svc->log, level)) {
        return 0; /* filtered before any field is looked at */
    }
    mb_log_field f[MB_LOG_MAX_FIELDS + 1];
    size_t n = 0;
    int64_t dropped = 0;
    if (lua_istable(L, 2)) {
        lua_settop(L, 2);
        lua_pushnil(L);               /* stack: message, fields, nil (first key) */
        while (lua_next(L, 2) != 0) { /* stack: message, fields, key, value */
            if (lua_type(L, -2) != LUA_TSTRING || n == MB_LOG_MAX_FIELDS) {
                dropped++;
            } else {
                s_field(L, &f[n++]);
            }
            lua_pop(L, 1); /* stack: message, fields, key */
        }
    }
    if (dropped) {
        f[n++] = mb_log_field_int("fieldsDropped", dropped);
    }
    mb_log_write_cur(svc->log, level, (mb_cur){msg, mlen}, f, n);
    return 0;
}

void mb_lua_inject_log_api(lua_State *L) {
    lua_createtable(L, 0, 4); /* stack: ctx, log */
    for (int i = MB_LOG_DEBUG; i <= MB_LOG_ERROR; i++) {
        lua_pushinteger(L, i);         /* stack: ctx, log, level */
        lua_pushcclosure(L, s_log, 1); /* stack: ctx, log, fn */
        lua_setfield(L, -2, s_level_names[i]);
    }
    lua_setfield(L, -2, "log"); /* stack: ctx */
}
