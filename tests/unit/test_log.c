/* test_log.c - structured JSON log lines: every emitted line is parsed back with jansson. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "moonbase/log.h"

/* ---- capture: the logger writes to a temp file; lines are read back and parsed ------------ */

typedef struct cap {
    FILE *f;
    mb_log *log;
    char *text;
    json_t *lines[64];
    size_t n;
} cap;

static void cap_open(cap *c, mb_log_level level) {
    memset(c, 0, sizeof *c);
    c->f = tmpfile();
    assert_non_null(c->f);
    mb_err err = {0};
    c->log = mb_log_new(level, fileno(c->f), &err);
    assert_non_null(c->log);
}

static void cap_release_lines(cap *c) {
    for (size_t i = 0; i < c->n; i++) {
        json_decref(c->lines[i]);
    }
    c->n = 0;
    free(c->text);
    c->text = NULL;
}

/* Read everything written so far; each line must be one JSON object. Truncates the file. */
static size_t cap_read(cap *c) {
    cap_release_lines(c);
    int fd = fileno(c->f);
    off_t size = lseek(fd, 0, SEEK_END);
    assert_true(size >= 0);
    c->text = calloc(1, (size_t)size + 1);
    assert_int_equal(pread(fd, c->text, (size_t)size, 0), size);
    assert_int_equal(ftruncate(fd, 0), 0);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    if (size > 0) {
        assert_int_equal(c->text[size - 1], '\n');
    }
    for (char *line = c->text; *line;) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        assert_true((size_t)(nl - line) <= MB_LOG_LINE_MAX);
        json_error_t jerr;
        json_t *v =
            json_loadb(line, (size_t)(nl - line), JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
        if (!v) {
            fail_msg("not JSON (%s): %.*s", jerr.text, (int)(nl - line), line);
        }
        assert_true(json_is_object(v));
        assert_true(c->n < 64);
        c->lines[c->n++] = v;
        line = nl + 1;
    }
    return c->n;
}

static void cap_close(cap *c) {
    cap_release_lines(c);
    mb_log_free(c->log);
    fclose(c->f);
}

static const char *str_of(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    if (!v || !json_is_string(v)) {
        fail_msg("member %s missing or not a string", key);
    }
    return json_string_value(v);
}

static int64_t fixed_clock(void *ud) {
    (void)ud;
    return 1764077311123; /* 2025-11-25T13:28:31.123Z */
}

static const mb_clock s_fixed = {.now_ms = fixed_clock};

/* ---- tests -------------------------------------------------------------------------------- */

static void test_log_line_carries_request_context(void **state) {
    (void)state;
    cap c;
    cap_open(&c, MB_LOG_INFO);
    mb_log_set_clock(c.log, &s_fixed);
    mb_log_request req = {MB_CUR_LIT("req-1"), MB_CUR_LIT("Root=1-5f84c7a1-abc;Sampled=1"),
                          MB_CUR_LIT("GET"), MB_CUR_LIT("/items/42"), true};
    mb_log_begin(c.log, &req);
    mb_log_set_route(c.log, MB_CUR_LIT("GET /items/{id}"));
    mb_log_set_user(c.log, MB_CUR_LIT("acme"), MB_CUR_LIT("user-7"));
    mb_log_field f[] = {mb_log_field_str("item", MB_CUR_LIT("42")), mb_log_field_int("n", -5),
                        mb_log_field_num("ratio", 0.25), mb_log_field_bool("hit", true)};
    mb_log_write(c.log, MB_LOG_INFO, "loaded item", f, 4);
    assert_int_equal(cap_read(&c), 1);
    json_t *l = c.lines[0];
    assert_string_equal(str_of(l, "timestamp"), "2025-11-25T13:28:31.123Z");
    assert_string_equal(str_of(l, "level"), "INFO");
    assert_string_equal(str_of(l, "message"), "loaded item");
    assert_string_equal(str_of(l, "requestId"), "req-1");
    assert_string_equal(str_of(l, "traceId"), "Root=1-5f84c7a1-abc;Sampled=1");
    assert_string_equal(str_of(l, "method"), "GET");
    assert_string_equal(str_of(l, "path"), "/items/42");
    assert_string_equal(str_of(l, "route"), "GET /items/{id}");
    assert_string_equal(str_of(l, "tenant"), "acme");
    assert_string_equal(str_of(l, "userId"), "user-7");
    assert_true(json_is_true(json_object_get(l, "coldStart")));
    assert_string_equal(str_of(l, "item"), "42");
    assert_int_equal(json_integer_value(json_object_get(l, "n")), -5);
    assert_true(json_real_value(json_object_get(l, "ratio")) == 0.25);
    assert_true(json_is_true(json_object_get(l, "hit")));
    /* after end, no context */
    mb_log_end(c.log);
    mb_log_writef(c.log, MB_LOG_WARN, "startup %d", 3);
    assert_int_equal(cap_read(&c), 1);
    assert_string_equal(str_of(c.lines[0], "message"), "startup 3");
    assert_string_equal(str_of(c.lines[0], "level"), "WARN");
    assert_null(json_object_get(c.lines[0], "requestId"));
    assert_null(json_object_get(c.lines[0], "route"));
    cap_close(&c);
}

static void test_log_timestamp_is_rfc3339_utc_ms_with_real_clock(void **state) {
    (void)state;
    cap c;
    cap_open(&c, MB_LOG_DEBUG);
    mb_log_writef(c.log, MB_LOG_DEBUG, "x");
    assert_int_equal(cap_read(&c), 1);
    const char *ts = str_of(c.lines[0], "timestamp");
    assert_int_equal(strlen(ts), 24);
    const char *shape = "dddd-dd-ddTdd:dd:dd.dddZ";
    for (size_t i = 0; i < 24; i++) {
        if (shape[i] == 'd') {
            assert_true(ts[i] >= '0' && ts[i] <= '9');
        } else {
            assert_int_equal(ts[i], shape[i]);
        }
    }
    cap_close(&c);
}

static void test_log_level_filters_lines(void **state) {
    (void)state;
    cap c;
    cap_open(&c, MB_LOG_WARN);
    assert_false(mb_log_enabled(c.log, MB_LOG_DEBUG));
    assert_false(mb_log_enabled(c.log, MB_LOG_INFO));
    assert_true(mb_log_enabled(c.log, MB_LOG_WARN));
    assert_false(mb_log_enabled(NULL, MB_LOG_ERROR));
    mb_log_writef(c.log, MB_LOG_DEBUG, "d");
    mb_log_writef(c.log, MB_LOG_INFO, "i");
    mb_log_writef(c.log, MB_LOG_WARN, "w");
    mb_log_writef(c.log, MB_LOG_ERROR, "e");
    assert_int_equal(cap_read(&c), 2);
    assert_string_equal(str_of(c.lines[0], "level"), "WARN");
    assert_string_equal(str_of(c.lines[1], "level"), "ERROR");
    /* the access line is written whatever the level */
    mb_log_set_level(c.log, MB_LOG_ERROR);
    mb_log_access a = {200, 1.5, 10, 20};
    mb_log_access_line(c.log, &a);
    assert_int_equal(cap_read(&c), 1);
    /* a NULL logger is accepted everywhere */
    mb_log_begin(NULL, &(mb_log_request){0});
    mb_log_set_route(NULL, MB_CUR_LIT("x"));
    mb_log_set_user(NULL, MB_CUR_LIT("t"), MB_CUR_LIT("u"));
    mb_log_writef(NULL, MB_LOG_ERROR, "x");
    mb_log_access_line(NULL, &a);
    mb_log_lua_error(NULL, MB_CUR_LIT("E"), MB_CUR_LIT("m"), MB_CUR_LIT("t"));
    mb_log_end(NULL);
    mb_log_free(NULL);
    mb_log_level lv = MB_LOG_INFO;
    assert_int_equal(mb_log_level_parse(MB_CUR_LIT("DEBUG"), &lv), 0);
    assert_int_equal(lv, MB_LOG_DEBUG);
    assert_int_equal(mb_log_level_parse(MB_CUR_LIT("warning"), &lv), 0);
    assert_int_equal(lv, MB_LOG_WARN);
    assert_int_equal(mb_log_level_parse(MB_CUR_LIT("verbose"), &lv), MB_ERR_INVALID);
    assert_int_equal(lv, MB_LOG_WARN);
    cap_close(&c);
}

static void test_log_redacts_secret_keys(void **state) {
    (void)state;
    cap c;
    cap_open(&c, MB_LOG_DEBUG);
    mb_log_field f[] = {
        mb_log_field_str("Authorization", MB_CUR_LIT("Bearer abc.def.ghi")),
        mb_log_field_str("password", MB_CUR_LIT("hunter2hunter2")),
        mb_log_field_str("newPassword", MB_CUR_LIT("x")),
        mb_log_field_str("client_secret", MB_CUR_LIT("s3cr3t")),
        mb_log_field_int("refresh_TOKEN", 1234),
        mb_log_field_str("Cookie", MB_CUR_LIT("sid=1")),
        {.key = "x-api-key!!", .key_len = 9, .type = MB_LOG_FIELD_STR, .v.s = MB_CUR_LIT("k")},
        mb_log_field_str("email", MB_CUR_LIT("a@b.c")),
    };
    mb_log_write(c.log, MB_LOG_DEBUG, "headers", f, sizeof f / sizeof f[0]);
    assert_int_equal(cap_read(&c), 1);
    json_t *l = c.lines[0];
    const char *secret[] = {"Authorization", "password", "newPassword", "client_secret",
                            "refresh_TOKEN", "Cookie",   "x-api-key"};
    for (size_t i = 0; i < sizeof secret / sizeof secret[0]; i++) {
        assert_string_equal(str_of(l, secret[i]), "[REDACTED]");
    }
    assert_string_equal(str_of(l, "email"), "a@b.c");
    assert_null(strstr(c.text, "hunter2"));
    assert_null(strstr(c.text, "s3cr3t"));
    assert_true(mb_log_key_is_secret(MB_CUR_LIT("X-Amz-Security-Token")));
    assert_false(mb_log_key_is_secret(MB_CUR_LIT("itemId")));
    cap_close(&c);
}

static void test_log_redacts_token_shaped_values(void **state) {
    (void)state;
    cap c;
    cap_open(&c, MB_LOG_INFO);
    const char *jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJlX2hlcmU";
    char msg[512];
    snprintf(msg, sizeof msg,
             "got %s and Authorization: Bearer opaqueTok3n_xyz; key AKIAIOSFODNN7EXAMPLE end", jwt);
    mb_log_field f[] = {
        mb_log_field_str("note", mb_cur_from_cstr(jwt)),
        mb_log_field_str("text", MB_CUR_LIT("eyJ is not a token, eyJabc.d is short"))};
    mb_log_write(c.log, MB_LOG_INFO, msg, f, 2);
    assert_int_equal(cap_read(&c), 1);
    json_t *l = c.lines[0];
    assert_string_equal(str_of(l, "message"),
                        "got [REDACTED] and Authorization: Bearer [REDACTED]; key [REDACTED] end");
    assert_string_equal(str_of(l, "note"), "[REDACTED]");
    assert_string_equal(str_of(l, "text"), "eyJ is not a token, eyJabc.d is short");
    assert_null(strstr(c.text, "eyJhbGci"));
    assert_null(strstr(c.text, "opaqueTok3n"));
    /* the path (request data) is redacted too */
    char path[256];
    snprintf(path, sizeof path, "/reset/%s", jwt);
    mb_log_request req = {MB_CUR_LIT("r"), {0}, MB_CUR_LIT("GET"), mb_cur_from_cstr(path), false};
    mb_log_begin(c.log, &req);
    mb_log_writef(c.log, MB_LOG_INFO, "x");
    assert_int_equal(cap_read(&c), 1);
    assert_string_equal(str_of(c.lines[0], "path"), "/reset/[REDACTED]");
    mb_log_end(c.log);
    cap_close(&c);
}

static void test_log_escapes_control_chars_and_invalid_utf8(void **state) {
    (void)state;
    cap c;
    cap_open(&c, MB_LOG_INFO);
    /* NUL, tab, newline, 0x1f, quote, backslash, DEL, a stray 0xff, an overlong '/', a UTF-16
     * surrogate, a truncated 3-byte sequence, then valid e-acute and a valid emoji */
    static const char in[] = "a\0b\tc\nd\x1f\"\\\x7f"
                             "\xff"
                             "\xc0\xaf"
                             "\xed\xa0\x80"
                             "\xe2\x82"
                             "\xc3\xa9\xf0\x9f\x9a\x80";
    mb_log_write_cur(c.log, MB_LOG_INFO, (mb_cur){in, sizeof in - 1}, NULL, 0);
    mb_log_field f = mb_log_field_str("v", (mb_cur){in, sizeof in - 1});
    mb_log_field k = {.key = "k\x01\xff", .type = MB_LOG_FIELD_BOOL, .v.b = false};
    mb_log_field both[2] = {f, k};
    mb_log_write(c.log, MB_LOG_INFO, "fields", both, 2);
    assert_int_equal(cap_read(&c), 2);
    static const char want[] = "a\0b\tc\nd\x1f\"\\\x7f"
                               "\xef\xbf\xbd"
                               "\xef\xbf\xbd\xef\xbf\xbd"
                               "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                               "\xef\xbf\xbd\xef\xbf\xbd"
                               "\xc3\xa9\xf0\x9f\x9a\x80";
    json_t *m = json_object_get(c.lines[0], "message");
    assert_int_equal(json_string_length(m), sizeof want - 1);
    assert_memory_equal(json_string_value(m), want, sizeof want - 1);
    json_t *v = json_object_get(c.lines[1], "v");
    assert_memory_equal(json_string_value(v), want, sizeof want - 1);
    assert_non_null(json_object_get(c.lines[1], "k\x01\xef\xbf\xbd"));
    /* the raw text has no control byte other than the final newline */
    for (char *p = c.text; *p; p++) {
        assert_true((unsigned char)*p >= 0x20 || *p == '\n');
        assert_true(*p != 0x7f);
    }
    cap_close(&c);
}

static void test_log_reserved_keys_cannot_forge_context(void **state) {
    (void)state;
    cap c;
    cap_open(&c, MB_LOG_INFO);
    mb_log_request req = {MB_CUR_LIT("real"), {0}, MB_CUR_LIT("GET"), MB_CUR_LIT("/"), false};
    mb_log_begin(c.log, &req);
    mb_log_field f[] = {mb_log_field_str("requestId", MB_CUR_LIT("fake")),
                        mb_log_field_str("level", MB_CUR_LIT("DEBUG"))};
    mb_log_write(c.log, MB_LOG_INFO, "m", f, 2);
    assert_int_equal(cap_read(&c), 1);
    assert_string_equal(str_of(c.lines[0], "requestId"), "real");
    assert_string_equal(str_of(c.lines[0], "_requestId"), "fake");
    assert_string_equal(str_of(c.lines[0], "level"), "INFO");
    assert_string_equal(str_of(c.lines[0], "_level"), "DEBUG");
    mb_log_end(c.log);
    cap_close(&c);
}

static void test_log_numbers_stay_json(void **state) {
    (void)state;
    cap c;
    cap_open(&c, MB_LOG_INFO);
    mb_log_field f[] = {mb_log_field_num("nan", NAN),       mb_log_field_num("inf", -INFINITY),
                        mb_log_field_int("min", INT64_MIN), mb_log_field_num("tenth", 0.1),
                        mb_log_field_num("big", 1e300),     mb_log_field_num("whole", 3.0),
                        mb_log_field_num("ms", 12.346),     mb_log_field_num("neg", -0.5),
                        mb_log_field_num("milli", 0.001),   mb_log_field_num("third", 1.0 / 3)};
    mb_log_write(c.log, MB_LOG_INFO, "n", f, sizeof f / sizeof f[0]);
    assert_int_equal(cap_read(&c), 1);
    json_t *l = c.lines[0];
    assert_true(json_is_null(json_object_get(l, "nan")));
    assert_true(json_is_null(json_object_get(l, "inf")));
    assert_true(json_integer_value(json_object_get(l, "min")) == INT64_MIN);
    assert_true(json_real_value(json_object_get(l, "tenth")) == 0.1);
    assert_true(json_real_value(json_object_get(l, "big")) == 1e300);
    assert_int_equal(json_integer_value(json_object_get(l, "whole")), 3);
    /* every number reads back as exactly the double that was logged */
    assert_true(json_real_value(json_object_get(l, "ms")) == 12.346);
    assert_non_null(strstr(c.text, "\"ms\":12.346,"));
    assert_true(json_real_value(json_object_get(l, "neg")) == -0.5);
    assert_true(json_real_value(json_object_get(l, "milli")) == 0.001);
    assert_true(json_real_value(json_object_get(l, "third")) == 1.0 / 3);
    cap_close(&c);
}

static void test_log_access_line_and_lua_error(void **state) {
    (void)state;
    cap c;
    cap_open(&c, MB_LOG_INFO);
    mb_log_request req = {MB_CUR_LIT("req-9"), MB_CUR_LIT("Root=1-abc"), MB_CUR_LIT("POST"),
                          MB_CUR_LIT("/items"), false};
    mb_log_begin(c.log, &req);
    mb_log_set_route(c.log, MB_CUR_LIT("POST /items"));
    mb_log_lua_error(c.log, (mb_cur){0}, MB_CUR_LIT("items.lua:12: attempt to index a nil value"),
                     MB_CUR_LIT("stack traceback:\n\titems.lua:12: in function <items.lua:3>"));
    mb_log_access a = {500, 12.34567, 88, 120};
    mb_log_access_line(c.log, &a);
    mb_log_end(c.log);
    assert_int_equal(cap_read(&c), 2);
    json_t *e = c.lines[0];
    assert_string_equal(str_of(e, "level"), "ERROR");
    assert_string_equal(str_of(e, "errorType"), "LuaError");
    assert_string_equal(str_of(e, "message"), "items.lua:12: attempt to index a nil value");
    assert_non_null(strstr(str_of(e, "traceback"), "stack traceback:\n\titems.lua:12"));
    assert_string_equal(str_of(e, "requestId"), "req-9");
    json_t *acc = c.lines[1];
    assert_string_equal(str_of(acc, "type"), "access");
    assert_string_equal(str_of(acc, "level"), "ERROR");
    assert_string_equal(str_of(acc, "message"), "POST /items 500");
    assert_string_equal(str_of(acc, "route"), "POST /items");
    assert_string_equal(str_of(acc, "errorType"), "LuaError");
    assert_int_equal(json_integer_value(json_object_get(acc, "status")), 500);
    assert_true(fabs(json_number_value(json_object_get(acc, "durationMs")) - 12.346) < 1e-9);
    assert_int_equal(json_integer_value(json_object_get(acc, "requestBytes")), 88);
    assert_int_equal(json_integer_value(json_object_get(acc, "responseBytes")), 120);
    assert_true(json_is_false(json_object_get(acc, "coldStart")));
    /* a 404 on no route: WARN, method and path, no errorType left over from the last request */
    mb_log_request r2 = {MB_CUR_LIT("req-10"), {0}, MB_CUR_LIT("GET"), MB_CUR_LIT("/nope"), false};
    mb_log_begin(c.log, &r2);
    mb_log_access a2 = {404, 0.5, 0, 60};
    mb_log_access_line(c.log, &a2);
    mb_log_end(c.log);
    assert_int_equal(cap_read(&c), 1);
    assert_string_equal(str_of(c.lines[0], "level"), "WARN");
    assert_string_equal(str_of(c.lines[0], "message"), "GET /nope 404");
    assert_null(json_object_get(c.lines[0], "errorType"));
    cap_close(&c);
}

static void test_log_bounds_huge_message_and_fields(void **state) {
    (void)state;
    cap c;
    cap_open(&c, MB_LOG_INFO);
    size_t big = 200 * 1024;
    char *s = malloc(big);
    assert_non_null(s);
    memset(s, '\x01', big); /* worst case: every byte becomes \u0001 (6 bytes) */
    mb_log_field f[MB_LOG_MAX_FIELDS];
    char keys[MB_LOG_MAX_FIELDS][8];
    for (size_t i = 0; i < MB_LOG_MAX_FIELDS; i++) {
        snprintf(keys[i], sizeof keys[i], "f%zu", i);
        f[i] = mb_log_field_str(keys[i], (mb_cur){s, big});
    }
    mb_log_write_cur(c.log, MB_LOG_INFO, (mb_cur){s, big}, f, MB_LOG_MAX_FIELDS);
    assert_int_equal(cap_read(&c), 1);
    json_t *l = c.lines[0];
    assert_true(strlen(c.text) <= MB_LOG_LINE_MAX);
    assert_true(json_is_true(json_object_get(l, "truncated")));
    const char *m = str_of(l, "message");
    size_t ml = strlen(m);
    assert_memory_equal(m + ml - 3, "\xe2\x80\xa6", 3); /* cut strings end with an ellipsis */
    free(s);
    cap_close(&c);
}

static void test_log_random_bytes_always_give_json(void **state) {
    (void)state;
    cap c;
    cap_open(&c, MB_LOG_INFO);
    srand(42);
    char buf[300];
    for (int round = 0; round < 50; round++) {
        for (int j = 0; j < 20; j++) {
            size_t n = (size_t)(rand() % (int)sizeof buf);
            for (size_t i = 0; i < n; i++) {
                buf[i] = (char)(rand() % 256);
                if (i % 17 == 0 && i + 3 < n) {
                    memcpy(buf + i, "eyJ", 3); /* exercise the redaction matchers */
                }
            }
            mb_log_field f = mb_log_field_str("v", (mb_cur){buf, n});
            mb_log_write_cur(c.log, MB_LOG_INFO, (mb_cur){buf, n}, &f, 1);
        }
        assert_int_equal(cap_read(&c), 20);
    }
    cap_close(&c);
}

static void test_log_debug_body_redacts_json_and_respects_level(void **state) {
    (void)state;
    cap c;
    cap_open(&c, MB_LOG_INFO);
    mb_cur body = MB_CUR_LIT("{\"email\":\"a@b.c\",\"password\":\"Hunter2Hunter2\","
                             "\"nested\":[{\"accessToken\":\"abc\"},{\"ok\":1}]}");
    mb_log_debug_body(c.log, "request body", body);
    assert_int_equal(cap_read(&c), 0); /* bodies only at debug */
    mb_log_set_level(c.log, MB_LOG_DEBUG);
    mb_log_debug_body(c.log, "request body", body);
    mb_log_debug_body(c.log, "request body", MB_CUR_LIT("password=Hunter2 not json"));
    assert_int_equal(cap_read(&c), 2);
    assert_null(strstr(c.text, "Hunter2Hunter2"));
    assert_null(strstr(c.text, "\\\"abc\\\""));
    json_t *inner = json_loads(str_of(c.lines[0], "body"), 0, NULL);
    assert_non_null(inner);
    assert_string_equal(json_string_value(json_object_get(inner, "password")), "[REDACTED]");
    assert_string_equal(json_string_value(json_object_get(inner, "email")), "a@b.c");
    json_t *n0 = json_array_get(json_object_get(inner, "nested"), 0);
    assert_string_equal(json_string_value(json_object_get(n0, "accessToken")), "[REDACTED]");
    json_decref(inner);
    assert_true(json_is_false(json_object_get(c.lines[1], "bodyIsJson")));
    cap_close(&c);
}

/* ---- out of memory: calloc is wrapped (-Wl,--wrap=calloc) so the Nth allocation can fail ---- */

void *__real_calloc(size_t n, size_t size);
static int g_fail_countdown = -1; /* fail when it reaches 0; -1 = never */

void *__wrap_calloc(size_t n, size_t size) {
    if (g_fail_countdown >= 0 && g_fail_countdown-- == 0) {
        return NULL;
    }
    return __real_calloc(n, size);
}

static void test_log_new_out_of_memory(void **state) {
    (void)state;
    for (int nth = 0;; nth++) {
        mb_err err = {0};
        g_fail_countdown = nth;
        void *obj = mb_log_new(MB_LOG_INFO, 2, &err);
        g_fail_countdown = -1;
        if (obj) {
            mb_log_free(obj);
            break;
        }
        assert_int_equal(err.status, MB_ERR_NOMEM);
        assert_true(nth < 10);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_new_out_of_memory),
        cmocka_unit_test(test_log_line_carries_request_context),
        cmocka_unit_test(test_log_timestamp_is_rfc3339_utc_ms_with_real_clock),
        cmocka_unit_test(test_log_level_filters_lines),
        cmocka_unit_test(test_log_redacts_secret_keys),
        cmocka_unit_test(test_log_redacts_token_shaped_values),
        cmocka_unit_test(test_log_escapes_control_chars_and_invalid_utf8),
        cmocka_unit_test(test_log_reserved_keys_cannot_forge_context),
        cmocka_unit_test(test_log_numbers_stay_json),
        cmocka_unit_test(test_log_access_line_and_lua_error),
        cmocka_unit_test(test_log_bounds_huge_message_and_fields),
        cmocka_unit_test(test_log_random_bytes_always_give_json),
        cmocka_unit_test(test_log_debug_body_redacts_json_and_respects_level),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
