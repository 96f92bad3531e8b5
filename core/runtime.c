/* runtime.c - Lambda Runtime API client over the keep-alive http module (moonbase/runtime.h). */
#include "moonbase/runtime.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "moonbase/http.h"
#include "moonbase/text.h"

#define API_PREFIX "/2018-06-01/runtime"
#define URL_MAX 1024
/* Posting a response or error must not hang forever if the API stalls mid-request. */
#define POST_TIMEOUT_MS 10000
/* Events are bounded by Lambda's 6 MB payload limit; allow a little framing slack. */
#define NEXT_MAX_BYTES (7u * 1024u * 1024u)

struct mb_runtime {
    mb_http *http;
    char base[URL_MAX]; /* http://host:port/2018-06-01/runtime */
    mb_runtime_sleep_fn sleep_fn;
    mb_http_response resp;
    bool lost; /* the last s_send had an attempt fail at the transport (it may have arrived) */
};

static void s_sleep(int64_t ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

mb_runtime *mb_runtime_new(const char *api, mb_err *err) {
    if (!api || !*api || strlen(api) > 256 || strchr(api, '/')) {
        mb_err_set(err, MB_ERR_CONFIG, "AWS_LAMBDA_RUNTIME_API must be host:port");
        return NULL;
    }
    mb_runtime *rt = calloc(1, sizeof *rt);
    if (!rt) {
        mb_err_set(err, MB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    snprintf(rt->base, sizeof rt->base, "http://%s" API_PREFIX, api);
    rt->sleep_fn = s_sleep;
    if (!(rt->http = mb_http_new(err))) {
        free(rt);
        return NULL;
    }
    return rt;
}

void mb_runtime_free(mb_runtime *rt) {
    if (!rt) {
        return;
    }
    mb_http_free(rt->http);
    mb_http_response_cleanup(&rt->resp);
    free(rt);
}

void mb_runtime_set_sleep(mb_runtime *rt, mb_runtime_sleep_fn sleep_fn) {
    rt->sleep_fn = sleep_fn ? sleep_fn : s_sleep;
}

/* Send with retries on connection failures and 5xx; returns the last outcome. */
static int s_send(mb_runtime *rt, const mb_http_request *req, mb_err *err) {
    int64_t backoff = MB_RUNTIME_BACKOFF_MS;
    int rc = MB_ERR_IO;
    rt->lost = false;
    for (int attempt = 1; attempt <= MB_RUNTIME_ATTEMPTS; attempt++) {
        rc = mb_http_send(rt->http, req, &rt->resp, err);
        if (rc == 0 && rt->resp.status < 500) {
            return 0;
        }
        rt->lost |= rc != 0;
        if (rc == MB_ERR_NOMEM || rc == MB_ERR_LIMIT) {
            return rc;
        }
        if (rc == 0) {
            rc = mb_err_set(err, MB_ERR_IO, "Runtime API answered %ld for %s", rt->resp.status,
                            req->url);
        }
        if (attempt < MB_RUNTIME_ATTEMPTS) {
            rt->sleep_fn(backoff);
            backoff *= 2;
        }
    }
    return rc;
}

static void s_header(const mb_http_response *r, const char *name, char *out, size_t cap) {
    mb_cur v;
    out[0] = '\0';
    if (mb_http_response_header(r, mb_cur_from_cstr(name), &v) && v.len < cap) {
        memcpy(out, v.ptr, v.len);
        out[v.len] = '\0';
    }
}

/* Request ids go into URLs: accept only the characters Lambda uses (UUIDs and friends). */
static bool s_safe_id(const char *id) {
    if (!*id) {
        return false;
    }
    for (const char *p = id; *p; p++) {
        bool ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.';
        if (!ok) {
            return false;
        }
    }
    return true;
}

int mb_runtime_next(mb_runtime *rt, mb_runtime_invocation *inv, mb_err *err) {
    char url[URL_MAX + 64];
    snprintf(url, sizeof url, "%s/invocation/next", rt->base);
    mb_http_request req = {.method = "GET", .url = url, .max_response_bytes = NEXT_MAX_BYTES};
    int rc = s_send(rt, &req, err);
    if (rc != 0) {
        return rc;
    }
    if (rt->resp.status != 200) {
        return mb_err_set(err, MB_ERR_IO, "Runtime API answered %ld to next", rt->resp.status);
    }
    s_header(&rt->resp, "Lambda-Runtime-Aws-Request-Id", inv->request_id, sizeof inv->request_id);
    s_header(&rt->resp, "Lambda-Runtime-Trace-Id", inv->trace_id, sizeof inv->trace_id);
    s_header(&rt->resp, "Lambda-Runtime-Invoked-Function-Arn", inv->function_arn,
             sizeof inv->function_arn);
    char deadline[32];
    s_header(&rt->resp, "Lambda-Runtime-Deadline-Ms", deadline, sizeof deadline);
    inv->deadline_ms = strtoll(deadline, NULL, 10);
    if (!s_safe_id(inv->request_id)) {
        return mb_err_set(err, MB_ERR_INVALID, "next invocation has no usable request id");
    }
    mb_buf_reset(&inv->event);
    if (mb_buf_append_cur(&inv->event, mb_buf_cur(&rt->resp.body)) != 0) {
        return mb_err_set(err, MB_ERR_NOMEM, "out of memory copying the event");
    }
    return 0;
}

static int s_post(mb_runtime *rt, const char *path, mb_cur body, const char *error_type,
                  mb_err *err) {
    char url[URL_MAX + 256];
    snprintf(url, sizeof url, "%s%s", rt->base, path);
    mb_http_header h[2] = {{MB_CUR_LIT("Content-Type"), MB_CUR_LIT("application/json")},
                           {MB_CUR_LIT("Lambda-Runtime-Function-Error-Type"),
                            mb_cur_from_cstr(error_type ? error_type : "")}};
    mb_http_request req = {.method = "POST",
                           .url = url,
                           .headers = h,
                           .header_count = error_type ? 2 : 1,
                           .body = body,
                           .timeout_ms = POST_TIMEOUT_MS,
                           .max_response_bytes = 64 * 1024};
    int rc = s_send(rt, &req, err);
    if (rc != 0) {
        return rc;
    }
    if (rt->resp.status == 400 && rt->lost) {
        /* An earlier attempt's connection failed after the request may have arrived, and now the
         * Runtime API no longer knows the invocation: that attempt delivered it (the emulator,
         * like Lambda, answers 400 InvalidRequestID to a second answer). Re-posting further or
         * reporting a failure would be wrong: the client has its answer. */
        return 0;
    }
    if (rt->resp.status == 413) {
        return mb_err_set(err, MB_ERR_LIMIT, "Runtime API refused the payload as too large");
    }
    if (rt->resp.status >= 300) {
        return mb_err_set(err, MB_ERR_UPSTREAM, "Runtime API answered %ld to %s", rt->resp.status,
                          path);
    }
    return 0;
}

int mb_runtime_respond(mb_runtime *rt, const mb_runtime_invocation *inv, mb_cur body, mb_err *err) {
    if (body.len > MB_RUNTIME_MAX_RESPONSE) {
        return mb_err_set(err, MB_ERR_LIMIT, "response is larger than Lambda's 6 MB limit");
    }
    char path[256];
    snprintf(path, sizeof path, "/invocation/%s/response", inv->request_id);
    return s_post(rt, path, body, NULL, err);
}

static int s_error_body(mb_buf *b, const char *type, const char *message) {
    return mb_buf_append_cstr(b, "{\"errorMessage\":") ||
                   mb_text_json_quote(b, mb_cur_from_cstr(message), MB_TEXT_ESC_REPAIR) ||
                   mb_buf_append_cstr(b, ",\"errorType\":") ||
                   mb_text_json_quote(b, mb_cur_from_cstr(type), MB_TEXT_ESC_REPAIR) ||
                   mb_buf_append_cstr(b, ",\"stackTrace\":[]}")
               ? MB_ERR_NOMEM
               : 0;
}

static int s_post_error(mb_runtime *rt, const char *path, const char *type, const char *message,
                        mb_err *err) {
    mb_buf b = {0};
    int rc = s_error_body(&b, type, message);
    if (rc == 0) {
        rc = s_post(rt, path, mb_buf_cur(&b), type, err);
    } else {
        mb_err_set(err, rc, "out of memory");
    }
    mb_buf_cleanup(&b);
    return rc;
}

int mb_runtime_fail(mb_runtime *rt, const mb_runtime_invocation *inv, const char *type,
                    const char *message, mb_err *err) {
    char path[256];
    snprintf(path, sizeof path, "/invocation/%s/error", inv->request_id);
    return s_post_error(rt, path, type, message, err);
}

int mb_runtime_init_error(mb_runtime *rt, const char *type, const char *message, mb_err *err) {
    return s_post_error(rt, "/init/error", type, message, err);
}

void mb_runtime_invocation_cleanup(mb_runtime_invocation *inv) {
    if (inv) {
        mb_buf_cleanup(&inv->event);
    }
}

/* glibc's setenv() cannot free a value it replaces (a getenv() caller may still hold it), so it
 * keeps them all: with a fresh trace id per invocation that grew a warm worker's heap by ~150
 * bytes a request (massif on a devserver worker: 4 MB per 28k requests). putenv() puts this
 * buffer itself in the environment; each invocation rewrites it in place. */
static char s_trace_env[sizeof "_X_AMZN_TRACE_ID=" + MB_RUNTIME_TRACE_ID_MAX];

void mb_runtime_export_trace_id(const char *trace_id) {
    if (!trace_id[0]) {
        unsetenv("_X_AMZN_TRACE_ID");
        return;
    }
    snprintf(s_trace_env, sizeof s_trace_env, "_X_AMZN_TRACE_ID=%s", trace_id);
    putenv(s_trace_env);
}
