/* moonbase/ddb.h - DynamoDB client on the AWS JSON-protocol client (moonbase/aws_json.h: SigV4-
 * signed POSTs over one keep-alive mb_http handle, retries with exponential backoff and full
 * jitter within a deadline, AWS errors mapped to mb_status). Two layers:
 *   - mb_ddb_send(): request JSON in, response JSON out (no Lua);
 *   - mb_ddb_call() and the per-operation wrappers: a Lua request table in (shaped like the AWS
 *     request, items as plain Lua values, see mb_ddb_marshal_request), a Lua response table out
 *     (items unmarshalled, see mb_ddb_marshal_unmarshal_response).
 * Ownership: mb_ddb_new() returns a client the caller frees with mb_ddb_free(); it owns its
 * mb_aws_json client (credentials, signer, HTTP handle) (reuse one client across invocations: the
 * connection and the day's signing key survive). Requests borrow their inputs for the call only.
 * Not thread-safe: one client, one request at a time.
 * Errors (mb_err.msg keeps the AWS error type and message for logging, never credentials):
 *   ConditionalCheckFailedException            -> MB_ERR_CONFLICT    (409)
 *   ValidationException, SerializationException -> MB_ERR_INVALID    (400)
 *   throttling / connection failure after retries -> MB_ERR_UNAVAILABLE (503)
 *   ResourceNotFoundException, other 4xx, 5xx after retries -> MB_ERR_UPSTREAM (502)
 *   deadline reached before any answer           -> MB_ERR_TIMEOUT
 *   malformed request table / response JSON      -> MB_ERR_INVALID / MB_ERR_UPSTREAM */
#ifndef MOONBASE_DDB_H
#define MOONBASE_DDB_H

#include <stdbool.h>
#include <stdint.h>

#include <lua.h>

#include "moonbase/aws_json.h"
#include "moonbase/buf.h"
#include "moonbase/err.h"
#include "moonbase/sigv4.h"

typedef struct mb_ddb mb_ddb;

#define MB_DDB_DEFAULT_ATTEMPTS MB_AWS_JSON_DEFAULT_ATTEMPTS
#define MB_DDB_DEFAULT_BASE_DELAY_MS MB_AWS_JSON_DEFAULT_BASE_DELAY_MS
#define MB_DDB_DEFAULT_MAX_DELAY_MS MB_AWS_JSON_DEFAULT_MAX_DELAY_MS
#define MB_DDB_DEFAULT_ATTEMPT_TIMEOUT_MS MB_AWS_JSON_DEFAULT_ATTEMPT_TIMEOUT_MS
/* Batch calls re-send unprocessed keys/items at most this many times (backoff in between). */
#define MB_DDB_BATCH_ROUNDS 8

typedef struct mb_ddb_config {
    const char *region; /* required, e.g. "us-east-1" */
    const char
        *endpoint;     /* "http://127.0.0.1:8000"; NULL: https://dynamodb.<region>.amazonaws.com */
    int max_attempts;  /* 0: MB_DDB_DEFAULT_ATTEMPTS */
    int base_delay_ms; /* 0: MB_DDB_DEFAULT_BASE_DELAY_MS */
    int max_delay_ms;  /* 0: MB_DDB_DEFAULT_MAX_DELAY_MS */
    long attempt_timeout_ms; /* cap of one HTTP attempt; 0: MB_DDB_DEFAULT_ATTEMPT_TIMEOUT_MS */
    mb_aws_json_seams seams; /* clock and jitter source for tests; zeroed: the real ones */
} mb_ddb_config;

/* Create a client. creds are moved into it (*creds is left empty, also on failure, when they
 * are wiped). Returns NULL with err filled: MB_ERR_CONFIG (no region, bad endpoint URL),
 * MB_ERR_NOMEM, MB_ERR_IO (libcurl). */
mb_ddb *mb_ddb_new(const mb_ddb_config *cfg, mb_sigv4_credentials *creds, mb_err *err);
/* Free the client (closes the connection, wipes the credentials). Accepts NULL. */
void mb_ddb_free(mb_ddb *ddb);

/* What the last call saw: attempts made, final HTTP status (0: no answer) and the AWS error
 * type ("ConditionalCheckFailedException", "" on success), for logs and metrics. */
typedef mb_aws_json_stats mb_ddb_stats;
const mb_ddb_stats *mb_ddb_last(const mb_ddb *ddb);
/* The clock the client was configured with (for timing calls on the same clock). */
const mb_clock *mb_ddb_clock(const mb_ddb *ddb);

/* Send one operation ("GetItem", "Query"... without the DynamoDB_20120810. prefix) with the
 * request JSON body; on success `response` (reset first, caller-owned) holds the response
 * JSON. Retries throttling (ProvisionedThroughputExceededException, ThrottlingException,
 * RequestLimitExceeded), InternalServerError, any 5xx and connection errors, at most
 * max_attempts times, sleeping random() % min(max_delay, base * 2^attempt) in between, and never
 * starts an attempt or a sleep that would end past deadline_ms (0: no deadline).
 * Returns 0 or an mb_status as listed at the top. */
int mb_ddb_send(mb_ddb *ddb, const char *op, mb_cur body, int64_t deadline_ms, mb_buf *response,
                mb_err *err);

/* Marshal the Lua request table at req_idx (mb_ddb_marshal_request), send `op`, and push the
 * unmarshalled response table ([-0, +1, m] on success, [-0, +0, m] on error). Call from a Lua
 * C function or under lua_pcall: Lua may raise a memory error (no C memory is held then). */
int mb_ddb_call(mb_ddb *ddb, lua_State *L, const char *op, int req_idx, int64_t deadline_ms,
                mb_err *err);

/* BatchGetItem / BatchWriteItem: like mb_ddb_call, then re-send UnprocessedKeys /
 * UnprocessedItems (with backoff) until none remain, merging BatchGetItem's Responses. Pushes
 * the final response (Responses complete; UnprocessedX empty). If items are still unprocessed
 * after MB_DDB_BATCH_ROUNDS rounds or at the deadline, returns MB_ERR_UNAVAILABLE and pushes
 * nothing. */
int mb_ddb_batch_get(mb_ddb *ddb, lua_State *L, int req_idx, int64_t deadline_ms, mb_err *err);
int mb_ddb_batch_write(mb_ddb *ddb, lua_State *L, int req_idx, int64_t deadline_ms, mb_err *err);

/* Per-operation wrappers of mb_ddb_call. Request fields follow the AWS API: e.g. GetItem
 * {TableName, Key, ConsistentRead, ProjectionExpression, ExpressionAttributeNames}; PutItem
 * {TableName, Item, ConditionExpression, ExpressionAttributeNames/Values, ReturnValues};
 * UpdateItem {TableName, Key, UpdateExpression ("SET #a = :v REMOVE b ADD c :one"),
 * ConditionExpression, ExpressionAttributeNames/Values, ReturnValues}; DeleteItem {TableName,
 * Key, ConditionExpression, ..., ReturnValues}; Query {TableName, KeyConditionExpression,
 * FilterExpression, ProjectionExpression, Limit, ScanIndexForward = false,
 * ExclusiveStartKey, ConsistentRead, ExpressionAttributeNames/Values}. */
int mb_ddb_get_item(mb_ddb *ddb, lua_State *L, int req_idx, int64_t deadline_ms, mb_err *err);
int mb_ddb_put_item(mb_ddb *ddb, lua_State *L, int req_idx, int64_t deadline_ms, mb_err *err);
int mb_ddb_update_item(mb_ddb *ddb, lua_State *L, int req_idx, int64_t deadline_ms, mb_err *err);
int mb_ddb_delete_item(mb_ddb *ddb, lua_State *L, int req_idx, int64_t deadline_ms, mb_err *err);
int mb_ddb_query(mb_ddb *ddb, lua_State *L, int req_idx, int64_t deadline_ms, mb_err *err);

/* Idempotent updates. An UpdateItem that a retry must not apply twice (an ADD, a counter) also
 * SETs the client's marker attribute (mb_ddb_once_attr) to a fresh token (mb_ddb_once_token), on
 * the condition "attribute_not_exists(marker) OR marker <> token" (ANDed with any of its own),
 * and is sent with mb_ddb_update_once. When an attempt is applied but its answer lost, the retry
 * fails that condition; mb_ddb_update_once then reads the item back (consistent) and, when it
 * carries marker = token, reports the update done and pushes {Attributes = the item read, later
 * writes of others included} (ReturnValues ALL_NEW / UPDATED_NEW) or {} (NONE). A condition
 * that fails without an earlier attempt, or whose read-back lacks the token, stays
 * MB_ERR_CONFLICT (also for ReturnValues ALL_OLD / UPDATED_OLD, which cannot be recovered).
 * The marker's name is drawn at random when the client is created: a client sends one request
 * at a time, so no other writer can change its marker between an attempt and its retry (a
 * shared marker attribute could be overwritten by another process in between). The price: one
 * small attribute per client on each item updated so. Stack effect and errors as mb_ddb_call. */
const char *mb_ddb_once_attr(const mb_ddb *ddb);
/* Write 32 random hex digits and a NUL into token. Returns 0 or MB_ERR_IO. */
int mb_ddb_once_token(char token[33], mb_err *err);
int mb_ddb_update_once(mb_ddb *ddb, lua_State *L, int req_idx, const char *token,
                       int64_t deadline_ms, mb_err *err);

/* mb_ddb_update_once without Lua, for callers that build the request JSON themselves (quota):
 * `body` is an UpdateItem with ReturnValues NONE (or none) that SETs the marker to `token` under
 * the marker's condition. On an applied attempt whose answer was lost, returns 0 with "{}" in
 * *response; otherwise as mb_ddb_send. */
int mb_ddb_send_once(mb_ddb *ddb, mb_cur body, const char *token, int64_t deadline_ms,
                     mb_buf *response, mb_err *err);

/* Map an AWS error type (the part after '#' of __type) and HTTP status to an mb_status, and
 * tell whether it is worth retrying. Exposed for tests and for callers that log. */
int mb_ddb_map_error(mb_cur type, long http_status, bool *retryable);

#endif
