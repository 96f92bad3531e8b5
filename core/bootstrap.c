/* bootstrap.c - Moonbase's Lambda custom runtime: the Runtime API loop, or one event with
 * `bootstrap invoke --event FILE`. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "moonbase/app.h"
#include "moonbase/clock.h"
#include "moonbase/config.h"
#include "moonbase/event.h"
#include "moonbase/runtime.h"

#define MOONBASE_VERSION "0.1.0"
/* Stop handlers this long before Lambda's deadline, so the response still gets posted. */
#define DEADLINE_MARGIN_MS 100
/* `invoke` has no Lambda deadline; use API Gateway's 30 s integration timeout. */
#define INVOKE_TIMEOUT_MS 30000

static const char s_usage[] =
    "usage: bootstrap                         run the Lambda Runtime API loop "
    "(needs AWS_LAMBDA_RUNTIME_API)\n"
    "       bootstrap invoke --event FILE     handle one API Gateway event (FILE or - for "
    "stdin);\n"
    "                                         the response goes to stdout, logs to stderr\n"
    "       bootstrap --version | --help\n"
    "Environment: HANDLERS_DIR, TABLE_NAME, USER_POOL_ID, CLIENT_ID, AWS_REGION, COGNITO_ISSUER,\n"
    "DYNAMODB_ENDPOINT, ENVIRONMENT, LOG_LEVEL, CORS_ALLOWED_ORIGINS (see README.md).\n";

/* Read at most max+1 bytes: one more than the limit lets the app answer 413 instead of the
 * runtime silently truncating. */
static int s_read_event(const char *path, size_t max, mb_buf *out) {
    int fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    char chunk[65536];
    ssize_t n = 0;
    while (out->len <= max && (n = read(fd, chunk, sizeof chunk)) != 0) {
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 || mb_buf_append(out, chunk, (size_t)n) != 0) {
            n = -1;
            break;
        }
    }
    if (fd != 0) {
        close(fd);
    }
    return n < 0 ? -1 : 0;
}

/* A v4-style random id for `invoke`, in the same shape as Lambda's request ids. */
static void s_request_id(char out[37]) {
    unsigned char r[16] = {0};
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, r, sizeof r) != (ssize_t)sizeof r) {
        uint64_t t = (uint64_t)mb_clock_now_ms(NULL) ^ (uint64_t)getpid() << 32;
        memcpy(r, &t, sizeof t);
    }
    if (fd >= 0) {
        close(fd);
    }
    r[6] = (unsigned char)((r[6] & 0x0F) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3F) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0],
             r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13],
             r[14], r[15]);
}

/* The app's response, or the static 500 when not even that could be stored (a fresh buffer with
 * every allocation failing): a caller always gets a proxy response. */
static mb_cur s_response(const mb_buf *out) {
    return out->len ? mb_buf_cur(out) : MB_CUR_LIT(MB_EVENT_FALLBACK_500);
}

static int s_invoke(const mb_config *cfg, const char *event_path) {
    mb_err err = {0};
    mb_buf event = {0};
    if (s_read_event(event_path, MB_EVENT_MAX_BYTES, &event) != 0) {
        fprintf(stderr, "bootstrap: cannot read event %s: %s\n", event_path, strerror(errno));
        mb_buf_cleanup(&event);
        return 2;
    }
    mb_app *app = mb_app_new(cfg, 2, &err);
    if (!app) {
        fprintf(stderr, "bootstrap: %s\n", err.msg);
        mb_buf_cleanup(&event);
        return 1;
    }
    char id[37];
    s_request_id(id);
    const char *trace = getenv("_X_AMZN_TRACE_ID");
    mb_invocation inv = {mb_cur_from_cstr(id), mb_cur_from_cstr(trace ? trace : ""),
                         mb_clock_now_ms(NULL) + INVOKE_TIMEOUT_MS};
    mb_buf out = {0};
    mb_app_handle(app, mb_buf_cur(&event), &inv, &out);
    mb_cur resp = s_response(&out);
    fwrite(resp.ptr, 1, resp.len, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    mb_buf_cleanup(&out);
    mb_buf_cleanup(&event);
    mb_app_free(app);
    return 0;
}

/* One invocation of the loop: handle, then post the response (or an error Lambda can show). */
static int s_serve_one(mb_runtime *rt, mb_app *app, mb_runtime_invocation *inv, mb_buf *out) {
    mb_err err = {0};
    mb_runtime_export_trace_id(inv->trace_id);
    int64_t deadline = inv->deadline_ms ? inv->deadline_ms - DEADLINE_MARGIN_MS : 0;
    mb_invocation call = {mb_cur_from_cstr(inv->request_id), mb_cur_from_cstr(inv->trace_id),
                          deadline};
    mb_buf_reset(out);
    mb_app_handle(app, mb_buf_cur(&inv->event), &call, out);
    int rc = mb_runtime_respond(rt, inv, s_response(out), &err);
    if (rc == MB_ERR_LIMIT) {
        rc = mb_runtime_fail(rt, inv, "Function.ResponseSizeTooLarge",
                             "the response is larger than Lambda's 6 MB limit", &err);
    }
    if (rc != 0) {
        fprintf(stderr, "bootstrap: posting the response failed: %s\n", err.msg);
    }
    return rc == MB_ERR_IO ? rc : 0;
}

static int s_loop(const char *api, const mb_config *cfg, const mb_err *cfg_err) {
    mb_err err = {0};
    mb_runtime *rt = mb_runtime_new(api, &err);
    if (!rt) {
        fprintf(stderr, "bootstrap: %s\n", err.msg);
        return 1;
    }
    mb_app *app = cfg_err->status == 0 ? mb_app_new(cfg, 1, &err) : NULL;
    if (!app) {
        const char *msg = cfg_err->status ? cfg_err->msg : err.msg;
        fprintf(stderr, "bootstrap: init failed: %s\n", msg);
        mb_runtime_init_error(rt, "Runtime.InitError", msg, &err);
        mb_runtime_free(rt);
        return 1;
    }
    mb_runtime_invocation inv = {0};
    mb_buf out = {0};
    int rc;
    while ((rc = mb_runtime_next(rt, &inv, &err)) != MB_ERR_IO) {
        if (rc == 0 && s_serve_one(rt, app, &inv, &out) == MB_ERR_IO) {
            break;
        }
        if (rc != 0) {
            /* A broken answer to /next (no request id): back off rather than spin on it. */
            fprintf(stderr, "bootstrap: %s\n", err.msg);
            struct timespec pause = {0, MB_RUNTIME_BACKOFF_MS * 1000000L};
            nanosleep(&pause, NULL);
        }
    }
    /* The Runtime API is gone for good: the sandbox is shutting down. */
    fprintf(stderr, "bootstrap: Runtime API unreachable, exiting\n");
    mb_buf_cleanup(&out);
    mb_runtime_invocation_cleanup(&inv);
    mb_app_free(app);
    mb_runtime_free(rt);
    return 0;
}

int main(int argc, char **argv) {
    const char *event_path = NULL;
    bool invoke = argc > 1 && strcmp(argv[1], "invoke") == 0;
    if (argc > 1 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-v") == 0)) {
        printf("moonbase bootstrap %s\n", MOONBASE_VERSION);
        return 0;
    }
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(s_usage, stdout);
        return 0;
    }
    if (invoke) {
        if (argc == 4 && strcmp(argv[2], "--event") == 0) {
            event_path = argv[3];
        } else {
            fputs("bootstrap: invoke needs --event FILE (or --event - for stdin)\n", stderr);
            return 2;
        }
    } else if (argc > 1) {
        fprintf(stderr, "bootstrap: unknown argument '%s'\n%s", argv[1], s_usage);
        return 2;
    }
    mb_config cfg;
    mb_err err = {0};
    int rc = mb_config_load(&cfg, NULL, argv[0], &err);
    const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
    if (!invoke && api && *api) {
        rc = s_loop(api, &cfg, &err);
    } else if (rc != 0) {
        fprintf(stderr, "bootstrap: %s\n", err.msg);
        rc = 2;
    } else if (invoke) {
        rc = s_invoke(&cfg, event_path);
    } else {
        fprintf(stderr, "bootstrap: AWS_LAMBDA_RUNTIME_API is not set; to handle one event run "
                        "'bootstrap invoke --event FILE'\n");
        rc = 2;
    }
    mb_config_cleanup(&cfg);
    return rc;
}
