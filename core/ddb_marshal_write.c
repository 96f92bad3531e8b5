/* ddb_marshal_write.c - Lua values -> DynamoDB AttributeValue JSON (mb_ddb_marshal_value,
 * mb_ddb_marshal_item), straight into an mb_buf. See ddb_marshal_priv.h for the parts. */
#include "ddb_marshal_priv.h"

#include <stdio.h>

#include <lauxlib.h>

#include "moonbase/base64.h"
#include "moonbase/ddb_value.h"

int mb_ddb_marshal_writer_start(mb_ddb_marshal_writer *w, lua_State *L, mb_buf *out, mb_err *err) {
    *w = (mb_ddb_marshal_writer){L, out, err, false, {NULL}};
    if (!lua_checkstack(L, MB_DDB_MARSHAL_LEVEL_SLOTS)) {
        return mb_err_set(err, MB_ERR_NOMEM, "ddb: Lua stack exhausted");
    }
    return 0;
}

/* Which of our metatables the metatable on top of the stack is (-1: none of them). A
 * metatable nobody registered is nil, whose address is NULL, which no table has. */
static int s_which_mt(mb_ddb_marshal_writer *w) {
    lua_State *L = w->L;
    if (!w->have_mts) {
        static const char *const names[MB_DDB_MARSHAL_MT_COUNT] = {
            MB_DDB_SET_MT, MB_DDB_BINARY_MT, MB_LUA_ARRAY_MT, MB_DDB_NUMBER_MT};
        for (int i = 0; i < MB_DDB_MARSHAL_MT_COUNT; i++) {
            luaL_getmetatable(L, names[i]); /* stack: ..., mt, registered */
            w->mts[i] = lua_topointer(L, -1);
            lua_pop(L, 1);
        }
        w->have_mts = true;
    }
    const void *mt = lua_topointer(L, -1);
    for (int i = 0; i < MB_DDB_MARSHAL_MT_COUNT; i++) {
        if (mt == w->mts[i]) {
            return i;
        }
    }
    return -1;
}

/* The append helpers (ddb_marshal_priv.h) leave the buffer's trailing NUL (mb_buf keeps one
 * after len) to the end of the call: mb_ddb_marshal_finish writes it once. They only write when
 * cap - len > n, so there is always room for it. */
int mb_ddb_marshal_finish(mb_buf *out, int rc) {
    if (out->ptr) {
        out->ptr[out->len] = '\0';
    }
    return rc;
}

/* s as a quoted JSON string (the text kernel's escaper). DynamoDB refuses text that is not
 * UTF-8, and repairing it would store other text than the handler gave: an error. */
int mb_ddb_marshal_quote(mb_ddb_marshal_writer *w, mb_cur s) {
    int rc = mb_text_json_quote(w->out, s, 0);
    if (rc == MB_ERR_INVALID) {
        return mb_err_set(w->err, rc, "ddb: string is not valid UTF-8");
    }
    return rc ? MB_DDB_MARSHAL_NOMEM(w->err) : 0;
}

/* pre, s as a JSON string, post: the general case (escapes, or the buffer must grow). */
__attribute__((noinline)) int mb_ddb_marshal_put_string_slow(mb_ddb_marshal_writer *w,
                                                             const char *pre, size_t pre_len,
                                                             mb_cur s, const char *post,
                                                             size_t post_len) {
    int rc = mb_ddb_marshal_put(w, pre, pre_len);
    rc = rc ? rc : mb_ddb_marshal_quote(w, s);
    return rc ? rc : mb_ddb_marshal_put(w, post, post_len);
}

int mb_ddb_marshal_put_number(mb_ddb_marshal_writer *w, int idx) {
    char buf[MB_DDB_NUMBER_MAX_CANONICAL];
    int n = mb_ddb_value_lua_number_text(w->L, idx, buf, w->err);
    return n < 0 ? n : mb_ddb_marshal_put(w, buf, (size_t)n);
}

/* Classify a table whose length (lua_rawlen) is not 0: a list when its keys are exactly 1..n (*n),
 * an error otherwise ('next' is the only way to see every key, so this is one pass). */
static int s_list_keys(mb_ddb_marshal_writer *w, int idx, lua_Integer *n) {
    lua_State *L = w->L;
    lua_Integer count = 0, max = 0;
    bool strings = false;
    lua_pushnil(L);                 /* start 'next' loop; stack: ..., key */
    while (lua_next(L, idx) != 0) { /* stack: ..., key, value */
        lua_pop(L, 1);
        count++;
        if (lua_type(L, -1) == LUA_TSTRING) {
            strings = true;
        } else if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1) {
            lua_Integer k = lua_tointeger(L, -1);
            max = k > max ? k : max;
        } else {
            const char *tn = luaL_typename(L, -1);
            lua_pop(L, 1);
            return mb_err_set(w->err, MB_ERR_INVALID,
                              "ddb: table key of type %s (want string or 1..n)", tn);
        }
    }
    if (strings && max > 0) {
        return mb_err_set(w->err, MB_ERR_INVALID, "ddb: table mixes string and integer keys");
    }
    if (max > 0 && max != count) {
        return mb_err_set(w->err, MB_ERR_INVALID, "ddb: list with holes (keys must be 1..n)");
    }
    *n = max;
    return max > 0 ? MB_DDB_MARSHAL_LIST : MB_DDB_MARSHAL_MAP;
}

/* Classify the table at idx (absolute): set, binary, list (keys exactly 1..n, or empty with
 * the array metatable) or map (string keys, refused later if not). *n is the list length. */
int mb_ddb_marshal_table_kind(mb_ddb_marshal_writer *w, int idx, lua_Integer *n) {
    lua_State *L = w->L;
    int mt = -1;
    *n = 0;
    if (lua_getmetatable(L, idx)) { /* stack: ..., mt */
        mt = s_which_mt(w);
        lua_pop(L, 1);
    }
    if (mt == MB_DDB_MARSHAL_MT_SET) {
        return MB_DDB_MARSHAL_SET;
    }
    if (lua_rawlen(L, idx) > 0) {
        return s_list_keys(w, idx, n);
    }
    if (mt != MB_DDB_MARSHAL_MT_ARRAY) {
        return MB_DDB_MARSHAL_MAP; /* with no array part: the map writer refuses any key but a
                                      string */
    }
    lua_pushnil(L); /* a marked table is a list when empty */
    if (lua_next(L, idx) != 0) {
        lua_pop(L, 2);
        return MB_DDB_MARSHAL_MAP;
    }
    return MB_DDB_MARSHAL_LIST;
}

static int s_value(mb_ddb_marshal_writer *w, int idx, int depth);

/* Say which attribute of an item a refused value belongs to: "ddb: attribute \"doc\": ...",
 * so a handler author (and the 400 the client gets) can tell which one to fix. */
__attribute__((noinline)) static int s_name_attribute(mb_ddb_marshal_writer *w, mb_cur name,
                                                      int rc) {
    if (rc == MB_ERR_NOMEM || !w->err) {
        return rc;
    }
    char inner[MB_ERR_MSG_MAX];
    snprintf(inner, sizeof inner, "%s", mb_ddb_marshal_reason(w->err));
    return mb_err_set(w->err, rc, "ddb: attribute \"%.*s\": %s",
                      (int)(name.len < 64 ? name.len : 64), name.ptr, inner);
}

/* ,"name":AttributeValue for the key and value at v - 1 and v (the top of the stack). */
static int s_map_entry(mb_ddb_marshal_writer *w, int v, bool first, int depth) {
    if (lua_type(w->L, v - 1) != LUA_TSTRING) { /* lua_tolstring would break 'next' */
        return mb_err_set(w->err, MB_ERR_INVALID, "ddb: map key is not a string");
    }
    mb_cur k = mb_ddb_marshal_string_cur(w->L, v - 1);
    int rc = first ? mb_ddb_marshal_put_string(w, "", 0, k, ":", 1)
                   : mb_ddb_marshal_put_string(w, ",", 1, k, ":", 1);
    rc = rc ? rc : s_value(w, v, depth);
    return rc && depth == 0 ? s_name_attribute(w, k, rc) : rc;
}

/* {"name": AttributeValue, ...} of the map at idx (absolute). */
static int s_map_body(mb_ddb_marshal_writer *w, int idx, int depth) {
    lua_State *L = w->L;
    if (!lua_checkstack(L, MB_DDB_MARSHAL_LEVEL_SLOTS)) {
        return mb_err_set(w->err, MB_ERR_NOMEM, "ddb: Lua stack exhausted");
    }
    int rc = MB_DDB_MARSHAL_LIT(w, "{"), v = lua_gettop(L) + 2;
    bool first = true;
    lua_pushnil(L);                            /* stack: ..., key */
    while (rc == 0 && lua_next(L, idx) != 0) { /* stack: ..., key, value (at v) */
        rc = s_map_entry(w, v, first, depth);
        lua_pop(L, rc ? 2 : 1); /* stack: ..., key (or nothing: the loop ends) */
        first = false;
    }
    return rc ? rc : MB_DDB_MARSHAL_LIT(w, "}");
}

static int s_list_body(mb_ddb_marshal_writer *w, int idx, lua_Integer n, int depth) {
    lua_State *L = w->L;
    if (!lua_checkstack(L, MB_DDB_MARSHAL_LEVEL_SLOTS)) {
        return mb_err_set(w->err, MB_ERR_NOMEM, "ddb: Lua stack exhausted");
    }
    int rc = MB_DDB_MARSHAL_LIT(w, "[");
    for (lua_Integer i = 1; rc == 0 && i <= n; i++) {
        rc = i > 1 ? MB_DDB_MARSHAL_LIT(w, ",") : 0;
        lua_rawgeti(L, idx, i); /* stack: ..., element */
        rc = rc ? rc : s_value(w, lua_gettop(L), depth);
        lua_pop(L, 1);
    }
    return rc ? rc : MB_DDB_MARSHAL_LIT(w, "]");
}

/* One member of a set: an SS string, an NS number, a BS binary (or string). */
static int s_set_member(mb_ddb_marshal_writer *w, int idx, char kind) {
    char buf[MB_DDB_NUMBER_MAX_CANONICAL];
    mb_cur v;
    int rc = mb_ddb_marshal_member_text(w->L, idx, kind, buf, &v, w->err);
    if (rc != 0 || kind == 'S') {
        return rc ? rc : mb_ddb_marshal_quote(w, v);
    }
    rc = MB_DDB_MARSHAL_LIT(w, "\"");
    if (rc == 0 && kind == 'N') {
        rc = mb_ddb_marshal_put(w, v.ptr, v.len);
    } else if (rc == 0) {
        rc = mb_base64_encode(w->out, v) ? MB_DDB_MARSHAL_NOMEM(w->err) : 0;
    }
    return rc ? rc : MB_DDB_MARSHAL_LIT(w, "\"");
}

/* The type letter of a set table ('S', 'N' or 'B'), or 0 when malformed. */
static char s_set_kind(lua_State *L, int idx) {
    lua_getfield(L, idx, "type"); /* stack: ..., type (a set's metatable has no __index) */
    size_t len = 0;
    const char *t = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : "";
    char kind = (len == 2 && t[1] == 'S' && strchr("SNB", t[0])) ? t[0] : 0;
    lua_pop(L, 1);
    return kind;
}

static int s_set(mb_ddb_marshal_writer *w, int idx) {
    lua_State *L = w->L;
    char kind = s_set_kind(L, idx);
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
    if (!kind || n < 1) {
        return mb_err_set(w->err, MB_ERR_INVALID, "ddb: malformed or empty set");
    }
    char head[7] = {'{', '"', kind, 'S', '"', ':', '['};
    int rc = mb_ddb_marshal_put(w, head, sizeof head);
    for (lua_Integer i = 1; rc == 0 && i <= n; i++) {
        rc = i > 1 ? MB_DDB_MARSHAL_LIT(w, ",") : 0;
        lua_rawgeti(L, idx, i);
        rc = rc ? rc : s_set_member(w, lua_gettop(L), kind);
        lua_pop(L, 1);
    }
    return rc ? rc : MB_DDB_MARSHAL_LIT(w, "]}");
}

/* A binary (B) or decimal number (N) value: userdata with our metatable. */
static int s_userdata_value(mb_ddb_marshal_writer *w, int idx) {
    lua_State *L = w->L;
    int mt = -1;
    if (lua_getmetatable(L, idx)) { /* stack: ..., mt */
        mt = s_which_mt(w);
        lua_pop(L, 1);
    }
    mb_cur v = {lua_touserdata(L, idx), lua_rawlen(L, idx)};
    if (mt == MB_DDB_MARSHAL_MT_BINARY) {
        int rc = MB_DDB_MARSHAL_LIT(w, "{\"B\":\"");
        rc = rc ? rc : (mb_base64_encode(w->out, v) ? MB_DDB_MARSHAL_NOMEM(w->err) : 0);
        return rc ? rc : MB_DDB_MARSHAL_LIT(w, "\"}");
    }
    if (mt == MB_DDB_MARSHAL_MT_NUMBER) { /* canonical text, checked when the value was made */
        int rc = MB_DDB_MARSHAL_LIT(w, "{\"N\":\"");
        rc = rc ? rc : mb_ddb_marshal_put(w, v.ptr, v.len);
        return rc ? rc : MB_DDB_MARSHAL_LIT(w, "\"}");
    }
    return mb_err_set(w->err, MB_ERR_INVALID, "ddb: cannot store a userdata");
}

static int s_table_value(mb_ddb_marshal_writer *w, int idx, int depth) {
    lua_Integer n;
    int kind = mb_ddb_marshal_table_kind(w, idx, &n);
    if (kind < 0) {
        return kind;
    }
    if (kind == MB_DDB_MARSHAL_SET) {
        return s_set(w, idx);
    }
    if (depth >= MB_DDB_MARSHAL_MAX_NEST) {
        return mb_err_set(w->err, MB_ERR_LIMIT,
                          "ddb: maps and lists nested deeper than %d levels (%d with the item)",
                          MB_DDB_MARSHAL_MAX_NEST, MB_DDB_MAX_DEPTH);
    }
    int rc = kind == MB_DDB_MARSHAL_LIST ? MB_DDB_MARSHAL_LIT(w, "{\"L\":")
                                         : MB_DDB_MARSHAL_LIT(w, "{\"M\":");
    rc = rc ? rc
            : (kind == MB_DDB_MARSHAL_LIST ? s_list_body(w, idx, n, depth + 1)
                                           : s_map_body(w, idx, depth + 1));
    return rc ? rc : MB_DDB_MARSHAL_LIT(w, "}");
}

/* The AttributeValue of the value at idx (absolute); depth counts enclosing M/L levels. Stack
 * room: the enclosing level's MB_DDB_MARSHAL_LEVEL_SLOTS. */
static int s_value(mb_ddb_marshal_writer *w, int idx, int depth) {
    lua_State *L = w->L;
    int t = lua_type(L, idx);
    if (t == LUA_TSTRING) { /* the usual value: tested before the switch's indirect jump */
        return MB_DDB_MARSHAL_STRING_AT(w, "{\"S\":", idx, "}");
    }
    switch (t) {
    case LUA_TNUMBER: {
        int rc = MB_DDB_MARSHAL_LIT(w, "{\"N\":\"");
        rc = rc ? rc : mb_ddb_marshal_put_number(w, idx);
        return rc ? rc : MB_DDB_MARSHAL_LIT(w, "\"}");
    }
    case LUA_TBOOLEAN:
        return lua_toboolean(L, idx) ? MB_DDB_MARSHAL_LIT(w, "{\"BOOL\":true}")
                                     : MB_DDB_MARSHAL_LIT(w, "{\"BOOL\":false}");
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == NULL) {
            return MB_DDB_MARSHAL_LIT(w, "{\"NULL\":true}");
        }
        break;
    case LUA_TTABLE:
        return s_table_value(w, idx, depth);
    case LUA_TUSERDATA:
        return s_userdata_value(w, idx);
    default:
        break;
    }
    return mb_err_set(w->err, MB_ERR_INVALID, "ddb: cannot store a %s", luaL_typename(L, idx));
}

int mb_ddb_marshal_value(lua_State *L, int idx, mb_buf *out, mb_err *err) {
    int top = lua_gettop(L);
    idx = lua_absindex(L, idx);
    mb_ddb_marshal_writer w;
    int rc = mb_ddb_marshal_writer_start(&w, L, out, err);
    rc = rc ? rc : s_value(&w, idx, 0);
    lua_settop(L, top);
    return mb_ddb_marshal_finish(out, rc);
}

int mb_ddb_marshal_put_item(mb_ddb_marshal_writer *w, int idx) {
    if (lua_type(w->L, idx) != LUA_TTABLE) {
        return mb_err_set(w->err, MB_ERR_INVALID, "ddb: an item must be a table, not %s",
                          luaL_typename(w->L, idx));
    }
    return s_map_body(w, idx, 0);
}

int mb_ddb_marshal_item(lua_State *L, int idx, mb_buf *out, mb_err *err) {
    int top = lua_gettop(L);
    idx = lua_absindex(L, idx);
    mb_ddb_marshal_writer w;
    int rc = mb_ddb_marshal_writer_start(&w, L, out, err);
    rc = rc ? rc : mb_ddb_marshal_put_item(&w, idx);
    lua_settop(L, top);
    return mb_ddb_marshal_finish(out, rc);
}
