/* moonbase/event.h - API Gateway proxy events <-> the handler's request and response tables.
 * Understands HTTP API payload 2.0 and REST API (v1) proxy events; answers in the same version.
 * Every field of the event is type-checked and bounded; a bad event becomes a clear 4xx.
 * Ownership: views in mb_event borrow Lua strings referenced by the event and request tables;
 * they stay valid while both tables are on the stack. Output goes to a caller-owned mb_buf. */
#ifndef MOONBASE_EVENT_H
#define MOONBASE_EVENT_H

#include <stddef.h>

#include <lua.h>

#include "moonbase/buf.h"
#include "moonbase/err.h"

/* Lambda's synchronous payload limit is 6 MB each way; an event beyond it cannot be real. */
#define MB_EVENT_MAX_BYTES (6u * 1024u * 1024u)
#define MB_EVENT_MAX_HEADERS 200
#define MB_EVENT_MAX_QUERY 200
#define MB_EVENT_MAX_COOKIES 100
#define MB_EVENT_MAX_HEADER_BYTES (64u * 1024u)

typedef struct mb_event {
    int version; /* 1 or 2 */
    mb_cur method, path, request_id, source_ip;
    mb_cur origin, authorization, content_type, preflight_method;
    size_t body_len;
    int reject_status; /* on error: the HTTP status to answer (400, 413, 431) */
} mb_event;

typedef struct mb_event_header {
    const char *name;
    mb_cur value;
    bool force; /* replaces a header of the same name the handler set (security headers); with a
                 * NULL value.ptr it only removes the handler's */
} mb_event_header;

/* Turn the decoded event at event_idx into a request table and push it [-0, +1]. On error pushes
 * nothing, returns MB_ERR_INVALID / MB_ERR_LIMIT / MB_ERR_NOMEM with a client-safe message and
 * sets ev->reject_status. ev->version is set as soon as it is known (default 2). */
int mb_event_to_request(lua_State *L, int event_idx, mb_event *ev, mb_err *err);

/* Encode the response table at resp_idx as a proxy response of ev->version into out (replacing
 * its contents). extra headers are added unless the handler set the same name (a `force` one
 * replaces the handler's, in any letter case and in v1's multiValueHeaders too). *status gets
 * the status code. A malformed response table (bad status, header injection, unencodable body)
 * is MB_ERR_INVALID and out is left empty. [-0, +0] */
int mb_event_encode_response(lua_State *L, int resp_idx, const mb_event *ev,
                             const mb_event_header *extra, size_t nextra, mb_buf *out, int *status,
                             mb_err *err);

/* Push a response table {status, body = {error, message, requestId[, field]}}. [-0, +1, m] */
void mb_event_push_error(lua_State *L, int status, const char *code, const char *message,
                         mb_cur request_id);

/* The last-resort response when even building an error response failed (no allocation). */
#define MB_EVENT_FALLBACK_500                                                                      \
    "{\"statusCode\":500,\"headers\":{\"content-type\":\"application/json\"},"                     \
    "\"body\":\"{\\\"error\\\":\\\"internal\\\",\\\"message\\\":\\\"internal error\\\"}\","        \
    "\"isBase64Encoded\":false}"

#endif
