/* ddb.c - DynamoDB on the AWS JSON-protocol client: Lua requests in, Lua responses out, batch
 * re-sends (see moonbase/ddb.h). */
#include "moonbase/ddb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <jansson.h>
#include <lauxlib.h>
#include <openssl/rand.h>

#include "moonbase/ddb_marshal.h"
#include "moonbase/text.h"

struct mb_ddb {
    mb_aws_json *aws;
    mb_buf body;        /* the marshalled request, reused: no allocation on a warm path */
    char once_attr[32]; /* "mb_once_<16 hex digits>", see mb_ddb_once_attr */
};

mb_ddb *mb_ddb_new(const mb_ddb_config *cfg, mb_sigv4_credentials *creds, mb_err *err) {
    mb_ddb *d = calloc(1, sizeof *d);
    if (!d) {
        mb_sigv4_credentials_cleanup(creds);
        mb_err_set(err, MB_ERR_NOMEM, "ddb: out of memory");
        return NULL;
    }
    /* getrandom, not RAND_bytes: the marker only has to differ between processes, and OpenSSL's
     * first RAND_bytes sets up its library (~4 ms of CPU on a cold start, measured with
     * hyperfine), which a process that never calls DynamoDB would pay: the app makes this client
     * at start-up. Up to 256 bytes, getrandom returns them all or fails. */
    unsigned char r[8];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        mb_sigv4_credentials_cleanup(creds);
        free(d);
        mb_err_set(err, MB_ERR_IO, "ddb: no random bytes for the idempotency marker");
        return NULL;
    }
    memcpy(d->once_attr, "mb_once_", 8);
    mb_text_hex_encode(r, sizeof r, d->once_attr + 8);
    mb_aws_json_config ac = {
        .label = "DynamoDB",
        .service = "dynamodb",
        .target_prefix = "DynamoDB_20120810",
        .content_type = "application/x-amz-json-1.0",
        .region = cfg->region,
        .endpoint = cfg->endpoint,
        .max_attempts = cfg->max_attempts,
        .base_delay_ms = cfg->base_delay_ms,
        .max_delay_ms = cfg->max_delay_ms,
        .attempt_timeout_ms = cfg->attempt_timeout_ms,
        .map_error = mb_ddb_map_error,
        .seams = cfg->seams,
    };
    if (!(d->aws = mb_aws_json_new(&ac, creds, err))) {
        free(d);
        return NULL;
    }
    return d;
}

void mb_ddb_free(mb_ddb *ddb) {
    if (!ddb) {
        return;
    }
    mb_aws_json_free(ddb->aws);
    mb_buf_cleanup(&ddb->body);
    free(ddb);
}

const mb_ddb_stats *mb_ddb_last(const mb_ddb *ddb) {
    return mb_aws_json_last(ddb->aws);
}

const char *mb_ddb_once_attr(const mb_ddb *ddb) {
    return ddb->once_attr;
}

int mb_ddb_once_token(char token[33], mb_err *err) {
    unsigned char r[16];
    if (RAND_bytes(r, (int)sizeof r) != 1) {
        return mb_err_set(err, MB_ERR_IO, "ddb: no random bytes for the idempotency token");
    }
    mb_text_hex_encode(r, sizeof r, token);
    return 0;
}

const mb_clock *mb_ddb_clock(const mb_ddb *ddb) {
    return mb_aws_json_clock(ddb->aws);
}

int mb_ddb_map_error(mb_cur type, long http_status, bool *retryable) {
    /* DynamoDB's errors are the protocol's common ones; kept as its own entry point so the
     * DynamoDB contract (ddb.h) is stated and tested in one place. */
    return mb_aws_json_map_error(type, http_status, retryable);
}

int mb_ddb_send(mb_ddb *ddb, const char *op, mb_cur body, int64_t deadline_ms, mb_buf *response,
                mb_err *err) {
    mb_buf_reset(response);
    mb_cur out;
    int rc = mb_aws_json_call(ddb->aws, op, body, deadline_ms, &out, err);
    if (rc == 0 && mb_buf_append_cur(response, out) != 0) {
        return mb_err_set(err, MB_ERR_NOMEM, "ddb: out of memory");
    }
    return rc;
}

/* ---- a conditional put that may have met itself ---- */

/* A PutItem whose answer was lost (reset, timeout) may have been applied; its retry then fails
 * its own condition (attribute_not_exists on a create) and the caller would answer 409 for a
 * write that is stored. When the failed put had such a transport failure before and returns
 * nothing (ReturnValues NONE), read the item back (consistent) and, when it is exactly the item
 * the put wrote, report the put done: the table is in the state the put asked for, once (a
 * PutItem replaces the whole item, so equality is the whole effect). Anything else, including a
 * failed read, keeps the 409. The key is the table's PK + SK (lua_db writes both, always). */
static bool s_put_is_stored(mb_ddb *d, int64_t deadline_ms) {
    json_t *req = json_loadb(d->body.ptr, d->body.len, 0, NULL);
    json_t *item = json_object_get(req, "Item");
    const char *ret = json_string_value(json_object_get(req, "ReturnValues"));
    bool stored = false;
    if (item && (!ret || strcmp(ret, "NONE") == 0) && json_object_get(item, "PK") &&
        json_object_get(item, "SK")) {
        json_t *get = json_pack(
            "{s:O, s:{s:O, s:O}, s:b}", "TableName", json_object_get(req, "TableName"), "Key", "PK",
            json_object_get(item, "PK"), "SK", json_object_get(item, "SK"), "ConsistentRead", 1);
        char *text = get ? json_dumps(get, JSON_COMPACT) : NULL;
        mb_cur out;
        mb_err gerr = {0};
        if (text && mb_aws_json_call(d->aws, "GetItem", mb_cur_from_cstr(text), deadline_ms, &out,
                                     &gerr) == 0) {
            json_t *resp = json_loadb(out.ptr, out.len, 0, NULL);
            stored = json_equal(json_object_get(resp, "Item"), item);
            json_decref(resp);
        }
        free(text);
        json_decref(get);
    }
    json_decref(req);
    return stored;
}

/* ---- an update that may have met itself ---- */

/* Whether the UpdateItem `body`, just refused by its condition, met its own earlier attempt:
 * only a retry can (a refusal on the first attempt is a real conflict), and then the item it
 * names carries the client's marker = token (a consistent read of its key). The marker is
 * written by the update itself (see mb_ddb_update_once), so finding it proves that this update,
 * and no later one of the same client, was applied. On true, *item is the item read (the caller
 * decrefs it). */
static bool s_update_is_applied(mb_ddb *d, mb_cur body, const char *token, int64_t deadline_ms,
                                json_t **item) {
    if (mb_aws_json_last(d->aws)->attempts < 2) {
        return false;
    }
    const char *marker = d->once_attr;
    json_t *req = json_loadb(body.ptr, body.len, 0, NULL);
    json_t *get = json_pack("{s:O?, s:O?, s:b}", "TableName", json_object_get(req, "TableName"),
                            "Key", json_object_get(req, "Key"), "ConsistentRead", 1);
    char *text = get ? json_dumps(get, JSON_COMPACT) : NULL;
    bool applied = false;
    mb_cur out;
    mb_err gerr = {0};
    if (text && json_object_get(req, "Key") &&
        mb_aws_json_call(d->aws, "GetItem", mb_cur_from_cstr(text), deadline_ms, &out, &gerr) ==
            0) {
        json_t *resp = json_loadb(out.ptr, out.len, 0, NULL);
        json_t *it = json_object_get(resp, "Item");
        const char *seen = json_string_value(json_object_get(json_object_get(it, marker), "S"));
        if (seen && strcmp(seen, token) == 0) {
            applied = true;
            *item = json_incref(it);
        }
        json_decref(resp);
    }
    free(text);
    json_decref(get);
    json_decref(req);
    return applied;
}

int mb_ddb_update_once(mb_ddb *ddb, lua_State *L, int req_idx, const char *token,
                       int64_t deadline_ms, mb_err *err) {
    req_idx = lua_absindex(L, req_idx);
    int rc = mb_ddb_call(ddb, L, "UpdateItem", req_idx, deadline_ms, err);
    if (rc != MB_ERR_CONFLICT) {
        return rc;
    }
    lua_getfield(L, req_idx, "ReturnValues");
    const char *ret = lua_tostring(L, -1);
    bool new_values = ret && (strcmp(ret, "ALL_NEW") == 0 || strcmp(ret, "UPDATED_NEW") == 0);
    bool none = !ret || strcmp(ret, "NONE") == 0;
    lua_pop(L, 1);
    json_t *item = NULL;
    if ((!new_values && !none) ||
        !s_update_is_applied(ddb, mb_buf_cur(&ddb->body), token, deadline_ms, &item)) {
        return rc; /* the old values are gone: an *_OLD update keeps its 409 */
    }
    /* Applied once, by the attempt whose answer was lost: answer as that attempt would have
     * (the whole item for UPDATED_NEW too: a superset of the updated attributes). */
    json_t *resp = new_values ? json_pack("{s:o}", "Attributes", item) : json_object();
    if (!new_values) {
        json_decref(item);
    }
    char *text = resp ? json_dumps(resp, JSON_COMPACT) : NULL;
    json_decref(resp);
    if (!text) {
        return mb_err_set(err, MB_ERR_NOMEM, "ddb: out of memory");
    }
    rc = mb_ddb_marshal_unmarshal_response(L, mb_cur_from_cstr(text), err);
    free(text);
    if (rc != 0) {
        return mb_err_set(err, MB_ERR_UPSTREAM, "DynamoDB UpdateItem: bad response on read-back");
    }
    return 0;
}

int mb_ddb_send_once(mb_ddb *ddb, mb_cur body, const char *token, int64_t deadline_ms,
                     mb_buf *response, mb_err *err) {
    int rc = mb_ddb_send(ddb, "UpdateItem", body, deadline_ms, response, err);
    json_t *item = NULL;
    if (rc == MB_ERR_CONFLICT && s_update_is_applied(ddb, body, token, deadline_ms, &item)) {
        json_decref(item); /* applied once by the attempt whose answer was lost */
        mb_buf_reset(response);
        rc = mb_buf_append_cstr(response, "{}")
                 ? mb_err_set(err, MB_ERR_NOMEM, "ddb: out of memory")
                 : 0;
    }
    return rc;
}

/* ---- Lua layer ---- */

int mb_ddb_call(mb_ddb *ddb, lua_State *L, const char *op, int req_idx, int64_t deadline_ms,
                mb_err *err) {
    mb_buf_reset(&ddb->body);
    mb_cur response;
    int rc = mb_ddb_marshal_request(L, req_idx, &ddb->body, err);
    rc = rc ? rc
            : mb_aws_json_call(ddb->aws, op, mb_buf_cur(&ddb->body), deadline_ms, &response, err);
    if (rc == MB_ERR_CONFLICT && strcmp(op, "PutItem") == 0 &&
        mb_aws_json_last(ddb->aws)->transport_failures > 0 && s_put_is_stored(ddb, deadline_ms)) {
        rc = 0;
        response = MB_CUR_LIT("{}");
    }
    if (rc != 0) {
        return rc;
    }
    if (mb_ddb_marshal_unmarshal_response(L, response, err) != 0) {
        char why[MB_ERR_MSG_MAX];
        snprintf(why, sizeof why, "%s", err ? err->msg : "");
        return mb_err_set(err, MB_ERR_UPSTREAM, "DynamoDB %s: bad response: %s", op, why);
    }
    return 0;
}

int mb_ddb_get_item(mb_ddb *ddb, lua_State *L, int req_idx, int64_t deadline_ms, mb_err *err) {
    return mb_ddb_call(ddb, L, "GetItem", req_idx, deadline_ms, err);
}

int mb_ddb_put_item(mb_ddb *ddb, lua_State *L, int req_idx, int64_t deadline_ms, mb_err *err) {
    return mb_ddb_call(ddb, L, "PutItem", req_idx, deadline_ms, err);
}

int mb_ddb_update_item(mb_ddb *ddb, lua_State *L, int req_idx, int64_t deadline_ms, mb_err *err) {
    return mb_ddb_call(ddb, L, "UpdateItem", req_idx, deadline_ms, err);
}

int mb_ddb_delete_item(mb_ddb *ddb, lua_State *L, int req_idx, int64_t deadline_ms, mb_err *err) {
    return mb_ddb_call(ddb, L, "DeleteItem", req_idx, deadline_ms, err);
}

int mb_ddb_query(mb_ddb *ddb, lua_State *L, int req_idx, int64_t deadline_ms, mb_err *err) {
    return mb_ddb_call(ddb, L, "Query", req_idx, deadline_ms, err);
}

/* Whether the value at idx is not a table or an empty one. */
static bool s_empty(lua_State *L, int idx) {
    if (!lua_istable(L, idx)) {
        return true;
    }
    lua_pushnil(L);
    if (lua_next(L, idx) != 0) {
        lua_pop(L, 2);
        return false;
    }
    return true;
}

/* dst[table] ..= src[table] for every table of a BatchGetItem Responses map. */
static void s_merge_responses(lua_State *L, int dst, int src) {
    if (!lua_istable(L, src)) {
        return;
    }
    lua_pushnil(L);                 /* stack: ..., key */
    while (lua_next(L, src) != 0) { /* stack: ..., key, list */
        lua_pushvalue(L, -2);
        if (lua_rawget(L, dst) != LUA_TTABLE) { /* stack: ..., key, list, old */
            lua_pop(L, 1);
            lua_pushvalue(L, -2);
            lua_pushvalue(L, -2);
            lua_rawset(L, dst); /* dst[key] = list */
            lua_pop(L, 1);
            continue;
        }
        lua_Integer n = (lua_Integer)lua_rawlen(L, -1), m = (lua_Integer)lua_rawlen(L, -2);
        for (lua_Integer i = 1; i <= m; i++) {
            lua_rawgeti(L, -2, i);
            lua_rawseti(L, -2, n + i);
        }
        lua_pop(L, 2); /* stack: ..., key */
    }
}

/* A shallow copy of the request at req with RequestItems replaced by the value at items. */
static void s_push_retry_request(lua_State *L, int req, int items) {
    lua_newtable(L); /* stack: ..., copy */
    lua_pushnil(L);
    while (lua_next(L, req) != 0) { /* stack: ..., copy, key, value */
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -4);
    }
    lua_pushvalue(L, items);
    lua_setfield(L, -2, "RequestItems");
}

static int s_batch(mb_ddb *d, lua_State *L, const char *op, const char *field, int req,
                   int64_t deadline_ms, mb_err *err) {
    int top = lua_gettop(L);
    req = lua_absindex(L, req);
    int rc = mb_ddb_call(d, L, op, req, deadline_ms, err); /* stack: result */
    if (rc != 0 || !lua_checkstack(L, 8)) {
        return rc ? rc : mb_err_set(err, MB_ERR_NOMEM, "ddb: Lua stack exhausted");
    }
    int result = top + 1, merged = top + 2, cur = top + 3;
    if (lua_getfield(L, result, "Responses") != LUA_TTABLE) { /* stack: result, merged */
        lua_pop(L, 1);
        lua_newtable(L);
    }
    lua_pushvalue(L, result); /* stack: result, merged, cur */
    for (int round = 1;; round++) {
        lua_getfield(L, cur, field); /* stack: result, merged, cur, unprocessed */
        if (s_empty(L, cur + 1)) {
            break;
        }
        if (round > MB_DDB_BATCH_ROUNDS || !mb_aws_json_backoff(d->aws, round, deadline_ms)) {
            lua_settop(L, top);
            return mb_err_set(err, MB_ERR_UNAVAILABLE,
                              "DynamoDB %s: items still unprocessed "
                              "after %d rounds",
                              op, round - 1);
        }
        s_push_retry_request(L, req, cur + 1); /* stack: ..., cur, unprocessed, retry */
        rc = mb_ddb_call(d, L, op, cur + 2, deadline_ms, err);
        if (rc != 0) {
            lua_settop(L, top);
            return rc;
        }
        lua_getfield(L, -1, "Responses");
        s_merge_responses(L, merged, lua_gettop(L));
        lua_pop(L, 1);
        lua_replace(L, cur); /* stack: result, merged, cur = new response, unprocessed, retry */
        lua_settop(L, cur);
    }
    lua_settop(L, merged);
    if (strcmp(op, "BatchGetItem") == 0) {
        lua_setfield(L, result, "Responses");
    } else {
        lua_pop(L, 1);
    }
    lua_newtable(L);
    lua_setfield(L, result, field); /* stack: result */
    return 0;
}

int mb_ddb_batch_get(mb_ddb *ddb, lua_State *L, int req_idx, int64_t deadline_ms, mb_err *err) {
    return s_batch(ddb, L, "BatchGetItem", "UnprocessedKeys", req_idx, deadline_ms, err);
}

int mb_ddb_batch_write(mb_ddb *ddb, lua_State *L, int req_idx, int64_t deadline_ms, mb_err *err) {
    return s_batch(ddb, L, "BatchWriteItem", "UnprocessedItems", req_idx, deadline_ms, err);
}
