/* moonbase/log.h - structured JSON logs: one object per line, written with one write(2).
 * Every line carries the per-invocation context (requestId, traceId, method, path, route,
 * coldStart, tenant, userId) set by the app, so handlers never repeat it. Every string is escaped
 * (control characters as \uXXXX, invalid UTF-8 as U+FFFD) and redacted (secret-named keys and
 * token-shaped values become "[REDACTED]"); strings, fields and lines are bounded in size.
 * Ownership: mb_log_new() returns a heap object the caller releases with mb_log_free(). The log
 * copies (escaped) whatever context it is given, so callers may free their strings right after a
 * call. Lines are built in buffers allocated once in mb_log_new(): nothing is allocated per line.
 * Every function accepts a NULL logger and then does nothing.
 * One invocation at a time (not thread-safe). */
#ifndef MOONBASE_LOG_H
#define MOONBASE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "moonbase/buf.h"
#include "moonbase/clock.h"
#include "moonbase/config.h"
#include "moonbase/err.h"

/* Bounds, in output bytes after escaping. A line (a CloudWatch Logs event) is capped well below
 * the 256 KB event limit so a log line can never be split or dropped by the service. */
#define MB_LOG_LINE_MAX (64 * 1024)
#define MB_LOG_MESSAGE_MAX (16 * 1024)
#define MB_LOG_VALUE_MAX (8 * 1024)
#define MB_LOG_KEY_MAX 128
/* Fields kept per line; the Lua binding drops the rest and says how many it dropped. */
#define MB_LOG_MAX_FIELDS 32

typedef struct mb_log mb_log;

/* Create a logger writing lines at `level` or above to `fd` (not closed by mb_log_free).
 * Returns NULL with MB_ERR_NOMEM in err when allocation fails. */
mb_log *mb_log_new(mb_log_level level, int fd, mb_err *err);
/* Release the logger. Accepts NULL. */
void mb_log_free(mb_log *log);
/* Change the threshold (LOG_LEVEL is read by config; this is for tests and reloads). */
void mb_log_set_level(mb_log *log, mb_log_level level);
/* Replace the clock of the timestamps (copied; NULL or a NULL now_ms restores CLOCK_REALTIME),
 * so tests can pin them. */
void mb_log_set_clock(mb_log *log, const mb_clock *clock);
/* Parse "debug"|"info"|"warn"|"warning"|"error" (ASCII case-insensitive). Returns 0, or
 * MB_ERR_INVALID when the name is unknown (*out untouched). */
int mb_log_level_parse(mb_cur name, mb_log_level *out);
/* "DEBUG", "INFO", "WARN", "ERROR". */
const char *mb_log_level_name(mb_log_level level);

/* Per-invocation context. Copied (escaped) by mb_log_begin(); empty cursors are left out. */
typedef struct mb_log_request {
    mb_cur request_id;
    mb_cur trace_id; /* the X-Ray header value (Root=...;Parent=...;Sampled=...) or its Root */
    mb_cur method;
    mb_cur path;
    bool cold_start;
} mb_log_request;

/* Start an invocation: every line until mb_log_end() carries this context. Clears any route,
 * user and error type left from a previous invocation. */
void mb_log_begin(mb_log *log, const mb_log_request *req);
/* The matched route template, e.g. "GET /items/{id}" (copied). */
void mb_log_set_route(mb_log *log, mb_cur route);
/* The request's method and path (copied), once the event is decoded (after mb_log_begin). */
void mb_log_set_request(mb_log *log, mb_cur method, mb_cur path);
/* The verified tenant and user id (copied). Never pass the token itself. */
void mb_log_set_user(mb_log *log, mb_cur tenant, mb_cur user_id);
/* Record why the invocation failed ("LuaError", "Timeout", "MemoryLimit"...; copied, at most
 * 63 bytes); the access line then carries "errorType". mb_log_lua_error() sets it too. */
void mb_log_set_error_type(mb_log *log, mb_cur error_type);
/* End the invocation: forget the context. */
void mb_log_end(mb_log *log);

/* True when a line at `level` would be written: check it before building costly fields. */
bool mb_log_enabled(const mb_log *log, mb_log_level level);

typedef enum mb_log_field_type {
    MB_LOG_FIELD_STR,
    MB_LOG_FIELD_INT,
    MB_LOG_FIELD_NUM, /* NaN and infinities are written as null */
    MB_LOG_FIELD_BOOL,
} mb_log_field_type;

/* One extra member of a line. key is NUL-terminated (C literals, Lua strings), unless key_len is
 * non-zero: then key holds key_len bytes of any content (header names from request data). */
typedef struct mb_log_field {
    const char *key;
    mb_log_field_type type;
    union {
        mb_cur s;
        int64_t i;
        double n;
        bool b;
    } v;
    size_t key_len; /* 0: strlen(key) */
} mb_log_field;

static inline mb_log_field mb_log_field_str(const char *key, mb_cur s) {
    return (mb_log_field){.key = key, .type = MB_LOG_FIELD_STR, .v.s = s};
}
static inline mb_log_field mb_log_field_int(const char *key, int64_t i) {
    return (mb_log_field){.key = key, .type = MB_LOG_FIELD_INT, .v.i = i};
}
static inline mb_log_field mb_log_field_num(const char *key, double n) {
    return (mb_log_field){.key = key, .type = MB_LOG_FIELD_NUM, .v.n = n};
}
static inline mb_log_field mb_log_field_bool(const char *key, bool b) {
    return (mb_log_field){.key = key, .type = MB_LOG_FIELD_BOOL, .v.b = b};
}

/* Write one line: timestamp, level, message, the context, then `fields` in order. A field whose
 * key names a context member (level, requestId...) is written as "_<key>" so it cannot forge
 * the context. Fields that no longer fit in MB_LOG_LINE_MAX are dropped and the line says
 * "truncated": true. Write errors are ignored (a log must never fail a request). */
void mb_log_write(mb_log *log, mb_log_level level, const char *message, const mb_log_field *fields,
                  size_t nfields);
/* Like mb_log_write() with a message of length `len` that may hold any bytes (Lua strings). */
void mb_log_write_cur(mb_log *log, mb_log_level level, mb_cur message, const mb_log_field *fields,
                      size_t nfields);
/* printf-style message only (formatted into a fixed 2 KB buffer: longer output is cut). */
void mb_log_writef(mb_log *log, mb_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The access line: exactly one per invocation, written whatever LOG_LEVEL says (it is what
 * dashboards and Logs Insights queries read). Level INFO below 400, WARN for 4xx, ERROR for 5xx;
 * message "<route> <status>" (or
 * "<METHOD> <path> <status>" when no route matched); members type "access", status, durationMs,
 * requestBytes, responseBytes and errorType when one was recorded. */
typedef struct mb_log_access {
    int status;
    double duration_ms;
    size_t request_bytes;
    size_t response_bytes;
} mb_log_access;
void mb_log_access_line(mb_log *log, const mb_log_access *a);

/* An unhandled handler error at ERROR: message, errorType and the Lua traceback as fields.
 * Records error_type for the access line (empty error_type means "LuaError"). */
void mb_log_lua_error(mb_log *log, mb_cur error_type, mb_cur message, mb_cur traceback);

/* At DEBUG only: log a request or response body under field "body". A JSON body has the values
 * of secret-named keys (password, authorization, token...) replaced at any depth before it is
 * logged; any other body is logged as text with token-shaped values redacted. Allocates (debug
 * only). `what` is the message, e.g. "request body". */
void mb_log_debug_body(mb_log *log, const char *what, mb_cur body);

/* Redaction rules, exposed for the Lua binding and tests. A key is secret when it contains, in
 * any case, one of: authorization, password, passwd, secret, token, cookie, credential, apikey,
 * api_key, api-key, private_key, privatekey, session, signature. */
bool mb_log_key_is_secret(mb_cur key);

/* Redact `value` (a secret read at run time) from every later line of this logger, wherever it
 * appears: in a message, a field, a traceback. Keeps a copy (at most MB_LOG_MAX_REDACTED values;
 * values shorter than 4 bytes are ignored, they would mangle ordinary text). Accepts NULL log. */
#define MB_LOG_MAX_REDACTED 32
void mb_log_redact_value(mb_log *log, mb_cur value);

#endif
