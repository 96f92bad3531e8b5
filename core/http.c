/* http.c - blocking HTTP/1.1 over one reused libcurl easy handle (see moonbase/http.h). */
#include "moonbase/http.h"

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

struct mb_http {
    CURL *curl;
};

/* Header block bound: a peer that streams endless headers is cut off like an oversized body. */
#define HTTP_MAX_HEADER_BYTES (64u * 1024u)
/* Request headers: enough for SigV4 (host, date, token, target, type, auth) plus callers' extras. */
#define HTTP_HEADER_LINE_MAX 8192

typedef struct sink {
    mb_http_response *resp;
    size_t max_body;
    bool overflow;
    bool nomem;
} sink;

static bool g_curl_ready; /* curl_global_init is process-wide by libcurl's own design */

static size_t s_on_body(char *data, size_t size, size_t n, void *ud) {
    sink *s = ud;
    size_t len = size * n;
    if (s->resp->body.len + len > s->max_body) {
        s->overflow = true;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (mb_buf_append(&s->resp->body, data, len) != 0) {
        s->nomem = true;
        return 0;
    }
    return len;
}

static size_t s_on_header(char *data, size_t size, size_t n, void *ud) {
    sink *s = ud;
    size_t len = size * n;
    /* A status line starts a new response (after 100-continue or a redirect): keep the last one. */
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        mb_buf_reset(&s->resp->headers);
    }
    if (s->resp->headers.len + len > HTTP_MAX_HEADER_BYTES) {
        s->overflow = true;
        return 0;
    }
    if (mb_buf_append(&s->resp->headers, data, len) != 0) {
        s->nomem = true;
        return 0;
    }
    return len;
}

mb_http *mb_http_new(mb_err *err) {
    if (!g_curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            mb_err_set(err, MB_ERR_IO, "libcurl initialisation failed");
            return NULL;
        }
        g_curl_ready = true;
    }
    mb_http *http = calloc(1, sizeof *http);
    if (!http || !(http->curl = curl_easy_init())) {
        free(http);
        mb_err_set(err, MB_ERR_NOMEM, "cannot create an HTTP handle");
        return NULL;
    }
    return http;
}

void mb_http_free(mb_http *http) {
    if (!http) {
        return;
    }
    curl_easy_cleanup(http->curl);
    free(http);
}

static int s_headers(struct curl_slist **list, const mb_http_request *req, mb_err *err) {
    char line[HTTP_HEADER_LINE_MAX];
    /* Suppress curl's automatic "Expect: 100-continue": one round trip less on every POST. */
    struct curl_slist *l = curl_slist_append(NULL, "Expect:");
    for (size_t i = 0; l && i < req->header_count; i++) {
        const mb_http_header *h = &req->headers[i];
        if (h->name.len + h->value.len + 3 > sizeof line) {
            curl_slist_free_all(l);
            return mb_err_set(err, MB_ERR_LIMIT, "request header too long");
        }
        int n = snprintf(line, sizeof line, "%.*s: %.*s", (int)h->name.len, h->name.ptr,
                         (int)h->value.len, h->value.ptr ? h->value.ptr : "");
        struct curl_slist *next = n > 0 ? curl_slist_append(l, line) : NULL;
        if (!next) {
            curl_slist_free_all(l);
            return mb_err_set(err, MB_ERR_NOMEM, "out of memory building headers");
        }
        l = next;
    }
    if (!l) {
        return mb_err_set(err, MB_ERR_NOMEM, "out of memory building headers");
    }
    *list = l;
    return 0;
}

static void s_setup(CURL *c, const mb_http_request *req, struct curl_slist *hdrs, sink *s) {
    curl_easy_reset(c); /* keeps the connection cache: keep-alive survives between requests */
    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, s_on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, s);
    /* 0 means no timeout: the Runtime API's /next blocks while Lambda freezes the sandbox. */
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, req->timeout_ms);
    if (req->connect_timeout_ms > 0) {
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms);
    }
    if (strcmp(req->method, "GET") == 0) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
    } else if (strcmp(req->method, "HEAD") != 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body.len ? req->body.ptr : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body.len);
    }
}

int mb_http_send(mb_http *http, const mb_http_request *req, mb_http_response *resp, mb_err *err) {
    mb_buf_reset(&resp->body);
    mb_buf_reset(&resp->headers);
    resp->status = 0;
    struct curl_slist *hdrs = NULL;
    int rc = s_headers(&hdrs, req, err);
    if (rc != 0) {
        return rc;
    }
    sink s = {resp, req->max_response_bytes ? req->max_response_bytes
                                            : MB_HTTP_DEFAULT_MAX_RESPONSE, false, false};
    s_setup(http->curl, req, hdrs, &s);
    CURLcode cc = curl_easy_perform(http->curl);
    curl_slist_free_all(hdrs);
    curl_easy_getinfo(http->curl, CURLINFO_RESPONSE_CODE, &resp->status);
    if (cc == CURLE_OK) {
        return 0;
    }
    if (s.nomem) {
        return mb_err_set(err, MB_ERR_NOMEM, "out of memory reading the response");
    }
    if (s.overflow) {
        return mb_err_set(err, MB_ERR_LIMIT, "response from %s exceeds %zu bytes", req->url,
                          s.max_body);
    }
    if (cc == CURLE_OPERATION_TIMEDOUT) {
        return mb_err_set(err, MB_ERR_TIMEOUT, "request to %s timed out", req->url);
    }
    return mb_err_set(err, MB_ERR_IO, "request to %s failed: %s", req->url, curl_easy_strerror(cc));
}

static mb_cur s_trim(const char *p, size_t n) {
    while (n && (*p == ' ' || *p == '\t')) {
        p++;
        n--;
    }
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r' || p[n - 1] == '\n')) {
        n--;
    }
    return (mb_cur){p, n};
}

bool mb_http_response_header(const mb_http_response *resp, mb_cur name, mb_cur *value) {
    const char *p = resp->headers.ptr;
    const char *end = p ? p + resp->headers.len : NULL;
    while (p && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t n = eol ? (size_t)(eol - p) : (size_t)(end - p);
        const char *colon = memchr(p, ':', n);
        if (colon && mb_cur_eq_icase((mb_cur){p, (size_t)(colon - p)}, name)) {
            *value = s_trim(colon + 1, n - (size_t)(colon - p) - 1);
            return true;
        }
        p = eol ? eol + 1 : end;
    }
    return false;
}

void mb_http_response_cleanup(mb_http_response *resp) {
    if (!resp) {
        return;
    }
    mb_buf_cleanup(&resp->body);
    mb_buf_cleanup(&resp->headers);
    resp->status = 0;
}
