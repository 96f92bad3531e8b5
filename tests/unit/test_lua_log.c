/* test_lua_log.c - ctx.log.* and ctx.metric from Lua: a real Lua state, the real logger and EMF
 * collector writing to temp files, every line parsed back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <lauxlib.h>
#include <lualib.h>

#include "moonbase/emf.h"
#include "moonbase/log.h"
#include "moonbase/lua_api.h"

typedef struct fixture {
    lua_State *L;
    FILE *logf, *emff;
    mb_log *log;
    mb_emf *emf;
    mb_lua_services svc;
} fixture;

static int setup(void **state) {
    fixture *fx = calloc(1, sizeof *fx);
    fx->logf = tmpfile();
    fx->emff = tmpfile();
    fx->log = mb_log_new(MB_LOG_INFO, fileno(fx->logf), NULL);
    fx->emf = mb_emf_new(NULL, "test", fileno(fx->emff), NULL);
    fx->svc.log = fx->log;
    fx->svc.emf = fx->emf;
    fx->L = luaL_newstate();
    luaL_openlibs(fx->L);
    mb_lua_aux_open(fx->L);
    mb_lua_aux_set_services(fx->L, &fx->svc);
    lua_newtable(fx->L); /* stack: ctx */
    mb_lua_inject_log_api(fx->L);
    mb_lua_inject_metric_api(fx->L);
    lua_setglobal(fx->L, "ctx");
    *state = fx;
    return 0;
}

static int teardown(void **state) {
    fixture *fx = *state;
    lua_close(fx->L);
    mb_log_free(fx->log);
    mb_emf_free(fx->emf);
    fclose(fx->logf);
    fclose(fx->emff);
    free(fx);
    return 0;
}

/* Run a chunk; returns NULL on success or the error message (valid until the next run). */
static const char *run(fixture *fx, const char *code) {
    lua_settop(fx->L, 0);
    if (luaL_dostring(fx->L, code) != LUA_OK) {
        return lua_tostring(fx->L, -1);
    }
    return NULL;
}

/* Read and parse every line of f (then empty it); returns a JSON array of the objects. */
static json_t *lines_of(FILE *f) {
    int fd = fileno(f);
    off_t size = lseek(fd, 0, SEEK_END);
    char *text = calloc(1, (size_t)size + 1);
    assert_int_equal(pread(fd, text, (size_t)size, 0), size);
    assert_int_equal(ftruncate(fd, 0), 0);
    json_t *arr = json_array();
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        json_t *v = json_loadb(line, (size_t)(nl - line), JSON_REJECT_DUPLICATES, NULL);
        assert_non_null(v);
        json_array_append_new(arr, v);
        line = nl + 1;
    }
    free(text);
    return arr;
}

static const char *sget(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    return v && json_is_string(v) ? json_string_value(v) : NULL;
}

static void test_lua_log_fields_context_and_levels(void **state) {
    fixture *fx = *state;
    mb_log_request req = {MB_CUR_LIT("rid-1"), MB_CUR_LIT("Root=1-x"), MB_CUR_LIT("GET"),
                          MB_CUR_LIT("/hello"), false};
    mb_log_begin(fx->log, &req);
    mb_log_set_route(fx->log, MB_CUR_LIT("GET /hello"));
    assert_null(run(fx, "ctx.log.info('hi', {name = 'moon', n = 3, x = 1.5, ok = true,"
                        " password = 'pw12345678', t = {}, [1] = 'skipped'})\n"
                        "ctx.log.debug('hidden')\n"
                        "ctx.log.warn('careful')\n"
                        "ctx.log.error(42)"));
    mb_log_end(fx->log);
    json_t *ls = lines_of(fx->logf);
    assert_int_equal(json_array_size(ls), 3);
    json_t *l = json_array_get(ls, 0);
    assert_string_equal(sget(l, "level"), "INFO");
    assert_string_equal(sget(l, "message"), "hi");
    assert_string_equal(sget(l, "requestId"), "rid-1");
    assert_string_equal(sget(l, "route"), "GET /hello");
    assert_string_equal(sget(l, "name"), "moon");
    assert_int_equal(json_integer_value(json_object_get(l, "n")), 3);
    assert_true(json_real_value(json_object_get(l, "x")) == 1.5);
    assert_true(json_is_true(json_object_get(l, "ok")));
    assert_string_equal(sget(l, "password"), "[REDACTED]");
    assert_string_equal(sget(l, "t"), "table");
    assert_int_equal(json_integer_value(json_object_get(l, "fieldsDropped")), 1);
    assert_string_equal(sget(json_array_get(ls, 1), "level"), "WARN");
    assert_string_equal(sget(json_array_get(ls, 2), "message"), "42");
    json_decref(ls);
}

static void test_lua_log_bad_arguments_raise(void **state) {
    fixture *fx = *state;
    const char *e = run(fx, "ctx.log.info()");
    assert_non_null(e);
    assert_non_null(strstr(e, "bad argument #1"));
    e = run(fx, "ctx.log.info('m', 'not a table')");
    assert_non_null(e);
    assert_non_null(strstr(e, "bad argument #2"));
    /* more fields than a line keeps */
    assert_null(
        run(fx, "local t = {} for i = 1, 100 do t['k' .. i] = i end ctx.log.info('many', t)"));
    json_t *ls = lines_of(fx->logf);
    assert_int_equal(json_array_size(ls), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(ls, 0), "fieldsDropped")),
                     100 - MB_LOG_MAX_FIELDS);
    json_decref(ls);
}

static void test_lua_metric_puts_and_validates(void **state) {
    fixture *fx = *state;
    mb_emf_begin(fx->emf, MB_CUR_LIT("GET /hello"));
    assert_null(run(fx, "ctx.metric('Greetings', 1, 'Count')\n"
                        "ctx.metric('Greetings', 2, 'Count')\n"
                        "ctx.metric('Ratio', 0.5)"));
    const char *e = run(fx, "ctx.metric('Bad', 1, 'Furlongs')");
    assert_non_null(e);
    assert_non_null(strstr(e, "ctx.metric:"));
    assert_non_null(strstr(e, "Furlongs"));
    e = run(fx, "ctx.metric('Latency', 1, 'Milliseconds')");
    assert_non_null(strstr(e, "reserved"));
    e = run(fx, "ctx.metric('X', 'abc')");
    assert_non_null(strstr(e, "bad argument #2"));
    e = run(fx, "ctx.metric('X', 0/0)");
    assert_non_null(strstr(e, "finite"));
    /* a handler that fails after putting a metric: the app still finishes with 500 */
    e = run(fx, "ctx.metric('BeforeCrash', 1, 'Count') error('boom')");
    assert_non_null(strstr(e, "boom"));
    mb_emf_finish(fx->emf, 500, 2.0, false, 0);
    json_t *docs = lines_of(fx->emff);
    assert_int_equal(json_array_size(docs), 1);
    json_t *d = json_array_get(docs, 0);
    json_t *g = json_object_get(d, "Greetings");
    assert_int_equal(json_array_size(g), 2);
    assert_true(json_real_value(json_object_get(d, "Ratio")) == 0.5);
    assert_int_equal(json_integer_value(json_object_get(d, "BeforeCrash")), 1);
    assert_int_equal(json_integer_value(json_object_get(d, "Errors5xx")), 1);
    assert_null(json_object_get(d, "Bad"));
    json_decref(docs);
}

static void test_lua_api_without_services_is_a_no_op(void **state) {
    fixture *fx = *state;
    fx->svc.log = NULL;
    fx->svc.emf = NULL;
    assert_null(run(fx, "ctx.log.error('x', {a = 1}) ctx.metric('A', 1, 'Count')"));
    json_t *ls = lines_of(fx->logf);
    assert_int_equal(json_array_size(ls), 0);
    json_decref(ls);
    fx->svc.log = fx->log;
    fx->svc.emf = fx->emf;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lua_log_fields_context_and_levels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lua_log_bad_arguments_raise, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lua_metric_puts_and_validates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lua_api_without_services_is_a_no_op, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
