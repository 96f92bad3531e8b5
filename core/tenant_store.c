/* tenant_store.c - tenant handler versions and live pointers in the single table
 * (moonbase/tenant_store.h). Requests are Lua tables sent by the ddb module, as ctx.db does,
 * but with the platform partition "HANDLERS#<tenant>" that ctx.db can never name. */
#include "moonbase/tenant_store.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <openssl/evp.h>

#include "moonbase/clock.h"
#include "moonbase/ddb.h"
#include "moonbase/lua_aux.h" /* MB_LUA_ARRAY_MT */

/* "VER#<name>#" + 10 digits: versions sort by number as strings. */
#define VERSION_DIGITS 10

bool mb_tenant_store_valid_name(mb_cur name) {
    if (name.len == 0 || name.len > MB_TENANT_MAX_NAME) {
        return false;
    }
    for (size_t i = 0; i < name.len; i++) {
        char c = name.ptr[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && i > 0);
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* ---- request building ---- */

/* Push a request table {TableName = table}. [-0, +1, m] */
static int s_request(const mb_tenant_store *s, lua_State *L) {
    lua_createtable(L, 0, 8);
    lua_pushstring(L, s->table);
    lua_setfield(L, -2, "TableName");
    return lua_gettop(L);
}

static void s_push_pk(const mb_tenant_store *s, lua_State *L) {
    lua_pushliteral(L, MB_TENANT_PK_PREFIX);
    lua_pushlstring(L, s->tenant.ptr, s->tenant.len);
    lua_concat(L, 2);
}

/* Push "PTR#<name>", "VER#<name>#" or "VER#<name>#<version>" (version > 0). [-0, +1, m] */
static void s_push_sk(lua_State *L, const char *prefix, mb_cur name, int64_t version, bool ver) {
    lua_pushstring(L, prefix);
    lua_pushlstring(L, name.ptr, name.len);
    if (!ver) {
        lua_concat(L, 2);
        return;
    }
    char num[24] = "";
    if (version > 0) {
        snprintf(num, sizeof num, "%0*lld", VERSION_DIGITS, (long long)version);
    }
    lua_pushliteral(L, "#");
    lua_pushstring(L, num);
    lua_concat(L, 4);
}

/* Set req.Key = {PK, SK = <string on the stack top>}; pops the SK. [-1, +0, m] */
static void s_set_key(const mb_tenant_store *s, lua_State *L, int req) {
    lua_createtable(L, 0, 2); /* stack: sk, key */
    lua_insert(L, -2);        /* stack: key, sk */
    lua_setfield(L, -2, "SK");
    s_push_pk(s, L);
    lua_setfield(L, -2, "PK");
    lua_setfield(L, req, "Key");
}

/* req[map][k] = <value on the stack top> (map created on demand); pops the value. */
static void s_map_set(lua_State *L, int req, const char *map, const char *k) {
    if (lua_getfield(L, req, map) != LUA_TTABLE) { /* stack: v, map? */
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, req, map);
    }
    lua_insert(L, -2); /* stack: map, v */
    lua_setfield(L, -2, k);
    lua_pop(L, 1);
}

static void s_value_int(lua_State *L, int req, const char *k, int64_t v) {
    lua_pushinteger(L, (lua_Integer)v);
    s_map_set(L, req, "ExpressionAttributeValues", k);
}

static void s_value_cur(lua_State *L, int req, const char *k, mb_cur v) {
    lua_pushlstring(L, v.ptr, v.len);
    s_map_set(L, req, "ExpressionAttributeValues", k);
}

static void s_name(lua_State *L, int req, const char *k, const char *attr) {
    lua_pushstring(L, attr);
    s_map_set(L, req, "ExpressionAttributeNames", k);
}

static void s_set_str(lua_State *L, int req, const char *field, const char *v) {
    lua_pushstring(L, v);
    lua_setfield(L, req, field);
}

/* Send req (at the stack top), replace it by the response. [-1, +1] on success, [-1, +0] not. */
static int s_send(const mb_tenant_store *s, lua_State *L, const char *op, mb_err *err) {
    int req = lua_gettop(L);
    int rc = mb_ddb_call(s->ddb, L, op, req, s->deadline_ms, err);
    lua_remove(L, req);
    return rc;
}

/* ---- values ---- */

static void s_timestamp(char out[32]) {
    int64_t ms = mb_clock_now_ms(NULL);
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
}

static void s_sha256_hex(mb_cur data, char out[65]) {
    unsigned char md[32];
    unsigned int len = 0;
    EVP_Digest(data.ptr, data.len, md, &len, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++) {
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    }
}

static int64_t s_int_field(lua_State *L, int t, const char *k) {
    lua_getfield(L, t, k);
    int64_t v = lua_isinteger(L, -1) ? (int64_t)lua_tointeger(L, -1) : 0;
    lua_pop(L, 1);
    return v;
}

/* ---- reads ---- */

/* GetItem of the SK on the stack top; replaces it by the item or nil. [-1, +1] / [-1, +0] */
static int s_get(const mb_tenant_store *s, lua_State *L, bool consistent, mb_err *err) {
    int sk = lua_gettop(L);
    int req = s_request(s, L); /* stack: sk, req */
    lua_pushvalue(L, sk);
    s_set_key(s, L, req);
    lua_pushboolean(L, consistent);
    lua_setfield(L, req, "ConsistentRead");
    int rc = s_send(s, L, "GetItem", err); /* stack: sk, resp */
    if (rc != 0) {
        lua_settop(L, sk - 1);
        return rc;
    }
    lua_getfield(L, -1, "Item"); /* stack: sk, resp, item|nil */
    lua_replace(L, sk);
    lua_settop(L, sk);
    return 0;
}

int mb_tenant_store_get_pointer(const mb_tenant_store *s, lua_State *L, mb_cur name,
                                bool consistent, mb_err *err) {
    s_push_sk(L, MB_TENANT_PTR_PREFIX, name, 0, false);
    return s_get(s, L, consistent, err);
}

int mb_tenant_store_get_version(const mb_tenant_store *s, lua_State *L, mb_cur name,
                                int64_t version, mb_err *err) {
    if (version <= 0) {
        lua_pushnil(L);
        return 0;
    }
    s_push_sk(L, MB_TENANT_VER_PREFIX, name, version, true);
    return s_get(s, L, false, err); /* a version never changes once written */
}

/* Query the partition for SKs beginning with the string on the stack top, every page, into one
 * array. The request's other fields come from the table at opts (0: none). [-1, +1] / [-1, +0] */
static int s_query_all(const mb_tenant_store *s, lua_State *L, int opts, mb_err *err) {
    int prefix = lua_gettop(L);
    lua_newtable(L);                       /* stack: prefix, out */
    luaL_setmetatable(L, MB_LUA_ARRAY_MT); /* "[]" when empty */
    int out = lua_gettop(L);
    lua_Integer n = 0;
    lua_pushnil(L); /* stack: prefix, out, start */
    for (;;) {
        int req = s_request(s, L); /* stack: prefix, out, start, req */
        if (opts) {
            lua_pushnil(L);
            while (lua_next(L, opts)) {
                lua_pushvalue(L, -2);
                lua_insert(L, -2);
                lua_settable(L, req);
            }
        }
        s_set_str(L, req, "KeyConditionExpression", "PK = :pk AND begins_with(SK, :p)");
        s_push_pk(s, L);
        s_map_set(L, req, "ExpressionAttributeValues", ":pk");
        lua_pushvalue(L, prefix);
        s_map_set(L, req, "ExpressionAttributeValues", ":p");
        if (!lua_isnil(L, req - 1)) {
            lua_pushvalue(L, req - 1);
            lua_setfield(L, req, "ExclusiveStartKey");
        }
        int rc = s_send(s, L, "Query", err); /* stack: prefix, out, start, resp */
        if (rc != 0) {
            lua_settop(L, prefix - 1);
            return rc;
        }
        if (lua_getfield(L, -1, "Items") == LUA_TTABLE) { /* stack: ..., resp, items */
            lua_Integer count = (lua_Integer)lua_rawlen(L, -1);
            for (lua_Integer i = 1; i <= count; i++) {
                lua_rawgeti(L, -1, i);
                lua_rawseti(L, out, ++n);
            }
        }
        lua_pop(L, 1);                           /* stack: prefix, out, start, resp */
        lua_getfield(L, -1, "LastEvaluatedKey"); /* stack: prefix, out, start, resp, lek */
        lua_replace(L, out + 1);                 /* stack: prefix, out, lek, resp */
        lua_pop(L, 1);
        if (lua_isnil(L, -1)) {
            break;
        }
    }
    lua_pop(L, 1);
    lua_remove(L, prefix); /* stack: out */
    return 0;
}

int mb_tenant_store_list(const mb_tenant_store *s, lua_State *L, mb_err *err) {
    lua_createtable(L, 0, 1); /* stack: opts */
    int opts = lua_gettop(L);
    s_set_str(L, opts, "FilterExpression", "attribute_exists(live)");
    lua_pushliteral(L, MB_TENANT_PTR_PREFIX);
    int rc = s_query_all(s, L, opts, err);
    lua_remove(L, opts);
    return rc;
}

int mb_tenant_store_versions(const mb_tenant_store *s, lua_State *L, mb_cur name, mb_err *err) {
    lua_createtable(L, 0, 3); /* stack: opts */
    int opts = lua_gettop(L);
    s_set_str(L, opts, "ProjectionExpression", "#v, #z, #h, #a, #c, #r");
    lua_pushboolean(L, 0);
    lua_setfield(L, opts, "ScanIndexForward");
    lua_createtable(L, 0, 6); /* "size" is a reserved word: every name goes through a # */
    static const char *const names[][2] = {{"#v", "version"},   {"#z", "size"},
                                           {"#h", "sha256"},    {"#a", "author"},
                                           {"#c", "createdAt"}, {"#r", "rolledBackFrom"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        lua_pushstring(L, names[i][1]);
        lua_setfield(L, -2, names[i][0]);
    }
    lua_setfield(L, opts, "ExpressionAttributeNames");
    s_push_sk(L, MB_TENANT_VER_PREFIX, name, 0, true);
    int rc = s_query_all(s, L, opts, err);
    lua_remove(L, opts);
    return rc;
}

/* ---- writes ---- */

/* An UpdateItem (the request at the stack top) that a retry must not apply twice nor report as a
 * conflict with itself (mb_ddb_update_once): the client's marker is SET by `update` too (added
 * to its SET clause, which must then be its last, or as a SET clause of its own), and `cond`
 * (NULL: none) is ANDed with the marker's condition. Sends it and replaces it by the response,
 * like s_send. [-1, +1] on success, [-1, +0] not. */
static int s_send_once(const mb_tenant_store *s, lua_State *L, const char *update, const char *cond,
                       mb_err *err) {
    char token[33];
    int req = lua_gettop(L);
    int rc = mb_ddb_once_token(token, err);
    if (rc != 0) {
        lua_remove(L, req);
        return rc;
    }
    lua_pushstring(L, update);
    lua_pushstring(L, strstr(update, "SET ") ? ", #o = :o" : " SET #o = :o");
    lua_concat(L, 2);
    lua_setfield(L, req, "UpdateExpression");
    if (cond) {
        lua_pushliteral(L, "(");
        lua_pushstring(L, cond);
        lua_pushliteral(L, ") AND (attribute_not_exists(#o) OR #o <> :o)");
        lua_concat(L, 3);
    } else {
        lua_pushliteral(L, "attribute_not_exists(#o) OR #o <> :o");
    }
    lua_setfield(L, req, "ConditionExpression");
    s_name(L, req, "#o", mb_ddb_once_attr(s->ddb));
    s_value_cur(L, req, ":o", mb_cur_from_cstr(token));
    rc = mb_ddb_update_once(s->ddb, L, req, token, s->deadline_ms, err);
    lua_remove(L, req);
    return rc;
}

/* ADD n :delta to the COUNT item; an increment only while n < cap. Idempotent (s_send_once): a
 * lost answer cannot count a handler twice (an increment would make the cap bite early, a
 * decrement let one too many in). [-0, +0] */
static int s_count(const mb_tenant_store *s, lua_State *L, int delta, mb_err *err) {
    int req = s_request(s, L);
    lua_pushliteral(L, MB_TENANT_COUNT_SK);
    s_set_key(s, L, req);
    s_value_int(L, req, ":d", delta);
    s_set_str(L, req, "ReturnValues", "NONE");
    if (delta > 0) {
        s_value_int(L, req, ":cap", MB_TENANT_MAX_HANDLERS);
    }
    int rc = s_send_once(s, L, "ADD n :d", delta > 0 ? "attribute_not_exists(n) OR n < :cap" : NULL,
                         err);
    if (rc == 0) {
        lua_pop(L, 1);
    }
    return rc;
}

/* Hand out the next version number: ADD latest 1 on the pointer (created if absent), so no two
 * deploys ever get the same number, even when one of them later loses. [-0, +0] */
static int s_allocate(const mb_tenant_store *s, lua_State *L, mb_cur name, int64_t *version,
                      mb_err *err) {
    int req = s_request(s, L);
    s_push_sk(L, MB_TENANT_PTR_PREFIX, name, 0, false);
    s_set_key(s, L, req);
    s_set_str(L, req, "UpdateExpression", "ADD latest :one SET #n = :name");
    s_name(L, req, "#n", "name");
    s_value_int(L, req, ":one", 1);
    s_value_cur(L, req, ":name", name);
    s_set_str(L, req, "ReturnValues", "UPDATED_NEW");
    int rc = s_send(s, L, "UpdateItem", err);
    if (rc != 0) {
        return rc;
    }
    lua_getfield(L, -1, "Attributes"); /* stack: resp, attrs */
    *version = lua_istable(L, -1) ? s_int_field(L, -1, "latest") : 0;
    lua_pop(L, 2);
    return *version > 0 ? 0 : mb_err_set(err, MB_ERR_UPSTREAM, "no version number returned");
}

/* Write the version item once (attribute_not_exists: a number is never reused). */
static int s_put_version(const mb_tenant_store *s, lua_State *L, const mb_tenant_deploy *d,
                         int64_t version, const char *sha, const char *now, mb_err *err) {
    int req = s_request(s, L);
    lua_createtable(L, 0, 10); /* stack: req, item */
    s_push_pk(s, L);
    lua_setfield(L, -2, "PK");
    s_push_sk(L, MB_TENANT_VER_PREFIX, d->name, version, true);
    lua_setfield(L, -2, "SK");
    lua_pushlstring(L, d->name.ptr, d->name.len);
    lua_setfield(L, -2, "name");
    lua_pushinteger(L, (lua_Integer)version);
    lua_setfield(L, -2, "version");
    lua_pushlstring(L, d->source.ptr, d->source.len);
    lua_setfield(L, -2, "source");
    lua_pushinteger(L, (lua_Integer)d->source.len);
    lua_setfield(L, -2, "size");
    lua_pushstring(L, sha);
    lua_setfield(L, -2, "sha256");
    lua_pushlstring(L, d->author.ptr, d->author.len);
    lua_setfield(L, -2, "author");
    lua_pushstring(L, now);
    lua_setfield(L, -2, "createdAt");
    if (d->rolled_back_from > 0) {
        lua_pushinteger(L, (lua_Integer)d->rolled_back_from);
        lua_setfield(L, -2, "rolledBackFrom");
    }
    lua_setfield(L, req, "Item");
    s_set_str(L, req, "ConditionExpression", "attribute_not_exists(SK)");
    int rc = s_send(s, L, "PutItem", err);
    if (rc == 0) {
        lua_pop(L, 1);
    }
    return rc;
}

/* Move the pointer to `version` if it still holds what the deploy expected: expected_version
 * when given (0: no live version), else anything older than `version`. */
static int s_commit(const mb_tenant_store *s, lua_State *L, const mb_tenant_deploy *d,
                    int64_t version, const char *sha, const char *now, mb_err *err) {
    int req = s_request(s, L);
    s_push_sk(L, MB_TENANT_PTR_PREFIX, d->name, 0, false);
    s_set_key(s, L, req);
    s_name(L, req, "#z", "size");
    s_value_int(L, req, ":v", version);
    lua_pushstring(L, now);
    s_map_set(L, req, "ExpressionAttributeValues", ":now");
    s_value_int(L, req, ":size", (int64_t)d->source.len);
    lua_pushstring(L, sha);
    s_map_set(L, req, "ExpressionAttributeValues", ":sha");
    s_value_cur(L, req, ":a", d->author);
    const char *cond = "attribute_not_exists(live) OR live < :v";
    if (d->expected_version == 0) {
        cond = "attribute_not_exists(live)";
    } else if (d->expected_version > 0) {
        cond = "live = :e";
        s_value_int(L, req, ":e", d->expected_version);
    }
    s_set_str(L, req, "ReturnValues", "NONE");
    /* Idempotent: a lost answer must neither answer 409 for a version that went live (and give
     * a creating deploy's handler count back while the handler is live) nor move it twice. */
    int rc = s_send_once(
        s, L, "SET live = :v, updatedAt = :now, #z = :size, sha256 = :sha, author = :a", cond, err);
    if (rc == 0) {
        lua_pop(L, 1);
    }
    return rc;
}

/* The live version now (0: none), for a 409's message; -1 when it cannot be read. */
static int64_t s_live_now(const mb_tenant_store *s, lua_State *L, mb_cur name) {
    mb_err e = {0};
    if (mb_tenant_store_get_pointer(s, L, name, true, &e) != 0) {
        return -1;
    }
    int64_t live = lua_istable(L, -1) ? s_int_field(L, -1, "live") : 0;
    lua_pop(L, 1);
    return live;
}

int mb_tenant_store_deploy(const mb_tenant_store *s, lua_State *L, const mb_tenant_deploy *d,
                           int64_t *version, int64_t *current, mb_err *err) {
    int rc = mb_tenant_store_get_pointer(s, L, d->name, true, err);
    if (rc != 0) {
        return rc;
    }
    int64_t live = lua_istable(L, -1) ? s_int_field(L, -1, "live") : 0;
    lua_pop(L, 1);
    *current = live;
    if (d->expected_version >= 0 && d->expected_version != live) {
        return mb_err_set(err, MB_ERR_CONFLICT, "the live version is %lld, not %lld",
                          (long long)live, (long long)d->expected_version);
    }
    bool creating = live == 0;
    if (creating && (rc = s_count(s, L, 1, err)) != 0) {
        return rc == MB_ERR_CONFLICT ? mb_err_set(err, MB_ERR_LIMIT,
                                                  "a tenant has at most %d handlers: delete one "
                                                  "first",
                                                  MB_TENANT_MAX_HANDLERS)
                                     : rc;
    }
    char now[32], sha[65];
    s_timestamp(now);
    s_sha256_hex(d->source, sha);
    if ((rc = s_allocate(s, L, d->name, version, err)) == 0 &&
        (rc = s_put_version(s, L, d, *version, sha, now, err)) == 0) {
        rc = s_commit(s, L, d, *version, sha, now, err);
    }
    if (rc == MB_ERR_CONFLICT) {
        *current = s_live_now(s, L, d->name);
        mb_err_set(err, MB_ERR_CONFLICT, "another deploy went live first (live version %lld)",
                   (long long)*current);
    }
    if (rc != 0 && creating) {
        mb_err keep = *err;
        (void)s_count(s, L, -1, &keep); /* give the slot back; a failure here only wastes it */
    }
    return rc;
}

int mb_tenant_store_delete(const mb_tenant_store *s, lua_State *L, mb_cur name, mb_err *err) {
    int req = s_request(s, L);
    s_push_sk(L, MB_TENANT_PTR_PREFIX, name, 0, false);
    s_set_key(s, L, req);
    char now[32];
    s_timestamp(now);
    lua_pushstring(L, now);
    s_map_set(L, req, "ExpressionAttributeValues", ":now");
    s_set_str(L, req, "ReturnValues", "NONE");
    /* Idempotent: a lost answer must not turn into a 404 for a handler this call deleted (and
     * leave the handler count one too high). */
    int rc = s_send_once(s, L, "REMOVE live SET updatedAt = :now", "attribute_exists(live)", err);
    if (rc == MB_ERR_CONFLICT) {
        return mb_err_set(err, MB_ERR_NOTFOUND, "no handler of that name");
    }
    if (rc != 0) {
        return rc;
    }
    lua_pop(L, 1);
    return s_count(s, L, -1, err);
}
