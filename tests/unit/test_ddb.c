/* test_ddb.c - the DynamoDB client against a tiny scripted HTTP server running in a thread of
 * this test: request building and signing, retry with backoff on throttling (the server answers
 * ProvisionedThroughputExceededException twice, then succeeds), error mapping, deadlines,
 * connection failures, malformed responses and batch re-sends. Clock and sleep are seams. */
#define _GNU_SOURCE /* strcasestr */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "moonbase/ddb.h"
#include "moonbase/ddb_marshal.h"
#include "script_server.h"

#define MB_SCRIPT_STUCK (MB_DDB_BATCH_ROUNDS + 1)

static const char *const k_ptee =
    "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException\","
    "\"message\":\"The level of configured provisioned throughput for the table was exceeded.\"}";

/* Fake time: sleeping advances the clock, so retries take no wall time and are observable. */
typedef struct fake_clock {
    int64_t now;
    int sleeps;
    int64_t slept[32];
} fake_clock;

static int64_t fake_now(void *ud) {
    return ((fake_clock *)ud)->now;
}

static void fake_sleep(void *ud, int64_t ms) {
    fake_clock *c = ud;
    if (c->sleeps < 32) {
        c->slept[c->sleeps] = ms;
    }
    c->sleeps++;
    c->now += ms;
}

static uint64_t max_random(void *ud) {
    (void)ud;
    return 3999; /* cap - 1 for every cap (50..1000 divide 4000): the top of each range */
}

typedef struct fixture {
    script_server srv;
    fake_clock clock;
    mb_ddb *ddb;
    lua_State *L;
} fixture;

static mb_ddb *make_client(fixture *f, int port) {
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", port);
    mb_sigv4_credentials creds = {0};
    assert_int_equal(mb_sigv4_credentials_set(&creds, "AKIDTEST", "secret", "tok", NULL), 0);
    mb_ddb_config cfg = {.region = "us-east-1", .endpoint = endpoint, .attempt_timeout_ms = 2000};
    cfg.seams = (mb_aws_json_seams){{fake_now, NULL, fake_sleep, &f->clock}, max_random, NULL};
    mb_err err = {0};
    mb_ddb *d = mb_ddb_new(&cfg, &creds, &err);
    assert_non_null(d);
    return d;
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    f->clock.now = 1440938160000; /* 2015-08-30T12:36:00Z */
    script_server_start(&f->srv);
    f->ddb = make_client(f, f->srv.port);
    f->L = luaL_newstate();
    luaL_openlibs(f->L);
    mb_ddb_marshal_open(f->L);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    script_server_stop(&f->srv);
    mb_ddb_free(f->ddb);
    lua_close(f->L);
    free(f);
    return 0;
}

static void push_lua(lua_State *L, const char *expr) {
    char code[1024];
    snprintf(code, sizeof code, "return %s", expr);
    if (luaL_dostring(L, code) != LUA_OK) {
        print_error("%s\n", lua_tostring(L, -1));
        fail();
    }
}

static void test_ddb_request_is_signed_json_with_target(void **state) {
    fixture *f = *state;
    f->srv.script[0] = (script_reply){200, "{\"Item\":{\"n\":{\"N\":\"7\"},\"s\":{\"S\":\"x\"}}}"};
    f->srv.script_len = 1;
    push_lua(f->L,
             "{TableName = 'T', Key = {PK = 'TENANT#a', SK = 'ITEM#1'}, ConsistentRead = true}");
    mb_err err = {0};
    assert_int_equal(mb_ddb_get_item(f->ddb, f->L, -1, 0, &err), 0);
    lua_getfield(f->L, -1, "Item");
    lua_getfield(f->L, -1, "n");
    assert_int_equal(lua_tointeger(f->L, -1), 7);
    lua_settop(f->L, 0);
    const char *req = f->srv.last;
    assert_non_null(strstr(req, "POST / HTTP/1.1\r\n"));
    assert_non_null(strcasestr(req, "\r\nX-Amz-Target: DynamoDB_20120810.GetItem\r\n"));
    assert_non_null(strcasestr(req, "\r\nContent-Type: application/x-amz-json-1.0\r\n"));
    assert_non_null(strcasestr(req, "\r\nX-Amz-Date: 20150830T123600Z\r\n"));
    assert_non_null(strcasestr(req, "\r\nX-Amz-Security-Token: tok\r\n"));
    assert_non_null(strstr(req, "Authorization: AWS4-HMAC-SHA256 Credential=AKIDTEST/20150830/"
                                "us-east-1/dynamodb/aws4_request, SignedHeaders=content-type;host;"
                                "x-amz-date;x-amz-security-token;x-amz-target, Signature="));
    assert_null(strstr(req, "secret"));
    const char *body = strstr(req, "\r\n\r\n") + 4;
    assert_non_null(strstr(body, "\"Key\":{"));
    assert_non_null(strstr(body, "\"PK\":{\"S\":\"TENANT#a\"}"));
    assert_non_null(strstr(body, "\"ConsistentRead\":true"));
    assert_int_equal(mb_ddb_last(f->ddb)->attempts, 1);
}

static void test_ddb_retries_throttling_twice_then_succeeds(void **state) {
    fixture *f = *state;
    f->srv.script[0] = (script_reply){400, k_ptee};
    f->srv.script[1] = (script_reply){400, k_ptee};
    f->srv.script[2] = (script_reply){200, "{\"Attributes\":{\"v\":{\"N\":\"2\"}}}"};
    f->srv.script_len = 3;
    push_lua(f->L, "{TableName = 'T', Key = {PK = 'a'}, UpdateExpression = 'ADD v :one',"
                   " ExpressionAttributeValues = {[':one'] = 1}, ReturnValues = 'ALL_NEW'}");
    mb_err err = {0};
    assert_int_equal(mb_ddb_update_item(f->ddb, f->L, -1, f->clock.now + 10000, &err), 0);
    assert_int_equal(f->srv.requests, 3);
    assert_int_equal(mb_ddb_last(f->ddb)->attempts, 3);
    assert_int_equal(mb_ddb_last(f->ddb)->transport_failures, 0); /* refusals were answered */
    assert_int_equal(f->clock.sleeps, 2);
    /* full jitter below min(1000, 25 * 2^attempt): with random() at its top, 49 and 99 */
    assert_int_equal(f->clock.slept[0], 49);
    assert_int_equal(f->clock.slept[1], 99);
    lua_getfield(f->L, -1, "Attributes");
    lua_getfield(f->L, -1, "v");
    assert_int_equal(lua_tointeger(f->L, -1), 2);
}

static void test_ddb_throttling_exhausted_is_unavailable(void **state) {
    fixture *f = *state;
    for (int i = 0; i < 6; i++) {
        f->srv.script[i] = (script_reply){400, k_ptee};
    }
    f->srv.script_len = 6;
    mb_buf out = {0};
    mb_err err = {0};
    assert_int_equal(mb_ddb_send(f->ddb, "PutItem", MB_CUR_LIT("{}"), 0, &out, &err),
                     MB_ERR_UNAVAILABLE);
    assert_int_equal(f->srv.requests, MB_DDB_DEFAULT_ATTEMPTS);
    assert_string_equal(mb_ddb_last(f->ddb)->error_type, "ProvisionedThroughputExceededException");
    assert_non_null(strstr(err.msg, "ProvisionedThroughputExceededException"));
    for (int i = 0; i < f->clock.sleeps; i++) {
        assert_true(f->clock.slept[i] < MB_DDB_DEFAULT_MAX_DELAY_MS);
    }
    mb_buf_cleanup(&out);
}

static void test_ddb_deadline_stops_retries(void **state) {
    fixture *f = *state;
    for (int i = 0; i < 6; i++) {
        f->srv.script[i] =
            (script_reply){500, "{\"__type\":\"InternalServerError\",\"message\":\"x\"}"};
    }
    f->srv.script_len = 6;
    mb_buf out = {0};
    mb_err err = {0};
    int64_t deadline = f->clock.now + 120; /* room for the first sleep (49), not the second */
    assert_int_equal(mb_ddb_send(f->ddb, "Query", MB_CUR_LIT("{}"), deadline, &out, &err),
                     MB_ERR_UPSTREAM);
    assert_int_equal(f->srv.requests, 2);
    assert_true(f->clock.now < deadline);
    f->clock.now = deadline; /* already past: no attempt at all */
    assert_int_equal(mb_ddb_send(f->ddb, "Query", MB_CUR_LIT("{}"), deadline, &out, &err),
                     MB_ERR_TIMEOUT);
    assert_int_equal(f->srv.requests, 2);
    mb_buf_cleanup(&out);
}

static void expect_error(fixture *f, int http, const char *body, int want, const char *in_msg) {
    f->srv.script[f->srv.script_len++] = (script_reply){http, body};
    int before = f->srv.requests;
    mb_buf out = {0};
    mb_err err = {0};
    assert_int_equal(mb_ddb_send(f->ddb, "PutItem", MB_CUR_LIT("{}"), 0, &out, &err), want);
    assert_int_equal(f->srv.requests, before + 1); /* not retried */
    assert_non_null(strstr(err.msg, in_msg));
    mb_buf_cleanup(&out);
}

static void test_ddb_errors_are_mapped(void **state) {
    fixture *f = *state;
    expect_error(f, 400,
                 "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException\","
                 "\"message\":\"The conditional request failed\"}",
                 MB_ERR_CONFLICT, "ConditionalCheckFailedException (HTTP 400): The conditional");
    expect_error(f, 400,
                 "{\"__type\":\"com.amazon.coral.validate#ValidationException\","
                 "\"Message\":\"One or more parameter values were invalid\"}",
                 MB_ERR_INVALID, "ValidationException (HTTP 400): One or more");
    expect_error(f, 400, "{\"__type\":\"com.amazon.coral#SerializationException\"}", MB_ERR_INVALID,
                 "SerializationException");
    expect_error(f, 400,
                 "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException"
                 "\",\"message\":\"Requested resource not found\"}",
                 MB_ERR_UPSTREAM, "ResourceNotFoundException");
    expect_error(f, 403, "not json at all", MB_ERR_UPSTREAM, "HTTP 403");
    bool retry;
    assert_int_equal(mb_ddb_map_error(MB_CUR_LIT("ThrottlingException"), 400, &retry),
                     MB_ERR_UNAVAILABLE);
    assert_true(retry);
    assert_int_equal(mb_ddb_map_error(MB_CUR_LIT("RequestLimitExceeded"), 400, &retry),
                     MB_ERR_UNAVAILABLE);
    assert_true(retry);
    assert_int_equal(mb_ddb_map_error(MB_CUR_LIT(""), 502, &retry), MB_ERR_UPSTREAM);
    assert_true(retry);
    assert_int_equal(mb_ddb_map_error(MB_CUR_LIT("AccessDeniedException"), 400, &retry),
                     MB_ERR_UPSTREAM);
    assert_false(retry);
}

static void test_ddb_malformed_responses_are_refused(void **state) {
    fixture *f = *state;
    const char *bad[] = {"{\"Item\":{\"a\":{\"S\":1}}}",
                         "{\"Item\":{\"a\":{\"Z\":\"1\"}}}",
                         "{\"Items\":[{\"a\":{\"N\":\"1x\"}}]}",
                         "not json",
                         "",
                         "{\"Item\":{\"a\":{\"B\":\"%%%%\"}}}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        f->srv.script[f->srv.script_len++] = (script_reply){200, bad[i]};
        push_lua(f->L, "{TableName = 'T', Key = {PK = 'a'}}");
        mb_err err = {0};
        int top = lua_gettop(f->L);
        assert_int_equal(mb_ddb_get_item(f->ddb, f->L, -1, 0, &err), MB_ERR_UPSTREAM);
        assert_int_equal(lua_gettop(f->L), top);
        assert_non_null(strstr(err.msg, "bad response"));
        lua_settop(f->L, 0);
    }
    push_lua(f->L, "{TableName = 'T', Key = {PK = print}}");
    mb_err err = {0};
    int before = f->srv.requests;
    assert_int_equal(mb_ddb_get_item(f->ddb, f->L, -1, 0, &err), MB_ERR_INVALID);
    assert_int_equal(f->srv.requests, before); /* refused before sending */
}

static void test_ddb_connection_refused_is_unavailable(void **state) {
    fixture *f = *state;
    script_server dead = {0};
    script_server_start(&dead);
    int port = dead.port;
    script_server_stop(&dead); /* the port is closed now */
    mb_ddb *d = make_client(f, port);
    mb_buf out = {0};
    mb_err err = {0};
    assert_int_equal(mb_ddb_send(d, "GetItem", MB_CUR_LIT("{}"), 0, &out, &err),
                     MB_ERR_UNAVAILABLE);
    assert_int_equal(mb_ddb_last(d)->attempts, MB_DDB_DEFAULT_ATTEMPTS);
    /* Each attempt failed at the transport: what ddb.c's lost-answer check of a put relies on. */
    assert_int_equal(mb_ddb_last(d)->transport_failures, MB_DDB_DEFAULT_ATTEMPTS);
    assert_non_null(strstr(err.msg, "unreachable"));
    mb_buf_cleanup(&out);
    mb_ddb_free(d);
}

static void test_ddb_batch_write_resends_unprocessed_items(void **state) {
    fixture *f = *state;
    f->srv.script[0] =
        (script_reply){200, "{\"UnprocessedItems\":{\"T\":[{\"PutRequest\":{\"Item\":"
                            "{\"PK\":{\"S\":\"b\"}}}}]}}"};
    f->srv.script[1] = (script_reply){200, "{\"UnprocessedItems\":{}}"};
    f->srv.script_len = 2;
    push_lua(f->L, "{RequestItems = {T = {{PutRequest = {Item = {PK = 'a'}}},"
                   " {PutRequest = {Item = {PK = 'b'}}}}}}");
    mb_err err = {0};
    assert_int_equal(mb_ddb_batch_write(f->ddb, f->L, -1, 0, &err), 0);
    assert_int_equal(f->srv.requests, 2);
    const char *body = strstr(f->srv.last, "\r\n\r\n") + 4;
    assert_non_null(strstr(body, "{\"RequestItems\":{\"T\":[{\"PutRequest\":{\"Item\":"
                                 "{\"PK\":{\"S\":\"b\"}}}}]}}"));
    assert_int_equal(f->clock.sleeps, 1);
}

static void test_ddb_batch_get_merges_and_gives_up_when_stuck(void **state) {
    fixture *f = *state;
    const char *partial = "{\"Responses\":{\"T\":[{\"PK\":{\"S\":\"a\"}}]},\"UnprocessedKeys\":"
                          "{\"T\":{\"Keys\":[{\"PK\":{\"S\":\"b\"}}]}}}";
    f->srv.script[0] = (script_reply){200, partial};
    f->srv.script[1] = (script_reply){200, "{\"Responses\":{\"T\":[{\"PK\":{\"S\":\"b\"}}]},"
                                           "\"UnprocessedKeys\":{}}"};
    f->srv.script_len = 2;
    push_lua(f->L, "{RequestItems = {T = {Keys = {{PK = 'a'}, {PK = 'b'}}}}}");
    mb_err err = {0};
    assert_int_equal(mb_ddb_batch_get(f->ddb, f->L, -1, 0, &err), 0);
    lua_setglobal(f->L, "r");
    assert_int_equal(luaL_dostring(f->L, "assert(#r.Responses.T == 2 and r.Responses.T[1].PK == "
                                         "'a' and r.Responses.T[2].PK == 'b' and "
                                         "next(r.UnprocessedKeys) == nil)"),
                     LUA_OK);
    for (int i = 0; i < MB_SCRIPT_STUCK; i++) {
        f->srv.script[f->srv.script_len++] = (script_reply){200, partial};
    }
    int top = lua_gettop(f->L);
    assert_int_equal(mb_ddb_batch_get(f->ddb, f->L, -1, 0, &err), MB_ERR_UNAVAILABLE);
    assert_int_equal(lua_gettop(f->L), top);
    assert_non_null(strstr(err.msg, "unprocessed"));
}

/* ---- idempotent updates (mb_ddb_update_once) ---- */

static const char *const k_ccf =
    "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException\","
    "\"message\":\"The conditional request failed\"}";
static const char *const k_ise =
    "{\"__type\":\"com.amazonaws.dynamodb.v20120810#InternalServerError\",\"message\":\"x\"}";

/* An UpdateItem shaped as the callers send it: ADD plus the client's marker and its condition. */
static void push_once_update(fixture *f, const char *ret) {
    char code[768];
    snprintf(code, sizeof code,
             "{TableName = 'T', Key = {PK = 'a', SK = 'COUNT'}, UpdateExpression = 'ADD n :one "
             "SET #o = :o', ConditionExpression = 'attribute_not_exists(#o) OR #o <> :o', "
             "ExpressionAttributeNames = {['#o'] = '%s'}, ExpressionAttributeValues = {[':one'] "
             "= 1, [':o'] = 'tok-1'}, ReturnValues = '%s'}",
             mb_ddb_once_attr(f->ddb), ret);
    push_lua(f->L, code);
}

/* Script: the first attempt answered 500 (it may have been applied), the retry refused by the
 * condition, then the consistent read answering an item whose marker holds `token` (plus `more`
 * attributes). item must outlive the call. */
static void script_retry_conflict_then_read(fixture *f, char item[256], const char *token,
                                            const char *more) {
    snprintf(item, 256, "{\"Item\":{\"PK\":{\"S\":\"a\"},%s\"%s\":{\"S\":\"%s\"}}}", more,
             mb_ddb_once_attr(f->ddb), token);
    f->srv.script[0] = (script_reply){500, k_ise};
    f->srv.script[1] = (script_reply){400, k_ccf};
    f->srv.script[2] = (script_reply){200, item};
    f->srv.script_len = 3;
}

static void test_ddb_once_marker_is_per_client(void **state) {
    fixture *f = *state;
    const char *m = mb_ddb_once_attr(f->ddb);
    assert_int_equal(strlen(m), 8 + 16);
    assert_memory_equal(m, "mb_once_", 8);
    mb_ddb *other = make_client(f, f->srv.port);
    assert_string_not_equal(mb_ddb_once_attr(other), m);
    mb_ddb_free(other);
    char t1[33], t2[33];
    assert_int_equal(mb_ddb_once_token(t1, NULL), 0);
    assert_int_equal(mb_ddb_once_token(t2, NULL), 0);
    assert_int_equal(strlen(t1), 32);
    assert_string_not_equal(t1, t2);
}

/* The first attempt was applied but answered 500; the retry meets its own marker (409); the read
 * finds the token: done, answered with the item read. */
static void test_ddb_once_retry_meeting_its_own_write_is_done(void **state) {
    fixture *f = *state;
    char item[256];
    script_retry_conflict_then_read(f, item, "tok-1", "\"n\":{\"N\":\"3\"},");
    push_once_update(f, "ALL_NEW");
    mb_err err = {0};
    assert_int_equal(mb_ddb_update_once(f->ddb, f->L, -1, "tok-1", f->clock.now + 10000, &err), 0);
    assert_int_equal(f->srv.requests, 3);
    assert_non_null(strcasestr(f->srv.last, "X-Amz-Target: DynamoDB_20120810.GetItem"));
    assert_non_null(strstr(f->srv.last, "\"ConsistentRead\":true"));
    assert_non_null(strstr(f->srv.last, "\"SK\":{\"S\":\"COUNT\"}"));
    lua_getfield(f->L, -1, "Attributes");
    lua_getfield(f->L, -1, "n");
    assert_int_equal(lua_tointeger(f->L, -1), 3);
}

/* A failed condition on the first attempt is a real conflict: no read-back. */
static void test_ddb_once_first_attempt_conflict_stays_conflict(void **state) {
    fixture *f = *state;
    f->srv.script[0] = (script_reply){400, k_ccf};
    f->srv.script_len = 1;
    push_once_update(f, "ALL_NEW");
    int top = lua_gettop(f->L);
    mb_err err = {0};
    assert_int_equal(mb_ddb_update_once(f->ddb, f->L, -1, "tok-1", f->clock.now + 10000, &err),
                     MB_ERR_CONFLICT);
    assert_int_equal(f->srv.requests, 1);
    assert_int_equal(lua_gettop(f->L), top);
}

/* After a retry, a read-back without the token (someone else's write failed the condition), or
 * an ALL_OLD update (its old values are gone), keeps the 409. */
static void test_ddb_once_retry_conflict_without_token_stays_conflict(void **state) {
    fixture *f = *state;
    char item[256];
    script_retry_conflict_then_read(f, item, "tok-0", "");
    f->srv.script[3] = (script_reply){500, k_ise};
    f->srv.script[4] = (script_reply){400, k_ccf};
    f->srv.script_len = 5;
    push_once_update(f, "ALL_NEW");
    mb_err err = {0};
    assert_int_equal(mb_ddb_update_once(f->ddb, f->L, -1, "tok-1", f->clock.now + 10000, &err),
                     MB_ERR_CONFLICT);
    assert_int_equal(f->srv.requests, 3);
    lua_settop(f->L, 0);
    push_once_update(f, "ALL_OLD");
    assert_int_equal(mb_ddb_update_once(f->ddb, f->L, -1, "tok-1", f->clock.now + 10000, &err),
                     MB_ERR_CONFLICT);
    assert_int_equal(f->srv.requests, 5); /* no read: nothing to recover */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ddb_request_is_signed_json_with_target, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ddb_retries_throttling_twice_then_succeeds, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ddb_throttling_exhausted_is_unavailable, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ddb_deadline_stops_retries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ddb_errors_are_mapped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ddb_malformed_responses_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ddb_connection_refused_is_unavailable, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ddb_batch_write_resends_unprocessed_items, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ddb_batch_get_merges_and_gives_up_when_stuck, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ddb_once_marker_is_per_client, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ddb_once_retry_meeting_its_own_write_is_done, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ddb_once_first_attempt_conflict_stays_conflict, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ddb_once_retry_conflict_without_token_stays_conflict,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
