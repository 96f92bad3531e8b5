/* lua_db_expr.c - the expression builders of ctx.db (see lua_db_call.h): the sugar a handler
 * writes (exists, expect, set/remove/add/delete, begins_with, between) becomes DynamoDB
 * expressions whose every name and value is a generated placeholder ("#mb_3", ":mb_3"), so no
 * handler text is ever spliced into an expression unchecked. */
#include "lua_db_call.h"

#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "moonbase/ddb_marshal.h"

/* ctx.db.query's page bound (DynamoDB has none of its own below 1 MB). */
#define MAX_QUERY_LIMIT 1000

int mb_lua_db_opts(lua_State *L, int idx) {
    if (lua_isnoneornil(L, idx)) {
        return 0;
    }
    luaL_checktype(L, idx, LUA_TTABLE);
    return lua_absindex(L, idx);
}

void mb_lua_db_set_consistent(lua_State *L, int opts, int t) {
    lua_getfield(L, opts, "consistent");
    bool on = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (on) {
        lua_pushboolean(L, 1);
        lua_setfield(L, t, "ConsistentRead");
    }
}

/* A value given for an attribute (set/add/delete/expect) must be one DynamoDB can hold: checked
 * here, where the attribute's name is known, so the 400 names it rather than the generated
 * placeholder (":mb_3") the request carries. */
static void s_check_value(lua_State *L, mb_lua_db_call *c, int name_idx, int value_idx) {
    mb_buf *b = &c->st->value;
    mb_buf_reset(b);
    mb_err err = {0};
    int rc = mb_ddb_marshal_value(L, value_idx, b, &err);
    if (rc == MB_ERR_NOMEM) {
        luaL_error(L, "not enough memory");
    }
    if (rc != 0) {
        mb_err named = {0};
        mb_err_set(&named, rc, MB_DDB_MARSHAL_REFUSED "attribute \"%.64s\": %s",
                   lua_tostring(L, name_idx), mb_ddb_marshal_reason(&err));
        mb_lua_db_raise(L, c, rc, &named, NULL);
    }
}

/* Append "#mb_N<sep>:mb_N" to b (either part may be left out, index 0), registering the name
 * and the value in the request's maps. */
static void s_placeholder(lua_State *L, mb_lua_db_call *c, mb_buf *b, int name_idx, int value_idx,
                          const char *sep) {
    char ph[24];
    int n = ++c->next;
    if (name_idx) {
        snprintf(ph, sizeof ph, MB_LUA_DB_NAME_PREFIX "%d", n);
        lua_pushvalue(L, name_idx);
        lua_setfield(L, c->names, ph);
        mb_lua_db_appends(L, b, ph);
    }
    if (value_idx && name_idx) {
        s_check_value(L, c, name_idx, value_idx);
    }
    if (value_idx) {
        snprintf(ph, sizeof ph, MB_LUA_DB_VALUE_PREFIX "%d", n);
        lua_pushvalue(L, value_idx);
        lua_setfield(L, c->values, ph);
        if (name_idx) {
            mb_lua_db_appends(L, b, sep);
        }
        mb_lua_db_appends(L, b, ph);
    }
}

/* ConditionExpression from opts: exists = true|false, expect = {attr = value}, condition. */
static void s_condition(lua_State *L, mb_lua_db_call *c, int opts) {
    mb_buf *b = &c->st->cond;
    mb_buf_reset(b);
    if (!opts) {
        return;
    }
    int t = lua_getfield(L, opts, "exists"); /* stack: exists */
    if (t != LUA_TNIL) {
        luaL_argexpected(L, t == LUA_TBOOLEAN, 2, "exists must be a boolean");
        mb_lua_db_appends(
            L, b, lua_toboolean(L, -1) ? "attribute_exists(SK)" : "attribute_not_exists(SK)");
    }
    lua_pop(L, 1);
    if (lua_getfield(L, opts, "expect") != LUA_TNIL) { /* stack: expect */
        luaL_argexpected(L, lua_istable(L, -1), 2, "expect must be a table");
        lua_pushnil(L);
        while (lua_next(L, -2)) { /* stack: expect, k, v */
            mb_lua_db_check_attr(L, c, -2, "an expect key");
            mb_lua_db_appends(L, b, b->len ? " AND " : "");
            s_placeholder(L, c, b, lua_gettop(L) - 1, lua_gettop(L), " = ");
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    size_t n;
    const char *cond = mb_lua_db_opt_expr(L, c, opts, "condition", &n);
    if (cond) {
        mb_lua_db_appends(L, b, b->len ? " AND (" : "(");
        mb_lua_db_append(L, b, cond, n);
        mb_lua_db_appends(L, b, ")");
    }
    if (c->once) {
        /* A replay of this very call (the same token) is refused (lua_db.c, s_once). */
        mb_lua_db_appends(L, b, b->len ? " AND " : "");
        mb_lua_db_appends(L, b,
                          "(attribute_not_exists(" MB_LUA_DB_ONCE_NAME ") OR " MB_LUA_DB_ONCE_NAME
                          " <> " MB_LUA_DB_ONCE_VALUE ")");
    }
    if (b->len) {
        lua_pushlstring(L, b->ptr, b->len);
        lua_setfield(L, c->req, "ConditionExpression");
    }
}

const char *mb_lua_db_write_opts(lua_State *L, mb_lua_db_call *c, int opts,
                                 const char *ret_default) {
    const char *conflict = NULL;
    if (opts) {
        mb_lua_db_copy_names(L, c, opts);
        mb_lua_db_copy_values(L, c, opts);
        if (lua_getfield(L, opts, "conflict") == LUA_TSTRING) {
            conflict = lua_tostring(L, -1); /* referenced by opts */
        }
        lua_pop(L, 1);
    }
    s_condition(L, c, opts);
    const char *ret = ret_default;
    if (opts && lua_getfield(L, opts, "return") != LUA_TNIL) {
        static const char *const k_ret[] = {"NONE",        "ALL_OLD",     "ALL_NEW",
                                            "UPDATED_OLD", "UPDATED_NEW", NULL};
        ret = k_ret[luaL_checkoption(L, -1, NULL, k_ret)];
    }
    if (opts) {
        lua_pop(L, 1);
    }
    lua_pushstring(L, ret);
    lua_setfield(L, c->req, "ReturnValues");
    return conflict;
}

/* One update clause from opts[key]: SET/ADD/DELETE take {attr = value}, REMOVE takes {attr}. */
static void s_clause(lua_State *L, mb_lua_db_call *c, int opts, const char *key, int cl) {
    mb_buf *b = &c->st->clause[cl];
    mb_buf_reset(b);
    if (lua_getfield(L, opts, key) == LUA_TNIL) { /* stack: t */
        lua_pop(L, 1);
        return;
    }
    if (!lua_istable(L, -1)) {
        luaL_error(L, "%s: %s must be a table", c->fn, key);
    }
    lua_pushnil(L);
    while (lua_next(L, -2)) { /* stack: t, k, v */
        int k = lua_gettop(L) - 1, v = lua_gettop(L);
        mb_lua_db_appends(L, b, b->len ? ", " : "");
        if (cl == MB_LUA_DB_REMOVE) {
            mb_lua_db_check_attr(L, c, v, "a remove entry");
            s_placeholder(L, c, b, v, 0, "");
        } else {
            mb_lua_db_check_attr(L, c, k, "an update attribute");
            s_placeholder(L, c, b, k, v, cl == MB_LUA_DB_SET ? " = " : " ");
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

void mb_lua_db_update_expr(lua_State *L, mb_lua_db_call *c, int opts) {
    static const char *const k_keys[MB_LUA_DB_CLAUSES] = {"set", "remove", "add", "delete"};
    static const char *const k_words[MB_LUA_DB_CLAUSES] = {"SET ", "REMOVE ", "ADD ", "DELETE "};
    size_t n;
    const char *raw = mb_lua_db_opt_expr(L, c, opts, "expression", &n);
    mb_buf *out = &c->st->tmp;
    mb_buf_reset(out);
    for (int i = 0; i < MB_LUA_DB_CLAUSES; i++) {
        s_clause(L, c, opts, k_keys[i], i);
        if (i == MB_LUA_DB_SET && c->once) {
            mb_buf *set = &c->st->clause[i];
            mb_lua_db_appends(L, set, set->len ? ", " : "");
            mb_lua_db_appends(L, set, MB_LUA_DB_ONCE_NAME " = " MB_LUA_DB_ONCE_VALUE);
        }
        if (c->st->clause[i].len) {
            mb_lua_db_appends(L, out, out->len ? " " : "");
            mb_lua_db_appends(L, out, k_words[i]);
            mb_lua_db_append(L, out, c->st->clause[i].ptr, c->st->clause[i].len);
        }
    }
    if (raw && c->once) {
        luaL_error(L, "%s: once needs set/remove/add/delete, not expression", c->fn);
    }
    if (raw && out->len) {
        luaL_error(L, "%s: give either expression or set/remove/add/delete, not both", c->fn);
    }
    if (!raw && !out->len) {
        luaL_error(L, "%s: nothing to update (give set, remove, add, delete or expression)", c->fn);
    }
    if (raw) {
        lua_pushlstring(L, raw, n);
    } else {
        lua_pushlstring(L, out->ptr, out->len);
    }
    lua_setfield(L, c->req, "UpdateExpression");
}

/* Check the SK bound on the stack top, add the namespace and set it as values[name]. [-1, +0] */
static void s_sk_value(lua_State *L, mb_lua_db_call *c, const char *what, const char *name) {
    size_t n;
    mb_lua_db_check_str(L, -1, c->fn, what, MB_LUA_DB_MAX_SK, &n);
    mb_lua_db_ns_sk(L, c);
    lua_setfield(L, c->values, name);
}

void mb_lua_db_key_condition(lua_State *L, mb_lua_db_call *c, int opts) {
    mb_buf *b = &c->st->cond;
    mb_buf_reset(b);
    mb_lua_db_push_pk(L, c->svc);
    lua_setfield(L, c->values, MB_LUA_DB_VALUE_PREFIX "pk");
    mb_lua_db_appends(L, b, "PK = " MB_LUA_DB_VALUE_PREFIX "pk");
    int bw = opts ? lua_getfield(L, opts, "begins_with") : LUA_TNIL; /* stack: bw */
    int bt = opts ? lua_getfield(L, opts, "between") : LUA_TNIL;     /* stack: bw, bt */
    if (bw != LUA_TNIL && bt != LUA_TNIL) {
        luaL_error(L, "%s: give begins_with or between, not both", c->fn);
    }
    mb_cur ns = c->svc->db_namespace;
    if (bw != LUA_TNIL) {
        lua_pushvalue(L, -2); /* stack: bw, bt, bw */
        s_sk_value(L, c, "begins_with", MB_LUA_DB_VALUE_PREFIX "sk");
        mb_lua_db_appends(L, b, " AND begins_with(SK, " MB_LUA_DB_VALUE_PREFIX "sk)");
    } else if (bt != LUA_TNIL) {
        luaL_argexpected(L, bt == LUA_TTABLE, 1, "between must be {low, high}");
        lua_rawgeti(L, -1, 1); /* stack: bw, bt, lo */
        s_sk_value(L, c, "between[1]", MB_LUA_DB_VALUE_PREFIX "lo");
        lua_rawgeti(L, -1, 2); /* stack: bw, bt, hi */
        s_sk_value(L, c, "between[2]", MB_LUA_DB_VALUE_PREFIX "hi");
        mb_lua_db_appends(
            L, b, " AND SK BETWEEN " MB_LUA_DB_VALUE_PREFIX "lo AND " MB_LUA_DB_VALUE_PREFIX "hi");
    } else if (ns.len) { /* a namespaced handler sees its own keys only */
        lua_pushlstring(L, ns.ptr, ns.len);
        lua_setfield(L, c->values, MB_LUA_DB_VALUE_PREFIX "sk");
        mb_lua_db_appends(L, b, " AND begins_with(SK, " MB_LUA_DB_VALUE_PREFIX "sk)");
    }
    lua_pop(L, opts ? 2 : 0);
    lua_pushlstring(L, b->ptr, b->len);
    lua_setfield(L, c->req, "KeyConditionExpression");
}

/* opts[key] as a checked expression set as req[field], when present; returns it or NULL. */
static const char *s_expr_field(lua_State *L, mb_lua_db_call *c, int opts, const char *key,
                                const char *field) {
    size_t n;
    const char *s = mb_lua_db_opt_expr(L, c, opts, key, &n);
    if (s) {
        lua_pushlstring(L, s, n);
        lua_setfield(L, c->req, field);
    }
    return s;
}

lua_Integer mb_lua_db_query_opts(lua_State *L, mb_lua_db_call *c, int opts, bool *exact) {
    const char *filter = s_expr_field(L, c, opts, "filter", "FilterExpression");
    const char *proj = mb_lua_db_projection(L, c, opts);
    mb_lua_db_set_consistent(L, opts, c->req);
    if (lua_getfield(L, opts, "descending") != LUA_TNIL && lua_toboolean(L, -1)) {
        lua_pushboolean(L, 0);
        lua_setfield(L, c->req, "ScanIndexForward");
    }
    lua_pop(L, 1);
    lua_Integer limit = 0;
    if (lua_getfield(L, opts, "limit") != LUA_TNIL) {
        limit = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 0;
        if (limit < 1 || limit > MAX_QUERY_LIMIT) {
            luaL_error(L, "%s: limit must be an integer 1..%d", c->fn, MAX_QUERY_LIMIT);
        }
    }
    lua_pop(L, 1);
    /* Without a filter or projection, ask for one item more than the page: then the cursor is
     * null exactly when nothing follows (DynamoDB's LastEvaluatedKey may point at nothing). */
    *exact = limit > 0 && !filter && !proj;
    if (limit) {
        lua_pushinteger(L, *exact ? limit + 1 : limit);
        lua_setfield(L, c->req, "Limit");
    }
    return limit;
}

const char *mb_lua_db_projection(lua_State *L, mb_lua_db_call *c, int opts) {
    return s_expr_field(L, c, opts, "projection", "ProjectionExpression");
}
