/* moonbase/devserver_guard.h - what the devserver refuses before a request reaches a worker, as
 * API Gateway does in AWS (so the local stack hides no bug production would expose): malformed
 * request heads (invalid UTF-8, ambiguous framing, missing Host), API Gateway's size limits, and
 * too many requests per client or in total (token buckets, like a usage plan per key under the
 * stage's limit). Also the access log's view of a request target: escaped, bounded, with the
 * values of secret-named query parameters redacted. And who may use a worker's Runtime API
 * port: only that worker process.
 * Ownership: mb_guard_check() and mb_guard_log_target() borrow everything passed in;
 * mb_guard_throttle_new() returns an object freed by mb_guard_throttle_free(). The check and
 * the log view are pure (thread-safe); a throttle locks itself (any thread may call it). */
#ifndef MOONBASE_DEVSERVER_GUARD_H
#define MOONBASE_DEVSERVER_GUARD_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "moonbase/buf.h"
#include "moonbase/err.h"
#include "moonbase/http.h"

/* API Gateway REST API quotas: the URL of an edge-optimized API is at most 8192 characters
 * (414 above), the request line and header values together at most 10240 bytes (431 above). */
#define MB_GUARD_MAX_TARGET 8192u
#define MB_GUARD_MAX_HEAD 10240u
/* More header fields than this is refused (431) rather than some of them dropped: within 10 KB
 * a client could otherwise send ~2,500 one-letter headers. Browsers send about 20. */
#define MB_GUARD_MAX_HEADERS 128u
/* The access log shows at most this much of a request target (after escaping). */
#define MB_GUARD_LOG_TARGET_MAX 300u

/* A request head as received. `headers` holds the first min(header_count, MB_GUARD_MAX_HEADERS
 * + 1) fields; header_count is the real number, header_bytes the sum of name and value lengths
 * of all of them. */
typedef struct mb_guard_head {
    mb_cur method;
    mb_cur target;  /* the request target as sent: path and query, not decoded */
    mb_cur version; /* "HTTP/1.1" */
    const mb_http_header *headers;
    size_t header_count;
    size_t header_bytes;
} mb_guard_head;

/* Why a request is refused: the HTTP status and a short client-safe message (static). */
typedef struct mb_guard_verdict {
    int status; /* 0: accepted */
    const char *message;
} mb_guard_verdict;

/* Check a request head. Returns 0 (v->status 0) when it may go on, else the status it is refused
 * with (also in v->status): 400 invalid method, invalid UTF-8 in the method, path or query (also
 * once percent-decoded), two different Content-Length values, a bad Content-Length, both
 * Content-Length and Transfer-Encoding, HTTP/1.1 without exactly one Host; 414 target longer than
 * MB_GUARD_MAX_TARGET; 431 more than MB_GUARD_MAX_HEADERS fields or a head larger than
 * MB_GUARD_MAX_HEAD; 501 a Transfer-Encoding other than "chunked". */
int mb_guard_check(const mb_guard_head *h, mb_guard_verdict *v);

/* Append the access log's view of a request target to out: at most MB_GUARD_LOG_TARGET_MAX bytes
 * (then "..."), every byte outside printable ASCII and every '"' and '\' as \xHH, so no quote, CR
 * or escape sequence of the client reaches the log verbatim; the value of a query parameter
 * whose (decoded) name is secret-like (mb_log_key_is_secret: token, password...; or "code", an
 * OAuth authorization code) is replaced by
 * "REDACTED". Returns 0 or MB_ERR_NOMEM. */
int mb_guard_log_target(mb_buf *out, mb_cur target);

typedef struct mb_guard_throttle mb_guard_throttle;

typedef struct mb_guard_throttle_options {
    double rate, burst;               /* the stage's token bucket; rate 0: no total limit */
    double client_rate, client_burst; /* one bucket per client address; rate 0: none */
} mb_guard_throttle_options;

/* Returns NULL only on allocation failure. */
mb_guard_throttle *mb_guard_throttle_new(const mb_guard_throttle_options *o);
/* Free the throttle. Accepts NULL. */
void mb_guard_throttle_free(mb_guard_throttle *t);
/* Take one request of `client` (its address as text) at monotonic time now_ns. Returns 0 when
 * it may go on, else the whole seconds to wait (for Retry-After). A refused request takes no
 * token from either bucket. Clients are tracked in a bounded table (the least recently seen is
 * forgotten first), so a flood of addresses cannot grow memory. */
int mb_guard_throttle_take(mb_guard_throttle *t, const char *client, int64_t now_ns);
/* Whether to log this refused request: at most one line per second. Returns true with
 * *suppressed = how many refusals were not logged since the last logged one. */
bool mb_guard_throttle_log_gate(mb_guard_throttle *t, int64_t now_ns, uint64_t *suppressed);

/* The Runtime API emulator's worker ports: true when the TCP connection from `peer` to
 * 127.0.0.1:`local_port` is a socket of process `pid` (found in /proc/net/tcp and among
 * /proc/<pid>/fd). Any other local process -- or anything when /proc cannot be read -- is not.
 * Linux only, as the devserver is. */
bool mb_guard_peer_is(pid_t pid, const struct sockaddr_in *peer, uint16_t local_port);

#endif
