/* test_emf.c - EMF documents: every document is parsed and checked against the specification's
 * rules (root _aws metadata, MetricDirective members, DimensionSet and MetricDefinition limits,
 * target members on the root node with the right types). tests/data/emf.schema.json holds the
 * same rules as a JSON Schema, checked by tests/emf_schema_check.mjs with ajv. */
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

#include "moonbase/emf.h"

#define TS 1764077311123

static const char *const k_units[] = {"Seconds",
                                      "Microseconds",
                                      "Milliseconds",
                                      "Bytes",
                                      "Kilobytes",
                                      "Megabytes",
                                      "Gigabytes",
                                      "Terabytes",
                                      "Bits",
                                      "Kilobits",
                                      "Megabits",
                                      "Gigabits",
                                      "Terabits",
                                      "Percent",
                                      "Count",
                                      "Bytes/Second",
                                      "Kilobytes/Second",
                                      "Megabytes/Second",
                                      "Gigabytes/Second",
                                      "Terabytes/Second",
                                      "Bits/Second",
                                      "Kilobits/Second",
                                      "Megabits/Second",
                                      "Gigabits/Second",
                                      "Terabits/Second",
                                      "Count/Second",
                                      "None"};

/* ---- the specification's rules, one by one ------------------------------------------------ */

static void check_name_string(json_t *s) {
    assert_true(json_is_string(s));
    size_t n = json_string_length(s);
    assert_true(n >= 1 && n <= 255);
}

static void check_directive(json_t *root, json_t *d) {
    assert_true(json_is_object(d));
    check_name_string(json_object_get(d, "Namespace"));
    json_t *dims = json_object_get(d, "Dimensions");
    assert_true(json_is_array(dims) && json_array_size(dims) >= 1);
    size_t i, j;
    json_t *set, *key;
    json_array_foreach(dims, i, set) {
        assert_true(json_is_array(set) && json_array_size(set) <= 9);
        json_array_foreach(set, j, key) {
            check_name_string(key);
            json_t *target = json_object_get(root, json_string_value(key));
            assert_true(target && json_is_string(target)); /* dimension targets are strings */
        }
    }
    json_t *metrics = json_object_get(d, "Metrics");
    assert_true(json_is_array(metrics) && json_array_size(metrics) <= 100);
    json_t *def;
    json_array_foreach(metrics, i, def) {
        json_t *name = json_object_get(def, "Name");
        check_name_string(name);
        json_t *unit = json_object_get(def, "Unit");
        if (unit) {
            bool known = false;
            for (size_t u = 0; u < sizeof k_units / sizeof k_units[0]; u++) {
                known |= json_is_string(unit) && strcmp(json_string_value(unit), k_units[u]) == 0;
            }
            assert_true(known);
        }
        json_t *target = json_object_get(root, json_string_value(name));
        assert_non_null(target);
        if (json_is_array(target)) {
            assert_true(json_array_size(target) <= 100);
            json_t *x;
            json_array_foreach(target, j, x) {
                assert_true(json_is_number(x));
            }
        } else {
            assert_true(json_is_number(target));
        }
    }
}

static void check_emf(json_t *root) {
    assert_true(json_is_object(root));
    json_t *aws = json_object_get(root, "_aws");
    assert_true(json_is_object(aws));
    assert_true(json_is_integer(json_object_get(aws, "Timestamp")));
    json_t *cwm = json_object_get(aws, "CloudWatchMetrics");
    assert_true(json_is_array(cwm));
    size_t i;
    json_t *d;
    json_array_foreach(cwm, i, d) {
        check_directive(root, d);
    }
}

/* ---- capture ------------------------------------------------------------------------------ */

typedef struct cap {
    FILE *f;
    mb_emf *emf;
    json_t *docs[16];
    size_t n;
} cap;

static void cap_open(cap *c, const char *ns, const char *env) {
    memset(c, 0, sizeof *c);
    c->f = tmpfile();
    assert_non_null(c->f);
    mb_err err = {0};
    c->emf = mb_emf_new(ns, env, fileno(c->f), &err);
    assert_non_null(c->emf);
}

static void cap_release(cap *c) {
    for (size_t i = 0; i < c->n; i++) {
        json_decref(c->docs[i]);
    }
    c->n = 0;
}

/* Parse and spec-check every document written so far, then empty the file. */
static size_t cap_read(cap *c) {
    cap_release(c);
    int fd = fileno(c->f);
    off_t size = lseek(fd, 0, SEEK_END);
    char *text = calloc(1, (size_t)size + 1);
    assert_non_null(text);
    assert_int_equal(pread(fd, text, (size_t)size, 0), size);
    assert_int_equal(ftruncate(fd, 0), 0);
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        assert_true(nl - line < 256 * 1024); /* a CloudWatch Logs event */
        json_error_t jerr;
        json_t *v = json_loadb(line, (size_t)(nl - line), JSON_REJECT_DUPLICATES, &jerr);
        if (!v) {
            fail_msg("not JSON: %s", jerr.text);
        }
        check_emf(v);
        assert_true(c->n < 16);
        c->docs[c->n++] = v;
        line = nl + 1;
    }
    free(text);
    return c->n;
}

static void cap_close(cap *c) {
    cap_release(c);
    mb_emf_free(c->emf);
    fclose(c->f);
}

static json_t *directive(json_t *doc) {
    return json_array_get(json_object_get(json_object_get(doc, "_aws"), "CloudWatchMetrics"), 0);
}

static const char *unit_of(json_t *doc, const char *name) {
    size_t i;
    json_t *def;
    json_array_foreach(json_object_get(directive(doc), "Metrics"), i, def) {
        if (strcmp(json_string_value(json_object_get(def, "Name")), name) == 0) {
            return json_string_value(json_object_get(def, "Unit"));
        }
    }
    return NULL;
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_emf_document_has_builtins_dimensions_and_handler_metrics(void **state) {
    (void)state;
    cap c;
    cap_open(&c, NULL, "prod");
    mb_emf_begin(c.emf, MB_CUR_LIT("GET /items/{id}"));
    mb_emf_set_request(c.emf, MB_CUR_LIT("req-1"), MB_CUR_LIT("Root=1-abc"));
    mb_err err = {0};
    assert_int_equal(mb_emf_put(c.emf, MB_CUR_LIT("ItemsRead"), 3, MB_CUR_LIT("Count"), &err), 0);
    assert_int_equal(mb_emf_put(c.emf, MB_CUR_LIT("DbTime"), 1.5, MB_CUR_LIT("Milliseconds"), &err),
                     0);
    assert_int_equal(
        mb_emf_put(c.emf, MB_CUR_LIT("DbTime"), 2.25, MB_CUR_LIT("Milliseconds"), &err), 0);
    assert_int_equal(mb_emf_put(c.emf, MB_CUR_LIT("Plain"), 7, (mb_cur){0}, &err), 0);
    mb_emf_finish(c.emf, 200, 12.5, true, TS);
    assert_int_equal(cap_read(&c), 1);
    json_t *doc = c.docs[0];
    json_t *aws = json_object_get(doc, "_aws");
    assert_true(json_integer_value(json_object_get(aws, "Timestamp")) == TS);
    json_t *d = directive(doc);
    assert_string_equal(json_string_value(json_object_get(d, "Namespace")), "ServerlessApp");
    char *dims = json_dumps(json_object_get(d, "Dimensions"), JSON_COMPACT);
    assert_string_equal(dims, "[[\"Environment\"],[\"Environment\",\"Route\"]]");
    free(dims);
    assert_string_equal(json_string_value(json_object_get(doc, "Environment")), "prod");
    assert_string_equal(json_string_value(json_object_get(doc, "Route")), "GET /items/{id}");
    assert_string_equal(json_string_value(json_object_get(doc, "requestId")), "req-1");
    assert_string_equal(json_string_value(json_object_get(doc, "traceId")), "Root=1-abc");
    assert_string_equal(unit_of(doc, "Latency"), "Milliseconds");
    assert_string_equal(unit_of(doc, "ColdStart"), "Count");
    assert_string_equal(unit_of(doc, "Errors4xx"), "Count");
    assert_string_equal(unit_of(doc, "Errors5xx"), "Count");
    assert_string_equal(unit_of(doc, "ItemsRead"), "Count");
    assert_string_equal(unit_of(doc, "Plain"), "None");
    assert_true(json_number_value(json_object_get(doc, "Latency")) == 12.5);
    assert_int_equal(json_integer_value(json_object_get(doc, "ColdStart")), 1);
    assert_int_equal(json_integer_value(json_object_get(doc, "Errors4xx")), 0);
    assert_int_equal(json_integer_value(json_object_get(doc, "Errors5xx")), 0);
    assert_int_equal(json_integer_value(json_object_get(doc, "ItemsRead")), 3);
    json_t *db = json_object_get(doc, "DbTime"); /* the same name twice: a list of values */
    assert_true(json_is_array(db) && json_array_size(db) == 2);
    assert_true(json_number_value(json_array_get(db, 1)) == 2.25);
    cap_close(&c);
}

static void test_emf_error_status_counts_and_state_resets(void **state) {
    (void)state;
    cap c;
    cap_open(&c, "Moon/base", "dev");
    mb_err err = {0};
    mb_emf_begin(c.emf, MB_CUR_LIT("POST /items"));
    assert_int_equal(mb_emf_put(c.emf, MB_CUR_LIT("Created"), 1, MB_CUR_LIT("Count"), &err), 0);
    mb_emf_finish(c.emf, 500, 3, false, TS); /* the handler failed: metrics are still flushed */
    mb_emf_begin(c.emf, (mb_cur){0});
    mb_emf_finish(c.emf, 404, 1.2345678, false, 0);
    assert_int_equal(cap_read(&c), 2);
    assert_true(json_number_value(json_object_get(c.docs[1], "Latency")) == 1.235); /* to the us */
    assert_int_equal(json_integer_value(json_object_get(c.docs[0], "Errors5xx")), 1);
    assert_int_equal(json_integer_value(json_object_get(c.docs[0], "Errors4xx")), 0);
    assert_int_equal(json_integer_value(json_object_get(c.docs[0], "Created")), 1);
    assert_int_equal(json_integer_value(json_object_get(c.docs[1], "Errors4xx")), 1);
    assert_int_equal(json_integer_value(json_object_get(c.docs[1], "Errors5xx")), 0);
    assert_null(json_object_get(c.docs[1], "Created")); /* nothing leaks into the next one */
    assert_string_equal(json_string_value(json_object_get(c.docs[1], "Route")), "UNMATCHED");
    assert_string_equal(json_string_value(json_object_get(directive(c.docs[1]), "Namespace")),
                        "Moon/base");
    json_int_t ts =
        json_integer_value(json_object_get(json_object_get(c.docs[1], "_aws"), "Timestamp"));
    assert_true(ts > 1700000000000); /* 0 means now */
    cap_close(&c);
}

static void test_emf_splits_beyond_100_metrics(void **state) {
    (void)state;
    cap c;
    cap_open(&c, NULL, NULL);
    mb_emf_begin(c.emf, MB_CUR_LIT("GET /bulk"));
    mb_err err = {0};
    char name[32];
    for (int i = 0; i < 250; i++) {
        snprintf(name, sizeof name, "M%03d", i);
        for (int v = 0; v < (i % 3) + 1; v++) {
            assert_int_equal(
                mb_emf_put(c.emf, mb_cur_from_cstr(name), i + v * 0.5, MB_CUR_LIT("Count"), &err),
                0);
        }
    }
    mb_emf_finish(c.emf, 200, 1, false, TS);
    assert_int_equal(cap_read(&c), 3); /* 254 definitions: 100 + 100 + 54 */
    size_t total = 0;
    int seen[250] = {0};
    for (size_t d = 0; d < c.n; d++) {
        json_t *defs = json_object_get(directive(c.docs[d]), "Metrics");
        total += json_array_size(defs);
        assert_string_equal(json_string_value(json_object_get(c.docs[d], "Route")), "GET /bulk");
        assert_string_equal(json_string_value(json_object_get(c.docs[d], "Environment")), "dev");
        size_t i;
        json_t *def;
        json_array_foreach(defs, i, def) {
            const char *n = json_string_value(json_object_get(def, "Name"));
            if (n[0] == 'M') {
                seen[strtol(n + 1, NULL, 10)]++;
            }
        }
    }
    assert_int_equal(total, 254);
    for (int i = 0; i < 250; i++) {
        assert_int_equal(seen[i], 1);
    }
    assert_non_null(json_object_get(c.docs[0], "Latency")); /* built-ins are in the first */
    assert_null(json_object_get(c.docs[1], "Latency"));
    json_t *m5 = json_object_get(c.docs[0], "M005"); /* 3 values */
    assert_true(json_is_array(m5) && json_array_size(m5) == 3);
    cap_close(&c);
}

static void test_emf_rejects_invalid_name_unit_value(void **state) {
    (void)state;
    cap c;
    cap_open(&c, NULL, NULL);
    mb_emf_begin(c.emf, MB_CUR_LIT("GET /x"));
    mb_err err = {0};
    char long_name[300];
    memset(long_name, 'a', sizeof long_name);
    struct {
        mb_cur name;
        double v;
        mb_cur unit;
        int rc;
    } cases[] = {
        {MB_CUR_LIT("Ok"), 1, MB_CUR_LIT("Furlongs"), MB_ERR_INVALID},
        {MB_CUR_LIT("Ok"), 1, MB_CUR_LIT("count"), MB_ERR_INVALID}, /* units are case-sensitive */
        {MB_CUR_LIT(""), 1, MB_CUR_LIT("Count"), MB_ERR_INVALID},
        {MB_CUR_LIT("   "), 1, MB_CUR_LIT("Count"), MB_ERR_INVALID},
        {(mb_cur){long_name, 256}, 1, MB_CUR_LIT("Count"), MB_ERR_INVALID},
        {MB_CUR_LIT("bad\nname"), 1, MB_CUR_LIT("Count"), MB_ERR_INVALID},
        {MB_CUR_LIT("quo\"te"), 1, MB_CUR_LIT("Count"), MB_ERR_INVALID},
        {MB_CUR_LIT("caf\xc3\xa9"), 1, MB_CUR_LIT("Count"), MB_ERR_INVALID},
        {MB_CUR_LIT("Latency"), 1, MB_CUR_LIT("Count"), MB_ERR_INVALID},
        {MB_CUR_LIT("Environment"), 1, MB_CUR_LIT("Count"), MB_ERR_INVALID},
        {MB_CUR_LIT("_aws"), 1, MB_CUR_LIT("Count"), MB_ERR_INVALID},
        {MB_CUR_LIT("Ok"), NAN, MB_CUR_LIT("Count"), MB_ERR_INVALID},
        {MB_CUR_LIT("Ok"), INFINITY, MB_CUR_LIT("Count"), MB_ERR_INVALID},
        {MB_CUR_LIT("Ok"), 1e200, MB_CUR_LIT("Count"), MB_ERR_INVALID},
        {MB_CUR_LIT("Ok"), 1e-200, MB_CUR_LIT("Count"), MB_ERR_INVALID},
        {(mb_cur){long_name, 255}, -0.0, MB_CUR_LIT("Bytes/Second"), 0},
        {MB_CUR_LIT("Ok"), -42.5, MB_CUR_LIT("Percent"), 0},
        {MB_CUR_LIT("Ok"), 1, MB_CUR_LIT("Count"), MB_ERR_INVALID}, /* unit clash with Percent */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err = (mb_err){0};
        int rc = mb_emf_put(c.emf, cases[i].name, cases[i].v, cases[i].unit, &err);
        if (rc != cases[i].rc) {
            fail_msg("case %zu: rc %d, want %d (%s)", i, rc, cases[i].rc, err.msg);
        }
        if (rc != 0) {
            assert_true(err.msg[0] != '\0');
        }
    }
    assert_true(mb_emf_unit_valid(MB_CUR_LIT("Count/Second")));
    assert_false(mb_emf_unit_valid((mb_cur){0}));
    mb_emf_finish(c.emf, 200, 1, false, TS);
    assert_int_equal(cap_read(&c), 1);
    assert_true(json_number_value(json_object_get(c.docs[0], "Ok")) == -42.5);
    cap_close(&c);
}

static void test_emf_limits_values_and_names(void **state) {
    (void)state;
    cap c;
    cap_open(&c, NULL, NULL);
    mb_emf_begin(c.emf, MB_CUR_LIT("GET /x"));
    mb_err err = {0};
    for (int i = 0; i < MB_EMF_VALUES_PER_METRIC; i++) {
        assert_int_equal(mb_emf_put(c.emf, MB_CUR_LIT("Hist"), i, MB_CUR_LIT("None"), &err), 0);
    }
    assert_int_equal(mb_emf_put(c.emf, MB_CUR_LIT("Hist"), 1, MB_CUR_LIT("None"), &err),
                     MB_ERR_LIMIT);
    char name[16];
    int rc = 0, i = 0;
    for (; i < MB_EMF_MAX_METRICS + 5 && rc == 0; i++) {
        snprintf(name, sizeof name, "N%d", i);
        rc = mb_emf_put(c.emf, mb_cur_from_cstr(name), 1, MB_CUR_LIT("Count"), &err);
    }
    assert_int_equal(rc, MB_ERR_LIMIT);
    assert_int_equal(i, MB_EMF_MAX_METRICS); /* Hist + 399 names fit */
    mb_emf_finish(c.emf, 200, 1, false, TS);
    assert_int_equal(cap_read(&c), 5); /* 404 definitions */
    json_t *hist = json_object_get(c.docs[0], "Hist");
    assert_int_equal(json_array_size(hist), MB_EMF_VALUES_PER_METRIC);
    cap_close(&c);
}

static void test_emf_new_validates_namespace_and_environment(void **state) {
    (void)state;
    mb_err err = {0};
    assert_null(mb_emf_new("bad\"ns", "dev", 2, &err));
    assert_int_equal(err.status, MB_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "METRICS_NAMESPACE"));
    assert_null(mb_emf_new("   ", "dev", 2, &err));
    assert_null(mb_emf_new("ok", "tab\there", 2, &err));
    assert_non_null(strstr(err.msg, "ENVIRONMENT"));
    mb_emf_free(NULL);
    /* a hostile route becomes a safe ASCII dimension value */
    cap c;
    cap_open(&c, "A.b_c#d:e/f-g h", "st\"age");
    mb_emf_begin(c.emf, MB_CUR_LIT("GET /caf\xc3\xa9/\"x\""));
    mb_emf_finish(c.emf, 200, 1, false, TS);
    assert_int_equal(cap_read(&c), 1);
    assert_string_equal(json_string_value(json_object_get(c.docs[0], "Route")), "GET /caf?"
                                                                                "?/\"x\"");
    assert_string_equal(json_string_value(json_object_get(c.docs[0], "Environment")), "st\"age");
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

static void test_emf_new_out_of_memory(void **state) {
    (void)state;
    for (int nth = 0;; nth++) {
        mb_err err = {0};
        g_fail_countdown = nth;
        void *obj = mb_emf_new(NULL, NULL, 2, &err);
        g_fail_countdown = -1;
        if (obj) {
            mb_emf_free(obj);
            break;
        }
        assert_int_equal(err.status, MB_ERR_NOMEM);
        assert_true(nth < 10);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_emf_new_out_of_memory),
        cmocka_unit_test(test_emf_document_has_builtins_dimensions_and_handler_metrics),
        cmocka_unit_test(test_emf_error_status_counts_and_state_resets),
        cmocka_unit_test(test_emf_splits_beyond_100_metrics),
        cmocka_unit_test(test_emf_rejects_invalid_name_unit_value),
        cmocka_unit_test(test_emf_limits_values_and_names),
        cmocka_unit_test(test_emf_new_validates_namespace_and_environment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
