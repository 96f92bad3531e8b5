/* quota.c - fixed-window request counters with a conditional UpdateItem (moonbase/quota.h). */
#include "moonbase/quota.h"

#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

int mb_quota_take(mb_ddb *ddb, const mb_quota_request *q, int64_t deadline_ms, int *retry_after_s,
                  mb_err *err) {
    if (q->limit == 0 || q->window_s == 0 || q->tenant.len == 0) {
        return mb_err_set(err, MB_ERR_INVALID, "quota: limit, window and tenant are required");
    }
    int64_t now_s = q->now_ms / 1000;
    int64_t start = now_s - now_s % q->window_s;
    int64_t end = start + q->window_s;
    char limit[24], expires[24], sk_head[32];
    snprintf(limit, sizeof limit, "%u", q->limit);
    snprintf(expires, sizeof expires, "%lld", (long long)(end + MB_QUOTA_EXPIRY_SLACK_S));
    snprintf(sk_head, sizeof sk_head, "%lld#", (long long)start);
    char token[33];
    int rc = mb_ddb_once_token(token, err);
    if (rc != 0) {
        return rc;
    }
    mb_buf pk = {0}, sk = {0}, resp = {0};
    rc = MB_ERR_NOMEM;
    json_t *req = NULL;
    char *body = NULL;
    if (mb_buf_append_cstr(&pk, "QUOTA#") || mb_buf_append_cur(&pk, q->tenant) ||
        mb_buf_append_cstr(&sk, sk_head) || mb_buf_append_cur(&sk, q->scope)) {
        goto fail;
    }
    /* ADD creates the counter at 1 in a new window; the condition refuses the request that would
     * take it past the limit, atomically, whichever worker sends it. The client's idempotency
     * marker (#o = :o, mb_ddb_send_once) keeps a retry whose first answer was lost from counting
     * the request twice. */
    req = json_pack("{s:s, s:{s:{s:s%}, s:{s:s%}}, s:s, s:s, s:{s:s, s:s, s:s}, s:{s:{s:s}, "
                    "s:{s:s}, s:{s:s}, s:{s:s}}}",
                    "TableName", q->table, "Key", "PK", "S", pk.ptr, pk.len, "SK", "S", sk.ptr,
                    sk.len, "UpdateExpression", "ADD #n :one SET #e = :exp, #o = :o",
                    "ConditionExpression",
                    "(attribute_not_exists(#n) OR #n < :limit) AND "
                    "(attribute_not_exists(#o) OR #o <> :o)",
                    "ExpressionAttributeNames", "#n", "requests", "#e", "expiresAt", "#o",
                    mb_ddb_once_attr(ddb), "ExpressionAttributeValues", ":one", "N", "1", ":limit",
                    "N", limit, ":exp", "N", expires, ":o", "S", token);
    body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    if (!body) {
        goto fail;
    }
    rc = mb_ddb_send_once(ddb, mb_cur_from_cstr(body), token, deadline_ms, &resp, err);
    if (rc == MB_ERR_CONFLICT) {
        int64_t left = end - now_s;
        *retry_after_s = left < 1 ? 1 : (int)left;
        rc = mb_err_set(err, MB_ERR_LIMIT, "quota of %u requests per %u s spent", q->limit,
                        q->window_s);
    }
fail:
    if (rc == MB_ERR_NOMEM) {
        mb_err_set(err, MB_ERR_NOMEM, "out of memory");
    }
    free(body);
    json_decref(req);
    mb_buf_cleanup(&pk);
    mb_buf_cleanup(&sk);
    mb_buf_cleanup(&resp);
    return rc;
}
