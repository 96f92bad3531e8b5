/* moonbase/quota.h - per-tenant request quotas: a fixed-window counter per tenant (and per route
 * where routes.lua sets `quota = N`) in the app's DynamoDB table, taken with one conditional
 * UpdateItem, so every worker, container and process shares it and the counter is the only
 * state. Counters live under PK "QUOTA#<tenant>", a partition no handler's ctx.db can name
 * (it forces PK = "TENANT#<tenant>"), and carry an expiresAt for the table's TTL.
 * Ownership: borrows the client and every view for the call. Not thread-safe (the client). */
#ifndef MOONBASE_QUOTA_H
#define MOONBASE_QUOTA_H

#include <stdint.h>

#include "moonbase/buf.h"
#include "moonbase/ddb.h"
#include "moonbase/err.h"

/* Counters outlive their window by this much before the TTL deletes them (auditing, and clock
 * skew between containers). */
#define MB_QUOTA_EXPIRY_SLACK_S 3600

typedef struct mb_quota_request {
    const char *table; /* the app's table */
    mb_cur tenant;     /* the tenant key from the verified token */
    mb_cur scope;      /* "*" for the tenant's total, else the route ("GET /items/{id}") */
    unsigned limit;    /* requests per window, > 0 */
    unsigned window_s; /* window length in seconds, > 0 */
    int64_t now_ms;    /* epoch ms */
} mb_quota_request;

/* Count one request. Returns 0 when it is within the quota; MB_ERR_LIMIT when the window's quota
 * is spent, with *retry_after_s = seconds until the window ends (>= 1); otherwise the client's
 * error (the caller decides; the app lets the request through and logs it). */
int mb_quota_take(mb_ddb *ddb, const mb_quota_request *q, int64_t deadline_ms, int *retry_after_s,
                  mb_err *err);

#endif
