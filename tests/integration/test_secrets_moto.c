/* test_secrets_moto.c - Secrets Manager through moto_server, started by this test on a free port:
 * the secrets client (create, read, rotate, TTL expiry, missing secret) and ctx.secret through the
 * real pipeline (allow-list, a value that never reaches the logs, clear errors). Exits 77 (ctest
 * SKIP) when moto_server is not installed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <jansson.h>

#include "foundation_testkit.h"
#include "moonbase/app.h"
#include "moonbase/aws_json.h"
#include "moonbase/config.h"
#include "moonbase/secrets.h"

static pid_t g_moto;
static char g_endpoint[64];

static int s_free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t n = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &n) != 0) {
        perror("free port");
        exit(1);
    }
    close(fd);
    return ntohs(a.sin_port);
}

static bool s_listening(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* Start moto_server on a free port; false when it is not installed. */
static bool s_start_moto(void) {
    if (system("command -v moto_server >/dev/null 2>&1") != 0) {
        return false;
    }
    int port = s_free_port();
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    g_moto = fork();
    if (g_moto == 0) {
        freopen("/dev/null", "w", stdout);
        freopen("/dev/null", "w", stderr);
        execlp("moto_server", "moto_server", "-H", "127.0.0.1", "-p", p, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 300 && !s_listening(port); i++) {
        usleep(100 * 1000);
    }
    if (!s_listening(port)) {
        fprintf(stderr, "moto_server did not start on port %d\n", port);
        exit(1);
    }
    snprintf(g_endpoint, sizeof g_endpoint, "http://127.0.0.1:%d", port);
    return true;
}

static void s_stop_moto(void) {
    if (g_moto > 0) {
        kill(g_moto, SIGTERM);
        waitpid(g_moto, NULL, 0);
    }
}

/* The credentials moto accepts, from the test's environment (scripts/test sets them). */
static mb_sigv4_credentials s_creds(void) {
    mb_sigv4_credentials c = {0};
    mb_err err = {0};
    assert_int_equal(mb_sigv4_credentials_set(&c, getenv("AWS_ACCESS_KEY_ID"),
                                              getenv("AWS_SECRET_ACCESS_KEY"),
                                              getenv("AWS_SESSION_TOKEN"), &err),
                     0);
    return c;
}

/* An administrator's call (CreateSecret, PutSecretValue) with the same JSON-protocol client;
 * returns the secret's ARN from the answer (malloc'd). */
static char *s_admin(const char *op, const char *body) {
    mb_aws_json_config jc = {.service = "secretsmanager",
                             .target_prefix = "secretsmanager",
                             .content_type = "application/x-amz-json-1.1",
                             .region = "us-east-1",
                             .endpoint = g_endpoint};
    mb_sigv4_credentials c = s_creds();
    mb_err err = {0};
    mb_aws_json *client = mb_aws_json_new(&jc, &c, &err);
    assert_non_null(client);
    mb_cur resp;
    if (mb_aws_json_call(client, op, mb_cur_from_cstr(body), 0, &resp, &err) != 0) {
        fail_msg("%s: %s", op, err.msg);
    }
    json_t *doc = json_loadb(resp.ptr, resp.len, 0, NULL);
    char *arn = strdup(json_string_value(json_object_get(doc, "ARN")));
    json_decref(doc);
    mb_aws_json_free(client);
    return arn;
}

static void test_secrets_read_rotate_ttl_missing(void **state) {
    (void)state;
    free(s_admin("CreateSecret", "{\"Name\":\"svc/api-key\",\"SecretString\":\"first-value-1\"}"));
    mb_secrets_config sc = {.region = "us-east-1", .endpoint = g_endpoint, .ttl_s = 1};
    mb_sigv4_credentials c = s_creds();
    mb_err err = {0};
    mb_secrets *s = mb_secrets_new(&sc, &c, &err);
    assert_non_null(s);
    mb_cur v;
    assert_int_equal(mb_secrets_get(s, "svc/api-key", 0, &v, &err), 0);
    assert_true(mb_cur_eq(v, MB_CUR_LIT("first-value-1")));
    /* rotate: a new version; the cache keeps the old one until the TTL passes */
    free(s_admin("PutSecretValue",
                 "{\"SecretId\":\"svc/api-key\",\"SecretString\":\"second-value-2\"}"));
    assert_int_equal(mb_secrets_get(s, "svc/api-key", 0, &v, &err), 0);
    assert_true(mb_cur_eq(v, MB_CUR_LIT("first-value-1")));
    usleep(1100 * 1000);
    assert_int_equal(mb_secrets_get(s, "svc/api-key", 0, &v, &err), 0);
    assert_true(mb_cur_eq(v, MB_CUR_LIT("second-value-2")));
    /* a missing secret: a clear error naming it */
    assert_int_equal(mb_secrets_get(s, "svc/nope", 0, &v, &err), MB_ERR_NOTFOUND);
    assert_string_equal(err.msg, "secret 'svc/nope' does not exist");
    mb_secrets_free(s);
}

/* ---- ctx.secret through the pipeline ---- */

static const char *g_env[16];
static const char *s_getenv(const char *name) {
    size_t n = strlen(name);
    for (size_t i = 0; g_env[i]; i++) {
        if (strncmp(g_env[i], name, n) == 0 && g_env[i][n] == '=') {
            return g_env[i] + n + 1;
        }
    }
    return NULL;
}

static int s_handle(mb_app *app, const char *name, mb_buf *out) {
    char ev[512];
    snprintf(ev, sizeof ev,
             "{\"version\":\"2.0\",\"rawPath\":\"/secret\",\"queryStringParameters\":{\"name\":"
             "\"%s\"},\"requestContext\":{\"http\":{\"method\":\"GET\"}}}",
             name);
    mb_invocation inv = {MB_CUR_LIT("req-1"), MB_CUR_LIT(""), 0};
    return mb_app_handle(app, mb_cur_from_cstr(ev), &inv, out);
}

static char *s_read_all(FILE *f) {
    fflush(f);
    long n = ftell(f);
    char *text = calloc(1, (size_t)n + 1);
    assert_int_equal(pread(fileno(f), text, (size_t)n, 0), n);
    return text;
}

static void test_secrets_ctx_secret_allow_list_and_redaction(void **state) {
    (void)state;
    /* allowed by ARN, as the template sets SECRET_ARNS; the handler asks by name */
    char *arn =
        s_admin("CreateSecret", "{\"Name\":\"app/token\",\"SecretString\":\"tok-9f8e7d6c5b4a\"}");
    char arns[512];
    snprintf(arns, sizeof arns, "SECRET_ARNS=%s, app/missing", arn);
    free(arn);
    char *dir = tk_tempdir();
    tk_write(dir, "routes.lua", "return { { 'GET', '/secret', 'secret' } }\n");
    tk_write(dir, "secret.lua",
             "return function(req, ctx)\n"
             "  local v = ctx.secret(req.query.name)\n"
             "  ctx.log.info('read it: ' .. v, { value = v })\n"
             "  return { status = 200, body = { length = #v, prefix = v:sub(1, 4) } }\n"
             "end\n");
    char handlers[512], endpoint[128];
    snprintf(handlers, sizeof handlers, "HANDLERS_DIR=%s", dir);
    snprintf(endpoint, sizeof endpoint, "SECRETS_ENDPOINT=%s", g_endpoint);
    size_t n = 0;
    g_env[n++] = handlers;
    g_env[n++] = endpoint;
    g_env[n++] = "AWS_REGION=us-east-1";
    g_env[n++] = "AWS_ACCESS_KEY_ID=testing";
    g_env[n++] = "AWS_SECRET_ACCESS_KEY=testing";
    g_env[n++] = arns;
    g_env[n] = NULL;
    mb_config cfg;
    mb_err err = {0};
    assert_int_equal(mb_config_load(&cfg, s_getenv, NULL, &err), 0);
    FILE *logf = tmpfile();
    mb_app *app = mb_app_new(&cfg, fileno(logf), &err);
    assert_non_null(app);
    mb_buf out = {0};
    assert_int_equal(s_handle(app, "app/token", &out), 200);
    assert_non_null(strstr(out.ptr, "\\\"length\\\":16"));
    assert_non_null(strstr(out.ptr, "\\\"prefix\\\":\\\"tok-\\\""));
    /* outside the allow-list: refused before any call, a 500 with the reason in the logs */
    assert_int_equal(s_handle(app, "svc/api-key", &out), 500);
    /* allowed but missing: a clear error */
    assert_int_equal(s_handle(app, "app/missing", &out), 500);
    char *logs = s_read_all(logf);
    assert_null(strstr(logs, "tok-9f8e7d6c5b4a"));        /* never logged ... */
    assert_non_null(strstr(logs, "read it: [REDACTED]")); /* ... the log line is still there */
    assert_non_null(strstr(logs, "'svc/api-key' is not in SECRET_ARNS"));
    assert_non_null(strstr(logs, "secret 'app/missing' does not exist"));
    free(logs);
    mb_buf_cleanup(&out);
    mb_app_free(app);
    mb_config_cleanup(&cfg);
    fclose(logf);
    tk_rmdir(dir);
}

int main(void) {
    if (!s_start_moto()) {
        printf("SKIP: moto_server is not installed\n");
        return 77;
    }
    setenv("AWS_ACCESS_KEY_ID", "testing", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "testing", 1);
    unsetenv("AWS_SESSION_TOKEN");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secrets_read_rotate_ttl_missing),
        cmocka_unit_test(test_secrets_ctx_secret_allow_list_and_redaction),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    s_stop_moto();
    return rc;
}
