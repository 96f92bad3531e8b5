/* devserver_apigw.c - HTTP request -> API Gateway HTTP API v2 event, Lambda proxy response ->
 * HTTP answer, plus the small codecs (base64, percent-decoding, UTF-8 check) they need. */
#include "moonbase/devserver_apigw.h"

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

static int s_hex(unsigned char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

int mb_apigw_pct_decode(mb_cur src, bool plus_is_space, mb_buf *out) {
    if (mb_buf_reserve(out, src.len) != 0) {
        return MB_ERR_NOMEM;
    }
    for (size_t i = 0; i < src.len; i++) {
        unsigned char c = (unsigned char)src.ptr[i];
        if (c == '%' && i + 2 < src.len && s_hex((unsigned char)src.ptr[i + 1]) >= 0 &&
            s_hex((unsigned char)src.ptr[i + 2]) >= 0) {
            c = (unsigned char)(s_hex((unsigned char)src.ptr[i + 1]) << 4 |
                                s_hex((unsigned char)src.ptr[i + 2]));
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        out->ptr[out->len++] = (char)c;
    }
    out->ptr[out->len] = 0;
    return 0;
}

/* A JSON string from arbitrary bytes: invalid UTF-8 becomes U+FFFD (headers are hostile). */
static json_t *s_jstr(mb_cur s) {
    if (mb_json_is_utf8(s)) {
        return json_stringn(s.ptr ? s.ptr : "", s.len);
    }
    mb_buf b = {0};
    const unsigned char *p = (const unsigned char *)s.ptr;
    for (size_t i = 0; i < s.len;) {
        size_t k = mb_json_utf8_seq(p + i, s.len - i);
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

static mb_cur s_trim(mb_cur c) {
    while (c.len > 0 && (c.ptr[0] == ' ' || c.ptr[0] == '\t')) {
        c.ptr++;
        c.len--;
    }
    while (c.len > 0 && (c.ptr[c.len - 1] == ' ' || c.ptr[c.len - 1] == '\t')) {
        c.len--;
    }
    return c;
}

/* The "cookie" header value, split on ';' into the cookies array. */
static int s_add_cookies(json_t *cookies, mb_cur v) {
    size_t start = 0;
    for (size_t i = 0; i <= v.len; i++) {
        if (i == v.len || v.ptr[i] == ';') {
            mb_cur one = s_trim((mb_cur){v.ptr + start, i - start});
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
        if (!mb_json_is_utf8(lname)) {
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
        rc = mb_apigw_pct_decode((mb_cur){pair.ptr, klen}, true, &k);
        if (rc == 0 && eq) {
            rc = mb_apigw_pct_decode((mb_cur){eq + 1, pair.len - klen - 1}, true, &v);
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

static int s_body(const mb_apigw_request *req, json_t *headers, json_t *ev) {
    json_t *ct = json_object_get(headers, "content-type");
    bool text = s_textual(ct ? json_string_value(ct) : NULL) && mb_json_is_utf8(req->body);
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
    if (req->has_body && s_body(req, headers, ev) != 0) {
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
