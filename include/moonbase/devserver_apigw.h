/* moonbase/devserver_apigw.h - the devserver's API Gateway half: an HTTP request becomes a REST
 * API proxy event (payload format 1.0, what sam/template.yaml deploys) or an HTTP API v2 event
 * (payload format 2.0), and a Lambda proxy response becomes an HTTP answer, the way API Gateway
 * does it in AWS.
 * Ownership: requests borrow every buffer they point to; mb_apigw_event_build() appends to a
 * caller-owned mb_buf; mb_apigw_response_parse() fills a caller-owned struct whose strings it
 * allocates and mb_apigw_response_cleanup() frees. Pure functions: thread-safe. */
#ifndef MOONBASE_DEVSERVER_APIGW_H
#define MOONBASE_DEVSERVER_APIGW_H

#include <stdbool.h>
#include <stddef.h>

#include "moonbase/buf.h"
#include "moonbase/err.h"
#include "moonbase/http.h"

/* API Gateway's request payload limit (answer 413 above it). */
#define MB_APIGW_MAX_REQUEST_BODY (10u * 1024u * 1024u)
/* Lambda's synchronous payload limit, both for the event and for the function's response. */
#define MB_APIGW_MAX_LAMBDA_PAYLOAD 6291556u

typedef struct mb_apigw_request {
    const char *method;            /* "GET"... (NUL-terminated) */
    mb_cur raw_path;               /* path after the /api prefix, as sent (still %-encoded) */
    mb_cur raw_query;              /* query string without '?', as sent (may be empty) */
    const char *protocol;          /* "HTTP/1.1" */
    const char *source_ip;         /* client address as text */
    const mb_http_header *headers; /* request headers as received (any case, repeats allowed) */
    size_t header_count;
    mb_cur body;
    bool has_body;           /* false: no "body" member, like API Gateway for an empty body */
    const char *request_id;  /* API Gateway request id (NUL-terminated) */
    long long time_epoch_ms; /* request time, ms since the Unix epoch */
    const char *account_id;  /* e.g. "000000000000" */
    const char *api_id;      /* e.g. "local" */
} mb_apigw_request;

/* Append the HTTP API v2 event JSON for req to out. Header names are lower-cased and repeats
 * joined with ','; the cookie header becomes the "cookies" array; query parameters are decoded,
 * repeats joined with ','; a body that is not valid UTF-8 text of a textual content type is
 * base64-encoded with "isBase64Encoded": true. Returns 0, or MB_ERR_NOMEM. */
int mb_apigw_event_build(const mb_apigw_request *req, mb_buf *out, mb_err *err);

typedef struct mb_apigw_header {
    char *name;  /* owned, as the function wrote it */
    char *value; /* owned */
} mb_apigw_header;

typedef struct mb_apigw_response {
    int status;
    mb_apigw_header *headers; /* owned array; Set-Cookie entries come from "cookies" */
    size_t header_count;
    mb_buf body; /* decoded body (base64 already undone) */
} mb_apigw_response;

/* Interpret a Lambda response payload as API Gateway (payload format 2.0) does: an object with
 * "statusCode" is a proxy response (headers, multiValueHeaders, cookies, body, isBase64Encoded);
 * any other valid JSON is a 200 application/json answer whose body is the payload itself.
 * Returns 0; MB_ERR_INVALID (malformed: the gateway answers 502) with a message; MB_ERR_NOMEM.
 * On error *resp is left cleaned up. */
int mb_apigw_response_parse(mb_cur payload, mb_apigw_response *resp, mb_err *err);
/* Free the response's strings and body. Accepts NULL. */
void mb_apigw_response_cleanup(mb_apigw_response *resp);

/* Case-insensitive lookup in a parsed response; returns the value or NULL (borrowed). */
const char *mb_apigw_response_header(const mb_apigw_response *resp, const char *name);

/* A method of the REST API as sam/template.yaml deploys it: one resource per routes.lua entry,
 * plus the greedy "/{proxy+}" fallback for every other path. */
typedef struct mb_apigw_route {
    const char *resource;       /* "/items/{id}", "/{proxy+}" or "/" (NUL-terminated) */
    const mb_cur *param_names;  /* path parameter names, without braces */
    const mb_cur *param_values; /* their percent-decoded values */
    size_t param_count;
    bool cognito; /* the method has the Cognito user-pool authorizer: fill authorizer.claims */
} mb_apigw_route;

/* Append the REST API proxy event (payload format 1.0) for req on route to out, as API Gateway
 * sends it from stage `stage`: headers keep their case, repeats go to multiValueHeaders (headers
 * holds the last one); query parameters are decoded, the last repeat in queryStringParameters,
 * all in multiValueQueryStringParameters; null for absent maps and an absent body; a body that is
 * not UTF-8 text of a textual content type is base64-encoded. On a Cognito route whose
 * Authorization header carries a decodable JWT, requestContext.authorizer.claims holds the token's
 * claims the way the Cognito authorizer passes them: every value a string, exp and iat as dates
 * ("Sun Dec 17 07:28:12 UTC 2017"), arrays joined with ','. The token is NOT verified here (the
 * bootstrap verifies every token); an undecodable one gives no authorizer object.
 * Returns 0, or MB_ERR_NOMEM. */
int mb_apigw_rest_event_build(const mb_apigw_request *req, const mb_apigw_route *route,
                              const char *stage, mb_buf *out, mb_err *err);

#endif
