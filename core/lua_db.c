/* lua_db.c - ctx.db, the tenant-scoped DynamoDB API of handlers: call set-up, sending, error
 * mapping and the Lua-facing functions. Requests are Lua tables shaped like the AWS request and
 * sent by the ddb module (marshalling, SigV4, retries in C); the tenant key policy, the
 * expression builders and the cursors are in the files lua_db_call.h names.
 * Ownership: the DynamoDB client is the app's (svc->ddb, made at start-up and freed by it), so
 * its connection and signing key survive across invocations; scratch buffers and the cursor
 * key live in a registry userdata freed when the state closes, so a Lua error (memory, a
 * refused argument) can never leak C memory. Errors reach the handler as ctx.fail objects
 * (409/400/502/503/504) or, for programming mistakes, as plain Lua errors (500). */
#include "lua_db_call.h"

#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <openssl/crypto.h>

#include "moonbase/clock.h"
#include "moonbase/ddb.h"
#include "moonbase/ddb_marshal.h"
#include "moonbase/ddb_value.h"
#include "moonbase/emf.h"
#include "moonbase/config.h"

#define STATE_MT "moonbase.db_state"
/* DynamoDB's bounds: BatchGetItem 100 keys, BatchWriteItem 25 requests. */
#define MAX_BATCH_GET 100
#define MAX_BATCH_WRITE 25

/* ---- state ---- */

static int s_state_gc(lua_State *L) {
    mb_lua_db_state *st = luaL_checkudata(L, 1, STATE_MT);
    for (int i = 0; i < MB_LUA_DB_CLAUSES; i++) {
        mb_buf_cleanup(&st->clause[i]);
    }
    mb_buf_cleanup(&st->cond);
    mb_buf_cleanup(&st->tmp);
    mb_buf_cleanup(&st->raw);
    mb_buf_cleanup(&st->b64);
    mb_buf_cleanup(&st->value);
    OPENSSL_cleanse(st->secret, sizeof st->secret);
    return 0;
}

static const char s_key_state = 'd';

/* The state's mb_lua_db_state, created on first use. [-0, +0, m] */
static mb_lua_db_state *s_state(lua_State *L) {
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &s_key_state) == LUA_TUSERDATA) {
        mb_lua_db_state *st = lua_touserdata(L, -1);
        lua_pop(L, 1);
        return st;
    }
    lua_pop(L, 1);
    mb_lua_db_state *st = lua_newuserdatauv(L, sizeof *st, 0); /* stack: ud */
    memset(st, 0, sizeof *st);
    if (luaL_newmetatable(L, STATE_MT)) { /* stack: ud, mt */
        lua_pushcfunction(L, s_state_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "__metatable");
    }
    lua_setmetatable(L, -2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &s_key_state); /* stack: (empty) */
    return st;
}

void mb_lua_db_append(lua_State *L, mb_buf *b, const char *s, size_t n) {
    if (mb_buf_append(b, s, n) != 0) {
        luaL_error(L, "not enough memory");
    }
}

void mb_lua_db_appends(lua_State *L, mb_buf *b, const char *s) {
    mb_lua_db_append(L, b, s, strlen(s));
}

/* ---- errors ---- */

void mb_lua_db_log(mb_lua_db_call *c, mb_log_level level, const char *what, int rc,
                   const mb_err *err) {
    mb_ddb *ddb = c->svc->ddb;
    const mb_ddb_stats *last = ddb ? mb_ddb_last(ddb) : NULL;
    mb_log_field f[5] = {
        mb_log_field_str("operation", mb_cur_from_cstr(c->op)),
        mb_log_field_str("awsErrorType", mb_cur_from_cstr(last ? last->error_type : "")),
        mb_log_field_int("httpStatus", last ? last->http_status : 0),
        mb_log_field_int("attempts", last ? last->attempts : 0),
        mb_log_field_str("reason",
                         mb_cur_from_cstr(err && err->msg[0] ? err->msg : mb_status_name(rc))),
    };
    mb_log_write(c->svc->log, level, what, f, 5);
}

/* Nothing of C is held here. */
int mb_lua_db_raise(lua_State *L, mb_lua_db_call *c, int rc, const mb_err *err,
                    const char *conflict) {
    if (rc == MB_ERR_NOMEM) {
        return luaL_error(L, "not enough memory");
    }
    if (rc == MB_ERR_CONFLICT) {
        mb_lua_db_log(c, MB_LOG_INFO, "DynamoDB condition failed", rc, err);
        return mb_lua_aux_raise_fail(L, 409, "conflict", conflict);
    }
    if ((rc == MB_ERR_INVALID || rc == MB_ERR_LIMIT) && err && mb_ddb_marshal_refused(err)) {
        /* Refused before sending: the text is ours, about the handler's own value (which
         * attribute, why), and tells the author what to fix. */
        mb_lua_db_log(c, MB_LOG_WARN, "value refused before sending", rc, err);
        char msg[MB_ERR_MSG_MAX + 32];
        snprintf(msg, sizeof msg, "invalid data for the database: %s", mb_ddb_marshal_reason(err));
        return mb_lua_aux_raise_fail(L, 400, "bad_request", msg);
    }
    if (rc == MB_ERR_INVALID || rc == MB_ERR_LIMIT) {
        /* DynamoDB's text names key schemas, attribute types and limits: the log gets it, the
         * client a generic answer (with the request id, which finds the log line). */
        mb_lua_db_log(c, MB_LOG_WARN, "DynamoDB refused the request", rc, err);
        return mb_lua_aux_raise_fail(L, 400, "bad_request", "the database refused the request");
    }
    mb_log_set_error_type(c->svc->log, MB_CUR_LIT("DynamoDBError"));
    mb_lua_db_log(c, MB_LOG_ERROR, "DynamoDB call failed", rc, err);
    if (rc == MB_ERR_UNAVAILABLE) {
        return mb_lua_aux_raise_fail(L, 503, "unavailable", "the database is busy, retry later");
    }
    if (rc == MB_ERR_TIMEOUT) {
        return mb_lua_aux_raise_fail(L, 504, "unavailable", "the database did not answer in time");
    }
    return mb_lua_aux_raise_fail(L, 502, "internal", "the database request failed");
}

/* ---- call set-up ---- */

static mb_lua_services *s_services(lua_State *L, const char *fn) {
    mb_lua_services *svc = mb_lua_aux_services(L);
    if (!svc || svc->tenant.len == 0) {
        luaL_error(L, "%s: ctx.db is only available on routes with auth = true", fn);
    }
    return svc;
}

/* The app's client (svc->ddb); without one (no TABLE_NAME or credentials: svc->ddb_err says
 * which) the call is a 503 and the reason goes to the log. */
static mb_ddb *s_client(lua_State *L, mb_lua_db_call *c) {
    mb_lua_services *svc = c->svc;
    if (!svc->ddb) {
        const mb_err *err = &svc->ddb_err;
        mb_lua_db_log(c, MB_LOG_ERROR, "DynamoDB client not available", err->status, err);
        mb_log_set_error_type(svc->log, MB_CUR_LIT("DynamoDBConfig"));
        mb_lua_aux_raise_fail(L, 503, "unavailable", "the database is not configured");
    }
    return svc->ddb;
}

/* Push a request table with TableName and empty names/values maps. [-0, +3, m] */
static void s_begin(lua_State *L, mb_lua_db_call *c, const char *fn, const char *op) {
    c->svc = s_services(L, fn);
    c->st = s_state(L);
    c->fn = fn;
    c->op = op;
    c->next = 0;
    c->once = false;
    (void)s_client(L, c);
    lua_createtable(L, 0, 8); /* stack: ..., req */
    c->req = lua_gettop(L);
    lua_pushstring(L, c->svc->cfg->table_name);
    lua_setfield(L, c->req, "TableName");
    lua_newtable(L); /* stack: ..., req, names */
    c->names = lua_gettop(L);
    lua_newtable(L); /* stack: ..., req, names, values */
    c->values = lua_gettop(L);
}

static bool s_table_empty(lua_State *L, int idx) {
    lua_pushnil(L);
    if (lua_next(L, idx)) {
        lua_pop(L, 2);
        return false;
    }
    return true;
}

/* Attach the non-empty names/values maps to the request (DynamoDB refuses empty ones). */
static void s_attach_maps(lua_State *L, mb_lua_db_call *c) {
    if (!s_table_empty(L, c->names)) {
        lua_pushvalue(L, c->names);
        lua_setfield(L, c->req, "ExpressionAttributeNames");
    }
    if (!s_table_empty(L, c->values)) {
        lua_pushvalue(L, c->values);
        lua_setfield(L, c->req, "ExpressionAttributeValues");
    }
}

/* Send the request; on success the response table is pushed. [-0, +1, v] */
static void s_send(lua_State *L, mb_lua_db_call *c, const char *conflict) {
    s_attach_maps(L, c);
    mb_err err = {0};
    mb_ddb *ddb = c->svc->ddb;
    int64_t t0 = mb_clock_now_ms(c->svc->clock);
    int rc;
    if (strcmp(c->op, "BatchGetItem") == 0) {
        rc = mb_ddb_batch_get(ddb, L, c->req, c->svc->deadline_ms, &err);
    } else if (strcmp(c->op, "BatchWriteItem") == 0) {
        rc = mb_ddb_batch_write(ddb, L, c->req, c->svc->deadline_ms, &err);
    } else if (c->once) {
        rc = mb_ddb_update_once(ddb, L, c->req, c->token, c->svc->deadline_ms, &err);
    } else {
        rc = mb_ddb_call(ddb, L, c->op, c->req, c->svc->deadline_ms, &err);
    }
    (void)mb_emf_put(c->svc->emf, MB_CUR_LIT("DbLatency"),
                     (double)(mb_clock_now_ms(c->svc->clock) - t0), MB_CUR_LIT("Milliseconds"),
                     NULL);
    if (rc != 0) {
        mb_lua_db_raise(L, c, rc, &err,
                        conflict ? conflict
                                 : "the item does not match the condition (changed or missing)");
    }
}

/* Replace the response on top by its field `field` with PK stripped (nil when absent). */
static void s_result_item(lua_State *L, const char *field) {
    lua_getfield(L, -1, field); /* stack: resp, item */
    lua_remove(L, -2);
    mb_lua_db_strip(L, lua_gettop(L));
}

/* ---- ctx.db.get / put / delete / update ---- */

/* ctx.db.get(sk [, {consistent, projection, names}]) -> item or nil. [-2, +1, v] */
static int s_get(lua_State *L) {
    mb_lua_db_call c;
    int opts = mb_lua_db_opts(L, 2);
    s_begin(L, &c, "ctx.db.get", "GetItem");
    mb_lua_db_push_key(L, &c, 1);
    lua_setfield(L, c.req, "Key");
    if (opts) {
        mb_lua_db_copy_names(L, &c, opts);
        mb_lua_db_set_consistent(L, opts, c.req);
        (void)mb_lua_db_projection(L, &c, opts);
    }
    s_send(L, &c, NULL);
    s_result_item(L, "Item");
    return 1;
}

/* update(..., {once = true}): an update a retry must not apply twice (ADD to a counter). Each call
 * SETs the client's marker attribute to a fresh random token, on the condition that the marker
 * does not hold that token yet (lua_db_expr.c): a retry of an attempt that was applied but whose
 * answer was lost is refused by DynamoDB, and mb_ddb_update_once reads the item back and, finding
 * the token, answers as the lost attempt would have (moonbase/ddb.h says why the marker's name is
 * the client's own). */
static void s_once(lua_State *L, mb_lua_db_call *c) {
    mb_err err = {0};
    if (mb_ddb_once_token(c->token, &err) != 0) {
        luaL_error(L, "%s: %s", c->fn, err.msg);
    }
    c->once = true;
    lua_pushstring(L, mb_ddb_once_attr(c->svc->ddb));
    lua_setfield(L, c->names, MB_LUA_DB_ONCE_NAME);
    lua_pushstring(L, c->token);
    lua_setfield(L, c->values, MB_LUA_DB_ONCE_VALUE);
}

/* The writes share one shape: the item (PutItem) or the key (argument 1), the update expression
 * (UpdateItem), the write options, and the returned Attributes. [-0, +1, v] */
static int s_write(lua_State *L, const char *fn, const char *op, int opts, const char *ret) {
    mb_lua_db_call c;
    bool put = strcmp(op, "PutItem") == 0;
    s_begin(L, &c, fn, op);
    if (put) {
        mb_lua_db_push_item(L, &c, 1);
    } else {
        mb_lua_db_push_key(L, &c, 1);
    }
    lua_setfield(L, c.req, put ? "Item" : "Key");
    if (strcmp(op, "UpdateItem") == 0) {
        lua_getfield(L, opts, "once");
        bool once = lua_toboolean(L, -1);
        lua_pop(L, 1);
        if (once) {
            s_once(L, &c);
        }
        mb_lua_db_update_expr(L, &c, opts);
    }
    const char *conflict = mb_lua_db_write_opts(L, &c, opts, ret);
    s_send(L, &c, conflict);
    s_result_item(L, "Attributes");
    return 1;
}

/* ctx.db.put(item [, {exists, expect, condition, names, values, return, conflict}])
 * -> the old item when return = "ALL_OLD", else nothing. [-2, +0|1, v] */
static int s_put(lua_State *L) {
    return s_write(L, "ctx.db.put", "PutItem", mb_lua_db_opts(L, 2), "NONE");
}

/* ctx.db.delete(sk [, opts]) -> the deleted item, or nil when there was none. [-2, +1, v] */
static int s_delete(lua_State *L) {
    return s_write(L, "ctx.db.delete", "DeleteItem", mb_lua_db_opts(L, 2), "ALL_OLD");
}

/* ctx.db.update(sk, {set, remove, add, delete | expression, exists, expect, condition, names,
 * values, return = "ALL_NEW", conflict, once}) -> the item after the update. [-2, +1, v] */
static int s_update(lua_State *L) {
    luaL_checktype(L, 2, LUA_TTABLE);
    return s_write(L, "ctx.db.update", "UpdateItem", lua_absindex(L, 2), "ALL_NEW");
}

/* ---- ctx.db.query ---- */

/* ctx.db.query([{begins_with | between, limit, descending, consistent, filter, projection,
 * names, values, cursor}]) -> {items = {...}, cursor = "..." | nil, count = n}. [-1, +1, v] */
static int s_query(lua_State *L) {
    mb_lua_db_call c;
    int opts = mb_lua_db_opts(L, 1);
    s_begin(L, &c, "ctx.db.query", "Query");
    mb_lua_db_key_condition(L, &c, opts);
    lua_Integer limit = 0;
    bool exact = false;
    if (opts) {
        mb_lua_db_copy_names(L, &c, opts);
        mb_lua_db_copy_values(L, &c, opts);
        limit = mb_lua_db_query_opts(L, &c, opts, &exact);
        if (lua_getfield(L, opts, "cursor") != LUA_TNIL) { /* stack: cursor */
            mb_lua_db_push_start_key(L, &c, lua_gettop(L));
            lua_setfield(L, c.req, "ExclusiveStartKey");
        }
        lua_pop(L, 1);
    }
    s_send(L, &c, NULL);
    mb_lua_db_query_page(L, &c, limit, exact);
    return 1;
}

/* ---- batches ---- */

/* ctx.db.batch_get({sk, ...} [, {consistent = true}]) -> {item, ...} (found items, any order;
 * at most 100 keys). [-2, +1, v] */
static int s_batch_get(lua_State *L) {
    mb_lua_db_call c;
    luaL_checktype(L, 1, LUA_TTABLE);
    int opts = mb_lua_db_opts(L, 2);
    lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
    if (n > MAX_BATCH_GET) {
        return luaL_error(L, "ctx.db.batch_get: at most %d keys", MAX_BATCH_GET);
    }
    s_begin(L, &c, "ctx.db.batch_get", "BatchGetItem");
    lua_createtable(L, 0, 2);      /* stack: ..., entry */
    lua_createtable(L, (int)n, 0); /* stack: ..., entry, keys */
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, 1, i);
        mb_lua_db_push_key(L, &c, -1);
        lua_rawseti(L, -3, i);
        lua_pop(L, 1);
    }
    lua_setfield(L, -2, "Keys");
    if (opts) {
        mb_lua_db_set_consistent(L, opts, lua_gettop(L));
    }
    lua_createtable(L, 0, 1); /* stack: ..., entry, request_items */
    lua_insert(L, -2);
    lua_setfield(L, -2, c.svc->cfg->table_name);
    lua_setfield(L, c.req, "RequestItems");
    if (n == 0) {
        lua_newtable(L);
        mb_lua_aux_mark_array(L);
        return 1;
    }
    s_send(L, &c, NULL); /* stack: ..., resp */
    lua_getfield(L, -1, "Responses");
    lua_getfield(L, -1, c.svc->cfg->table_name); /* stack: ..., resp, responses, list */
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        lua_newtable(L);
    }
    mb_lua_db_strip_list(L);
    return 1;
}

/* Append {PutRequest = {Item}} or {DeleteRequest = {Key}} entries from t[field] to list. */
static lua_Integer s_write_requests(lua_State *L, mb_lua_db_call *c, const char *field, int list,
                                    lua_Integer at) {
    bool put = strcmp(field, "put") == 0;
    if (lua_getfield(L, 1, field) == LUA_TNIL) { /* stack: entries */
        lua_pop(L, 1);
        return at;
    }
    luaL_argexpected(L, lua_istable(L, -1), 1, "put/delete must be lists");
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    for (lua_Integer i = 1; i <= n; i++) {
        if (at >= MAX_BATCH_WRITE) {
            luaL_error(L, "%s: at most %d puts and deletes in all", c->fn, MAX_BATCH_WRITE);
        }
        lua_rawgeti(L, -1, i);    /* stack: entries, e */
        lua_createtable(L, 0, 1); /* stack: entries, e, req */
        lua_createtable(L, 0, 1); /* stack: entries, e, req, inner */
        if (put) {
            mb_lua_db_push_item(L, c, -3);
        } else {
            mb_lua_db_push_key(L, c, -3);
        }
        lua_setfield(L, -2, put ? "Item" : "Key");
        lua_setfield(L, -2, put ? "PutRequest" : "DeleteRequest");
        lua_rawseti(L, list, ++at);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return at;
}

/* ctx.db.batch_write{put = {item, ...}, delete = {sk, ...}} -> true (at most 25 in all;
 * unprocessed items are re-sent with backoff; no conditions in batches). [-1, +1, v] */
static int s_batch_write(lua_State *L) {
    mb_lua_db_call c;
    luaL_checktype(L, 1, LUA_TTABLE);
    s_begin(L, &c, "ctx.db.batch_write", "BatchWriteItem");
    lua_newtable(L); /* stack: ..., list */
    int list = lua_gettop(L);
    lua_Integer n = s_write_requests(L, &c, "put", list, 0);
    n = s_write_requests(L, &c, "delete", list, n);
    if (n > 0) {
        lua_createtable(L, 0, 1); /* stack: ..., list, request_items */
        lua_pushvalue(L, list);
        lua_setfield(L, -2, c.svc->cfg->table_name);
        lua_setfield(L, c.req, "RequestItems");
        s_send(L, &c, NULL);
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* ---- values ---- */

/* ctx.db.set({m1, m2, ...} [, "SS"|"NS"|"BS"]) -> a set value (type inferred when omitted). */
static int s_set(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    const char *type = luaL_optstring(L, 2, NULL);
    mb_ddb_marshal_open(L);
    mb_err err = {0};
    if (mb_ddb_marshal_push_set(L, 1, type, &err) != 0) {
        return luaL_error(L, "ctx.db.set: %s", err.msg);
    }
    return 1;
}

/* ctx.db.binary(bytes) -> a binary value, stored as DynamoDB binary (B); what ctx.db reads B
 * back as. Given a binary value, returns it (values are immutable). [-1, +1, m] */
static int s_binary(lua_State *L) {
    mb_cur b;
    if (mb_ddb_value_to_binary(L, 1, &b)) {
        lua_settop(L, 1);
        return 1;
    }
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    mb_ddb_value_push_binary(L, (mb_cur){s, n});
    return 1;
}

/* ctx.db.number(text | number | decimal) -> an exact decimal number value, stored as N with
 * every digit (up to DynamoDB's 38). Text that is not a number DynamoDB can hold (grammar, 38
 * significant digits, 1E-130..9.99E+125, no NaN/Infinity) is the caller's bad input: a 400,
 * like any value the database refuses. [-1, +1, v] */
static int s_number(lua_State *L) {
    mb_cur t;
    if (mb_ddb_value_to_number(L, 1, &t)) {
        lua_settop(L, 1);
        return 1;
    }
    char buf[MB_DDB_NUMBER_MAX_CANONICAL];
    mb_err err = {0};
    int rc;
    if (lua_type(L, 1) == LUA_TNUMBER) {
        rc = mb_ddb_value_lua_number_text(L, 1, buf, &err);
        t = (mb_cur){buf, rc < 0 ? 0 : (size_t)rc};
    } else {
        size_t n;
        const char *s = luaL_checklstring(L, 1, &n);
        rc = 0;
        t = (mb_cur){s, n};
    }
    rc = rc < 0 ? rc : mb_ddb_value_push_number(L, t, &err);
    if (rc != 0) {
        char msg[MB_ERR_MSG_MAX + 32];
        snprintf(msg, sizeof msg, "invalid number: %s", mb_ddb_marshal_reason(&err));
        return mb_lua_aux_raise_fail(L, 400, "bad_request", msg);
    }
    return 1;
}

/* ctx.db.is_conflict(err) -> true when err (from pcall) is the 409 of a failed condition. */
static int s_is_conflict(lua_State *L) {
    mb_lua_fail f;
    lua_pushboolean(L, mb_lua_aux_is_fail(L, 1, &f) && f.status == 409);
    return 1;
}

void mb_lua_inject_db_api(lua_State *L) {
    static const luaL_Reg fns[] = {
        {"get", s_get},
        {"put", s_put},
        {"update", s_update},
        {"delete", s_delete},
        {"query", s_query},
        {"batch_get", s_batch_get},
        {"batch_write", s_batch_write},
        {"set", s_set},
        {"binary", s_binary},
        {"number", s_number},
        {"is_conflict", s_is_conflict},
        {NULL, NULL},
    };
    luaL_newlib(L, fns); /* stack: ctx, db */
    lua_setfield(L, -2, "db");
}
