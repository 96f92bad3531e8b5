/* moonbase/http.h - a small blocking HTTP/1.1 client: one keep-alive libcurl easy handle per
 * endpoint, reused across invocations so warm Lambda calls skip TCP (and TLS) set-up.
 * Ownership: mb_http_new() returns a handle the caller frees with mb_http_free(). Requests borrow
 * every buffer they point to; a response owns its body and header buffers until
 * mb_http_response_cleanup(). Not thread-safe: one handle, one request at a time.
 * libcurl is initialised lazily on the first mb_http_new(), so a process that never makes an
 * outgoing call (a public route under `bootstrap invoke`) never pays for it. */
#ifndef MOONBASE_HTTP_H
#define MOONBASE_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "moonbase/buf.h"
#include "moonbase/err.h"

typedef struct mb_http mb_http;

typedef struct mb_http_header {
    mb_cur name;
    mb_cur value;
} mb_http_header;

/* Responses larger than this are refused (hostile or broken peers must not exhaust memory). */
#define MB_HTTP_DEFAULT_MAX_RESPONSE (8u * 1024u * 1024u)

typedef struct mb_http_request {
    const char *method;            /* "GET", "POST", ... (NUL-terminated) */
    const char *url;               /* full URL, NUL-terminated */
    const mb_http_header *headers; /* extra request headers, may be NULL */
    size_t header_count;
    mb_cur body;               /* request body (may be empty) */
    long timeout_ms;           /* whole-transfer timeout; 0 means none (Runtime API /next) */
    long connect_timeout_ms;   /* 0 means libcurl's default */
    size_t max_response_bytes; /* 0 means MB_HTTP_DEFAULT_MAX_RESPONSE */
} mb_http_request;

typedef struct mb_http_response {
    long status;    /* HTTP status code, 0 before a response arrives */
    mb_buf body;    /* response body */
    mb_buf headers; /* raw header block of the final response, "Name: value\r\n" lines */
} mb_http_response;

/* Create a client handle. On error (libcurl init or allocation failure) returns NULL and fills err.
 */
mb_http *mb_http_new(mb_err *err);
/* Free the handle and close its connection. Accepts NULL. */
void mb_http_free(mb_http *http);

/* Send one request and wait for the whole response. The response is reset first, so one
 * mb_http_response can be reused. Returns 0 when any HTTP response arrived (check resp->status),
 * MB_ERR_TIMEOUT when the timeout passed, MB_ERR_LIMIT when the response exceeded its bound,
 * MB_ERR_IO for connection failures (refused, reset, DNS), MB_ERR_NOMEM. */
int mb_http_send(mb_http *http, const mb_http_request *req, mb_http_response *resp, mb_err *err);

/* Find a response header by case-insensitive name; the value (trimmed) borrows from resp. */
bool mb_http_response_header(const mb_http_response *resp, mb_cur name, mb_cur *value);
/* Release the response buffers. Accepts NULL. */
void mb_http_response_cleanup(mb_http_response *resp);

#endif
