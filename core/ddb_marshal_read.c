/* ddb_marshal_read.c - DynamoDB AttributeValue JSON -> Lua values
 * (mb_ddb_marshal_unmarshal_value, mb_ddb_marshal_unmarshal_item), in one pass from the
 * response bytes. See ddb_marshal_priv.h for the parts. */
#include "ddb_marshal_priv.h"

#include <lauxlib.h>

#include "moonbase/base64.h"
#include "moonbase/ddb_value.h"

int mb_ddb_marshal_bad(mb_ddb_marshal_reader *r, const char *what) {
    return mb_err_set(r->err, MB_ERR_INVALID, "ddb: malformed response: %s", what);
}

bool mb_ddb_marshal_lit_match(mb_ddb_marshal_reader *r, const char *lit, size_t n) {
    if ((size_t)(r->end - r->p) >= n && memcmp(r->p, lit, n) == 0) {
        r->p += n;
        return true;
    }
    return false;
}

/* The rest of a string literal: escapes, UTF-8 to validate, or an error (the text kernel's
 * scanner, from the opening quote again). Kept out of line so that the common case below stays
 * small. */
__attribute__((noinline)) int mb_ddb_marshal_scan_rest(mb_ddb_marshal_reader *r, mb_cur *raw,
                                                       bool *escaped) {
    size_t len;
    const char *why;
    if (mb_text_json_scan_string(r->p, (size_t)(r->end - r->p), &len, escaped, &why) != 0) {
        return mb_ddb_marshal_bad(r, why);
    }
    *raw = (mb_cur){r->p, len};
    r->p += len + 1;
    return 0;
}

/* Push the decoded string of a scanned literal. */
int mb_ddb_marshal_push_string(lua_State *L, mb_ddb_marshal_reader *r, mb_cur raw, bool escaped) {
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
        return mb_ddb_marshal_bad(r, "bad escape");
    }
    luaL_pushresultsize(&b, n);
    return 0;
}

static int s_av(lua_State *L, mb_ddb_marshal_reader *r, int depth);

/* Scan a string value and push nothing: *s views the raw text, which must hold no escapes
 * (type tags, numbers). */
static int s_plain_string(mb_ddb_marshal_reader *r, mb_cur *s, const char *what) {
    bool escaped;
    if (!mb_ddb_marshal_eat(r, '"')) {
        return mb_ddb_marshal_bad(r, what);
    }
    int rc = mb_ddb_marshal_scan_string(r, s, &escaped);
    return rc ? rc : (escaped ? mb_ddb_marshal_bad(r, what) : 0);
}

int mb_ddb_marshal_push_string_value(lua_State *L, mb_ddb_marshal_reader *r) {
    mb_cur raw;
    bool escaped;
    if (!mb_ddb_marshal_eat(r, '"')) {
        return mb_ddb_marshal_bad(r, "expected a string");
    }
    int rc = mb_ddb_marshal_scan_string(r, &raw, &escaped);
    return rc ? rc : mb_ddb_marshal_push_string(L, r, raw, escaped);
}

/* A map key or an object field name: a string, through the name cache when it has no escape. */
static int s_push_name(lua_State *L, mb_ddb_marshal_reader *r) {
    mb_cur raw;
    bool escaped;
    if (!mb_ddb_marshal_eat(r, '"')) {
        return mb_ddb_marshal_bad(r, "expected a string");
    }
    int rc = mb_ddb_marshal_scan_string(r, &raw, &escaped);
    if (rc != 0 || escaped) {
        return rc ? rc : mb_ddb_marshal_push_string(L, r, raw, escaped);
    }
    mb_ddb_marshal_push_name_raw(L, r, raw);
    return 0;
}

/* A B value or BS member -> a binary value (the same kind ctx.db.binary makes, so writing it
 * back sends B again). The text is decoded straight into the userdata, sized exactly. */
static int s_push_base64(lua_State *L, mb_ddb_marshal_reader *r) {
    int rc = mb_ddb_marshal_push_string_value(L, r); /* stack: ..., text */
    if (rc != 0) {
        return rc;
    }
    size_t n, len = 0;
    const char *text = lua_tolstring(L, -1, &n);
    size_t pad = (n >= 1 && text[n - 1] == '=') + (n >= 2 && text[n - 2] == '=');
    size_t body = n - pad, want = body / 4 * 3 + (body % 4 ? body % 4 - 1 : 0);
    if (n % 4 != 0) {
        lua_pop(L, 1);
        return mb_ddb_marshal_bad(r, "bad base64");
    }
    unsigned char *o = mb_ddb_value_new_binary(L, want); /* stack: ..., text, binary */
    if (mb_base64_decode_to((mb_cur){text, n}, o, want, &len) != 0 || len != want) {
        lua_pop(L, 2);
        return mb_ddb_marshal_bad(r, "bad base64");
    }
    lua_remove(L, -2); /* stack: ..., binary */
    return 0;
}

static int s_push_number_value(lua_State *L, mb_ddb_marshal_reader *r) {
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

/* The entries of a map ("name": AttributeValue pairs, keys set) or a list (AttributeValues)
 * after its opening bracket, up to close, into the table built in slot. Inline: each caller gets
 * its own copy with keys constant, and the map's is the hottest loop of unmarshalling. */
static inline int s_entries(lua_State *L, mb_ddb_marshal_reader *r, int depth, bool keys,
                            char close) {
    lua_pushnil(L); /* the slot of the table, built at the end; stack room: the caller's */
    int slot = lua_gettop(L), n = 0;
    if (!mb_ddb_marshal_eat(r, close)) {
        do {
            if (!s_room(L, n)) {
                return mb_err_set(r->err, MB_ERR_LIMIT,
                                  keys ? "ddb: too many attributes" : "ddb: list too long");
            }
            int rc = keys ? s_push_name(L, r) : 0; /* stack: ..., name */
            if (rc == 0 && keys && !mb_ddb_marshal_eat(r, ':')) {
                rc = mb_ddb_marshal_bad(r, "expected ':'");
            }
            rc = rc ? rc : s_av(L, r, depth); /* stack: ..., [name,] value */
            if (rc != 0) {
                return rc;
            }
            n++;
        } while (mb_ddb_marshal_eat(r, ','));
        if (!mb_ddb_marshal_eat(r, close)) {
            return mb_ddb_marshal_bad(r, keys ? "expected ',' or '}'" : "expected ',' or ']'");
        }
    }
    s_collect(L, slot, n, keys);
    return 0;
}

/* {"name": AttributeValue, ...} -> table. */
int mb_ddb_marshal_read_map(lua_State *L, mb_ddb_marshal_reader *r, int depth) {
    if (!mb_ddb_marshal_eat(r, '{')) {
        return mb_ddb_marshal_bad(r, "expected an object of attributes");
    }
    return s_entries(L, r, depth, true, '}');
}

static int s_av_list(lua_State *L, mb_ddb_marshal_reader *r, int depth) {
    if (!mb_ddb_marshal_eat(r, '[')) {
        return mb_ddb_marshal_bad(r, "L must be an array");
    }
    int rc = s_entries(L, r, depth, false, ']'); /* stack: ..., list */
    if (rc == 0 && r->array_mt) {                /* an empty L must stay a list on the way back */
        lua_pushvalue(L, r->array_mt);
        lua_setmetatable(L, -2);
    }
    return rc;
}

static int s_av_set(lua_State *L, mb_ddb_marshal_reader *r, char kind) {
    if (!mb_ddb_marshal_eat(r, '[')) {
        return mb_ddb_marshal_bad(r, "a set must be an array");
    }
    lua_newtable(L); /* stack: ..., set */
    char t[3] = {kind, 'S', 0};
    lua_pushstring(L, t);
    lua_setfield(L, -2, "type");
    mb_ddb_marshal_push_set_mt(L);
    lua_setmetatable(L, -2);
    lua_Integer n = 0;
    do {
        int rc = kind == 'S'   ? mb_ddb_marshal_push_string_value(L, r)
                 : kind == 'N' ? s_push_number_value(L, r)
                               : s_push_base64(L, r);
        if (rc != 0) {
            return rc;
        }
        lua_rawseti(L, -2, ++n);
    } while (mb_ddb_marshal_eat(r, ','));
    return mb_ddb_marshal_eat(r, ']') ? 0 : mb_ddb_marshal_bad(r, "expected ',' or ']' in a set");
}

int mb_ddb_marshal_read_bool(lua_State *L, mb_ddb_marshal_reader *r, bool null) {
    mb_ddb_marshal_ws(r);
    if (mb_ddb_marshal_lit_match(r, "true", 4)) {
        if (null) {
            mb_lua_aux_push_null(L);
        } else {
            lua_pushboolean(L, 1);
        }
        return 0;
    }
    if (!null && mb_ddb_marshal_lit_match(r, "false", 5)) {
        lua_pushboolean(L, 0);
        return 0;
    }
    return mb_ddb_marshal_bad(r, null ? "NULL must be true" : "BOOL must be true or false");
}

static int s_av_nested(lua_State *L, mb_ddb_marshal_reader *r, char kind, int depth) {
    if (depth >= MB_DDB_MARSHAL_MAX_NEST) { /* the writer's bound: what it sends, it reads back */
        return mb_err_set(r->err, MB_ERR_LIMIT,
                          "ddb: maps and lists nested deeper than %d levels (%d with the item)",
                          MB_DDB_MARSHAL_MAX_NEST, MB_DDB_MAX_DEPTH);
    }
    return kind == 'M' ? mb_ddb_marshal_read_map(L, r, depth + 1) : s_av_list(L, r, depth + 1);
}

static int s_av_dispatch(lua_State *L, mb_ddb_marshal_reader *r, mb_cur tag, int depth) {
    char c = tag.ptr[0];
    if (tag.len == 1) {
        switch (c) {
        case 'S':
            return mb_ddb_marshal_push_string_value(L, r);
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
        return mb_ddb_marshal_read_bool(L, r, c == 'N');
    }
    return mb_ddb_marshal_bad(r, "unknown type tag");
}

/* The type tag of an AttributeValue ("S", "BOOL"...): 1 to 4 bytes before a quote, found with
 * one memchr rather than the general string scanner; anything else is an unknown tag. */
static int s_tag(mb_ddb_marshal_reader *r, mb_cur *tag) {
    if (!mb_ddb_marshal_eat(r, '"')) {
        return mb_ddb_marshal_bad(r, "unknown type tag");
    }
    size_t avail = (size_t)(r->end - r->p);
    const char *q = memchr(r->p, '"', avail < 5 ? avail : 5);
    if (!q || q == r->p) {
        return mb_ddb_marshal_bad(r, "unknown type tag");
    }
    *tag = (mb_cur){r->p, (size_t)(q - r->p)};
    r->p = q + 1;
    return 0;
}

/* {"<tag>": value} -> the Lua value. */
/* {"<tag>": of compact JSON, as DynamoDB sends it, matched in place: true when found. */
static bool s_compact_tag(mb_ddb_marshal_reader *r, mb_cur *tag) {
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
static int s_spaced_tag(mb_ddb_marshal_reader *r, mb_cur *tag) {
    if (!mb_ddb_marshal_eat(r, '{')) {
        return mb_ddb_marshal_bad(r, "an AttributeValue must be an object");
    }
    if (mb_ddb_marshal_eat(r, '}')) {
        return mb_ddb_marshal_bad(r, "AttributeValue without a type tag");
    }
    int rc = s_tag(r, tag);
    if (rc == 0 && !mb_ddb_marshal_eat(r, ':')) {
        rc = mb_ddb_marshal_bad(r, "expected ':'");
    }
    return rc;
}

static int s_av(lua_State *L, mb_ddb_marshal_reader *r, int depth) {
    mb_cur tag = {0}; /* stack room: the caller's (s_room) */
    int rc = s_compact_tag(r, &tag) ? 0 : s_spaced_tag(r, &tag);
    rc = rc ? rc : s_av_dispatch(L, r, tag, depth);
    if (rc == 0 && !mb_ddb_marshal_eat(r, '}')) {
        rc = mb_ddb_marshal_bad(r, r->p < r->end && *r->p == ','
                                       ? "two type tags in one AttributeValue"
                                       : "expected '}'");
    }
    return rc;
}

typedef int (*mb_ddb_marshal_parse_fn)(lua_State *L, mb_ddb_marshal_reader *r, int depth);

int mb_ddb_marshal_run(lua_State *L, mb_cur json, mb_err *err, mb_ddb_marshal_parse_fn fn) {
    int top = lua_gettop(L);
    if (!lua_checkstack(L, S_SLACK + 3)) {
        return mb_err_set(err, MB_ERR_NOMEM, "ddb: Lua stack exhausted");
    }
    luaL_getmetatable(L, MB_LUA_ARRAY_MT); /* stack: ..., array_mt (nil when not registered) */
    mb_ddb_marshal_names *cache =
        mb_ddb_marshal_names_push(L); /* stack: ..., array_mt, cache, names */
    mb_ddb_marshal_reader r = {
        json.ptr, json.ptr + json.len, err, lua_istable(L, top + 1) ? top + 1 : 0, top + 3, cache};
    int rc = json.len ? fn(L, &r, 0) : mb_ddb_marshal_bad(&r, "empty");
    if (rc == 0) {
        mb_ddb_marshal_ws(&r);
        rc = r.p == r.end ? 0 : mb_ddb_marshal_bad(&r, "trailing bytes");
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
    return mb_ddb_marshal_run(L, json, err, s_av);
}

int mb_ddb_marshal_unmarshal_item(lua_State *L, mb_cur json, mb_err *err) {
    return mb_ddb_marshal_run(L, json, err, mb_ddb_marshal_read_map);
}
