/* moonbase/devserver_invoke.h - the devserver's Lambda Invoke API (2015-03-31), what
 * `sam local start-lambda` offers: `aws lambda invoke --endpoint-url http://127.0.0.1:PORT
 * --function-name MoonbaseFunction --payload fileb://event.json out.json` runs the event through
 * the same bootstrap workers as the API. Requests are not signature-checked (local only).
 * This module is the pure half: which requests are invocations, and the answer Lambda gives for
 * each outcome (status, X-Amz-Function-Error, x-amzn-ErrorType, JSON body).
 * Ownership: an mb_invoke_answer owns its body until mb_invoke_answer_cleanup(). Thread-safe. */
#ifndef MOONBASE_DEVSERVER_INVOKE_H
#define MOONBASE_DEVSERVER_INVOKE_H

#include <stdbool.h>

#include "moonbase/buf.h"
#include "moonbase/devserver_pool.h"

/* Every invocation path starts with this (the API version is part of Lambda's paths). */
#define MB_INVOKE_PREFIX "/2015-03-31/functions/"

typedef struct mb_invoke_answer {
    int status;                 /* HTTP status */
    const char *error_type;     /* x-amzn-ErrorType for a service error, else NULL (static) */
    const char *function_error; /* X-Amz-Function-Error ("Unhandled") or NULL (static) */
    mb_buf body;                /* application/json */
} mb_invoke_answer;

/* The accepted names of the one local function: the template's logical id and the devserver's
 * function name, bare or as the last part of a function ARN (an optional ":qualifier" after it,
 * $LATEST or the template's "live" alias). */
typedef struct mb_invoke_target {
    const char *logical_id;    /* "MoonbaseFunction" */
    const char *function_name; /* "moonbase-local" */
    const char *region;        /* for the ARN in a not-found message */
} mb_invoke_target;

/* Check a request for the Invoke API: method, raw path (after the host), the
 * X-Amz-Invocation-Type header (NULL = RequestResponse) and the payload. Returns true when the
 * event must be run; false when *ans holds the answer already (an error, or 204 for DryRun).
 * ans must be cleaned up in both cases. */
bool mb_invoke_check(const mb_invoke_target *t, const char *method, mb_cur raw_path,
                     const char *invocation_type, mb_cur payload, mb_invoke_answer *ans);

/* The answer Lambda gives for a finished invocation: 200 with the function's payload, or 200
 * with X-Amz-Function-Error: Unhandled and an error document (function error, crash, timeout,
 * oversized response, init error); 503 while the devserver stops. timeout_s goes in the timeout
 * message. Returns 0 or MB_ERR_NOMEM. */
int mb_invoke_answer_from(const mb_pool_result *res, double timeout_s, mb_invoke_answer *ans);

void mb_invoke_answer_cleanup(mb_invoke_answer *ans);

#endif
