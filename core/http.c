/* http.c - blocking HTTP/1.1 over one reused libcurl easy handle (see moonbase/http.h).
 * libcurl is loaded with dlopen() on the first mb_http_new(), not linked: Debian's libcurl drags
 * in some thirty shared objects (GnuTLS via LDAP and RTMP, Kerberos, nghttp2...) whose loading
 * and constructors cost ~3.5 ms of every cold start, measured with hyperfine. A public route
 * never makes an outgoing call, so it should never pay for them. */
#include "moonbase/http.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#define CURL_DISABLE_TYPECHECK /* we call through our own pointers, not curl's macros */
#include <curl/curl.h>

struct mb_http {
    CURL *curl;
};

/* The libcurl entry points we use, resolved once. */
typedef struct curl_api {
    CURLcode (*global_init)(long flags);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *c);
    void (*easy_reset)(CURL *c);
    CURLcode (*easy_setopt)(CURL *c, CURLoption opt, ...);
    CURLcode (*easy_perform)(CURL *c);
    CURLcode (*easy_getinfo)(CURL *c, CURLINFO info, ...);
    struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
    void (*slist_free_all)(struct curl_slist *l);
    const char *(*easy_strerror)(CURLcode code);
} curl_api;

/* Process-wide by nature: the library is loaded and initialised once (curl_global_init is not
 * thread-safe and must run once per process anyway). */
static curl_api g_curl;
static void *g_curl_lib;

/* Header block bound: a peer that streams endless headers is cut off like an oversized body. */
#define HTTP_MAX_HEADER_BYTES (64u * 1024u)
/* Request headers: enough for SigV4 (host, date, token, target, type, auth) plus callers' extras.
 */
#define HTTP_HEADER_LINE_MAX 8192

typedef struct sink {
    mb_http_response *resp;
    size_t max_body;
    bool overflow;
    bool nomem;
} sink;

/* dlsym returns void *; POSIX guarantees it converts to a function pointer, this form says so
 * without a cast that ISO C would warn about. */
#define LOAD(field, name) (*(void **)(&g_curl.field) = dlsym(g_curl_lib, (name)))

static int s_load_curl(mb_err *err) {
    if (g_curl_lib) {
        return 0;
    }
    void *lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        return mb_err_set(err, MB_ERR_IO, "cannot load libcurl.so.4: %s", dlerror());
    }
    g_curl_lib = lib;
    bool ok = LOAD(global_init, "curl_global_init") && LOAD(easy_init, "curl_easy_init") &&
              LOAD(easy_cleanup, "curl_easy_cleanup") && LOAD(easy_reset, "curl_easy_reset") &&
              LOAD(easy_setopt, "curl_easy_setopt") && LOAD(easy_perform, "curl_easy_perform") &&
              LOAD(easy_getinfo, "curl_easy_getinfo") && LOAD(slist_append, "curl_slist_append") &&
              LOAD(slist_free_all, "curl_slist_free_all") &&
              LOAD(easy_strerror, "curl_easy_strerror");
    if (!ok || g_curl.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        dlclose(lib);
        g_curl_lib = NULL;
        return mb_err_set(err, MB_ERR_IO, "libcurl.so.4 is unusable (missing symbol or init)");
    }
    return 0;
}

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
    if (s_load_curl(err) != 0) {
        return NULL;
    }
    mb_http *http = calloc(1, sizeof *http);
    if (!http || !(http->curl = g_curl.easy_init())) {
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
    g_curl.easy_cleanup(http->curl);
    free(http);
}

static int s_headers(struct curl_slist **list, const mb_http_request *req, mb_err *err) {
    char line[HTTP_HEADER_LINE_MAX];
    /* Suppress curl's automatic "Expect: 100-continue": one round trip less on every POST. */
    struct curl_slist *l = g_curl.slist_append(NULL, "Expect:");
    for (size_t i = 0; l && i < req->header_count; i++) {
        const mb_http_header *h = &req->headers[i];
        if (h->name.len + h->value.len + 3 > sizeof line) {
            g_curl.slist_free_all(l);
            return mb_err_set(err, MB_ERR_LIMIT, "request header too long");
        }
        int n = snprintf(line, sizeof line, "%.*s: %.*s", (int)h->name.len, h->name.ptr,
                         (int)h->value.len, h->value.ptr ? h->value.ptr : "");
        struct curl_slist *next = n > 0 ? g_curl.slist_append(l, line) : NULL;
        if (!next) {
            g_curl.slist_free_all(l);
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
    g_curl.easy_reset(c); /* keeps the connection cache: keep-alive survives between requests */
    g_curl.easy_setopt(c, CURLOPT_URL, req->url);
    g_curl.easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    g_curl.easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    g_curl.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    g_curl.easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    g_curl.easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    g_curl.easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    g_curl.easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    g_curl.easy_setopt(c, CURLOPT_WRITEFUNCTION, s_on_body);
    g_curl.easy_setopt(c, CURLOPT_WRITEDATA, s);
    g_curl.easy_setopt(c, CURLOPT_HEADERFUNCTION, s_on_header);
    g_curl.easy_setopt(c, CURLOPT_HEADERDATA, s);
    /* 0 means no timeout: the Runtime API's /next blocks while Lambda freezes the sandbox. */
    g_curl.easy_setopt(c, CURLOPT_TIMEOUT_MS, req->timeout_ms);
    /* Lambda's Amazon Linux has no /etc/ssl/certs/ca-certificates.crt, where Debian's libcurl
     * looks: the package ships the bundle and points SSL_CERT_FILE / CURL_CA_BUNDLE at it. */
    const char *ca = getenv("CURL_CA_BUNDLE");
    if (!ca || !*ca) {
        ca = getenv("SSL_CERT_FILE");
    }
    if (ca && *ca) {
        g_curl.easy_setopt(c, CURLOPT_CAINFO, ca);
    }
    if (req->connect_timeout_ms > 0) {
        g_curl.easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms);
    }
    if (strcmp(req->method, "GET") == 0) {
        g_curl.easy_setopt(c, CURLOPT_HTTPGET, 1L);
        g_curl.easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
    } else if (strcmp(req->method, "HEAD") != 0) {
        g_curl.easy_setopt(c, CURLOPT_POSTFIELDS, req->body.len ? req->body.ptr : "");
        g_curl.easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body.len);
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
    sink s = {resp,
              req->max_response_bytes ? req->max_response_bytes : MB_HTTP_DEFAULT_MAX_RESPONSE,
              false, false};
    s_setup(http->curl, req, hdrs, &s);
    CURLcode cc = g_curl.easy_perform(http->curl);
    g_curl.slist_free_all(hdrs);
    g_curl.easy_getinfo(http->curl, CURLINFO_RESPONSE_CODE, &resp->status);
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
    return mb_err_set(err, MB_ERR_IO, "request to %s failed: %s", req->url,
                      g_curl.easy_strerror(cc));
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
