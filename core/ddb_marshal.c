/* ddb_marshal.c - Lua values <-> DynamoDB AttributeValue JSON (see moonbase/ddb_marshal.h). */
#include "moonbase/ddb_marshal.h"

#include "moonbase/base64.h"
#include "moonbase/ddb_value.h"
#include "moonbase/text.h"

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#define NOMEM(err) mb_err_set((err), MB_ERR_NOMEM, "ddb: out of memory")

/* ---- Lua -> AttributeValue JSON ---- */

/* Marshalling state for one call. mts holds the addresses of the set, binary, array and number
 * metatables (lua_topointer), looked up in the registry the first time a value with a
 * metatable comes along, so that classifying a value compares addresses: most items have no
 * metatable at all, and the lookups by name cost more than marshalling a short item.
 * The registry keeps the metatables alive, so their addresses stay theirs for the call. */
enum { MT_SET, MT_BINARY, MT_ARRAY, MT_NUMBER, MT_COUNT };
enum s_kind { S_MAP, S_LIST, S_SET };

typedef struct s_writer {
    lua_State *L;
    mb_buf *out;
    mb_err *err;
    bool have_mts;
    const void *mts[MT_COUNT];
} s_writer;

/* Levels of M/L an attribute value may hold: DynamoDB counts the item as the first level. */
#define S_MAX_NEST (MB_DDB_MAX_DEPTH - 1)

/* Stack room each container level makes for itself and for what a leaf pushes meanwhile (a
 * map's key and value, a set's type and member, a binary's bytes, 'next' keys). */
#define S_LEVEL_SLOTS 8

static int s_writer_start(s_writer *w, lua_State *L, mb_buf *out, mb_err *err) {
    *w = (s_writer){L, out, err, false, {NULL}};
    if (!lua_checkstack(L, S_LEVEL_SLOTS)) {
        return mb_err_set(err, MB_ERR_NOMEM, "ddb: Lua stack exhausted");
    }
    return 0;
}

/* Which of our metatables the metatable on top of the stack is (-1: none of them). A
 * metatable nobody registered is nil, whose address is NULL, which no table has. */
static int s_which_mt(s_writer *w) {
    lua_State *L = w->L;
    if (!w->have_mts) {
        static const char *const names[MT_COUNT] = {MB_DDB_SET_MT, MB_DDB_BINARY_MT,
                                                    MB_LUA_ARRAY_MT, MB_DDB_NUMBER_MT};
        for (int i = 0; i < MT_COUNT; i++) {
            luaL_getmetatable(L, names[i]); /* stack: ..., mt, registered */
            w->mts[i] = lua_topointer(L, -1);
            lua_pop(L, 1);
        }
        w->have_mts = true;
    }
    const void *mt = lua_topointer(L, -1);
    for (int i = 0; i < MT_COUNT; i++) {
        if (mt == w->mts[i]) {
            return i;
        }
    }
    return -1;
}

/* The fast paths below leave the buffer's trailing NUL (mb_buf keeps one after len) to the end
 * of the call: s_finish writes it once. They only write when cap - len > n, so there is always
 * room for it. */
static int s_finish(mb_buf *out, int rc) {
    if (out->ptr) {
        out->ptr[out->len] = '\0';
    }
    return rc;
}

/* Copy n bytes to o without a call for n <= 16 (names, tags, short values: nearly every copy
 * here), as two overlapping loads and stores that stay inside both ranges. */
static inline void s_copy(char *o, const char *s, size_t n) {
    if (n >= 8 && n <= 16) {
        uint64_t a, b;
        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
        memcpy(o, &a, 8);
        memcpy(o + n - 8, &b, 8);
    } else if (n >= 4 && n < 8) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        memcpy(o, &a, 4);
        memcpy(o + n - 4, &b, 4);
    } else if (n > 16) {
        memcpy(o, s, n);
    } else {
        for (size_t i = 0; i < n; i++) {
            o[i] = s[i];
        }
    }
}

/* Append n bytes; the inline test is the whole cost when the buffer has room. */
static inline int s_put(s_writer *w, const char *s, size_t n) {
    mb_buf *out = w->out;
    if (out->cap - out->len > n) { /* room for the bytes and the trailing NUL */
        s_copy(out->ptr + out->len, s, n);
        out->len += n;
        return 0;
    }
    return mb_buf_append(out, s, n) ? NOMEM(w->err) : 0;
}

#define S_LIT(w, s) s_put((w), (s), sizeof(s) - 1)

/* s as a quoted JSON string (the text kernel's escaper). DynamoDB refuses text that is not
 * UTF-8, and repairing it would store other text than the handler gave: an error. */
static int s_quote(s_writer *w, mb_cur s) {
    int rc = mb_text_json_quote(w->out, s, 0);
    if (rc == MB_ERR_INVALID) {
        return mb_err_set(w->err, rc, "ddb: string is not valid UTF-8");
    }
    return rc ? NOMEM(w->err) : 0;
}

/* pre, s as a JSON string, post: the general case (escapes, or the buffer must grow). */
__attribute__((noinline)) static int s_put_string_slow(s_writer *w, const char *pre, size_t pre_len,
                                                       mb_cur s, const char *post,
                                                       size_t post_len) {
    int rc = s_put(w, pre, pre_len);
    rc = rc ? rc : s_quote(w, s);
    return rc ? rc : s_put(w, post, post_len);
}

/* Append pre, s as a JSON string, post. Inline so that pre and post are constants at each call
 * site; a string that needs no escape (nearly all) is copied after one capacity test. */
static inline int s_put_string(s_writer *w, const char *pre, size_t pre_len, mb_cur s,
                               const char *post, size_t post_len) {
    mb_buf *out = w->out;
    const unsigned char *p = (const unsigned char *)s.ptr;
    if (s.len > SIZE_MAX / 4 || out->cap - out->len <= pre_len + s.len + 2 + post_len ||
        (s.len > 0 && mb_text_json_plain_prefix(p, s.len) != s.len)) {
        return s_put_string_slow(w, pre, pre_len, s, post, post_len);
    }
    char *o = out->ptr + out->len;
    memcpy(o, pre, pre_len);
    o += pre_len;
    *o++ = '"';
    s_copy(o, s.ptr, s.len);
    o += s.len;
    *o++ = '"';
    memcpy(o, post, post_len);
    out->len = (size_t)(o + post_len - out->ptr);
    return 0;
}

/* The string at idx (known to be a string) between two literals. */
#define S_STRING_AT(w, pre, idx, post)                                                             \
    s_put_string((w), (pre), sizeof(pre) - 1, s_string_cur((w)->L, (idx)), (post), sizeof(post) - 1)

static inline mb_cur s_string_cur(lua_State *L, int idx) {
    size_t len;
    const char *p = lua_tolstring(L, idx, &len);
    return (mb_cur){p, len};
}

static int s_put_number(s_writer *w, int idx) {
    char buf[MB_DDB_NUMBER_MAX_CANONICAL];
    int n = mb_ddb_value_lua_number_text(w->L, idx, buf, w->err);
    return n < 0 ? n : s_put(w, buf, (size_t)n);
}

/* Classify a table whose length (lua_rawlen) is not 0: a list when its keys are exactly 1..n (*n),
 * an error otherwise ('next' is the only way to see every key, so this is one pass). */
static int s_list_keys(s_writer *w, int idx, lua_Integer *n) {
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
    return max > 0 ? S_LIST : S_MAP;
}

/* Classify the table at idx (absolute): set, binary, list (keys exactly 1..n, or empty with
 * the array metatable) or map (string keys, refused later if not). *n is the list length. */
static int s_table_kind(s_writer *w, int idx, lua_Integer *n) {
    lua_State *L = w->L;
    int mt = -1;
    *n = 0;
    if (lua_getmetatable(L, idx)) { /* stack: ..., mt */
        mt = s_which_mt(w);
        lua_pop(L, 1);
    }
    if (mt == MT_SET) {
        return S_SET;
    }
    if (lua_rawlen(L, idx) > 0) {
        return s_list_keys(w, idx, n);
    }
    if (mt != MT_ARRAY) {
        return S_MAP; /* with no array part: the map writer refuses any key but a string */
    }
    lua_pushnil(L); /* a marked table is a list when empty */
    if (lua_next(L, idx) != 0) {
        lua_pop(L, 2);
        return S_MAP;
    }
    return S_LIST;
}

static int s_value(s_writer *w, int idx, int depth);

/* Say which attribute of an item a refused value belongs to: "ddb: attribute \"doc\": ...",
 * so a handler author (and the 400 the client gets) can tell which one to fix. */
__attribute__((noinline)) static int s_name_attribute(s_writer *w, mb_cur name, int rc) {
    if (rc == MB_ERR_NOMEM || !w->err) {
        return rc;
    }
    char inner[MB_ERR_MSG_MAX];
    snprintf(inner, sizeof inner, "%s", mb_ddb_marshal_reason(w->err));
    return mb_err_set(w->err, rc, "ddb: attribute \"%.*s\": %s",
                      (int)(name.len < 64 ? name.len : 64), name.ptr, inner);
}

/* ,"name":AttributeValue for the key and value at v - 1 and v (the top of the stack). */
static int s_map_entry(s_writer *w, int v, bool first, int depth) {
    if (lua_type(w->L, v - 1) != LUA_TSTRING) { /* lua_tolstring would break 'next' */
        return mb_err_set(w->err, MB_ERR_INVALID, "ddb: map key is not a string");
    }
    mb_cur k = s_string_cur(w->L, v - 1);
    int rc = first ? s_put_string(w, "", 0, k, ":", 1) : s_put_string(w, ",", 1, k, ":", 1);
    rc = rc ? rc : s_value(w, v, depth);
    return rc && depth == 0 ? s_name_attribute(w, k, rc) : rc;
}

/* {"name": AttributeValue, ...} of the map at idx (absolute). */
static int s_map_body(s_writer *w, int idx, int depth) {
    lua_State *L = w->L;
    if (!lua_checkstack(L, S_LEVEL_SLOTS)) {
        return mb_err_set(w->err, MB_ERR_NOMEM, "ddb: Lua stack exhausted");
    }
    int rc = S_LIT(w, "{"), v = lua_gettop(L) + 2;
    bool first = true;
    lua_pushnil(L);                            /* stack: ..., key */
    while (rc == 0 && lua_next(L, idx) != 0) { /* stack: ..., key, value (at v) */
        rc = s_map_entry(w, v, first, depth);
        lua_pop(L, rc ? 2 : 1); /* stack: ..., key (or nothing: the loop ends) */
        first = false;
    }
    return rc ? rc : S_LIT(w, "}");
}

static int s_list_body(s_writer *w, int idx, lua_Integer n, int depth) {
    lua_State *L = w->L;
    if (!lua_checkstack(L, S_LEVEL_SLOTS)) {
        return mb_err_set(w->err, MB_ERR_NOMEM, "ddb: Lua stack exhausted");
    }
    int rc = S_LIT(w, "[");
    for (lua_Integer i = 1; rc == 0 && i <= n; i++) {
        rc = i > 1 ? S_LIT(w, ",") : 0;
        lua_rawgeti(L, idx, i); /* stack: ..., element */
        rc = rc ? rc : s_value(w, lua_gettop(L), depth);
        lua_pop(L, 1);
    }
    return rc ? rc : S_LIT(w, "]");
}

/* What a set member puts on the wire, before quoting: an NS member's canonical text (from a Lua
 * number, a decimal number or a numeric string) into buf, a BS member's bytes (a binary value or
 * a string), an SS member's string. Shared by the writer and the set constructor. */
static int s_member_text(lua_State *L, int idx, char kind, char *buf, mb_cur *out, mb_err *err) {
    int t = lua_type(L, idx);
    if ((kind == 'N' && mb_ddb_value_to_number(L, idx, out)) ||
        (kind == 'B' && mb_ddb_value_to_binary(L, idx, out))) {
        return 0;
    }
    if (kind == 'N' && (t == LUA_TNUMBER || t == LUA_TSTRING)) {
        int n = t == LUA_TNUMBER ? mb_ddb_value_lua_number_text(L, idx, buf, err)
                                 : mb_ddb_value_number_canonical(s_string_cur(L, idx), buf, err);
        *out = (mb_cur){buf, n < 0 ? 0 : (size_t)n};
        return n < 0 ? n : 0;
    }
    if (t == LUA_TSTRING) {
        *out = s_string_cur(L, idx);
        return 0;
    }
    return mb_err_set(err, MB_ERR_INVALID, "ddb: %cS member of type %s", kind,
                      luaL_typename(L, idx));
}

/* One member of a set: an SS string, an NS number, a BS binary (or string). */
static int s_set_member(s_writer *w, int idx, char kind) {
    char buf[MB_DDB_NUMBER_MAX_CANONICAL];
    mb_cur v;
    int rc = s_member_text(w->L, idx, kind, buf, &v, w->err);
    if (rc != 0 || kind == 'S') {
        return rc ? rc : s_quote(w, v);
    }
    rc = S_LIT(w, "\"");
    if (rc == 0 && kind == 'N') {
        rc = s_put(w, v.ptr, v.len);
    } else if (rc == 0) {
        rc = mb_base64_encode(w->out, v) ? NOMEM(w->err) : 0;
    }
    return rc ? rc : S_LIT(w, "\"");
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

static int s_set(s_writer *w, int idx) {
    lua_State *L = w->L;
    char kind = s_set_kind(L, idx);
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
    if (!kind || n < 1) {
        return mb_err_set(w->err, MB_ERR_INVALID, "ddb: malformed or empty set");
    }
    char head[7] = {'{', '"', kind, 'S', '"', ':', '['};
    int rc = s_put(w, head, sizeof head);
    for (lua_Integer i = 1; rc == 0 && i <= n; i++) {
        rc = i > 1 ? S_LIT(w, ",") : 0;
        lua_rawgeti(L, idx, i);
        rc = rc ? rc : s_set_member(w, lua_gettop(L), kind);
        lua_pop(L, 1);
    }
    return rc ? rc : S_LIT(w, "]}");
}

/* A binary (B) or decimal number (N) value: userdata with our metatable. */
static int s_userdata_value(s_writer *w, int idx) {
    lua_State *L = w->L;
    int mt = -1;
    if (lua_getmetatable(L, idx)) { /* stack: ..., mt */
        mt = s_which_mt(w);
        lua_pop(L, 1);
    }
    mb_cur v = {lua_touserdata(L, idx), lua_rawlen(L, idx)};
    if (mt == MT_BINARY) {
        int rc = S_LIT(w, "{\"B\":\"");
        rc = rc ? rc : (mb_base64_encode(w->out, v) ? NOMEM(w->err) : 0);
        return rc ? rc : S_LIT(w, "\"}");
    }
    if (mt == MT_NUMBER) { /* canonical text, checked when the value was made */
        int rc = S_LIT(w, "{\"N\":\"");
        rc = rc ? rc : s_put(w, v.ptr, v.len);
        return rc ? rc : S_LIT(w, "\"}");
    }
    return mb_err_set(w->err, MB_ERR_INVALID, "ddb: cannot store a userdata");
}

static int s_table_value(s_writer *w, int idx, int depth) {
    lua_Integer n;
    int kind = s_table_kind(w, idx, &n);
    if (kind < 0) {
        return kind;
    }
    if (kind == S_SET) {
        return s_set(w, idx);
    }
    if (depth >= S_MAX_NEST) {
        return mb_err_set(w->err, MB_ERR_LIMIT,
                          "ddb: maps and lists nested deeper than %d levels (%d with the item)",
                          S_MAX_NEST, MB_DDB_MAX_DEPTH);
    }
    int rc = kind == S_LIST ? S_LIT(w, "{\"L\":") : S_LIT(w, "{\"M\":");
    rc = rc ? rc
            : (kind == S_LIST ? s_list_body(w, idx, n, depth + 1) : s_map_body(w, idx, depth + 1));
    return rc ? rc : S_LIT(w, "}");
}

/* The AttributeValue of the value at idx (absolute); depth counts enclosing M/L levels. Stack
 * room: the enclosing level's S_LEVEL_SLOTS. */
static int s_value(s_writer *w, int idx, int depth) {
    lua_State *L = w->L;
    int t = lua_type(L, idx);
    if (t == LUA_TSTRING) { /* the usual value: tested before the switch's indirect jump */
        return S_STRING_AT(w, "{\"S\":", idx, "}");
    }
    switch (t) {
    case LUA_TNUMBER: {
        int rc = S_LIT(w, "{\"N\":\"");
        rc = rc ? rc : s_put_number(w, idx);
        return rc ? rc : S_LIT(w, "\"}");
    }
    case LUA_TBOOLEAN:
        return lua_toboolean(L, idx) ? S_LIT(w, "{\"BOOL\":true}") : S_LIT(w, "{\"BOOL\":false}");
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == NULL) {
            return S_LIT(w, "{\"NULL\":true}");
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
    s_writer w;
    int rc = s_writer_start(&w, L, out, err);
    rc = rc ? rc : s_value(&w, idx, 0);
    lua_settop(L, top);
    return s_finish(out, rc);
}

static int s_item_at(s_writer *w, int idx) {
    if (lua_type(w->L, idx) != LUA_TTABLE) {
        return mb_err_set(w->err, MB_ERR_INVALID, "ddb: an item must be a table, not %s",
                          luaL_typename(w->L, idx));
    }
    return s_map_body(w, idx, 0);
}

int mb_ddb_marshal_item(lua_State *L, int idx, mb_buf *out, mb_err *err) {
    int top = lua_gettop(L);
    idx = lua_absindex(L, idx);
    s_writer w;
    int rc = s_writer_start(&w, L, out, err);
    rc = rc ? rc : s_item_at(&w, idx);
    lua_settop(L, top);
    return s_finish(out, rc);
}

/* ---- requests: plain JSON with item-valued fields ---- */

/* Fields whose value is an item (a map of AttributeValues) / a list of items. */
static bool s_is_item_field(const char *k, size_t n) {
    return (n == 3 && memcmp(k, "Key", 3) == 0) || (n == 4 && memcmp(k, "Item", 4) == 0) ||
           (n == 17 && memcmp(k, "ExclusiveStartKey", 17) == 0) ||
           (n == 25 && memcmp(k, "ExpressionAttributeValues", 25) == 0) ||
           (n == 10 && memcmp(k, "Attributes", 10) == 0) ||
           (n == 16 && memcmp(k, "LastEvaluatedKey", 16) == 0);
}

static bool s_is_item_list_field(const char *k, size_t n) {
    return (n == 4 && memcmp(k, "Keys", 4) == 0) || (n == 5 && memcmp(k, "Items", 5) == 0);
}

static int s_plain(s_writer *w, int idx, int depth);

static int s_item_list(s_writer *w, int idx) {
    lua_State *L = w->L;
    lua_Integer n = 0;
    int kind = lua_type(L, idx) == LUA_TTABLE ? s_table_kind(w, idx, &n) : -1;
    if (kind != S_LIST && !(kind == S_MAP && n == 0)) {
        return mb_err_set(w->err, MB_ERR_INVALID, "ddb: Keys/Items must be a list of items");
    }
    int rc = S_LIT(w, "[");
    for (lua_Integer i = 1; rc == 0 && i <= n; i++) {
        rc = i > 1 ? S_LIT(w, ",") : 0;
        lua_rawgeti(L, idx, i);
        rc = rc ? rc : s_item_at(w, lua_gettop(L));
        lua_pop(L, 1);
    }
    return rc ? rc : S_LIT(w, "]");
}

/* "name":value for the key and value on top of the stack; item fields are marshalled as items. */
static int s_plain_field(s_writer *w, bool first, int depth) {
    lua_State *L = w->L;
    if (lua_type(L, -2) != LUA_TSTRING) { /* lua_tolstring would break 'next' */
        return mb_err_set(w->err, MB_ERR_INVALID, "ddb: object key is not a string");
    }
    mb_cur k = s_string_cur(L, -2);
    int v = lua_gettop(L);
    int rc = first ? s_put_string(w, "", 0, k, ":", 1) : s_put_string(w, ",", 1, k, ":", 1);
    if (rc == 0 && s_is_item_field(k.ptr, k.len)) {
        rc = s_item_at(w, v);
    } else if (rc == 0 && s_is_item_list_field(k.ptr, k.len)) {
        rc = s_item_list(w, v);
    } else if (rc == 0) {
        rc = s_plain(w, v, depth + 1);
    }
    return rc;
}

static int s_plain_object(s_writer *w, int idx, int depth) {
    lua_State *L = w->L;
    int rc = S_LIT(w, "{");
    bool first = true;
    lua_pushnil(L);                            /* stack: ..., key */
    while (rc == 0 && lua_next(L, idx) != 0) { /* stack: ..., key, value */
        rc = s_plain_field(w, first, depth);
        lua_pop(L, rc ? 2 : 1); /* stack: ..., key (or nothing: the loop ends) */
        first = false;
    }
    return rc ? rc : S_LIT(w, "}");
}

static int s_plain_table(s_writer *w, int idx, int depth) {
    lua_State *L = w->L;
    lua_Integer n;
    int kind = s_table_kind(w, idx, &n);
    if (kind < 0) {
        return kind;
    }
    if (kind == S_MAP) {
        return s_plain_object(w, idx, depth);
    }
    if (kind != S_LIST) {
        return mb_err_set(w->err, MB_ERR_INVALID, "ddb: a set or binary outside an item");
    }
    int rc = S_LIT(w, "[");
    for (lua_Integer i = 1; rc == 0 && i <= n; i++) {
        rc = i > 1 ? S_LIT(w, ",") : 0;
        lua_rawgeti(L, idx, i);
        rc = rc ? rc : s_plain(w, lua_gettop(L), depth + 1);
        lua_pop(L, 1);
    }
    return rc ? rc : S_LIT(w, "]");
}

static int s_plain(s_writer *w, int idx, int depth) {
    lua_State *L = w->L;
    if (depth > MB_DDB_MAX_ENVELOPE_DEPTH || !lua_checkstack(L, S_LEVEL_SLOTS)) {
        return mb_err_set(w->err, MB_ERR_LIMIT, "ddb: request nested too deeply");
    }
    switch (lua_type(L, idx)) {
    case LUA_TSTRING:
        return S_STRING_AT(w, "", idx, "");
    case LUA_TNUMBER:
        return s_put_number(w, idx);
    case LUA_TBOOLEAN:
        return lua_toboolean(L, idx) ? S_LIT(w, "true") : S_LIT(w, "false");
    case LUA_TNIL:
        return S_LIT(w, "null");
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == NULL) {
            return S_LIT(w, "null");
        }
        break;
    case LUA_TTABLE:
        return s_plain_table(w, idx, depth);
    default:
        break;
    }
    return mb_err_set(w->err, MB_ERR_INVALID, "ddb: cannot send a %s", luaL_typename(L, idx));
}

int mb_ddb_marshal_request(lua_State *L, int idx, mb_buf *out, mb_err *err) {
    int top = lua_gettop(L);
    idx = lua_absindex(L, idx);
    s_writer w;
    int rc = lua_type(L, idx) == LUA_TTABLE
                 ? s_writer_start(&w, L, out, err)
                 : mb_err_set(err, MB_ERR_INVALID, "ddb: a request must be a table");
    rc = rc ? rc : s_plain(&w, idx, 0);
    lua_settop(L, top);
    return s_finish(out, rc);
}

/* ---- constructors ---- */

/* Push the set metatable, made on first use. Protected (__metatable = false): every request
 * and tenant of the process shares it, so a handler must not be able to reach and change it. */
static void s_push_set_mt(lua_State *L) {
    if (luaL_newmetatable(L, MB_DDB_SET_MT)) { /* stack: ..., mt */
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "__metatable");
    }
}

void mb_ddb_marshal_open(lua_State *L) {
    s_push_set_mt(L);
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
    int rc = s_member_text(L, v, kind, buf, &key, err);
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
    s_push_set_mt(L);
    lua_setmetatable(L, -2);
    return 0;
}

/* ---- JSON reader ---- */

/* Parsing state: the unread bytes, the error, the stack slot of the array metatable (fetched
 * once per call, not once per list), and the name cache with the slot of its strings. */
typedef struct s_name_cache s_name_cache;
typedef struct s_reader {
    const char *p, *end;
    mb_err *err;
    int array_mt, names;
    s_name_cache *cache;
} s_reader;

static int s_bad(s_reader *r, const char *what) {
    return mb_err_set(r->err, MB_ERR_INVALID, "ddb: malformed response: %s", what);
}

static void s_ws(s_reader *r) {
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t')) {
        r->p++;
    }
}

static inline bool s_eat(s_reader *r, char c) {
    if (r->p < r->end && *r->p == c) { /* compact JSON: no whitespace to skip */
        r->p++;
        return true;
    }
    s_ws(r);
    if (r->p < r->end && *r->p == c) {
        r->p++;
        return true;
    }
    return false;
}

static bool s_lit_match(s_reader *r, const char *lit, size_t n) {
    if ((size_t)(r->end - r->p) >= n && memcmp(r->p, lit, n) == 0) {
        r->p += n;
        return true;
    }
    return false;
}

/* The rest of a string literal: escapes, UTF-8 to validate, or an error (the text kernel's
 * scanner, from the opening quote again). Kept out of line so that the common case below stays
 * small. */
__attribute__((noinline)) static int s_scan_rest(s_reader *r, mb_cur *raw, bool *escaped) {
    size_t len;
    const char *why;
    if (mb_text_json_scan_string(r->p, (size_t)(r->end - r->p), &len, escaped, &why) != 0) {
        return s_bad(r, why);
    }
    *raw = (mb_cur){r->p, len};
    r->p += len + 1;
    return 0;
}

/* Scan a string literal (r->p after the opening quote). On success *raw is the bytes between
 * the quotes and *escaped tells whether they hold escapes; UTF-8 and escapes (\u ones included)
 * are validated. The usual string is plain text up to the closing quote. */
static inline int s_scan_string(s_reader *r, mb_cur *raw, bool *escaped) {
    const unsigned char *p = (const unsigned char *)r->p, *end = (const unsigned char *)r->end;
    *escaped = false;
    p += mb_text_json_plain_prefix(p, (size_t)(end - p));
    if (p == end || *p != '"') {
        return s_scan_rest(r, raw, escaped);
    }
    *raw = (mb_cur){r->p, (size_t)((const char *)p - r->p)};
    r->p = (const char *)p + 1;
    return 0;
}

/* ---- the name cache ----
 * Attribute names repeat from item to item (one schema), and pushing a Lua string means
 * hashing every byte and comparing with the interned twin: perf put Lua's string interning at
 * ~30% of unmarshal time. The cache keeps recent names per set of two slots, picked by a cheap
 * hash: their bytes in C (compared without calling Lua) and their strings in a Lua table (the
 * userdata's user value), so a repeated name costs a compare and one lua_rawgeti. Names only
 * (values vary too much to pay off), and short ones only (Lua interns only those): at most
 * NAME_CACHE_SLOTS strings of NAME_CACHE_MAX bytes stay alive per Lua state, plus ~22 KB. */
#define NAME_CACHE_SETS 256
#define NAME_CACHE_SLOTS (2 * NAME_CACHE_SETS)
#define NAME_CACHE_MAX 40 /* LUAI_MAXSHORTLEN */

typedef struct s_name_cache {
    unsigned char len[NAME_CACHE_SLOTS]; /* 0: empty slot */
    char bytes[NAME_CACHE_SLOTS][NAME_CACHE_MAX];
} s_name_cache;

static const char s_name_cache_key = 0; /* its address is the registry key */

/* Push the cache and its table of strings, created on first use ([-0, +2, m]); returns the
 * cache. Stack: ..., cache, strings. */
static s_name_cache *s_push_name_cache(lua_State *L) {
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &s_name_cache_key) != LUA_TUSERDATA) {
        lua_pop(L, 1);
        s_name_cache *c = lua_newuserdatauv(L, sizeof *c, 1); /* stack: ..., cache */
        memset(c->len, 0, sizeof c->len);
        lua_createtable(L, NAME_CACHE_SLOTS, 0); /* rawseti into it never allocates */
        lua_setiuservalue(L, -2, 1);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &s_name_cache_key);
    }
    lua_getiuservalue(L, -1, 1);
    return lua_touserdata(L, -2);
}

/* First slot (0-based) of the set of the n (1..NAME_CACHE_MAX) bytes at p: its first and last
 * words (names sharing a prefix or a suffix still spread) and its length, one multiply: this
 * sits on the path of every attribute name. */
static unsigned s_name_set(const unsigned char *p, size_t n) {
    uint64_t h =
        n < 8 ? mb_text_load_short(p, n) : mb_text_load8(p) ^ mb_text_load8(p + n - 8) << 1;
    h = (h ^ n) * 0x9E3779B97F4A7C15ULL; /* Fibonacci hashing: the top bits mix every byte */
    return (unsigned)(h >> 56) * 2;
}

/* Whether the n (1..NAME_CACHE_MAX) bytes at a and b are equal: word compares, no call. */
static bool s_short_equal(const unsigned char *a, const unsigned char *b, size_t n) {
    if (n < 8) {
        return mb_text_load_short(a, n) == mb_text_load_short(b, n); /* the word holds every byte */
    }
    uint64_t diff = mb_text_load8(a + n - 8) ^ mb_text_load8(b + n - 8);
    for (size_t i = 0; i + 8 < n; i += 8) {
        diff |= mb_text_load8(a + i) ^ mb_text_load8(b + i);
    }
    return diff == 0;
}

/* A miss: the name takes its set's first slot and the previous holder moves to the second. */
static void s_name_insert(lua_State *L, s_reader *r, unsigned slot, mb_cur raw) {
    s_name_cache *c = r->cache;
    lua_pushlstring(L, raw.ptr, raw.len); /* stack: ..., name */
    lua_rawgeti(L, r->names, slot + 1);   /* stack: ..., name, previous */
    lua_rawseti(L, r->names, slot + 2);   /* stack: ..., name */
    lua_pushvalue(L, -1);                 /* stack: ..., name, name */
    lua_rawseti(L, r->names, slot + 1);   /* stack: ..., name */
    c->len[slot + 1] = c->len[slot];
    memcpy(c->bytes[slot + 1], c->bytes[slot], NAME_CACHE_MAX);
    c->len[slot] = (unsigned char)raw.len;
    memcpy(c->bytes[slot], raw.ptr, raw.len);
}

/* Push the name raw (no escapes), from the cache when it holds it. */
static void s_push_name_raw(lua_State *L, s_reader *r, mb_cur raw) {
    s_name_cache *c = r->cache;
    if (!c || raw.len == 0 || raw.len > NAME_CACHE_MAX) {
        lua_pushlstring(L, raw.len ? raw.ptr : "", raw.len);
        return;
    }
    const unsigned char *p = (const unsigned char *)raw.ptr;
    unsigned slot = s_name_set(p, raw.len);
    for (unsigned way = 0; way < 2; way++) {
        if (c->len[slot + way] == raw.len &&
            s_short_equal((const unsigned char *)c->bytes[slot + way], p, raw.len)) {
            lua_rawgeti(L, r->names, slot + way + 1);
            return;
        }
    }
    s_name_insert(L, r, slot, raw);
}

/* Push the decoded string of a scanned literal. */
static int s_push_string(lua_State *L, s_reader *r, mb_cur raw, bool escaped) {
    if (!escaped) {
        lua_pushlstring(L, raw.len ? raw.ptr : "", raw.len);
        return 0;
    }
    luaL_Buffer b;
    char *o = luaL_buffinitsize(L, &b, raw.len); /* decoded text is never longer */
    size_t n = 0;
    if (mb_text_json_unescape(raw, o, raw.len, &n) != 0) {
        luaL_pushresultsize(&b, 0);
        lua_pop(L, 1);
        return s_bad(r, "bad escape");
    }
    luaL_pushresultsize(&b, n);
    return 0;
}

/* ---- AttributeValue JSON -> Lua ---- */

static int s_av(lua_State *L, s_reader *r, int depth);

/* Scan a string value and push nothing: *s views the raw text, which must hold no escapes
 * (type tags, numbers). */
static int s_plain_string(s_reader *r, mb_cur *s, const char *what) {
    bool escaped;
    if (!s_eat(r, '"')) {
        return s_bad(r, what);
    }
    int rc = s_scan_string(r, s, &escaped);
    return rc ? rc : (escaped ? s_bad(r, what) : 0);
}

static int s_push_string_value(lua_State *L, s_reader *r) {
    mb_cur raw;
    bool escaped;
    if (!s_eat(r, '"')) {
        return s_bad(r, "expected a string");
    }
    int rc = s_scan_string(r, &raw, &escaped);
    return rc ? rc : s_push_string(L, r, raw, escaped);
}

/* A map key or an object field name: a string, through the name cache when it has no escape. */
static int s_push_name(lua_State *L, s_reader *r) {
    mb_cur raw;
    bool escaped;
    if (!s_eat(r, '"')) {
        return s_bad(r, "expected a string");
    }
    int rc = s_scan_string(r, &raw, &escaped);
    if (rc != 0 || escaped) {
        return rc ? rc : s_push_string(L, r, raw, escaped);
    }
    s_push_name_raw(L, r, raw);
    return 0;
}

/* A B value or BS member -> a binary value (the same kind ctx.db.binary makes, so writing it
 * back sends B again). The text is decoded straight into the userdata, sized exactly. */
static int s_push_base64(lua_State *L, s_reader *r) {
    int rc = s_push_string_value(L, r); /* stack: ..., text */
    if (rc != 0) {
        return rc;
    }
    size_t n, len = 0;
    const char *text = lua_tolstring(L, -1, &n);
    size_t pad = (n >= 1 && text[n - 1] == '=') + (n >= 2 && text[n - 2] == '=');
    size_t body = n - pad, want = body / 4 * 3 + (body % 4 ? body % 4 - 1 : 0);
    if (n % 4 != 0) {
        lua_pop(L, 1);
        return s_bad(r, "bad base64");
    }
    unsigned char *o = mb_ddb_value_new_binary(L, want); /* stack: ..., text, binary */
    if (mb_base64_decode_to((mb_cur){text, n}, o, want, &len) != 0 || len != want) {
        lua_pop(L, 2);
        return s_bad(r, "bad base64");
    }
    lua_remove(L, -2); /* stack: ..., binary */
    return 0;
}

static int s_push_number_value(lua_State *L, s_reader *r) {
    mb_cur s;
    int rc = s_plain_string(r, &s, "N must be a string");
    return rc ? rc : mb_ddb_value_push_n(L, s, r->err);
}

/* Build the table of the n key/value pairs (or n values when keys is false) above slot, which
 * the parse reserved for it. Sized once: filling a table as the parse goes would rehash it at
 * every power of two. Each lua_rawset pops one pair, so nothing is copied. */
static void s_collect(lua_State *L, int slot, int n, bool keys) {
    lua_createtable(L, keys ? 0 : n, keys ? n : 0); /* stack: slot, pairs..., table */
    lua_replace(L, slot);                           /* stack: table, pairs... */
    for (int i = n; i > 0; i--) {
        if (keys) {
            lua_rawset(L, slot); /* pops the last pair */
        } else {
            lua_rawseti(L, slot, i);
        }
    }
}

/* Entries of a map or list are left on the stack until the table is built: room is made for
 * S_BATCH more at a time, plus S_SLACK for what reading one value pushes meanwhile (a set, a
 * base64 text and its buffer, the first entries of a nested map, which checks for itself). */
#define S_BATCH 16
#define S_SLACK 8

static bool s_room(lua_State *L, int n) {
    return n % S_BATCH != 0 || (n < INT32_MAX / 4 && lua_checkstack(L, 2 * S_BATCH + S_SLACK));
}

/* {"name": AttributeValue, ...} -> table. */
static int s_av_map(lua_State *L, s_reader *r, int depth) {
    if (!s_eat(r, '{')) {
        return s_bad(r, "expected an object of attributes");
    }
    lua_pushnil(L); /* the slot of the table, built at the end; stack room: the caller's */
    int slot = lua_gettop(L), n = 0;
    if (!s_eat(r, '}')) {
        do {
            if (!s_room(L, n)) {
                return mb_err_set(r->err, MB_ERR_LIMIT, "ddb: too many attributes");
            }
            int rc = s_push_name(L, r); /* stack: ..., name */
            if (rc == 0 && !s_eat(r, ':')) {
                rc = s_bad(r, "expected ':'");
            }
            rc = rc ? rc : s_av(L, r, depth); /* stack: ..., name, value */
            if (rc != 0) {
                return rc;
            }
            n++;
        } while (s_eat(r, ','));
        if (!s_eat(r, '}')) {
            return s_bad(r, "expected ',' or '}'");
        }
    }
    s_collect(L, slot, n, true);
    return 0;
}

static int s_av_list(lua_State *L, s_reader *r, int depth) {
    if (!s_eat(r, '[')) {
        return s_bad(r, "L must be an array");
    }
    lua_pushnil(L); /* the slot of the table, built at the end; stack room: the caller's */
    int slot = lua_gettop(L), n = 0;
    if (!s_eat(r, ']')) {
        do {
            if (!s_room(L, n)) {
                return mb_err_set(r->err, MB_ERR_LIMIT, "ddb: list too long");
            }
            int rc = s_av(L, r, depth);
            if (rc != 0) {
                return rc;
            }
            n++;
        } while (s_eat(r, ','));
        if (!s_eat(r, ']')) {
            return s_bad(r, "expected ',' or ']'");
        }
    }
    s_collect(L, slot, n, false); /* stack: ..., list */
    if (r->array_mt) {            /* an empty L must stay a list on the way back */
        lua_pushvalue(L, r->array_mt);
        lua_setmetatable(L, -2);
    }
    return 0;
}

static int s_av_set(lua_State *L, s_reader *r, char kind) {
    if (!s_eat(r, '[')) {
        return s_bad(r, "a set must be an array");
    }
    lua_newtable(L); /* stack: ..., set */
    char t[3] = {kind, 'S', 0};
    lua_pushstring(L, t);
    lua_setfield(L, -2, "type");
    s_push_set_mt(L);
    lua_setmetatable(L, -2);
    lua_Integer n = 0;
    do {
        int rc = kind == 'S'   ? s_push_string_value(L, r)
                 : kind == 'N' ? s_push_number_value(L, r)
                               : s_push_base64(L, r);
        if (rc != 0) {
            return rc;
        }
        lua_rawseti(L, -2, ++n);
    } while (s_eat(r, ','));
    return s_eat(r, ']') ? 0 : s_bad(r, "expected ',' or ']' in a set");
}

static int s_av_bool(lua_State *L, s_reader *r, bool null) {
    s_ws(r);
    if (s_lit_match(r, "true", 4)) {
        if (null) {
            mb_lua_aux_push_null(L);
        } else {
            lua_pushboolean(L, 1);
        }
        return 0;
    }
    if (!null && s_lit_match(r, "false", 5)) {
        lua_pushboolean(L, 0);
        return 0;
    }
    return s_bad(r, null ? "NULL must be true" : "BOOL must be true or false");
}

static int s_av_nested(lua_State *L, s_reader *r, char kind, int depth) {
    if (depth >= S_MAX_NEST) { /* the writer's bound: what it sends, it reads back */
        return mb_err_set(r->err, MB_ERR_LIMIT,
                          "ddb: maps and lists nested deeper than %d levels (%d with the item)",
                          S_MAX_NEST, MB_DDB_MAX_DEPTH);
    }
    return kind == 'M' ? s_av_map(L, r, depth + 1) : s_av_list(L, r, depth + 1);
}

static int s_av_dispatch(lua_State *L, s_reader *r, mb_cur tag, int depth) {
    char c = tag.ptr[0];
    if (tag.len == 1) {
        switch (c) {
        case 'S':
            return s_push_string_value(L, r);
        case 'N':
            return s_push_number_value(L, r);
        case 'B':
            return s_push_base64(L, r);
        case 'M':
        case 'L':
            return s_av_nested(L, r, c, depth);
        default:
            break;
        }
    } else if (tag.len == 2 && tag.ptr[1] == 'S' && (c == 'S' || c == 'N' || c == 'B')) {
        return s_av_set(L, r, c);
    } else if (tag.len == 4 &&
               (memcmp(tag.ptr, "BOOL", 4) == 0 || memcmp(tag.ptr, "NULL", 4) == 0)) {
        return s_av_bool(L, r, c == 'N');
    }
    return s_bad(r, "unknown type tag");
}

/* The type tag of an AttributeValue ("S", "BOOL"...): 1 to 4 bytes before a quote, found with
 * one memchr rather than the general string scanner; anything else is an unknown tag. */
static int s_tag(s_reader *r, mb_cur *tag) {
    if (!s_eat(r, '"')) {
        return s_bad(r, "unknown type tag");
    }
    size_t avail = (size_t)(r->end - r->p);
    const char *q = memchr(r->p, '"', avail < 5 ? avail : 5);
    if (!q || q == r->p) {
        return s_bad(r, "unknown type tag");
    }
    *tag = (mb_cur){r->p, (size_t)(q - r->p)};
    r->p = q + 1;
    return 0;
}

/* {"<tag>": value} -> the Lua value. */
/* {"<tag>": of compact JSON, as DynamoDB sends it, matched in place: true when found. */
static bool s_compact_tag(s_reader *r, mb_cur *tag) {
    const char *p = r->p;
    if (r->end - p < 8 || p[0] != '{' || p[1] != '"') {
        return false;
    }
    for (int n = 1; n <= 4; n++) {
        if (p[2 + n] == '"') {
            if (p[3 + n] != ':') {
                return false;
            }
            *tag = (mb_cur){p + 2, (size_t)n};
            r->p = p + 4 + n;
            return true;
        }
    }
    return false;
}

/* {"<tag>": with whitespace anywhere. */
static int s_spaced_tag(s_reader *r, mb_cur *tag) {
    if (!s_eat(r, '{')) {
        return s_bad(r, "an AttributeValue must be an object");
    }
    if (s_eat(r, '}')) {
        return s_bad(r, "AttributeValue without a type tag");
    }
    int rc = s_tag(r, tag);
    if (rc == 0 && !s_eat(r, ':')) {
        rc = s_bad(r, "expected ':'");
    }
    return rc;
}

static int s_av(lua_State *L, s_reader *r, int depth) {
    mb_cur tag = {0}; /* stack room: the caller's (s_room) */
    int rc = s_compact_tag(r, &tag) ? 0 : s_spaced_tag(r, &tag);
    rc = rc ? rc : s_av_dispatch(L, r, tag, depth);
    if (rc == 0 && !s_eat(r, '}')) {
        rc = s_bad(r, r->p < r->end && *r->p == ',' ? "two type tags in one AttributeValue"
                                                    : "expected '}'");
    }
    return rc;
}

typedef int (*s_parse_fn)(lua_State *L, s_reader *r, int depth);

static int s_run(lua_State *L, mb_cur json, mb_err *err, s_parse_fn fn) {
    int top = lua_gettop(L);
    if (!lua_checkstack(L, S_SLACK + 3)) {
        return mb_err_set(err, MB_ERR_NOMEM, "ddb: Lua stack exhausted");
    }
    luaL_getmetatable(L, MB_LUA_ARRAY_MT);      /* stack: ..., array_mt (nil when not registered) */
    s_name_cache *cache = s_push_name_cache(L); /* stack: ..., array_mt, cache, names */
    s_reader r = {
        json.ptr, json.ptr + json.len, err, lua_istable(L, top + 1) ? top + 1 : 0, top + 3, cache};
    int rc = json.len ? fn(L, &r, 0) : s_bad(&r, "empty");
    if (rc == 0) {
        s_ws(&r);
        rc = r.p == r.end ? 0 : s_bad(&r, "trailing bytes");
    }
    if (rc != 0) {
        lua_settop(L, top);
        return rc;
    }
    lua_replace(L, top + 1); /* stack: ..., value, cache, names */
    lua_settop(L, top + 1);  /* stack: ..., value */
    return 0;
}

int mb_ddb_marshal_unmarshal_value(lua_State *L, mb_cur json, mb_err *err) {
    return s_run(L, json, err, s_av);
}

int mb_ddb_marshal_unmarshal_item(lua_State *L, mb_cur json, mb_err *err) {
    return s_run(L, json, err, s_av_map);
}

/* ---- response envelopes ---- */

static int s_json(lua_State *L, s_reader *r, int depth);

static int s_item_list_value(lua_State *L, s_reader *r, int depth) {
    (void)depth;
    if (!s_eat(r, '[')) {
        return s_bad(r, "expected a list of items");
    }
    lua_newtable(L); /* stack: ..., list */
    if (s_eat(r, ']')) {
        return 0;
    }
    lua_Integer n = 0;
    do {
        int rc = s_av_map(L, r, 0);
        if (rc != 0) {
            return rc;
        }
        lua_rawseti(L, -2, ++n);
    } while (s_eat(r, ','));
    return s_eat(r, ']') ? 0 : s_bad(r, "expected ',' or ']'");
}

/* Responses: {"table": [item, ...], ...}. */
static int s_responses_value(lua_State *L, s_reader *r, int depth) {
    if (!s_eat(r, '{')) {
        return s_bad(r, "Responses must be an object");
    }
    lua_newtable(L);
    if (s_eat(r, '}')) {
        return 0;
    }
    do {
        int rc = s_push_string_value(L, r);
        if (rc == 0 && !s_eat(r, ':')) {
            rc = s_bad(r, "expected ':'");
        }
        rc = rc ? rc : s_item_list_value(L, r, depth);
        if (rc != 0) {
            return rc;
        }
        lua_rawset(L, -3);
    } while (s_eat(r, ','));
    return s_eat(r, '}') ? 0 : s_bad(r, "expected ',' or '}'");
}

/* An item field of the envelope (Item, Attributes...): its attributes nest from level 0 whatever
 * the envelope's depth, as the writer counts them (reading them at the envelope's depth once made
 * an item that put accepted too deep for get). */
static int s_item_value(lua_State *L, s_reader *r, int depth) {
    (void)depth;
    return s_av_map(L, r, 0);
}

static s_parse_fn s_field_parser(mb_cur key, bool escaped) {
    if (escaped) {
        return s_json;
    }
    if (s_is_item_field(key.ptr, key.len)) {
        return s_item_value;
    }
    if (s_is_item_list_field(key.ptr, key.len)) {
        return s_item_list_value;
    }
    if (key.len == 9 && memcmp(key.ptr, "Responses", 9) == 0) {
        return s_responses_value;
    }
    return s_json;
}

static int s_json_object(lua_State *L, s_reader *r, int depth) {
    lua_newtable(L); /* stack: ..., object */
    if (s_eat(r, '}')) {
        return 0;
    }
    do {
        mb_cur key;
        bool escaped;
        int rc = s_eat(r, '"') ? s_scan_string(r, &key, &escaped) : s_bad(r, "expected a key");
        if (rc == 0 && !escaped) {
            s_push_name_raw(L, r, key); /* stack: ..., object, key */
        } else if (rc == 0) {
            rc = s_push_string(L, r, key, escaped);
        }
        if (rc == 0 && !s_eat(r, ':')) {
            rc = s_bad(r, "expected ':'");
        }
        rc = rc ? rc : s_field_parser(key, escaped)(L, r, depth + 1);
        if (rc != 0) {
            return rc;
        }
        lua_rawset(L, -3);
    } while (s_eat(r, ','));
    return s_eat(r, '}') ? 0 : s_bad(r, "expected ',' or '}'");
}

static int s_json_array(lua_State *L, s_reader *r, int depth) {
    lua_newtable(L);
    if (s_eat(r, ']')) {
        return 0;
    }
    lua_Integer n = 0;
    do {
        int rc = s_json(L, r, depth + 1);
        if (rc != 0) {
            return rc;
        }
        lua_rawseti(L, -2, ++n);
    } while (s_eat(r, ','));
    return s_eat(r, ']') ? 0 : s_bad(r, "expected ',' or ']'");
}

/* A plain JSON number of the envelope (Count, CapacityUnits): read by DynamoDB's number rules. */
static int s_json_number(lua_State *L, s_reader *r) {
    const char *start = r->p;
    while (r->p < r->end && strchr("+-.eE0123456789", *r->p)) {
        r->p++;
    }
    mb_cur text = {start, (size_t)(r->p - start)};
    return mb_ddb_value_push_n(L, text, NULL) == 0 ? 0 : s_bad(r, "bad number");
}

static int s_json(lua_State *L, s_reader *r, int depth) {
    if (depth > MB_DDB_MAX_ENVELOPE_DEPTH + MB_DDB_MAX_DEPTH || !lua_checkstack(L, 8)) {
        return mb_err_set(r->err, MB_ERR_LIMIT, "ddb: response nested too deeply");
    }
    s_ws(r);
    if (r->p >= r->end) {
        return s_bad(r, "unexpected end");
    }
    switch (*r->p) {
    case '{':
        r->p++;
        return s_json_object(L, r, depth);
    case '[':
        r->p++;
        return s_json_array(L, r, depth);
    case '"':
        return s_push_string_value(L, r);
    case 't':
    case 'f':
        return s_av_bool(L, r, false);
    case 'n':
        if (s_lit_match(r, "null", 4)) {
            mb_lua_aux_push_null(L);
            return 0;
        }
        return s_bad(r, "bad literal");
    default:
        return s_json_number(L, r);
    }
}

int mb_ddb_marshal_unmarshal_response(lua_State *L, mb_cur json, mb_err *err) {
    return s_run(L, json, err, s_json);
}
