/* moonbase/aws_json.h - a client for AWS's JSON protocol (DynamoDB, Secrets Manager, and any
 * service whose API is "POST / with X-Amz-Target: <prefix>.<Operation>"): endpoint, SigV4
 * signing, retries with exponential backoff and full jitter inside the caller's deadline, and
 * AWS error bodies ({"__type": "...#Name", "message": "..."}) mapped to mb_status.
 * Ownership: mb_aws_json_new() returns a client the caller frees with mb_aws_json_free(); it owns
 * its credentials, its signer (the day's signing key survives between calls) and one keep-alive
 * mb_http handle, opened on the first mb_aws_json_call() (making a client costs no I/O and does
 * not load libcurl, so a cold start that never calls the service does not pay for it).
 * mb_aws_json_call() borrows the body for the call; the response it returns borrows from the client
 * and stays valid until the next call or the free. Not thread-safe: one client, one request at a
 * time. Errors (mb_err.msg keeps the service label, the AWS error type and its message, never
 * credentials), by mb_aws_json_map_error():
 *   ConditionalCheckFailedException                       -> MB_ERR_CONFLICT
 *   ValidationException, SerializationException,
 *   InvalidParameterException, InvalidRequestException    -> MB_ERR_INVALID
 *   throttling, 503 / connection failure after retries    -> MB_ERR_UNAVAILABLE
 *   other 4xx and 5xx after retries                       -> MB_ERR_UPSTREAM
 *   deadline reached before any answer                    -> MB_ERR_TIMEOUT
 * A service with its own needs passes a map_error function in the config. */
#ifndef MOONBASE_AWS_JSON_H
#define MOONBASE_AWS_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "moonbase/buf.h"
#include "moonbase/clock.h"
#include "moonbase/err.h"
#include "moonbase/sigv4.h"

typedef struct mb_aws_json mb_aws_json;

#define MB_AWS_JSON_DEFAULT_ATTEMPTS 5
#define MB_AWS_JSON_DEFAULT_BASE_DELAY_MS 25
#define MB_AWS_JSON_DEFAULT_MAX_DELAY_MS 1000
#define MB_AWS_JSON_DEFAULT_ATTEMPT_TIMEOUT_MS 5000
/* DynamoDB answers are at most ~16 MiB (BatchGetItem: 100 items of 400 KB). */
#define MB_AWS_JSON_DEFAULT_MAX_RESPONSE (20u * 1024u * 1024u)

/* Seams for tests; zeroed members mean the real thing. Times are milliseconds since the epoch
 * (the Lambda deadline is expressed that way); the signing time is clock.now_ms / 1000. */
typedef struct mb_aws_json_seams {
    mb_clock clock;
    uint64_t (*random)(void *ud); /* full jitter: delay = random() % cap; NULL: xorshift64 */
    void *random_ud;
} mb_aws_json_seams;

/* Map an AWS error type (the part after '#' of __type; may be empty) and the HTTP status to an
 * mb_status, and tell whether the call is worth retrying. */
typedef int (*mb_aws_json_map_error_fn)(mb_cur type, long http_status, bool *retryable);

typedef struct mb_aws_json_config {
    const char *label;         /* for messages, e.g. "DynamoDB"; NULL: the service name */
    const char *service;       /* required: SigV4 signing name, e.g. "dynamodb" */
    const char *target_prefix; /* required: X-Amz-Target prefix, e.g. "DynamoDB_20120810" */
    const char *content_type;  /* NULL: "application/x-amz-json-1.0"; Secrets Manager: 1.1 */
    const char *region;        /* required, e.g. "us-east-1" */
    /* "http(s)://host[:port][/]"; NULL or "": https://<service>.<region>.amazonaws.com */
    const char *endpoint;
    int max_attempts;  /* 0: MB_AWS_JSON_DEFAULT_ATTEMPTS */
    int base_delay_ms; /* 0: MB_AWS_JSON_DEFAULT_BASE_DELAY_MS */
    int max_delay_ms;  /* 0: MB_AWS_JSON_DEFAULT_MAX_DELAY_MS */
    long
        attempt_timeout_ms; /* cap of one HTTP attempt; 0: MB_AWS_JSON_DEFAULT_ATTEMPT_TIMEOUT_MS */
    size_t max_response;    /* bytes; 0: MB_AWS_JSON_DEFAULT_MAX_RESPONSE */
    mb_aws_json_map_error_fn map_error; /* NULL: mb_aws_json_map_error */
    mb_aws_json_seams seams;
} mb_aws_json_config;

/* Create a client. The config's strings are copied. creds are moved into it (*creds is left
 * empty, also on failure, when they are wiped). Returns NULL with err filled: MB_ERR_CONFIG (no
 * service, prefix or region, or a bad endpoint URL), MB_ERR_NOMEM. libcurl failing to load is
 * reported by the first mb_aws_json_call() (MB_ERR_IO). */
mb_aws_json *mb_aws_json_new(const mb_aws_json_config *cfg, mb_sigv4_credentials *creds,
                             mb_err *err);
/* Free the client (closes the connection, wipes the credentials). Accepts NULL. */
void mb_aws_json_free(mb_aws_json *client);

/* What the last mb_aws_json_call saw: attempts made, final HTTP status (0: no answer) and the
 * AWS error type ("ConditionalCheckFailedException"; "" on success), for logs and metrics. */
typedef struct mb_aws_json_stats {
    int attempts;
    /* Attempts that failed at the transport (reset, timeout, truncated answer): the request may
     * have been applied without the answer arriving, so a retry can meet its own earlier write
     * (a conditional write then fails its condition). */
    int transport_failures;
    long http_status;
    char error_type[64];
} mb_aws_json_stats;
const mb_aws_json_stats *mb_aws_json_last(const mb_aws_json *client);

/* Send operation `op` ("GetItem", "GetSecretValue"; without the prefix) with the JSON body.
 * On success returns 0 and points *response at the response JSON (borrowed, see above).
 * Retries what map_error calls retryable and connection errors, at most max_attempts times,
 * sleeping random() % min(max_delay, base * 2^attempt) in between, and never starts an attempt
 * or a sleep that would end past deadline_ms (0: no deadline); an attempt's timeout is cut to
 * what is left of the deadline. Returns 0 or an mb_status as listed at the top. */
int mb_aws_json_call(mb_aws_json *client, const char *op, mb_cur body, int64_t deadline_ms,
                     mb_cur *response, mb_err *err);

/* The backoff between rounds of a caller's own retry loop (batch re-sends): sleep the full-jitter
 * delay of retry number `attempt` (>= 1) and return true, or return false without sleeping when
 * the sleep would end at or past deadline_ms (0: no deadline). */
bool mb_aws_json_backoff(mb_aws_json *client, int attempt, int64_t deadline_ms);

/* The client's clock (the seam it was configured with), for callers timing their calls. */
const mb_clock *mb_aws_json_clock(const mb_aws_json *client);

/* The default error mapping, listed at the top. Retryable: throttling
 * (ThrottlingException, ProvisionedThroughputExceededException, RequestLimitExceeded,
 * TooManyRequestsException), InternalServerError, InternalServiceError(Exception), any 5xx. */
int mb_aws_json_map_error(mb_cur type, long http_status, bool *retryable);

#endif
