/* lua_db.c - ctx.db, the tenant-scoped DynamoDB API of handlers, and ctx.ulid().
 * Handlers speak in logical keys (the sort key, "ITEM#01J..."); this file adds the partition
 * key PK = "TENANT#<tenant of the verified token>" to every key, item and key condition, strips it
 * from every result, and refuses anything a handler could use to name a partition itself (a PK
 * attribute, a PK in an expression, a value naming a TENANT#). Requests are Lua tables shaped
 * like the AWS request and sent by the ddb module (marshalling, SigV4, retries in C).
 * Ownership: the DynamoDB client lives in svc->ddb (created here on first use, freed by the app)
 * so its connection and signing key survive across invocations; scratch buffers and the cursor
 * secret live in a registry userdata freed when the state closes, so a Lua error (memory, a
 * refused argument) can never leak C memory. Errors reach the handler as ctx.fail objects
 * (409/400/502/503/504) or, for programming mistakes, as plain Lua errors (500). */
#include "moonbase/lua_aux.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <lauxlib.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "moonbase/clock.h"
#include "moonbase/base64.h"
#include "moonbase/ddb.h"
#include "moonbase/ddb_marshal.h"
#include "moonbase/ddb_value.h"
#include "moonbase/emf.h"
#include "moonbase/log.h"
#include "moonbase/lua_api.h"
#include "moonbase/secrets.h"

#define STATE_MT "moonbase.db_state"
#define PK_PREFIX "TENANT#"
/* DynamoDB's bound on a sort key value. */
#define MAX_SK 1024
/* DynamoDB's bounds: BatchGetItem 100 keys, BatchWriteItem 25 requests, Query Limit is ours. */
#define MAX_BATCH_GET 100
#define MAX_BATCH_WRITE 25
#define MAX_QUERY_LIMIT 1000
/* A cursor holds one key of at most 2 KB (PK is not in it); longer input is refused unread. */
#define MAX_CURSOR 4096
#define CURSOR_VERSION 1
#define CURSOR_MAC_LEN 16 /* 128 bits of HMAC-SHA256: forging needs 2^128 tries */
#define CURSOR_LABEL "moonbase-cursor-v1"
/* Placeholders generated here start with these; handlers may not use the prefix. */
#define NAME_PREFIX "#mb_"
#define VALUE_PREFIX ":mb_"

enum { CL_SET, CL_REMOVE, CL_ADD, CL_DELETE, CL_COUNT };

/* Per-state (process) data: scratch memory and secrets, never per-request data. */
typedef struct db_state {
    unsigned char secret[32];
    bool have_secret;
    int64_t ulid_ms;
    unsigned char ulid_rand[10];
    mb_buf clause[CL_COUNT]; /* update expression clauses */
    mb_buf cond;             /* condition / key condition */
    mb_buf tmp;              /* cursor JSON, MAC input */
    mb_buf raw;              /* cursor bytes */
    mb_buf b64;              /* cursor text */
    mb_buf value;            /* a value checked before it becomes a placeholder */
} db_state;

/* One ctx.db call: what it works on. */
typedef struct db_call {
    mb_lua_services *svc;
    db_state *st;
    const char *fn; /* the Lua-facing name, for messages: "ctx.db.get" */
    const char *op; /* the DynamoDB operation */
    int req;        /* stack index of the request table */
    int names;      /* stack index of ExpressionAttributeNames */
    int values;     /* stack index of ExpressionAttributeValues */
    int next;       /* next generated placeholder number */
} db_call;

/* ---- state ---- */

static int s_state_gc(lua_State *L) {
    db_state *st = luaL_checkudata(L, 1, STATE_MT);
    for (int i = 0; i < CL_COUNT; i++) {
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

/* The state's db_state, created on first use. [-0, +0, m] */
static db_state *s_state(lua_State *L) {
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &s_key_state) == LUA_TUSERDATA) {
        db_state *st = lua_touserdata(L, -1);
        lua_pop(L, 1);
        return st;
    }
    lua_pop(L, 1);
    db_state *st = lua_newuserdatauv(L, sizeof *st, 0); /* stack: ud */
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

static void s_append(lua_State *L, mb_buf *b, const char *s, size_t n) {
    if (mb_buf_append(b, s, n) != 0) {
        luaL_error(L, "not enough memory");
    }
}

static void s_appends(lua_State *L, mb_buf *b, const char *s) {
    s_append(L, b, s, strlen(s));
}

static bool s_random(void *out, size_t n) {
    unsigned char *p = out;
    while (n > 0) {
        ssize_t k = getrandom(p, n, 0);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            return false;
        }
        p += k;
        n -= (size_t)k;
    }
    return true;
}

/* ---- errors ---- */

static void s_log(db_call *c, mb_log_level level, const char *what, int rc, const mb_err *err) {
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

/* Turn a ddb error into a ctx.fail object; never returns. Nothing of C is held here. */
static int s_raise(lua_State *L, db_call *c, int rc, const mb_err *err, const char *conflict) {
    if (rc == MB_ERR_NOMEM) {
        return luaL_error(L, "not enough memory");
    }
    if (rc == MB_ERR_CONFLICT) {
        s_log(c, MB_LOG_INFO, "DynamoDB condition failed", rc, err);
        return mb_lua_aux_raise_fail(L, 409, "conflict", conflict);
    }
    if ((rc == MB_ERR_INVALID || rc == MB_ERR_LIMIT) && err && mb_ddb_marshal_refused(err)) {
        /* Refused before sending: the text is ours, about the handler's own value (which
         * attribute, why), and tells the author what to fix. */
        s_log(c, MB_LOG_WARN, "value refused before sending", rc, err);
        char msg[MB_ERR_MSG_MAX + 32];
        snprintf(msg, sizeof msg, "invalid data for the database: %s", mb_ddb_marshal_reason(err));
        return mb_lua_aux_raise_fail(L, 400, "bad_request", msg);
    }
    if (rc == MB_ERR_INVALID || rc == MB_ERR_LIMIT) {
        /* DynamoDB's text names key schemas, attribute types and limits: the log gets it, the
         * client a generic answer (with the request id, which finds the log line). */
        s_log(c, MB_LOG_WARN, "DynamoDB refused the request", rc, err);
        return mb_lua_aux_raise_fail(L, 400, "bad_request", "the database refused the request");
    }
    mb_log_set_error_type(c->svc->log, MB_CUR_LIT("DynamoDBError"));
    s_log(c, MB_LOG_ERROR, "DynamoDB call failed", rc, err);
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

struct mb_ddb *mb_lua_api_ddb(mb_lua_services *svc, mb_err *err) {
    if (svc->ddb) {
        return svc->ddb;
    }
    mb_sigv4_credentials creds = {0};
    const mb_config *cfg = svc->cfg;
    if (!cfg || !cfg->table_name) {
        mb_err_set(err, MB_ERR_CONFIG, "TABLE_NAME is not set");
    } else if (!cfg->aws_access_key_id || !cfg->aws_secret_access_key) {
        mb_err_set(err, MB_ERR_CONFIG, "%s is not set",
                   cfg->aws_access_key_id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
    } else if (mb_sigv4_credentials_set(&creds, cfg->aws_access_key_id, cfg->aws_secret_access_key,
                                        cfg->aws_session_token, err) == 0) {
        mb_ddb_config dc = {.region = cfg->region, .endpoint = cfg->dynamodb_endpoint};
        svc->ddb = mb_ddb_new(&dc, &creds, err); /* takes creds, also on failure */
    }
    return svc->ddb;
}

/* The client, created on first use from the configuration and the environment. */
static mb_ddb *s_client(lua_State *L, db_call *c) {
    mb_lua_services *svc = c->svc;
    if (svc->ddb) {
        return svc->ddb;
    }
    mb_err err = {0};
    if (!mb_lua_api_ddb(svc, &err)) {
        s_log(c, MB_LOG_ERROR, "DynamoDB client not available", err.status, &err);
        mb_log_set_error_type(svc->log, MB_CUR_LIT("DynamoDBConfig"));
        mb_lua_aux_raise_fail(L, 503, "unavailable", "the database is not configured");
    }
    return svc->ddb;
}

/* Push a request table with TableName and empty names/values maps. [-0, +3, m] */
static void s_begin(lua_State *L, db_call *c, const char *fn, const char *op) {
    c->svc = s_services(L, fn);
    c->st = s_state(L);
    c->fn = fn;
    c->op = op;
    c->next = 0;
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
static void s_attach_maps(lua_State *L, db_call *c) {
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
static void s_send(lua_State *L, db_call *c, const char *conflict) {
    s_attach_maps(L, c);
    mb_err err = {0};
    mb_ddb *ddb = c->svc->ddb;
    int64_t t0 = mb_clock_now_ms(c->svc->clock);
    int rc;
    if (strcmp(c->op, "BatchGetItem") == 0) {
        rc = mb_ddb_batch_get(ddb, L, c->req, c->svc->deadline_ms, &err);
    } else if (strcmp(c->op, "BatchWriteItem") == 0) {
        rc = mb_ddb_batch_write(ddb, L, c->req, c->svc->deadline_ms, &err);
    } else {
        rc = mb_ddb_call(ddb, L, c->op, c->req, c->svc->deadline_ms, &err);
    }
    (void)mb_emf_put(c->svc->emf, MB_CUR_LIT("DbLatency"),
                     (double)(mb_clock_now_ms(c->svc->clock) - t0), MB_CUR_LIT("Milliseconds"),
                     NULL);
    if (rc != 0) {
        s_raise(L, c, rc, &err,
                conflict ? conflict : "the item does not match the condition (changed or missing)");
    }
}

/* ---- validation ---- */

static bool s_is_word(char ch) {
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '_';
}

/* Refuse an expression that names the attribute PK directly (placeholders are checked when the
 * names map is copied). A PK inside a quoted string cannot occur: expressions have none. */
static void s_check_expr(lua_State *L, db_call *c, const char *what, const char *s, size_t n) {
    for (size_t i = 0; i + 1 < n; i++) {
        bool start = i == 0 || (!s_is_word(s[i - 1]) && s[i - 1] != '#' && s[i - 1] != ':');
        if (start && s[i] == 'P' && s[i + 1] == 'K' && (i + 2 == n || !s_is_word(s[i + 2]))) {
            luaL_error(L, "%s: %s must not use PK: ctx.db manages the partition key", c->fn, what);
        }
    }
}

static bool s_has_prefix(const char *s, size_t n, const char *prefix) {
    size_t p = strlen(prefix);
    return n >= p && memcmp(s, prefix, p) == 0;
}

/* Check the string at idx and return it; it must be a string of 1..max bytes. */
static const char *s_check_str(lua_State *L, int idx, const char *fn, const char *what, size_t max,
                               size_t *len) {
    if (lua_type(L, idx) != LUA_TSTRING) {
        luaL_error(L, "%s: %s must be a string", fn, what);
    }
    const char *s = lua_tolstring(L, idx, len);
    if (*len == 0 || *len > max) {
        luaL_error(L, "%s: %s must be 1..%d bytes", fn, what, (int)max);
    }
    return s;
}

/* Copy opts.names into the names map: "#x" = "attr", never our prefix, never PK. */
static void s_copy_names(lua_State *L, db_call *c, int opts) {
    if (lua_getfield(L, opts, "names") == LUA_TNIL) { /* stack: names? */
        lua_pop(L, 1);
        return;
    }
    luaL_argexpected(L, lua_istable(L, -1), 2, "names must be a table");
    lua_pushnil(L);
    while (lua_next(L, -2)) { /* stack: names, k, v */
        size_t kn, vn;
        const char *k = s_check_str(L, -2, c->fn, "a names key", 255, &kn);
        const char *v = s_check_str(L, -1, c->fn, "a names value", 255, &vn);
        if (k[0] != '#' || s_has_prefix(k, kn, NAME_PREFIX)) {
            luaL_error(L, "%s: names keys start with '#' (not '" NAME_PREFIX "')", c->fn);
        }
        if (vn == 2 && memcmp(v, "PK", 2) == 0) {
            luaL_error(L, "%s: names must not map to PK: ctx.db manages the partition key", c->fn);
        }
        lua_pushvalue(L, -2);
        lua_insert(L, -2); /* stack: names, k, k, v */
        lua_rawset(L, c->names);
    }
    lua_pop(L, 1);
}

/* Copy opts.values into the values map: ":x" = value, no string naming a tenant partition. */
static void s_copy_values(lua_State *L, db_call *c, int opts) {
    if (lua_getfield(L, opts, "values") == LUA_TNIL) { /* stack: values? */
        lua_pop(L, 1);
        return;
    }
    luaL_argexpected(L, lua_istable(L, -1), 2, "values must be a table");
    lua_pushnil(L);
    while (lua_next(L, -2)) { /* stack: values, k, v */
        size_t kn, vn;
        const char *k = s_check_str(L, -2, c->fn, "a values key", 255, &kn);
        if (k[0] != ':' || s_has_prefix(k, kn, VALUE_PREFIX)) {
            luaL_error(L, "%s: values keys start with ':' (not '" VALUE_PREFIX "')", c->fn);
        }
        const char *v = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &vn) : NULL;
        if (v && s_has_prefix(v, vn, PK_PREFIX)) {
            luaL_error(L, "%s: values must not name a tenant partition (" PK_PREFIX "...)", c->fn);
        }
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, c->values);
    }
    lua_pop(L, 1);
}

/* opts[key] as a string checked for PK, or NULL when absent. */
static const char *s_opt_expr(lua_State *L, db_call *c, int opts, const char *key, size_t *n) {
    if (opts == 0 || lua_getfield(L, opts, key) == LUA_TNIL) {
        if (opts) {
            lua_pop(L, 1);
        }
        return NULL;
    }
    const char *s = s_check_str(L, -1, c->fn, key, 4096, n);
    s_check_expr(L, c, key, s, *n);
    lua_pop(L, 1); /* the string stays referenced by opts */
    return s;
}

/* t.ConsistentRead = true when opts.consistent is truthy (any other value: left out). */
static void s_set_consistent(lua_State *L, int opts, int t) {
    lua_getfield(L, opts, "consistent");
    bool on = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (on) {
        lua_pushboolean(L, 1);
        lua_setfield(L, t, "ConsistentRead");
    }
}

/* Check the optional options table at idx: nil or a table; returns its index or 0. */
static int s_opts(lua_State *L, int idx) {
    if (lua_isnoneornil(L, idx)) {
        return 0;
    }
    luaL_checktype(L, idx, LUA_TTABLE);
    return lua_absindex(L, idx);
}

/* ---- keys and items ---- */

static void s_push_pk(lua_State *L, const mb_lua_services *svc) {
    lua_pushliteral(L, PK_PREFIX);
    lua_pushlstring(L, svc->tenant.ptr, svc->tenant.len);
    lua_concat(L, 2);
}

/* Replace the SK string on the stack top by namespace .. SK (tenant handlers' namespace,
 * svc->db_namespace); the logical key keeps DynamoDB's bound on the stored one. [-1, +1, v] */
static void s_ns_sk(lua_State *L, db_call *c) {
    mb_cur ns = c->svc->db_namespace;
    if (ns.len == 0) {
        return;
    }
    if (lua_rawlen(L, -1) > MAX_SK - ns.len) {
        luaL_error(L, "%s: the key (SK) must be 1..%d bytes", c->fn, (int)(MAX_SK - ns.len));
    }
    lua_pushlstring(L, ns.ptr, ns.len);
    lua_insert(L, -2);
    lua_concat(L, 2);
}

/* The sort key of argument idx: a string, or a table {SK = "..."} with nothing else. */
static void s_push_sk(lua_State *L, db_call *c, int idx) {
    if (lua_type(L, idx) == LUA_TTABLE) {
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            bool sk = lua_type(L, -2) == LUA_TSTRING && strcmp(lua_tostring(L, -2), "SK") == 0;
            if (!sk) {
                luaL_error(L, "%s: a key is {SK = \"...\"}: ctx.db adds PK itself", c->fn);
            }
            lua_pop(L, 1);
        }
        lua_getfield(L, idx, "SK");
    } else {
        lua_pushvalue(L, idx);
    }
    size_t n;
    s_check_str(L, -1, c->fn, "the key (SK)", MAX_SK, &n);
    s_ns_sk(L, c);
}

/* Push {PK = <tenant>, SK = <key at idx>}. [-0, +1, v] */
static void s_push_key(lua_State *L, db_call *c, int idx) {
    idx = lua_absindex(L, idx);
    lua_createtable(L, 0, 2); /* stack: key */
    s_push_pk(L, c->svc);
    lua_setfield(L, -2, "PK");
    s_push_sk(L, c, idx);
    lua_setfield(L, -2, "SK");
}

/* Push a copy of the item at idx with PK added; a PK in it is refused, SK is required. */
static void s_push_item(lua_State *L, db_call *c, int idx) {
    idx = lua_absindex(L, idx);
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_newtable(L); /* stack: copy */
    lua_pushnil(L);
    while (lua_next(L, idx)) { /* stack: copy, k, v */
        if (lua_type(L, -2) == LUA_TSTRING && strcmp(lua_tostring(L, -2), "PK") == 0) {
            luaL_error(L, "%s: items must not set PK: ctx.db adds the tenant partition key", c->fn);
        }
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -4); /* stack: copy, k */
    }
    lua_getfield(L, -1, "SK");
    size_t n;
    s_check_str(L, -1, c->fn, "item.SK", MAX_SK, &n);
    s_ns_sk(L, c);
    lua_setfield(L, -2, "SK");
    s_push_pk(L, c->svc);
    lua_setfield(L, -2, "PK");
}

/* Remove PK from the item (a table) at idx, if it is one, and the namespace from its SK. */
static void s_strip(lua_State *L, int idx) {
    if (!lua_istable(L, idx)) {
        return;
    }
    lua_pushnil(L);
    lua_setfield(L, idx, "PK");
    mb_cur ns = mb_lua_aux_services(L)->db_namespace;
    size_t n = 0;
    const char *sk = lua_getfield(L, idx, "SK") == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL;
    if (ns.len && sk && n >= ns.len && memcmp(sk, ns.ptr, ns.len) == 0) {
        lua_pushlstring(L, sk + ns.len, n - ns.len);
        lua_setfield(L, idx, "SK");
    }
    lua_pop(L, 1);
}

/* Replace the response on top by its field `field` with PK stripped (nil when absent). */
static void s_result_item(lua_State *L, const char *field) {
    lua_getfield(L, -1, field); /* stack: resp, item */
    lua_remove(L, -2);
    s_strip(L, lua_gettop(L));
}

/* Strip PK from every item of the list on top and mark it as an array. [-0, +0, m] */
static void s_strip_list(lua_State *L) {
    int list = lua_gettop(L);
    lua_Integer n = (lua_Integer)lua_rawlen(L, list);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, list, i);
        s_strip(L, lua_gettop(L));
        lua_pop(L, 1);
    }
    mb_lua_aux_mark_array(L);
}

/* ---- conditions ---- */

/* A value given for an attribute (set/add/delete/expect) must be one DynamoDB can hold: checked
 * here, where the attribute's name is known, so the 400 names it rather than the generated
 * placeholder (":mb_3") the request carries. */
static void s_check_value(lua_State *L, db_call *c, int name_idx, int value_idx) {
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
        s_raise(L, c, rc, &named, NULL);
    }
}

/* Append "#mb_N<sep>:mb_N" to b (either part may be left out, index 0), registering the name
 * and the value in the request's maps. */
static void s_placeholder(lua_State *L, db_call *c, mb_buf *b, int name_idx, int value_idx,
                          const char *sep) {
    char ph[24];
    int n = ++c->next;
    if (name_idx) {
        snprintf(ph, sizeof ph, NAME_PREFIX "%d", n);
        lua_pushvalue(L, name_idx);
        lua_setfield(L, c->names, ph);
        s_appends(L, b, ph);
    }
    if (value_idx && name_idx) {
        s_check_value(L, c, name_idx, value_idx);
    }
    if (value_idx) {
        snprintf(ph, sizeof ph, VALUE_PREFIX "%d", n);
        lua_pushvalue(L, value_idx);
        lua_setfield(L, c->values, ph);
        if (name_idx) {
            s_appends(L, b, sep);
        }
        s_appends(L, b, ph);
    }
}

/* An attribute name given by a handler (a sugar key): a string, never PK or SK. */
static void s_check_attr(lua_State *L, db_call *c, int idx, const char *what) {
    size_t n;
    const char *s = s_check_str(L, idx, c->fn, what, 255, &n);
    if ((n == 2 && memcmp(s, "PK", 2) == 0) || (n == 2 && memcmp(s, "SK", 2) == 0)) {
        luaL_error(L, "%s: %s must not name the key attribute %s", c->fn, what, s);
    }
}

/* ConditionExpression from opts: exists = true|false, expect = {attr = value}, condition. */
static void s_condition(lua_State *L, db_call *c, int opts) {
    mb_buf *b = &c->st->cond;
    mb_buf_reset(b);
    if (!opts) {
        return;
    }
    int t = lua_getfield(L, opts, "exists"); /* stack: exists */
    if (t != LUA_TNIL) {
        luaL_argexpected(L, t == LUA_TBOOLEAN, 2, "exists must be a boolean");
        s_appends(L, b, lua_toboolean(L, -1) ? "attribute_exists(SK)" : "attribute_not_exists(SK)");
    }
    lua_pop(L, 1);
    if (lua_getfield(L, opts, "expect") != LUA_TNIL) { /* stack: expect */
        luaL_argexpected(L, lua_istable(L, -1), 2, "expect must be a table");
        lua_pushnil(L);
        while (lua_next(L, -2)) { /* stack: expect, k, v */
            s_check_attr(L, c, -2, "an expect key");
            s_appends(L, b, b->len ? " AND " : "");
            s_placeholder(L, c, b, lua_gettop(L) - 1, lua_gettop(L), " = ");
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    size_t n;
    const char *cond = s_opt_expr(L, c, opts, "condition", &n);
    if (cond) {
        s_appends(L, b, b->len ? " AND (" : "(");
        s_append(L, b, cond, n);
        s_appends(L, b, ")");
    }
    if (b->len) {
        lua_pushlstring(L, b->ptr, b->len);
        lua_setfield(L, c->req, "ConditionExpression");
    }
}

/* Options shared by the writes: names, values, condition, return. */
static const char *s_write_opts(lua_State *L, db_call *c, int opts, const char *ret_default) {
    const char *conflict = NULL;
    if (opts) {
        s_copy_names(L, c, opts);
        s_copy_values(L, c, opts);
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

/* ---- ctx.db.get / put / delete ---- */

/* ctx.db.get(sk [, {consistent, projection, names}]) -> item or nil. [-2, +1, v] */
static int s_get(lua_State *L) {
    db_call c;
    int opts = s_opts(L, 2);
    s_begin(L, &c, "ctx.db.get", "GetItem");
    s_push_key(L, &c, 1);
    lua_setfield(L, c.req, "Key");
    if (opts) {
        s_copy_names(L, &c, opts);
        s_set_consistent(L, opts, c.req);
        size_t n;
        const char *proj = s_opt_expr(L, &c, opts, "projection", &n);
        if (proj) {
            lua_pushlstring(L, proj, n);
            lua_setfield(L, c.req, "ProjectionExpression");
        }
    }
    s_send(L, &c, NULL);
    s_result_item(L, "Item");
    return 1;
}

/* ctx.db.put(item [, {exists, expect, condition, names, values, return, conflict}])
 * -> the old item when return = "ALL_OLD", else nothing. [-2, +0|1, v] */
static int s_put(lua_State *L) {
    db_call c;
    int opts = s_opts(L, 2);
    s_begin(L, &c, "ctx.db.put", "PutItem");
    s_push_item(L, &c, 1);
    lua_setfield(L, c.req, "Item");
    const char *conflict = s_write_opts(L, &c, opts, "NONE");
    s_send(L, &c, conflict);
    s_result_item(L, "Attributes");
    return 1;
}

/* ctx.db.delete(sk [, opts]) -> the deleted item, or nil when there was none. [-2, +1, v] */
static int s_delete(lua_State *L) {
    db_call c;
    int opts = s_opts(L, 2);
    s_begin(L, &c, "ctx.db.delete", "DeleteItem");
    s_push_key(L, &c, 1);
    lua_setfield(L, c.req, "Key");
    const char *conflict = s_write_opts(L, &c, opts, "ALL_OLD");
    s_send(L, &c, conflict);
    s_result_item(L, "Attributes");
    return 1;
}

/* ---- ctx.db.update ---- */

/* One update clause from opts[key]: SET/ADD/DELETE take {attr = value}, REMOVE takes {attr}. */
static void s_clause(lua_State *L, db_call *c, int opts, const char *key, int cl) {
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
        s_appends(L, b, b->len ? ", " : "");
        if (cl == CL_REMOVE) {
            s_check_attr(L, c, v, "a remove entry");
            s_placeholder(L, c, b, v, 0, "");
        } else {
            s_check_attr(L, c, k, "an update attribute");
            s_placeholder(L, c, b, k, v, cl == CL_SET ? " = " : " ");
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* UpdateExpression from set/remove/add/delete, or opts.expression (not both). */
static void s_update_expr(lua_State *L, db_call *c, int opts) {
    static const char *const k_keys[CL_COUNT] = {"set", "remove", "add", "delete"};
    static const char *const k_words[CL_COUNT] = {"SET ", "REMOVE ", "ADD ", "DELETE "};
    size_t n;
    const char *raw = s_opt_expr(L, c, opts, "expression", &n);
    mb_buf *out = &c->st->tmp;
    mb_buf_reset(out);
    for (int i = 0; i < CL_COUNT; i++) {
        s_clause(L, c, opts, k_keys[i], i);
        if (c->st->clause[i].len) {
            s_appends(L, out, out->len ? " " : "");
            s_appends(L, out, k_words[i]);
            s_append(L, out, c->st->clause[i].ptr, c->st->clause[i].len);
        }
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

/* ctx.db.update(sk, {set, remove, add, delete | expression, exists, expect, condition, names,
 * values, return = "ALL_NEW", conflict}) -> the item after the update. [-2, +1, v] */
static int s_update(lua_State *L) {
    db_call c;
    luaL_checktype(L, 2, LUA_TTABLE);
    int opts = lua_absindex(L, 2);
    s_begin(L, &c, "ctx.db.update", "UpdateItem");
    s_push_key(L, &c, 1);
    lua_setfield(L, c.req, "Key");
    s_update_expr(L, &c, opts);
    const char *conflict = s_write_opts(L, &c, opts, "ALL_NEW");
    s_send(L, &c, conflict);
    s_result_item(L, "Attributes");
    return 1;
}

/* ---- cursors ---- */

/* The per-deployment cursor key: HMAC(key material, label), where the material is, in order:
 * CURSOR_SECRET (local runs: scripts/seed gives each local stack a random one), the Secrets
 * Manager secret CURSOR_SECRET_ARN (deployments: read at run time through the cached client, so a
 * rotation reaches warm processes within the TTL, and the key is never in the function's
 * configuration), else 32 random bytes of this process (cursors then work only in the process
 * that made them). Never derived from AWS_SECRET_ACCESS_KEY: a local stack's is the public
 * "local", which let anyone mint cursors. */
static void s_secret(lua_State *L, db_call *c) {
    db_state *st = c->st;
    const mb_config *cfg = c->svc->cfg;
    bool from_manager = cfg && !cfg->cursor_secret && cfg->cursor_secret_arn;
    if (st->have_secret && !from_manager) {
        return;
    }
    static const char label[] = "moonbase-cursor-secret";
    mb_cur src = {0};
    if (cfg && cfg->cursor_secret) {
        src = mb_cur_from_cstr(cfg->cursor_secret);
    } else if (from_manager) {
        mb_err err = {0};
        if (!mb_lua_api_secrets(c->svc, &err) ||
            mb_secrets_get(c->svc->secrets, cfg->cursor_secret_arn, c->svc->deadline_ms, &src,
                           &err) != 0) {
            s_log(c, MB_LOG_ERROR, "cursor key not available", err.status, &err);
            mb_lua_aux_raise_fail(L, 503, "unavailable", "a dependency is unavailable");
        }
        mb_log_redact_value(c->svc->log, src);
    }
    unsigned int len = 0;
    if (src.len) {
        HMAC(EVP_sha256(), src.ptr, (int)(src.len < 65536 ? src.len : 65536),
             (const unsigned char *)label, sizeof label - 1, st->secret, &len);
    } else if (s_random(st->secret, sizeof st->secret)) {
        len = sizeof st->secret;
        mb_log_writef(
            c->svc->log, MB_LOG_WARN,
            "CURSOR_SECRET is not set (nor CURSOR_SECRET_ARN): pagination cursors are valid "
            "in this process only");
    }
    if (len != sizeof st->secret) {
        luaL_error(L, "%s: cannot derive the cursor key", c->fn);
    }
    st->have_secret = true;
}

/* mac = HMAC-SHA256(secret, label || 0 || be32(len tenant) || tenant || key JSON). */
static void s_mac(lua_State *L, db_call *c, mb_cur json, unsigned char mac[32]) {
    mb_buf *b = &c->st->tmp;
    mb_cur t = c->svc->tenant;
    unsigned char be[4] = {(unsigned char)(t.len >> 24), (unsigned char)(t.len >> 16),
                           (unsigned char)(t.len >> 8), (unsigned char)t.len};
    mb_buf_reset(b);
    s_append(L, b, CURSOR_LABEL, sizeof CURSOR_LABEL); /* with its NUL: the separator */
    s_append(L, b, (const char *)be, sizeof be);
    s_append(L, b, t.ptr, t.len);
    s_append(L, b, json.ptr, json.len);
    unsigned int len = 0;
    HMAC(EVP_sha256(), c->st->secret, (int)sizeof c->st->secret, (const unsigned char *)b->ptr,
         b->len, mac, &len);
}

/* Push the opaque cursor of the key (without PK) at idx: base64url(1 || JSON || MAC). */
static void s_push_cursor(lua_State *L, db_call *c, int idx) {
    db_state *st = c->st;
    s_secret(L, c);
    mb_buf_reset(&st->raw);
    s_append(L, &st->raw, "\x01", 1);
    mb_err err = {0};
    if (mb_ddb_marshal_item(L, idx, &st->raw, &err) != 0) {
        luaL_error(L, "%s: cannot encode the cursor: %s", c->fn, err.msg);
    }
    unsigned char mac[32];
    s_mac(L, c, (mb_cur){st->raw.ptr + 1, st->raw.len - 1}, mac);
    s_append(L, &st->raw, (const char *)mac, CURSOR_MAC_LEN);
    mb_buf_reset(&st->b64);
    if (mb_base64url_encode(&st->b64, mb_buf_cur(&st->raw)) != 0) {
        luaL_error(L, "not enough memory");
    }
    lua_pushlstring(L, st->b64.ptr, st->b64.len);
}

static int s_bad_cursor(lua_State *L) {
    return mb_lua_aux_raise_fail(L, 400, "bad_request", "invalid cursor");
}

/* Push the ExclusiveStartKey (PK added) of the cursor at idx, or raise a 400 fail: a cursor
 * that is malformed, forged, or made for another tenant does not verify. [-0, +1, v] */
static void s_push_start_key(lua_State *L, db_call *c, int idx) {
    db_state *st = c->st;
    size_t n = 0;
    const char *s = lua_type(L, idx) == LUA_TSTRING ? lua_tolstring(L, idx, &n) : NULL;
    if (!s || n == 0 || n > MAX_CURSOR) {
        s_bad_cursor(L);
    }
    s_secret(L, c);
    mb_buf_reset(&st->raw);
    if (mb_base64url_decode(&st->raw, (mb_cur){s, n}, NULL) != 0 ||
        st->raw.len < 1 + 2 + CURSOR_MAC_LEN || st->raw.ptr[0] != CURSOR_VERSION) {
        s_bad_cursor(L);
    }
    mb_cur json = {st->raw.ptr + 1, st->raw.len - 1 - CURSOR_MAC_LEN};
    unsigned char mac[32];
    s_mac(L, c, json, mac);
    if (CRYPTO_memcmp(mac, json.ptr + json.len, CURSOR_MAC_LEN) != 0) {
        s_bad_cursor(L);
    }
    if (mb_ddb_marshal_unmarshal_item(L, json, NULL) != 0) { /* verified, so ours: still check */
        s_bad_cursor(L);
    }
    if (lua_getfield(L, -1, "PK") != LUA_TNIL) { /* stack: key, pk */
        s_bad_cursor(L);
    }
    lua_pop(L, 1);
    if (lua_getfield(L, -1, "SK") != LUA_TSTRING) { /* stack: key, sk */
        s_bad_cursor(L);
    }
    s_ns_sk(L, c); /* cursors hold the logical SK, like the items a handler reads */
    lua_setfield(L, -2, "SK");
    s_push_pk(L, c->svc);
    lua_setfield(L, -2, "PK");
}

/* ---- ctx.db.query ---- */

/* KeyConditionExpression: the tenant's partition, narrowed by begins_with or between. */
static void s_key_condition(lua_State *L, db_call *c, int opts) {
    mb_buf *b = &c->st->cond;
    mb_buf_reset(b);
    s_push_pk(L, c->svc);
    lua_setfield(L, c->values, VALUE_PREFIX "pk");
    s_appends(L, b, "PK = " VALUE_PREFIX "pk");
    int bw = opts ? lua_getfield(L, opts, "begins_with") : LUA_TNIL; /* stack: bw */
    int bt = opts ? lua_getfield(L, opts, "between") : LUA_TNIL;     /* stack: bw, bt */
    size_t n;
    if (bw != LUA_TNIL && bt != LUA_TNIL) {
        luaL_error(L, "%s: give begins_with or between, not both", c->fn);
    }
    mb_cur ns = c->svc->db_namespace;
    if (bw != LUA_TNIL) {
        s_check_str(L, -2, c->fn, "begins_with", MAX_SK, &n);
        lua_pushvalue(L, -2);
        s_ns_sk(L, c);
        lua_setfield(L, c->values, VALUE_PREFIX "sk");
        s_appends(L, b, " AND begins_with(SK, " VALUE_PREFIX "sk)");
    } else if (bt != LUA_TNIL) {
        luaL_argexpected(L, bt == LUA_TTABLE, 1, "between must be {low, high}");
        lua_rawgeti(L, -1, 1); /* stack: bw, bt, lo */
        s_check_str(L, -1, c->fn, "between[1]", MAX_SK, &n);
        s_ns_sk(L, c);
        lua_setfield(L, c->values, VALUE_PREFIX "lo");
        lua_rawgeti(L, -1, 2); /* stack: bw, bt, hi */
        s_check_str(L, -1, c->fn, "between[2]", MAX_SK, &n);
        s_ns_sk(L, c);
        lua_setfield(L, c->values, VALUE_PREFIX "hi");
        s_appends(L, b, " AND SK BETWEEN " VALUE_PREFIX "lo AND " VALUE_PREFIX "hi");
    } else if (ns.len) { /* a namespaced handler sees its own keys only */
        lua_pushlstring(L, ns.ptr, ns.len);
        lua_setfield(L, c->values, VALUE_PREFIX "sk");
        s_appends(L, b, " AND begins_with(SK, " VALUE_PREFIX "sk)");
    }
    lua_pop(L, opts ? 2 : 0);
    lua_pushlstring(L, b->ptr, b->len);
    lua_setfield(L, c->req, "KeyConditionExpression");
}

/* Filter, projection, order, consistency; returns the page size asked for (0: none). */
static lua_Integer s_query_opts(lua_State *L, db_call *c, int opts, bool *exact) {
    size_t n;
    const char *filter = s_opt_expr(L, c, opts, "filter", &n);
    if (filter) {
        lua_pushlstring(L, filter, n);
        lua_setfield(L, c->req, "FilterExpression");
    }
    const char *proj = s_opt_expr(L, c, opts, "projection", &n);
    if (proj) {
        lua_pushlstring(L, proj, n);
        lua_setfield(L, c->req, "ProjectionExpression");
    }
    s_set_consistent(L, opts, c->req);
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

/* Replace the Query response on top by {items = [...], cursor = "..." | nil, count = n}. */
static void s_query_result(lua_State *L, db_call *c, lua_Integer limit, bool exact) {
    int resp = lua_gettop(L);
    lua_createtable(L, 0, 3);                           /* stack: resp, out */
    if (lua_getfield(L, resp, "Items") != LUA_TTABLE) { /* stack: resp, out, items */
        lua_pop(L, 1);
        lua_newtable(L);
    }
    int items = lua_gettop(L);
    s_strip_list(L); /* first: the cursor below takes the logical SK of the last item */
    lua_Integer n = (lua_Integer)lua_rawlen(L, items);
    lua_pushnil(L); /* stack: resp, out, items, cursor */
    if (exact && n > limit) {
        for (lua_Integer i = n; i > limit; i--) {
            lua_pushnil(L);
            lua_rawseti(L, items, i);
        }
        n = limit;
        lua_createtable(L, 0, 1); /* stack: ..., cursor, key */
        lua_rawgeti(L, items, n);
        lua_getfield(L, -1, "SK");
        lua_setfield(L, -3, "SK");
        lua_pop(L, 1);
        s_push_cursor(L, c, lua_gettop(L)); /* stack: ..., cursor, key, text */
        lua_replace(L, -3);
        lua_pop(L, 1);
    } else if (lua_getfield(L, resp, "LastEvaluatedKey") == LUA_TTABLE) {
        s_strip(L, lua_gettop(L)); /* stack: ..., cursor, lek */
        s_push_cursor(L, c, lua_gettop(L));
        lua_replace(L, -3);
        lua_pop(L, 1);
    } else {
        lua_pop(L, 1);
    }
    lua_setfield(L, resp + 1, "cursor"); /* stack: resp, out, items */
    lua_setfield(L, resp + 1, "items");
    lua_pushinteger(L, n);
    lua_setfield(L, resp + 1, "count");
    lua_remove(L, resp); /* stack: out */
}

/* ctx.db.query([{begins_with | between, limit, descending, consistent, filter, projection,
 * names, values, cursor}]) -> {items = {...}, cursor = "..." | nil, count = n}. [-1, +1, v] */
static int s_query(lua_State *L) {
    db_call c;
    int opts = s_opts(L, 1);
    s_begin(L, &c, "ctx.db.query", "Query");
    s_key_condition(L, &c, opts);
    lua_Integer limit = 0;
    bool exact = false;
    if (opts) {
        s_copy_names(L, &c, opts);
        s_copy_values(L, &c, opts);
        limit = s_query_opts(L, &c, opts, &exact);
        if (lua_getfield(L, opts, "cursor") != LUA_TNIL) { /* stack: cursor */
            s_push_start_key(L, &c, lua_gettop(L));
            lua_setfield(L, c.req, "ExclusiveStartKey");
        }
        lua_pop(L, 1);
    }
    s_send(L, &c, NULL);
    s_query_result(L, &c, limit, exact);
    return 1;
}

/* ---- batches ---- */

/* ctx.db.batch_get({sk, ...} [, {consistent = true}]) -> {item, ...} (found items, any order;
 * at most 100 keys). [-2, +1, v] */
static int s_batch_get(lua_State *L) {
    db_call c;
    luaL_checktype(L, 1, LUA_TTABLE);
    int opts = s_opts(L, 2);
    lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
    if (n > MAX_BATCH_GET) {
        return luaL_error(L, "ctx.db.batch_get: at most %d keys", MAX_BATCH_GET);
    }
    s_begin(L, &c, "ctx.db.batch_get", "BatchGetItem");
    lua_createtable(L, 0, 2);      /* stack: ..., entry */
    lua_createtable(L, (int)n, 0); /* stack: ..., entry, keys */
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, 1, i);
        s_push_key(L, &c, -1);
        lua_rawseti(L, -3, i);
        lua_pop(L, 1);
    }
    lua_setfield(L, -2, "Keys");
    if (opts) {
        s_set_consistent(L, opts, lua_gettop(L));
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
    s_strip_list(L);
    return 1;
}

/* Append {PutRequest = {Item}} or {DeleteRequest = {Key}} entries from t[field] to list. */
static lua_Integer s_write_requests(lua_State *L, db_call *c, const char *field, int list,
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
            s_push_item(L, c, -3);
        } else {
            s_push_key(L, c, -3);
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
    db_call c;
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

/* ---- ctx.ulid ---- */

static const char k_crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* ctx.ulid() -> a 26-character ULID: 48-bit millisecond time + 80 random bits (getrandom),
 * Crockford base32, so ids sort by creation time. Within one millisecond the random part is
 * incremented (monotonic ULIDs), so ids made by one process also sort in creation order. */
static int s_ulid(lua_State *L) {
    db_state *st = s_state(L);
    mb_lua_services *svc = mb_lua_aux_services(L);
    int64_t ms = mb_clock_now_ms(svc ? svc->clock : NULL);
    if (ms <= st->ulid_ms) {
        ms = st->ulid_ms;
        int i = 9;
        while (i >= 0 && ++st->ulid_rand[i] == 0) {
            i--;
        }
    } else if (!s_random(st->ulid_rand, sizeof st->ulid_rand)) {
        return luaL_error(L, "ctx.ulid: no randomness available");
    }
    st->ulid_ms = ms;
    char out[26];
    for (int i = 9; i >= 0; i--) {
        out[i] = k_crockford[ms & 31];
        ms >>= 5;
    }
    for (int i = 0; i < 16; i++) { /* 80 bits, 5 at a time, most significant first */
        int bit = i * 5, v = 0;
        for (int j = 0; j < 5; j++, bit++) {
            v = (v << 1) | ((st->ulid_rand[bit / 8] >> (7 - bit % 8)) & 1);
        }
        out[10 + i] = k_crockford[v];
    }
    lua_pushlstring(L, out, sizeof out);
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
    lua_pushcfunction(L, s_ulid);
    lua_setfield(L, -2, "ulid");
}
