/* test_lua_db.c - ctx.db error paths against a scripted HTTP server in a thread of this test (the
 * fake transport): every AWS error class reaches the handler as the right ctx.fail object
 * (409/400/503/502/504), refusals happen before any request is sent, a public route has no
 * database, a missing TABLE_NAME is a clean 503, and bad cursors are 400s. The success paths are
 * tested against dynalite (tests/integration/data_api.test.mjs). Clock and sleep are seams. */
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
#include "moonbase/config.h"
#include "moonbase/json.h"
#include "moonbase/lua_api.h"
#include "script_server.h"

static int64_t g_now = 1795608000000; /* test clock (fake time: sleeping advances it) */

static int64_t fake_now(void *ud) {
    (void)ud;
    return g_now;
}

static void fake_sleep(void *ud, int64_t ms) {
    (void)ud;
    g_now += ms;
}

typedef struct fixture {
    script_server srv;
    mb_config cfg;
    mb_lua_services svc;
    lua_State *L;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    script_server *s = &f->srv;
    s->repeat_last = true; /* an error class answered on every retry */
    script_server_start(s);

    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", s->port);
    mb_sigv4_credentials creds = {0};
    assert_int_equal(mb_sigv4_credentials_set(&creds, "AKIDTEST", "secret", NULL, NULL), 0);
    mb_ddb_config dc = {.region = "us-east-1", .endpoint = endpoint, .attempt_timeout_ms = 2000};
    dc.seams = (mb_aws_json_seams){{fake_now, NULL, fake_sleep, NULL}, NULL, NULL};
    f->cfg.table_name = "t";
    f->cfg.region = "us-east-1";
    f->svc.cfg = &f->cfg;
    f->svc.ddb = mb_ddb_new(&dc, &creds, NULL);
    assert_non_null(f->svc.ddb);
    f->svc.tenant = MB_CUR_LIT("t1");
    f->svc.user_sub = MB_CUR_LIT("u1");
    f->L = luaL_newstate();
    luaL_openlibs(f->L);
    mb_lua_aux_open(f->L);
    mb_lua_aux_set_services(f->L, &f->svc);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    lua_close(f->L);
    mb_ddb_free(f->svc.ddb); /* closes the keep-alive connection: the server's recv returns */
    script_server_stop(&f->srv);
    free(f);
    return 0;
}

static void script(fixture *f, int n, const script_reply *r) {
    for (int i = 0; i < n; i++) {
        f->srv.script[i] = r[i];
    }
    f->srv.script_len = n;
    f->srv.requests = 0;
}

/* Run `code` with a fresh ctx as the global `ctx`; returns the lua_pcall status and leaves the
 * result or error object on the stack top. */
static int run(fixture *f, const char *code) {
    lua_settop(f->L, 0);
    mb_lua_open_api(f->L);
    lua_setglobal(f->L, "ctx");
    if (luaL_loadstring(f->L, code) != LUA_OK) {
        fail_msg("%s", lua_tostring(f->L, -1));
    }
    return lua_pcall(f->L, 0, 1, 0);
}

/* The code must raise a ctx.fail object with this status and code. */
static void expect_fail(fixture *f, const char *code, int status, const char *ecode) {
    assert_int_equal(run(f, code), LUA_ERRRUN);
    mb_lua_fail fl;
    if (!mb_lua_aux_is_fail(f->L, -1, &fl)) {
        fail_msg("not a fail object: %s", lua_tostring(f->L, -1));
    }
    assert_int_equal(fl.status, status);
    assert_string_equal(fl.code.ptr, ecode);
}

/* The code must raise a plain Lua error (a handler bug: 500) whose text contains `needle`. */
static void expect_error(fixture *f, const char *code, const char *needle) {
    assert_int_equal(run(f, code), LUA_ERRRUN);
    const char *msg = lua_tostring(f->L, -1);
    assert_non_null(msg);
    if (!strstr(msg, needle)) {
        fail_msg("error '%s' does not contain '%s'", msg, needle);
    }
}

#define AWS(t) "{\"__type\":\"com.amazonaws.dynamodb.v20120810#" t "\",\"message\":\"m\"}"

static void test_lua_db_conditional_failure_is_409(void **state) {
    fixture *f = *state;
    script_reply r[] = {{400, AWS("ConditionalCheckFailedException")}};
    script(f, 1, r);
    expect_fail(f, "return ctx.db.put({SK = 'ITEM#1'}, {exists = false})", 409, "conflict");
    assert_int_equal(f->srv.requests, 1); /* not retried */
    /* pcall + is_conflict lets a handler branch */
    assert_int_equal(run(f, "local ok, e = pcall(ctx.db.delete, 'A', {expect = {v = 1}}) "
                            "return not ok and ctx.db.is_conflict(e)"),
                     LUA_OK);
    assert_true(lua_toboolean(f->L, -1));
}

static void test_lua_db_validation_is_400(void **state) {
    fixture *f = *state;
    script_reply r[] = {{400, AWS("ValidationException")}};
    script(f, 1, r);
    expect_fail(f, "return ctx.db.update('A', {set = {x = 1}})", 400, "bad_request");
}

/* Values DynamoDB cannot hold are a 400 before anything is sent. */
static void test_lua_db_unstorable_value_is_400(void **state) {
    fixture *f = *state;
    script_reply r[] = {{200, "{}"}};
    script(f, 1, r);
    expect_fail(f, "return ctx.db.put({SK = 'A', x = 0/0})", 400, "bad_request");
    expect_fail(f, "return ctx.db.put({SK = 'A', x = '\\xff'})", 400, "bad_request");
    expect_fail(f,
                "local t = {} local c = t for i = 1, 40 do c.n = {} c = c.n end "
                "return ctx.db.put({SK = 'A', deep = t})",
                400, "bad_request");
    assert_int_equal(f->srv.requests, 0);
}

/* The body of the last request the scripted server received (after the blank line). */
static const char *last_body(fixture *f) {
    const char *b = strstr(f->srv.last, "\r\n\r\n");
    assert_non_null(b);
    return b + 4;
}

static void expect_in_body(fixture *f, const char *needle) {
    if (!strstr(last_body(f), needle)) {
        fail_msg("'%s' not in the request: %s", needle, last_body(f));
    }
}

/* What ctx.db.get returns for B, BS and an N beyond int64/double is what ctx.db.put writes back
 * as the same B, BS and N: a handler that reads an item, changes a field and puts it back keeps
 * every type. The request bytes are the ones the client sent (the scripted server keeps them). */
static void test_lua_db_get_put_keeps_binary_and_decimal(void **state) {
    fixture *f = *state;
    script_reply r[] = {
        {200,
         "{\"Item\":{\"PK\":{\"S\":\"TENANT#t1\"},\"SK\":{\"S\":\"A\"},\"b\":{\"B\":\"AP8=\"},"
         "\"e\":{\"B\":\"\"},\"bs\":{\"BS\":[\"AQ==\",\"\"]},"
         "\"n\":{\"N\":\"12345678901234567890\"},\"ns\":{\"NS\":[\"0.1000000000000000000001\"]}}}"},
        {200, "{}"}};
    script(f, 2, r);
    assert_int_equal(run(f, "local it = ctx.db.get('A')\n"
                            "assert(it.b == ctx.db.binary('\\0\\255') and #it.e == 0)\n"
                            "assert(it.bs[1] == ctx.db.binary('\\1') and #it.bs[2] == 0)\n"
                            "assert(tostring(it.n) == '12345678901234567890')\n"
                            "assert(it.n == ctx.db.number('12345678901234567890'))\n"
                            "assert(tostring(it.ns[1]) == '0.1000000000000000000001')\n"
                            "it.title = 'changed'\n"
                            "ctx.db.put(it)\n"
                            "return {b = it.b, n = it.n}"),
                     LUA_OK);
    /* as a response body: binary as base64, the decimal as an exact JSON number */
    mb_buf body = {0};
    assert_int_equal(mb_json_encode(f->L, -1, &body, NULL), 0);
    assert_non_null(strstr(body.ptr, "\"b\":\"AP8=\""));
    assert_non_null(strstr(body.ptr, "\"n\":12345678901234567890"));
    mb_buf_cleanup(&body);
    assert_int_equal(f->srv.requests, 2);
    expect_in_body(f, "\"b\":{\"B\":\"AP8=\"}");
    expect_in_body(f, "\"e\":{\"B\":\"\"}");
    expect_in_body(f, "\"bs\":{\"BS\":[\"AQ==\",\"\"]}");
    expect_in_body(f, "\"n\":{\"N\":\"12345678901234567890\"}");
    expect_in_body(f, "\"ns\":{\"NS\":[\"0.1000000000000000000001\"]}");
}

/* ctx.db.number checks DynamoDB's number rules: bad text is the client's bad input, a 400. */
static void test_lua_db_number_rules(void **state) {
    fixture *f = *state;
    script_reply r[] = {{200, "{}"}};
    script(f, 1, r);
    expect_fail(f, "return ctx.db.number('12a')", 400, "bad_request");
    expect_fail(f, "return ctx.db.number('NaN')", 400, "bad_request");
    expect_fail(f, "return ctx.db.number(string.rep('9', 39))", 400, "bad_request");
    expect_fail(f, "return ctx.db.number('1e126')", 400, "bad_request");
    expect_fail(f, "return ctx.db.number(0/0)", 400, "bad_request");
    assert_int_equal(run(f, "local n = ctx.db.number('-0012.50')\n"
                            "return tostring(n) .. ' ' .. tostring(ctx.db.number(2^63)) .. ' ' .."
                            "  tostring(ctx.db.number(math.maxinteger)) .. ' ' .."
                            "  tostring(ctx.db.number(n) == n)"),
                     LUA_OK);
    /* a float becomes the decimal it is stored as (its shortest form), an integer exactly */
    assert_string_equal(lua_tostring(f->L, -1),
                        "-12.5 9223372036854776000 9223372036854775807 true");
    /* in conditions and updates: exact on the wire */
    assert_int_equal(run(f, "ctx.db.update('A', {add = {total = ctx.db.number('0.01')},\n"
                            "  expect = {total = ctx.db.number('12345678901234567890.99')}})"),
                     LUA_OK);
    expect_in_body(f, "{\"N\":\"0.01\"}");
    expect_in_body(f, "{\"N\":\"12345678901234567890.99\"}");
}

/* Past the nesting limit a write is refused before it is sent, with a 400 naming the attribute
 * (in an item, and in an update's set, whose request only carries a placeholder). */
static void test_lua_db_too_deep_is_400_naming_the_attribute(void **state) {
    fixture *f = *state;
    script_reply r[] = {{200, "{}"}};
    script(f, 1, r);
    static const char *const cases[] = {
        "local t = 'x' for i = 1, 32 do t = {t} end return ctx.db.put({SK = 'A', doc = t})",
        "local t = 'x' for i = 1, 32 do t = {k = t} end "
        "return ctx.db.update('A', {set = {doc = t}})",
        "local t = 'x' for i = 1, 32 do t = {t} end "
        "return ctx.db.put({SK = 'A'}, {expect = {doc = t}})",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        expect_fail(f, cases[i], 400, "bad_request");
        mb_lua_fail fl;
        assert_true(mb_lua_aux_is_fail(f->L, -1, &fl));
        if (!strstr(fl.message.ptr, "attribute \"doc\"")) {
            fail_msg("message does not name the attribute: %s", fl.message.ptr);
        }
    }
    assert_int_equal(f->srv.requests, 0);
    /* at the limit: sent */
    assert_int_equal(
        run(f, "local t = 'x' for i = 1, 31 do t = {t} end return ctx.db.put({SK = 'A', doc = t})"),
        LUA_OK);
    assert_int_equal(f->srv.requests, 1);
}

static void test_lua_db_throttled_after_retries_is_503(void **state) {
    fixture *f = *state;
    script_reply r[] = {{400, AWS("ProvisionedThroughputExceededException")}};
    script(f, 1, r);
    expect_fail(f, "return ctx.db.get('A')", 503, "unavailable");
    assert_int_equal(f->srv.requests, MB_DDB_DEFAULT_ATTEMPTS);
}

static void test_lua_db_server_error_is_502(void **state) {
    fixture *f = *state;
    script_reply r[] = {{400, AWS("ResourceNotFoundException")}};
    script(f, 1, r);
    expect_fail(f, "return ctx.db.query({begins_with = 'ITEM#'})", 502, "internal");
    script_reply bad[] = {{200, "{\"Item\": {\"SK\": {\"S\": 1}}}"}}; /* malformed AttributeValue */
    script(f, 1, bad);
    expect_fail(f, "return ctx.db.get('A')", 502, "internal");
}

static void test_lua_db_deadline_passed_is_504(void **state) {
    fixture *f = *state;
    script_reply r[] = {{200, "{}"}};
    script(f, 1, r);
    f->svc.deadline_ms = g_now - 1;
    expect_fail(f, "return ctx.db.get('A')", 504, "unavailable");
    f->svc.deadline_ms = 0;
    assert_int_equal(f->srv.requests, 0);
}

static void test_lua_db_public_route_has_no_db(void **state) {
    fixture *f = *state;
    f->svc.tenant = (mb_cur){0};
    expect_error(f, "return ctx.db.get('A')", "auth = true");
    f->svc.tenant = MB_CUR_LIT("t1");
}

static void test_lua_db_missing_table_name_is_503(void **state) {
    fixture *f = *state;
    mb_ddb *keep = f->svc.ddb;
    f->svc.ddb = NULL;
    f->cfg.table_name = NULL;
    expect_fail(f, "return ctx.db.get('A')", 503, "unavailable");
    assert_null(f->svc.ddb);
    f->cfg.table_name = "t";
    f->svc.ddb = keep;
}

/* Refusals: each raises a Lua error before anything is sent. */
static void test_lua_db_refusals_send_nothing(void **state) {
    fixture *f = *state;
    script_reply r[] = {{200, "{}"}};
    script(f, 1, r);
    expect_error(f, "return ctx.db.put({PK = 'TENANT#x', SK = 'A'})", "must not set PK");
    expect_error(f, "return ctx.db.put({title = 'no key'})", "item.SK");
    expect_error(f, "return ctx.db.get({PK = 'TENANT#x', SK = 'A'})", "adds PK");
    expect_error(f, "return ctx.db.get('')", "1..1024");
    expect_error(f, "return ctx.db.get(string.rep('x', 1025))", "1..1024");
    expect_error(f, "return ctx.db.query({filter = 'PK = :x', values = {[':x'] = 1}})", "PK");
    expect_error(f, "return ctx.db.query({filter = 'a = :x', values = {[':x'] = 'TENANT#b'}})",
                 "tenant partition");
    expect_error(f, "return ctx.db.query({values = {[':mb_pk'] = 'x'}})", ":mb_");
    expect_error(f, "return ctx.db.get('A', {names = {['#p'] = 'PK'}})", "PK");
    expect_error(f, "return ctx.db.update('A', {set = {SK = 'B'}})", "key attribute SK");
    expect_error(f, "return ctx.db.update('A', {})", "nothing to update");
    expect_error(f, "return ctx.db.update('A', {expression = 'SET a = :a', set = {b = 1}})",
                 "not both");
    expect_error(f, "return ctx.db.query({begins_with = 'A', between = {'A', 'B'}})", "not both");
    expect_error(f, "return ctx.db.query({limit = 0})", "limit");
    expect_error(f, "return ctx.db.query({limit = 1.5})", "limit");
    expect_error(f, "local k = {} for i = 1, 101 do k[i] = 'A' .. i end return ctx.db.batch_get(k)",
                 "at most 100");
    expect_error(f,
                 "local p = {} for i = 1, 26 do p[i] = {SK = 'A' .. i} end "
                 "return ctx.db.batch_write({put = p})",
                 "at most 25");
    expect_error(f, "return ctx.db.batch_write({delete = {{PK = 'x', SK = 'A'}}})", "adds PK");
    expect_error(f, "return ctx.db.put({SK = 'A'}, {['return'] = 'EVERYTHING'})", "EVERYTHING");
    assert_int_equal(f->srv.requests, 0);
}

static void test_lua_db_bad_cursor_is_400(void **state) {
    fixture *f = *state;
    script_reply r[] = {{200, "{\"Items\": []}"}};
    script(f, 1, r);
    expect_fail(f, "return ctx.db.query({cursor = 'garbage!'})", 400, "bad_request");
    expect_fail(f, "return ctx.db.query({cursor = ''})", 400, "bad_request");
    expect_fail(f, "return ctx.db.query({cursor = 42})", 400, "bad_request");
    expect_fail(f, "return ctx.db.query({cursor = string.rep('A', 5000)})", 400, "bad_request");
    /* well-formed but unsigned: version byte, key JSON, 16 zero bytes of MAC */
    expect_fail(f, "return ctx.db.query({cursor = 'AXsiU0siOnsiUyI6IkEifX0AAAAAAAAAAAAAAAAAAAAA'})",
                400, "bad_request");
    assert_int_equal(f->srv.requests, 0);
}

/* A cursor made for one tenant does not verify for another. */
static void test_lua_db_cursor_bound_to_tenant(void **state) {
    fixture *f = *state;
    script_reply r[] = {{200, "{\"Items\": [], \"LastEvaluatedKey\": "
                              "{\"PK\": {\"S\": \"TENANT#t1\"}, \"SK\": {\"S\": \"ITEM#5\"}}}"}};
    script(f, 1, r);
    assert_int_equal(run(f, "return ctx.db.query({begins_with = 'ITEM#', filter = 'a = :a', "
                            "values = {[':a'] = 1}}).cursor"),
                     LUA_OK);
    char cursor[512];
    snprintf(cursor, sizeof cursor, "%s", lua_tostring(f->L, -1));
    assert_true(strlen(cursor) > 20);
    char code[700];
    snprintf(code, sizeof code, "return ctx.db.query({cursor = '%s'}).count", cursor);
    assert_int_equal(run(f, code), LUA_OK); /* same tenant: accepted, sent */
    assert_non_null(strstr(f->srv.last, "\"ExclusiveStartKey\""));
    assert_non_null(strstr(f->srv.last, "TENANT#t1"));
    int sent = f->srv.requests;
    f->svc.tenant = MB_CUR_LIT("t2");
    expect_fail(f, code, 400, "bad_request");
    f->svc.tenant = MB_CUR_LIT("t1");
    assert_int_equal(f->srv.requests, sent);
}

/* ---- out of memory: fail the Nth Lua allocation for N = 1, 2, ... until the call succeeds ---- */

typedef struct cap_alloc {
    long left; /* allocations still allowed; < 0: unlimited */
} cap_alloc;

static void *cap_alloc_fn(void *ud, void *ptr, size_t osize, size_t nsize) {
    cap_alloc *c = ud;
    (void)osize;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    if (c->left == 0 && nsize > osize) {
        return NULL;
    }
    if (c->left > 0 && nsize > osize) {
        c->left--;
    }
    return realloc(ptr, nsize);
}

/* One query that decodes a cursor, sends, strips PK and encodes the next cursor, with the
 * Nth Lua allocation of the call failing: a memory error or a clean fail, never a crash or leak. */
static void test_lua_db_out_of_memory_loop(void **state) {
    fixture *f = *state;
    f->cfg.cursor_secret = "unit-test-secret"; /* as config reads CURSOR_SECRET */
    script_reply r[] = {
        {200, "{\"Items\": [{\"PK\": {\"S\": \"TENANT#t1\"}, \"SK\": {\"S\": \"ITEM#3\"}},"
              "{\"PK\": {\"S\": \"TENANT#t1\"}, \"SK\": {\"S\": \"ITEM#2\"}},"
              "{\"PK\": {\"S\": \"TENANT#t1\"}, \"SK\": {\"S\": \"ITEM#1\"}}]}"}};
    script(f, 1, r);
    assert_int_equal(run(f, "return ctx.db.query({begins_with = 'ITEM#', limit = 2}).cursor"),
                     LUA_OK);
    char code[600];
    snprintf(code, sizeof code,
             "local p = ctx.db.query({begins_with = 'ITEM#', limit = 2, cursor = '%s'}) "
             "assert(p.cursor and #p.items == 2 and p.items[1].PK == nil) return p",
             lua_tostring(f->L, -1));
    cap_alloc ca = {-1};
    int ok = 0;
    long n = 0;
    for (n = 0; n < 5000 && !ok; n++) {
        lua_State *L = lua_newstate(cap_alloc_fn, &ca); /* unlimited while building the state */
        luaL_openlibs(L);
        mb_lua_aux_open(L);
        mb_lua_aux_set_services(L, &f->svc);
        mb_lua_open_api(L);
        lua_setglobal(L, "ctx");
        assert_int_equal(luaL_loadstring(L, code), LUA_OK);
        ca.left = n;
        int rc = lua_pcall(L, 0, 1, 0);
        ca.left = -1;
        if (rc != LUA_OK) {
            mb_lua_fail fl;
            bool memory = rc == LUA_ERRMEM ||
                          (lua_isstring(L, -1) && strstr(lua_tostring(L, -1), "not enough memory"));
            if (!memory && !mb_lua_aux_is_fail(L, -1, &fl)) {
                fail_msg("allocation %ld: unexpected error %s", n, lua_tostring(L, -1));
            }
        }
        ok = rc == LUA_OK;
        lua_close(L);
    }
    assert_true(ok);
    assert_true(n > 10); /* the loop really failed allocations before succeeding */
    print_message("out of memory loop: succeeded at allocation %ld, %d requests\n", n,
                  f->srv.requests);
    f->cfg.cursor_secret = NULL;
}

static void test_lua_db_ulid_format(void **state) {
    fixture *f = *state;
    assert_int_equal(run(f, "local a, b = ctx.ulid(), ctx.ulid() "
                            "assert(#a == 26 and a:match('^[0-9A-HJKMNP-TV-Z]+$'), a) "
                            "assert(a < b, a .. ' < ' .. b) return a"),
                     LUA_OK);
}

/* A tenant handler's ctx.db (svc->db_namespace = "APP#"): every key it names is stored under
 * the namespace, every key it reads comes back without it, a query without a condition is kept
 * inside it, and a cursor round-trips through the logical key. */
static void test_lua_db_namespace_prefixes_and_strips_keys(void **state) {
    fixture *f = *state;
    f->svc.db_namespace = MB_CUR_LIT("APP#");
    script_reply get[] = {{200, "{\"Item\":{\"PK\":{\"S\":\"TENANT#t1\"},"
                                "\"SK\":{\"S\":\"APP#note\"},\"v\":{\"N\":\"1\"}}}"}};
    script(f, 1, get);
    assert_int_equal(run(f, "local it = ctx.db.get('note') return it.SK .. ':' .. it.v"), LUA_OK);
    assert_string_equal(lua_tostring(f->L, -1), "note:1");
    expect_in_body(f, "\"SK\":{\"S\":\"APP#note\"}");
    script_reply ok[] = {{200, "{}"}};
    script(f, 1, ok);
    assert_int_equal(run(f, "return ctx.db.put({SK = 'x', a = 1})"), LUA_OK);
    expect_in_body(f, "\"SK\":{\"S\":\"APP#x\"}");
    script_reply q[] = {{200, "{\"Items\":[{\"PK\":{\"S\":\"TENANT#t1\"},"
                              "\"SK\":{\"S\":\"APP#a\"}}],\"LastEvaluatedKey\":"
                              "{\"PK\":{\"S\":\"TENANT#t1\"},\"SK\":{\"S\":\"APP#a\"}}}"}};
    script(f, 1, q);
    assert_int_equal(run(f, "local p = ctx.db.query() assert(p.cursor) "
                            "return p.items[1].SK .. ' ' .. p.cursor"),
                     LUA_OK);
    const char *res = lua_tostring(f->L, -1);
    assert_memory_equal(res, "a ", 2);
    expect_in_body(f, "begins_with(SK, :mb_sk)");
    expect_in_body(f, "\":mb_sk\":{\"S\":\"APP#\"}");
    char code[512];
    snprintf(code, sizeof code, "return ctx.db.query({cursor = '%s', begins_with = 'a'}).count",
             res + 2);
    script(f, 1, ok);
    assert_int_equal(run(f, code), LUA_OK);
    expect_in_body(f, "\"ExclusiveStartKey\":{");  /* its members in any order: */
    expect_in_body(f, "\"SK\":{\"S\":\"APP#a\"}"); /* only the start key has an SK */
    expect_in_body(f, "\":mb_sk\":{\"S\":\"APP#a\"}");
    /* the namespace counts against DynamoDB's 1024-byte bound on the stored key */
    expect_error(f, "return ctx.db.get(('k'):rep(1021))", "1..1020 bytes");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lua_db_conditional_failure_is_409, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lua_db_validation_is_400, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lua_db_unstorable_value_is_400, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lua_db_get_put_keeps_binary_and_decimal, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lua_db_number_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lua_db_too_deep_is_400_naming_the_attribute, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lua_db_throttled_after_retries_is_503, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lua_db_server_error_is_502, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lua_db_deadline_passed_is_504, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lua_db_public_route_has_no_db, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lua_db_missing_table_name_is_503, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lua_db_refusals_send_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lua_db_bad_cursor_is_400, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lua_db_cursor_bound_to_tenant, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lua_db_ulid_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lua_db_namespace_prefixes_and_strips_keys, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lua_db_out_of_memory_loop, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
