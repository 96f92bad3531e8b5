/* test_devserver_rest.c - the devserver's REST API side: request -> REST proxy event (payload
 * format 1.0) with Cognito authorizer claims, routes.lua -> REST resources (and reload), and the
 * Lambda Invoke API's checks and answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "moonbase/base64.h"
#include "moonbase/devserver_apigw.h"
#include "moonbase/devserver_invoke.h"
#include "moonbase/devserver_routes.h"

static json_t *s_rest(const mb_apigw_request *req, const mb_apigw_route *route) {
    mb_buf out = {0};
    assert_int_equal(mb_apigw_rest_event_build(req, route, "api", &out, NULL), 0);
    json_t *ev = json_loadb(out.ptr, out.len, 0, NULL);
    assert_non_null(ev);
    mb_buf_cleanup(&out);
    return ev;
}

static const char *s_at(json_t *root, const char *path) {
    json_t *v = json_object_get(root, path);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

static mb_apigw_request s_req(const mb_http_header *h, size_t n, const char *query) {
    return (mb_apigw_request){.method = "GET",
                              .raw_path = MB_CUR_LIT("/items/a%20b"),
                              .raw_query = mb_cur_from_cstr(query),
                              .protocol = "HTTP/1.1",
                              .source_ip = "127.0.0.1",
                              .headers = h,
                              .header_count = n,
                              .request_id = "rid-1",
                              .time_epoch_ms = 1583348638390LL,
                              .account_id = "000000000000",
                              .api_id = "local"};
}

static void test_devserver_rest_event_shape(void **state) {
    (void)state;
    mb_http_header h[] = {{MB_CUR_LIT("Host"), MB_CUR_LIT("localhost:3000")},
                          {MB_CUR_LIT("X-Multi"), MB_CUR_LIT("1")},
                          {MB_CUR_LIT("x-multi"), MB_CUR_LIT("2")},
                          {MB_CUR_LIT("Cookie"), MB_CUR_LIT("a=1; b=2")},
                          {MB_CUR_LIT("User-Agent"), MB_CUR_LIT("ua/1")}};
    mb_cur names[] = {MB_CUR_LIT("id")}, values[] = {MB_CUR_LIT("a b")};
    mb_apigw_route route = {"/items/{id}", names, values, 1, false};
    mb_apigw_request req = s_req(h, 5, "x=1&x=2&name=a%20b&flag");
    json_t *ev = s_rest(&req, &route);
    assert_string_equal(s_at(ev, "resource"), "/items/{id}");
    assert_string_equal(s_at(ev, "path"), "/items/a%20b");
    assert_string_equal(s_at(ev, "httpMethod"), "GET");
    assert_string_equal(s_at(json_object_get(ev, "pathParameters"), "id"), "a b");
    assert_true(json_is_null(json_object_get(ev, "stageVariables")));
    /* Header names keep their case; the last repeat in headers, all in multiValueHeaders. */
    json_t *hd = json_object_get(ev, "headers"), *mv = json_object_get(ev, "multiValueHeaders");
    assert_string_equal(s_at(hd, "X-Multi"), "2");
    assert_null(json_object_get(hd, "x-multi"));
    assert_int_equal(json_array_size(json_object_get(mv, "X-Multi")), 2);
    assert_string_equal(s_at(hd, "Cookie"), "a=1; b=2"); /* REST has no cookies array */
    assert_null(json_object_get(ev, "cookies"));
    json_t *q = json_object_get(ev, "queryStringParameters");
    json_t *mq = json_object_get(ev, "multiValueQueryStringParameters");
    assert_string_equal(s_at(q, "x"), "2");
    assert_string_equal(s_at(q, "name"), "a b");
    assert_string_equal(s_at(q, "flag"), "");
    assert_string_equal(json_string_value(json_array_get(json_object_get(mq, "x"), 0)), "1");
    json_t *rc = json_object_get(ev, "requestContext");
    assert_string_equal(s_at(rc, "resourcePath"), "/items/{id}");
    assert_string_equal(s_at(rc, "stage"), "api");
    assert_string_equal(s_at(rc, "path"), "/api/items/a%20b");
    assert_string_equal(s_at(rc, "requestTime"), "04/Mar/2020:19:03:58 +0000");
    assert_int_equal(json_integer_value(json_object_get(rc, "requestTimeEpoch")), 1583348638390LL);
    assert_string_equal(s_at(rc, "domainPrefix"), "localhost");
    json_t *id = json_object_get(rc, "identity");
    assert_string_equal(s_at(id, "sourceIp"), "127.0.0.1");
    assert_string_equal(s_at(id, "userAgent"), "ua/1");
    assert_true(json_is_null(json_object_get(id, "cognitoIdentityId")));
    assert_null(json_object_get(rc, "authorizer")); /* not a Cognito route */
    assert_true(json_is_null(json_object_get(ev, "body")));
    assert_true(json_is_false(json_object_get(ev, "isBase64Encoded")));
    json_decref(ev);
}

static void test_devserver_rest_event_empty_maps_are_null(void **state) {
    (void)state;
    mb_apigw_route route = {"/", NULL, NULL, 0, false};
    mb_apigw_request req = s_req(NULL, 0, "");
    req.raw_path = MB_CUR_LIT("/");
    json_t *ev = s_rest(&req, &route);
    assert_true(json_is_null(json_object_get(ev, "pathParameters")));
    assert_true(json_is_null(json_object_get(ev, "queryStringParameters")));
    assert_true(json_is_null(json_object_get(ev, "multiValueQueryStringParameters")));
    assert_int_equal(json_object_size(json_object_get(ev, "headers")), 0);
    json_decref(ev);
}

static void test_devserver_rest_event_body_text_or_base64(void **state) {
    (void)state;
    mb_http_header json_h[] = {{MB_CUR_LIT("content-TYPE"), MB_CUR_LIT("application/json")}};
    mb_http_header bin_h[] = {{MB_CUR_LIT("Content-Type"), MB_CUR_LIT("application/octet-stream")}};
    mb_apigw_route route = {"/{proxy+}", NULL, NULL, 0, false};
    mb_apigw_request req = s_req(json_h, 1, "");
    req.method = "POST";
    req.body = MB_CUR_LIT("{\"a\":1}");
    req.has_body = true;
    json_t *ev = s_rest(&req, &route);
    assert_string_equal(s_at(ev, "body"), "{\"a\":1}");
    assert_true(json_is_false(json_object_get(ev, "isBase64Encoded")));
    json_decref(ev);
    req.headers = bin_h;
    req.body = (mb_cur){"\x00\xff", 2};
    ev = s_rest(&req, &route);
    assert_string_equal(s_at(ev, "body"), "AP8=");
    assert_true(json_is_true(json_object_get(ev, "isBase64Encoded")));
    json_decref(ev);
}

/* A JWT with the given JSON payload (the signature is not looked at by the gateway side). */
static char *s_token(const char *payload) {
    mb_buf b = {0};
    assert_int_equal(mb_buf_append_cstr(&b, "Bearer eyJhbGciOiJSUzI1NiJ9."), 0);
    assert_int_equal(mb_base64url_encode(&b, mb_cur_from_cstr(payload)), 0);
    assert_int_equal(mb_buf_append_cstr(&b, ".c2ln"), 0);
    return mb_buf_detach(&b, NULL);
}

static void test_devserver_rest_cognito_claims_as_strings(void **state) {
    (void)state;
    char *tok =
        s_token("{\"sub\":\"u-1\",\"exp\":1513495692,\"iat\":1513492092,\"auth_time\":1513492092,"
                "\"email_verified\":true,\"cognito:groups\":[\"admins\",\"tenant-admin\"],"
                "\"custom:tenant_id\":\"t1\",\"nested\":{\"a\":1},\"gone\":null}");
    mb_http_header h[] = {{MB_CUR_LIT("authorization"), mb_cur_from_cstr(tok)}};
    mb_apigw_route route = {"/me", NULL, NULL, 0, true};
    mb_apigw_request req = s_req(h, 1, "");
    json_t *ev = s_rest(&req, &route);
    json_t *claims = json_object_get(
        json_object_get(json_object_get(ev, "requestContext"), "authorizer"), "claims");
    assert_non_null(claims);
    assert_string_equal(s_at(claims, "sub"), "u-1");
    assert_string_equal(s_at(claims, "exp"), "Sun Dec 17 07:28:12 UTC 2017");
    assert_string_equal(s_at(claims, "iat"), "Sun Dec 17 06:28:12 UTC 2017");
    assert_string_equal(s_at(claims, "auth_time"), "1513492092");
    assert_string_equal(s_at(claims, "email_verified"), "true");
    assert_string_equal(s_at(claims, "cognito:groups"), "admins,tenant-admin");
    assert_string_equal(s_at(claims, "custom:tenant_id"), "t1");
    assert_string_equal(s_at(claims, "nested"), "{\"a\":1}");
    assert_null(json_object_get(claims, "gone"));
    json_decref(ev);
    /* The same request on a public route: no authorizer object at all. */
    route.cognito = false;
    ev = s_rest(&req, &route);
    assert_null(json_object_get(json_object_get(ev, "requestContext"), "authorizer"));
    json_decref(ev);
    free(tok);
}

static void test_devserver_rest_cognito_undecodable_token(void **state) {
    (void)state;
    const char *bad[] = {"Bearer", "Bearer abc", "Bearer a.!!!.c", "Bearer a.bm90IGpzb24.c",
                         "Bearer a.WzFd.c" /* [1]: not an object */};
    mb_apigw_route route = {"/me", NULL, NULL, 0, true};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mb_http_header h[] = {{MB_CUR_LIT("Authorization"), mb_cur_from_cstr(bad[i])}};
        mb_apigw_request req = s_req(h, 1, "");
        json_t *ev = s_rest(&req, &route);
        assert_null(json_object_get(json_object_get(ev, "requestContext"), "authorizer"));
        json_decref(ev);
    }
}

static void s_write(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_devserver_rest_routes_resources_and_reload(void **state) {
    (void)state;
    char dir[] = "/tmp/mb-devroutes-XXXXXX", file[64];
    assert_non_null(mkdtemp(dir));
    snprintf(file, sizeof file, "%s/routes.lua", dir);
    s_write(
        file,
        "return { { 'GET', '/hello', 'hello' }, { 'GET', '/items/{id}', 'items', auth = true } }");
    mb_devroutes *t = mb_devroutes_new(dir, NULL);
    assert_non_null(t);
    mb_devroutes_hit hit;
    assert_int_equal(mb_devroutes_lookup(t, "GET", MB_CUR_LIT("/items/x%20y"), &hit), 0);
    assert_string_equal(hit.route.resource, "/items/{id}");
    assert_true(hit.route.cognito);
    assert_int_equal(hit.route.param_count, 1);
    assert_true(mb_cur_eq(hit.route.param_names[0], MB_CUR_LIT("id")));
    assert_true(mb_cur_eq(hit.route.param_values[0], MB_CUR_LIT("x y")));
    mb_devroutes_hit_cleanup(&hit);
    /* A method the route does not declare has no API method: the greedy resource takes it. */
    assert_int_equal(mb_devroutes_lookup(t, "DELETE", MB_CUR_LIT("/items/1"), &hit), 0);
    assert_string_equal(hit.route.resource, "/{proxy+}");
    assert_false(hit.route.cognito);
    assert_true(mb_cur_eq(hit.route.param_values[0], MB_CUR_LIT("items/1")));
    mb_devroutes_hit_cleanup(&hit);
    assert_int_equal(mb_devroutes_lookup(t, "GET", MB_CUR_LIT("/"), &hit), 0);
    assert_string_equal(hit.route.resource, "/");
    assert_int_equal(hit.route.param_count, 0);
    mb_devroutes_hit_cleanup(&hit);
    /* The platform's routes (core/tenant_api.c) win, as in the bootstrap. */
    assert_int_equal(mb_devroutes_lookup(t, "PUT", MB_CUR_LIT("/tenant/handlers/report"), &hit), 0);
    assert_string_equal(hit.route.resource, "/tenant/handlers/{name}");
    assert_true(hit.route.cognito);
    assert_true(mb_cur_eq(hit.route.param_values[0], MB_CUR_LIT("report")));
    mb_devroutes_hit_cleanup(&hit);
    assert_int_equal(mb_devroutes_lookup(t, "PATCH", MB_CUR_LIT("/t/report/a/b"), &hit), 0);
    assert_string_equal(hit.route.resource, "/t/{name}/{rest+}");
    assert_true(hit.route.cognito);
    mb_devroutes_hit_cleanup(&hit);
    /* Edited routes.lua (another size): /hello now needs a token. */
    s_write(file, "return { { 'GET', '/hello', 'hello', auth = true } }   ");
    assert_int_equal(mb_devroutes_lookup(t, "GET", MB_CUR_LIT("/hello"), &hit), 0);
    assert_string_equal(hit.route.resource, "/hello");
    assert_true(hit.route.cognito);
    mb_devroutes_hit_cleanup(&hit);
    /* A broken edit keeps the last good table. */
    s_write(file, "return { { 'GET' ");
    assert_int_equal(mb_devroutes_lookup(t, "GET", MB_CUR_LIT("/hello"), &hit), 0);
    assert_true(hit.route.cognito);
    mb_devroutes_hit_cleanup(&hit);
    mb_devroutes_free(t);
    unlink(file);
    rmdir(dir);
}

static const mb_invoke_target s_target = {"MoonbaseFunction", "moonbase-local", "us-east-1"};

static int s_check(const char *method, const char *path, const char *type, const char *payload,
                   const char *want_error) {
    mb_invoke_answer a;
    bool run = mb_invoke_check(&s_target, method, mb_cur_from_cstr(path), type,
                               mb_cur_from_cstr(payload), &a);
    if (want_error != NULL) {
        assert_non_null(a.error_type);
        assert_string_equal(a.error_type, want_error);
        json_t *doc = json_loadb(a.body.ptr, a.body.len, 0, NULL);
        assert_true(json_is_string(json_object_get(doc, "message")));
        json_decref(doc);
    }
    int status = run ? 0 : a.status;
    mb_invoke_answer_cleanup(&a);
    return status;
}

static void test_devserver_rest_invoke_checks(void **state) {
    (void)state;
    const char *ev = "{\"httpMethod\":\"GET\"}";
    assert_int_equal(
        s_check("POST", "/2015-03-31/functions/MoonbaseFunction/invocations", NULL, ev, NULL), 0);
    assert_int_equal(s_check("POST", "/2015-03-31/functions/moonbase-local/invocations",
                             "RequestResponse", ev, NULL),
                     0);
    assert_int_equal(
        s_check(
            "POST",
            "/2015-03-31/functions/"
            "arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3AMoonbaseFunction%3Alive/invocations",
            NULL, ev, NULL),
        0);
    assert_int_equal(
        s_check("POST", "/2015-03-31/functions/MoonbaseFunction/invocations", "DryRun", ev, NULL),
        204);
    assert_int_equal(s_check("POST", "/2015-03-31/functions/Other/invocations", NULL, ev,
                             "ResourceNotFoundException"),
                     404);
    assert_int_equal(s_check("POST", "/2015-03-31/functions/MoonbaseFunction:v9/invocations", NULL,
                             ev, "ResourceNotFoundException"),
                     404);
    assert_int_equal(s_check("GET", "/2015-03-31/functions/MoonbaseFunction/invocations", NULL, ev,
                             "UnknownOperationException"),
                     405);
    assert_int_equal(s_check("POST", "/2015-03-31/functions/MoonbaseFunction", NULL, ev,
                             "UnknownOperationException"),
                     404);
    assert_int_equal(s_check("POST", "/2015-03-31/functions/MoonbaseFunction/invocations", NULL,
                             "{nope", "InvalidRequestContentException"),
                     400);
    assert_int_equal(s_check("POST", "/2015-03-31/functions/MoonbaseFunction/invocations", "Event",
                             ev, "InvalidParameterValueException"),
                     400);
}

static void test_devserver_rest_invoke_answers(void **state) {
    (void)state;
    mb_pool_result res = {.outcome = MB_POOL_OK, .request_id = "r-1"};
    assert_int_equal(mb_buf_append_cstr(&res.payload, "{\"statusCode\":200}"), 0);
    mb_invoke_answer a;
    assert_int_equal(mb_invoke_answer_from(&res, 3, &a), 0);
    assert_int_equal(a.status, 200);
    assert_null(a.function_error);
    assert_string_equal(a.body.ptr, "{\"statusCode\":200}");
    mb_invoke_answer_cleanup(&a);
    res.outcome = MB_POOL_FUNC_ERROR;
    assert_int_equal(mb_invoke_answer_from(&res, 3, &a), 0);
    assert_string_equal(a.function_error, "Unhandled");
    mb_invoke_answer_cleanup(&a);
    const mb_pool_outcome bad[] = {MB_POOL_TIMEOUT, MB_POOL_CRASH, MB_POOL_TOO_LARGE};
    const char *types[] = {"Sandbox.Timedout", "Runtime.ExitError",
                           "Function.ResponseSizeTooLarge"};
    for (size_t i = 0; i < 3; i++) {
        res.outcome = bad[i];
        assert_int_equal(mb_invoke_answer_from(&res, 3, &a), 0);
        assert_int_equal(a.status, 200);
        assert_string_equal(a.function_error, "Unhandled");
        json_t *doc = json_loadb(a.body.ptr, a.body.len, 0, NULL);
        assert_string_equal(json_string_value(json_object_get(doc, "errorType")), types[i]);
        json_decref(doc);
        mb_invoke_answer_cleanup(&a);
    }
    res.outcome = MB_POOL_SHUTDOWN;
    assert_int_equal(mb_invoke_answer_from(&res, 3, &a), 0);
    assert_int_equal(a.status, 503);
    mb_invoke_answer_cleanup(&a);
    mb_buf_cleanup(&res.payload);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_devserver_rest_event_shape),
        cmocka_unit_test(test_devserver_rest_event_empty_maps_are_null),
        cmocka_unit_test(test_devserver_rest_event_body_text_or_base64),
        cmocka_unit_test(test_devserver_rest_cognito_claims_as_strings),
        cmocka_unit_test(test_devserver_rest_cognito_undecodable_token),
        cmocka_unit_test(test_devserver_rest_routes_resources_and_reload),
        cmocka_unit_test(test_devserver_rest_invoke_checks),
        cmocka_unit_test(test_devserver_rest_invoke_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
