/* moonbase/runtime.h - the AWS Lambda Runtime API client (2018-06-01): next invocation,
 * response, invocation error, init error. One keep-alive HTTP handle for the process; /next
 * has no timeout because Lambda freezes the sandbox while it waits. Transient failures (5xx,
 * refused or dropped connections) are retried with exponential backoff; when the API stays
 * unreachable the calls return MB_ERR_IO so the process can exit cleanly. A response or error
 * POST whose connection failed and whose retry is refused with 400 (the invocation is no longer
 * known) counts as delivered: the failed attempt arrived, only its answer was lost.
 * Ownership: mb_runtime_new() returns a client freed by mb_runtime_free(); an invocation struct
 * is caller-owned and reused, its event buffer released by mb_runtime_invocation_cleanup(). */
#ifndef MOONBASE_RUNTIME_H
#define MOONBASE_RUNTIME_H

#include <stdint.h>

#include "moonbase/buf.h"
#include "moonbase/err.h"

typedef struct mb_runtime mb_runtime;

/* Attempts per call before the Runtime API counts as gone, and the first backoff step: with
 * doubling, 6 attempts span about 1.5 s, longer than any hiccup of a local endpoint. */
#define MB_RUNTIME_ATTEMPTS 6
#define MB_RUNTIME_BACKOFF_MS 50
/* Lambda's synchronous response limit. */
#define MB_RUNTIME_MAX_RESPONSE (6u * 1024u * 1024u)

/* Bytes kept of the Lambda-Runtime-Trace-Id header, NUL included. */
#define MB_RUNTIME_TRACE_ID_MAX 512

typedef struct mb_runtime_invocation {
    mb_buf event;
    char request_id[128];
    char trace_id[MB_RUNTIME_TRACE_ID_MAX]; /* "" when absent */
    char function_arn[512];                 /* "" when absent */
    int64_t deadline_ms;                    /* epoch ms, 0 when absent */
} mb_runtime_invocation;

/* A sleep seam so tests need not wait for real backoff. */
typedef void (*mb_runtime_sleep_fn)(int64_t ms);

/* api is AWS_LAMBDA_RUNTIME_API ("host:port"). On error returns NULL and fills err. */
mb_runtime *mb_runtime_new(const char *api, mb_err *err);
void mb_runtime_free(mb_runtime *rt);
void mb_runtime_set_sleep(mb_runtime *rt, mb_runtime_sleep_fn sleep_fn);

/* Block until the next invocation arrives and fill inv. Returns 0, MB_ERR_IO when the API is gone,
 * MB_ERR_INVALID when the API answered without a request id, MB_ERR_NOMEM. */
int mb_runtime_next(mb_runtime *rt, mb_runtime_invocation *inv, mb_err *err);
/* Post the function's response for inv. Returns 0, MB_ERR_LIMIT (the API refused it as too
 * large: post an error instead), MB_ERR_IO. */
int mb_runtime_respond(mb_runtime *rt, const mb_runtime_invocation *inv, mb_cur body, mb_err *err);
/* Post an invocation error {errorMessage, errorType} with Lambda-Runtime-Function-Error-Type. */
int mb_runtime_fail(mb_runtime *rt, const mb_runtime_invocation *inv, const char *type,
                    const char *message, mb_err *err);
/* Report a start-up failure (bad configuration, broken routes.lua) before exiting. */
int mb_runtime_init_error(mb_runtime *rt, const char *type, const char *message, mb_err *err);

void mb_runtime_invocation_cleanup(mb_runtime_invocation *inv);

/* Publish an invocation's trace id as _X_AMZN_TRACE_ID (where X-Ray SDKs look), or remove the
 * variable when trace_id is "". Allocation-free: the environment entry is one static buffer
 * rewritten in place, whereas setenv() keeps every value it ever stored, one per invocation for
 * the life of the sandbox. Not thread-safe (nor is the environment); the runtime loop is one
 * thread. */
void mb_runtime_export_trace_id(const char *trace_id);

#endif
