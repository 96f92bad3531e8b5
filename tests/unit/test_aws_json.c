/* test_aws_json.c - the AWS JSON-protocol client on its own, configured as Secrets Manager (a
 * second service beside DynamoDB): target and content type headers, SigV4 scope, the default
 * endpoint, the shared error mapping and retries inside the deadline, against the scripted
 * HTTP server of test_ddb. Clock, sleep and jitter are seams. */
#define _GNU_SOURCE /* strcasestr */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moonbase/aws_json.h"
#include "script_server.h"

typedef struct fake_clock {
    int64_t now;
    int sleeps;
    int64_t slept_total;
} fake_clock;

static int64_t fake_now(void *ud) {
    return ((fake_clock *)ud)->now;
}

static void fake_sleep(void *ud, int64_t ms) {
    fake_clock *c = ud;
    c->sleeps++;
    c->slept_total += ms;
    c->now += ms;
}

static uint64_t top_random(void *ud) {
    (void)ud;
    return 3999; /* cap - 1 for every cap 50..1000 (they divide 4000) */
}

typedef struct fixture {
    script_server srv;
    fake_clock clock;
    mb_aws_json *sm;
} fixture;

static mb_aws_json_config sm_config(fixture *f, const char *endpoint) {
    mb_aws_json_config cfg = {.label = "Secrets Manager",
                              .service = "secretsmanager",
                              .target_prefix = "secretsmanager",
                              .content_type = "application/x-amz-json-1.1",
                              .region = "eu-west-1",
                              .endpoint = endpoint,
                              .attempt_timeout_ms = 2000};
    cfg.seams = (mb_aws_json_seams){{fake_now, NULL, fake_sleep, &f->clock}, top_random, NULL};
    return cfg;
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    f->clock.now = 1440938160000; /* 2015-08-30T12:36:00Z */
    script_server_start(&f->srv);
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", f->srv.port);
    mb_sigv4_credentials creds = {0};
    assert_int_equal(mb_sigv4_credentials_set(&creds, "AKIDTEST", "secret", NULL, NULL), 0);
    mb_aws_json_config cfg = sm_config(f, endpoint);
    mb_err err = {0};
    f->sm = mb_aws_json_new(&cfg, &creds, &err);
    assert_non_null(f->sm);
    assert_null(creds.secret_access_key); /* moved into the client */
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    script_server_stop(&f->srv);
    mb_aws_json_free(f->sm);
    free(f);
    return 0;
}

static void test_aws_json_call_sends_target_type_and_scope(void **state) {
    fixture *f = *state;
    f->srv.script[0] = (script_reply){200, "{\"Name\":\"db\",\"SecretString\":\"s3cr3t\"}"};
    f->srv.script_len = 1;
    mb_cur out;
    mb_err err = {0};
    assert_int_equal(mb_aws_json_call(f->sm, "GetSecretValue", MB_CUR_LIT("{\"SecretId\":\"db\"}"),
                                      0, &out, &err),
                     0);
    assert_true(mb_cur_eq(out, MB_CUR_LIT("{\"Name\":\"db\",\"SecretString\":\"s3cr3t\"}")));
    const char *req = f->srv.last;
    assert_non_null(strcasestr(req, "\r\nX-Amz-Target: secretsmanager.GetSecretValue\r\n"));
    assert_non_null(strcasestr(req, "\r\nContent-Type: application/x-amz-json-1.1\r\n"));
    assert_non_null(strstr(req, "Credential=AKIDTEST/20150830/eu-west-1/secretsmanager/"
                                "aws4_request, SignedHeaders=content-type;host;x-amz-date;"
                                "x-amz-target, Signature="));
    assert_null(strcasestr(req, "X-Amz-Security-Token")); /* none given: none sent */
    assert_non_null(strstr(req, "\r\n\r\n{\"SecretId\":\"db\"}"));
    assert_int_equal(mb_aws_json_last(f->sm)->attempts, 1);
    assert_int_equal(mb_aws_json_last(f->sm)->http_status, 200);
}

static void test_aws_json_errors_carry_label_type_and_status(void **state) {
    fixture *f = *state;
    f->srv.script[0] = (script_reply){
        400, "{\"__type\":\"ResourceNotFoundException\",\"Message\":\"Secrets Manager can't find "
             "the specified secret.\"}"};
    f->srv.script[1] = (script_reply){400, "{\"__type\":\"InvalidParameterException\"}"};
    f->srv.script_len = 2;
    mb_cur out;
    mb_err err = {0};
    assert_int_equal(mb_aws_json_call(f->sm, "GetSecretValue", MB_CUR_LIT("{}"), 0, &out, &err),
                     MB_ERR_UPSTREAM);
    assert_string_equal(err.msg, "Secrets Manager ResourceNotFoundException (HTTP 400): Secrets "
                                 "Manager can't find the specified secret.");
    assert_string_equal(mb_aws_json_last(f->sm)->error_type, "ResourceNotFoundException");
    assert_int_equal(out.len, 0);
    assert_int_equal(mb_aws_json_call(f->sm, "GetSecretValue", MB_CUR_LIT("{}"), 0, &out, &err),
                     MB_ERR_INVALID);
    assert_int_equal(f->srv.requests, 2); /* neither retried */
}

static void test_aws_json_internal_error_retried_within_deadline(void **state) {
    fixture *f = *state;
    for (int i = 0; i < 5; i++) {
        f->srv.script[i] = (script_reply){500, "{\"__type\":\"InternalServiceError\"}"};
    }
    f->srv.script[5] = (script_reply){200, "{}"};
    f->srv.script_len = 6;
    mb_cur out;
    mb_err err = {0};
    /* Sleeps at the top of each range: 49, 99, 199, 399. A deadline 300 ms away admits the
     * first two (148 ms), not the third (347 ms). */
    int64_t deadline = f->clock.now + 300;
    assert_int_equal(
        mb_aws_json_call(f->sm, "GetSecretValue", MB_CUR_LIT("{}"), deadline, &out, &err),
        MB_ERR_UPSTREAM);
    assert_int_equal(f->srv.requests, 3);
    assert_int_equal(f->clock.sleeps, 2);
    assert_int_equal(f->clock.slept_total, 148);
    assert_non_null(strstr(err.msg, "InternalServiceError (HTTP 500)"));
    /* the backoff of a caller's own loop follows the same rule */
    assert_false(mb_aws_json_backoff(f->sm, 3, deadline)); /* 399 ms would pass it */
    assert_true(mb_aws_json_backoff(f->sm, 1, 0));         /* no deadline: sleeps 49 */
    assert_int_equal(f->clock.slept_total, 197);
}

static void test_aws_json_map_error_covers_both_services(void **state) {
    (void)state;
    bool retry;
    assert_int_equal(mb_aws_json_map_error(MB_CUR_LIT("TooManyRequestsException"), 400, &retry),
                     MB_ERR_UNAVAILABLE);
    assert_true(retry);
    assert_int_equal(mb_aws_json_map_error(MB_CUR_LIT("ServiceUnavailable"), 503, &retry),
                     MB_ERR_UNAVAILABLE);
    assert_true(retry);
    assert_int_equal(mb_aws_json_map_error(MB_CUR_LIT("InvalidRequestException"), 400, &retry),
                     MB_ERR_INVALID);
    assert_false(retry);
    assert_int_equal(mb_aws_json_map_error(MB_CUR_LIT("DecryptionFailure"), 400, &retry),
                     MB_ERR_UPSTREAM);
    assert_false(retry);
    assert_int_equal(
        mb_aws_json_map_error(MB_CUR_LIT("ConditionalCheckFailedException"), 400, &retry),
        MB_ERR_CONFLICT);
}

static void test_aws_json_config_is_validated(void **state) {
    fixture *f = *state;
    const char *bad[] = {"ftp://x", "http://", "http://h/path", "http://h?q=1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mb_sigv4_credentials creds = {0};
        assert_int_equal(mb_sigv4_credentials_set(&creds, "AKID", "secret", NULL, NULL), 0);
        mb_aws_json_config cfg = sm_config(f, bad[i]);
        mb_err err = {0};
        assert_null(mb_aws_json_new(&cfg, &creds, &err));
        assert_int_equal(err.status, MB_ERR_CONFIG);
        assert_non_null(strstr(err.msg, "Secrets Manager endpoint must"));
        assert_null(creds.secret_access_key); /* wiped on failure too */
    }
    mb_sigv4_credentials creds = {0};
    mb_aws_json_config cfg = sm_config(f, NULL);
    cfg.target_prefix = NULL;
    mb_err err = {0};
    assert_null(mb_aws_json_new(&cfg, &creds, &err));
    assert_int_equal(err.status, MB_ERR_CONFIG);
    cfg = sm_config(f, NULL);
    cfg.region = "";
    assert_null(mb_aws_json_new(&cfg, &creds, &err));
    assert_non_null(strstr(err.msg, "AWS_REGION"));
    /* no endpoint: the service's regional one (not contacted here) */
    cfg = sm_config(f, NULL);
    mb_aws_json *c = mb_aws_json_new(&cfg, &creds, &err);
    assert_non_null(c);
    mb_aws_json_free(c);
    mb_aws_json_free(NULL);
}

static void test_aws_json_bad_operation_is_refused_unsent(void **state) {
    fixture *f = *state;
    mb_cur out;
    mb_err err = {0};
    assert_int_equal(mb_aws_json_call(f->sm, "", MB_CUR_LIT("{}"), 0, &out, &err), MB_ERR_INVALID);
    assert_int_equal(f->srv.requests, 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        T(test_aws_json_call_sends_target_type_and_scope),
        T(test_aws_json_errors_carry_label_type_and_status),
        T(test_aws_json_internal_error_retried_within_deadline),
        T(test_aws_json_map_error_covers_both_services),
        T(test_aws_json_config_is_validated),
        T(test_aws_json_bad_operation_is_refused_unsent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
