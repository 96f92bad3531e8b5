/* ddb_marshal_request.c - DynamoDB request and response envelopes: plain JSON whose item-valued
 * fields go through the AttributeValue writer and reader (mb_ddb_marshal_request,
 * mb_ddb_marshal_unmarshal_response). See ddb_marshal_priv.h for the parts. */
#include "ddb_marshal_priv.h"

#include <lauxlib.h>

#include "moonbase/ddb_value.h"

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

static int s_plain(mb_ddb_marshal_writer *w, int idx, int depth);

static int s_item_list(mb_ddb_marshal_writer *w, int idx) {
    lua_State *L = w->L;
    lua_Integer n = 0;
    int kind = lua_type(L, idx) == LUA_TTABLE ? mb_ddb_marshal_table_kind(w, idx, &n) : -1;
    if (kind != MB_DDB_MARSHAL_LIST && !(kind == MB_DDB_MARSHAL_MAP && n == 0)) {
        return mb_err_set(w->err, MB_ERR_INVALID, "ddb: Keys/Items must be a list of items");
    }
    int rc = MB_DDB_MARSHAL_LIT(w, "[");
    for (lua_Integer i = 1; rc == 0 && i <= n; i++) {
        rc = i > 1 ? MB_DDB_MARSHAL_LIT(w, ",") : 0;
        lua_rawgeti(L, idx, i);
        rc = rc ? rc : mb_ddb_marshal_put_item(w, lua_gettop(L));
        lua_pop(L, 1);
    }
    return rc ? rc : MB_DDB_MARSHAL_LIT(w, "]");
}

/* "name":value for the key and value on top of the stack; item fields are marshalled as items. */
static int s_plain_field(mb_ddb_marshal_writer *w, bool first, int depth) {
    lua_State *L = w->L;
    if (lua_type(L, -2) != LUA_TSTRING) { /* lua_tolstring would break 'next' */
        return mb_err_set(w->err, MB_ERR_INVALID, "ddb: object key is not a string");
    }
    mb_cur k = mb_ddb_marshal_string_cur(L, -2);
    int v = lua_gettop(L);
    int rc = first ? mb_ddb_marshal_put_string(w, "", 0, k, ":", 1)
                   : mb_ddb_marshal_put_string(w, ",", 1, k, ":", 1);
    if (rc == 0 && s_is_item_field(k.ptr, k.len)) {
        rc = mb_ddb_marshal_put_item(w, v);
    } else if (rc == 0 && s_is_item_list_field(k.ptr, k.len)) {
        rc = s_item_list(w, v);
    } else if (rc == 0) {
        rc = s_plain(w, v, depth + 1);
    }
    return rc;
}

static int s_plain_object(mb_ddb_marshal_writer *w, int idx, int depth) {
    lua_State *L = w->L;
    int rc = MB_DDB_MARSHAL_LIT(w, "{");
    bool first = true;
    lua_pushnil(L);                            /* stack: ..., key */
    while (rc == 0 && lua_next(L, idx) != 0) { /* stack: ..., key, value */
        rc = s_plain_field(w, first, depth);
        lua_pop(L, rc ? 2 : 1); /* stack: ..., key (or nothing: the loop ends) */
        first = false;
    }
    return rc ? rc : MB_DDB_MARSHAL_LIT(w, "}");
}

static int s_plain_table(mb_ddb_marshal_writer *w, int idx, int depth) {
    lua_State *L = w->L;
    lua_Integer n;
    int kind = mb_ddb_marshal_table_kind(w, idx, &n);
    if (kind < 0) {
        return kind;
    }
    if (kind == MB_DDB_MARSHAL_MAP) {
        return s_plain_object(w, idx, depth);
    }
    if (kind != MB_DDB_MARSHAL_LIST) {
        return mb_err_set(w->err, MB_ERR_INVALID, "ddb: a set or binary outside an item");
    }
    int rc = MB_DDB_MARSHAL_LIT(w, "[");
    for (lua_Integer i = 1; rc == 0 && i <= n; i++) {
        rc = i > 1 ? MB_DDB_MARSHAL_LIT(w, ",") : 0;
        lua_rawgeti(L, idx, i);
        rc = rc ? rc : s_plain(w, lua_gettop(L), depth + 1);
        lua_pop(L, 1);
    }
    return rc ? rc : MB_DDB_MARSHAL_LIT(w, "]");
}

static int s_plain(mb_ddb_marshal_writer *w, int idx, int depth) {
    lua_State *L = w->L;
    if (depth > MB_DDB_MAX_ENVELOPE_DEPTH || !lua_checkstack(L, MB_DDB_MARSHAL_LEVEL_SLOTS)) {
        return mb_err_set(w->err, MB_ERR_LIMIT, "ddb: request nested too deeply");
    }
    switch (lua_type(L, idx)) {
    case LUA_TSTRING:
        return MB_DDB_MARSHAL_STRING_AT(w, "", idx, "");
    case LUA_TNUMBER:
        return mb_ddb_marshal_put_number(w, idx);
    case LUA_TBOOLEAN:
        return lua_toboolean(L, idx) ? MB_DDB_MARSHAL_LIT(w, "true")
                                     : MB_DDB_MARSHAL_LIT(w, "false");
    case LUA_TNIL:
        return MB_DDB_MARSHAL_LIT(w, "null");
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == NULL) {
            return MB_DDB_MARSHAL_LIT(w, "null");
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
    mb_ddb_marshal_writer w;
    int rc = lua_type(L, idx) == LUA_TTABLE
                 ? mb_ddb_marshal_writer_start(&w, L, out, err)
                 : mb_err_set(err, MB_ERR_INVALID, "ddb: a request must be a table");
    rc = rc ? rc : s_plain(&w, idx, 0);
    lua_settop(L, top);
    return mb_ddb_marshal_finish(out, rc);
}

/* ---- response envelopes ---- */

static int s_json(lua_State *L, mb_ddb_marshal_reader *r, int depth);

static int s_item_list_value(lua_State *L, mb_ddb_marshal_reader *r, int depth) {
    (void)depth;
    if (!mb_ddb_marshal_eat(r, '[')) {
        return mb_ddb_marshal_bad(r, "expected a list of items");
    }
    lua_newtable(L); /* stack: ..., list */
    if (mb_ddb_marshal_eat(r, ']')) {
        return 0;
    }
    lua_Integer n = 0;
    do {
        int rc = mb_ddb_marshal_read_map(L, r, 0);
        if (rc != 0) {
            return rc;
        }
        lua_rawseti(L, -2, ++n);
    } while (mb_ddb_marshal_eat(r, ','));
    return mb_ddb_marshal_eat(r, ']') ? 0 : mb_ddb_marshal_bad(r, "expected ',' or ']'");
}

/* Responses: {"table": [item, ...], ...}. */
static int s_responses_value(lua_State *L, mb_ddb_marshal_reader *r, int depth) {
    if (!mb_ddb_marshal_eat(r, '{')) {
        return mb_ddb_marshal_bad(r, "Responses must be an object");
    }
    lua_newtable(L);
    if (mb_ddb_marshal_eat(r, '}')) {
        return 0;
    }
    do {
        int rc = mb_ddb_marshal_push_string_value(L, r);
        if (rc == 0 && !mb_ddb_marshal_eat(r, ':')) {
            rc = mb_ddb_marshal_bad(r, "expected ':'");
        }
        rc = rc ? rc : s_item_list_value(L, r, depth);
        if (rc != 0) {
            return rc;
        }
        lua_rawset(L, -3);
    } while (mb_ddb_marshal_eat(r, ','));
    return mb_ddb_marshal_eat(r, '}') ? 0 : mb_ddb_marshal_bad(r, "expected ',' or '}'");
}

/* An item field of the envelope (Item, Attributes...): its attributes nest from level 0 whatever
 * the envelope's depth, as the writer counts them (reading them at the envelope's depth once made
 * an item that put accepted too deep for get). */
static int s_item_value(lua_State *L, mb_ddb_marshal_reader *r, int depth) {
    (void)depth;
    return mb_ddb_marshal_read_map(L, r, 0);
}

static mb_ddb_marshal_parse_fn s_field_parser(mb_cur key, bool escaped) {
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

static int s_json_object(lua_State *L, mb_ddb_marshal_reader *r, int depth) {
    lua_newtable(L); /* stack: ..., object */
    if (mb_ddb_marshal_eat(r, '}')) {
        return 0;
    }
    do {
        mb_cur key;
        bool escaped;
        int rc = mb_ddb_marshal_eat(r, '"') ? mb_ddb_marshal_scan_string(r, &key, &escaped)
                                            : mb_ddb_marshal_bad(r, "expected a key");
        if (rc == 0 && !escaped) {
            mb_ddb_marshal_push_name_raw(L, r, key); /* stack: ..., object, key */
        } else if (rc == 0) {
            rc = mb_ddb_marshal_push_string(L, r, key, escaped);
        }
        if (rc == 0 && !mb_ddb_marshal_eat(r, ':')) {
            rc = mb_ddb_marshal_bad(r, "expected ':'");
        }
        rc = rc ? rc : s_field_parser(key, escaped)(L, r, depth + 1);
        if (rc != 0) {
            return rc;
        }
        lua_rawset(L, -3);
    } while (mb_ddb_marshal_eat(r, ','));
    return mb_ddb_marshal_eat(r, '}') ? 0 : mb_ddb_marshal_bad(r, "expected ',' or '}'");
}

static int s_json_array(lua_State *L, mb_ddb_marshal_reader *r, int depth) {
    lua_newtable(L);
    if (mb_ddb_marshal_eat(r, ']')) {
        return 0;
    }
    lua_Integer n = 0;
    do {
        int rc = s_json(L, r, depth + 1);
        if (rc != 0) {
            return rc;
        }
        lua_rawseti(L, -2, ++n);
    } while (mb_ddb_marshal_eat(r, ','));
    return mb_ddb_marshal_eat(r, ']') ? 0 : mb_ddb_marshal_bad(r, "expected ',' or ']'");
}

/* A plain JSON number of the envelope (Count, CapacityUnits): read by DynamoDB's number rules. */
static int s_json_number(lua_State *L, mb_ddb_marshal_reader *r) {
    const char *start = r->p;
    while (r->p < r->end && strchr("+-.eE0123456789", *r->p)) {
        r->p++;
    }
    mb_cur text = {start, (size_t)(r->p - start)};
    return mb_ddb_value_push_n(L, text, NULL) == 0 ? 0 : mb_ddb_marshal_bad(r, "bad number");
}

static int s_json(lua_State *L, mb_ddb_marshal_reader *r, int depth) {
    if (depth > MB_DDB_MAX_ENVELOPE_DEPTH + MB_DDB_MAX_DEPTH || !lua_checkstack(L, 8)) {
        return mb_err_set(r->err, MB_ERR_LIMIT, "ddb: response nested too deeply");
    }
    mb_ddb_marshal_ws(r);
    if (r->p >= r->end) {
        return mb_ddb_marshal_bad(r, "unexpected end");
    }
    switch (*r->p) {
    case '{':
        r->p++;
        return s_json_object(L, r, depth);
    case '[':
        r->p++;
        return s_json_array(L, r, depth);
    case '"':
        return mb_ddb_marshal_push_string_value(L, r);
    case 't':
    case 'f':
        return mb_ddb_marshal_read_bool(L, r, false);
    case 'n':
        if (mb_ddb_marshal_lit_match(r, "null", 4)) {
            mb_lua_aux_push_null(L);
            return 0;
        }
        return mb_ddb_marshal_bad(r, "bad literal");
    default:
        return s_json_number(L, r);
    }
}

int mb_ddb_marshal_unmarshal_response(lua_State *L, mb_cur json, mb_err *err) {
    return mb_ddb_marshal_run(L, json, err, s_json);
}
