/* aws_json.c - AWS JSON-protocol client: signed POSTs, retries, errors (see moonbase/aws_json.h).
 */
#include "moonbase/aws_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "moonbase/http.h"

#define MAX_URL 512
#define MAX_OP 64
#define MAX_NAME 64
/* Error bodies are small; a bigger one is not parsed for its type. */
#define MAX_ERROR_BODY 16384

struct mb_aws_json {
    mb_http *http;
    mb_sigv4_signer signer;
    char label[MAX_NAME];
    char service[MB_SIGV4_MAX_SCOPE_PART + 1];
    char target_prefix[MAX_NAME];
    char content_type[MAX_NAME];
    char region[MB_SIGV4_MAX_SCOPE_PART + 1];
    char url[MAX_URL];
    char host[MAX_URL];
    int max_attempts, base_delay_ms, max_delay_ms;
    long attempt_timeout_ms;
    size_t max_response;
    mb_aws_json_map_error_fn map_error;
    mb_aws_json_seams seams;
    uint64_t rng; /* xorshift state of the default jitter source */
    mb_aws_json_stats last;
    /* Reused across calls: no allocation on a warm path. */
    mb_http_response http_resp;
    mb_sigv4_output sig;
};

static uint64_t s_random(mb_aws_json *c) {
    if (c->seams.random) {
        return c->seams.random(c->seams.random_ud);
    }
    uint64_t x = c->rng; /* xorshift64: jitter needs spread, not secrecy */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c->rng = x;
    return x;
}

/* ---- construction ---- */

/* Accept "http[s]://host[:port][/]" only: the client always posts to "/". */
static int s_set_endpoint(mb_aws_json *c, const char *endpoint, mb_err *err) {
    char def[MAX_URL];
    if (!endpoint || !endpoint[0]) {
        snprintf(def, sizeof def, "https://%s.%s.amazonaws.com", c->service, c->region);
        endpoint = def;
    }
    size_t n = strnlen(endpoint, MAX_URL);
    const char *scheme_end = strstr(endpoint, "://");
    bool http = strncmp(endpoint, "http://", 7) == 0, https = strncmp(endpoint, "https://", 8) == 0;
    if (n >= MAX_URL - 2 || !scheme_end || (!http && !https)) {
        return mb_err_set(err, MB_ERR_CONFIG, "%s endpoint must be http(s)://host[:port]",
                          c->label);
    }
    const char *host = scheme_end + 3;
    size_t hlen = strcspn(host, "/?#");
    if (hlen == 0 || (host[hlen] && strcmp(host + hlen, "/") != 0)) {
        return mb_err_set(err, MB_ERR_CONFIG, "%s endpoint must have no path or query", c->label);
    }
    snprintf(c->host, sizeof c->host, "%.*s", (int)hlen, host);
    snprintf(c->url, sizeof c->url, "%.*s/", (int)(host + hlen - endpoint), endpoint);
    return 0;
}

/* Copy a required (or, with def, defaulted) config string into dst[cap]. */
static bool s_copy(char *dst, size_t cap, const char *src, const char *def) {
    src = src && src[0] ? src : def;
    if (!src || !src[0] || strlen(src) >= cap) {
        return false;
    }
    memcpy(dst, src, strlen(src) + 1);
    return true;
}

static int s_configure(mb_aws_json *c, const mb_aws_json_config *cfg, mb_err *err) {
    if (!s_copy(c->service, sizeof c->service, cfg->service, NULL) ||
        !s_copy(c->target_prefix, sizeof c->target_prefix, cfg->target_prefix, NULL) ||
        !s_copy(c->label, sizeof c->label, cfg->label, c->service) ||
        !s_copy(c->content_type, sizeof c->content_type, cfg->content_type,
                "application/x-amz-json-1.0")) {
        return mb_err_set(err, MB_ERR_CONFIG,
                          "aws_json: service, target prefix, label or "
                          "content type missing or too long");
    }
    if (!s_copy(c->region, sizeof c->region, cfg->region, NULL)) {
        return mb_err_set(err, MB_ERR_CONFIG, "AWS_REGION is missing or too long");
    }
    c->max_attempts = cfg->max_attempts > 0 ? cfg->max_attempts : MB_AWS_JSON_DEFAULT_ATTEMPTS;
    c->base_delay_ms =
        cfg->base_delay_ms > 0 ? cfg->base_delay_ms : MB_AWS_JSON_DEFAULT_BASE_DELAY_MS;
    c->max_delay_ms = cfg->max_delay_ms > 0 ? cfg->max_delay_ms : MB_AWS_JSON_DEFAULT_MAX_DELAY_MS;
    c->attempt_timeout_ms = cfg->attempt_timeout_ms > 0 ? cfg->attempt_timeout_ms
                                                        : MB_AWS_JSON_DEFAULT_ATTEMPT_TIMEOUT_MS;
    c->max_response = cfg->max_response > 0 ? cfg->max_response : MB_AWS_JSON_DEFAULT_MAX_RESPONSE;
    c->map_error = cfg->map_error ? cfg->map_error : mb_aws_json_map_error;
    c->seams = cfg->seams;
    c->rng = (uint64_t)mb_clock_mono_ns(NULL) * 2654435761u ^ (uint64_t)getpid() ^
             (uint64_t)(uintptr_t)c;
    c->rng = c->rng ? c->rng : 88172645463325252ull;
    return s_set_endpoint(c, cfg->endpoint, err);
}

mb_aws_json *mb_aws_json_new(const mb_aws_json_config *cfg, mb_sigv4_credentials *creds,
                             mb_err *err) {
    mb_aws_json *c = calloc(1, sizeof *c);
    if (!c) {
        mb_sigv4_credentials_cleanup(creds);
        mb_err_set(err, MB_ERR_NOMEM, "aws_json: out of memory");
        return NULL;
    }
    mb_sigv4_signer_init(&c->signer, creds);
    if (s_configure(c, cfg, err) != 0) {
        mb_aws_json_free(c);
        return NULL;
    }
    return c;
}

void mb_aws_json_free(mb_aws_json *client) {
    if (!client) {
        return;
    }
    mb_http_free(client->http);
    mb_sigv4_signer_cleanup(&client->signer);
    mb_http_response_cleanup(&client->http_resp);
    mb_sigv4_output_cleanup(&client->sig);
    free(client);
}

const mb_aws_json_stats *mb_aws_json_last(const mb_aws_json *client) {
    return &client->last;
}

const mb_clock *mb_aws_json_clock(const mb_aws_json *client) {
    return &client->seams.clock;
}

/* ---- errors ---- */

static bool s_type_is(mb_cur type, const char *name) {
    return mb_cur_eq(type, mb_cur_from_cstr(name));
}

int mb_aws_json_map_error(mb_cur type, long http_status, bool *retryable) {
    *retryable = false;
    if (s_type_is(type, "ProvisionedThroughputExceededException") ||
        s_type_is(type, "ThrottlingException") || s_type_is(type, "RequestLimitExceeded") ||
        s_type_is(type, "TooManyRequestsException")) {
        *retryable = true;
        return MB_ERR_UNAVAILABLE;
    }
    if (s_type_is(type, "InternalServerError") || s_type_is(type, "InternalServiceError") ||
        s_type_is(type, "InternalServiceErrorException") || http_status >= 500) {
        *retryable = true;
        return s_type_is(type, "ServiceUnavailable") || http_status == 503 ? MB_ERR_UNAVAILABLE
                                                                           : MB_ERR_UPSTREAM;
    }
    if (s_type_is(type, "ConditionalCheckFailedException")) {
        return MB_ERR_CONFLICT;
    }
    if (s_type_is(type, "ValidationException") || s_type_is(type, "SerializationException") ||
        s_type_is(type, "InvalidParameterException") ||
        s_type_is(type, "InvalidRequestException")) {
        return MB_ERR_INVALID;
    }
    return MB_ERR_UPSTREAM; /* ResourceNotFound, AccessDenied, unknown: a 502 for the client */
}

/* Read __type (after its '#') and message from an error body into the stats and err. */
static int s_error_of(mb_aws_json *c, const mb_http_response *resp, bool *retryable, mb_err *err) {
    char message[160] = "";
    c->last.error_type[0] = '\0';
    json_t *root = resp->body.len <= MAX_ERROR_BODY
                       ? json_loadb(resp->body.ptr ? resp->body.ptr : "", resp->body.len, 0, NULL)
                       : NULL;
    const char *type = json_string_value(json_object_get(root, "__type"));
    const char *msg = json_string_value(json_object_get(root, "message"));
    msg = msg ? msg : json_string_value(json_object_get(root, "Message"));
    if (type) {
        const char *hash = strrchr(type, '#');
        snprintf(c->last.error_type, sizeof c->last.error_type, "%s", hash ? hash + 1 : type);
    }
    snprintf(message, sizeof message, "%s", msg ? msg : "");
    json_decref(root);
    int status = c->map_error(mb_cur_from_cstr(c->last.error_type), resp->status, retryable);
    return mb_err_set(err, status, "%s %s (HTTP %ld): %s", c->label,
                      c->last.error_type[0] ? c->last.error_type : "error", resp->status, message);
}

/* ---- one signed attempt ---- */

static int s_attempt(mb_aws_json *c, const char *op, mb_cur body, int64_t now, long timeout_ms,
                     mb_err *err) {
    char target[MAX_NAME + 1 + MAX_OP];
    snprintf(target, sizeof target, "%s.%s", c->target_prefix, op);
    mb_http_header h[8] = {
        {MB_CUR_LIT("Host"), mb_cur_from_cstr(c->host)},
        {MB_CUR_LIT("Content-Type"), mb_cur_from_cstr(c->content_type)},
        {MB_CUR_LIT("X-Amz-Target"), mb_cur_from_cstr(target)},
    };
    mb_sigv4_request sreq = {"POST", MB_CUR_LIT("/"), {"", 0}, h, 3, body};
    mb_sigv4_params p = {c->region, c->service, now / 1000, true, false, false, 0};
    int rc = mb_sigv4_sign_headers(&c->signer, &sreq, &p, &c->sig, err);
    if (rc != 0) {
        return rc;
    }
    size_t n = 3;
    for (size_t i = 0; i < c->sig.header_count; i++) {
        h[n++] = c->sig.headers[i];
    }
    mb_http_request req = {"POST", c->url, h, n, body, timeout_ms, timeout_ms, c->max_response};
    return mb_http_send(c->http, &req, &c->http_resp, err);
}

/* Full jitter: a random delay in [0, min(max, base * 2^attempt)). */
static int64_t s_delay(mb_aws_json *c, int attempt) {
    int64_t cap = c->base_delay_ms;
    for (int i = 0; i < attempt && cap < c->max_delay_ms; i++) {
        cap *= 2;
    }
    cap = cap < c->max_delay_ms ? cap : c->max_delay_ms;
    uint64_t r = s_random(c);
    return cap > 0 ? (int64_t)(r % (uint64_t)cap) : 0;
}

bool mb_aws_json_backoff(mb_aws_json *client, int attempt, int64_t deadline_ms) {
    int64_t delay = s_delay(client, attempt);
    if (deadline_ms > 0 && mb_clock_now_ms(&client->seams.clock) + delay >= deadline_ms) {
        return false;
    }
    mb_clock_sleep_ms(&client->seams.clock, delay);
    return true;
}

/* Classify one attempt: 0 done, or an error with *retry telling whether to try again. */
static int s_outcome(mb_aws_json *c, int rc, bool *retry, mb_err *err) {
    *retry = false;
    c->last.http_status = c->http_resp.status;
    if (rc == MB_ERR_IO || rc == MB_ERR_TIMEOUT) {
        char why[MB_ERR_MSG_MAX];
        snprintf(why, sizeof why, "%s", err ? err->msg : "");
        *retry = true;
        c->last.transport_failures++;
        return mb_err_set(err, MB_ERR_UNAVAILABLE, "%s unreachable: %s", c->label, why);
    }
    if (rc != 0) {
        return rc;
    }
    if (c->http_resp.status == 200) {
        return 0;
    }
    return s_error_of(c, &c->http_resp, retry, err);
}

int mb_aws_json_call(mb_aws_json *client, const char *op, mb_cur body, int64_t deadline_ms,
                     mb_cur *response, mb_err *err) {
    mb_aws_json *c = client;
    c->last = (mb_aws_json_stats){0};
    *response = (mb_cur){"", 0};
    if (!op || !op[0] || strlen(op) >= MAX_OP) {
        return mb_err_set(err, MB_ERR_INVALID, "%s: bad operation name", c->label);
    }
    /* The connection is opened on the first call, not by mb_aws_json_new: loading libcurl costs
     * milliseconds of a cold start (moonbase/http.h), which a process that never calls the
     * service should not pay. A failure to open it is not worth a retry. */
    if (!c->http && !(c->http = mb_http_new(err))) {
        return err ? err->status : MB_ERR_IO;
    }
    int rc =
        mb_err_set(err, MB_ERR_TIMEOUT, "%s %s: deadline reached before an attempt", c->label, op);
    for (int attempt = 0; attempt < c->max_attempts; attempt++) {
        if (attempt > 0 && !mb_aws_json_backoff(c, attempt, deadline_ms)) {
            break;
        }
        int64_t now = mb_clock_now_ms(&c->seams.clock);
        long timeout = c->attempt_timeout_ms;
        if (deadline_ms > 0) {
            if (now >= deadline_ms) {
                break;
            }
            timeout = deadline_ms - now < timeout ? (long)(deadline_ms - now) : timeout;
        }
        c->last.attempts = attempt + 1;
        bool retry;
        rc = s_outcome(c, s_attempt(c, op, body, now, timeout, err), &retry, err);
        if (rc == 0) {
            *response = mb_buf_cur(&c->http_resp.body);
            return 0;
        }
        if (!retry) {
            return rc;
        }
    }
    return rc;
}
