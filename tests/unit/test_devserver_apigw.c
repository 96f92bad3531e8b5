/* test_devserver_apigw.c - request -> HTTP API v2 event, Lambda proxy response -> HTTP answer,
 * and the codecs behind them; plus the static file resolver's refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "moonbase/base64.h"
#include "moonbase/devserver_apigw.h"
#include "moonbase/text.h"
#include "moonbase/devserver_static.h"

static json_t *s_build(const mb_apigw_request *req) {
    mb_buf out = {0};
    assert_int_equal(mb_apigw_event_build(req, &out, NULL), 0);
    json_error_t e;
    json_t *ev = json_loadb(out.ptr, out.len, 0, &e);
    assert_non_null(ev);
    mb_buf_cleanup(&out);
    return ev;
}

static const char *s_str(json_t *root, const char *path) {
    json_t *v = json_object_get(root, path);
    assert_non_null(v);
    return json_string_value(v);
}

static mb_apigw_request s_req(const mb_http_header *h, size_t n) {
    return (mb_apigw_request){.method = "GET",
                              .raw_path = MB_CUR_LIT("/hello"),
                              .raw_query = MB_CUR_LIT("name=a%20b&x=1&x=2&flag&q=1+2"),
                              .protocol = "HTTP/1.1",
                              .source_ip = "127.0.0.1",
                              .headers = h,
                              .header_count = n,
                              .request_id = "rid-1",
                              .time_epoch_ms = 1583348638390LL,
                              .account_id = "000000000000",
                              .api_id = "local"};
}

static void test_devserver_apigw_event_v2_shape(void **state) {
    (void)state;
    mb_http_header h[] = {{MB_CUR_LIT("Host"), MB_CUR_LIT("localhost:3000")},
                          {MB_CUR_LIT("X-Multi"), MB_CUR_LIT("1")},
                          {MB_CUR_LIT("x-multi"), MB_CUR_LIT("2")},
                          {MB_CUR_LIT("Cookie"), MB_CUR_LIT("a=1; b=2;;  c=3")},
                          {MB_CUR_LIT("User-Agent"), MB_CUR_LIT("ua/1")},
                          {MB_CUR_LIT("X-Bin"), MB_CUR_LIT("\xff\xfe")}};
    mb_apigw_request req = s_req(h, 6);
    json_t *ev = s_build(&req);
    assert_string_equal(s_str(ev, "version"), "2.0");
    assert_string_equal(s_str(ev, "routeKey"), "$default");
    assert_string_equal(s_str(ev, "rawPath"), "/hello");
    assert_string_equal(s_str(ev, "rawQueryString"), "name=a%20b&x=1&x=2&flag&q=1+2");
    json_t *hd = json_object_get(ev, "headers");
    assert_string_equal(s_str(hd, "x-multi"), "1,2");
    assert_string_equal(s_str(hd, "host"), "localhost:3000");
    assert_string_equal(s_str(hd, "x-bin"), "\xef\xbf\xbd\xef\xbf\xbd");
    assert_null(json_object_get(hd, "cookie"));
    json_t *ck = json_object_get(ev, "cookies");
    assert_int_equal(json_array_size(ck), 3);
    assert_string_equal(json_string_value(json_array_get(ck, 2)), "c=3");
    json_t *q = json_object_get(ev, "queryStringParameters");
    assert_string_equal(s_str(q, "name"), "a b");
    assert_string_equal(s_str(q, "x"), "1,2");
    assert_string_equal(s_str(q, "flag"), "");
    assert_string_equal(s_str(q, "q"), "1 2");
    json_t *rc = json_object_get(ev, "requestContext");
    json_t *http = json_object_get(rc, "http");
    assert_string_equal(s_str(http, "method"), "GET");
    assert_string_equal(s_str(http, "userAgent"), "ua/1");
    assert_string_equal(s_str(rc, "time"), "04/Mar/2020:19:03:58 +0000");
    assert_string_equal(s_str(rc, "domainPrefix"), "localhost");
    assert_int_equal(json_integer_value(json_object_get(rc, "timeEpoch")), 1583348638390LL);
    assert_null(json_object_get(ev, "body"));
    assert_true(json_is_false(json_object_get(ev, "isBase64Encoded")));
    json_decref(ev);
}

static void test_devserver_apigw_event_body_text_or_base64(void **state) {
    (void)state;
    mb_http_header json_ct[] = {{MB_CUR_LIT("content-type"), MB_CUR_LIT("application/json")}};
    mb_apigw_request req = s_req(json_ct, 1);
    req.body = MB_CUR_LIT("{\"a\":1}");
    req.has_body = true;
    json_t *ev = s_build(&req);
    assert_string_equal(s_str(ev, "body"), "{\"a\":1}");
    assert_true(json_is_false(json_object_get(ev, "isBase64Encoded")));
    json_decref(ev);
    mb_http_header bin_ct[] = {{MB_CUR_LIT("Content-Type"), MB_CUR_LIT("image/png")}};
    req = s_req(bin_ct, 1);
    req.body = (mb_cur){"\x00\xff\x01", 3};
    req.has_body = true;
    ev = s_build(&req);
    assert_string_equal(s_str(ev, "body"), "AP8B");
    assert_true(json_is_true(json_object_get(ev, "isBase64Encoded")));
    json_decref(ev);
    req = s_req(json_ct, 1); /* "JSON" that is not UTF-8 cannot travel as a JSON string */
    req.body = (mb_cur){"\"\xc3\x28\"", 4};
    req.has_body = true;
    ev = s_build(&req);
    assert_true(json_is_true(json_object_get(ev, "isBase64Encoded")));
    json_decref(ev);
}

static void test_devserver_apigw_b64_roundtrip_and_rejects(void **state) {
    (void)state;
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        mb_buf e = {0}, d = {0};
        assert_int_equal(mb_base64_encode(&e, mb_cur_from_cstr(in[i])), 0);
        assert_string_equal(e.ptr ? e.ptr : "", enc[i]);
        assert_int_equal(mb_base64_decode(&d, mb_cur_from_cstr(enc[i]), NULL), 0);
        assert_int_equal(d.len, strlen(in[i]));
        assert_memory_equal(d.ptr ? d.ptr : "", in[i], d.len);
        mb_buf_cleanup(&e);
        mb_buf_cleanup(&d);
    }
    const char *bad[] = {"Z", "Zm9v!", "Zg=", "Zg===", "Z=g="};
    for (size_t i = 0; i < 5; i++) {
        mb_buf d = {0};
        assert_int_equal(mb_base64_decode(&d, mb_cur_from_cstr(bad[i]), NULL), MB_ERR_INVALID);
        mb_buf_cleanup(&d);
    }
}

static void test_devserver_apigw_utf8_and_pct(void **state) {
    (void)state;
    assert_true(mb_text_utf8_valid(MB_CUR_LIT("h\xc3\xa9llo \xf0\x9f\x8c\x99")));
    assert_false(mb_text_utf8_valid(MB_CUR_LIT("\xc0\xaf")));         /* overlong */
    assert_false(mb_text_utf8_valid(MB_CUR_LIT("\xed\xa0\x80")));     /* surrogate */
    assert_false(mb_text_utf8_valid(MB_CUR_LIT("\xf4\x90\x80\x80"))); /* > U+10FFFF */
    assert_false(mb_text_utf8_valid(MB_CUR_LIT("\xe2\x82")));         /* truncated */
    mb_buf b = {0};
    assert_int_equal(mb_text_pct_decode_buf(&b, MB_CUR_LIT("a%2Fb+c%zz%4"), MB_TEXT_PCT_PLUS_SPACE),
                     0);
    assert_string_equal(b.ptr, "a/b c%zz%4");
    mb_buf_cleanup(&b);
}

static void test_devserver_apigw_response_proxy(void **state) {
    (void)state;
    mb_apigw_response r;
    mb_cur p =
        MB_CUR_LIT("{\"statusCode\":201,\"headers\":{\"Content-Type\":\"text/plain\","
                   "\"X-N\":5,\"X-Null\":null},\"multiValueHeaders\":{\"X-M\":[\"a\",\"b\"]},"
                   "\"cookies\":[\"s=1; HttpOnly\"],\"body\":\"aGk=\","
                   "\"isBase64Encoded\":true}");
    assert_int_equal(mb_apigw_response_parse(p, &r, NULL), 0);
    assert_int_equal(r.status, 201);
    assert_string_equal(mb_apigw_response_header(&r, "content-type"), "text/plain");
    assert_string_equal(mb_apigw_response_header(&r, "x-n"), "5");
    assert_null(mb_apigw_response_header(&r, "x-null"));
    assert_string_equal(mb_apigw_response_header(&r, "set-cookie"), "s=1; HttpOnly");
    assert_int_equal(r.header_count, 5);
    assert_int_equal(r.body.len, 2);
    assert_memory_equal(r.body.ptr, "hi", 2);
    mb_apigw_response_cleanup(&r);
    /* 2.0 inference: JSON without statusCode is a 200 JSON body. */
    assert_int_equal(mb_apigw_response_parse(MB_CUR_LIT("{\"a\":1}"), &r, NULL), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(mb_apigw_response_header(&r, "content-type"), "application/json");
    assert_memory_equal(r.body.ptr, "{\"a\":1}", 7);
    mb_apigw_response_cleanup(&r);
    assert_int_equal(mb_apigw_response_parse(MB_CUR_LIT("{\"statusCode\":204.0}"), &r, NULL), 0);
    assert_int_equal(r.status, 204);
    assert_int_equal(r.body.len, 0);
    mb_apigw_response_cleanup(&r);
}

static void test_devserver_apigw_response_malformed(void **state) {
    (void)state;
    const char *bad[] = {
        "not json",
        "{\"statusCode\":99}",
        "{\"statusCode\":200.5}",
        "{\"statusCode\":\"200\"}",
        "{\"statusCode\":200,\"body\":{}}",
        "{\"statusCode\":200,\"headers\":[]}",
        "{\"statusCode\":200,\"headers\":{\"X\":\"a\\r\\nInjected: 1\"}}",
        "{\"statusCode\":200,\"headers\":{\"Bad Name\":\"a\"}}",
        "{\"statusCode\":200,\"headers\":{\"X\":{}}}",
        "{\"statusCode\":200,\"cookies\":[1]}",
        "{\"statusCode\":200,\"body\":\"!!\",\"isBase64Encoded\":true}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mb_apigw_response r;
        mb_err err = {0};
        assert_int_equal(mb_apigw_response_parse(mb_cur_from_cstr(bad[i]), &r, &err),
                         MB_ERR_INVALID);
        assert_true(strlen(err.msg) > 0);
        assert_null(r.headers);
    }
}

static void test_devserver_static_refuses_escapes(void **state) {
    (void)state;
    char dir[] = "/tmp/mb-static-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char root[PATH_MAX], path[PATH_MAX + 32];
    snprintf(root, sizeof root, "%s/site", dir);
    assert_int_equal(mkdir(root, 0700), 0);
    snprintf(path, sizeof path, "%s/index.html", root);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(path, sizeof path, "%s/secret", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(path, sizeof path, "%s/link", root);
    assert_int_equal(symlink("../secret", path), 0);
    char *out = NULL;
    assert_int_equal(mb_static_resolve(root, MB_CUR_LIT("/"), &out, NULL), 0);
    assert_non_null(strstr(out, "/site/index.html"));
    free(out);
    const char *refused[] = {"/../secret",     "/%2e%2e/secret", "/..%2fsecret", "/.hidden",
                             "/a\\..\\secret", "/x%00y",         "relative"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        assert_int_equal(mb_static_resolve(root, mb_cur_from_cstr(refused[i]), &out, NULL),
                         MB_ERR_INVALID);
        assert_null(out);
    }
    assert_int_equal(mb_static_resolve(root, MB_CUR_LIT("/link"), &out, NULL), MB_ERR_NOTFOUND);
    assert_int_equal(mb_static_resolve(root, MB_CUR_LIT("/nope.js"), &out, NULL), MB_ERR_NOTFOUND);
    assert_string_equal(mb_static_content_type("a/b.JS"), "text/javascript; charset=utf-8");
    assert_string_equal(mb_static_content_type("a.d/b"), "application/octet-stream");
    unlink(path);
    snprintf(path, sizeof path, "%s/index.html", root);
    unlink(path);
    rmdir(root);
    snprintf(path, sizeof path, "%s/secret", dir);
    unlink(path);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_devserver_apigw_event_v2_shape),
        cmocka_unit_test(test_devserver_apigw_event_body_text_or_base64),
        cmocka_unit_test(test_devserver_apigw_b64_roundtrip_and_rejects),
        cmocka_unit_test(test_devserver_apigw_utf8_and_pct),
        cmocka_unit_test(test_devserver_apigw_response_proxy),
        cmocka_unit_test(test_devserver_apigw_response_malformed),
        cmocka_unit_test(test_devserver_static_refuses_escapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
