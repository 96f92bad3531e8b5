/* test_app.c - the whole pipeline through mb_app_handle with a temporary HANDLERS_DIR: routing,
 * CORS, handler outcomes, strict JSON bodies, limits and start-up errors. Responses are parsed
 * back with jansson and checked field by field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>

#include <jansson.h>

#include "foundation_testkit.h"
#include "script_server.h"
#include "moonbase/app.h"
#include "moonbase/config.h"
#include "moonbase/event.h"
#include "moonbase/text.h"

/* The environment the config seam sees: NAME=value strings, NULL-terminated. */
static const char *g_env[16];

static const char *fake_getenv(const char *name) {
    size_t n = strlen(name);
    for (size_t i = 0; g_env[i]; i++) {
        if (strncmp(g_env[i], name, n) == 0 && g_env[i][n] == '=') {
            return g_env[i] + n + 1;
        }
    }
    return NULL;
}

typedef struct fixture {
    char *dir;
    char dir_env[PATH_MAX + 16];
    mb_config cfg;
    mb_app *app;
    FILE *logf;
    mb_buf out;
    json_t *resp; /* parsed proxy response of the last call */
    json_t *body; /* its body parsed as JSON (NULL when not JSON) */
    int status;
} fixture;

static const char s_routes[] = "return {\n"
                               "  { 'GET', '/hello', 'hello' },\n"
                               "  { 'GET', '/items/{id}', 'echo' },\n"
                               "  { 'POST', '/items', 'echo' },\n"
                               "  { 'GET', '/err', 'err' },\n"
                               "  { 'GET', '/tblerr', 'tblerr' },\n"
                               "  { 'GET', '/nil', 'retnil' },\n"
                               "  { 'GET', '/str', 'retstr' },\n"
                               "  { 'GET', '/fail', 'fail' },\n"
                               "  { 'GET', '/bigfail', 'bigfail' },\n"
                               "  { 'GET', '/loop', 'loop' },\n"
                               "  { 'GET', '/bomb', 'bomb' },\n"
                               "  { 'GET', '/syntax', 'syntax' },\n"
                               "  { 'GET', '/globals', 'globals' },\n"
                               "  { 'GET', '/me', 'hello', auth = true },\n"
                               "  { 'GET', '/trap', 'trap' },\n"
                               "  { 'GET', '/spin', 'loop', cpu_ms = 50 },\n"
                               "  { 'GET', '/cors', 'cors' },\n"
                               "  { 'GET', '/print', 'print' },\n"
                               "}\n";

static void write_handlers(const char *dir) {
    tk_write(dir, "routes.lua", s_routes);
    tk_write(dir, "hello.lua",
             "return function(req, ctx)\n"
             "  return { status = 200, body = { message = 'Hello, ' .. (req.query.name or "
             "'world') .. '!' } }\n"
             "end\n");
    tk_write(dir, "echo.lua",
             "return function(req, ctx)\n"
             "  return { status = 200, body = { id = req.params.id, method = req.method,\n"
             "    json = req.json, rid = req.request_id, ctxrid = ctx.request_id } }\n"
             "end\n");
    tk_write(dir, "err.lua",
             "return function() local secret = 'boom-secret'; error('kaboom ' .. secret) end\n");
    tk_write(dir, "tblerr.lua", "return function() error({ internal = 'boom-secret' }) end\n");
    tk_write(dir, "retnil.lua", "return function() end\n");
    tk_write(dir, "retstr.lua", "return function() return 'just a string' end\n");
    tk_write(dir, "fail.lua",
             "return function(req, ctx)\n"
             "  ctx.fail(422, 'title is too long', { code = 'validation', field = 'title' })\n"
             "end\n");
    tk_write(dir, "bigfail.lua", /* issue 19: a 1 MB field name must not come back in full */
             "return function(req, ctx)\n"
             "  local name = ('\xc3\xa9'):rep(500000)\n"
             "  ctx.fail(400, \"unknown field '\" .. name .. \"'\", { field = name })\n"
             "end\n");
    tk_write(dir, "loop.lua", "return function() while true do end end\n");
    tk_write(dir, "cors.lua",
             "return function(req)\n"
             "  return { status = 200, body = req.query.text and 'plain' or { ok = true },\n"
             "    headers = { ['Access-Control-Allow-Origin'] = '*',\n"
             "      ['access-control-allow-credentials'] = 'true',\n"
             "      ['X-Content-Type-Options'] = 'off',\n"
             "      ['content-security-policy'] = \"default-src *\" } }\n"
             "end\n");
    tk_write(dir, "trap.lua",
             "return function(req)\n"
             "  local mode = req.query.mode\n"
             "  return setmetatable({}, { __index = function()\n"
             "    if mode == 'loop' then while true do end end\n"
             "    error({ 'table error' })\n"
             "  end })\n"
             "end\n");
    tk_write(dir, "bomb.lua",
             "return function() local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 4096) .. i "
             "end end\n");
    tk_write(dir, "print.lua", /* a fetched secret, and a newline that would forge a line */
             "return function(req, ctx)\n"
             "  local v = ctx.secret('app/token')\n"
             "  print('value:', v, '\\n{\"level\":\"ERROR\"}')\n"
             "  return { status = 200, body = { length = #v } }\n"
             "end\n");
    tk_write(dir, "syntax.lua", "return function(req)\n  return {\nend\n");
    tk_write(dir, "globals.lua",
             "return function(req, ctx)\n"
             "  return { status = 200, body = { up = string.upper('ok'), j = json.encode({1}) } }\n"
             "end\n");
}

static int setup(void **state) {
    fixture *fx = calloc(1, sizeof *fx);
    fx->dir = tk_tempdir();
    snprintf(fx->dir_env, sizeof fx->dir_env, "HANDLERS_DIR=%s", fx->dir);
    write_handlers(fx->dir);
    fx->logf = tmpfile();
    memset(g_env, 0, sizeof g_env);
    g_env[0] = fx->dir_env;
    *state = fx;
    return 0;
}

static void drop_response(fixture *fx) {
    json_decref(fx->resp);
    json_decref(fx->body);
    fx->resp = fx->body = NULL;
}

static int teardown(void **state) {
    fixture *fx = *state;
    drop_response(fx);
    mb_app_free(fx->app);
    mb_config_cleanup(&fx->cfg);
    mb_buf_cleanup(&fx->out);
    fclose(fx->logf);
    tk_rmdir(fx->dir);
    free(fx);
    return 0;
}

/* Load the config from g_env (extra NAME=value entries appended) and build the app. */
static void open_app(fixture *fx, const char *const *extra) {
    size_t n = 1;
    for (size_t i = 0; extra && extra[i]; i++) {
        g_env[n++] = extra[i];
    }
    g_env[n] = NULL;
    mb_err err = {0};
    assert_int_equal(mb_config_load(&fx->cfg, fake_getenv, NULL, &err), 0);
    fx->app = mb_app_new(&fx->cfg, fileno(fx->logf), &err);
    if (!fx->app) {
        fail_msg("mb_app_new: %s", err.msg);
    }
}

/* Handle raw event bytes; parse the response (which must always be valid JSON). */
static int handle_raw(fixture *fx, mb_cur event, int64_t deadline_ms) {
    drop_response(fx);
    mb_invocation inv = {MB_CUR_LIT("req-123"), MB_CUR_LIT("Root=1-abc"), deadline_ms};
    fx->status = mb_app_handle(fx->app, event, &inv, &fx->out);
    json_error_t je;
    fx->resp = json_loadb(fx->out.ptr, fx->out.len, 0, &je);
    if (!fx->resp) {
        fail_msg("response is not JSON (%s): %s", je.text, fx->out.ptr);
    }
    assert_int_equal(json_integer_value(json_object_get(fx->resp, "statusCode")), fx->status);
    const char *body = json_string_value(json_object_get(fx->resp, "body"));
    assert_non_null(body);
    fx->body = json_loads(body, 0, NULL);
    return fx->status;
}

/* A v2 event: method, path, optional query object, header object and body (JSON fragments). */
static int handle(fixture *fx, const char *method, const char *path, const char *query,
                  const char *headers, const char *body) {
    mb_buf ev = {0};
    mb_buf_appendf(&ev,
                   "{\"version\":\"2.0\",\"rawPath\":\"%s\",\"headers\":%s,"
                   "\"queryStringParameters\":%s,\"requestContext\":{\"http\":{\"method\":\"%s\","
                   "\"sourceIp\":\"203.0.113.7\"},\"requestId\":\"apigw-1\"},"
                   "\"isBase64Encoded\":false",
                   path, headers ? headers : "{}", query ? query : "null", method);
    if (body) {
        mb_buf_appendf(&ev, ",\"body\":%s", body);
    }
    mb_buf_append_cstr(&ev, "}");
    int status = handle_raw(fx, mb_buf_cur(&ev), 0);
    mb_buf_cleanup(&ev);
    return status;
}

static const char *header(fixture *fx, const char *name) {
    return json_string_value(json_object_get(json_object_get(fx->resp, "headers"), name));
}

static const char *body_str(fixture *fx, const char *key) {
    return json_string_value(json_object_get(fx->body, key));
}

/* Everything written to the log fd so far. Caller frees. */
static char *log_text(fixture *fx) {
    fflush(fx->logf);
    int fd = fileno(fx->logf);
    off_t size = lseek(fd, 0, SEEK_END);
    char *text = calloc(1, (size_t)size + 1);
    assert_int_equal(pread(fd, text, (size_t)size, 0), size);
    return text;
}

static void assert_error_body(fixture *fx, const char *code) {
    assert_non_null(fx->body);
    assert_string_equal(body_str(fx, "error"), code);
    assert_string_equal(body_str(fx, "requestId"), "req-123");
    assert_non_null(body_str(fx, "message"));
}

static void test_app_hello_200(void **state) {
    fixture *fx = *state;
    open_app(fx, NULL);
    assert_int_equal(handle(fx, "GET", "/hello", "{\"name\":\"Ada\"}", NULL, NULL), 200);
    assert_string_equal(body_str(fx, "message"), "Hello, Ada!");
    assert_string_equal(header(fx, "x-request-id"), "req-123");
    assert_string_equal(header(fx, "content-type"), "application/json");
    assert_false(json_is_true(json_object_get(fx->resp, "isBase64Encoded")));
}

static void test_app_params_and_request_id(void **state) {
    fixture *fx = *state;
    open_app(fx, NULL);
    assert_int_equal(handle(fx, "GET", "/items/a%20b", NULL, NULL, NULL), 200);
    assert_string_equal(body_str(fx, "id"), "a b");
    assert_string_equal(body_str(fx, "method"), "GET");
    assert_string_equal(body_str(fx, "rid"), "req-123");
    assert_string_equal(body_str(fx, "ctxrid"), "req-123");
}

static void test_app_unknown_path_404(void **state) {
    fixture *fx = *state;
    open_app(fx, NULL);
    assert_int_equal(handle(fx, "GET", "/nope", NULL, NULL, NULL), 404);
    assert_error_body(fx, "not_found");
    assert_int_equal(handle(fx, "GET", "/items/1/extra", NULL, NULL, NULL), 404);
}

static void test_app_wrong_method_405_with_allow(void **state) {
    fixture *fx = *state;
    open_app(fx, NULL);
    assert_int_equal(handle(fx, "DELETE", "/hello", NULL, NULL, NULL), 405);
    assert_error_body(fx, "method_not_allowed");
    assert_string_equal(header(fx, "allow"), "GET, OPTIONS");
    assert_int_equal(handle(fx, "PUT", "/items", NULL, NULL, NULL), 405);
    assert_string_equal(header(fx, "allow"), "POST, OPTIONS");
}

static void test_app_bad_paths_400(void **state) {
    fixture *fx = *state;
    open_app(fx, NULL);
    static const char *const paths[] = {"/items/..",  "/items/%2e%2e", "/items/%00", "/items/a%2Fb",
                                        "/items/%zz", "/items/%4",     "hello"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        assert_int_equal(handle(fx, "GET", paths[i], NULL, NULL, NULL), 400);
        assert_error_body(fx, "bad_request");
    }
}

static void test_app_preflight_cors_only_for_allowed_origins(void **state) {
    fixture *fx = *state;
    static const char *const env[] = {
        "ENVIRONMENT=prod", "CORS_ALLOWED_ORIGINS=https://app.example, http://localhost:3000",
        NULL};
    open_app(fx, env);
    const char *allowed = "{\"origin\":\"https://app.example\","
                          "\"access-control-request-method\":\"GET\"}";
    assert_int_equal(handle(fx, "OPTIONS", "/hello", NULL, allowed, NULL), 204);
    assert_string_equal(header(fx, "access-control-allow-origin"), "https://app.example");
    assert_string_equal(header(fx, "access-control-allow-methods"), "GET, OPTIONS");
    assert_non_null(header(fx, "access-control-allow-headers"));
    assert_string_equal(header(fx, "allow"), "GET, OPTIONS");
    assert_string_equal(header(fx, "vary"), "Origin");

    const char *evil = "{\"origin\":\"https://evil.example\","
                       "\"access-control-request-method\":\"GET\"}";
    assert_int_equal(handle(fx, "OPTIONS", "/hello", NULL, evil, NULL), 204);
    assert_null(header(fx, "access-control-allow-origin"));
    assert_null(header(fx, "access-control-allow-methods"));
    assert_null(header(fx, "access-control-allow-headers"));

    /* Simple requests: the origin is echoed only when allowed. */
    assert_int_equal(
        handle(fx, "GET", "/hello", NULL, "{\"Origin\":\"http://localhost:3000\"}", NULL), 200);
    assert_string_equal(header(fx, "access-control-allow-origin"), "http://localhost:3000");
    assert_int_equal(
        handle(fx, "GET", "/hello", NULL, "{\"origin\":\"http://localhost:3001\"}", NULL), 200);
    assert_null(header(fx, "access-control-allow-origin"));
    /* OPTIONS on an unknown path is a 404, not a preflight. */
    assert_int_equal(handle(fx, "OPTIONS", "/nope", NULL, allowed, NULL), 404);
}

static void test_app_handler_error_500_without_internals(void **state) {
    fixture *fx = *state;
    open_app(fx, NULL);
    static const char *const paths[] = {"/err", "/tblerr", "/nil", "/str", "/syntax"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        assert_int_equal(handle(fx, "GET", paths[i], NULL, NULL, NULL), 500);
        assert_error_body(fx, "internal");
        assert_null(strstr(fx->out.ptr, "boom-secret"));
        assert_null(strstr(fx->out.ptr, "traceback"));
        assert_null(strstr(fx->out.ptr, ".lua"));
        assert_null(strstr(fx->out.ptr, fx->dir));
    }
    char *logs = log_text(fx); /* the details went to the logs instead */
    assert_non_null(strstr(logs, "kaboom boom-secret"));
    assert_non_null(strstr(logs, "stack traceback"));
    free(logs);
    assert_int_equal(handle(fx, "GET", "/hello", NULL, NULL, NULL), 200);
}

static void test_app_ctx_fail_4xx_with_code_and_field(void **state) {
    fixture *fx = *state;
    open_app(fx, NULL);
    assert_int_equal(handle(fx, "GET", "/fail", NULL, NULL, NULL), 422);
    assert_error_body(fx, "validation");
    assert_string_equal(body_str(fx, "field"), "title");
    assert_string_equal(body_str(fx, "message"), "title is too long");
}

static void test_app_ctx_fail_message_is_bounded(void **state) {
    fixture *fx = *state;
    open_app(fx, NULL);
    assert_int_equal(handle(fx, "GET", "/bigfail", NULL, NULL, NULL), 400);
    const char *m = body_str(fx, "message");
    assert_non_null(m);
    size_t n = strlen(m);
    assert_true(n <= 256 + 3);
    assert_true(strncmp(m, "unknown field '\xc3\xa9", 17) == 0);
    assert_string_equal(m + n - 3, "...");
    assert_true(mb_text_utf8_valid((mb_cur){m, n})); /* not cut inside a character */
    assert_null(body_str(fx, "field"));              /* a field name that long is left out */
    assert_true(fx->out.len < 2048);
}

static void test_app_invalid_json_body_400_before_handler(void **state) {
    fixture *fx = *state;
    open_app(fx, NULL);
    const char *json_ct = "{\"content-type\":\"application/json; charset=utf-8\"}";
    static const char *const bad[] = {"\"{bad\"",           "\"{\\\"a\\\":NaN}\"", "\"[1,]\"",
                                      "\"{\\\"a\\\":01}\"", "\"{\\\"a\\\":1} x\"", "\"0x10\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(handle(fx, "POST", "/items", NULL, json_ct, bad[i]), 400);
        assert_error_body(fx, "bad_request");
        assert_non_null(strstr(body_str(fx, "message"), "not valid JSON"));
    }
    /* Valid JSON reaches the handler as req.json; another type is left alone. */
    assert_int_equal(
        handle(fx, "POST", "/items", NULL, json_ct, "\"{\\\"title\\\":\\\"t\\\",\\\"n\\\":5}\""),
        200);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(fx->body, "json"), "title")), "t");
    assert_int_equal(
        handle(fx, "POST", "/items", NULL, "{\"content-type\":\"text/plain\"}", "\"{bad\""), 200);
    assert_null(json_object_get(fx->body, "json"));
    /* +json media types are JSON too. */
    assert_int_equal(handle(fx, "POST", "/items", NULL,
                            "{\"content-type\":\"application/merge-patch+json\"}", "\"[1,]\""),
                     400);
}

static void test_app_bad_events(void **state) {
    fixture *fx = *state;
    open_app(fx, NULL);
    static const char *const events[] = {
        "not json",
        "[1,2]",
        "\"string\"",
        "{}",
        "{\"version\":\"2.0\"}",
        "{\"version\":\"2.0\",\"rawPath\":5,\"requestContext\":{\"http\":{\"method\":\"GET\"}}}",
        "{\"version\":\"2.0\",\"rawPath\":\"/hello\",\"requestContext\":{\"http\":{\"method\":"
        "\"GET\"}},\"headers\":[1]}",
        "{\"version\":\"2.0\",\"rawPath\":\"/hello\",\"requestContext\":{\"http\":{\"method\":"
        "\"GET\"}},\"body\":\"%%%\",\"isBase64Encoded\":true}",
    };
    for (size_t i = 0; i < sizeof events / sizeof events[0]; i++) {
        int st = handle_raw(fx, mb_cur_from_cstr(events[i]), 0);
        if (st != 400) {
            fail_msg("event %zu answered %d: %s", i, st, fx->out.ptr);
        }
        assert_error_body(fx, "bad_request");
    }
    /* Larger than Lambda's payload limit: 413 without parsing. */
    size_t big = MB_EVENT_MAX_BYTES + 10;
    char *huge = malloc(big);
    memset(huge, ' ', big);
    assert_int_equal(handle_raw(fx, (mb_cur){huge, big}, 0), 413);
    assert_error_body(fx, "payload_too_large");
    free(huge);
}

static void test_app_deadline_504_and_budget_500(void **state) {
    fixture *fx = *state;
    static const char *const env[] = {NULL};
    setenv("MOONBASE_INSTRUCTION_LIMIT", "1000000000000", 1);
    open_app(fx, env);
    unsetenv("MOONBASE_INSTRUCTION_LIMIT");
    int64_t t0 = tk_mono_ms();
    mb_cur ev = MB_CUR_LIT("{\"version\":\"2.0\",\"rawPath\":\"/loop\",\"requestContext\":"
                           "{\"http\":{\"method\":\"GET\"}}}");
    assert_int_equal(handle_raw(fx, ev, tk_epoch_ms() + 200), 504);
    int64_t took = tk_mono_ms() - t0;
    assert_true(took >= 150 && took < 2000);
    assert_error_body(fx, "timeout");
    assert_int_equal(handle(fx, "GET", "/hello", NULL, NULL, NULL), 200);
}

static void test_app_budget_and_memory_500_then_recovers(void **state) {
    fixture *fx = *state;
    static const char *const limit[] = {"MOONBASE_INSTRUCTION_LIMIT=2000000", NULL};
    open_app(fx, limit);
    assert_int_equal(handle(fx, "GET", "/loop", NULL, NULL, NULL), 500);
    assert_error_body(fx, "internal");
    assert_int_equal(handle(fx, "GET", "/hello", NULL, NULL, NULL), 200);
    assert_int_equal(handle(fx, "GET", "/bomb", NULL, NULL, NULL), 500);
    assert_error_body(fx, "internal");
    assert_int_equal(handle(fx, "GET", "/hello", NULL, NULL, NULL), 200);
}

/* The response table is read after the handler returned: its metamethods still run under the
 * budget, and an error in them is a logged 500. */
static void test_app_response_metamethods_bounded(void **state) {
    fixture *fx = *state;
    static const char *const limit[] = {"MOONBASE_INSTRUCTION_LIMIT=2000000", NULL};
    open_app(fx, limit);
    alarm(20);
    int64_t t0 = tk_mono_ms();
    assert_int_equal(handle(fx, "GET", "/trap", "{\"mode\":\"loop\"}", NULL, NULL), 500);
    alarm(0);
    assert_true(tk_mono_ms() - t0 < 3000);
    assert_error_body(fx, "internal");
    assert_int_equal(handle(fx, "GET", "/trap", "{\"mode\":\"error\"}", NULL, NULL), 500);
    assert_error_body(fx, "internal");
    assert_int_equal(handle(fx, "GET", "/hello", NULL, NULL, NULL), 200);
}

static void test_app_protected_route_without_issuer_503(void **state) {
    fixture *fx = *state;
    open_app(fx, NULL);
    assert_int_equal(handle(fx, "GET", "/me", NULL, "{\"authorization\":\"Bearer x.y.z\"}", NULL),
                     503);
    assert_error_body(fx, "unavailable");
}

static void test_app_routes_syntax_error_names_file_and_line(void **state) {
    fixture *fx = *state;
    tk_write(fx->dir, "routes.lua",
             "return {\n  { 'GET', '/x', 'x' }\n  { 'GET', '/y', 'y' },\n}\n");
    mb_err err = {0};
    g_env[1] = NULL;
    assert_int_equal(mb_config_load(&fx->cfg, fake_getenv, NULL, &err), 0);
    assert_null(mb_app_new(&fx->cfg, fileno(fx->logf), &err));
    assert_non_null(strstr(err.msg, "routes.lua:3:"));
    /* A bad entry names the route number; a missing file says so. */
    tk_write(fx->dir, "routes.lua", "return { { 'GET', '/x', 'x' }, { 'GET', 'y', 'y' } }\n");
    assert_null(mb_app_new(&fx->cfg, fileno(fx->logf), &err));
    assert_non_null(strstr(err.msg, "route 2"));
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/routes.lua", fx->dir);
    unlink(path);
    assert_null(mb_app_new(&fx->cfg, fileno(fx->logf), &err));
    assert_non_null(strstr(err.msg, "routes.lua"));
    tk_write(fx->dir, "routes.lua", "while true do end\n");
    setenv("MOONBASE_INSTRUCTION_LIMIT", "100000", 1);
    assert_null(mb_app_new(&fx->cfg, fileno(fx->logf), &err));
    unsetenv("MOONBASE_INSTRUCTION_LIMIT");
    assert_non_null(strstr(err.msg, "budget"));
}

/* MOONBASE_DEV=1: routes.lua and handlers are re-read per request; handlers keep the whole
 * sandbox (globals, limits) and a handler syntax error's 500 names file and line. */
static void test_app_dev_mode_reload_keeps_sandbox(void **state) {
    fixture *fx = *state;
    static const char *const env[] = {"MOONBASE_DEV=1", NULL};
    setenv("MOONBASE_INSTRUCTION_LIMIT", "2000000", 1);
    open_app(fx, env);
    unsetenv("MOONBASE_INSTRUCTION_LIMIT");
    assert_int_equal(handle(fx, "GET", "/globals", NULL, NULL, NULL), 200);
    assert_string_equal(body_str(fx, "up"), "OK");
    assert_string_equal(body_str(fx, "j"), "[1]");
    alarm(20);
    assert_int_equal(handle(fx, "GET", "/loop", NULL, NULL, NULL), 500); /* budget still armed */
    alarm(0);
    assert_int_equal(handle(fx, "GET", "/syntax", NULL, NULL, NULL), 500);
    assert_non_null(strstr(body_str(fx, "message"), "syntax.lua:3:"));
    /* Edit a handler and routes.lua: visible on the next request, no restart. */
    tk_write(fx->dir, "hello.lua",
             "return function() return { status = 201, body = { v = 2 } } end\n");
    tk_age(fx->dir, "hello.lua", 3);
    assert_int_equal(handle(fx, "GET", "/hello", NULL, NULL, NULL), 201);
    tk_write(fx->dir, "routes.lua", "return { { 'GET', '/new', 'hello' } }\n");
    assert_int_equal(handle(fx, "GET", "/new", NULL, NULL, NULL), 201);
    assert_int_equal(handle(fx, "GET", "/hello", NULL, NULL, NULL), 404);
    /* A broken routes.lua in dev mode: a 500 naming file and line, then recovery. */
    tk_write(fx->dir, "routes.lua", "return {\n  { 'GET', '/new' 'hello' }\n}\n");
    assert_int_equal(handle(fx, "GET", "/new", NULL, NULL, NULL), 500);
    assert_non_null(strstr(body_str(fx, "message"), "routes.lua:2:"));
    tk_write(fx->dir, "routes.lua", "return { { 'GET', '/new', 'hello' } }\n");
    assert_int_equal(handle(fx, "GET", "/new", NULL, NULL, NULL), 201);
}

static void test_app_many_requests_do_not_grow(void **state) {
    fixture *fx = *state;
    open_app(fx, NULL);
    for (int i = 0; i < 300; i++) {
        assert_int_equal(handle(fx, "GET", i % 3 ? "/hello" : "/err", NULL, NULL, NULL),
                         i % 3 ? 200 : 500);
    }
}

/* Every API response carries the security headers; the forced ones win over the handler's, and
 * CORS comes only from CORS_ALLOWED_ORIGINS (a handler's own '*' is dropped). */
static void test_app_security_headers_on_every_response(void **state) {
    fixture *fx = *state;
    static const char *const env[] = {"ENVIRONMENT=prod",
                                      "CORS_ALLOWED_ORIGINS=https://app.example", NULL};
    open_app(fx, env);
    static const struct {
        const char *method, *path, *query;
        int status;
        bool auth;
    } cases[] = {
        {"GET", "/hello", NULL, 200, false}, {"GET", "/nope", NULL, 404, false},
        {"GET", "/err", NULL, 500, false},   {"GET", "/me", NULL, 401, true},
        {"GET", "/cors", NULL, 200, false},  {"POST", "/hello", NULL, 405, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(handle(fx, cases[i].method, cases[i].path, cases[i].query,
                                "{\"origin\":\"https://evil.example\"}", NULL),
                         cases[i].status);
        assert_string_equal(header(fx, "x-content-type-options"), "nosniff");
        assert_string_equal(header(fx, "content-security-policy"),
                            "default-src 'none'; frame-ancestors 'none'; sandbox");
        assert_string_equal(header(fx, "x-frame-options"), "DENY");
        assert_null(header(fx, "access-control-allow-origin"));
        assert_null(header(fx, "Access-Control-Allow-Origin"));
        assert_null(header(fx, "access-control-allow-credentials"));
        if (cases[i].auth) {
            assert_string_equal(header(fx, "cache-control"), "no-store");
        } else {
            assert_null(header(fx, "cache-control"));
        }
    }
    /* An allowed origin is echoed (never '*'), also over the handler's own value. */
    assert_int_equal(handle(fx, "GET", "/cors", NULL, "{\"origin\":\"https://app.example\"}", NULL),
                     200);
    assert_string_equal(header(fx, "access-control-allow-origin"), "https://app.example");
    assert_null(header(fx, "Access-Control-Allow-Origin"));
    /* A text body keeps the handler's own CSP; nosniff is not negotiable. */
    assert_int_equal(handle(fx, "GET", "/cors", "{\"text\":\"1\"}", NULL, NULL), 200);
    assert_string_equal(header(fx, "content-security-policy"), "default-src *");
    assert_string_equal(header(fx, "x-content-type-options"), "nosniff");
    assert_null(header(fx, "X-Content-Type-Options"));
}

/* A route's cpu_ms is its CPU-time budget: the spinning handler is cut after ~50 ms of CPU with
 * a 500 and errorType CpuBudget in the log and the EMF Errors5xx; and a cpu_ms above the
 * platform maximum is an init error naming the route. */
static void test_app_route_cpu_budget_500(void **state) {
    fixture *fx = *state;
    open_app(fx, NULL);
    struct timespec c0, c1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
    assert_int_equal(handle(fx, "GET", "/spin", NULL, NULL, NULL), 500);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
    int64_t cpu_ms = (c1.tv_sec - c0.tv_sec) * 1000 + (c1.tv_nsec - c0.tv_nsec) / 1000000;
    assert_true(cpu_ms < 100); /* within 2x of 50 ms */
    assert_error_body(fx, "internal");
    char *logs = log_text(fx);
    assert_non_null(strstr(logs, "\"errorType\":\"CpuBudget\""));
    assert_non_null(strstr(logs, "\"Errors5xx\":1"));
    free(logs);
    assert_int_equal(handle(fx, "GET", "/hello", NULL, NULL, NULL), 200);
    mb_app_free(fx->app);
    fx->app = NULL;
    mb_config_cleanup(&fx->cfg);
    tk_write(fx->dir, "routes.lua",
             "return { { 'GET', '/x', 'x' }, { 'GET', '/y', 'y', cpu_ms = 9000 } }\n");
    mb_err err = {0};
    assert_int_equal(mb_config_load(&fx->cfg, fake_getenv, NULL, &err), 0);
    assert_null(mb_app_new(&fx->cfg, fileno(fx->logf), &err));
    assert_non_null(
        strstr(err.msg, "route 2 (GET /y): cpu_ms 9000 is above the platform maximum 5000"));
    tk_write(fx->dir, "routes.lua", "return { { 'GET', '/x', 'x', cpu_ms = 0 } }\n");
    assert_null(mb_app_new(&fx->cfg, fileno(fx->logf), &err));
    assert_non_null(strstr(err.msg, "route 1: cpu_ms must be an integer"));
}

/* print() of a value ctx.secret read (Secrets Manager: a scripted server) goes through the
 * logger's redaction, as ctx.log does: the value reaches neither the log nor stderr, and the
 * printed text is one escaped line (its newline cannot start a forged line). */
static void test_app_print_redacts_secret_value(void **state) {
    fixture *fx = *state;
    script_server sm = {0};
    sm.script[0] =
        (script_reply){200, "{\"Name\":\"app/token\",\"SecretString\":\"tok-9f8e7d6c5b4a\"}"};
    sm.script_len = 1;
    script_server_start(&sm);
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "SECRETS_ENDPOINT=http://127.0.0.1:%d", sm.port);
    const char *extra[] = {endpoint,
                           "AWS_REGION=us-east-1",
                           "AWS_ACCESS_KEY_ID=AKIDTEST",
                           "AWS_SECRET_ACCESS_KEY=test",
                           "SECRET_ARNS=app/token",
                           NULL};
    open_app(fx, extra);
    FILE *errf = tmpfile(); /* stderr, where print wrote before it went through the logger */
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fileno(errf), STDERR_FILENO);
    int status = handle(fx, "GET", "/print", NULL, NULL, NULL);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    script_server_stop(&sm);
    assert_int_equal(status, 200);
    assert_int_equal(json_integer_value(json_object_get(fx->body, "length")), 16);
    char err_text[4096] = {0};
    assert_true(pread(fileno(errf), err_text, sizeof err_text - 1, 0) >= 0);
    fclose(errf);
    assert_null(strstr(err_text, "tok-9f8e7d6c5b4a"));
    char *logs = log_text(fx);
    assert_null(strstr(logs, "tok-9f8e7d6c5b4a"));
    assert_non_null(
        strstr(logs, "\"message\":\"value:\\t[REDACTED]\\t\\n{\\\"level\\\":\\\"ERROR\\\"}\""));
    assert_non_null(strstr(logs, ",\"print\":true}"));
    free(logs);
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_app_hello_200),
        T(test_app_params_and_request_id),
        T(test_app_unknown_path_404),
        T(test_app_wrong_method_405_with_allow),
        T(test_app_bad_paths_400),
        T(test_app_preflight_cors_only_for_allowed_origins),
        T(test_app_handler_error_500_without_internals),
        T(test_app_ctx_fail_4xx_with_code_and_field),
        T(test_app_ctx_fail_message_is_bounded),
        T(test_app_invalid_json_body_400_before_handler),
        T(test_app_bad_events),
        T(test_app_deadline_504_and_budget_500),
        T(test_app_budget_and_memory_500_then_recovers),
        T(test_app_response_metamethods_bounded),
        T(test_app_route_cpu_budget_500),
        T(test_app_security_headers_on_every_response),
        T(test_app_protected_route_without_issuer_503),
        T(test_app_routes_syntax_error_names_file_and_line),
        T(test_app_dev_mode_reload_keeps_sandbox),
        T(test_app_many_requests_do_not_grow),
        T(test_app_print_redacts_secret_value),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
