/* test_oom.c - out-of-memory loops for the modules that allocate: jwks, jwt, auth, router, event,
 * config and app. malloc, calloc and realloc are wrapped (-Wl,--wrap, see tests/CMakeLists.txt)
 * and Lua states allocate through them too, so one counter sees every allocation of the core,
 * of jansson (json_set_alloc_funcs) and of Lua. For N = 1, 2, ... the Nth allocation fails
 * ("once": later ones succeed; "from": every later one fails too) until the call succeeds
 * without a failure being injected. Each failed call must report a clean error (or, for the
 * app, still produce a response) and leave nothing behind: ASan's leak checker runs at exit.
 * OpenSSL's allocations are not wrapped: its own OOM paths are not ours to test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define OOM_PRINT_STACK() __sanitizer_print_stack_trace()
#else /* a Release build (the contract's plain cmake build) has no sanitizer runtime */
#define OOM_PRINT_STACK() ((void)0)
#endif
#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <fcntl.h>
#include <unistd.h>

#include "jwt_testkit.h"
#include "moonbase/app.h"
#include "moonbase/auth.h"
#include "moonbase/config.h"
#include "moonbase/event.h"
#include "moonbase/json.h"
#include "moonbase/jwks.h"
#include "moonbase/jwt.h"
#include "moonbase/log.h"
#include "moonbase/lua_api.h"
#include "moonbase/router.h"

/* ---- the failing allocator ---- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);

typedef enum { OOM_ONCE, OOM_FROM } oom_mode;

static struct {
    bool armed;
    oom_mode mode;
    unsigned long fail_at; /* 1-based index of the first allocation to fail */
    unsigned long count;   /* allocations seen since arming */
    unsigned long failed;  /* allocations refused since arming */
    bool in_jansson;       /* the allocation being decided is jansson's */
    bool jansson_failed;   /* a refused allocation was jansson's */
    bool trace;
} g_oom;

static bool s_fail_now(void) {
    if (!g_oom.armed) {
        return false;
    }
    g_oom.count++;
    bool fail =
        g_oom.mode == OOM_ONCE ? g_oom.count == g_oom.fail_at : g_oom.count >= g_oom.fail_at;
    g_oom.failed += fail;
    g_oom.jansson_failed = g_oom.jansson_failed || (fail && g_oom.in_jansson);
    if (fail && g_oom.trace) {
        OOM_PRINT_STACK(); /* MB_OOM_TRACE=1: where each injected failure hits */
    }
    return fail;
}

void *__wrap_malloc(size_t n) {
    return s_fail_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size) {
    return s_fail_now() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n) {
    /* realloc(p, 0) frees: never a failure to inject. */
    return n != 0 && s_fail_now() ? NULL : __real_realloc(p, n);
}

/* jansson's allocator. jansson ignores a failed append while it saves a token's text
 * (lex_save), so under memory pressure a parse can "succeed" with a truncated string: an RSA
 * modulus cut short makes the key unusable, and the set loads without it. Our code cannot see
 * that; the tests below accept the consequence (a skipped key, so "invalid token") only when
 * the refused allocation was jansson's. */
static void *s_jansson_malloc(size_t n) {
    g_oom.in_jansson = true;
    void *p = __wrap_malloc(n);
    g_oom.in_jansson = false;
    return p;
}

static void s_arm(oom_mode mode, unsigned long n) {
    g_oom.mode = mode;
    g_oom.fail_at = n;
    g_oom.count = g_oom.failed = 0;
    g_oom.jansson_failed = false;
    g_oom.armed = true;
}

/* Disarm; returns how many allocations were refused. */
static unsigned long s_disarm(void) {
    g_oom.armed = false;
    return g_oom.failed;
}

/* A Lua allocator on the wrapped realloc, so Lua's allocations count too. */
static void *s_lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    (void)ud;
    (void)osize;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    return realloc(ptr, nsize);
}

static lua_State *s_lua_new(void) {
    lua_State *L = lua_newstate(s_lua_alloc, NULL);
    assert_non_null(L);
    luaL_openlibs(L);
    mb_lua_aux_open(L); /* the array metatable */
    return L;
}

/* A state made while the allocator is disarmed: the fixture is not what is under test. */
static lua_State *s_lua_new_unarmed(void) {
    bool armed = g_oom.armed;
    g_oom.armed = false;
    lua_State *L = s_lua_new();
    g_oom.armed = armed;
    return L;
}

/* One step under test: does its work and cleans up; returns 0 or a negative mb_status. */
typedef int (*oom_step)(void *ud);

/* Run step with the Nth allocation failing for N = 1, 2, ... until a run sees no injected
 * failure (and must then succeed). Every run with a failure must return 0 (the step recovered)
 * or one of the `ok` statuses. Returns the number of allocations of the clean run. */
static unsigned long s_oom_loop(const char *what, oom_mode mode, oom_step step, void *ud,
                                const int *ok, size_t nok) {
    for (unsigned long n = 1; n < 200000; n++) {
        s_arm(mode, n);
        int rc = step(ud);
        unsigned long seen = g_oom.count;
        unsigned long refused = s_disarm();
        if (refused == 0) {
            if (rc != 0) {
                fail_msg("%s: clean run (no failure injected) returned %d", what, rc);
            }
            return seen;
        }
        /* See s_jansson_malloc: a truncated JWKS member reads as an unusable key. */
        bool allowed =
            rc == 0 || (g_oom.jansson_failed && (rc == MB_ERR_INVALID || rc == MB_ERR_UNAUTH));
        for (size_t i = 0; i < nok; i++) {
            allowed = allowed || rc == ok[i];
        }
        if (!allowed) {
            if (getenv("MB_OOM_TRACE") && !g_oom.trace) { /* run it again, showing the stack */
                g_oom.trace = true;
                s_arm(mode, n);
                step(ud);
                s_disarm();
            }
            fail_msg("%s: failing allocation %lu (%s) gave status %d", what, n,
                     mode == OOM_ONCE ? "once" : "from then on", rc);
        }
    }
    fail_msg("%s: the loop did not end", what);
    return 0;
}

static const int s_nomem[] = {MB_ERR_NOMEM};

/* ---- jwks ---- */

typedef struct key_fixture {
    tk_key key;
    mb_buf jwks_doc;
    mb_buf token;
    tk_fetch fetch;
    tk_clock clock;
} key_fixture;

static key_fixture g_kf;

static void s_key_fixture(void) {
    if (g_kf.key.pkey) {
        return;
    }
    tk_key_init(&g_kf.key, 2048, "oom-key");
    const tk_key *keys[] = {&g_kf.key};
    tk_jwks(&g_kf.jwks_doc, keys, 1);
    g_kf.fetch.doc = g_kf.jwks_doc.ptr;
    g_kf.clock.now = 1700000000;
    tk_sign(&g_kf.token, &g_kf.key, "{\"alg\":\"RS256\",\"kid\":\"oom-key\"}",
            "{\"sub\":\"u-1\",\"iss\":\"https://issuer.example/pool\",\"aud\":\"client-a\","
            "\"token_use\":\"id\",\"exp\":1700003600,\"iat\":1699999000,"
            "\"cognito:groups\":[\"admins\",\"tenant:t-9\"],\"email\":\"a@example.com\","
            "\"custom:tenant_id\":\"t-9\",\"cognito:username\":\"ada\"}");
}

static int s_step_jwks(void *ud) {
    (void)ud;
    mb_err err = {0};
    mb_jwks *j = mb_jwks_new("https://issuer.example/jwks", tk_fetch_fn, &g_kf.fetch, &err);
    if (j == NULL) {
        return err.status;
    }
    int rc = mb_jwks_load(j, mb_buf_cur(&g_kf.jwks_doc), &err);
    if (rc == 0 && mb_jwks_key_count(j) != 1) {
        rc = MB_ERR_INVALID; /* the key was skipped: see s_jansson_malloc */
    }
    mb_jwks_free(j);
    return rc;
}

static void test_oom_jwks_load(void **state) {
    (void)state;
    s_key_fixture();
    unsigned long n = s_oom_loop("jwks", OOM_ONCE, s_step_jwks, NULL, s_nomem, 1);
    assert_true(n > 3);
    s_oom_loop("jwks", OOM_FROM, s_step_jwks, NULL, s_nomem, 1);
}

/* ---- jwt ---- */

static int s_step_jwt(void *ud) {
    (void)ud;
    mb_err err = {0};
    static const char *const clients[] = {"client-a"};
    mb_jwt_options o = {"https://issuer.example/pool", clients, 1, 60, tk_wall(&g_kf.clock)};
    mb_jwks *j = mb_jwks_new("https://issuer.example/jwks", tk_fetch_fn, &g_kf.fetch, &err);
    if (j == NULL) {
        return err.status;
    }
    mb_clock mono = tk_mono(&g_kf.clock);
    mb_jwks_set_clock(j, &mono);
    mb_jwt_verifier *v = mb_jwt_verifier_new(&o, j, &err);
    int rc = v ? 0 : err.status;
    const mb_jwt_claims *c = NULL;
    for (int i = 0; rc == 0 && i < 2; i++) { /* first verification, then a cache hit */
        rc = mb_jwt_verify(v, mb_buf_cur(&g_kf.token), &c, &err);
        if (rc == 0 && !mb_cur_eq(c->sub, MB_CUR_LIT("u-1"))) {
            rc = MB_ERR_INVALID;
        }
    }
    mb_jwt_verifier_free(v);
    mb_jwks_free(j);
    return rc;
}

static void test_oom_jwt_verify(void **state) {
    (void)state;
    s_key_fixture();
    /* The JWKS fetch reports its own out-of-memory as "unavailable" (a 503 for the client). */
    static const int ok[] = {MB_ERR_NOMEM, MB_ERR_UNAVAILABLE};
    s_oom_loop("jwt", OOM_ONCE, s_step_jwt, NULL, ok, 2);
    s_oom_loop("jwt", OOM_FROM, s_step_jwt, NULL, ok, 2);
}

/* ---- auth ---- */

static int s_step_auth(void *ud) {
    (void)ud;
    mb_config cfg = {0};
    char *clients[] = {"client-a"};
    cfg.cognito_issuer = "https://issuer.example/pool";
    cfg.client_ids[0] = clients[0];
    cfg.client_id_count = 1;
    cfg.jwt_clock_skew_s = 60;
    lua_State *L = s_lua_new_unarmed();
    mb_err err = {0};
    mb_auth *a = mb_auth_new(&cfg, &err);
    int rc = a ? 0 : err.status;
    if (a) {
        mb_auth_set_transport(a, tk_fetch_fn, &g_kf.fetch);
        mb_clock wall = tk_wall(&g_kf.clock);
        mb_auth_set_clock(a, &wall);
        mb_buf h = {0};
        rc = mb_buf_append_cstr(&h, "Bearer ") || mb_buf_append_cur(&h, mb_buf_cur(&g_kf.token))
                 ? MB_ERR_NOMEM
                 : 0;
        static const char *const groups[] = {"admins"};
        mb_auth_rule rule = {MB_TOKEN_USE_ID, groups, 1};
        int top = lua_gettop(L);
        const mb_auth_claims *who = NULL;
        if (rc == 0) {
            rc = mb_auth_authenticate(a, mb_buf_cur(&h), &rule, &who, &err);
        }
        if (rc == 0) {
            rc = mb_auth_push_user(L, who, &err);
        }
        assert_int_equal(lua_gettop(L), top + (rc == 0));
        mb_buf_cleanup(&h);
    }
    mb_auth_free(a);
    lua_close(L);
    return rc;
}

static void test_oom_auth_authenticate(void **state) {
    (void)state;
    s_key_fixture();
    static const int ok[] = {MB_ERR_NOMEM, MB_ERR_UNAVAILABLE};
    s_oom_loop("auth", OOM_ONCE, s_step_auth, NULL, ok, 2);
    s_oom_loop("auth", OOM_FROM, s_step_auth, NULL, ok, 2);
}

/* ---- router ---- */

static const char s_routes[] =
    "return {"
    " { 'GET', '/hello', 'hello' },"
    " { 'GET', '/items/{id}', 'items', auth = true },"
    " { 'PUT', '/items/{id}', 'items', groups = { 'a', 'b' }, auth = true },"
    " { 'ANY', '/t/{x}/y/{z}', 'any', token_use = 'access', auth = true },"
    "}";

static int s_step_router(void *ud) {
    lua_State *L = ud;
    mb_router r;
    mb_err err = {0};
    int rc = mb_router_load(&r, L, -1, &err);
    if (rc != 0) {
        return rc == MB_ERR_CONFIG && strstr(err.msg, "memory") ? MB_ERR_NOMEM : rc;
    }
    static const struct {
        const char *method, *path;
        mb_route_result want;
    } cases[] = {
        {"GET", "/items/a%20b", MB_ROUTE_FOUND},
        {"DELETE", "/items/1", MB_ROUTE_METHOD_NOT_ALLOWED},
        {"POST", "/t/1/y/2", MB_ROUTE_FOUND},
        {"GET", "/nope", MB_ROUTE_NOT_FOUND},
    };
    for (size_t i = 0; rc == 0 && i < sizeof cases / sizeof cases[0]; i++) {
        mb_route_match m;
        mb_route_result got = mb_router_match(&r, mb_cur_from_cstr(cases[i].method),
                                              mb_cur_from_cstr(cases[i].path), &m);
        /* Without memory for the decoded path: MB_ROUTE_NOMEM, never a wrong route. The Allow
         * list of a 405 may then be incomplete (its appends are best effort). */
        if (got != cases[i].want) {
            rc = got == MB_ROUTE_NOMEM ? MB_ERR_NOMEM : MB_ERR_INVALID;
        } else if (got == MB_ROUTE_METHOD_NOT_ALLOWED &&
                   (m.allow.ptr == NULL || strcmp(m.allow.ptr, "GET, PUT, OPTIONS") != 0)) {
            rc = MB_ERR_NOMEM;
        }
        mb_route_match_cleanup(&m);
    }
    mb_router_cleanup(&r);
    return rc;
}

static void test_oom_router_load_and_match(void **state) {
    (void)state;
    lua_State *L = s_lua_new();
    assert_int_equal(luaL_dostring(L, s_routes), LUA_OK);
    s_oom_loop("router", OOM_ONCE, s_step_router, L, s_nomem, 1);
    s_oom_loop("router", OOM_FROM, s_step_router, L, s_nomem, 1);
    lua_close(L);
}

/* ---- event ---- */

static const char s_event_v2[] =
    "{\"version\":\"2.0\",\"rawPath\":\"/items/1\",\"rawQueryString\":\"a=1\","
    "\"headers\":{\"Content-Type\":\"application/json\",\"Cookie\":\"s=1; t=2\","
    "\"Origin\":\"http://localhost:3000\"},\"queryStringParameters\":{\"a\":\"1\"},"
    "\"cookies\":[\"c=3\"],\"requestContext\":{\"http\":{\"method\":\"PUT\","
    "\"sourceIp\":\"203.0.113.7\"},\"requestId\":\"req-1\"},"
    "\"body\":\"eyJhIjpbMSwyLHsiYiI6bnVsbH1dfQ==\",\"isBase64Encoded\":true}";

static const char s_event_v1[] =
    "{\"httpMethod\":\"GET\",\"path\":\"/hello\",\"headers\":{\"Accept\":\"*/*\"},"
    "\"multiValueHeaders\":{\"Accept\":[\"a\",\"b\"]},"
    "\"multiValueQueryStringParameters\":{\"q\":[\"1\",\"2\"]},"
    "\"requestContext\":{\"identity\":{\"sourceIp\":\"1.2.3.4\"},\"requestId\":\"r\"},"
    "\"body\":null}";

/* The response a handler might return: list headers, cookies, a table body. */
static const char s_response[] = "return { status = 201, headers = { ['X-A'] = '1', "
                                 "['X-L'] = { 'a', 'b' } }, cookies = { 's=1; Path=/' }, "
                                 "body = { ok = true, list = { 1, 2.5, 'x' } } }";

typedef struct event_case {
    lua_State *L;
    const char *event;
} event_case;

static int s_step_event(void *ud) {
    event_case *c = ud;
    lua_State *L = c->L;
    int top = lua_gettop(L);
    mb_err err = {0};
    mb_event ev;
    int rc = mb_json_decode(L, mb_cur_from_cstr(c->event), MB_JSON_MAX_DEPTH, &err);
    if (rc == 0) {
        rc = mb_event_to_request(L, -1, &ev, &err); /* stack: event, req */
    }
    if (rc == 0) {
        static const mb_event_header extra[] = {{"x-request-id", {"r", 1}, false}};
        mb_buf out = {0};
        int status = 0;
        rc = luaL_dostring(L, s_response) == LUA_OK ? 0 : MB_ERR_NOMEM;
        if (rc == 0) {
            rc = mb_event_encode_response(L, -1, &ev, extra, 1, &out, &status, &err);
        }
        if (rc == 0 && (status != 201 || strstr(out.ptr, "\"statusCode\":201") == NULL)) {
            rc = MB_ERR_INVALID;
        }
        mb_buf_cleanup(&out);
    }
    /* An encode that ran out of memory says so as "invalid response: out of memory". */
    if (rc == MB_ERR_INVALID && strstr(err.msg, "out of memory")) {
        rc = MB_ERR_NOMEM;
    }
    lua_settop(L, top);
    lua_gc(L, LUA_GCCOLLECT);
    return rc;
}

static void test_oom_event_request_response(void **state) {
    (void)state;
    lua_State *L = s_lua_new();
    event_case v2 = {L, s_event_v2}, v1 = {L, s_event_v1};
    s_oom_loop("event v2", OOM_ONCE, s_step_event, &v2, s_nomem, 1);
    s_oom_loop("event v2", OOM_FROM, s_step_event, &v2, s_nomem, 1);
    s_oom_loop("event v1", OOM_FROM, s_step_event, &v1, s_nomem, 1);
    lua_close(L);
}

/* ---- config ---- */

static const char *s_env(const char *name) {
    static const char *const vars[][2] = {
        {"TABLE_NAME", "items"},
        {"USER_POOL_ID", "us-east-1_abc"},
        {"CLIENT_ID", " client-a , client-b,client-c "},
        {"AWS_REGION", "eu-west-1"},
        {"HANDLERS_DIR", "/var/task/handlers"},
        {"ENVIRONMENT", "prod"},
        {"CORS_ALLOWED_ORIGINS", "https://a.example,https://b.example"},
        {"METRICS_NAMESPACE", "Moon"},
        {"LOG_LEVEL", "debug"},
        {"JWT_CLOCK_SKEW_SECONDS", "30"},
    };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        if (strcmp(name, vars[i][0]) == 0) {
            return vars[i][1];
        }
    }
    return NULL;
}

static int s_step_config(void *ud) {
    (void)ud;
    mb_config cfg;
    mb_err err = {0};
    int rc = mb_config_load(&cfg, s_env, "/var/task/bootstrap", &err);
    if (rc == 0) {
        if (cfg.client_id_count != 3 || cfg.cors_origin_count != 2 || !cfg.cognito_issuer) {
            rc = MB_ERR_INVALID;
        }
        mb_config_cleanup(&cfg);
    }
    return rc;
}

static void test_oom_config_load(void **state) {
    (void)state;
    s_oom_loop("config", OOM_ONCE, s_step_config, NULL, s_nomem, 1);
    s_oom_loop("config", OOM_FROM, s_step_config, NULL, s_nomem, 1);
}

/* ---- app ---- */

static const char *s_app_env(const char *name) {
    if (strcmp(name, "HANDLERS_DIR") == 0) {
        return MB_SOURCE_DIR "/handlers";
    }
    if (strcmp(name, "ENVIRONMENT") == 0) {
        return "test";
    }
    return NULL;
}

typedef struct app_case {
    mb_config cfg;
    int log_fd;
    mb_cur event;
    mb_buf out;
    int status;
} app_case;

/* mb_app_new may fail (init error); once built, mb_app_handle must always answer. */
static int s_step_app(void *ud) {
    app_case *c = ud;
    mb_err err = {0};
    mb_app *app = mb_app_new(&c->cfg, c->log_fd, &err);
    if (app == NULL) {
        return err.status == MB_ERR_NOMEM || strstr(err.msg, "memory") ? MB_ERR_NOMEM : err.status;
    }
    mb_invocation inv = {MB_CUR_LIT("req-oom"), {0}, 0};
    mb_buf_reset(&c->out);
    c->status = mb_app_handle(app, c->event, &inv, &c->out);
    mb_app_free(app);
    bool ok = c->out.len > 0 && (c->status == 200 || c->status == 500);
    if (!ok) {
        fail_msg("app: status %d with response '%s'", c->status, c->out.ptr ? c->out.ptr : "");
    }
    return c->status == 200 ? 0 : MB_ERR_NOMEM;
}

static void test_oom_app_new_and_handle(void **state) {
    (void)state;
    app_case c = {.log_fd = open("/dev/null", O_WRONLY)};
    assert_true(c.log_fd >= 0);
    mb_err err = {0};
    assert_int_equal(mb_config_load(&c.cfg, s_app_env, NULL, &err), 0);
    size_t len;
    char *event = tk_read_file(MB_SOURCE_DIR "/sam/events/hello.json", &len);
    c.event = (mb_cur){event, len};
    /* The response buffer keeps its capacity, as the runtime's does between invocations, so
     * even with every allocation failing the static 500 fits. */
    assert_int_equal(mb_buf_reserve(&c.out, 4096), 0);
    unsigned long n = s_oom_loop("app", OOM_ONCE, s_step_app, &c, s_nomem, 1);
    assert_int_equal(c.status, 200);
    assert_non_null(strstr(c.out.ptr, "Hello, Ada!"));
    s_oom_loop("app", OOM_FROM, s_step_app, &c, s_nomem, 1);
    print_message("app: %lu allocations for mb_app_new + one /hello\n", n);
    free(event);
    mb_buf_cleanup(&c.out);
    mb_config_cleanup(&c.cfg);
    close(c.log_fd);
}

int main(void) {
    /* jansson (JWKS documents) allocates through the wrapped functions too. */
    json_set_alloc_funcs(s_jansson_malloc, free);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oom_jwks_load),
        cmocka_unit_test(test_oom_jwt_verify),
        cmocka_unit_test(test_oom_auth_authenticate),
        cmocka_unit_test(test_oom_router_load_and_match),
        cmocka_unit_test(test_oom_event_request_response),
        cmocka_unit_test(test_oom_config_load),
        cmocka_unit_test(test_oom_app_new_and_handle),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    mb_buf_cleanup(&g_kf.jwks_doc);
    mb_buf_cleanup(&g_kf.token);
    tk_key_cleanup(&g_kf.key);
    return rc;
}
