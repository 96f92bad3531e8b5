/* test_runtime.c - the Lambda Runtime API client against a small HTTP/1.1 server running in a
 * thread of this test (127.0.0.1, ephemeral port, keep-alive aware) that plays the Runtime API:
 * next/response/error/init-error, 5xx and dropped connections then recovery, the API gone for
 * good, request-id and size checks. bootstrap.c is compiled into this test (its main renamed) so
 * its per-invocation step runs in-process (trace id environment, deadline), and the built
 * bootstrap binary is run as a subprocess for the whole loop, init errors and clean exit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <jansson.h>

#include "foundation_testkit.h"
#include "moonbase/app.h"
#include "moonbase/runtime.h"

#define main mb_bootstrap_main
#include "../../core/bootstrap.c"
#undef main

/* ---- the fake Runtime API ---- */

#define SRV_MAX_RECS 64
#define SRV_MAX_EVENTS 8

typedef struct srv_rec {
    char method[8];
    char path[256];
    char headers[4096]; /* raw header block, lower-cased names not guaranteed */
    mb_buf body;
} srv_rec;

typedef struct srv_event {
    const char *id; /* NULL: answer without a request id */
    const char *trace;
    int64_t deadline_ms;
    const char *body;
} srv_event;

typedef struct server {
    int lfd, port;
    pthread_t thread;
    pthread_mutex_t mu;
    volatile bool stop;
    /* script (set before the client runs) */
    int fail_next;   /* answer 500 to this many /next */
    int drop_next;   /* close the connection without answering this many /next */
    int post_status; /* status for POSTs (default 202) */
    int drop_post;   /* read this many POSTs, then close mid-answer (the answer is lost) */
    srv_event events[SRV_MAX_EVENTS];
    int nevents, next_event;
    bool
        gone_when_empty; /* a /next with no event left: close everything, as Lambda shutting down */
    /* what happened */
    srv_rec recs[SRV_MAX_RECS];
    int nrecs;
    int accepts;
} server;

static void srv_write(int fd, const char *s, size_t n) {
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0) {
            return;
        }
        s += w;
        n -= (size_t)w;
    }
}

static void srv_reply(int fd, int status, const char *extra_headers, const char *body) {
    char head[1024];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n%sContent-Length: %zu\r\n"
                     "\r\n",
                     status, extra_headers, strlen(body));
    srv_write(fd, head, (size_t)n);
    srv_write(fd, body, strlen(body));
}

/* Answer one parsed request; returns false when the connection (or the server) must close. */
static bool srv_answer(server *s, int fd, const srv_rec *r) {
    bool next = strcmp(r->method, "GET") == 0 && strstr(r->path, "/invocation/next");
    pthread_mutex_lock(&s->mu);
    if (next && s->drop_next > 0) {
        s->drop_next--;
        pthread_mutex_unlock(&s->mu);
        return false;
    }
    if (next && s->fail_next > 0) {
        s->fail_next--;
        pthread_mutex_unlock(&s->mu);
        srv_reply(fd, 500, "", "{\"errorMessage\":\"busy\"}");
        return true;
    }
    if (next && s->next_event >= s->nevents) {
        s->stop = s->gone_when_empty;
        pthread_mutex_unlock(&s->mu);
        if (!s->gone_when_empty) {
            srv_reply(fd, 500, "", "{\"errorMessage\":\"no event queued\"}");
        }
        return !s->gone_when_empty;
    }
    if (next) {
        const srv_event *e = &s->events[s->next_event++];
        pthread_mutex_unlock(&s->mu);
        char h[1024];
        int n = 0;
        if (e->id) {
            n += snprintf(h + n, sizeof h - (size_t)n, "Lambda-Runtime-Aws-Request-Id: %s\r\n",
                          e->id);
        }
        if (e->trace) {
            n += snprintf(h + n, sizeof h - (size_t)n, "Lambda-Runtime-Trace-Id: %s\r\n", e->trace);
        }
        snprintf(h + n, sizeof h - (size_t)n,
                 "Lambda-Runtime-Deadline-Ms: %lld\r\n"
                 "Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:1:function:f\r\n",
                 (long long)e->deadline_ms);
        srv_reply(fd, 200, h, e->body);
        return true;
    }
    if (s->drop_post > 0) {
        /* Part of the answer, then the connection goes: a plain close before any byte would be
         * re-sent by libcurl itself (a reused connection that died), hiding the loss. */
        s->drop_post--;
        pthread_mutex_unlock(&s->mu);
        static const char part[] = "HTTP/1.1 202 Accepted\r\nContent-Length: 15\r\n\r\n{\"sta";
        srv_write(fd, part, sizeof part - 1);
        return false;
    }
    int st = s->post_status ? s->post_status : 202;
    pthread_mutex_unlock(&s->mu);
    srv_reply(fd, st, "", "{\"status\":\"OK\"}");
    return true;
}

/* Parse one request from the front of `in` (headers + Content-Length body); returns the bytes it
 * used, 0 when incomplete. */
static size_t srv_parse(mb_buf *in, srv_rec *r) {
    char *end = in->len ? strstr(in->ptr, "\r\n\r\n") : NULL;
    if (!end) {
        return 0;
    }
    size_t head = (size_t)(end - in->ptr) + 4;
    size_t clen = 0;
    for (char *p = in->ptr; p < end; p = strstr(p, "\r\n") + 2) {
        if (strncasecmp(p, "content-length:", 15) == 0) {
            clen = strtoul(p + 15, NULL, 10);
        }
    }
    if (in->len < head + clen) {
        return 0;
    }
    *r = (srv_rec){0};
    sscanf(in->ptr, "%7s %255s", r->method, r->path);
    snprintf(r->headers, sizeof r->headers, "%.*s", (int)head, in->ptr);
    mb_buf_append(&r->body, in->ptr + head, clen);
    return head + clen;
}

static void srv_serve_conn(server *s, int fd) {
    mb_buf in = {0};
    char chunk[65536];
    bool open = true;
    while (open && !s->stop) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0) {
            continue;
        }
        ssize_t n = recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) {
            break;
        }
        mb_buf_append(&in, chunk, (size_t)n);
        srv_rec r;
        size_t used;
        while (open && (used = srv_parse(&in, &r)) > 0) {
            memmove(in.ptr, in.ptr + used, in.len - used);
            in.len -= used;
            in.ptr[in.len] = '\0';
            pthread_mutex_lock(&s->mu);
            if (s->nrecs < SRV_MAX_RECS) {
                s->recs[s->nrecs++] = r;
            } else {
                mb_buf_cleanup(&r.body);
            }
            pthread_mutex_unlock(&s->mu);
            open = srv_answer(s, fd, &r);
        }
    }
    close(fd);
    mb_buf_cleanup(&in);
}

static void *srv_main(void *arg) {
    server *s = arg;
    while (!s->stop) {
        struct pollfd p = {s->lfd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0) {
            continue;
        }
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0) {
            continue;
        }
        pthread_mutex_lock(&s->mu);
        s->accepts++;
        pthread_mutex_unlock(&s->mu);
        srv_serve_conn(s, fd);
    }
    close(s->lfd); /* the API is gone: connections are refused from now on */
    s->lfd = -1;
    return NULL;
}

static server *srv_start(void) {
    server *s = calloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->lfd, 8), 0);
    socklen_t len = sizeof a;
    getsockname(s->lfd, (struct sockaddr *)&a, &len);
    s->port = ntohs(a.sin_port);
    pthread_create(&s->thread, NULL, srv_main, s);
    return s;
}

static void srv_stop(server *s) {
    s->stop = true;
    pthread_join(s->thread, NULL);
}

static void srv_free(server *s) {
    if (!s) {
        return;
    }
    srv_stop(s);
    for (int i = 0; i < s->nrecs; i++) {
        mb_buf_cleanup(&s->recs[i].body);
    }
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static void srv_queue(server *s, const char *id, const char *trace, int64_t deadline,
                      const char *body) {
    pthread_mutex_lock(&s->mu);
    s->events[s->nevents++] = (srv_event){id, trace, deadline, body};
    pthread_mutex_unlock(&s->mu);
}

static void srv_api(const server *s, char *out, size_t cap) {
    snprintf(out, cap, "127.0.0.1:%d", s->port);
}

/* The recorded request i, which must exist. */
static const srv_rec *srv_rec_at(server *s, int i) {
    pthread_mutex_lock(&s->mu);
    int n = s->nrecs;
    pthread_mutex_unlock(&s->mu);
    if (i >= n) {
        fail_msg("only %d requests recorded, wanted #%d", n, i);
    }
    return &s->recs[i];
}

/* Case-insensitive search for a "Name: value" line in the raw header block. */
static bool has_header(const srv_rec *r, const char *line) {
    size_t n = strlen(line);
    for (const char *p = r->headers; *p; p++) {
        if (strncasecmp(p, line, n) == 0) {
            return true;
        }
    }
    return false;
}

/* ---- sleep seam ---- */

static int64_t g_sleeps[16];
static int g_nsleeps;

static void fake_sleep(int64_t ms) {
    if (g_nsleeps < 16) {
        g_sleeps[g_nsleeps] = ms;
    }
    g_nsleeps++;
}

typedef struct fixture {
    server *srv;
    mb_runtime *rt;
    mb_runtime_invocation inv;
    char *dir;
} fixture;

static int setup(void **state) {
    fixture *fx = calloc(1, sizeof *fx);
    fx->srv = srv_start();
    char api[64];
    srv_api(fx->srv, api, sizeof api);
    mb_err err = {0};
    fx->rt = mb_runtime_new(api, &err);
    assert_non_null(fx->rt);
    mb_runtime_set_sleep(fx->rt, fake_sleep);
    g_nsleeps = 0;
    *state = fx;
    return 0;
}

static int teardown(void **state) {
    fixture *fx = *state;
    mb_runtime_free(fx->rt);
    mb_runtime_invocation_cleanup(&fx->inv);
    srv_free(fx->srv);
    tk_rmdir(fx->dir);
    free(fx);
    return 0;
}

static void test_runtime_next_then_respond_on_one_connection(void **state) {
    fixture *fx = *state;
    srv_queue(fx->srv, "8476a536-e9f4-11e8-9739-2dfe598c3fcd", "Root=1-5bef4de7-ad49b0e8",
              1700000000123, "{\"version\":\"2.0\"}");
    srv_queue(fx->srv, "second-id", NULL, 0, "{}");
    mb_err err = {0};
    assert_int_equal(mb_runtime_next(fx->rt, &fx->inv, &err), 0);
    assert_string_equal(fx->inv.request_id, "8476a536-e9f4-11e8-9739-2dfe598c3fcd");
    assert_string_equal(fx->inv.trace_id, "Root=1-5bef4de7-ad49b0e8");
    assert_string_equal(fx->inv.function_arn, "arn:aws:lambda:us-east-1:1:function:f");
    assert_true(fx->inv.deadline_ms == 1700000000123);
    assert_string_equal(fx->inv.event.ptr, "{\"version\":\"2.0\"}");
    assert_int_equal(mb_runtime_respond(fx->rt, &fx->inv, MB_CUR_LIT("{\"statusCode\":200}"), &err),
                     0);
    assert_int_equal(mb_runtime_next(fx->rt, &fx->inv, &err), 0);
    assert_string_equal(fx->inv.request_id, "second-id");
    assert_string_equal(fx->inv.trace_id, ""); /* absent header: cleared, not stale */
    assert_true(fx->inv.deadline_ms == 0);
    const srv_rec *r = srv_rec_at(fx->srv, 1);
    assert_string_equal(r->method, "POST");
    assert_string_equal(
        r->path, "/2018-06-01/runtime/invocation/8476a536-e9f4-11e8-9739-2dfe598c3fcd/response");
    assert_string_equal(r->body.ptr, "{\"statusCode\":200}");
    assert_false(has_header(r, "Lambda-Runtime-Function-Error-Type"));
    assert_string_equal(srv_rec_at(fx->srv, 0)->path, "/2018-06-01/runtime/invocation/next");
    assert_int_equal(fx->srv->accepts, 1); /* keep-alive: one connection for all three */
    assert_int_equal(g_nsleeps, 0);
}

static void test_runtime_next_recovers_after_500s(void **state) {
    fixture *fx = *state;
    fx->srv->fail_next = 2;
    srv_queue(fx->srv, "id-1", NULL, 0, "{\"n\":1}");
    mb_err err = {0};
    assert_int_equal(mb_runtime_next(fx->rt, &fx->inv, &err), 0);
    assert_string_equal(fx->inv.request_id, "id-1");
    assert_int_equal(g_nsleeps, 2);
    assert_true(g_sleeps[0] == MB_RUNTIME_BACKOFF_MS);
    assert_true(g_sleeps[1] == 2 * MB_RUNTIME_BACKOFF_MS);
    assert_int_equal(fx->srv->nrecs, 3);
}

static void test_runtime_next_recovers_after_dropped_connection(void **state) {
    fixture *fx = *state;
    fx->srv->drop_next = 1;
    srv_queue(fx->srv, "id-2", NULL, 0, "{}");
    mb_err err = {0};
    assert_int_equal(mb_runtime_next(fx->rt, &fx->inv, &err), 0);
    assert_string_equal(fx->inv.request_id, "id-2");
    assert_true(fx->srv->accepts >= 2); /* reconnected */
}

static void test_runtime_api_gone_is_io_after_bounded_attempts(void **state) {
    fixture *fx = *state;
    srv_stop(fx->srv); /* listening socket closed: connection refused */
    mb_err err = {0};
    int64_t t0 = tk_mono_ms();
    assert_int_equal(mb_runtime_next(fx->rt, &fx->inv, &err), MB_ERR_IO);
    assert_true(tk_mono_ms() - t0 < 3000);
    assert_int_equal(g_nsleeps, MB_RUNTIME_ATTEMPTS - 1);
    assert_true(err.msg[0] != '\0');
    assert_int_equal(mb_runtime_respond(fx->rt, &fx->inv, MB_CUR_LIT("{}"), &err), MB_ERR_IO);
}

static void test_runtime_persistent_500_is_io(void **state) {
    fixture *fx = *state;
    fx->srv->fail_next = 100;
    mb_err err = {0};
    assert_int_equal(mb_runtime_next(fx->rt, &fx->inv, &err), MB_ERR_IO);
    assert_non_null(strstr(err.msg, "500"));
    assert_int_equal(fx->srv->nrecs, MB_RUNTIME_ATTEMPTS);
}

/* The first POST arrives but its answer is lost; the Runtime API then refuses the retry with 400
 * (it no longer knows the invocation): delivered. A 400 without an earlier loss stays an error. */
static void test_runtime_response_whose_answer_was_lost_counts_as_delivered(void **state) {
    fixture *fx = *state;
    srv_queue(fx->srv, "id-lost", NULL, 0, "{}");
    mb_err err = {0};
    assert_int_equal(mb_runtime_next(fx->rt, &fx->inv, &err), 0);
    fx->srv->drop_post = 1;
    fx->srv->post_status = 400;
    assert_int_equal(mb_runtime_respond(fx->rt, &fx->inv, MB_CUR_LIT("{\"statusCode\":200}"), &err),
                     0);
    assert_int_equal(fx->srv->nrecs, 3); /* next, the POST whose answer was lost, its retry */
    assert_string_equal(srv_rec_at(fx->srv, 2)->method, "POST");
    assert_int_equal(mb_runtime_respond(fx->rt, &fx->inv, MB_CUR_LIT("{}"), &err), MB_ERR_UPSTREAM);
    assert_non_null(strstr(err.msg, "400"));
}

static void test_runtime_fail_posts_error_type_and_body(void **state) {
    fixture *fx = *state;
    srv_queue(fx->srv, "id-3", NULL, 0, "{}");
    mb_err err = {0};
    assert_int_equal(mb_runtime_next(fx->rt, &fx->inv, &err), 0);
    assert_int_equal(
        mb_runtime_fail(fx->rt, &fx->inv, "Function.ResponseSizeTooLarge", "too \"big\"\n", &err),
        0);
    const srv_rec *r = srv_rec_at(fx->srv, 1);
    assert_string_equal(r->path, "/2018-06-01/runtime/invocation/id-3/error");
    assert_true(has_header(r, "Lambda-Runtime-Function-Error-Type: Function.ResponseSizeTooLarge"));
    json_t *b = json_loads(r->body.ptr, 0, NULL);
    assert_non_null(b);
    assert_string_equal(json_string_value(json_object_get(b, "errorMessage")), "too \"big\"\n");
    assert_string_equal(json_string_value(json_object_get(b, "errorType")),
                        "Function.ResponseSizeTooLarge");
    json_decref(b);
}

static void test_runtime_init_error_posts_type_and_body(void **state) {
    fixture *fx = *state;
    mb_err err = {0};
    assert_int_equal(
        mb_runtime_init_error(fx->rt, "Runtime.InitError", "routes.lua:3: '}' expected", &err), 0);
    const srv_rec *r = srv_rec_at(fx->srv, 0);
    assert_string_equal(r->method, "POST");
    assert_string_equal(r->path, "/2018-06-01/runtime/init/error");
    assert_true(has_header(r, "Lambda-Runtime-Function-Error-Type: Runtime.InitError"));
    json_t *b = json_loads(r->body.ptr, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(b, "errorMessage")),
                        "routes.lua:3: '}' expected");
    assert_string_equal(json_string_value(json_object_get(b, "errorType")), "Runtime.InitError");
    json_decref(b);
}

static void test_runtime_unusable_request_ids_refused(void **state) {
    fixture *fx = *state;
    srv_queue(fx->srv, NULL, NULL, 0, "{}");
    srv_queue(fx->srv, "../../init/error", NULL, 0, "{}");
    srv_queue(fx->srv, "a b", NULL, 0, "{}");
    mb_err err = {0};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(mb_runtime_next(fx->rt, &fx->inv, &err), MB_ERR_INVALID);
    }
}

static void test_runtime_response_size_limits(void **state) {
    fixture *fx = *state;
    srv_queue(fx->srv, "id-4", NULL, 0, "{}");
    mb_err err = {0};
    assert_int_equal(mb_runtime_next(fx->rt, &fx->inv, &err), 0);
    size_t n = MB_RUNTIME_MAX_RESPONSE + 1;
    char *big = malloc(n);
    memset(big, 'x', n);
    assert_int_equal(mb_runtime_respond(fx->rt, &fx->inv, (mb_cur){big, n}, &err), MB_ERR_LIMIT);
    free(big);
    assert_int_equal(fx->srv->nrecs, 1); /* refused locally, nothing sent */
    fx->srv->post_status = 413;          /* the API itself may refuse it too */
    assert_int_equal(mb_runtime_respond(fx->rt, &fx->inv, MB_CUR_LIT("{}"), &err), MB_ERR_LIMIT);
    fx->srv->post_status = 400;
    assert_int_equal(mb_runtime_respond(fx->rt, &fx->inv, MB_CUR_LIT("{}"), &err), MB_ERR_UPSTREAM);
}

static void test_runtime_new_rejects_bad_api(void **state) {
    (void)state;
    mb_err err = {0};
    assert_null(mb_runtime_new(NULL, &err));
    assert_null(mb_runtime_new("", &err));
    assert_null(mb_runtime_new("127.0.0.1:9001/x", &err));
    assert_int_equal(err.status, MB_ERR_CONFIG);
    mb_runtime_free(NULL);
}

/* _X_AMZN_TRACE_ID follows each invocation's trace id, and a new id does not mean a new
 * allocation: the environment keeps pointing at the same entry (setenv() made a fresh copy per
 * value and kept them all, a slow leak in a warm sandbox). */
static void test_runtime_trace_id_export_reuses_one_entry(void **state) {
    (void)state;
    char id[MB_RUNTIME_TRACE_ID_MAX];
    const char *first = NULL;
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof id, "Root=1-674%05d-%024d;Parent=%016d;Sampled=1", i, i * 7, i);
        mb_runtime_export_trace_id(id);
        const char *v = getenv("_X_AMZN_TRACE_ID");
        assert_non_null(v);
        assert_string_equal(v, id);
        first = first ? first : v;
        assert_ptr_equal(v, first);
    }
    memset(id, 'x', sizeof id - 1); /* the longest id the runtime keeps */
    id[sizeof id - 1] = '\0';
    mb_runtime_export_trace_id(id);
    assert_string_equal(getenv("_X_AMZN_TRACE_ID"), id);
    mb_runtime_export_trace_id("");
    assert_null(getenv("_X_AMZN_TRACE_ID"));
    mb_runtime_export_trace_id("Root=1-again");
    assert_string_equal(getenv("_X_AMZN_TRACE_ID"), "Root=1-again");
    mb_runtime_export_trace_id("");
}

/* ---- bootstrap's invocation step, in-process ---- */

static const char s_routes[] = "return { { 'GET', '/hello', 'hello' }, { 'GET', '/err', 'err' },\n"
                               "  { 'GET', '/loop', 'loop' } }\n";

static char *write_handlers(void) {
    char *dir = tk_tempdir();
    tk_write(dir, "routes.lua", s_routes);
    tk_write(dir, "hello.lua",
             "return function(req) return { body = { hi = req.query.name or 'x' } } end\n");
    tk_write(dir, "err.lua", "return function() error('handler exploded') end\n");
    tk_write(dir, "loop.lua", "return function() while true do end end\n");
    return dir;
}

static char g_dir_env[PATH_MAX + 16];
static const char *env_handlers(const char *name) {
    return strcmp(name, "HANDLERS_DIR") == 0 ? g_dir_env + 13 : NULL;
}

static const char *event_for(const char *path) {
    static char ev[4][256];
    static int k;
    char *e = ev[k++ % 4];
    snprintf(e, 256,
             "{\"version\":\"2.0\",\"rawPath\":\"%s\",\"requestContext\":{\"http\":"
             "{\"method\":\"GET\"},\"requestId\":\"gw\"}}",
             path);
    return e;
}

/* The posted proxy response of record i: its statusCode (and the record). */
static int posted_status(server *s, int i, const char *id) {
    const srv_rec *r = srv_rec_at(s, i);
    char want[256];
    snprintf(want, sizeof want, "/2018-06-01/runtime/invocation/%s/response", id);
    assert_string_equal(r->path, want);
    json_t *b = json_loads(r->body.ptr, 0, NULL);
    assert_non_null(b);
    int st = (int)json_integer_value(json_object_get(b, "statusCode"));
    json_decref(b);
    return st;
}

static void test_runtime_serve_one_posts_proxy_responses(void **state) {
    fixture *fx = *state;
    fx->dir = write_handlers();
    snprintf(g_dir_env, sizeof g_dir_env, "HANDLERS_DIR=%s", fx->dir);
    mb_config cfg;
    mb_err err = {0};
    assert_int_equal(mb_config_load(&cfg, env_handlers, NULL, &err), 0);
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    mb_app *app = mb_app_new(&cfg, devnull, &err);
    assert_non_null(app);
    int64_t far = tk_epoch_ms() + 60000;
    srv_queue(fx->srv, "id-a", "Root=1-aaa;Parent=b;Sampled=1", far, event_for("/hello"));
    srv_queue(fx->srv, "id-b", NULL, far, event_for("/err"));
    srv_queue(fx->srv, "id-c", "Root=1-ccc", tk_epoch_ms() + 400, event_for("/loop"));
    mb_buf out = {0};
    /* 200 with the handler's body; the trace id lands in _X_AMZN_TRACE_ID. */
    assert_int_equal(mb_runtime_next(fx->rt, &fx->inv, &err), 0);
    assert_int_equal(s_serve_one(fx->rt, app, &fx->inv, &out), 0);
    assert_string_equal(getenv("_X_AMZN_TRACE_ID"), "Root=1-aaa;Parent=b;Sampled=1");
    assert_int_equal(posted_status(fx->srv, 1, "id-a"), 200);
    /* A handler error is still an answer: a 500 proxy response on /response, not /error. */
    assert_int_equal(mb_runtime_next(fx->rt, &fx->inv, &err), 0);
    assert_int_equal(s_serve_one(fx->rt, app, &fx->inv, &out), 0);
    assert_null(getenv("_X_AMZN_TRACE_ID")); /* no stale trace id from the previous invocation */
    assert_int_equal(posted_status(fx->srv, 3, "id-b"), 500);
    assert_null(strstr(fx->srv->recs[3].body.ptr, "exploded"));
    /* Deadline 400 ms away: the looping handler is stopped before it, the 504 still posted. */
    assert_int_equal(mb_runtime_next(fx->rt, &fx->inv, &err), 0);
    int64_t t0 = tk_mono_ms();
    alarm(20);
    assert_int_equal(s_serve_one(fx->rt, app, &fx->inv, &out), 0);
    alarm(0);
    int64_t took = tk_mono_ms() - t0;
    assert_true(took < 1500);
    assert_int_equal(posted_status(fx->srv, 5, "id-c"), 504);
    unsetenv("_X_AMZN_TRACE_ID");
    mb_buf_cleanup(&out);
    mb_app_free(app);
    close(devnull);
    mb_config_cleanup(&cfg);
}

/* ---- the built bootstrap binary as a subprocess ---- */

typedef struct child {
    pid_t pid;
    int out_fd; /* stdout+stderr pipe */
} child;

static child spawn_bootstrap(const server *s, const char *dir, const char *extra_env) {
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 1);
        dup2(p[1], 2);
        close(p[0]);
        char api[64], hd[PATH_MAX + 16];
        srv_api(s, api, sizeof api);
        snprintf(hd, sizeof hd, "HANDLERS_DIR=%s", dir);
        char apienv[96];
        snprintf(apienv, sizeof apienv, "AWS_LAMBDA_RUNTIME_API=%s", api);
        char *envp[] = {apienv,
                        hd,
                        (char *)(extra_env ? extra_env : "LOG_LEVEL=info"),
                        "ASAN_OPTIONS=detect_leaks=1",
                        "PATH=/usr/bin:/bin",
                        NULL};
        char *argv[] = {MB_BINARY_DIR "/bootstrap", NULL};
        execve(argv[0], argv, envp);
        _exit(127);
    }
    close(p[1]);
    return (child){pid, p[0]};
}

/* Wait (bounded) for the child; returns its exit status and its output (caller frees). */
static int wait_child(child c, int timeout_ms, char **output) {
    mb_buf out = {0};
    char chunk[4096];
    int64_t end = tk_mono_ms() + timeout_ms;
    for (;;) {
        struct pollfd p = {c.out_fd, POLLIN, 0};
        int left = (int)(end - tk_mono_ms());
        if (left <= 0) {
            kill(c.pid, SIGKILL);
            break;
        }
        if (poll(&p, 1, left) > 0) {
            ssize_t n = read(c.out_fd, chunk, sizeof chunk);
            if (n <= 0) {
                break;
            }
            mb_buf_append(&out, chunk, (size_t)n);
        }
    }
    close(c.out_fd);
    int st = 0;
    waitpid(c.pid, &st, 0);
    *output = out.ptr ? mb_buf_detach(&out, NULL) : strdup("");
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void test_runtime_bootstrap_loop_end_to_end_and_clean_exit(void **state) {
    fixture *fx = *state;
    fx->dir = write_handlers();
    int64_t far = tk_epoch_ms() + 60000;
    srv_queue(fx->srv, "e2e-1", "Root=1-e2e-trace-one", far, event_for("/hello"));
    srv_queue(fx->srv, "e2e-2", NULL, far, event_for("/err"));
    srv_queue(fx->srv, "e2e-3", NULL, far, event_for("/nope"));
    fx->srv->fail_next = 1; /* one hiccup before the first event */
    fx->srv->gone_when_empty = true;
    child c = spawn_bootstrap(fx->srv, fx->dir, NULL);
    char *output = NULL;
    int rc = wait_child(c, 15000, &output);
    if (rc != 0) {
        fail_msg("bootstrap exited %d:\n%s", rc, output);
    }
    assert_int_equal(posted_status(fx->srv, 2, "e2e-1"), 200);
    assert_int_equal(posted_status(fx->srv, 4, "e2e-2"), 500);
    assert_int_equal(posted_status(fx->srv, 6, "e2e-3"), 404);
    assert_non_null(strstr(output, "Root=1-e2e-trace-one")); /* trace id in the logs */
    assert_non_null(strstr(output, "Runtime API unreachable, exiting"));
    free(output);
}

static void test_runtime_bootstrap_init_errors_posted(void **state) {
    fixture *fx = *state;
    fx->dir = write_handlers();
    tk_write(fx->dir, "routes.lua", "return {\n  { 'GET', '/x' 'x' },\n}\n");
    child c = spawn_bootstrap(fx->srv, fx->dir, NULL);
    char *output = NULL;
    int rc = wait_child(c, 10000, &output);
    assert_int_equal(rc, 1);
    const srv_rec *r = srv_rec_at(fx->srv, 0);
    assert_string_equal(r->path, "/2018-06-01/runtime/init/error");
    assert_true(has_header(r, "Lambda-Runtime-Function-Error-Type: Runtime.InitError"));
    json_t *b = json_loads(r->body.ptr, 0, NULL);
    assert_non_null(strstr(json_string_value(json_object_get(b, "errorMessage")), "routes.lua:2:"));
    assert_string_equal(json_string_value(json_object_get(b, "errorType")), "Runtime.InitError");
    json_decref(b);
    free(output);
    /* A bad setting is an init error too, naming the variable. */
    tk_write(fx->dir, "routes.lua", s_routes);
    c = spawn_bootstrap(fx->srv, fx->dir, "LOG_LEVEL=loud");
    rc = wait_child(c, 10000, &output);
    assert_int_equal(rc, 1);
    r = srv_rec_at(fx->srv, 1);
    assert_string_equal(r->path, "/2018-06-01/runtime/init/error");
    assert_non_null(strstr(r->body.ptr, "LOG_LEVEL"));
    free(output);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_runtime_next_then_respond_on_one_connection),
        T(test_runtime_next_recovers_after_500s),
        T(test_runtime_next_recovers_after_dropped_connection),
        T(test_runtime_api_gone_is_io_after_bounded_attempts),
        T(test_runtime_persistent_500_is_io),
        T(test_runtime_response_whose_answer_was_lost_counts_as_delivered),
        T(test_runtime_fail_posts_error_type_and_body),
        T(test_runtime_init_error_posts_type_and_body),
        T(test_runtime_unusable_request_ids_refused),
        T(test_runtime_response_size_limits),
        cmocka_unit_test(test_runtime_new_rejects_bad_api),
        cmocka_unit_test(test_runtime_trace_id_export_reuses_one_entry),
        T(test_runtime_serve_one_posts_proxy_responses),
        T(test_runtime_bootstrap_loop_end_to_end_and_clean_exit),
        T(test_runtime_bootstrap_init_errors_posted),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
