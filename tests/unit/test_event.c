/* test_event.c - API Gateway v1/v2 events -> request tables and response tables -> proxy
 * responses: field mapping, multi-value headers and query strings, cookies, base64 bodies,
 * response validation (status, header injection, lists, cookies, binary and JSON bodies), the
 * limits (431, 413) and every malformed event. Proxy responses are parsed back with jansson. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <lauxlib.h>
#include <lualib.h>

#include "moonbase/base64.h"
#include "moonbase/event.h"
#include "moonbase/json.h"
#include "moonbase/lua_api.h"

typedef struct alloc_ctl {
    size_t count, fail_at;
} alloc_ctl;

static void *s_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    alloc_ctl *c = ud;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    if (nsize > (ptr ? osize : 0) && c->fail_at && ++c->count >= c->fail_at) {
        return NULL;
    }
    return realloc(ptr, nsize);
}

typedef struct fixture {
    lua_State *L;
    alloc_ctl ctl;
    mb_event ev;
    mb_err err;
    mb_buf out;
    json_t *resp;
} fixture;

static lua_State *new_state(alloc_ctl *c) {
    lua_State *L = lua_newstate(s_alloc, c);
    luaL_openlibs(L);
    mb_lua_aux_open(L); /* the array metatable */
    return L;
}

static int setup(void **state) {
    fixture *fx = calloc(1, sizeof *fx);
    fx->L = new_state(&fx->ctl);
    *state = fx;
    return 0;
}

static int teardown(void **state) {
    fixture *fx = *state;
    json_decref(fx->resp);
    mb_buf_cleanup(&fx->out);
    lua_close(fx->L);
    free(fx);
    return 0;
}

/* Decode the event text and convert it; on success the request table is on the top (event
 * below it). Returns the conversion status. */
static int to_req_len(fixture *fx, const char *text, size_t len) {
    lua_settop(fx->L, 0);
    fx->err = (mb_err){0};
    if (mb_json_decode(fx->L, (mb_cur){text, len}, MB_JSON_MAX_DEPTH, &fx->err) != 0) {
        fail_msg("event JSON: %s", fx->err.msg);
    }
    int rc = mb_event_to_request(fx->L, -1, &fx->ev, &fx->err);
    assert_int_equal(lua_gettop(fx->L), rc == 0 ? 2 : 1);
    return rc;
}

static int to_req(fixture *fx, const char *text) {
    return to_req_len(fx, text, strlen(text));
}

/* req[a] (or req[a][b]) as a string, NULL when absent; valid while the request is on the stack. */
static const char *req_str(fixture *fx, const char *a, const char *b) {
    lua_State *L = fx->L;
    lua_getfield(L, 2, a);
    if (b) {
        lua_getfield(L, -1, b);
        lua_remove(L, -2);
    }
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    lua_pop(L, 1); /* still referenced by the request table */
    return s;
}

/* Encode the response table produced by Lua `code` for event version `version`. */
static int encode(fixture *fx, int version, const char *code, const mb_event_header *extra,
                  size_t nextra, int *status) {
    lua_State *L = fx->L;
    lua_settop(L, 0);
    if (luaL_dostring(L, code) != LUA_OK) {
        fail_msg("lua: %s", lua_tostring(L, -1));
    }
    mb_event ev = {.version = version};
    fx->err = (mb_err){0};
    json_decref(fx->resp);
    fx->resp = NULL;
    mb_buf_append_cstr(&fx->out, "stale");
    int rc = mb_event_encode_response(L, 1, &ev, extra, nextra, &fx->out, status, &fx->err);
    assert_int_equal(lua_gettop(L), 1);
    if (rc == 0) {
        json_error_t je;
        fx->resp = json_loadb(fx->out.ptr, fx->out.len, 0, &je);
        if (!fx->resp) {
            fail_msg("not JSON (%s): %s", je.text, fx->out.ptr);
        }
    } else {
        assert_int_equal(fx->out.len, 0);
    }
    return rc;
}

static const char *resp_header(fixture *fx, const char *name) {
    return json_string_value(json_object_get(json_object_get(fx->resp, "headers"), name));
}

static const char *resp_body(fixture *fx) {
    return json_string_value(json_object_get(fx->resp, "body"));
}

static const char s_v2[] =
    "{\"version\":\"2.0\",\"routeKey\":\"$default\",\"rawPath\":\"/items/5\","
    "\"rawQueryString\":\"a=1&b=x%20y\",\"cookies\":[\"sid=abc\",\"theme=dark; lang=en\"],"
    "\"headers\":{\"Content-Type\":\"application/json\",\"X-Custom\":\"v1,v2\","
    "\"origin\":\"https://app.example\",\"authorization\":\"Bearer t\"},"
    "\"queryStringParameters\":{\"a\":\"1\",\"b\":\"x y\"},"
    "\"requestContext\":{\"http\":{\"method\":\"PUT\",\"path\":\"/items/5\","
    "\"sourceIp\":\"198.51.100.1\"},\"requestId\":\"rid-2\"},"
    "\"body\":\"{\\\"x\\\":1}\",\"isBase64Encoded\":false}";

static void test_event_v2_request_fields(void **state) {
    fixture *fx = *state;
    assert_int_equal(to_req(fx, s_v2), 0);
    assert_int_equal(fx->ev.version, 2);
    assert_string_equal(req_str(fx, "method", NULL), "PUT");
    assert_string_equal(req_str(fx, "path", NULL), "/items/5");
    assert_string_equal(req_str(fx, "request_id", NULL), "rid-2");
    assert_string_equal(req_str(fx, "source_ip", NULL), "198.51.100.1");
    assert_string_equal(req_str(fx, "headers", "content-type"), "application/json");
    assert_string_equal(req_str(fx, "headers", "x-custom"), "v1,v2");
    assert_null(req_str(fx, "headers", "X-Custom"));
    assert_string_equal(req_str(fx, "query", "b"), "x y");
    assert_string_equal(req_str(fx, "cookies", "sid"), "abc");
    assert_string_equal(req_str(fx, "cookies", "theme"), "dark");
    assert_string_equal(req_str(fx, "cookies", "lang"), "en");
    assert_string_equal(req_str(fx, "body", NULL), "{\"x\":1}");
    assert_int_equal(fx->ev.body_len, 7);
    assert_true(mb_cur_eq(fx->ev.origin, MB_CUR_LIT("https://app.example")));
    assert_true(mb_cur_eq(fx->ev.authorization, MB_CUR_LIT("Bearer t")));
    assert_true(mb_cur_eq(fx->ev.content_type, MB_CUR_LIT("application/json")));
    assert_true(mb_cur_eq(fx->ev.method, MB_CUR_LIT("PUT")));
    lua_getfield(fx->L, 2, "params");
    assert_true(lua_istable(fx->L, -1));
    lua_pop(fx->L, 1);
}

static void test_event_v2_minimal_and_base64_body(void **state) {
    fixture *fx = *state;
    assert_int_equal(to_req(fx, "{\"version\":\"2.0\",\"rawPath\":\"/\",\"requestContext\":"
                                "{\"http\":{\"method\":\"GET\"}}}"),
                     0);
    assert_string_equal(req_str(fx, "body", NULL), "");
    assert_string_equal(req_str(fx, "request_id", NULL), "");
    assert_int_equal(fx->ev.body_len, 0);
    assert_int_equal(to_req(fx, "{\"version\":\"2.0\",\"rawPath\":\"/\",\"requestContext\":"
                                "{\"http\":{\"method\":\"POST\"}},\"body\":\"aGVsbG8AAf8=\","
                                "\"isBase64Encoded\":true,\"headers\":null,\"cookies\":null}"),
                     0);
    lua_getfield(fx->L, 2, "body");
    size_t len;
    const char *body = lua_tolstring(fx->L, -1, &len);
    assert_int_equal(len, 8);
    assert_memory_equal(body, "hello\0\1\xff", 8);
    lua_pop(fx->L, 1);
    assert_int_equal(fx->ev.body_len, 8);
}

static const char s_v1[] =
    "{\"resource\":\"/items/{id}\",\"path\":\"/items/9\",\"httpMethod\":\"GET\","
    "\"headers\":{\"Accept\":\"a\",\"Cookie\":\"sid=s1; empty=; =bad; flag\"},"
    "\"multiValueHeaders\":{\"Accept\":[\"a\",\"b\"],\"Cookie\":[\"sid=s1; empty=; =bad; flag\"]},"
    "\"queryStringParameters\":{\"q\":\"last\"},"
    "\"multiValueQueryStringParameters\":{\"q\":[\"first\",\"last\"],\"one\":[\"1\"]},"
    "\"pathParameters\":{\"id\":\"9\"},\"stageVariables\":null,"
    "\"requestContext\":{\"requestId\":\"rid-1\",\"identity\":{\"sourceIp\":\"192.0.2.4\"},"
    "\"stage\":\"prod\"},\"body\":null,\"isBase64Encoded\":false}";

static void test_event_v1_request_fields(void **state) {
    fixture *fx = *state;
    assert_int_equal(to_req(fx, s_v1), 0);
    assert_int_equal(fx->ev.version, 1);
    assert_string_equal(req_str(fx, "method", NULL), "GET");
    assert_string_equal(req_str(fx, "path", NULL), "/items/9");
    assert_string_equal(req_str(fx, "request_id", NULL), "rid-1");
    assert_string_equal(req_str(fx, "source_ip", NULL), "192.0.2.4");
    assert_string_equal(req_str(fx, "headers", "accept"), "a, b");
    assert_string_equal(req_str(fx, "query", "q"), "last");
    assert_string_equal(req_str(fx, "query", "one"), "1");
    assert_string_equal(req_str(fx, "cookies", "sid"), "s1");
    assert_string_equal(req_str(fx, "cookies", "empty"), "");
    assert_null(req_str(fx, "cookies", ""));
    assert_null(req_str(fx, "cookies", "flag"));
    assert_string_equal(req_str(fx, "body", NULL), "");
    /* Without the multi-value maps the single-value ones are used. */
    assert_int_equal(to_req(fx, "{\"httpMethod\":\"POST\",\"path\":\"/x\",\"version\":\"1.0\","
                                "\"headers\":{\"A\":\"1\"},\"queryStringParameters\":{\"k\":\"v\"},"
                                "\"requestContext\":{}}"),
                     0);
    assert_int_equal(fx->ev.version, 1);
    assert_string_equal(req_str(fx, "headers", "a"), "1");
    assert_string_equal(req_str(fx, "query", "k"), "v");
}

static void assert_rejected(fixture *fx, const char *text, int http, int rc) {
    int got = to_req(fx, text);
    if (got != rc || fx->ev.reject_status != http) {
        fail_msg("event %s: rc %d status %d (%s), wanted %d/%d", text, got, fx->ev.reject_status,
                 fx->err.msg, rc, http);
    }
    assert_true(fx->err.msg[0] != '\0');
}

#define V2(extra)                                                                                  \
    "{\"version\":\"2.0\",\"rawPath\":\"/"                                                         \
    "x\",\"requestContext\":{\"http\":{\"method\":\"GET\"}}" extra "}"

static void test_event_bad_shapes_and_types(void **state) {
    fixture *fx = *state;
    static const char *const bad[] = {
        "[1,2]",
        "[]",
        "\"event\"",
        "42",
        "null",
        "{}",
        "{\"version\":\"1.0\"}",
        "{\"version\":\"3.0\",\"rawPath\":\"/\",\"requestContext\":{\"http\":{\"method\":\"G\"}}}",
        "{\"version\":\"2.0\",\"requestContext\":{\"http\":{\"method\":\"GET\"}}}",
        "{\"version\":\"2.0\",\"rawPath\":\"/x\"}",
        "{\"version\":\"2.0\",\"rawPath\":\"/x\",\"requestContext\":{\"http\":{}}}",
        "{\"version\":\"2.0\",\"rawPath\":\"/x\",\"requestContext\":\"ctx\"}",
        "{\"version\":\"2.0\",\"rawPath\":5,\"requestContext\":{\"http\":{\"method\":\"GET\"}}}",
        "{\"version\":\"2.0\",\"rawPath\":\"/x\",\"requestContext\":{\"http\":{\"method\":7}}}",
        "{\"version\":\"2.0\",\"rawPath\":\"/x\",\"requestContext\":{\"http\":{\"method\":"
        "\"GETGETGETGETGETGET\"}}}",
        V2(",\"headers\":\"h\""),
        V2(",\"headers\":{\"a\":1}"),
        V2(",\"headers\":{\"a\":[\"x\"]}"),
        V2(",\"queryStringParameters\":{\"a\":true}"),
        V2(",\"queryStringParameters\":[1]"),
        V2(",\"body\":5"),
        V2(",\"body\":{\"a\":1}"),
        V2(",\"isBase64Encoded\":\"true\""),
        V2(",\"cookies\":\"a=1\""),
        V2(",\"cookies\":[1]"),
        V2(",\"requestContext\":{\"http\":{\"method\":\"GET\"},\"requestId\":5}"),
        "{\"httpMethod\":\"GET\",\"path\":\"/x\",\"multiValueHeaders\":{\"a\":\"x\"}}",
        "{\"httpMethod\":\"GET\",\"path\":\"/x\",\"multiValueHeaders\":{\"a\":[1]}}",
        "{\"httpMethod\":\"GET\",\"path\":\"/x\",\"multiValueQueryStringParameters\":{\"a\":5}}",
        "{\"httpMethod\":\"GET\",\"path\":null}",
        "{\"httpMethod\":\"GET\",\"path\":\"/x\",\"requestContext\":{\"identity\":"
        "{\"sourceIp\":1}}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_rejected(fx, bad[i], 400, MB_ERR_INVALID);
    }
}

static void test_event_invalid_base64_body_400(void **state) {
    fixture *fx = *state;
    static const char *const bad[] = {
        "@@@@", "aGVsbG8", "aGVsbG8=\\n", "aGV sbG8=", "aGVsbG9=", "=aGV", "a==="};
    char text[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text, V2(",\"body\":\"%s\",\"isBase64Encoded\":true"), bad[i]);
        assert_rejected(fx, text, 400, MB_ERR_INVALID);
        assert_non_null(strstr(fx->err.msg, "base64"));
    }
    /* The same text without the flag is just a body. */
    assert_int_equal(to_req(fx, V2(",\"body\":\"@@@@\",\"isBase64Encoded\":false")), 0);
}

/* Build a v2 event with n headers of `vlen`-byte values, or n query parameters, or n cookies. */
static char *big_event(const char *what, size_t n, size_t vlen) {
    mb_buf b = {0};
    mb_buf_append_cstr(&b, "{\"version\":\"2.0\",\"rawPath\":\"/x\",\"requestContext\":{\"http\":"
                           "{\"method\":\"GET\"}},");
    bool cookies = strcmp(what, "cookies") == 0;
    mb_buf_appendf(&b, "\"%s\":%c", what, cookies ? '[' : '{');
    char *v = malloc(vlen + 1);
    memset(v, 'v', vlen);
    v[vlen] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (cookies) {
            mb_buf_appendf(&b, "%s\"c%zu=%s\"", i ? "," : "", i, v);
        } else {
            mb_buf_appendf(&b, "%s\"k%zu\":\"%s\"", i ? "," : "", i, v);
        }
    }
    mb_buf_appendf(&b, "%c}", cookies ? ']' : '}');
    free(v);
    return mb_buf_detach(&b, NULL);
}

static void test_event_limits_431_and_413(void **state) {
    fixture *fx = *state;
    char *e = big_event("headers", MB_EVENT_MAX_HEADERS, 4);
    assert_int_equal(to_req(fx, e), 0);
    free(e);
    e = big_event("headers", MB_EVENT_MAX_HEADERS + 1, 4);
    assert_rejected(fx, e, 431, MB_ERR_LIMIT);
    free(e);
    e = big_event("headers", 5000, 1);
    assert_rejected(fx, e, 431, MB_ERR_LIMIT);
    free(e);
    e = big_event("headers", 10, 7000); /* 70 KB of header values */
    assert_rejected(fx, e, 431, MB_ERR_LIMIT);
    free(e);
    e = big_event("queryStringParameters", MB_EVENT_MAX_QUERY + 1, 1);
    assert_rejected(fx, e, 400, MB_ERR_LIMIT);
    free(e);
    e = big_event("cookies", MB_EVENT_MAX_COOKIES + 1, 1);
    assert_rejected(fx, e, 431, MB_ERR_LIMIT);
    free(e);
    char name[400];
    memset(name, 'n', 300);
    name[300] = '\0';
    char text[600];
    snprintf(text, sizeof text, V2(",\"headers\":{\"%s\":\"v\"}"), name);
    assert_rejected(fx, text, 431, MB_ERR_LIMIT);
    /* A 10 MB body (as if a larger payload limit let it through) is 413, plain or base64. */
    size_t n = 10u * 1024u * 1024u;
    mb_buf b = {0};
    mb_buf_append_cstr(&b, V2(",\"body\":\""));
    b.len -= 1; /* drop the closing brace of V2 to continue the object */
    mb_buf_reserve(&b, n + 64);
    memset(b.ptr + b.len, 'A', n);
    b.len += n;
    mb_buf_append_cstr(&b, "\",\"isBase64Encoded\":true}");
    assert_int_equal(to_req_len(fx, b.ptr, b.len), MB_ERR_LIMIT);
    assert_int_equal(fx->ev.reject_status, 413);
    mb_buf_cleanup(&b);
}

static void test_event_response_v2_encoding(void **state) {
    fixture *fx = *state;
    int status = 0;
    assert_int_equal(encode(fx, 2,
                            "return { status = 201, headers = { ['X-Num'] = 5, ['x-list'] = "
                            "{'a', 'b'}, ['Cache-Control'] = 'no-store' },\n"
                            "  cookies = { 'sid=1; HttpOnly', 'theme=dark' },\n"
                            "  body = { ok = true, items = setmetatable({}, "
                            "debug.getregistry()['moonbase.array_mt']) } }",
                            NULL, 0, &status),
                     0);
    assert_int_equal(status, 201);
    assert_int_equal(json_integer_value(json_object_get(fx->resp, "statusCode")), 201);
    assert_string_equal(resp_header(fx, "X-Num"), "5");
    assert_string_equal(resp_header(fx, "x-list"), "a, b");
    assert_string_equal(resp_header(fx, "content-type"), "application/json");
    json_t *cookies = json_object_get(fx->resp, "cookies");
    assert_int_equal(json_array_size(cookies), 2);
    assert_string_equal(json_string_value(json_array_get(cookies, 0)), "sid=1; HttpOnly");
    assert_null(json_object_get(fx->resp, "multiValueHeaders"));
    assert_false(json_is_true(json_object_get(fx->resp, "isBase64Encoded")));
    json_t *body = json_loads(resp_body(fx), 0, NULL);
    assert_true(json_is_true(json_object_get(body, "ok")));
    assert_true(json_is_array(json_object_get(body, "items")));
    json_decref(body);
}

static void test_event_response_v1_multivalue_and_cookies(void **state) {
    fixture *fx = *state;
    int status = 0;
    assert_int_equal(encode(fx, 1,
                            "return { headers = { ['x-list'] = {'a', 'b'}, single = 's' },\n"
                            "  cookies = { 'sid=1', 'b=2' }, body = 'plain' }",
                            NULL, 0, &status),
                     0);
    assert_int_equal(status, 200);
    assert_string_equal(resp_header(fx, "single"), "s");
    assert_null(resp_header(fx, "x-list"));
    assert_string_equal(resp_header(fx, "content-type"), "text/plain; charset=utf-8");
    json_t *mv = json_object_get(fx->resp, "multiValueHeaders");
    assert_int_equal(json_array_size(json_object_get(mv, "x-list")), 2);
    json_t *sc = json_object_get(mv, "Set-Cookie");
    assert_int_equal(json_array_size(sc), 2);
    assert_string_equal(json_string_value(json_array_get(sc, 1)), "b=2");
    assert_null(json_object_get(fx->resp, "cookies"));
    assert_string_equal(resp_body(fx), "plain");
}

static void test_event_response_bodies(void **state) {
    fixture *fx = *state;
    int status = 0;
    /* Binary strings go out base64-encoded. */
    assert_int_equal(encode(fx, 2, "return { body = 'a\\0b\\255' }", NULL, 0, &status), 0);
    assert_true(json_is_true(json_object_get(fx->resp, "isBase64Encoded")));
    mb_buf raw = {0};
    assert_int_equal(mb_base64_decode(&raw, mb_cur_from_cstr(resp_body(fx)), NULL), 0);
    assert_int_equal(raw.len, 4);
    assert_memory_equal(raw.ptr, "a\0b\xff", 4);
    mb_buf_cleanup(&raw);
    assert_int_equal(encode(fx, 2, "return { body = '\\195\\169t\\195\\169' }", NULL, 0, &status),
                     0);
    assert_false(json_is_true(json_object_get(fx->resp, "isBase64Encoded")));
    assert_string_equal(resp_body(fx), "\xc3\xa9t\xc3\xa9");
    /* No body: empty string. A handler's own content type wins (any case). */
    assert_int_equal(encode(fx, 2, "return { status = 204 }", NULL, 0, &status), 0);
    assert_string_equal(resp_body(fx), "");
    assert_int_equal(encode(fx, 2,
                            "return { headers = { ['Content-Type'] = 'text/csv' }, body = {1} }",
                            NULL, 0, &status),
                     0);
    assert_string_equal(resp_header(fx, "Content-Type"), "text/csv");
    assert_null(resp_header(fx, "content-type"));
    assert_string_equal(resp_body(fx), "[1]");
}

static void test_event_response_extra_headers(void **state) {
    fixture *fx = *state;
    int status = 0;
    mb_event_header extra[] = {{"x-request-id", MB_CUR_LIT("rid"), false},
                               {"vary", MB_CUR_LIT("Origin"), false}};
    assert_int_equal(encode(fx, 2, "return { headers = { Vary = 'Accept' } }", extra, 2, &status),
                     0);
    assert_string_equal(resp_header(fx, "x-request-id"), "rid");
    assert_string_equal(resp_header(fx, "Vary"), "Accept");
    assert_null(resp_header(fx, "vary"));
}

/* A forced extra header replaces the handler's in any letter case (v1 list values too); a forced
 * one without a value only removes the handler's. */
static void test_event_response_forced_headers_replace_handler(void **state) {
    fixture *fx = *state;
    int status = 0;
    mb_event_header extra[] = {{"cache-control", MB_CUR_LIT("no-store"), true},
                               {"access-control-allow-origin", {0}, true}};
    static const char code[] = "return { headers = { ['Cache-Control'] = 'public, max-age=600',\n"
                               "  ['Access-Control-Allow-Origin'] = '*', ['x-ok'] = 'y' } }";
    for (int v = 1; v <= 2; v++) {
        assert_int_equal(encode(fx, v, code, extra, 2, &status), 0);
        assert_string_equal(resp_header(fx, "cache-control"), "no-store");
        assert_null(resp_header(fx, "Cache-Control"));
        assert_null(resp_header(fx, "Access-Control-Allow-Origin"));
        assert_null(resp_header(fx, "access-control-allow-origin"));
        assert_string_equal(resp_header(fx, "x-ok"), "y");
    }
    assert_int_equal(
        encode(fx, 1, "return { headers = { ['cache-control'] = { 'public', 'max-age=9' } } }",
               extra, 2, &status),
        0);
    assert_string_equal(resp_header(fx, "cache-control"), "no-store");
    assert_null(strstr(fx->out.ptr, "max-age=9"));
}

static void test_event_response_invalid_tables(void **state) {
    fixture *fx = *state;
    static const char *const bad[] = {
        "return nil",
        "return 'str'",
        "return 200",
        "return { status = 99 }",
        "return { status = 600 }",
        "return { status = '200' }",
        "return { status = 200.5 }",
        "return { status = true }",
        "return { headers = 'x' }",
        "return { cookies = 'a=1' }",
        "return { headers = { ['bad name'] = 'x' } }",
        "return { headers = { ['a:b'] = 'x' } }",
        "return { headers = { [''] = 'x' } }",
        "return { headers = { [1] = 'x' } }",
        "return { headers = { ['x-a'] = 'v\\r\\nset-cookie: evil=1' } }",
        "return { headers = { ['x-a'] = 'v\\nx' } }",
        "return { headers = { ['x-a'] = 'v\\0x' } }",
        "return { headers = { ['x-a'] = true } }",
        "return { headers = { ['x-a'] = {'ok', 'b\\r\\nc'} } }",
        "return { headers = { ['x-a'] = {'ok', {}} } }",
        "return { headers = { ['x-a'] = string.rep('v', 9000) } }",
        "return { cookies = { 'a=1\\r\\nx: y' } }",
        "return { cookies = { {} } }",
        "return { body = 5 }",
        "return { body = true }",
        "return { body = { 0/0 } }",
        "return { body = { print } }",
        "return { body = string.rep('x', 6 * 1024 * 1024 + 1) }",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        for (int version = 1; version <= 2; version++) {
            int status = -7;
            int rc = encode(fx, version, bad[i], NULL, 0, &status);
            if (rc != MB_ERR_INVALID && rc != MB_ERR_LIMIT) {
                fail_msg("v%d %s: rc %d out %s", version, bad[i], rc, fx->out.ptr);
            }
            assert_int_equal(status, -7); /* untouched on error */
            assert_non_null(strstr(fx->err.msg, "invalid response"));
        }
    }
}

static void test_event_push_error_shape(void **state) {
    fixture *fx = *state;
    lua_settop(fx->L, 0);
    mb_event_push_error(fx->L, 404, "not_found", "no \"route\"", MB_CUR_LIT("rid-9"));
    mb_event ev = {.version = 2};
    int status = 0;
    assert_int_equal(mb_event_encode_response(fx->L, -1, &ev, NULL, 0, &fx->out, &status, NULL), 0);
    assert_int_equal(status, 404);
    json_t *resp = json_loadb(fx->out.ptr, fx->out.len, 0, NULL);
    json_t *body = json_loads(json_string_value(json_object_get(resp, "body")), 0, NULL);
    assert_string_equal(json_string_value(json_object_get(body, "error")), "not_found");
    assert_string_equal(json_string_value(json_object_get(body, "message")), "no \"route\"");
    assert_string_equal(json_string_value(json_object_get(body, "requestId")), "rid-9");
    json_decref(body);
    json_decref(resp);
    /* The static fallback is itself a valid proxy response. */
    json_t *fb = json_loads(MB_EVENT_FALLBACK_500, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(fb, "statusCode")), 500);
    json_decref(fb);
}

/* Lua allocations fail from the Nth on, for N = 1, 2, ...: the conversion and the encoding
 * report NOMEM without leaking C memory (LeakSanitizer checks at exit) or unbalancing the stack. */
static void test_event_out_of_memory_loop(void **state) {
    (void)state;
    static const char ev_text[] =
        "{\"httpMethod\":\"POST\",\"path\":\"/x\",\"multiValueHeaders\":{\"A\":[\"1\",\"2\"]},"
        "\"headers\":{\"Cookie\":\"a=1; b=2\"},\"multiValueQueryStringParameters\":{\"q\":[\"1\"]},"
        "\"requestContext\":{\"requestId\":\"r\",\"identity\":{\"sourceIp\":\"1.2.3.4\"}},"
        "\"body\":\"aGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8gd29ybGQ=\",\"isBase64Encoded\":true}";
    bool converted = false, encoded = false;
    for (size_t n = 1; n < 20000 && !(converted && encoded); n++) {
        alloc_ctl c = {0};
        lua_State *L = new_state(&c);
        mb_err err = {0};
        assert_int_equal(mb_json_decode(L, MB_CUR_LIT(ev_text), 64, &err), 0);
        c.count = 0;
        c.fail_at = n;
        mb_event ev;
        int rc = mb_event_to_request(L, 1, &ev, &err);
        if (rc == 0) {
            converted = true;
            assert_int_equal(lua_gettop(L), 2);
            lua_settop(L, 0);
            c.fail_at = 0;
            assert_int_equal(luaL_dostring(L, "return { headers = { a = {'1', '2'} }, cookies = "
                                              "{'x=1'}, body = { k = {1, 2, 'three'} } }"),
                             LUA_OK);
            c.count = 0;
            c.fail_at = n;
            mb_buf out = {0};
            int status = 0;
            rc = mb_event_encode_response(L, 1, &ev, NULL, 0, &out, &status, &err);
            encoded = rc == 0;
            if (rc != 0) {
                assert_int_equal(rc, MB_ERR_NOMEM);
                assert_int_equal(out.len, 0);
            }
            assert_int_equal(lua_gettop(L), 1);
            mb_buf_cleanup(&out);
        } else {
            assert_int_equal(rc, MB_ERR_NOMEM);
            assert_int_equal(lua_gettop(L), 1);
        }
        c.fail_at = 0;
        lua_close(L);
    }
    assert_true(converted && encoded);
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_event_v2_request_fields),
        T(test_event_v2_minimal_and_base64_body),
        T(test_event_v1_request_fields),
        T(test_event_bad_shapes_and_types),
        T(test_event_invalid_base64_body_400),
        T(test_event_limits_431_and_413),
        T(test_event_response_v2_encoding),
        T(test_event_response_v1_multivalue_and_cookies),
        T(test_event_response_bodies),
        T(test_event_response_extra_headers),
        T(test_event_response_forced_headers_replace_handler),
        T(test_event_response_invalid_tables),
        T(test_event_push_error_shape),
        cmocka_unit_test(test_event_out_of_memory_loop),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
