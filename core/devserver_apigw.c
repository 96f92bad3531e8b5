/* devserver_apigw.c - HTTP request -> API Gateway REST (1.0) or HTTP API (2.0) event, Lambda
 * proxy response -> HTTP answer (percent-decoding and UTF-8 come from the text kernel). */
#include "moonbase/devserver_apigw.h"

#include "moonbase/text.h"
#include "moonbase/base64.h"
#include "moonbase/json.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Header names longer than this are skipped: no real client sends them, and the HTTP server
 * bounds the whole header block long before this anyway. */
#define HEADER_NAME_MAX 256

/* A JSON string from arbitrary bytes: invalid UTF-8 becomes U+FFFD (headers are hostile). */
static json_t *s_jstr(mb_cur s) {
    if (mb_text_utf8_valid(s)) {
        return json_stringn(s.ptr ? s.ptr : "", s.len);
    }
    mb_buf b = {0};
    const unsigned char *p = (const unsigned char *)s.ptr;
    for (size_t i = 0; i < s.len;) {
        size_t k = mb_text_utf8_seq(p + i, s.len - i);
        int rc = k ? mb_buf_append(&b, p + i, k) : mb_buf_append(&b, "\xef\xbf\xbd", 3);
        if (rc != 0) {
            mb_buf_cleanup(&b);
            return NULL;
        }
        i += k ? k : 1;
    }
    json_t *j = json_stringn(b.ptr, b.len);
    mb_buf_cleanup(&b);
    return j;
}

/* obj[key] = value, or obj[key] = old + "," + value when the key repeats. Takes value. */
static int s_merge(json_t *obj, mb_cur key, json_t *value) {
    if (value == NULL) {
        return MB_ERR_NOMEM;
    }
    json_t *old = json_object_getn(obj, key.ptr ? key.ptr : "", key.len);
    if (old != NULL) {
        mb_buf b = {0};
        int rc = mb_buf_append(&b, json_string_value(old), json_string_length(old));
        rc |= mb_buf_append_byte(&b, ',');
        rc |= mb_buf_append(&b, json_string_value(value), json_string_length(value));
        json_decref(value);
        value = rc == 0 ? json_stringn(b.ptr, b.len) : NULL;
        mb_buf_cleanup(&b);
        if (value == NULL) {
            return MB_ERR_NOMEM;
        }
    }
    return json_object_setn_new(obj, key.ptr ? key.ptr : "", key.len, value) == 0 ? 0
                                                                                  : MB_ERR_NOMEM;
}

/* The "cookie" header value, split on ';' into the cookies array. */
static int s_add_cookies(json_t *cookies, mb_cur v) {
    size_t start = 0;
    for (size_t i = 0; i <= v.len; i++) {
        if (i == v.len || v.ptr[i] == ';') {
            mb_cur one = mb_cur_trim((mb_cur){v.ptr + start, i - start});
            if (one.len > 0 && json_array_append_new(cookies, s_jstr(one)) != 0) {
                return MB_ERR_NOMEM;
            }
            start = i + 1;
        }
    }
    return 0;
}

static int s_headers(const mb_apigw_request *req, json_t *headers, json_t *cookies) {
    char name[HEADER_NAME_MAX];
    for (size_t i = 0; i < req->header_count; i++) {
        const mb_http_header *h = &req->headers[i];
        if (h->name.len == 0 || h->name.len >= sizeof name) {
            continue;
        }
        for (size_t k = 0; k < h->name.len; k++) {
            char c = h->name.ptr[k];
            name[k] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        mb_cur lname = {name, h->name.len};
        if (!mb_text_utf8_valid(lname)) {
            continue;
        }
        int rc = mb_cur_eq(lname, MB_CUR_LIT("cookie")) ? s_add_cookies(cookies, h->value)
                                                        : s_merge(headers, lname, s_jstr(h->value));
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int s_query(mb_cur q, json_t *params) {
    mb_buf k = {0}, v = {0};
    int rc = 0;
    size_t start = 0;
    for (size_t i = 0; i <= q.len && rc == 0; i++) {
        if (i < q.len && q.ptr[i] != '&') {
            continue;
        }
        mb_cur pair = {q.ptr + start, i - start};
        start = i + 1;
        if (pair.len == 0) {
            continue;
        }
        const char *eq = memchr(pair.ptr, '=', pair.len);
        size_t klen = eq ? (size_t)(eq - pair.ptr) : pair.len;
        mb_buf_reset(&k);
        mb_buf_reset(&v);
        rc = mb_text_pct_decode_buf(&k, (mb_cur){pair.ptr, klen}, MB_TEXT_PCT_PLUS_SPACE);
        if (rc == 0 && eq) {
            rc = mb_text_pct_decode_buf(&v, (mb_cur){eq + 1, pair.len - klen - 1},
                                        MB_TEXT_PCT_PLUS_SPACE);
        }
        if (rc == 0) {
            json_t *key = s_jstr(mb_buf_cur(&k)); /* keys must be UTF-8 too */
            rc = key ? s_merge(params, (mb_cur){json_string_value(key), json_string_length(key)},
                               s_jstr(mb_buf_cur(&v)))
                     : MB_ERR_NOMEM;
            json_decref(key);
        }
    }
    mb_buf_cleanup(&k);
    mb_buf_cleanup(&v);
    return rc;
}

static bool s_has_icase(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        if (strncasecmp(hay, needle, n) == 0) {
            return true;
        }
    }
    return false;
}

static bool s_textual(const char *ctype) {
    if (ctype == NULL) {
        return true;
    }
    return strncasecmp(ctype, "text/", 5) == 0 || s_has_icase(ctype, "json") ||
           s_has_icase(ctype, "xml") || s_has_icase(ctype, "javascript") ||
           strncasecmp(ctype, "application/x-www-form-urlencoded", 33) == 0;
}

static int s_body(const mb_apigw_request *req, const char *ctype, json_t *ev) {
    bool text = s_textual(ctype) && mb_text_utf8_valid(req->body);
    json_t *body = NULL;
    if (text) {
        body = json_stringn(req->body.ptr ? req->body.ptr : "", req->body.len);
    } else {
        mb_buf b = {0};
        if (mb_base64_encode(&b, req->body) == 0) {
            body = json_stringn(b.ptr ? b.ptr : "", b.len);
        }
        mb_buf_cleanup(&b);
    }
    if (body == NULL || json_object_set_new(ev, "body", body) != 0) {
        return MB_ERR_NOMEM;
    }
    return json_object_set_new(ev, "isBase64Encoded", json_boolean(!text)) == 0 ? 0 : MB_ERR_NOMEM;
}

static json_t *s_context(const mb_apigw_request *req, json_t *headers) {
    json_t *host = json_object_get(headers, "host");
    const char *domain = host ? json_string_value(host) : "localhost";
    size_t plen = strcspn(domain, ".:");
    json_t *ua = json_object_get(headers, "user-agent");
    char when[64];
    time_t secs = (time_t)(req->time_epoch_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(when, sizeof when, "%d/%b/%Y:%H:%M:%S +0000", &tm);
    return json_pack("{s:s, s:s, s:s, s:s%, s:{s:s, s:s%, s:s, s:s, s:s}, s:s, s:s, s:s, s:s, "
                     "s:I}",
                     "accountId", req->account_id, "apiId", req->api_id, "domainName", domain,
                     "domainPrefix", domain, plen, "http", "method", req->method, "path",
                     req->raw_path.ptr ? req->raw_path.ptr : "", req->raw_path.len, "protocol",
                     req->protocol, "sourceIp", req->source_ip, "userAgent",
                     ua ? json_string_value(ua) : "", "requestId", req->request_id, "routeKey",
                     "$default", "stage", "$default", "time", when, "timeEpoch",
                     (json_int_t)req->time_epoch_ms);
}

static int s_dump_cb(const char *buffer, size_t size, void *data) {
    return mb_buf_append(data, buffer, size) == 0 ? 0 : -1;
}

int mb_apigw_event_build(const mb_apigw_request *req, mb_buf *out, mb_err *err) {
    int rc = MB_ERR_NOMEM;
    json_t *headers = json_object(), *cookies = json_array(), *query = json_object();
    json_t *ev =
        json_pack("{s:s, s:s, s:s%, s:s%}", "version", "2.0", "routeKey", "$default", "rawPath",
                  req->raw_path.ptr ? req->raw_path.ptr : "", req->raw_path.len, "rawQueryString",
                  req->raw_query.ptr ? req->raw_query.ptr : "", req->raw_query.len);
    if (!headers || !cookies || !query || !ev || s_headers(req, headers, cookies) != 0 ||
        s_query(req->raw_query, query) != 0) {
        goto fail;
    }
    json_t *ctx = s_context(req, headers);
    if (ctx == NULL || json_object_set_new(ev, "requestContext", ctx) != 0) {
        goto fail;
    }
    if (json_array_size(cookies) > 0 && json_object_set(ev, "cookies", cookies) != 0) {
        goto fail;
    }
    if (json_object_size(query) > 0 && json_object_set(ev, "queryStringParameters", query) != 0) {
        goto fail;
    }
    if (json_object_set(ev, "headers", headers) != 0) {
        goto fail;
    }
    json_t *ct = json_object_get(headers, "content-type");
    if (req->has_body && s_body(req, ct ? json_string_value(ct) : NULL, ev) != 0) {
        goto fail;
    }
    if (!req->has_body && json_object_set_new(ev, "isBase64Encoded", json_false()) != 0) {
        goto fail;
    }
    rc = json_dump_callback(ev, s_dump_cb, out, JSON_COMPACT) == 0 ? 0 : MB_ERR_NOMEM;
fail:
    json_decref(headers);
    json_decref(cookies);
    json_decref(query);
    json_decref(ev);
    return rc == 0 ? 0 : mb_err_set(err, rc, "out of memory building the event");
}

/* A header name is an RFC 9110 token; a value has no CR, LF or NUL (no response splitting). */
static bool s_header_ok(const char *name, size_t nlen, const char *value, size_t vlen) {
    if (nlen == 0) {
        return false;
    }
    for (size_t i = 0; i < nlen; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c <= 32 || c >= 127 || strchr("\"(),/:;<=>?@[\\]{}", c) != NULL) {
            return false;
        }
    }
    for (size_t i = 0; i < vlen; i++) {
        if (value[i] == '\r' || value[i] == '\n' || value[i] == 0) {
            return false;
        }
    }
    return true;
}

static int s_add_header(mb_apigw_response *r, const char *name, size_t nlen, const char *value,
                        size_t vlen, mb_err *err) {
    if (!s_header_ok(name, nlen, value, vlen)) {
        return mb_err_set(err, MB_ERR_INVALID, "response header '%.*s' is not valid HTTP",
                          (int)(nlen > 64 ? 64 : nlen), name);
    }
    mb_apigw_header *h = realloc(r->headers, (r->header_count + 1) * sizeof *h);
    if (h == NULL) {
        return mb_err_set(err, MB_ERR_NOMEM, "out of memory");
    }
    r->headers = h;
    h[r->header_count].name = strndup(name, nlen);
    h[r->header_count].value = strndup(value, vlen);
    r->header_count++;
    if (!h[r->header_count - 1].name || !h[r->header_count - 1].value) {
        return mb_err_set(err, MB_ERR_NOMEM, "out of memory");
    }
    return 0;
}

/* A header value as API Gateway accepts it: a string, or a number/boolean written as text. */
static int s_add_json_header(mb_apigw_response *r, const char *name, json_t *v, mb_err *err) {
    char num[64];
    if (json_is_null(v)) {
        return 0;
    }
    if (json_is_string(v)) {
        return s_add_header(r, name, strlen(name), json_string_value(v), json_string_length(v),
                            err);
    }
    int n = -1;
    if (json_is_integer(v)) {
        n = snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        n = snprintf(num, sizeof num, "%.17g", json_real_value(v));
    } else if (json_is_boolean(v)) {
        n = snprintf(num, sizeof num, "%s", json_is_true(v) ? "true" : "false");
    }
    if (n < 0) {
        return mb_err_set(err, MB_ERR_INVALID, "response header '%.64s' is not a string", name);
    }
    return s_add_header(r, name, strlen(name), num, (size_t)n, err);
}

static int s_status(json_t *code, mb_apigw_response *r, mb_err *err) {
    double d = json_is_integer(code) ? (double)json_integer_value(code)
               : json_is_real(code)  ? json_real_value(code)
                                     : -1;
    if (d < 100 || d > 599 || d != (double)(int)d) {
        return mb_err_set(err, MB_ERR_INVALID, "statusCode must be an integer 100..599");
    }
    r->status = (int)d;
    return 0;
}

static int s_proxy_headers(json_t *root, mb_apigw_response *r, mb_err *err) {
    const char *key;
    json_t *v, *headers = json_object_get(root, "headers");
    json_t *multi = json_object_get(root, "multiValueHeaders");
    json_t *cookies = json_object_get(root, "cookies");
    if ((headers && !json_is_object(headers) && !json_is_null(headers)) ||
        (multi && !json_is_object(multi) && !json_is_null(multi)) ||
        (cookies && !json_is_array(cookies) && !json_is_null(cookies))) {
        return mb_err_set(err, MB_ERR_INVALID, "headers/multiValueHeaders/cookies wrong type");
    }
    json_object_foreach(headers, key, v) {
        int rc = s_add_json_header(r, key, v, err);
        if (rc != 0) {
            return rc;
        }
    }
    json_object_foreach(multi, key, v) {
        size_t i;
        json_t *one;
        json_array_foreach(v, i, one) {
            int rc = s_add_json_header(r, key, one, err);
            if (rc != 0) {
                return rc;
            }
        }
    }
    size_t i;
    json_array_foreach(cookies, i, v) {
        if (!json_is_string(v)) {
            return mb_err_set(err, MB_ERR_INVALID, "cookies must be strings");
        }
        int rc = s_add_json_header(r, "Set-Cookie", v, err);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int s_proxy_body(json_t *root, mb_apigw_response *r, mb_err *err) {
    json_t *body = json_object_get(root, "body");
    json_t *b64 = json_object_get(root, "isBase64Encoded");
    if (body == NULL || json_is_null(body)) {
        return 0;
    }
    if (!json_is_string(body)) {
        return mb_err_set(err, MB_ERR_INVALID, "body must be a string");
    }
    mb_cur text = {json_string_value(body), json_string_length(body)};
    int rc = json_is_true(b64) ? mb_base64_decode(&r->body, text, NULL)
                               : mb_buf_append_cur(&r->body, text);
    if (rc == MB_ERR_INVALID) {
        return mb_err_set(err, rc, "isBase64Encoded is true but body is not base64");
    }
    return rc == 0 ? 0 : mb_err_set(err, MB_ERR_NOMEM, "out of memory");
}

int mb_apigw_response_parse(mb_cur payload, mb_apigw_response *resp, mb_err *err) {
    json_error_t jerr;
    memset(resp, 0, sizeof *resp);
    json_t *root = json_loadb(payload.ptr ? payload.ptr : "", payload.len,
                              JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (root == NULL) {
        return mb_err_set(err, MB_ERR_INVALID, "function response is not JSON: %s", jerr.text);
    }
    int rc;
    json_t *code = json_is_object(root) ? json_object_get(root, "statusCode") : NULL;
    if (code == NULL) {
        /* Payload format 2.0 inference: any JSON without statusCode is a 200 JSON body. */
        resp->status = 200;
        rc = s_add_header(resp, "content-type", 12, "application/json", 16, err);
        if (rc == 0 && mb_buf_append_cur(&resp->body, payload) != 0) {
            rc = mb_err_set(err, MB_ERR_NOMEM, "out of memory");
        }
    } else {
        rc = s_status(code, resp, err);
        if (rc == 0) {
            rc = s_proxy_headers(root, resp, err);
        }
        if (rc == 0) {
            rc = s_proxy_body(root, resp, err);
        }
    }
    json_decref(root);
    if (rc != 0) {
        mb_apigw_response_cleanup(resp);
    }
    return rc;
}

void mb_apigw_response_cleanup(mb_apigw_response *resp) {
    if (resp == NULL) {
        return;
    }
    for (size_t i = 0; i < resp->header_count; i++) {
        free(resp->headers[i].name);
        free(resp->headers[i].value);
    }
    free(resp->headers);
    mb_buf_cleanup(&resp->body);
    memset(resp, 0, sizeof *resp);
}

const char *mb_apigw_response_header(const mb_apigw_response *resp, const char *name) {
    for (size_t i = 0; i < resp->header_count; i++) {
        if (strcasecmp(resp->headers[i].name, name) == 0) {
            return resp->headers[i].value;
        }
    }
    return NULL;
}

/* ---- REST API proxy events (payload format 1.0) ---- */

/* The last value of header `name` (any case); ptr is NULL when the request has none. */
static mb_cur s_find_header(const mb_apigw_request *req, const char *name) {
    mb_cur found = {NULL, 0};
    for (size_t i = 0; i < req->header_count; i++) {
        if (mb_cur_eq_icase(req->headers[i].name, mb_cur_from_cstr(name))) {
            found = req->headers[i].value;
            found.ptr = found.ptr ? found.ptr : "";
        }
    }
    return found;
}

/* headers (last value wins) and multiValueHeaders (every value), names as the client sent them;
 * a repeat in another case joins the first spelling's list. */
static int s_rest_headers(const mb_apigw_request *req, json_t *ev) {
    json_t *single = json_object(), *multi = json_object();
    int rc = single && multi ? 0 : MB_ERR_NOMEM;
    for (size_t i = 0; rc == 0 && i < req->header_count; i++) {
        const mb_http_header *h = &req->headers[i];
        if (h->name.len == 0 || h->name.len >= HEADER_NAME_MAX || !mb_text_utf8_valid(h->name)) {
            continue;
        }
        json_t *name = json_stringn(h->name.ptr, h->name.len);
        const char *key = name ? json_string_value(name) : NULL;
        const char *seen;
        json_t *list = NULL;
        json_object_foreach(key ? multi : NULL, seen, list) {
            if (strcasecmp(seen, key) == 0) {
                key = seen;
                break;
            }
        }
        list = key ? json_object_get(multi, key) : NULL;
        if (key != NULL && list == NULL) {
            list = json_array();
            rc = json_object_set_new(multi, key, list) == 0 ? 0 : MB_ERR_NOMEM;
        }
        if (key == NULL || rc != 0 || json_array_append_new(list, s_jstr(h->value)) != 0 ||
            json_object_set_new(single, key, s_jstr(h->value)) != 0) {
            rc = MB_ERR_NOMEM;
        }
        json_decref(name);
    }
    if (rc == 0 && json_object_set(ev, "headers", single) == 0 &&
        json_object_set(ev, "multiValueHeaders", multi) == 0) {
        rc = 0;
    } else {
        rc = MB_ERR_NOMEM;
    }
    json_decref(single);
    json_decref(multi);
    return rc;
}

/* One "k=v" pair into single (last value) and multi (every value), both decoded. */
static int s_rest_query_pair(mb_cur pair, json_t *single, json_t *multi, mb_buf *k, mb_buf *v) {
    const char *eq = memchr(pair.ptr, '=', pair.len);
    size_t klen = eq ? (size_t)(eq - pair.ptr) : pair.len;
    mb_buf_reset(k);
    mb_buf_reset(v);
    if (mb_text_pct_decode_buf(k, (mb_cur){pair.ptr, klen}, MB_TEXT_PCT_PLUS_SPACE) != 0 ||
        (eq && mb_text_pct_decode_buf(v, (mb_cur){eq + 1, pair.len - klen - 1},
                                      MB_TEXT_PCT_PLUS_SPACE) != 0)) {
        return MB_ERR_NOMEM;
    }
    json_t *key = s_jstr(mb_buf_cur(k)); /* keys must be UTF-8 too */
    if (key == NULL) {
        return MB_ERR_NOMEM;
    }
    const char *kname = json_string_value(key);
    json_t *list = json_object_get(multi, kname);
    int rc = 0;
    if (list == NULL) {
        list = json_array();
        rc = json_object_set_new(multi, kname, list);
    }
    if (rc != 0 || list == NULL || json_array_append_new(list, s_jstr(mb_buf_cur(v))) != 0 ||
        json_object_set_new(single, kname, s_jstr(mb_buf_cur(v))) != 0) {
        rc = MB_ERR_NOMEM;
    }
    json_decref(key);
    return rc;
}

/* queryStringParameters (last value) and multiValueQueryStringParameters, or null for both. */
static int s_rest_query(mb_cur q, json_t *ev) {
    json_t *single = json_object(), *multi = json_object();
    int rc = single && multi ? 0 : MB_ERR_NOMEM;
    mb_buf k = {0}, v = {0};
    size_t start = 0;
    for (size_t i = 0; rc == 0 && i <= q.len; i++) {
        if (i == q.len || q.ptr[i] == '&') {
            mb_cur pair = {q.ptr + start, i - start};
            start = i + 1;
            rc = pair.len ? s_rest_query_pair(pair, single, multi, &k, &v) : 0;
        }
    }
    mb_buf_cleanup(&k);
    mb_buf_cleanup(&v);
    bool none = rc == 0 && json_object_size(single) == 0;
    if (rc == 0 && (json_object_set_new(ev, "queryStringParameters",
                                        none ? json_null() : json_incref(single)) ||
                    json_object_set_new(ev, "multiValueQueryStringParameters",
                                        none ? json_null() : json_incref(multi)))) {
        rc = MB_ERR_NOMEM;
    }
    json_decref(single);
    json_decref(multi);
    return rc;
}

/* One claim as the Cognito authorizer passes it: a string. exp and iat become the date text API
 * Gateway writes (Java's Date.toString in UTC); arrays are joined with ','. NULL = skip. */
static json_t *s_claim_string(const char *key, json_t *v) {
    char text[64];
    if (json_is_string(v)) {
        return json_incref(v);
    }
    if (json_is_integer(v) && (strcmp(key, "exp") == 0 || strcmp(key, "iat") == 0)) {
        time_t t = (time_t)json_integer_value(v);
        struct tm tm;
        if (gmtime_r(&t, &tm) != NULL &&
            strftime(text, sizeof text, "%a %b %d %H:%M:%S UTC %Y", &tm)) {
            return json_string(text);
        }
    }
    if (json_is_integer(v) || json_is_real(v) || json_is_boolean(v)) {
        json_t *s = NULL;
        char *dumped = json_dumps(v, JSON_ENCODE_ANY);
        s = dumped ? json_string(dumped) : NULL;
        free(dumped);
        return s;
    }
    if (json_is_array(v)) {
        mb_buf b = {0};
        size_t i;
        json_t *one;
        int rc = 0;
        json_array_foreach(v, i, one) {
            json_t *s = s_claim_string(key, one);
            rc |= i ? mb_buf_append_byte(&b, ',') : 0;
            rc |= s ? mb_buf_append(&b, json_string_value(s), json_string_length(s)) : -1;
            json_decref(s);
        }
        json_t *s = rc == 0 ? json_stringn(b.ptr ? b.ptr : "", b.len) : NULL;
        mb_buf_cleanup(&b);
        return s;
    }
    if (json_is_object(v)) {
        char *dumped = json_dumps(v, JSON_COMPACT);
        json_t *s = dumped ? json_string(dumped) : NULL;
        free(dumped);
        return s;
    }
    return NULL;
}

/* {"claims": {...}} from "Bearer <JWT>" (or a bare JWT), or NULL when it does not decode. */
static json_t *s_cognito_authorizer(mb_cur tok) {
    if (tok.ptr == NULL) {
        return NULL;
    }
    if (tok.len > 7 && mb_cur_eq_icase((mb_cur){tok.ptr, 7}, MB_CUR_LIT("Bearer "))) {
        tok.ptr += 7;
        tok.len -= 7;
    }
    const char *dot1 = memchr(tok.ptr, '.', tok.len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', tok.len - (size_t)(dot1 + 1 - tok.ptr)) : NULL;
    if (dot2 == NULL) {
        return NULL;
    }
    mb_buf payload = {0};
    json_t *claims = NULL, *out = NULL;
    if (mb_base64url_decode(&payload, (mb_cur){dot1 + 1, (size_t)(dot2 - dot1 - 1)}, NULL) == 0) {
        claims = json_loadb(payload.ptr ? payload.ptr : "", payload.len, 0, NULL);
    }
    mb_buf_cleanup(&payload);
    json_t *strs = json_is_object(claims) ? json_object() : NULL;
    const char *key;
    json_t *v;
    json_object_foreach(strs ? claims : NULL, key, v) {
        json_t *s = s_claim_string(key, v);
        if (s != NULL) {
            json_object_set_new(strs, key, s);
        }
    }
    json_decref(claims);
    if (strs != NULL) {
        out = json_pack("{s:o}", "claims", strs);
    }
    return out;
}

static json_t *s_rest_context(const mb_apigw_request *req, const mb_apigw_route *route,
                              const char *stage) {
    mb_cur domain = s_find_header(req, "host");
    domain = domain.ptr && mb_text_utf8_valid(domain) ? domain : MB_CUR_LIT("localhost");
    size_t plen = 0;
    while (plen < domain.len && domain.ptr[plen] != '.' && domain.ptr[plen] != ':') {
        plen++;
    }
    mb_cur ua = s_find_header(req, "user-agent");
    char when[64];
    time_t secs = (time_t)(req->time_epoch_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(when, sizeof when, "%d/%b/%Y:%H:%M:%S +0000", &tm);
    mb_buf path = {0};
    if (mb_buf_appendf(&path, "/%s", stage) != 0 || mb_buf_append_cur(&path, req->raw_path) != 0) {
        mb_buf_cleanup(&path);
        return NULL;
    }
    json_t *ctx = json_pack(
        "{s:s, s:s, s:s%, s:s%, s:s, s:s, s:{s:n, s:n, s:n, s:n, s:n, s:n, s:n, s:n, s:s, s:n, "
        "s:o, "
        "s:n}, s:o, s:s, s:s, s:s, s:I, s:s, s:s, s:s}",
        "accountId", req->account_id, "apiId", req->api_id, "domainName", domain.ptr, domain.len,
        "domainPrefix", domain.ptr, plen, "extendedRequestId", req->request_id, "httpMethod",
        req->method, "identity", "accessKey", "accountId", "caller",
        "cognitoAuthenticationProvider", "cognitoAuthenticationType", "cognitoIdentityId",
        "cognitoIdentityPoolId", "principalOrgId", "sourceIp", req->source_ip, "user", "userAgent",
        ua.ptr ? s_jstr(ua) : json_null(), "userArn", "path", s_jstr(mb_buf_cur(&path)), "protocol",
        req->protocol, "requestId", req->request_id, "requestTime", when, "requestTimeEpoch",
        (json_int_t)req->time_epoch_ms, "resourceId", "local", "resourcePath", route->resource,
        "stage", stage);
    mb_buf_cleanup(&path);
    json_t *auth =
        route->cognito ? s_cognito_authorizer(s_find_header(req, "authorization")) : NULL;
    if (ctx != NULL && auth != NULL && json_object_set_new(ctx, "authorizer", auth) != 0) {
        json_decref(ctx);
        return NULL;
    }
    if (ctx == NULL) {
        json_decref(auth);
    }
    return ctx;
}

static json_t *s_path_params(const mb_apigw_route *route) {
    if (route->param_count == 0) {
        return json_null();
    }
    json_t *p = json_object();
    for (size_t i = 0; p != NULL && i < route->param_count; i++) {
        json_t *name = s_jstr(route->param_names[i]);
        if (name == NULL ||
            json_object_set_new(p, json_string_value(name), s_jstr(route->param_values[i])) != 0) {
            json_decref(p);
            p = NULL;
        }
        json_decref(name);
    }
    return p;
}

int mb_apigw_rest_event_build(const mb_apigw_request *req, const mb_apigw_route *route,
                              const char *stage, mb_buf *out, mb_err *err) {
    int rc = MB_ERR_NOMEM;
    json_t *ev = json_pack("{s:s, s:o, s:s, s:o, s:n}", "resource", route->resource, "path",
                           s_jstr(req->raw_path), "httpMethod", req->method, "pathParameters",
                           s_path_params(route), "stageVariables");
    if (ev == NULL || s_rest_headers(req, ev) != 0 || s_rest_query(req->raw_query, ev) != 0) {
        goto fail;
    }
    json_t *ctx = s_rest_context(req, route, stage);
    if (ctx == NULL || json_object_set_new(ev, "requestContext", ctx) != 0) {
        goto fail;
    }
    /* The content type only decides text vs base64: a bounded NUL-terminated copy is enough. */
    char ctype[128] = "";
    mb_cur ct = s_find_header(req, "content-type");
    snprintf(ctype, sizeof ctype, "%.*s", (int)(ct.len < sizeof ctype ? ct.len : sizeof ctype - 1),
             ct.ptr ? ct.ptr : "");
    if (req->has_body ? s_body(req, ct.ptr ? ctype : NULL, ev) != 0
                      : (json_object_set_new(ev, "body", json_null()) != 0 ||
                         json_object_set_new(ev, "isBase64Encoded", json_false()) != 0)) {
        goto fail;
    }
    rc = json_dump_callback(ev, s_dump_cb, out, JSON_COMPACT) == 0 ? 0 : MB_ERR_NOMEM;
fail:
    json_decref(ev);
    return rc == 0 ? 0 : mb_err_set(err, rc, "out of memory building the event");
}
