/* devserver_guard.c - request-head checks, the access log's view of a target, and throttling
 * (see moonbase/devserver_guard.h). */
#include "moonbase/devserver_guard.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "moonbase/devserver_apigw.h"
#include "moonbase/log.h"
#include "moonbase/text.h"

/* Clients remembered by the throttle; the least recently seen one is replaced. A local
 * development server sees a handful. */
#define CLIENT_SLOTS 256
#define CLIENT_ADDR_MAX 64

/* ---- request head ---- */

static int s_refuse(mb_guard_verdict *v, int status, const char *message) {
    v->status = status;
    v->message = message;
    return status;
}

/* RFC 9110 token characters: what a method may consist of. */
static bool s_tchar(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* True when `raw`, and `raw` percent-decoded, are valid UTF-8 (the event carries both forms). */
static bool s_utf8_both(mb_cur raw, bool plus_is_space, mb_buf *scratch) {
    if (!mb_text_utf8_valid(raw)) {
        return false;
    }
    mb_buf_reset(scratch);
    if (mb_text_pct_decode_buf(scratch, raw, plus_is_space ? MB_TEXT_PCT_PLUS_SPACE : 0) != 0) {
        return false; /* out of memory: refuse rather than pass on unchecked */
    }
    return mb_text_utf8_valid(mb_buf_cur(scratch));
}

static int s_check_line(const mb_guard_head *h, mb_guard_verdict *v) {
    if (h->method.len == 0) {
        return s_refuse(v, 400, "invalid method");
    }
    for (size_t i = 0; i < h->method.len; i++) {
        if (!s_tchar((unsigned char)h->method.ptr[i])) {
            return s_refuse(v, 400, "invalid method");
        }
    }
    if (h->target.len > MB_GUARD_MAX_TARGET) {
        return s_refuse(v, 414, "URI Too Long");
    }
    const char *q = memchr(h->target.ptr, '?', h->target.len);
    size_t plen = q ? (size_t)(q - h->target.ptr) : h->target.len;
    mb_cur path = {h->target.ptr, plen};
    mb_cur query = q ? (mb_cur){q + 1, h->target.len - plen - 1} : (mb_cur){"", 0};
    mb_buf scratch = {0};
    bool ok = s_utf8_both(path, false, &scratch) && s_utf8_both(query, true, &scratch);
    mb_buf_cleanup(&scratch);
    if (!ok) {
        return s_refuse(v, 400, "invalid UTF-8 in the request path or query");
    }
    return 0;
}

/* 1 to 19 decimal digits: a Content-Length that fits in 64 bits. */
static bool s_digits(mb_cur v) {
    if (v.len == 0 || v.len > 19) {
        return false;
    }
    for (size_t i = 0; i < v.len; i++) {
        if (v.ptr[i] < '0' || v.ptr[i] > '9') {
            return false;
        }
    }
    return true;
}

/* Content-Length, Transfer-Encoding and Host: anything a proxy and a server could read two ways
 * (request smuggling) is refused, as API Gateway (CloudFront) refuses it. */
static int s_check_framing(const mb_guard_head *h, mb_guard_verdict *v) {
    mb_cur cl = {0}, te = {0};
    size_t hosts = 0, tes = 0;
    for (size_t i = 0; i < h->header_count && i <= MB_GUARD_MAX_HEADERS; i++) {
        const mb_http_header *f = &h->headers[i];
        mb_cur val = mb_cur_trim(f->value);
        if (mb_cur_eq_icase(f->name, MB_CUR_LIT("Host"))) {
            hosts++;
        } else if (mb_cur_eq_icase(f->name, MB_CUR_LIT("Transfer-Encoding"))) {
            tes++;
            te = val;
        } else if (mb_cur_eq_icase(f->name, MB_CUR_LIT("Content-Length"))) {
            if (!s_digits(val)) {
                return s_refuse(v, 400, "invalid Content-Length");
            }
            if (cl.ptr != NULL && !mb_cur_eq(cl, val)) {
                return s_refuse(v, 400, "conflicting Content-Length headers");
            }
            cl = val;
        }
    }
    if (tes > 0 && cl.ptr != NULL) {
        return s_refuse(v, 400, "both Content-Length and Transfer-Encoding");
    }
    if (tes > 1 || (tes == 1 && !mb_cur_eq_icase(te, MB_CUR_LIT("chunked")))) {
        return s_refuse(v, 501, "unsupported Transfer-Encoding (only chunked)");
    }
    if (mb_cur_eq(h->version, MB_CUR_LIT("HTTP/1.1")) && hosts != 1) {
        return s_refuse(v, 400, hosts == 0 ? "missing Host header" : "more than one Host header");
    }
    return 0;
}

int mb_guard_check(const mb_guard_head *h, mb_guard_verdict *v) {
    v->status = 0;
    v->message = NULL;
    int rc = s_check_line(h, v);
    if (rc != 0) {
        return rc;
    }
    if (h->header_count > MB_GUARD_MAX_HEADERS) {
        return s_refuse(v, 431, "too many header fields");
    }
    /* method SP target SP version CRLF, then "name: value" CRLF per field */
    size_t line = h->method.len + h->target.len + h->version.len + 4;
    if (h->header_bytes > MB_GUARD_MAX_HEAD || line + h->header_bytes > MB_GUARD_MAX_HEAD) {
        return s_refuse(v, 431, "Request Header Fields Too Large");
    }
    return s_check_framing(h, v);
}

/* ---- access log view ---- */

static int s_escaped(mb_buf *out, mb_cur s) {
    static const char hex[] = "0123456789abcdef";
    int rc = 0;
    for (size_t i = 0; i < s.len && rc == 0; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
            char e[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
            rc = mb_buf_append(out, e, sizeof e);
        } else {
            rc = mb_buf_append_byte(out, (char)c);
        }
    }
    return rc;
}

/* One "name=value" (or "name") of the query, value redacted when the name is secret-like. */
static int s_log_param(mb_buf *out, mb_cur param, mb_buf *scratch) {
    const char *eq = memchr(param.ptr, '=', param.len);
    mb_cur name = {param.ptr, eq ? (size_t)(eq - param.ptr) : param.len};
    mb_buf_reset(scratch);
    if (mb_text_pct_decode_buf(scratch, name, MB_TEXT_PCT_PLUS_SPACE) != 0) {
        return MB_ERR_NOMEM;
    }
    mb_cur key = mb_buf_cur(scratch);
    /* "code" too: an OAuth redirect carries the authorization code in the query. */
    bool secret = mb_log_key_is_secret(key) || mb_cur_eq_icase(key, MB_CUR_LIT("code"));
    if (eq == NULL || !secret) {
        return s_escaped(out, param);
    }
    int rc = s_escaped(out, name);
    return rc != 0 ? rc : mb_buf_append_cstr(out, "=REDACTED");
}

int mb_guard_log_target(mb_buf *out, mb_cur target) {
    mb_buf view = {0}, scratch = {0};
    const char *q = memchr(target.ptr, '?', target.len);
    size_t plen = q ? (size_t)(q - target.ptr) : target.len;
    int rc = s_escaped(&view, (mb_cur){target.ptr, plen});
    size_t i = plen + 1;
    while (q != NULL && i <= target.len && rc == 0) {
        const char *amp = memchr(target.ptr + i, '&', target.len - i);
        size_t end = amp ? (size_t)(amp - target.ptr) : target.len;
        rc = mb_buf_append_byte(&view, i == plen + 1 ? '?' : '&');
        if (rc == 0) {
            rc = s_log_param(&view, (mb_cur){target.ptr + i, end - i}, &scratch);
        }
        i = end + 1;
    }
    if (rc == 0 && view.len > MB_GUARD_LOG_TARGET_MAX) {
        view.len = MB_GUARD_LOG_TARGET_MAX; /* escapes are ASCII: any cut is still clean text */
        rc = mb_buf_append_cstr(&view, "...");
    }
    if (rc == 0) {
        rc = mb_buf_append_cur(out, mb_buf_cur(&view));
    }
    mb_buf_cleanup(&view);
    mb_buf_cleanup(&scratch);
    return rc != 0 ? MB_ERR_NOMEM : 0;
}

/* ---- throttling ---- */

typedef struct bucket {
    double tokens;
    int64_t at_ns; /* last refill; 0 = never used */
} bucket;

typedef struct client_slot {
    char addr[CLIENT_ADDR_MAX];
    bucket b;
    int64_t seen_ns;
} client_slot;

struct mb_guard_throttle {
    pthread_mutex_t mu;
    mb_guard_throttle_options o;
    bucket total;
    client_slot clients[CLIENT_SLOTS];
    int64_t logged_ns;
    uint64_t suppressed;
};

mb_guard_throttle *mb_guard_throttle_new(const mb_guard_throttle_options *o) {
    mb_guard_throttle *t = calloc(1, sizeof *t);
    if (t == NULL) {
        return NULL;
    }
    pthread_mutex_init(&t->mu, NULL);
    t->o = *o;
    t->o.burst = t->o.burst < 1 ? 1 : t->o.burst;
    t->o.client_burst = t->o.client_burst < 1 ? 1 : t->o.client_burst;
    t->logged_ns = INT64_MIN;
    return t;
}

void mb_guard_throttle_free(mb_guard_throttle *t) {
    if (t == NULL) {
        return;
    }
    pthread_mutex_destroy(&t->mu);
    free(t);
}

/* Refill b (rate per second up to burst) to now; true when it holds a whole token. */
static bool s_refill(bucket *b, double rate, double burst, int64_t now_ns) {
    if (b->at_ns == 0) {
        b->tokens = burst; /* a new bucket starts full, as API Gateway's do */
    } else {
        b->tokens += (double)(now_ns - b->at_ns) / 1e9 * rate;
    }
    b->tokens = b->tokens > burst ? burst : b->tokens;
    b->at_ns = now_ns;
    return b->tokens >= 1.0;
}

static int s_wait_s(const bucket *b, double rate) {
    return (int)((1.0 - b->tokens) / rate) + 1;
}

/* The client's bucket: found by address, else the least recently seen slot, reset. */
static bucket *s_client(mb_guard_throttle *t, const char *addr, int64_t now_ns) {
    client_slot *oldest = &t->clients[0];
    for (size_t i = 0; i < CLIENT_SLOTS; i++) {
        client_slot *c = &t->clients[i];
        if (c->b.at_ns != 0 && strncmp(c->addr, addr, sizeof c->addr) == 0) {
            c->seen_ns = now_ns;
            return &c->b;
        }
        if (c->seen_ns < oldest->seen_ns) {
            oldest = c;
        }
    }
    memset(oldest, 0, sizeof *oldest);
    strncpy(oldest->addr, addr, sizeof oldest->addr - 1);
    oldest->seen_ns = now_ns;
    return &oldest->b;
}

int mb_guard_throttle_take(mb_guard_throttle *t, const char *client, int64_t now_ns) {
    const mb_guard_throttle_options *o = &t->o;
    int wait = 0;
    pthread_mutex_lock(&t->mu);
    bucket *cb = o->client_rate > 0 ? s_client(t, client, now_ns) : NULL;
    bool client_ok = cb == NULL || s_refill(cb, o->client_rate, o->client_burst, now_ns);
    bool total_ok = o->rate <= 0 || s_refill(&t->total, o->rate, o->burst, now_ns);
    if (!client_ok) {
        wait = s_wait_s(cb, o->client_rate);
    } else if (!total_ok) {
        wait = s_wait_s(&t->total, o->rate);
    } else {
        if (cb != NULL) {
            cb->tokens -= 1.0;
        }
        if (o->rate > 0) {
            t->total.tokens -= 1.0;
        }
    }
    pthread_mutex_unlock(&t->mu);
    return wait;
}

bool mb_guard_throttle_log_gate(mb_guard_throttle *t, int64_t now_ns, uint64_t *suppressed) {
    bool log = false;
    pthread_mutex_lock(&t->mu);
    if (t->logged_ns == INT64_MIN || now_ns - t->logged_ns >= 1000000000) {
        log = true;
        *suppressed = t->suppressed;
        t->suppressed = 0;
        t->logged_ns = now_ns;
    } else {
        t->suppressed++;
    }
    pthread_mutex_unlock(&t->mu);
    return log;
}

/* ---- Runtime API peers ---- */

/* The inode of the socket whose local end is `peer` and remote end 127.0.0.1:port, from
 * /proc/net/tcp (addresses as the kernel prints them: the 32-bit value in %08X, port in %04X).
 * 0 when there is none. */
static unsigned long s_socket_inode(const struct sockaddr_in *peer, uint16_t port) {
    FILE *f = fopen("/proc/net/tcp", "re");
    if (f == NULL) {
        return 0;
    }
    char want_local[16], want_remote[16], line[512];
    struct in_addr lo = {htonl(INADDR_LOOPBACK)};
    snprintf(want_local, sizeof want_local, "%08X:%04X", (unsigned)peer->sin_addr.s_addr,
             (unsigned)ntohs(peer->sin_port));
    snprintf(want_remote, sizeof want_remote, "%08X:%04X", (unsigned)lo.s_addr, (unsigned)port);
    unsigned long inode = 0;
    while (inode == 0 && fgets(line, sizeof line, f) != NULL) {
        char local[64], remote[64];
        unsigned long ino = 0;
        /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
        if (sscanf(line, " %*s %63s %63s %*s %*s %*s %*s %*s %*s %lu", local, remote, &ino) == 3 &&
            strcmp(local, want_local) == 0 && strcmp(remote, want_remote) == 0) {
            inode = ino;
        }
    }
    fclose(f);
    return inode;
}

bool mb_guard_peer_is(pid_t pid, const struct sockaddr_in *peer, uint16_t local_port) {
    unsigned long inode = pid > 0 ? s_socket_inode(peer, local_port) : 0;
    if (inode == 0) {
        return false;
    }
    char dir[64], want[64], link[64], path[128];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
    snprintf(want, sizeof want, "socket:[%lu]", inode);
    DIR *d = opendir(dir);
    if (d == NULL) {
        return false;
    }
    bool found = false;
    const struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) {
        snprintf(path, sizeof path, "%s/%.32s", dir, e->d_name);
        ssize_t n = readlink(path, link, sizeof link - 1);
        if (n > 0) {
            link[n] = '\0';
            found = strcmp(link, want) == 0;
        }
    }
    closedir(d);
    return found;
}
