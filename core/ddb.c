/* ddb.c - DynamoDB JSON-protocol client (see moonbase/ddb.h). */
#include "moonbase/ddb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <lauxlib.h>

#include "moonbase/ddb_marshal.h"
#include "moonbase/http.h"

#define TARGET_PREFIX "DynamoDB_20120810."
#define MAX_URL 512
#define MAX_OP 32
/* DynamoDB answers are at most ~16 MiB (BatchGetItem: 100 items of 400 KB). */
#define MAX_RESPONSE (20u * 1024u * 1024u)
/* Error bodies are small; a bigger one is not parsed for its type. */
#define MAX_ERROR_BODY 16384

struct mb_ddb {
    mb_http *http;
    mb_sigv4_signer signer;
    char region[MB_SIGV4_MAX_SCOPE_PART + 1];
    char url[MAX_URL];
    char host[MAX_URL];
    int max_attempts, base_delay_ms, max_delay_ms;
    long attempt_timeout_ms;
    mb_ddb_seams seams;
    uint64_t rng; /* xorshift state of the default jitter source */
    mb_ddb_stats last;
    /* Reused across calls: no allocation on a warm path, and nothing to leak if Lua raises. */
    mb_buf body;
    mb_buf response;
    mb_http_response http_resp;
    mb_sigv4_output sig;
};

/* ---- default seams ---- */

static int64_t s_now_ms(void *ud) {
    (void)ud;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void s_sleep_ms(void *ud, int64_t ms) {
    (void)ud;
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static uint64_t s_random(void *ud) {
    mb_ddb *d = ud;
    uint64_t x = d->rng; /* xorshift64: jitter needs spread, not secrecy */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    d->rng = x;
    return x;
}

/* ---- construction ---- */

/* Accept "http[s]://host[:port][/]" only: the client always posts to "/". */
static int s_set_endpoint(mb_ddb *d, const char *endpoint, mb_err *err) {
    char def[MAX_URL];
    if (!endpoint || !endpoint[0]) {
        snprintf(def, sizeof def, "https://dynamodb.%s.amazonaws.com", d->region);
        endpoint = def;
    }
    size_t n = strnlen(endpoint, MAX_URL);
    const char *scheme_end = strstr(endpoint, "://");
    bool http = strncmp(endpoint, "http://", 7) == 0, https = strncmp(endpoint, "https://", 8) == 0;
    if (n >= MAX_URL - 2 || !scheme_end || (!http && !https)) {
        return mb_err_set(err, MB_ERR_CONFIG, "DYNAMODB_ENDPOINT must be http(s)://host[:port]");
    }
    const char *host = scheme_end + 3;
    size_t hlen = strcspn(host, "/?#");
    if (hlen == 0 || (host[hlen] && strcmp(host + hlen, "/") != 0)) {
        return mb_err_set(err, MB_ERR_CONFIG, "DYNAMODB_ENDPOINT must have no path or query");
    }
    snprintf(d->host, sizeof d->host, "%.*s", (int)hlen, host);
    snprintf(d->url, sizeof d->url, "%.*s/", (int)(host + hlen - endpoint), endpoint);
    return 0;
}

static int s_configure(mb_ddb *d, const mb_ddb_config *cfg, mb_err *err) {
    if (!cfg->region || !cfg->region[0] || strlen(cfg->region) > MB_SIGV4_MAX_SCOPE_PART) {
        return mb_err_set(err, MB_ERR_CONFIG, "AWS_REGION is missing or too long");
    }
    snprintf(d->region, sizeof d->region, "%s", cfg->region);
    d->max_attempts = cfg->max_attempts > 0 ? cfg->max_attempts : MB_DDB_DEFAULT_ATTEMPTS;
    d->base_delay_ms = cfg->base_delay_ms > 0 ? cfg->base_delay_ms : MB_DDB_DEFAULT_BASE_DELAY_MS;
    d->max_delay_ms = cfg->max_delay_ms > 0 ? cfg->max_delay_ms : MB_DDB_DEFAULT_MAX_DELAY_MS;
    d->attempt_timeout_ms =
        cfg->attempt_timeout_ms > 0 ? cfg->attempt_timeout_ms : MB_DDB_DEFAULT_ATTEMPT_TIMEOUT_MS;
    d->seams = cfg->seams;
    if (!d->seams.now_ms) {
        d->seams.now_ms = s_now_ms;
    }
    if (!d->seams.sleep_ms) {
        d->seams.sleep_ms = s_sleep_ms;
    }
    d->rng = (uint64_t)s_now_ms(NULL) * 2654435761u ^ (uint64_t)getpid() ^ (uint64_t)(uintptr_t)d;
    d->rng = d->rng ? d->rng : 88172645463325252ull;
    return s_set_endpoint(d, cfg->endpoint, err);
}

mb_ddb *mb_ddb_new(const mb_ddb_config *cfg, mb_sigv4_credentials *creds, mb_err *err) {
    mb_ddb *d = calloc(1, sizeof *d);
    if (!d) {
        mb_sigv4_credentials_cleanup(creds);
        mb_err_set(err, MB_ERR_NOMEM, "ddb: out of memory");
        return NULL;
    }
    mb_sigv4_signer_init(&d->signer, creds);
    if (s_configure(d, cfg, err) != 0 || !(d->http = mb_http_new(err))) {
        mb_ddb_free(d);
        return NULL;
    }
    return d;
}

mb_ddb *mb_ddb_new_from_env(mb_sigv4_getenv_fn getenv_fn, const mb_ddb_seams *seams, mb_err *err) {
    mb_sigv4_credentials creds = {0};
    if (mb_sigv4_credentials_from_env(&creds, getenv_fn, err) != 0) {
        return NULL;
    }
    mb_ddb_config cfg = {0};
    cfg.region = getenv_fn("AWS_REGION");
    if (!cfg.region || !cfg.region[0]) {
        cfg.region = getenv_fn("AWS_DEFAULT_REGION");
    }
    cfg.endpoint = getenv_fn("DYNAMODB_ENDPOINT");
    if (seams) {
        cfg.seams = *seams;
    }
    return mb_ddb_new(&cfg, &creds, err);
}

void mb_ddb_free(mb_ddb *ddb) {
    if (!ddb) {
        return;
    }
    mb_http_free(ddb->http);
    mb_sigv4_signer_cleanup(&ddb->signer);
    mb_buf_cleanup(&ddb->body);
    mb_buf_cleanup(&ddb->response);
    mb_http_response_cleanup(&ddb->http_resp);
    mb_sigv4_output_cleanup(&ddb->sig);
    free(ddb);
}

const mb_ddb_stats *mb_ddb_last(const mb_ddb *ddb) {
    return &ddb->last;
}

/* ---- errors ---- */

static bool s_type_is(mb_cur type, const char *name) {
    return mb_cur_eq(type, mb_cur_from_cstr(name));
}

int mb_ddb_map_error(mb_cur type, long http_status, bool *retryable) {
    *retryable = false;
    if (s_type_is(type, "ProvisionedThroughputExceededException") ||
        s_type_is(type, "ThrottlingException") || s_type_is(type, "RequestLimitExceeded")) {
        *retryable = true;
        return MB_ERR_UNAVAILABLE;
    }
    if (s_type_is(type, "InternalServerError") || http_status >= 500) {
        *retryable = true;
        return s_type_is(type, "ServiceUnavailable") || http_status == 503 ? MB_ERR_UNAVAILABLE
                                                                           : MB_ERR_UPSTREAM;
    }
    if (s_type_is(type, "ConditionalCheckFailedException")) {
        return MB_ERR_CONFLICT;
    }
    if (s_type_is(type, "ValidationException") || s_type_is(type, "SerializationException")) {
        return MB_ERR_INVALID;
    }
    return MB_ERR_UPSTREAM; /* ResourceNotFound, AccessDenied, unknown: a 502 for the client */
}

/* Read __type (after its '#') and message from an error body into the stats and err. */
static int s_error_of(mb_ddb *d, const mb_http_response *resp, bool *retryable, mb_err *err) {
    char message[160] = "";
    d->last.error_type[0] = '\0';
    json_t *root = resp->body.len <= MAX_ERROR_BODY
                       ? json_loadb(resp->body.ptr ? resp->body.ptr : "", resp->body.len, 0, NULL)
                       : NULL;
    const char *type = json_string_value(json_object_get(root, "__type"));
    const char *msg = json_string_value(json_object_get(root, "message"));
    msg = msg ? msg : json_string_value(json_object_get(root, "Message"));
    if (type) {
        const char *hash = strrchr(type, '#');
        snprintf(d->last.error_type, sizeof d->last.error_type, "%s", hash ? hash + 1 : type);
    }
    snprintf(message, sizeof message, "%s", msg ? msg : "");
    json_decref(root);
    int status = mb_ddb_map_error(mb_cur_from_cstr(d->last.error_type), resp->status, retryable);
    return mb_err_set(err, status, "DynamoDB %s (HTTP %ld): %s",
                      d->last.error_type[0] ? d->last.error_type : "error", resp->status, message);
}

/* ---- one signed attempt ---- */

static int s_attempt(mb_ddb *d, const char *op, mb_cur body, int64_t now, long timeout_ms,
                     mb_err *err) {
    char target[sizeof TARGET_PREFIX + MAX_OP];
    snprintf(target, sizeof target, TARGET_PREFIX "%s", op);
    mb_http_header h[8] = {
        {MB_CUR_LIT("Host"), mb_cur_from_cstr(d->host)},
        {MB_CUR_LIT("Content-Type"), MB_CUR_LIT("application/x-amz-json-1.0")},
        {MB_CUR_LIT("X-Amz-Target"), mb_cur_from_cstr(target)},
    };
    mb_sigv4_request sreq = {"POST", MB_CUR_LIT("/"), {"", 0}, h, 3, body};
    mb_sigv4_params p = {d->region, "dynamodb", now / 1000, true, false, false, 0};
    int rc = mb_sigv4_sign_headers(&d->signer, &sreq, &p, &d->sig, err);
    if (rc != 0) {
        return rc;
    }
    size_t n = 3;
    for (size_t i = 0; i < d->sig.header_count; i++) {
        h[n++] = d->sig.headers[i];
    }
    mb_http_request req = {"POST", d->url, h, n, body, timeout_ms, timeout_ms, MAX_RESPONSE};
    return mb_http_send(d->http, &req, &d->http_resp, err);
}

/* Full jitter: a random delay in [0, min(max, base * 2^attempt)). */
static int64_t s_backoff(mb_ddb *d, int attempt) {
    int64_t cap = d->base_delay_ms;
    for (int i = 0; i < attempt && cap < d->max_delay_ms; i++) {
        cap *= 2;
    }
    cap = cap < d->max_delay_ms ? cap : d->max_delay_ms;
    uint64_t r = d->seams.random ? d->seams.random(d->seams.ud) : s_random(d);
    return cap > 0 ? (int64_t)(r % (uint64_t)cap) : 0;
}

/* Sleep before retry number `attempt` unless that would pass the deadline. */
static bool s_wait(mb_ddb *d, int attempt, int64_t deadline_ms) {
    int64_t delay = s_backoff(d, attempt);
    if (deadline_ms > 0 && d->seams.now_ms(d->seams.ud) + delay >= deadline_ms) {
        return false;
    }
    if (delay > 0) {
        d->seams.sleep_ms(d->seams.ud, delay);
    }
    return true;
}

/* Classify one attempt: 0 done, or an error with *retry telling whether to try again. */
static int s_outcome(mb_ddb *d, int rc, bool *retry, mb_err *err) {
    *retry = false;
    d->last.http_status = d->http_resp.status;
    if (rc == MB_ERR_IO || rc == MB_ERR_TIMEOUT) {
        char why[MB_ERR_MSG_MAX];
        snprintf(why, sizeof why, "%s", err ? err->msg : "");
        *retry = true;
        return mb_err_set(err, MB_ERR_UNAVAILABLE, "DynamoDB unreachable: %s", why);
    }
    if (rc != 0) {
        return rc;
    }
    if (d->http_resp.status == 200) {
        return 0;
    }
    return s_error_of(d, &d->http_resp, retry, err);
}

/* The retry loop; on success the response JSON is in ddb->http_resp.body. */
static int s_send(mb_ddb *ddb, const char *op, mb_cur body, int64_t deadline_ms, mb_err *err) {
    ddb->last = (mb_ddb_stats){0};
    if (!op || !op[0] || strlen(op) >= MAX_OP) {
        return mb_err_set(err, MB_ERR_INVALID, "ddb: bad operation name");
    }
    int rc = mb_err_set(err, MB_ERR_TIMEOUT, "DynamoDB %s: deadline reached before an attempt", op);
    for (int attempt = 0; attempt < ddb->max_attempts; attempt++) {
        if (attempt > 0 && !s_wait(ddb, attempt, deadline_ms)) {
            break;
        }
        int64_t now = ddb->seams.now_ms(ddb->seams.ud);
        long timeout = ddb->attempt_timeout_ms;
        if (deadline_ms > 0) {
            if (now >= deadline_ms) {
                break;
            }
            timeout = deadline_ms - now < timeout ? (long)(deadline_ms - now) : timeout;
        }
        ddb->last.attempts = attempt + 1;
        bool retry;
        rc = s_outcome(ddb, s_attempt(ddb, op, body, now, timeout, err), &retry, err);
        if (rc == 0 || !retry) {
            return rc;
        }
    }
    return rc;
}

int mb_ddb_send(mb_ddb *ddb, const char *op, mb_cur body, int64_t deadline_ms, mb_buf *response,
                mb_err *err) {
    mb_buf_reset(response);
    int rc = s_send(ddb, op, body, deadline_ms, err);
    if (rc == 0 && mb_buf_append_cur(response, mb_buf_cur(&ddb->http_resp.body)) != 0) {
        return mb_err_set(err, MB_ERR_NOMEM, "ddb: out of memory");
    }
    return rc;
}

/* ---- Lua layer ---- */

int mb_ddb_call(mb_ddb *ddb, lua_State *L, const char *op, int req_idx, int64_t deadline_ms,
                mb_err *err) {
    mb_buf_reset(&ddb->body);
    int rc = mb_ddb_marshal_request(L, req_idx, &ddb->body, err);
    rc = rc ? rc : s_send(ddb, op, mb_buf_cur(&ddb->body), deadline_ms, err);
    if (rc != 0) {
        return rc;
    }
    if (mb_ddb_marshal_unmarshal_response(L, mb_buf_cur(&ddb->http_resp.body), err) != 0) {
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
        if (round > MB_DDB_BATCH_ROUNDS || !s_wait(d, round, deadline_ms)) {
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
