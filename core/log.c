/* log.c - structured JSON logs with escaping, redaction and bounded lines (see moonbase/log.h). */
#include "moonbase/log.h"

#include "moonbase/clock.h"
#include "moonbase/numfmt.h"
#include "moonbase/text.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

/* Room kept after the fields for `,"truncated":true}\n`, so a full line still closes. */
#define TAIL_RESERVE 32
/* Context values are escaped once per invocation into fixed slots; the sizes bound what a hostile
 * event can make every line carry (a path is cut at 1 KB, ids at 256 bytes). */
#define CTX_ID_MAX 256
#define CTX_METHOD_MAX 32
#define CTX_PATH_MAX 1024
#define CTX_ROUTE_MAX 512
#define ERROR_TYPE_MAX 64
#define FMT_MAX 2048
/* A JSON body larger than this is logged as cut text rather than parsed for redaction. */
#define DEBUG_BODY_PARSE_MAX (256 * 1024)

static const char s_redacted[] = "[REDACTED]";
static const char s_ellipsis[] = "\xE2\x80\xA6"; /* U+2026, marks a cut string */

struct mb_log {
    int fd;
    mb_log_level level;
    mb_clock clock; /* of the timestamps; zeroed: the real one */
    bool cold_start;
    bool active;
    char request_id[CTX_ID_MAX], trace_id[CTX_ID_MAX], method[CTX_METHOD_MAX];
    char path[CTX_PATH_MAX], route[CTX_ROUTE_MAX], tenant[CTX_ID_MAX], user_id[CTX_ID_MAX];
    char error_type[ERROR_TYPE_MAX * 2];
    size_t request_id_len, trace_id_len, method_len, path_len, route_len, tenant_len, user_id_len;
    size_t error_type_len;
    int64_t cached_sec; /* the second ts_prefix was formatted for */
    char ts_prefix[24]; /* "YYYY-MM-DDTHH:MM:SS" */
    char fmt[FMT_MAX];
    char line[MB_LOG_LINE_MAX];
    char *redact[MB_LOG_MAX_REDACTED]; /* secret values, as escaped into lines (s_escape) */
    size_t redact_len[MB_LOG_MAX_REDACTED];
    size_t redact_count;
};

/* ---- output cursor over a fixed buffer ---------------------------------------------------- */

typedef struct s_out {
    char *p;
    size_t len;
    size_t cap;
} s_out;

static bool s_raw(s_out *o, const char *s, size_t n) {
    if (n > o->cap - o->len) {
        return false;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    return true;
}

#define S_LIT(o, lit) s_raw((o), (lit), sizeof(lit) - 1)

/* ---- redaction ---------------------------------------------------------------------------- */

static bool s_is_b64url(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

static bool s_is_alnum(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int s_lower(int c) {
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

static size_t s_span_b64url(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n && s_is_b64url(s[i])) {
        i++;
    }
    return i;
}

/* A JWT (JWS compact form): eyJ<header>.<payload>.<signature>. Returns its length or 0. */
static size_t s_match_jwt(const unsigned char *s, size_t n) {
    if (n < 3 || s[0] != 'e' || s[1] != 'y' || s[2] != 'J') {
        return 0;
    }
    size_t a = s_span_b64url(s, n);
    if (a < 10 || a >= n || s[a] != '.') {
        return 0;
    }
    size_t b = s_span_b64url(s + a + 1, n - a - 1);
    size_t end = a + 1 + b;
    if (b < 2 || end >= n || s[end] != '.') {
        return 0;
    }
    return end + 1 + s_span_b64url(s + end + 1, n - end - 1);
}

static bool s_is_cred_char(unsigned char c) {
    return s_is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' ||
           c == '=';
}

/* "Bearer <credential>" / "Basic <credential>": returns the length of the scheme plus space (kept)
 * in *keep and of the whole match, or 0. */
static size_t s_match_scheme(const unsigned char *s, size_t n, size_t *keep) {
    static const char *const schemes[] = {"bearer ", "basic "};
    for (size_t k = 0; k < sizeof schemes / sizeof schemes[0]; k++) {
        size_t sl = strlen(schemes[k]);
        size_t i = 0;
        while (i < sl && i < n && s_lower(s[i]) == schemes[k][i]) {
            i++;
        }
        if (i < sl) {
            continue;
        }
        size_t j = sl;
        while (j < n && s_is_cred_char(s[j])) {
            j++;
        }
        if (j - sl >= 8) {
            *keep = sl;
            return j;
        }
    }
    return 0;
}

/* An AWS access key id: AKIA/ASIA + 16 upper-case letters or digits. */
static size_t s_match_aws_key(const unsigned char *s, size_t n) {
    if (n < 20 || s[0] != 'A' || (s[1] != 'K' && s[1] != 'S') || s[2] != 'I' || s[3] != 'A') {
        return 0;
    }
    for (size_t i = 4; i < 20; i++) {
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9'))) {
            return 0;
        }
    }
    return (n > 20 && s_is_alnum(s[20])) ? 0 : 20;
}

static bool s_contains_icase(mb_cur hay, const char *needle) {
    size_t nl = strlen(needle);
    for (size_t i = 0; i + nl <= hay.len; i++) {
        size_t j = 0;
        while (j < nl && s_lower((unsigned char)hay.ptr[i + j]) == needle[j]) {
            j++;
        }
        if (j == nl) {
            return true;
        }
    }
    return false;
}

bool mb_log_key_is_secret(mb_cur key) {
    static const char *const words[] = {
        "authorization", "password",   "passwd",  "secret",    "token",
        "cookie",        "credential", "apikey",  "api_key",   "api-key",
        "private_key",   "privatekey", "session", "signature",
    };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (s_contains_icase(key, words[i])) {
            return true;
        }
    }
    return false;
}

/* ---- escaping ----------------------------------------------------------------------------- */

/* The redaction hook of the text kernel's escaper, asked at 'e', 'A', 'B' and 'b' (the first
 * letters of the patterns): a JWT, an AWS access key id or a Bearer/Basic credential starting
 * at a word boundary becomes [REDACTED] (the scheme word is kept). */
static size_t s_redact_hook(void *ud, mb_cur in, size_t at, char *rep, size_t *rep_len) {
    (void)ud;
    const unsigned char *s = (const unsigned char *)in.ptr + at;
    size_t n = in.len - at, m, keep = 0;
    if (at > 0 && s_is_b64url(s[-1])) {
        return 0; /* inside a word: not the start of a secret */
    }
    if (!(m = s_match_jwt(s, n)) && !(m = s_match_aws_key(s, n)) &&
        !(m = s_match_scheme(s, n, &keep))) {
        return 0;
    }
    memcpy(rep, s, keep); /* the scheme word is plain ASCII */
    memcpy(rep + keep, s_redacted, sizeof s_redacted - 1);
    *rep_len = keep + sizeof s_redacted - 1;
    return m;
}

/* Every string in a line: invalid UTF-8 repaired to U+FFFD, DEL escaped (lines are read on
 * terminals), cut with U+2026 when it does not fit; with or without redaction. */
static const mb_text_escape s_esc_redact = {MB_TEXT_ESC_REPAIR | MB_TEXT_ESC_DEL,
                                            "eABb",
                                            s_redact_hook,
                                            NULL,
                                            {s_ellipsis, sizeof s_ellipsis - 1}};
static const mb_text_escape s_esc_plain = {
    MB_TEXT_ESC_REPAIR | MB_TEXT_ESC_DEL, NULL, NULL, NULL, {s_ellipsis, sizeof s_ellipsis - 1}};

/* Escape `in` into dst (at most cap bytes, no quotes). When the input does not fit, the output
 * ends with U+2026 instead. Returns the bytes written. */
static size_t s_escape(char *dst, size_t cap, mb_cur in, bool redact) {
    size_t written, used;
    (void)mb_text_json_escape(dst, cap, in, redact ? &s_esc_redact : &s_esc_plain, &written,
                              &used); /* cannot fail: REPAIR */
    return written;
}

/* Append escaped bytes (at most max_out, less when the line is fuller) and a closing quote. */
static bool s_escaped(s_out *o, mb_cur in, size_t max_out, bool redact) {
    size_t avail = o->cap - o->len;
    if (avail < 1 + 16) {
        return false;
    }
    size_t cap = avail - 1 < max_out ? avail - 1 : max_out;
    o->len += s_escape(o->p + o->len, cap, in, redact);
    o->p[o->len++] = '"';
    return true;
}

static bool s_str(s_out *o, mb_cur in, size_t max_out, bool redact) {
    return S_LIT(o, "\"") && s_escaped(o, in, max_out, redact);
}

/* ---- numbers and time --------------------------------------------------------------------- */

static bool s_int(s_out *o, int64_t v) {
    char tmp[MB_NUMFMT_MAX];
    return s_raw(o, tmp, mb_numfmt_int(tmp, v));
}

/* null for NaN and infinities (not JSON). */
static bool s_num(s_out *o, double v) {
    char tmp[MB_NUMFMT_MAX];
    size_t n = mb_numfmt_double(tmp, v);
    return n ? s_raw(o, tmp, n) : S_LIT(o, "null");
}

static void s_2d(char *p, int v) {
    p[0] = (char)('0' + v / 10 % 10);
    p[1] = (char)('0' + v % 10);
}

/* RFC 3339 UTC with milliseconds; gmtime_r runs once per second, not once per line. */
static void s_timestamp(mb_log *log, s_out *o) {
    int64_t ms = mb_clock_now_ms(&log->clock);
    if (ms < 0) {
        ms = 0;
    }
    int64_t sec = ms / 1000;
    if (sec != log->cached_sec) {
        time_t t = (time_t)sec;
        struct tm tm;
        gmtime_r(&t, &tm);
        int year = tm.tm_year + 1900;
        char *p = log->ts_prefix;
        s_2d(p, year / 100);
        s_2d(p + 2, year % 100);
        p[4] = '-';
        s_2d(p + 5, tm.tm_mon + 1);
        p[7] = '-';
        s_2d(p + 8, tm.tm_mday);
        p[10] = 'T';
        s_2d(p + 11, tm.tm_hour);
        p[13] = ':';
        s_2d(p + 14, tm.tm_min);
        p[16] = ':';
        s_2d(p + 17, tm.tm_sec);
        log->cached_sec = sec;
    }
    char frac[6] = {
        '.', (char)('0' + ms % 1000 / 100), (char)('0' + ms % 100 / 10), (char)('0' + ms % 10), 'Z',
        '"'};
    s_raw(o, log->ts_prefix, 19);
    s_raw(o, frac, sizeof frac);
}

/* ---- lifecycle and context ---------------------------------------------------------------- */

mb_log *mb_log_new(mb_log_level level, int fd, mb_err *err) {
    mb_log *log = calloc(1, sizeof *log);
    if (!log) {
        mb_err_set(err, MB_ERR_NOMEM, "log: out of memory");
        return NULL;
    }
    log->fd = fd;
    log->level = level;
    log->cached_sec = -1;
    return log;
}

void mb_log_free(mb_log *log) {
    if (!log) {
        return;
    }
    for (size_t i = 0; i < log->redact_count; i++) {
        memset(log->redact[i], 0, log->redact_len[i]);
        free(log->redact[i]);
    }
    free(log);
}

void mb_log_redact_value(mb_log *log, mb_cur value) {
    if (!log || value.len < 4 || value.len > MB_LOG_LINE_MAX ||
        log->redact_count == MB_LOG_MAX_REDACTED) {
        return;
    }
    size_t cap = value.len * 6 + 1; /* worst case: every byte as \uXXXX */
    char *esc = malloc(cap);
    if (!esc) {
        return;
    }
    size_t n = s_escape(esc, cap, value, false);
    for (size_t i = 0; i < log->redact_count; i++) {
        if (log->redact_len[i] == n && memcmp(log->redact[i], esc, n) == 0) {
            memset(esc, 0, n);
            free(esc);
            return; /* already known */
        }
    }
    log->redact[log->redact_count] = esc;
    log->redact_len[log->redact_count++] = n;
}

/* Replace every registered secret value in the finished line by [REDACTED]; where the line has
 * no room left for the longer text, the value's bytes become '*' instead. */
static void s_redact_values(mb_log *log, s_out *o) {
    const size_t rn = sizeof s_redacted - 1;
    for (size_t i = 0; i < log->redact_count; i++) {
        const char *v = log->redact[i];
        size_t vn = log->redact_len[i];
        for (size_t at = 0; at + vn <= o->len;) {
            if (memcmp(o->p + at, v, vn) != 0) {
                at++;
                continue;
            }
            if (o->len - vn + rn > o->cap) {
                memset(o->p + at, '*', vn);
                at += vn;
                continue;
            }
            memmove(o->p + at + rn, o->p + at + vn, o->len - at - vn);
            memcpy(o->p + at, s_redacted, rn);
            o->len = o->len - vn + rn;
            at += rn;
        }
    }
}

void mb_log_set_level(mb_log *log, mb_log_level level) {
    if (!log) {
        return;
    }
    log->level = level;
}

void mb_log_set_clock(mb_log *log, const mb_clock *clock) {
    if (!log) {
        return;
    }
    log->clock = clock ? *clock : (mb_clock){0};
    log->cached_sec = -1;
}

int mb_log_level_parse(mb_cur name, mb_log_level *out) {
    static const struct {
        const char *name;
        mb_log_level level;
    } names[] = {{"debug", MB_LOG_DEBUG},
                 {"info", MB_LOG_INFO},
                 {"warn", MB_LOG_WARN},
                 {"warning", MB_LOG_WARN},
                 {"error", MB_LOG_ERROR}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (mb_cur_eq_icase(name, mb_cur_from_cstr(names[i].name))) {
            *out = names[i].level;
            return 0;
        }
    }
    return MB_ERR_INVALID;
}

const char *mb_log_level_name(mb_log_level level) {
    switch (level) {
    case MB_LOG_DEBUG:
        return "DEBUG";
    case MB_LOG_INFO:
        return "INFO";
    case MB_LOG_WARN:
        return "WARN";
    case MB_LOG_ERROR:
        return "ERROR";
    }
    return "INFO";
}

#define S_SET(log, field, cur)                                                                     \
    ((log)->field##_len = s_escape((log)->field, sizeof(log)->field, (cur), true))

void mb_log_begin(mb_log *log, const mb_log_request *req) {
    if (!log) {
        return;
    }
    S_SET(log, request_id, req->request_id);
    S_SET(log, trace_id, req->trace_id);
    S_SET(log, method, req->method);
    S_SET(log, path, req->path);
    log->cold_start = req->cold_start;
    log->route_len = log->tenant_len = log->user_id_len = log->error_type_len = 0;
    log->active = true;
}

void mb_log_set_route(mb_log *log, mb_cur route) {
    if (!log) {
        return;
    }
    S_SET(log, route, route);
}

void mb_log_set_request(mb_log *log, mb_cur method, mb_cur path) {
    if (!log) {
        return;
    }
    S_SET(log, method, method);
    S_SET(log, path, path);
}

void mb_log_set_user(mb_log *log, mb_cur tenant, mb_cur user_id) {
    if (!log) {
        return;
    }
    S_SET(log, tenant, tenant);
    S_SET(log, user_id, user_id);
}

void mb_log_set_error_type(mb_log *log, mb_cur error_type) {
    if (!log) {
        return;
    }
    if (error_type.len > ERROR_TYPE_MAX - 1) {
        error_type.len = ERROR_TYPE_MAX - 1;
    }
    S_SET(log, error_type, error_type);
}

void mb_log_end(mb_log *log) {
    if (!log) {
        return;
    }
    log->request_id_len = log->trace_id_len = log->method_len = log->path_len = 0;
    log->route_len = log->tenant_len = log->user_id_len = log->error_type_len = 0;
    log->cold_start = false;
    log->active = false;
}

bool mb_log_enabled(const mb_log *log, mb_log_level level) {
    return log && level >= log->level;
}

/* ---- line assembly ------------------------------------------------------------------------ */

/* {"timestamp":"...","level":"X","message":"   (the caller writes the message and its quote) */
static void s_head(mb_log *log, s_out *o, mb_log_level level) {
    *o = (s_out){log->line, 0, sizeof log->line - TAIL_RESERVE};
    S_LIT(o, "{\"timestamp\":\"");
    s_timestamp(log, o);
    S_LIT(o, ",\"level\":\"");
    const char *name = mb_log_level_name(level);
    s_raw(o, name, strlen(name));
    S_LIT(o, "\",\"message\":\"");
}

static void s_ctx_member(s_out *o, const char *key, const char *esc, size_t len) {
    if (len) {
        s_raw(o, key, strlen(key));
        s_raw(o, esc, len);
        S_LIT(o, "\"");
    }
}

static void s_context(mb_log *log, s_out *o) {
    if (!log->active) {
        return;
    }
    s_ctx_member(o, ",\"requestId\":\"", log->request_id, log->request_id_len);
    s_ctx_member(o, ",\"traceId\":\"", log->trace_id, log->trace_id_len);
    s_ctx_member(o, ",\"method\":\"", log->method, log->method_len);
    s_ctx_member(o, ",\"path\":\"", log->path, log->path_len);
    s_ctx_member(o, ",\"route\":\"", log->route, log->route_len);
    s_ctx_member(o, ",\"tenant\":\"", log->tenant, log->tenant_len);
    s_ctx_member(o, ",\"userId\":\"", log->user_id, log->user_id_len);
    if (log->cold_start) {
        S_LIT(o, ",\"coldStart\":true");
    } else {
        S_LIT(o, ",\"coldStart\":false");
    }
}

static bool s_key_reserved(mb_cur key) {
    static const char *const reserved[] = {
        "timestamp",  "level", "message",      "requestId",     "traceId",   "method",
        "path",       "route", "tenant",       "userId",        "coldStart", "status",
        "durationMs", "type",  "requestBytes", "responseBytes", "truncated",
    };
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
        if (mb_cur_eq(key, mb_cur_from_cstr(reserved[i]))) {
            return true;
        }
    }
    return false;
}

/* ,"key":value  A key that names a context member is written "_key"; a secret key's value is
 * replaced whatever its type (a numeric PIN is a secret too). */
static bool s_field(s_out *o, const mb_log_field *f) {
    mb_cur key = f->key_len ? (mb_cur){f->key, f->key_len} : mb_cur_from_cstr(f->key ? f->key : "");
    if (!S_LIT(o, ",\"") || (s_key_reserved(key) && !S_LIT(o, "_")) ||
        !s_escaped(o, key, MB_LOG_KEY_MAX, false) || !S_LIT(o, ":")) {
        return false;
    }
    if (f->type != MB_LOG_FIELD_BOOL && mb_log_key_is_secret(key)) {
        return S_LIT(o, "\"[REDACTED]\"");
    }
    switch (f->type) {
    case MB_LOG_FIELD_STR:
        return s_str(o, f->v.s, MB_LOG_VALUE_MAX, true);
    case MB_LOG_FIELD_INT:
        return s_int(o, f->v.i);
    case MB_LOG_FIELD_NUM:
        return s_num(o, f->v.n);
    case MB_LOG_FIELD_BOOL:
        return f->v.b ? S_LIT(o, "true") : S_LIT(o, "false");
    }
    return false;
}

static void s_write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return; /* a log must never fail the request: drop the rest */
        }
        p += w;
        n -= (size_t)w;
    }
}

/* Fields, then the tail, then one write. */
static void s_finish(mb_log *log, s_out *o, const mb_log_field *fields, size_t nfields) {
    bool truncated = false;
    for (size_t i = 0; i < nfields; i++) {
        size_t mark = o->len;
        if (!s_field(o, &fields[i])) {
            o->len = mark;
            truncated = true;
            break;
        }
    }
    o->cap = sizeof log->line; /* the tail reserve is now ours */
    if (truncated) {
        S_LIT(o, ",\"truncated\":true");
    }
    S_LIT(o, "}\n");
    s_redact_values(log, o);
    s_write_all(log->fd, o->p, o->len);
}

void mb_log_write_cur(mb_log *log, mb_log_level level, mb_cur message, const mb_log_field *fields,
                      size_t nfields) {
    if (!mb_log_enabled(log, level)) {
        return;
    }
    s_out o;
    s_head(log, &o, level);
    o.len += s_escape(o.p + o.len, MB_LOG_MESSAGE_MAX, message, true);
    S_LIT(&o, "\"");
    s_context(log, &o);
    s_finish(log, &o, fields, nfields);
}

void mb_log_write(mb_log *log, mb_log_level level, const char *message, const mb_log_field *fields,
                  size_t nfields) {
    mb_log_write_cur(log, level, mb_cur_from_cstr(message), fields, nfields);
}

void mb_log_writef(mb_log *log, mb_log_level level, const char *fmt, ...) {
    if (!mb_log_enabled(log, level)) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(log->fmt, sizeof log->fmt, fmt, ap);
    va_end(ap);
    if (n < 0) {
        mb_log_write(log, level, "(log format error)", NULL, 0);
        return;
    }
    size_t len = (size_t)n < sizeof log->fmt ? (size_t)n : sizeof log->fmt - 1;
    mb_log_write_cur(log, level, (mb_cur){log->fmt, len}, NULL, 0);
}

void mb_log_access_line(mb_log *log, const mb_log_access *a) {
    if (!log) {
        return;
    }
    mb_log_level level = a->status >= 500   ? MB_LOG_ERROR
                         : a->status >= 400 ? MB_LOG_WARN
                                            : MB_LOG_INFO;
    s_out o;
    s_head(log, &o, level);
    /* message: "<route> <status>", or "<METHOD> <path> <status>" when no route matched, built
     * from the already escaped context */
    if (log->route_len) {
        s_raw(&o, log->route, log->route_len);
    } else {
        s_raw(&o, log->method, log->method_len);
        S_LIT(&o, " ");
        s_raw(&o, log->path, log->path_len);
    }
    S_LIT(&o, " ");
    s_int(&o, a->status);
    S_LIT(&o, "\"");
    s_context(log, &o);
    S_LIT(&o, ",\"type\":\"access\",\"status\":");
    s_int(&o, a->status);
    S_LIT(&o, ",\"durationMs\":");
    double ms = a->duration_ms >= 0 && isfinite(a->duration_ms) ? a->duration_ms : 0;
    s_num(&o, round(ms * 1000.0) / 1000.0);
    S_LIT(&o, ",\"requestBytes\":");
    s_int(&o, (int64_t)a->request_bytes);
    S_LIT(&o, ",\"responseBytes\":");
    s_int(&o, (int64_t)a->response_bytes);
    if (log->error_type_len) {
        S_LIT(&o, ",\"errorType\":\"");
        s_raw(&o, log->error_type, log->error_type_len);
        S_LIT(&o, "\"");
    }
    s_finish(log, &o, NULL, 0);
}

void mb_log_lua_error(mb_log *log, mb_cur error_type, mb_cur message, mb_cur traceback) {
    if (!log) {
        return;
    }
    if (error_type.len == 0) {
        error_type = MB_CUR_LIT("LuaError");
    }
    mb_log_set_error_type(log, error_type);
    mb_log_field f[2] = {mb_log_field_str("errorType", error_type),
                         mb_log_field_str("traceback", traceback)};
    mb_log_write_cur(log, MB_LOG_ERROR, message, f, traceback.len ? 2 : 1);
}

/* ---- debug bodies ------------------------------------------------------------------------- */

static void s_redact_json(json_t *v, int depth) {
    if (depth > 64) {
        return;
    }
    if (json_is_object(v)) {
        const char *key;
        json_t *child;
        json_object_foreach(v, key, child) {
            if (mb_log_key_is_secret(mb_cur_from_cstr(key)) && !json_is_null(child)) {
                json_object_set_new(v, key, json_string(s_redacted));
            } else {
                s_redact_json(child, depth + 1);
            }
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child) {
            s_redact_json(child, depth + 1);
        }
    }
}

void mb_log_debug_body(mb_log *log, const char *what, mb_cur body) {
    if (!mb_log_enabled(log, MB_LOG_DEBUG)) {
        return;
    }
    json_t *doc = NULL;
    if (body.len > 0 && body.len <= DEBUG_BODY_PARSE_MAX) {
        doc = json_loadb(body.ptr, body.len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    }
    char *dumped = NULL;
    if (doc) {
        s_redact_json(doc, 0);
        dumped = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(doc);
    }
    mb_log_field f[2] = {mb_log_field_str("body", dumped ? mb_cur_from_cstr(dumped) : body),
                         mb_log_field_bool("bodyIsJson", dumped != NULL)};
    mb_log_write(log, MB_LOG_DEBUG, what, f, 2);
    free(dumped);
}
