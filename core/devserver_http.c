/* devserver_http.c - the devserver's HTTP side: one libmicrohttpd daemon on 127.0.0.1, each
 * request classified (API, Lambda Invoke API, static file, /config.json, status), checked as API
 * Gateway would (payload sizes, throttling, CORS) and answered: /api/... turned into REST API
 * proxy events (or HTTP API v2 events) and run by a bootstrap worker through the Runtime API
 * emulator (devserver_pool). See core/devserver_http.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "moonbase/buf.h"
#include "moonbase/clock.h"
#include "moonbase/config.h"
#include "moonbase/devserver_apigw.h"
#include "moonbase/devserver_guard.h"
#include "moonbase/devserver_invoke.h"
#include "moonbase/devserver_pool.h"
#include "moonbase/devserver_routes.h"
#include "moonbase/devserver_static.h"
#include "devserver_http.h"

/* /config.json is a few hundred bytes; anything bigger is a wrong --config argument. */
#define CONFIG_MAX (64u * 1024u)
/* Per-connection memory of the HTTP server, sized for API Gateway's limits: the query of an
 * 8 KB target split into up to 4,096 parameter records (~48 bytes each), 10 KB of headers and
 * the read buffer. Longer heads are refused (moonbase/devserver_guard.h) before they need more;
 * the pool is mapped lazily, so idle connections do not cost this much. */
#define CONNECTION_MEMORY (1024u * 1024u)

/* The REST API's stage. The template deploys stage "api", so the deployed URL
 * (https://ID.execute-api.REGION.amazonaws.com/api/hello) has the devserver's path layout. */
#define REST_STAGE "api"

enum kind { KIND_API, KIND_STATIC, KIND_CONFIG, KIND_STATUS, KIND_INVOKE };

/* Per-request state, created by the URI log callback (which sees the raw request target). */
typedef struct request {
    char *uri;
    int64_t t0;
    bool seen;
    enum kind kind;
    mb_buf body;
    bool has_body, too_big;
    int worker;
    double init_ms;
    char lambda_id[40];
    bool quiet; /* a throttled request the log gate left out */
} request;

static void s_client_ip(struct MHD_Connection *c, char *out, size_t n) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, n, "0.0.0.0");
    if (ci == NULL || ci->client_addr == NULL) {
        return;
    }
    if (ci->client_addr->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, out,
                  (socklen_t)n);
    } else if (ci->client_addr->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ci->client_addr)->sin6_addr, out,
                  (socklen_t)n);
    }
}

/* The access log: one line per request on stderr. */
static void s_access_log(struct MHD_Connection *c, request *r, const char *method, unsigned code,
                         size_t bytes) {
    char ip[64], extra[128] = "";
    s_client_ip(c, ip, sizeof ip);
    if (r->worker > 0) {
        snprintf(extra, sizeof extra, " worker=%d%s rid=%s", r->worker,
                 r->init_ms > 0 ? " cold" : "", r->lambda_id);
    }
    /* The client's bytes never reach the log verbatim: escaped, bounded, secrets redacted. */
    mb_buf target = {0}, m = {0};
    if (mb_guard_log_target(&target, mb_cur_from_cstr(r->uri)) != 0 ||
        mb_guard_log_target(&m, mb_cur_from_cstr(method)) != 0) {
        mb_buf_reset(&target);
        mb_buf_reset(&m);
    }
    mb_pool_logf("%s \"%s %s\" %u %zuB %.1fms%s", ip, m.ptr ? m.ptr : "?",
                 target.ptr ? target.ptr : "?", code, bytes,
                 (double)(mb_clock_mono_ns(NULL) - r->t0) / 1e6, extra);
    mb_buf_cleanup(&target);
    mb_buf_cleanup(&m);
}

static enum MHD_Result s_queue(struct MHD_Connection *c, request *r, const char *method,
                               unsigned code, struct MHD_Response *resp, size_t bytes) {
    if (resp == NULL) {
        return MHD_NO;
    }
    if (!r->quiet) {
        s_access_log(c, r, method, code, bytes);
    }
    enum MHD_Result ret = MHD_queue_response(c, code, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* A gateway-generated error in the API's one error shape. */
static enum MHD_Result s_error(struct MHD_Connection *c, request *r, const char *method,
                               unsigned code, const char *errcode, const char *msg,
                               const char *retry_after) {
    char rid[37];
    mb_pool_uuid(rid);
    json_t *doc = json_pack("{s:s, s:s, s:s}", "error", errcode, "message", msg, "requestId", rid);
    char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (body == NULL) {
        return MHD_NO;
    }
    size_t n = strlen(body);
    struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback(n, body, free);
    if (resp == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Apigw-Requestid", rid);
    if (retry_after != NULL) {
        MHD_add_response_header(resp, "Retry-After", retry_after);
    }
    return s_queue(c, r, method, code, resp, n);
}

/* Too many requests from this client or in total: 429 with Retry-After. A flood of refusals
 * writes at most one log line a second (with the count of the ones not written). */
static bool s_throttled(mb_devserver *s, request *r, struct MHD_Connection *c, const char *method,
                        enum MHD_Result *ret) {
    char ip[64];
    s_client_ip(c, ip, sizeof ip);
    int64_t now = mb_clock_mono_ns(NULL);
    int wait = mb_guard_throttle_take(s->throttle, ip, now);
    if (wait == 0) {
        return false;
    }
    uint64_t suppressed = 0;
    r->quiet = !mb_guard_throttle_log_gate(s->throttle, now, &suppressed);
    if (!r->quiet && suppressed > 0) {
        mb_pool_logf("throttling: %llu more requests answered 429 since the last line",
                     (unsigned long long)suppressed);
    }
    char ra[16];
    snprintf(ra, sizeof ra, "%d", wait);
    *ret = s_error(c, r, method, 429, "too_many_requests", "Too Many Requests", ra);
    return true;
}

static void s_log_uri(request *r, const char **path_out, size_t *len_out) {
    const char *q = strchr(r->uri, '?');
    *path_out = r->uri;
    *len_out = q ? (size_t)(q - r->uri) : strlen(r->uri);
}

static enum kind s_classify(request *r) {
    const char *p;
    size_t n;
    s_log_uri(r, &p, &n);
    mb_cur path = {p, n};
    if (mb_cur_eq(path, MB_CUR_LIT("/api")) || mb_cur_starts_with(path, MB_CUR_LIT("/api/"))) {
        return KIND_API;
    }
    if (mb_cur_eq(path, MB_CUR_LIT("/config.json"))) {
        return KIND_CONFIG;
    }
    if (mb_cur_starts_with(path, MB_CUR_LIT(MB_INVOKE_PREFIX))) {
        return KIND_INVOKE;
    }
    if (mb_cur_eq(path, MB_CUR_LIT("/__devserver/status"))) {
        return KIND_STATUS;
    }
    return KIND_STATIC;
}

typedef struct header_vec {
    mb_http_header h[MB_GUARD_MAX_HEADERS + 1];
    size_t n;     /* kept in h */
    size_t total; /* received */
    size_t bytes; /* names and values of all of them */
} header_vec;

static enum MHD_Result s_collect(void *cls, enum MHD_ValueKind kind, const char *key,
                                 size_t key_size, const char *value, size_t value_size) {
    (void)kind;
    header_vec *v = cls;
    if (v->n < sizeof v->h / sizeof v->h[0]) {
        v->h[v->n++] = (mb_http_header){{key, key_size}, {value ? value : "", value_size}};
    }
    v->total++;
    v->bytes += key_size + value_size;
    return MHD_YES;
}

/* What API Gateway refuses before any integration runs (moonbase/devserver_guard.h): a bad
 * request head gets its 400/414/431/501 here, logged, and never reaches a worker. */
static bool s_refused_head(request *r, struct MHD_Connection *c, const char *method,
                           const char *version, enum MHD_Result *ret) {
    header_vec hv = {.n = 0};
    MHD_get_connection_values_n(c, MHD_HEADER_KIND, s_collect, &hv);
    mb_guard_head h = {mb_cur_from_cstr(method),
                       mb_cur_from_cstr(r->uri),
                       mb_cur_from_cstr(version),
                       hv.h,
                       hv.total,
                       hv.bytes};
    mb_guard_verdict v;
    if (mb_guard_check(&h, &v) == 0) {
        return false;
    }
    static const char *const codes[] = {"bad_request", "uri_too_long", "headers_too_large",
                                        "not_implemented"};
    const char *code = v.status == 414   ? codes[1]
                       : v.status == 431 ? codes[2]
                       : v.status == 501 ? codes[3]
                                         : codes[0];
    *ret = s_error(c, r, method, (unsigned)v.status, code, v.message, NULL);
    return true;
}

/* First call for a request (headers only): check the head, throttle, and refuse oversized
 * bodies up front so a client is not made to upload 10 MB to learn the answer. */
static enum MHD_Result s_first(mb_devserver *s, request *r, struct MHD_Connection *c,
                               const char *method, const char *version) {
    enum MHD_Result ret = MHD_YES;
    if (s_refused_head(r, c, method, version, &ret)) {
        return ret;
    }
    r->kind = s_classify(r);
    if (r->kind != KIND_API) {
        return MHD_YES;
    }
    if (s_throttled(s, r, c, method, &ret)) {
        return ret;
    }
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (cl != NULL) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno != 0 || end == cl || n > MB_APIGW_MAX_REQUEST_BODY) {
            return s_error(c, r, method, 413, "payload_too_large", "Request Entity Too Large",
                           NULL);
        }
    }
    return MHD_YES;
}

static void s_upload(request *r, const char *data, size_t len) {
    if ((r->kind != KIND_API && r->kind != KIND_INVOKE) || r->too_big) {
        return;
    }
    r->has_body = true;
    if (len > MB_APIGW_MAX_REQUEST_BODY - r->body.len || mb_buf_append(&r->body, data, len) != 0) {
        r->too_big = true;
        mb_buf_cleanup(&r->body);
    }
}

/* The Access-Control-Allow-Origin value for this origin (CORS_ALLOWED_ORIGINS, like the SAM Api
 * Cors setting), or NULL when it is not allowed. */
static const char *s_cors_origin(const mb_devserver *s, const char *origin) {
    return mb_config_cors_allow_origin(&s->cfg, origin, origin ? strlen(origin) : 0);
}

/* API Gateway answers CORS preflights itself when CORS is configured (the function never sees
 * them); a disallowed origin gets the 204 without CORS headers. Methods, headers and max-age are
 * the SAM template's HttpApi CorsConfiguration. */
static enum MHD_Result s_preflight(mb_devserver *s, request *r, struct MHD_Connection *c,
                                   const char *origin) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    if (resp == NULL) {
        return MHD_NO;
    }
    const char *allow = s_cors_origin(s, origin);
    if (allow != NULL) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", allow);
        MHD_add_response_header(resp, "Access-Control-Allow-Methods",
                                "GET,POST,PUT,DELETE,OPTIONS");
        MHD_add_response_header(resp, "Access-Control-Allow-Headers", "authorization,content-type");
        MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
    }
    MHD_add_response_header(resp, "Vary", "Origin");
    return s_queue(c, r, "OPTIONS", 204, resp, 0);
}

static bool s_hop_by_hop(const char *name) {
    static const char *const hop[] = {"connection", "content-length", "transfer-encoding",
                                      "keep-alive", "upgrade"};
    for (size_t i = 0; i < sizeof hop / sizeof hop[0]; i++) {
        if (strcasecmp(name, hop[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* Turn a successful invocation's payload into the HTTP answer. */
static enum MHD_Result s_proxy(mb_devserver *s, request *r, struct MHD_Connection *c,
                               const char *method, mb_cur payload, const char *rid) {
    mb_apigw_response ar;
    mb_err err = {0};
    if (mb_apigw_response_parse(payload, &ar, &err) != 0) {
        mb_pool_logf("malformed Lambda proxy response (%s): answering 502", err.msg);
        return s_error(c, r, method, 502, "internal", err.msg, NULL);
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        ar.body.len, ar.body.ptr ? ar.body.ptr : "", MHD_RESPMEM_MUST_COPY);
    for (size_t i = 0; resp != NULL && i < ar.header_count; i++) {
        if (!s_hop_by_hop(ar.headers[i].name)) {
            MHD_add_response_header(resp, ar.headers[i].name, ar.headers[i].value);
        }
    }
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    const char *allow = s_cors_origin(s, origin);
    /* The function's own CORS headers win: never send the header twice. */
    if (resp != NULL && allow != NULL &&
        mb_apigw_response_header(&ar, "Access-Control-Allow-Origin") == NULL) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", allow);
        MHD_add_response_header(resp, "Access-Control-Expose-Headers", "x-request-id");
        MHD_add_response_header(resp, "Vary", "Origin");
    }
    if (resp != NULL) {
        MHD_add_response_header(resp, "Apigw-Requestid", rid);
    }
    size_t bytes = ar.body.len;
    int status = ar.status;
    mb_apigw_response_cleanup(&ar);
    return s_queue(c, r, method, (unsigned)status, resp, bytes);
}

/* The invocation failed: the status API Gateway would answer with. */
static enum MHD_Result s_failed(request *r, struct MHD_Connection *c, const char *method,
                                const mb_pool_result *res) {
    char msg[400];
    switch (res->outcome) {
    case MB_POOL_TIMEOUT:
        return s_error(c, r, method, 504, "unavailable", "Endpoint request timed out", NULL);
    case MB_POOL_CRASH:
        /* Either the worker died, or it asked for its next event without answering this one (its
         * answer, or the event itself, was lost on the way): the request has no answer. */
        return s_error(c, r, method, 502, "internal",
                       "The function's worker exited or gave up the request without answering",
                       NULL);
    case MB_POOL_TOO_LARGE:
        return s_error(c, r, method, 502, "internal",
                       "The function's response exceeded Lambda's 6 MB limit", NULL);
    case MB_POOL_INIT_ERROR:
        snprintf(msg, sizeof msg, "The function failed to initialise: %.*s",
                 (int)(res->payload.len > 300 ? 300 : res->payload.len),
                 res->payload.len ? res->payload.ptr : "");
        return s_error(c, r, method, 502, "internal", msg, NULL);
    case MB_POOL_FUNC_ERROR:
        mb_pool_logf("function error (POST .../error): %.*s",
                     (int)(res->payload.len > 600 ? 600 : res->payload.len),
                     res->payload.len ? res->payload.ptr : "");
        return s_error(c, r, method, 500, "internal", "Internal Server Error", NULL);
    default:
        return s_error(c, r, method, 503, "unavailable", "The devserver is shutting down", NULL);
    }
}

static void s_dump_event(const mb_devserver *s, const char *rid, mb_cur event) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s.json", s->dump_dir, rid);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(event.ptr, 1, event.len, f) != event.len) {
        mb_pool_logf("cannot write event dump %s", path);
    }
    if (f != NULL) {
        fclose(f);
    }
}

/* Run the event through a worker and answer with what API Gateway would send back. */
static enum MHD_Result s_invoke(mb_devserver *s, request *r, struct MHD_Connection *c,
                                const char *method, mb_cur event, const char *rid) {
    if (event.len > MB_APIGW_MAX_LAMBDA_PAYLOAD) {
        return s_error(c, r, method, 413, "payload_too_large",
                       "Request too large for a Lambda invocation (6 MB event)", NULL);
    }
    if (s->dump_dir != NULL) {
        s_dump_event(s, rid, event);
    }
    mb_pool_result res;
    mb_pool_invoke(s->pool, event, &res);
    r->worker = res.worker;
    r->init_ms = res.init_ms;
    memcpy(r->lambda_id, res.request_id, sizeof r->lambda_id);
    if (res.init_ms > 0) {
        mb_pool_logf("REPORT RequestId: %s Duration: %.2f ms Init Duration: %.2f ms (worker %d)",
                     res.request_id, res.duration_ms, res.init_ms, res.worker);
    }
    enum MHD_Result ret = res.outcome == MB_POOL_OK
                              ? s_proxy(s, r, c, method, mb_buf_cur(&res.payload), rid)
                              : s_failed(r, c, method, &res);
    mb_pool_result_cleanup(&res);
    return ret;
}

/* The event API Gateway would send: REST (1.0) on the resource routes.lua gives, or HTTP API. */
static int s_build_event(mb_devserver *s, const mb_apigw_request *ar, mb_buf *event) {
    if (s->http_api) {
        return mb_apigw_event_build(ar, event, NULL);
    }
    mb_devroutes_hit hit;
    int rc = mb_devroutes_lookup(s->routes, ar->method, ar->raw_path, &hit);
    if (rc == 0) {
        rc = mb_apigw_rest_event_build(ar, &hit.route, REST_STAGE, event, NULL);
    }
    mb_devroutes_hit_cleanup(&hit);
    return rc;
}

static enum MHD_Result s_api(mb_devserver *s, request *r, struct MHD_Connection *c,
                             const char *method, const char *version) {
    if (r->too_big) {
        return s_error(c, r, method, 413, "payload_too_large", "Request Entity Too Large", NULL);
    }
    header_vec hv = {.n = 0};
    MHD_get_connection_values_n(c, MHD_HEADER_KIND, s_collect, &hv);
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    if (strcmp(method, "OPTIONS") == 0 && s->cfg.cors_origin_count > 0 && origin != NULL &&
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Access-Control-Request-Method")) {
        return s_preflight(s, r, c, origin);
    }
    const char *path, *q;
    size_t plen;
    s_log_uri(r, &path, &plen);
    q = path[plen] == '?' ? path + plen + 1 : path + plen;
    char ip[64], rid[37];
    s_client_ip(c, ip, sizeof ip);
    mb_pool_uuid(rid);
    mb_cur raw_path = plen > 4 ? (mb_cur){path + 4, plen - 4} : MB_CUR_LIT("/");
    mb_apigw_request ar = {.method = method,
                           .raw_path = raw_path,
                           .raw_query = mb_cur_from_cstr(q),
                           .protocol = version,
                           .source_ip = ip,
                           .headers = hv.h,
                           .header_count = hv.n,
                           .body = mb_buf_cur(&r->body),
                           .has_body = r->has_body,
                           .request_id = rid,
                           .account_id = "000000000000",
                           .api_id = "local"};
    ar.time_epoch_ms = (long long)mb_clock_now_ms(NULL);
    mb_buf event = {0};
    if (s_build_event(s, &ar, &event) != 0) {
        mb_buf_cleanup(&event);
        return MHD_NO;
    }
    mb_buf_cleanup(&r->body); /* the event holds a copy now */
    enum MHD_Result ret = s_invoke(s, r, c, method, mb_buf_cur(&event), rid);
    mb_buf_cleanup(&event);
    return ret;
}

/* The Lambda Invoke API: the payload is the event, the answer is the function's raw output. */
static enum MHD_Result s_lambda_invoke(mb_devserver *s, request *r, struct MHD_Connection *c,
                                       const char *method) {
    const char *path;
    size_t plen;
    s_log_uri(r, &path, &plen);
    mb_invoke_target t = {"MoonbaseFunction", "moonbase-local", s->cfg.region};
    const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Amz-Invocation-Type");
    mb_invoke_answer ans;
    int rc = 0;
    if (mb_invoke_check(&t, method, (mb_cur){path, plen}, type, mb_buf_cur(&r->body), &ans)) {
        mb_pool_result res;
        rc = mb_pool_invoke(s->pool, mb_buf_cur(&r->body), &res);
        r->worker = res.worker;
        r->init_ms = res.init_ms;
        memcpy(r->lambda_id, res.request_id, sizeof r->lambda_id);
        mb_invoke_answer_cleanup(&ans);
        rc |= mb_invoke_answer_from(&res, s->timeout_s, &ans);
        mb_pool_result_cleanup(&res);
    }
    size_t len = ans.body.len;
    struct MHD_Response *resp =
        rc == 0 ? MHD_create_response_from_buffer(len, ans.body.ptr ? ans.body.ptr : "",
                                                  MHD_RESPMEM_MUST_COPY)
                : NULL;
    if (resp != NULL) {
        MHD_add_response_header(resp, "Content-Type", "application/json");
        MHD_add_response_header(resp, "X-Amz-Executed-Version", "$LATEST");
        MHD_add_response_header(resp, "x-amzn-RequestId", r->lambda_id[0] ? r->lambda_id : "local");
        if (ans.error_type != NULL) {
            MHD_add_response_header(resp, "x-amzn-ErrorType", ans.error_type);
        }
        if (ans.function_error != NULL) {
            MHD_add_response_header(resp, "X-Amz-Function-Error", ans.function_error);
        }
    }
    int status = ans.status;
    mb_invoke_answer_cleanup(&ans);
    return s_queue(c, r, method, (unsigned)status, resp, len);
}

static enum MHD_Result s_file(request *r, struct MHD_Connection *c, const char *method,
                              const char *file, const char *ctype) {
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return s_error(c, r, method, 404, "not_found", "Not Found", NULL);
    }
    struct MHD_Response *resp = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
    if (resp == NULL) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", ctype);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    return s_queue(c, r, method, 200, resp, (size_t)st.st_size);
}

static enum MHD_Result s_static(mb_devserver *s, request *r, struct MHD_Connection *c,
                                const char *method) {
    const char *path;
    size_t plen;
    s_log_uri(r, &path, &plen);
    if (s->frontend == NULL) {
        return s_error(c, r, method, 404, "not_found", "No --frontend folder configured", NULL);
    }
    char *file = NULL;
    mb_err err = {0};
    int rc = mb_static_resolve(s->frontend, (mb_cur){path, plen}, &file, &err);
    if (rc == MB_ERR_INVALID) {
        return s_error(c, r, method, 400, "bad_request", "Refused path", NULL);
    }
    size_t last = plen;
    while (last > 0 && path[last - 1] != '/') {
        last--;
    }
    bool app_route = memchr(path + last, '.', plen - last) == NULL;
    if (rc == MB_ERR_NOTFOUND && app_route) {
        /* SPA fallback: /dashboard etc. are client-side routes served by index.html. */
        rc = mb_static_resolve(s->frontend, MB_CUR_LIT("/"), &file, &err);
    }
    if (rc != 0) {
        return s_error(c, r, method, 404, "not_found", "Not Found", NULL);
    }
    enum MHD_Result ret = s_file(r, c, method, file, mb_static_content_type(file));
    free(file);
    return ret;
}

static enum MHD_Result s_config(mb_devserver *s, request *r, struct MHD_Connection *c,
                                const char *method) {
    if (s->config_file == NULL) {
        return s_error(c, r, method, 404, "not_found", "No --config file given", NULL);
    }
    struct stat st;
    if (stat(s->config_file, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > CONFIG_MAX) {
        return s_error(c, r, method, 404, "not_found", "The --config file is missing", NULL);
    }
    return s_file(r, c, method, s->config_file, "application/json");
}

static enum MHD_Result s_status(mb_devserver *s, request *r, struct MHD_Connection *c,
                                const char *method) {
    mb_pool_worker_info w[MB_POOL_MAX_WORKERS];
    int queued = 0;
    int n = mb_pool_workers(s->pool, w, MB_POOL_MAX_WORKERS, &queued);
    mb_buf b = {0};
    int rc = mb_buf_appendf(&b, "{\"pid\":%d,\"queued\":%d,\"workers\":[", (int)getpid(), queued);
    for (int i = 0; i < n; i++) {
        rc |= mb_buf_appendf(&b, "%s{\"slot\":%d,\"pid\":%d,\"ready\":%s,\"busy\":%s}",
                             i ? "," : "", w[i].slot, w[i].pid, w[i].ready ? "true" : "false",
                             w[i].busy ? "true" : "false");
    }
    rc |= mb_buf_append_cstr(&b, "]}");
    if (rc != 0) {
        mb_buf_cleanup(&b);
        return MHD_NO;
    }
    size_t len = 0;
    char *body = mb_buf_detach(&b, &len);
    struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback(len, body, free);
    if (resp == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    return s_queue(c, r, method, 200, resp, len);
}

static enum MHD_Result s_access(void *cls, struct MHD_Connection *c, const char *url,
                                const char *method, const char *version, const char *upload_data,
                                size_t *upload_data_size, void **con_cls) {
    (void)url; /* the raw target from the URI log callback is used instead */
    mb_devserver *s = cls;
    request *r = *con_cls;
    if (r == NULL) {
        return MHD_NO;
    }
    if (!r->seen) {
        r->seen = true;
        return s_first(s, r, c, method, version);
    }
    if (*upload_data_size > 0) {
        s_upload(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->kind == KIND_API) {
        return s_api(s, r, c, method, version);
    }
    if (r->kind == KIND_INVOKE) {
        return r->too_big ? s_error(c, r, method, 413, "payload_too_large",
                                    "Request Entity Too Large", NULL)
                          : s_lambda_invoke(s, r, c, method);
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        return s_error(c, r, method, 405, "method_not_allowed", "Method Not Allowed", NULL);
    }
    if (r->kind == KIND_CONFIG) {
        return s_config(s, r, c, method);
    }
    return r->kind == KIND_STATUS ? s_status(s, r, c, method) : s_static(s, r, c, method);
}

static void *s_uri_log(void *cls, const char *uri, struct MHD_Connection *c) {
    (void)cls;
    (void)c;
    request *r = calloc(1, sizeof *r);
    if (r != NULL) {
        r->t0 = mb_clock_mono_ns(NULL);
        r->uri = strdup(uri ? uri : "/");
        if (r->uri == NULL) {
            free(r);
            r = NULL;
        }
    }
    /* MHD splits the query into one record per parameter in the connection's memory pool right
     * after this callback: an 8 KB target of 4,000 parameters fits the pool, a longer one could
     * exhaust it, and the client would get no answer at all. A target that long is answered 414
     * (s_first, from the copy in r->uri), so MHD is given an empty query to split. */
    char *q = uri ? strchr(uri, '?') : NULL;
    if (q != NULL && strlen(uri) > MB_GUARD_MAX_TARGET) {
        q[1] = '\0';
    }
    return r;
}

static void s_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                        enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)c;
    (void)toe;
    request *r = *con_cls;
    if (r != NULL) {
        mb_buf_cleanup(&r->body);
        free(r->uri);
        free(r);
        *con_cls = NULL;
    }
}

/* Keep the target exactly as sent: API Gateway's rawPath and rawQueryString are not decoded. */
static size_t s_no_unescape(void *cls, struct MHD_Connection *c, char *s) {
    (void)cls;
    (void)c;
    return strlen(s);
}

struct MHD_Daemon *mb_devserver_listen(mb_devserver *s) {
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL |
            MHD_USE_ERROR_LOG,
        (uint16_t)s->port, NULL, NULL, s_access, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_URI_LOG_CALLBACK, s_uri_log, NULL, MHD_OPTION_NOTIFY_COMPLETED, s_completed,
        NULL, MHD_OPTION_UNESCAPE_CALLBACK, s_no_unescape, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)120, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)1000, MHD_OPTION_END);
}
