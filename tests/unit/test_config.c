/* test_config.c - environment -> mb_config through the getenv seam: defaults, derived values,
 * lists, CORS rules, log level, integer bounds, value bounds, and a malloc-failure loop (the test
 * links with -Wl,--wrap=malloc). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moonbase/config.h"

/* ---- malloc failure injection ---- */
void *__real_malloc(size_t n);
static long g_malloc_countdown = -1; /* fail when it reaches 0; -1 = never */
void *__wrap_malloc(size_t n) {
    if (g_malloc_countdown >= 0 && g_malloc_countdown-- == 0) {
        return NULL;
    }
    return __real_malloc(n);
}

/* ---- the fake environment ---- */
static const char *g_env[32];

static const char *fake_getenv(const char *name) {
    size_t n = strlen(name);
    for (size_t i = 0; g_env[i]; i++) {
        if (strncmp(g_env[i], name, n) == 0 && g_env[i][n] == '=') {
            return g_env[i] + n + 1;
        }
    }
    return NULL;
}

/* Load with the given NAME=value list (NULL-terminated). */
static int load(mb_config *cfg, const char *exe, mb_err *err, ...) {
    va_list ap;
    va_start(ap, err);
    size_t n = 0;
    for (const char *kv; (kv = va_arg(ap, const char *)) != NULL && n < 31;) {
        g_env[n++] = kv;
    }
    va_end(ap);
    g_env[n] = NULL;
    *err = (mb_err){0};
    return mb_config_load(cfg, fake_getenv, exe, err);
}

static void assert_config_error(int rc, const mb_err *err, const mb_config *cfg,
                                const char *needle) {
    assert_int_equal(rc, MB_ERR_CONFIG);
    if (!strstr(err->msg, needle)) {
        fail_msg("'%s' does not mention '%s'", err->msg, needle);
    }
    /* Left cleaned up. */
    assert_null(cfg->table_name);
    assert_null(cfg->region);
    assert_int_equal(cfg->client_id_count, 0);
    assert_int_equal(cfg->cors_origin_count, 0);
}

static void test_config_defaults(void **state) {
    (void)state;
    mb_config cfg;
    mb_err err;
    assert_int_equal(load(&cfg, "/var/task/bootstrap", &err, NULL), 0);
    assert_null(cfg.table_name);
    assert_null(cfg.user_pool_id);
    assert_null(cfg.cognito_issuer);
    assert_int_equal(cfg.client_id_count, 0);
    assert_string_equal(cfg.region, "us-east-1");
    assert_string_equal(cfg.environment, "dev");
    assert_string_equal(cfg.metrics_namespace, "ServerlessApp");
    assert_string_equal(cfg.handlers_dir, "/var/task/handlers");
    assert_string_equal(cfg.dynamodb_endpoint, "https://dynamodb.us-east-1.amazonaws.com");
    assert_int_equal(cfg.log_level, MB_LOG_INFO);
    assert_int_equal(cfg.jwt_clock_skew_s, 60);
    assert_false(cfg.dev_mode);
    assert_true(mb_config_is_development(&cfg));
    mb_config_cleanup(&cfg);
    assert_int_equal(load(&cfg, NULL, &err, NULL), 0);
    assert_string_equal(cfg.handlers_dir, "handlers");
    mb_config_cleanup(&cfg);
    assert_int_equal(load(&cfg, "bootstrap", &err, NULL), 0);
    assert_string_equal(cfg.handlers_dir, "handlers");
    mb_config_cleanup(&cfg);
    mb_config_cleanup(&cfg); /* twice is fine */
    mb_config_cleanup(NULL);
}

static void test_config_explicit_values(void **state) {
    (void)state;
    mb_config cfg;
    mb_err err;
    assert_int_equal(load(&cfg, "/x/bootstrap", &err, "TABLE_NAME=Items", "HANDLERS_DIR=/srv/h",
                          "AWS_REGION=eu-west-1", "AWS_DEFAULT_REGION=us-west-2",
                          "ENVIRONMENT=prod", "METRICS_NAMESPACE=Moon", "LOG_LEVEL=DEBUG",
                          "JWT_CLOCK_SKEW_SECONDS=0", "MOONBASE_DEV=1",
                          "DYNAMODB_ENDPOINT=http://localhost:8000", NULL),
                     0);
    assert_string_equal(cfg.table_name, "Items");
    assert_string_equal(cfg.handlers_dir, "/srv/h");
    assert_string_equal(cfg.region, "eu-west-1");
    assert_string_equal(cfg.environment, "prod");
    assert_false(mb_config_is_development(&cfg));
    assert_string_equal(cfg.metrics_namespace, "Moon");
    assert_int_equal(cfg.log_level, MB_LOG_DEBUG);
    assert_int_equal(cfg.jwt_clock_skew_s, 0);
    assert_true(cfg.dev_mode);
    assert_string_equal(cfg.dynamodb_endpoint, "http://localhost:8000");
    mb_config_cleanup(&cfg);
    /* AWS_DEFAULT_REGION when AWS_REGION is unset; empty values count as unset. */
    assert_int_equal(load(&cfg, NULL, &err, "AWS_REGION=", "AWS_DEFAULT_REGION=ap-south-1",
                          "MOONBASE_DEV=true", "ENVIRONMENT=", NULL),
                     0);
    assert_string_equal(cfg.region, "ap-south-1");
    assert_string_equal(cfg.dynamodb_endpoint, "https://dynamodb.ap-south-1.amazonaws.com");
    assert_string_equal(cfg.environment, "dev");
    assert_false(cfg.dev_mode);
    mb_config_cleanup(&cfg);
}

static void test_config_issuer_derived_or_overridden(void **state) {
    (void)state;
    mb_config cfg;
    mb_err err;
    assert_int_equal(
        load(&cfg, NULL, &err, "USER_POOL_ID=us-west-2_AbC", "AWS_REGION=us-west-2", NULL), 0);
    assert_string_equal(cfg.cognito_issuer,
                        "https://cognito-idp.us-west-2.amazonaws.com/us-west-2_AbC");
    mb_config_cleanup(&cfg);
    assert_int_equal(
        load(&cfg, NULL, &err, "USER_POOL_ID=p", "COGNITO_ISSUER=http://localhost:9229/p", NULL),
        0);
    assert_string_equal(cfg.cognito_issuer, "http://localhost:9229/p");
    mb_config_cleanup(&cfg);
    int rc = load(&cfg, NULL, &err, "COGNITO_ISSUER=ftp://example/p", NULL);
    assert_config_error(rc, &err, &cfg, "COGNITO_ISSUER");
    rc = load(&cfg, NULL, &err, "COGNITO_ISSUER=localhost:9229", NULL);
    assert_config_error(rc, &err, &cfg, "COGNITO_ISSUER");
    /* COGNITO_JWKS_URL: unset or empty = derived from the issuer (NULL); else an http(s) URL. */
    assert_int_equal(
        load(&cfg, NULL, &err, "COGNITO_ISSUER=http://localhost:9229/p", "COGNITO_JWKS_URL=", NULL),
        0);
    assert_null(cfg.cognito_jwks_url);
    mb_config_cleanup(&cfg);
    assert_int_equal(
        load(&cfg, NULL, &err, "COGNITO_ISSUER=http://localhost:9229/p",
             "COGNITO_JWKS_URL=http://host.docker.internal:9229/p/.well-known/jwks.json", NULL),
        0);
    assert_string_equal(cfg.cognito_jwks_url,
                        "http://host.docker.internal:9229/p/.well-known/jwks.json");
    assert_string_equal(cfg.cognito_issuer, "http://localhost:9229/p");
    mb_config_cleanup(&cfg);
    rc = load(&cfg, NULL, &err, "COGNITO_ISSUER=http://localhost:9229/p",
              "COGNITO_JWKS_URL=file:///etc/passwd", NULL);
    assert_config_error(rc, &err, &cfg, "COGNITO_JWKS_URL");
}

static void test_config_client_id_list(void **state) {
    (void)state;
    mb_config cfg;
    mb_err err;
    assert_int_equal(load(&cfg, NULL, &err, "CLIENT_ID= a1 ,b2,,\tc3\t, ", NULL), 0);
    assert_int_equal(cfg.client_id_count, 3);
    assert_string_equal(cfg.client_ids[0], "a1");
    assert_string_equal(cfg.client_ids[1], "b2");
    assert_string_equal(cfg.client_ids[2], "c3");
    mb_config_cleanup(&cfg);
    assert_int_equal(load(&cfg, NULL, &err, "CLIENT_ID=1,2,3,4,5,6,7,8", NULL), 0);
    assert_int_equal(cfg.client_id_count, MB_CONFIG_MAX_CLIENTS);
    mb_config_cleanup(&cfg);
    int rc = load(&cfg, NULL, &err, "CLIENT_ID=1,2,3,4,5,6,7,8,9", NULL);
    assert_config_error(rc, &err, &cfg, "CLIENT_ID");
}

static void test_config_cors_origins_and_wildcard(void **state) {
    (void)state;
    mb_config cfg;
    mb_err err;
    assert_int_equal(load(&cfg, NULL, &err, "ENVIRONMENT=prod",
                          "CORS_ALLOWED_ORIGINS=https://app.example, http://localhost:3000", NULL),
                     0);
    assert_int_equal(cfg.cors_origin_count, 2);
    assert_true(mb_config_origin_allowed(&cfg, "https://app.example", 19));
    assert_true(mb_config_origin_allowed(&cfg, "http://localhost:3000", 21));
    assert_false(mb_config_origin_allowed(&cfg, "https://app.example.evil", 24));
    assert_false(mb_config_origin_allowed(&cfg, "https://app.exampl", 18));
    assert_false(mb_config_origin_allowed(&cfg, "HTTPS://APP.EXAMPLE", 19));
    assert_false(mb_config_origin_allowed(&cfg, "", 0));
    mb_config_cleanup(&cfg);
    static const char *const prod_envs[] = {"ENVIRONMENT=prod", "ENVIRONMENT=production",
                                            "ENVIRONMENT=staging", "ENVIRONMENT=Dev"};
    for (size_t i = 0; i < 4; i++) {
        int rc = load(&cfg, NULL, &err, prod_envs[i], "CORS_ALLOWED_ORIGINS=https://a, *", NULL);
        assert_config_error(rc, &err, &cfg, "'*'");
    }
    static const char *const dev_envs[] = {"ENVIRONMENT=local", "ENVIRONMENT=dev",
                                           "ENVIRONMENT=test"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(load(&cfg, NULL, &err, dev_envs[i], "CORS_ALLOWED_ORIGINS=*", NULL), 0);
        assert_true(mb_config_origin_allowed(&cfg, "https://anything", 16));
        mb_config_cleanup(&cfg);
    }
    int rc = load(&cfg, NULL, &err, "CORS_ALLOWED_ORIGINS=a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q", NULL);
    assert_config_error(rc, &err, &cfg, "CORS_ALLOWED_ORIGINS");
}

/* What the devserver answers as API Gateway (it reads CORS_ALLOWED_ORIGINS through config only):
 * "*" when listed, the listed origin itself, nothing for others; entries trimmed, empty ones
 * skipped, a control character refused with the variable named. */
static void test_config_cors_allow_origin_like_api_gateway(void **state) {
    (void)state;
    mb_config cfg;
    mb_err err;
    assert_int_equal(
        load(&cfg, NULL, &err, "CORS_ALLOWED_ORIGINS= https://a.example ,,\thttp://b:3000", NULL),
        0);
    assert_int_equal(cfg.cors_origin_count, 2);
    assert_string_equal(mb_config_cors_allow_origin(&cfg, "http://b:3000", 13), "http://b:3000");
    assert_string_equal(mb_config_cors_allow_origin(&cfg, "https://a.example", 17),
                        "https://a.example");
    assert_null(mb_config_cors_allow_origin(&cfg, "https://a.example.evil", 22));
    assert_null(mb_config_cors_allow_origin(&cfg, NULL, 0));
    mb_config_cleanup(&cfg);
    assert_int_equal(load(&cfg, NULL, &err, "CORS_ALLOWED_ORIGINS=https://a.example, *", NULL), 0);
    assert_string_equal(mb_config_cors_allow_origin(&cfg, "https://other", 13), "*");
    assert_string_equal(mb_config_cors_allow_origin(&cfg, "https://a.example", 17), "*");
    mb_config_cleanup(&cfg);
    assert_int_equal(load(&cfg, NULL, &err, NULL), 0); /* unset: no CORS at all */
    assert_null(mb_config_cors_allow_origin(&cfg, "https://a.example", 17));
    mb_config_cleanup(&cfg);
    int rc = load(&cfg, NULL, &err, "CORS_ALLOWED_ORIGINS=https://a.example\n", NULL);
    assert_config_error(rc, &err, &cfg, "CORS_ALLOWED_ORIGINS");
}

static void test_config_log_level(void **state) {
    (void)state;
    static const struct {
        const char *kv;
        mb_log_level level;
    } ok[] = {{"LOG_LEVEL=debug", MB_LOG_DEBUG}, {"LOG_LEVEL=INFO", MB_LOG_INFO},
              {"LOG_LEVEL=Warn", MB_LOG_WARN},   {"LOG_LEVEL=warning", MB_LOG_WARN},
              {"LOG_LEVEL=error", MB_LOG_ERROR}, {"LOG_LEVEL=", MB_LOG_INFO}};
    mb_config cfg;
    mb_err err;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        assert_int_equal(load(&cfg, NULL, &err, ok[i].kv, NULL), 0);
        assert_int_equal(cfg.log_level, ok[i].level);
        mb_config_cleanup(&cfg);
    }
    static const char *const bad[] = {"LOG_LEVEL=verbose", "LOG_LEVEL=trace", "LOG_LEVEL=info ",
                                      "LOG_LEVEL=3"};
    for (size_t i = 0; i < 4; i++) {
        int rc = load(&cfg, NULL, &err, bad[i], NULL);
        assert_config_error(rc, &err, &cfg, "LOG_LEVEL");
    }
}

static void test_config_clock_skew_bounds(void **state) {
    (void)state;
    mb_config cfg;
    mb_err err;
    assert_int_equal(load(&cfg, NULL, &err, "JWT_CLOCK_SKEW_SECONDS=300", NULL), 0);
    assert_int_equal(cfg.jwt_clock_skew_s, 300);
    mb_config_cleanup(&cfg);
    static const char *const bad[] = {"JWT_CLOCK_SKEW_SECONDS=301",
                                      "JWT_CLOCK_SKEW_SECONDS=-1",
                                      "JWT_CLOCK_SKEW_SECONDS=abc",
                                      "JWT_CLOCK_SKEW_SECONDS=10x",
                                      "JWT_CLOCK_SKEW_SECONDS=99999999999999999999",
                                      "JWT_CLOCK_SKEW_SECONDS=1.5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = load(&cfg, NULL, &err, bad[i], NULL);
        assert_config_error(rc, &err, &cfg, "JWT_CLOCK_SKEW_SECONDS");
    }
}

/* The handler limits: defaults, values, and the relations between them. */
static void test_config_handler_limits(void **state) {
    (void)state;
    mb_config cfg;
    mb_err err;
    assert_int_equal(load(&cfg, NULL, &err, NULL), 0);
    assert_int_equal(cfg.cpu_ms, 1000);
    assert_int_equal(cfg.cpu_max_ms, 5000);
    assert_int_equal(cfg.memory_mb, 64);
    assert_int_equal(cfg.invocation_memory_mb, 48);
    assert_true(cfg.instruction_limit == 0); /* lua_host's default */
    mb_config_cleanup(&cfg);
    assert_int_equal(load(&cfg, NULL, &err, "MOONBASE_CPU_MS=250", "MOONBASE_CPU_MAX_MS=2000",
                          "MOONBASE_MEMORY_MB=128", "MOONBASE_INVOCATION_MEMORY_MB=100",
                          "MOONBASE_INSTRUCTION_LIMIT=5000000", NULL),
                     0);
    assert_int_equal(cfg.cpu_ms, 250);
    assert_int_equal(cfg.cpu_max_ms, 2000);
    assert_int_equal(cfg.memory_mb, 128);
    assert_int_equal(cfg.invocation_memory_mb, 100);
    assert_true(cfg.instruction_limit == 5000000);
    mb_config_cleanup(&cfg);
    assert_int_equal(load(&cfg, NULL, &err, "MOONBASE_CPU_MS=8000", NULL), 0);
    assert_int_equal(cfg.cpu_max_ms, 8000); /* the maximum follows a larger default */
    mb_config_cleanup(&cfg);
    static const struct {
        const char *kv[3];
        const char *needle;
    } bad[] = {
        {{"MOONBASE_CPU_MS=0"}, "MOONBASE_CPU_MS"},
        {{"MOONBASE_CPU_MS=2000", "MOONBASE_CPU_MAX_MS=1000"}, "above MOONBASE_CPU_MAX_MS"},
        {{"MOONBASE_MEMORY_MB=2"}, "MOONBASE_MEMORY_MB"},
        {{"MOONBASE_MEMORY_MB=32", "MOONBASE_INVOCATION_MEMORY_MB=40"}, "above MOONBASE_MEMORY_MB"},
        {{"MOONBASE_INSTRUCTION_LIMIT=-5"}, "MOONBASE_INSTRUCTION_LIMIT"},
        {{"MOONBASE_INSTRUCTION_LIMIT=0"}, "MOONBASE_INSTRUCTION_LIMIT"},
        {{"MOONBASE_INSTRUCTION_LIMIT=12x"}, "MOONBASE_INSTRUCTION_LIMIT"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = load(&cfg, NULL, &err, bad[i].kv[0], bad[i].kv[1], bad[i].kv[2], NULL);
        assert_config_error(rc, &err, &cfg, bad[i].needle);
    }
}

static void test_config_value_bounds(void **state) {
    (void)state;
    mb_config cfg;
    mb_err err;
    static char big[4200];
    memcpy(big, "TABLE_NAME=", 11);
    memset(big + 11, 't', 4097);
    int rc = load(&cfg, NULL, &err, "AWS_REGION=us-east-2", big, NULL);
    assert_config_error(rc, &err, &cfg, "TABLE_NAME is longer");
    big[11 + 4096] = '\0'; /* exactly the bound: accepted */
    assert_int_equal(load(&cfg, NULL, &err, big, NULL), 0);
    assert_int_equal(strlen(cfg.table_name), 4096);
    mb_config_cleanup(&cfg);
    rc = load(&cfg, NULL, &err, "HANDLERS_DIR=/srv/h\n/etc", NULL);
    assert_config_error(rc, &err, &cfg, "HANDLERS_DIR contains a control character");
    rc = load(&cfg, NULL, &err, "ENVIRONMENT=pr\x1bod", NULL);
    assert_config_error(rc, &err, &cfg, "ENVIRONMENT");
}

/* Fail the Nth malloc for N = 0, 1, ... until loading succeeds: each failure is reported and
 * frees what was already allocated (LeakSanitizer checks at exit). */
static void test_config_malloc_failure_loop(void **state) {
    (void)state;
    mb_config cfg;
    mb_err err;
    int rc = -1;
    long n = 0;
    for (; rc != 0 && n < 200; n++) {
        g_malloc_countdown = n;
        rc = load(&cfg, "/var/task/bootstrap", &err, "TABLE_NAME=T", "USER_POOL_ID=p",
                  "CLIENT_ID=a,b,c", "CORS_ALLOWED_ORIGINS=https://x,https://y", NULL);
        g_malloc_countdown = -1;
        if (rc != 0) {
            assert_true(rc == MB_ERR_NOMEM || rc == MB_ERR_CONFIG);
            assert_non_null(strstr(err.msg, "out of memory"));
            assert_null(cfg.table_name);
        }
    }
    assert_int_equal(rc, 0);
    assert_true(n > 8);
    assert_int_equal(cfg.client_id_count, 3);
    mb_config_cleanup(&cfg);
}

/* Secrets are read here and nowhere else: copied when set, NULL when unset or empty, bounded,
 * and an error names the variable, never the value. */
static void test_config_secrets_read_once(void **state) {
    (void)state;
    mb_config cfg = {0};
    mb_err err;
    assert_int_equal(load(&cfg, NULL, &err, "CURSOR_SECRET=k3y", "AWS_ACCESS_KEY_ID=AKIDEXAMPLE",
                          "AWS_SECRET_ACCESS_KEY=s3cr3t", "AWS_SESSION_TOKEN=", NULL),
                     0);
    assert_string_equal(cfg.cursor_secret, "k3y");
    assert_string_equal(cfg.aws_access_key_id, "AKIDEXAMPLE");
    assert_string_equal(cfg.aws_secret_access_key, "s3cr3t");
    assert_null(cfg.aws_session_token); /* empty = unset */
    mb_config_cleanup(&cfg);
    assert_null(cfg.cursor_secret);
    assert_int_equal(load(&cfg, NULL, &err, NULL), 0);
    assert_null(cfg.cursor_secret);
    assert_null(cfg.aws_access_key_id);
    mb_config_cleanup(&cfg);
    static char big[MB_CONFIG_CREDENTIAL_MAX + 32] = "AWS_SESSION_TOKEN=";
    memset(big + 18, 'x', MB_CONFIG_CREDENTIAL_MAX + 1);
    assert_config_error(load(&cfg, NULL, &err, big, NULL), &err, &cfg, "AWS_SESSION_TOKEN");
    assert_null(strstr(err.msg, "xxxx"));
    assert_config_error(load(&cfg, NULL, &err, "CURSOR_SECRET=a\nb", NULL), &err, &cfg,
                        "CURSOR_SECRET contains a control character");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_config_explicit_values),
        cmocka_unit_test(test_config_issuer_derived_or_overridden),
        cmocka_unit_test(test_config_client_id_list),
        cmocka_unit_test(test_config_cors_origins_and_wildcard),
        cmocka_unit_test(test_config_cors_allow_origin_like_api_gateway),
        cmocka_unit_test(test_config_log_level),
        cmocka_unit_test(test_config_clock_skew_bounds),
        cmocka_unit_test(test_config_handler_limits),
        cmocka_unit_test(test_config_value_bounds),
        cmocka_unit_test(test_config_malloc_failure_loop),
        cmocka_unit_test(test_config_secrets_read_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
