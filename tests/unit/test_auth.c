/* test_auth.c - the pipeline glue: Authorization parsing, route token_use and groups, req.user
 * in Lua (fields, array metatable, raw claims), 401/403/503 mapping and client-safe messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <lauxlib.h>
#include <lualib.h>
#include <string.h>

#include "jwt_testkit.h"
#include "moonbase/auth.h"

#define ISS "http://localhost:19229/local_pool"
#define NOW 1767225600
#define HDR "{\"kid\":\"k1\",\"alg\":\"RS256\"}"

static tk_key g_k1;

typedef struct fx {
    tk_fetch fetch;
    tk_clock wall;
    mb_buf doc;
    mb_buf tok;
    mb_buf hdr;
    mb_config cfg;
    char *clients[2];
    mb_auth *auth;
    lua_State *L;
    size_t lua_limit; /* allocator cap for the out-of-memory test (0: none) */
    size_t lua_used;
} fx;

static void *s_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    fx *f = ud;
    size_t old = ptr != NULL ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        f->lua_used -= old;
        return NULL;
    }
    if (f->lua_limit != 0 && nsize > old && f->lua_used + (nsize - old) > f->lua_limit) {
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (p != NULL) {
        f->lua_used = f->lua_used - old + nsize;
    }
    return p;
}

static int group_setup(void **state) {
    (void)state;
    tk_key_init(&g_k1, 2048, "k1");
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    tk_key_cleanup(&g_k1);
    return 0;
}

static int setup(void **state) {
    fx *f = calloc(1, sizeof *f);
    const tk_key *keys[] = {&g_k1};
    tk_jwks(&f->doc, keys, 1);
    f->fetch.doc = f->doc.ptr;
    f->wall.now = NOW;
    f->clients[0] = "client-a";
    f->cfg.cognito_issuer = ISS;
    f->cfg.client_ids[0] = f->clients[0];
    f->cfg.client_id_count = 1;
    f->cfg.jwt_clock_skew_s = 60;
    f->auth = mb_auth_new(&f->cfg, NULL);
    mb_auth_set_transport(f->auth, tk_fetch_fn, &f->fetch);
    mb_clock wall = tk_wall(&f->wall);
    mb_auth_set_clock(f->auth, &wall);
    f->L = lua_newstate(s_alloc, f);
    luaL_newmetatable(f->L, "moonbase.array_mt");
    lua_pop(f->L, 1);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx *f = *state;
    mb_auth_free(f->auth);
    lua_close(f->L);
    mb_buf_cleanup(&f->doc);
    mb_buf_cleanup(&f->tok);
    mb_buf_cleanup(&f->hdr);
    free(f);
    return 0;
}

static const char *s_id_claims =
    "{\"sub\":\"u-1\",\"iss\":\"" ISS "\",\"token_use\":\"id\",\"aud\":\"client-a\","
    "\"exp\":1767229200,\"iat\":1767225590,\"email\":\"a@example.com\","
    "\"cognito:username\":\"alice\",\"custom:tenant_id\":\"acme\","
    "\"cognito:groups\":[\"admin\",\"tenant:acme\"],\"email_verified\":true,\"x\":null,"
    "\"nested\":{\"list\":[1,2.5,\"t\\u00e9\"]}}";

static const char *s_access_claims =
    "{\"sub\":\"u-2\",\"iss\":\"" ISS "\",\"token_use\":\"access\",\"client_id\":\"client-a\","
    "\"exp\":1767229200,\"username\":\"bob\"}";

static int s_auth(fx *f, const char *claims, const char *prefix, const mb_auth_rule *rule,
                  mb_err *err) {
    tk_sign(&f->tok, &g_k1, HDR, claims);
    mb_buf_reset(&f->hdr);
    mb_buf_append_cstr(&f->hdr, prefix);
    mb_buf_append_cur(&f->hdr, mb_buf_cur(&f->tok));
    const mb_auth_claims *who = (const mb_auth_claims *)&who; /* must be overwritten */
    int rc = mb_auth_authenticate(f->auth, mb_buf_cur(&f->hdr), rule, &who, err);
    assert_true(rc == 0 ? who == mb_auth_claims_of(f->auth) : who == NULL);
    return rc == 0 ? mb_auth_push_user(f->L, who, err) : rc; /* req.user, as the app builds it */
}

static const char *s_field(lua_State *L, const char *k) {
    lua_getfield(L, -1, k);
    const char *s = lua_tostring(L, -1);
    lua_pop(L, 1); /* the string stays alive in the table */
    return s;
}

static void test_auth_pushes_user_for_id_token(void **state) {
    fx *f = *state;
    int top = lua_gettop(f->L);
    assert_int_equal(s_auth(f, s_id_claims, "Bearer ", NULL, NULL), 0);
    assert_int_equal(lua_gettop(f->L), top + 1);
    assert_string_equal(s_field(f->L, "sub"), "u-1");
    assert_string_equal(s_field(f->L, "email"), "a@example.com");
    assert_string_equal(s_field(f->L, "username"), "alice");
    assert_string_equal(s_field(f->L, "tenant"), "org:acme");
    assert_string_equal(s_field(f->L, "tenant_kind"), "named");
    assert_string_equal(s_field(f->L, "tenant_name"), "acme");
    assert_string_equal(s_field(f->L, "token_use"), "id");
    assert_int_equal(mb_auth_tenant(f->auth)->kind, MB_TENANT_NAMED);
    assert_true(mb_cur_eq(mb_tenant_key(mb_auth_tenant(f->auth)), MB_CUR_LIT("org:acme")));
    lua_getfield(f->L, -1, "groups"); /* stack: user, groups */
    assert_int_equal(luaL_len(f->L, -1), 2);
    lua_rawgeti(f->L, -1, 2);
    assert_string_equal(lua_tostring(f->L, -1), "tenant:acme");
    lua_pop(f->L, 1);
    assert_true(lua_getmetatable(f->L, -1));
    luaL_getmetatable(f->L, "moonbase.array_mt");
    assert_true(lua_rawequal(f->L, -1, -2));
    lua_pop(f->L, 3);
    lua_getfield(f->L, -1, "claims"); /* stack: user, claims */
    lua_getfield(f->L, -1, "exp");
    assert_true(lua_isinteger(f->L, -1));
    assert_int_equal(lua_tointeger(f->L, -1), 1767229200);
    lua_pop(f->L, 1);
    lua_getfield(f->L, -1, "email_verified");
    assert_true(lua_isboolean(f->L, -1) && lua_toboolean(f->L, -1));
    lua_pop(f->L, 1);
    lua_getfield(f->L, -1, "x");
    assert_true(lua_islightuserdata(f->L, -1) && lua_touserdata(f->L, -1) == NULL);
    lua_pop(f->L, 1);
    lua_getfield(f->L, -1, "nested");
    lua_getfield(f->L, -1, "list");
    lua_rawgeti(f->L, -1, 2);
    assert_true(lua_tonumber(f->L, -1) == 2.5);
    lua_rawgeti(f->L, -2, 3);
    assert_string_equal(lua_tostring(f->L, -1), "t\xc3\xa9");
    lua_settop(f->L, top);
    assert_string_equal(mb_auth_last_detail(f->auth), "");
}

/* The pipeline reads the identity from C: the claims struct carries what req.user shows, without
 * a Lua state. */
static void test_auth_claims_struct_matches_user(void **state) {
    fx *f = *state;
    int top = lua_gettop(f->L);
    assert_int_equal(s_auth(f, s_id_claims, "Bearer ", NULL, NULL), 0);
    const mb_auth_claims *c = mb_auth_claims_of(f->auth);
    assert_true(mb_cur_eq(c->sub, MB_CUR_LIT("u-1")));
    assert_true(mb_cur_eq(c->email, MB_CUR_LIT("a@example.com")));
    assert_true(mb_cur_eq(c->username, MB_CUR_LIT("alice")));
    assert_true(mb_cur_eq(mb_tenant_key(&c->tenant), MB_CUR_LIT("org:acme")));
    assert_int_equal(c->token_use, MB_TOKEN_USE_ID);
    assert_true(mb_cur_eq(c->groups, MB_CUR_LIT("[\"admin\",\"tenant:acme\"]")));
    assert_true(c->payload.len > 0 && c->payload.ptr[0] == '{');
    assert_ptr_equal(&c->tenant, mb_auth_tenant(f->auth));
    lua_settop(f->L, top);
    assert_int_equal(s_auth(f, s_access_claims, "Bearer ", NULL, NULL), 0);
    assert_int_equal(c->token_use, MB_TOKEN_USE_ACCESS);
    assert_true(mb_cur_eq(mb_tenant_key(&c->tenant), MB_CUR_LIT("user:u-2")));
    assert_int_equal(c->groups.len, 0);
    lua_settop(f->L, top);
    mb_err err = {0};
    assert_int_equal(s_auth(f, s_id_claims, "Bearer x", NULL, &err), MB_ERR_UNAUTH);
    assert_int_equal(c->tenant.kind, MB_TENANT_NONE); /* a failure leaves no identity behind */
    assert_int_equal(c->sub.len, 0);
    assert_int_equal(lua_gettop(f->L), top);
}

static void test_auth_access_token_personal_tenant(void **state) {
    fx *f = *state;
    assert_int_equal(s_auth(f, s_access_claims, "bearer ", NULL, NULL), 0);
    assert_string_equal(s_field(f->L, "token_use"), "access");
    assert_string_equal(s_field(f->L, "username"), "bob");
    assert_string_equal(s_field(f->L, "tenant"), "user:u-2");
    assert_string_equal(s_field(f->L, "tenant_kind"), "personal");
    assert_null(s_field(f->L, "tenant_name"));
    assert_string_equal(s_field(f->L, "email"), "");
    lua_getfield(f->L, -1, "groups");
    assert_int_equal(luaL_len(f->L, -1), 0);
    lua_pop(f->L, 2);
}

static void test_auth_bearer_parsing(void **state) {
    (void)state;
    mb_cur t;
    assert_int_equal(mb_auth_bearer_token(MB_CUR_LIT("Bearer abc"), &t), 0);
    assert_true(mb_cur_eq(t, MB_CUR_LIT("abc")));
    assert_int_equal(mb_auth_bearer_token(MB_CUR_LIT("  bEaReR   abc  "), &t), 0);
    assert_true(mb_cur_eq(t, MB_CUR_LIT("abc")));
    const char *bad[] = {"Basic abc",  "Bearer",      "Bearer ", "Bearerabc",
                         "Bearer a b", "Bearer\tabc", "abc",     ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(mb_auth_bearer_token(mb_cur_from_cstr(bad[i]), &t), MB_ERR_UNAUTH);
    }
}

static void test_auth_rejects_missing_or_malformed_header(void **state) {
    fx *f = *state;
    mb_err err = {0};
    int top = lua_gettop(f->L);
    const mb_auth_claims *who = NULL;
    assert_int_equal(mb_auth_authenticate(f->auth, (mb_cur){NULL, 0}, NULL, &who, &err),
                     MB_ERR_UNAUTH);
    assert_string_equal(err.msg, "missing bearer token");
    assert_int_equal(s_auth(f, s_id_claims, "Basic ", NULL, &err), MB_ERR_UNAUTH);
    assert_int_equal(lua_gettop(f->L), top);
    assert_int_equal(f->fetch.calls, 0);
}

static void test_auth_route_token_use(void **state) {
    fx *f = *state;
    mb_err err = {0};
    mb_auth_rule id_only = {MB_TOKEN_USE_ID, NULL, 0};
    mb_auth_rule access_only = {MB_TOKEN_USE_ACCESS, NULL, 0};
    assert_int_equal(s_auth(f, s_access_claims, "Bearer ", &id_only, &err), MB_ERR_UNAUTH);
    assert_string_equal(err.msg, "invalid token");
    assert_non_null(strstr(mb_auth_last_detail(f->auth), "token_use"));
    assert_int_equal(s_auth(f, s_id_claims, "Bearer ", &access_only, &err), MB_ERR_UNAUTH);
    assert_int_equal(s_auth(f, s_id_claims, "Bearer ", &id_only, &err), 0);
    lua_pop(f->L, 1);
}

static void test_auth_route_groups(void **state) {
    fx *f = *state;
    mb_err err = {0};
    static const char *const admin[] = {"ops", "admin"};
    static const char *const ops[] = {"ops"};
    mb_auth_rule need_admin = {MB_TOKEN_USE_ANY, admin, 2};
    mb_auth_rule need_ops = {MB_TOKEN_USE_ANY, ops, 1};
    assert_int_equal(s_auth(f, s_id_claims, "Bearer ", &need_admin, &err), 0);
    lua_pop(f->L, 1);
    int top = lua_gettop(f->L);
    assert_int_equal(s_auth(f, s_id_claims, "Bearer ", &need_ops, &err), MB_ERR_FORBIDDEN);
    assert_int_equal(s_auth(f, s_access_claims, "Bearer ", &need_ops, &err), MB_ERR_FORBIDDEN);
    assert_int_equal(lua_gettop(f->L), top);
}

static void test_auth_invalid_token_message_is_safe(void **state) {
    fx *f = *state;
    mb_err err = {0};
    const char *claims = "{\"sub\":\"u-1\",\"iss\":\"http://evil\",\"token_use\":\"id\","
                         "\"aud\":\"client-a\",\"exp\":1767229200}";
    assert_int_equal(s_auth(f, claims, "Bearer ", NULL, &err), MB_ERR_UNAUTH);
    assert_string_equal(err.msg, "invalid token");
    assert_null(strstr(err.msg, "eyJ"));
    assert_non_null(strstr(mb_auth_last_detail(f->auth), "iss"));
}

static void test_auth_expired_token(void **state) {
    fx *f = *state;
    mb_err err = {0};
    f->wall.now = 1767229200 + 3600;
    assert_int_equal(s_auth(f, s_id_claims, "Bearer ", NULL, &err), MB_ERR_UNAUTH);
    assert_string_equal(err.msg, "token expired");
}

static void test_auth_unavailable_when_jwks_unreachable(void **state) {
    fx *f = *state;
    mb_err err = {0};
    f->fetch.fail_status = MB_ERR_IO;
    int top = lua_gettop(f->L);
    assert_int_equal(s_auth(f, s_id_claims, "Bearer ", NULL, &err), MB_ERR_UNAVAILABLE);
    assert_string_equal(err.msg, "authentication unavailable");
    assert_int_equal(lua_gettop(f->L), top);
}

static void test_auth_unavailable_when_not_configured(void **state) {
    (void)state;
    mb_err err = {0};
    mb_config empty = {0};
    mb_auth *a = mb_auth_new(&empty, &err);
    assert_non_null(a);
    const mb_auth_claims *who = NULL;
    assert_int_equal(mb_auth_authenticate(a, MB_CUR_LIT("Bearer x.y.z"), NULL, &who, &err),
                     MB_ERR_UNAVAILABLE);
    assert_null(who);
    assert_string_equal(err.msg, "authentication not configured");
    mb_auth_free(a);
    mb_auth_free(NULL);
}

static void test_auth_lua_memory_error_is_nomem(void **state) {
    fx *f = *state;
    mb_err err = {0};
    int top = lua_gettop(f->L);
    lua_gc(f->L, LUA_GCCOLLECT);
    f->lua_limit = f->lua_used + 64; /* room for almost nothing */
    assert_int_equal(s_auth(f, s_id_claims, "Bearer ", NULL, &err), MB_ERR_NOMEM);
    assert_int_equal(lua_gettop(f->L), top);
    f->lua_limit = 0;
    assert_int_equal(s_auth(f, s_id_claims, "Bearer ", NULL, &err), 0);
    lua_settop(f->L, top);
}

/* Claims of one user (sub u-7): an ID token and an access token, with `extra` members. */
static void s_claims_of(mb_buf *out, bool id, const char *extra) {
    mb_buf_reset(out);
    mb_buf_appendf(out,
                   "{\"sub\":\"u-7\",\"iss\":\"" ISS "\",\"token_use\":\"%s\",\"%s\":\"client-a\","
                   "\"exp\":1767229200%s%s}",
                   id ? "id" : "access", id ? "aud" : "client_id", extra[0] ? "," : "", extra);
}

/* Finding 2 of issue 19: the access token carries no custom:tenant_id, so a tenant taken from
 * the attribute changed with the token type. Groups are in both: the same tenant either way. */
static void test_auth_tenant_same_for_id_and_access_token(void **state) {
    fx *f = *state;
    mb_buf c = {0};
    s_claims_of(&c, true, "\"custom:tenant_id\":\"acme\",\"cognito:groups\":[\"tenant:acme\"]");
    assert_int_equal(s_auth(f, c.ptr, "Bearer ", NULL, NULL), 0);
    assert_string_equal(s_field(f->L, "tenant"), "org:acme");
    lua_pop(f->L, 1);
    s_claims_of(&c, false, "\"cognito:groups\":[\"tenant:acme\"]");
    assert_int_equal(s_auth(f, c.ptr, "Bearer ", NULL, NULL), 0);
    assert_string_equal(s_field(f->L, "tenant"), "org:acme");
    lua_pop(f->L, 1);
    s_claims_of(&c, true, "");
    assert_int_equal(s_auth(f, c.ptr, "Bearer ", NULL, NULL), 0);
    assert_string_equal(s_field(f->L, "tenant"), "user:u-7");
    lua_pop(f->L, 1);
    s_claims_of(&c, false, "");
    assert_int_equal(s_auth(f, c.ptr, "Bearer ", NULL, NULL), 0);
    assert_string_equal(s_field(f->L, "tenant"), "user:u-7");
    lua_pop(f->L, 1);
    mb_buf_cleanup(&c);
}

/* Finding 1 of issue 19: a user who wrote custom:tenant_id at sign-up (cognito-local does not
 * enforce the client's WriteAttributes) is in no tenant group: refused, never placed in the
 * tenant (or personal tenant) the attribute names. */
static void test_auth_tenant_attribute_needs_its_group(void **state) {
    fx *f = *state;
    mb_err err = {0};
    mb_buf c = {0};
    int top = lua_gettop(f->L);
    const char *cases[] = {
        "\"custom:tenant_id\":\"acme\"",
        "\"custom:tenant_id\":\"3f1c0e8a-0000-4000-8000-000000000001\"",
        "\"custom:tenant_id\":\"acme\",\"cognito:groups\":[\"tenant:globex\"]",
        "\"custom:tenant_id\":\"acme\",\"cognito:groups\":[\"acme\",\"tenant-admin\"]",
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        s_claims_of(&c, true, cases[i]);
        assert_int_equal(s_auth(f, c.ptr, "Bearer ", NULL, &err), MB_ERR_FORBIDDEN);
        assert_string_equal(err.msg, "no valid tenant for this user");
        assert_non_null(strstr(mb_auth_last_detail(f->auth), "custom:tenant_id"));
        assert_int_equal(mb_auth_tenant(f->auth)->kind, MB_TENANT_NONE);
        assert_int_equal(mb_auth_tenant(f->auth)->key_len, 0);
        assert_int_equal(lua_gettop(f->L), top);
    }
    mb_buf_cleanup(&c);
}

static void test_auth_tenant_refused_shapes(void **state) {
    fx *f = *state;
    mb_err err = {0};
    mb_buf c = {0};
    const char *cases[] = {
        "\"cognito:groups\":[\"tenant:acme\",\"tenant:globex\"]", /* which one? */
        "\"cognito:groups\":[\"tenant:\"]", "\"cognito:groups\":[\"tenant:Acme\"]",
        "\"cognito:groups\":[\"tenant:-acme\"]", "\"cognito:groups\":[\"tenant:a#b\"]",
        "\"cognito:groups\":[\"tenant:a:b\"]",
        /* 64 characters: one too many */
        ("\"cognito:groups\":[\"tenant:"
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]"),
        "\"cognito:groups\":[\"\\u0074enant:acme\",\"tenant:globex\"]", /* escaped prefix */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        s_claims_of(&c, false, cases[i]);
        assert_int_equal(s_auth(f, c.ptr, "Bearer ", NULL, &err), MB_ERR_FORBIDDEN);
        assert_int_equal(mb_auth_tenant(f->auth)->kind, MB_TENANT_NONE);
    }
    /* 63 characters and an escaped (but valid) group name are fine */
    s_claims_of(&c, false,
                "\"cognito:groups\":[\"\\u0074enant:"
                "a23456789012345678901234567890123456789012345678901234567890123\"]");
    assert_int_equal(s_auth(f, c.ptr, "Bearer ", NULL, &err), 0);
    assert_int_equal(mb_tenant_id(mb_auth_tenant(f->auth)).len, 63);
    lua_pop(f->L, 1);
    /* a sub that is not a plain id is not keyed by */
    const char *subs[] = {"u#1", "u:1", "u 1", "caf\\u00e9"};
    for (size_t i = 0; i < sizeof subs / sizeof *subs; i++) {
        mb_buf_reset(&c);
        mb_buf_appendf(&c,
                       "{\"sub\":\"%s\",\"iss\":\"" ISS "\",\"token_use\":\"access\","
                       "\"client_id\":\"client-a\",\"exp\":1767229200}",
                       subs[i]);
        assert_int_equal(s_auth(f, c.ptr, "Bearer ", NULL, &err), MB_ERR_FORBIDDEN);
    }
    mb_buf_cleanup(&c);
}

/* A named tenant called like a user's sub still has a different key: "org:" vs "user:". */
static void test_auth_tenant_namespaces_never_meet(void **state) {
    (void)state;
    mb_jwt_claims c = {0};
    mb_tenant personal, named;
    c.sub = MB_CUR_LIT("3f1c0e8a-0000-4000-8000-000000000001");
    assert_int_equal(mb_auth_resolve_tenant(&c, &personal, NULL), 0);
    c.groups = MB_CUR_LIT("[\"tenant:3f1c0e8a-0000-4000-8000-000000000001\"]");
    c.sub = MB_CUR_LIT("other");
    assert_int_equal(mb_auth_resolve_tenant(&c, &named, NULL), 0);
    assert_true(mb_cur_eq(mb_tenant_id(&personal), mb_tenant_id(&named)));
    assert_false(mb_cur_eq(mb_tenant_key(&personal), mb_tenant_key(&named)));
    assert_string_equal(personal.key, "user:3f1c0e8a-0000-4000-8000-000000000001");
    assert_string_equal(named.key, "org:3f1c0e8a-0000-4000-8000-000000000001");
    assert_string_equal(mb_tenant_kind_name(personal.kind), "personal");
    assert_string_equal(mb_tenant_kind_name(named.kind), "named");
    assert_true(mb_tenant_name_valid(MB_CUR_LIT("acme-2")));
    assert_false(mb_tenant_name_valid(MB_CUR_LIT("")));
    assert_false(mb_tenant_name_valid(MB_CUR_LIT("user:x")));
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_auth_pushes_user_for_id_token),
        T(test_auth_claims_struct_matches_user),
        T(test_auth_access_token_personal_tenant),
        T(test_auth_tenant_same_for_id_and_access_token),
        T(test_auth_tenant_attribute_needs_its_group),
        T(test_auth_tenant_refused_shapes),
        T(test_auth_tenant_namespaces_never_meet),
        T(test_auth_bearer_parsing),
        T(test_auth_rejects_missing_or_malformed_header),
        T(test_auth_route_token_use),
        T(test_auth_route_groups),
        T(test_auth_invalid_token_message_is_safe),
        T(test_auth_expired_token),
        T(test_auth_unavailable_when_jwks_unreachable),
        T(test_auth_unavailable_when_not_configured),
        T(test_auth_lua_memory_error_is_nomem),
#undef T
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
