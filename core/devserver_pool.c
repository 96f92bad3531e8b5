/* devserver_pool.c - Lambda Runtime API emulator and the bootstrap worker processes behind it.
 * One mutex guards the queue, the workers and every invocation; waits use CLOCK_MONOTONIC. */
#include "moonbase/devserver_pool.h"
#include "moonbase/clock.h"
#include "moonbase/devserver_guard.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define RT_PREFIX "/2018-06-01/runtime/"
/* A worker that dies before it asks for its first invocation failed to start: its replacement
 * waits (200 ms doubling up to 5 s) so a broken build or config cannot fork-bomb the machine. */
#define BACKOFF_MAX_MS 5000
/* Workers get this long to exit on SIGTERM at shutdown before SIGKILL. */
#define STOP_GRACE_MS 2000
/* Lambda's synchronous response limit (bytes); larger answers fail the invocation. */
#define RESPONSE_LIMIT 6291556u

typedef struct invocation {
    char id[37];
    char *event; /* owned until /next hands it to a worker */
    size_t event_len;
    pthread_cond_t cond;
    bool done;
    mb_pool_result *res;
    struct invocation *next; /* queue link */
    struct instance *inst;   /* the worker running it, NULL while queued */
    int64_t t_dispatch;      /* monotonic ns */
} invocation;

typedef struct instance {
    mb_pool *pool;
    int slot;
    pid_t pid;
    struct MHD_Daemon *daemon;
    uint16_t port;
    int64_t t_start;
    bool ready, dead, killed, init_reported;
    double init_ms;
    invocation *inv;
} instance;

typedef struct slot {
    instance *inst;
    int64_t respawn_at; /* monotonic ns; 0 = no replacement pending */
    int fail_streak;
} slot;

struct mb_pool {
    mb_pool_options o;
    char *bootstrap, *handlers_dir, *function_name, *region;
    pthread_mutex_t mu;
    pthread_cond_t work; /* broadcast when the queue gains an entry or a worker dies */
    invocation *qhead, *qtail;
    slot slots[MB_POOL_MAX_WORKERS];
    bool stopping;
};

/* Per-connection state of the emulator: the uploaded body of a POST. */
typedef struct upload {
    mb_buf body;
    bool too_big;
} upload;

void mb_pool_logf(const char *fmt, ...) {
    char line[1024];
    int64_t ms = mb_clock_now_ms(NULL);
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&secs, &tm);
    int n = snprintf(line, sizeof line, "devserver: %02d:%02d:%02d.%03d ", tm.tm_hour, tm.tm_min,
                     tm.tm_sec, (int)(ms % 1000));
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2) {
        len = sizeof line - 2;
    }
    line[len++] = '\n';
    /* One write(2) per line keeps lines whole even with workers writing to the same stderr. */
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

static void s_random(void *buf, size_t len) {
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n <= 0) {
            /* getrandom only fails before the pool is seeded or on EINTR; a weak fallback is
             * fine for local request ids. */
            for (size_t i = 0; i < len; i++) {
                p[i] = (unsigned char)(mb_clock_mono_ns(NULL) >> (i % 8));
            }
            return;
        }
        p += n;
        len -= (size_t)n;
    }
}

void mb_pool_uuid(char out[37]) {
    unsigned char r[16];
    s_random(r, sizeof r);
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0],
             r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13],
             r[14], r[15]);
}

void mb_pool_result_cleanup(mb_pool_result *res) {
    if (res == NULL) {
        return;
    }
    mb_buf_cleanup(&res->payload);
}

/* Finish an invocation (lock held): record the outcome, detach it and wake its client. */
static void s_finish(invocation *inv, mb_pool_outcome outcome) {
    inv->res->outcome = outcome;
    if (inv->inst != NULL) {
        inv->res->worker = inv->inst->slot + 1;
        inv->res->duration_ms = (double)(mb_clock_mono_ns(NULL) - inv->t_dispatch) / 1e6;
        if (!inv->inst->init_reported) {
            inv->inst->init_reported = true;
            inv->res->init_ms = inv->inst->init_ms;
        }
        inv->inst->inv = NULL;
    }
    inv->inst = NULL;
    inv->done = true;
    pthread_cond_signal(&inv->cond);
}

/* ---- Runtime API emulator (one MHD daemon per worker instance) ---- */

static enum MHD_Result s_reply(struct MHD_Connection *c, unsigned code, const char *body) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL) {
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result s_reply_error(struct MHD_Connection *c, unsigned code, const char *type,
                                     const char *msg) {
    char body[512];
    snprintf(body, sizeof body, "{\"errorMessage\":\"%s\",\"errorType\":\"%s\"}", msg, type);
    return s_reply(c, code, body);
}

/* Take the next queued invocation for inst, waiting as long as needed (lock held). */
static invocation *s_take(mb_pool *p, instance *inst) {
    while (p->qhead == NULL && !inst->dead && !p->stopping) {
        pthread_cond_wait(&p->work, &p->mu);
    }
    if (inst->dead || p->stopping) {
        return NULL;
    }
    invocation *inv = p->qhead;
    p->qhead = inv->next;
    if (p->qhead == NULL) {
        p->qtail = NULL;
    }
    inv->next = NULL;
    inv->inst = inst;
    inv->t_dispatch = mb_clock_mono_ns(NULL);
    inst->inv = inv;
    return inv;
}

static enum MHD_Result s_next_response(mb_pool *p, struct MHD_Connection *c, const char *id,
                                       char *event, size_t event_len) {
    char deadline[32], trace[96], arn[256];
    unsigned char r[20];
    s_random(r, sizeof r);
    snprintf(deadline, sizeof deadline, "%lld", (long long)mb_clock_now_ms(NULL) + p->o.timeout_ms);
    snprintf(trace, sizeof trace,
             "Root=1-%08llx-%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x;Parent=%02x%02x%02x"
             "%02x%02x%02x%02x%02x;Sampled=0",
             (unsigned long long)((long long)mb_clock_now_ms(NULL) / 1000), r[0], r[1], r[2], r[3],
             r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15], r[16],
             r[17], r[18], r[19]);
    snprintf(arn, sizeof arn, "arn:aws:lambda:%s:000000000000:function:%s", p->region,
             p->function_name);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer_with_free_callback(event_len, event, free);
    if (resp == NULL) {
        free(event);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Lambda-Runtime-Aws-Request-Id", id);
    MHD_add_response_header(resp, "Lambda-Runtime-Deadline-Ms", deadline);
    MHD_add_response_header(resp, "Lambda-Runtime-Trace-Id", trace);
    MHD_add_response_header(resp, "Lambda-Runtime-Invoked-Function-Arn", arn);
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result s_next(instance *inst, struct MHD_Connection *c) {
    mb_pool *p = inst->pool;
    pthread_mutex_lock(&p->mu);
    if (!inst->ready) {
        inst->ready = true;
        inst->init_ms = (double)(mb_clock_mono_ns(NULL) - inst->t_start) / 1e6;
        if (!p->o.quiet) {
            mb_pool_logf("worker %d ready (pid %d): init %.1f ms", inst->slot + 1, (int)inst->pid,
                         inst->init_ms);
        }
    }
    if (inst->inv != NULL) {
        /* The runtime asked for more work without answering: Lambda treats that as a failure. */
        s_finish(inst->inv, MB_POOL_CRASH);
    }
    invocation *inv = s_take(p, inst);
    char id[37];
    char *event = NULL;
    size_t event_len = 0;
    if (inv != NULL) {
        memcpy(id, inv->id, sizeof id);
        event = inv->event;
        event_len = inv->event_len;
        inv->event = NULL;
    }
    pthread_mutex_unlock(&p->mu);
    if (inv == NULL) {
        return MHD_NO; /* worker gone or shutting down: drop the connection */
    }
    /* inv may be abandoned (timed out) from here on; only the copies above are used. */
    return s_next_response(p, c, id, event, event_len);
}

/* POST /invocation/{id}/response or /error: hand the body to the waiting client. */
static enum MHD_Result s_answer(instance *inst, struct MHD_Connection *c, mb_cur id, upload *u,
                                bool is_error) {
    mb_pool *p = inst->pool;
    pthread_mutex_lock(&p->mu);
    invocation *inv = inst->inv;
    if (inv == NULL || id.len != strlen(inv->id) || memcmp(inv->id, id.ptr, id.len) != 0) {
        pthread_mutex_unlock(&p->mu);
        return s_reply_error(c, MHD_HTTP_BAD_REQUEST, "InvalidRequestID", "Invalid request ID");
    }
    if (u->too_big && !is_error) {
        s_finish(inv, MB_POOL_TOO_LARGE);
        pthread_mutex_unlock(&p->mu);
        return s_reply_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "RequestEntityTooLarge",
                             "Exceeded maximum allowed payload size (6291556 bytes).");
    }
    inv->res->payload = u->body;
    memset(&u->body, 0, sizeof u->body);
    s_finish(inv, is_error ? MB_POOL_FUNC_ERROR : MB_POOL_OK);
    pthread_mutex_unlock(&p->mu);
    return s_reply(c, MHD_HTTP_ACCEPTED, "{\"status\":\"OK\"}");
}

/* No worker can take the queue (lock held): with no healthy worker other than `except`,
 * queued invocations fail now with the init error instead of waiting for their deadline. */
static void s_fail_queue_init(mb_pool *p, const instance *except, mb_cur why) {
    for (int i = 0; i < p->o.workers; i++) {
        const instance *o = p->slots[i].inst;
        if (o != NULL && o != except && o->ready && !o->dead) {
            return;
        }
    }
    while (p->qhead != NULL) {
        invocation *inv = p->qhead;
        p->qhead = inv->next;
        inv->next = NULL;
        if (mb_buf_append_cur(&inv->res->payload, why) != 0) {
            mb_buf_reset(&inv->res->payload);
        }
        s_finish(inv, MB_POOL_INIT_ERROR);
    }
    p->qtail = NULL;
}

/* POST /init/error: the runtime could not start. With no healthy worker to take the queue,
 * queued invocations fail now (502 with the reason) instead of waiting for their deadline. */
static enum MHD_Result s_init_error(instance *inst, struct MHD_Connection *c, upload *u) {
    mb_pool *p = inst->pool;
    mb_pool_logf("worker %d (pid %d) init error: %.*s", inst->slot + 1, (int)inst->pid,
                 (int)(u->body.len > 600 ? 600 : u->body.len), u->body.ptr ? u->body.ptr : "");
    pthread_mutex_lock(&p->mu);
    s_fail_queue_init(p, inst, mb_buf_cur(&u->body));
    pthread_mutex_unlock(&p->mu);
    return s_reply(c, MHD_HTTP_ACCEPTED, "{\"status\":\"OK\"}");
}

/* Parse "invocation/{id}/response|error" after RT_PREFIX. Returns 1 response, 2 error, 0 no. */
static int s_invocation_path(const char *rest, mb_cur *id) {
    if (strncmp(rest, "invocation/", 11) != 0) {
        return 0;
    }
    const char *s = rest + 11;
    const char *slash = strchr(s, '/');
    if (slash == NULL || slash == s) {
        return 0;
    }
    *id = (mb_cur){s, (size_t)(slash - s)};
    return strcmp(slash, "/response") == 0 ? 1 : strcmp(slash, "/error") == 0 ? 2 : 0;
}

static enum MHD_Result s_rt_dispatch(instance *inst, struct MHD_Connection *c, const char *url,
                                     const char *method, upload *u) {
    if (strncmp(url, RT_PREFIX, strlen(RT_PREFIX)) != 0) {
        return s_reply_error(c, MHD_HTTP_NOT_FOUND, "NotFound", "unknown Runtime API path");
    }
    const char *rest = url + strlen(RT_PREFIX);
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    mb_cur id;
    int kind;
    if (get && strcmp(rest, "invocation/next") == 0) {
        return s_next(inst, c);
    }
    if (post && strcmp(rest, "init/error") == 0) {
        return s_init_error(inst, c, u);
    }
    if (post && (kind = s_invocation_path(rest, &id)) != 0) {
        return s_answer(inst, c, id, u, kind == 2);
    }
    return s_reply_error(c, MHD_HTTP_NOT_FOUND, "NotFound", "unknown Runtime API path");
}

static enum MHD_Result s_rt_access(void *cls, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **con_cls) {
    (void)version;
    upload *u = *con_cls;
    if (u == NULL) {
        u = calloc(1, sizeof *u);
        if (u == NULL) {
            return MHD_NO;
        }
        *con_cls = u;
        /* Answer on the next call, GET included: a response queued before MHD has read the whole
         * request makes it close the connection (Connection: close), and the worker would then
         * pay a new TCP connection for every invocation, which Lambda's Runtime API does not. */
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        /* body.len never exceeds the limit, so the subtraction cannot wrap. */
        if (u->too_big || *upload_data_size > RESPONSE_LIMIT - u->body.len) {
            u->too_big = true;
            mb_buf_cleanup(&u->body);
        } else if (mb_buf_append(&u->body, upload_data, *upload_data_size) != 0) {
            return MHD_NO;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    return s_rt_dispatch(cls, c, url, method, u);
}

static void s_rt_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                           enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)c;
    (void)toe;
    upload *u = *con_cls;
    if (u != NULL) {
        mb_buf_cleanup(&u->body);
        free(u);
        *con_cls = NULL;
    }
}

/* ---- worker processes ---- */

/* The child's environment: the devserver's own, with the Lambda and dev-mode variables set. */
static char **s_child_env(mb_pool *p, uint16_t port) {
    static const char *const own[] = {"AWS_LAMBDA_RUNTIME_API=",
                                      "MOONBASE_DEV=",
                                      "HANDLERS_DIR=",
                                      "AWS_LAMBDA_FUNCTION_NAME=",
                                      "AWS_LAMBDA_FUNCTION_VERSION=",
                                      "_HANDLER="};
    size_t n = 0;
    while (environ[n] != NULL) {
        n++;
    }
    char **env = calloc(n + 8, sizeof *env);
    if (env == NULL) {
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool skip = false;
        for (size_t j = 0; j < sizeof own / sizeof own[0]; j++) {
            skip |= strncmp(environ[i], own[j], strlen(own[j])) == 0;
        }
        if (!skip) {
            env[k++] = strdup(environ[i]);
        }
    }
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "AWS_LAMBDA_RUNTIME_API=127.0.0.1:%u", (unsigned)port);
    env[k++] = strdup(tmp);
    env[k++] = strdup("MOONBASE_DEV=1");
    snprintf(tmp, sizeof tmp, "AWS_LAMBDA_FUNCTION_NAME=%s", p->function_name);
    env[k++] = strdup(tmp);
    env[k++] = strdup("AWS_LAMBDA_FUNCTION_VERSION=$LATEST");
    env[k++] = strdup("_HANDLER=bootstrap");
    if (p->handlers_dir != NULL) {
        snprintf(tmp, sizeof tmp, "HANDLERS_DIR=%s", p->handlers_dir);
        env[k++] = strdup(tmp);
    }
    for (size_t i = 0; i < k; i++) {
        if (env[i] == NULL) { /* a strdup failed: give up on this spawn */
            for (size_t j = 0; j < k; j++) {
                free(env[j]);
            }
            free(env);
            return NULL;
        }
    }
    return env;
}

static void s_free_env(char **env) {
    for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
        free(env[i]);
    }
    free(env);
}

/* In the forked child: only async-signal-safe calls until execve. */
static void s_child(const char *path, char **env, pid_t parent) {
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    setpgid(0, 0); /* Ctrl-C reaches the devserver only; it stops workers itself */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) {
        _exit(1);
    }
    dup2(STDERR_FILENO, STDOUT_FILENO); /* worker output is log output */
    if (syscall(SYS_close_range, 3u, ~0u, 0u) != 0) {
        for (int fd = 3; fd < 1024; fd++) {
            close(fd);
        }
    }
    char *argv[] = {(char *)path, NULL};
    execve(path, argv, env);
    static const char msg[] = "devserver: cannot execute the bootstrap worker\n";
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
    _exit(127);
}

/* The worker's pid, once the parent has recorded it after fork (it may be a moment late). */
static pid_t s_worker_pid(instance *inst) {
    for (int i = 0; i < 1000; i++) {
        pthread_mutex_lock(&inst->pool->mu);
        pid_t pid = inst->pid;
        pthread_mutex_unlock(&inst->pool->mu);
        if (pid > 0) {
            return pid;
        }
        usleep(1000);
    }
    return 0;
}

/* Only the worker this port serves may connect: any other local process could otherwise take
 * invocations (with their bearer tokens) or answer them (issue 19, finding 12). The connecting
 * socket must be one of the worker's own file descriptors (moonbase/devserver_guard.h). */
static enum MHD_Result s_rt_accept(void *cls, const struct sockaddr *addr, socklen_t len) {
    instance *inst = cls;
    if (addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        struct sockaddr_in peer;
        memcpy(&peer, addr, sizeof peer);
        if (mb_guard_peer_is(s_worker_pid(inst), &peer, inst->port)) {
            return MHD_YES;
        }
        mb_pool_logf("worker %d's Runtime API port %u: refused a connection from 127.0.0.1:%u, "
                     "which is not the worker",
                     inst->slot + 1, (unsigned)inst->port, (unsigned)ntohs(peer.sin_port));
    }
    return MHD_NO;
}

static struct MHD_Daemon *s_emulator_start(instance *inst, uint16_t *port) {
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL, 0,
        s_rt_accept, inst, s_rt_access, inst, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_NOTIFY_COMPLETED, s_rt_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)0, MHD_OPTION_END);
    if (d == NULL) {
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    if (info == NULL || info->port == 0) {
        MHD_stop_daemon(d);
        return NULL;
    }
    *port = info->port;
    return d;
}

/* Start a fresh (cold) worker in slot i: its own emulator port, then fork + exec. */
static int s_spawn(mb_pool *p, int i, mb_err *err) {
    instance *inst = calloc(1, sizeof *inst);
    if (inst == NULL) {
        return mb_err_set(err, MB_ERR_NOMEM, "out of memory");
    }
    inst->pool = p;
    inst->slot = i;
    inst->daemon = s_emulator_start(inst, &inst->port);
    char **env = inst->daemon ? s_child_env(p, inst->port) : NULL;
    if (env == NULL) {
        if (inst->daemon) {
            MHD_stop_daemon(inst->daemon);
        }
        free(inst);
        return mb_err_set(err, MB_ERR_IO, "cannot open a Runtime API port for worker %d", i + 1);
    }
    pid_t parent = getpid();
    inst->t_start = mb_clock_mono_ns(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        s_child(p->bootstrap, env, parent);
    }
    s_free_env(env);
    if (pid < 0) {
        MHD_stop_daemon(inst->daemon);
        free(inst);
        return mb_err_set(err, MB_ERR_IO, "fork failed: %s", strerror(errno));
    }
    pthread_mutex_lock(&p->mu);
    inst->pid = pid;
    p->slots[i].inst = inst;
    p->slots[i].respawn_at = 0;
    pthread_mutex_unlock(&p->mu);
    if (!p->o.quiet) {
        mb_pool_logf("worker %d cold start: pid %d, AWS_LAMBDA_RUNTIME_API=127.0.0.1:%u", i + 1,
                     (int)pid, (unsigned)inst->port);
    }
    return 0;
}

int mb_pool_start(mb_pool *p, mb_err *err) {
    if (access(p->bootstrap, X_OK) != 0) {
        return mb_err_set(err, MB_ERR_IO,
                          "bootstrap '%s' is not executable: %s (build it with "
                          "cmake --build <dir> --target bootstrap, or pass --bootstrap PATH)",
                          p->bootstrap, strerror(errno));
    }
    for (int i = 0; i < p->o.workers; i++) {
        int rc = s_spawn(p, i, err);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* A worker exited: fail its invocation (crash), plan the replacement. Returns the instance to
 * free once its emulator is stopped, or NULL when pid was not a worker. Lock held. */
static instance *s_reaped(mb_pool *p, pid_t pid, int status) {
    for (int i = 0; i < p->o.workers; i++) {
        instance *inst = p->slots[i].inst;
        if (inst == NULL || inst->pid != pid) {
            continue;
        }
        inst->dead = true;
        if (inst->inv != NULL) {
            s_finish(inst->inv, MB_POOL_CRASH);
        }
        pthread_cond_broadcast(&p->work);
        slot *s = &p->slots[i];
        s->inst = NULL;
        /* Dying before the first /next is a failed start (bad handlers, bad config): back off.
         * A worker that was serving is replaced at once. */
        bool fast = !inst->ready && !inst->killed;
        s->fail_streak = fast ? s->fail_streak + 1 : 0;
        int64_t delay = fast ? (int64_t)100 << (s->fail_streak < 6 ? s->fail_streak : 6) : 0;
        delay = delay > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay;
        s->respawn_at = p->stopping ? 0 : mb_clock_mono_ns(NULL) + delay * 1000000 + 1;
        if (fast) {
            char why[96];
            int n = snprintf(why, sizeof why, "worker %s %d during init",
                             WIFSIGNALED(status) ? "killed by signal" : "exited with status",
                             WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
            s_fail_queue_init(p, inst, (mb_cur){why, (size_t)n});
        }
        if (!p->o.quiet || !inst->killed) {
            mb_pool_logf("worker %d (pid %d) %s %d%s%s", i + 1, (int)pid,
                         WIFSIGNALED(status) ? "killed by signal" : "exited with status",
                         WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
                         inst->killed ? " (timeout)" : "",
                         p->stopping ? "" : "; replacing it with a fresh worker");
        }
        return inst;
    }
    return NULL;
}

int mb_pool_supervise(mb_pool *p) {
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        pthread_mutex_lock(&p->mu);
        instance *inst = s_reaped(p, pid, status);
        pthread_mutex_unlock(&p->mu);
        if (inst != NULL) {
            MHD_stop_daemon(inst->daemon); /* joins its connection threads: all woken above */
            free(inst);
        }
    }
    int64_t now = mb_clock_mono_ns(NULL), next = -1;
    for (int i = 0; i < p->o.workers && !p->stopping; i++) {
        slot *s = &p->slots[i];
        if (s->inst != NULL || s->respawn_at == 0) {
            continue;
        }
        if (s->respawn_at <= now) {
            mb_err err = {0};
            if (s_spawn(p, i, &err) != 0) {
                mb_pool_logf("worker %d: %s; retrying", i + 1, err.msg);
                s->respawn_at = now + (int64_t)BACKOFF_MAX_MS * 1000000;
            }
        }
        if (s->respawn_at != 0 && (next < 0 || (s->respawn_at - now) / 1000000 < next)) {
            next = (s->respawn_at - now) / 1000000;
            next = next < 1 ? 1 : next;
        }
    }
    return (int)next;
}

/* ---- invocations ---- */

/* The deadline passed (lock held): unqueue, or kill the worker running it. */
static void s_expire(mb_pool *p, invocation *inv) {
    if (inv->inst == NULL) {
        invocation **pp = &p->qhead, *prev = NULL;
        while (*pp != NULL && *pp != inv) {
            prev = *pp;
            pp = &(*pp)->next;
        }
        if (*pp == inv) {
            *pp = inv->next;
            if (p->qtail == inv) {
                p->qtail = prev;
            }
        }
        s_finish(inv, MB_POOL_TIMEOUT);
        return;
    }
    instance *inst = inv->inst;
    inst->killed = true;
    mb_pool_logf("worker %d (pid %d): invocation %s passed its %d ms deadline; killing the worker",
                 inst->slot + 1, (int)inst->pid, inv->id, p->o.timeout_ms);
    kill(inst->pid, SIGKILL);
    s_finish(inv, MB_POOL_TIMEOUT);
}

int mb_pool_invoke(mb_pool *p, mb_cur event, mb_pool_result *res) {
    memset(res, 0, sizeof *res);
    invocation inv = {.res = res, .event_len = event.len};
    mb_pool_uuid(inv.id);
    memcpy(res->request_id, inv.id, sizeof inv.id);
    inv.event = malloc(event.len + 1);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int crc = pthread_cond_init(&inv.cond, &ca);
    pthread_condattr_destroy(&ca);
    if (inv.event == NULL || crc != 0) {
        free(inv.event);
        if (crc == 0) {
            pthread_cond_destroy(&inv.cond);
        }
        res->outcome = MB_POOL_SHUTDOWN;
        return MB_ERR_NOMEM;
    }
    memcpy(inv.event, event.ptr, event.len);
    int64_t dl = mb_clock_mono_ns(NULL) + (int64_t)p->o.timeout_ms * 1000000;
    struct timespec deadline = {.tv_sec = dl / 1000000000, .tv_nsec = dl % 1000000000};
    pthread_mutex_lock(&p->mu);
    if (p->stopping) {
        s_finish(&inv, MB_POOL_SHUTDOWN);
    } else {
        if (p->qtail != NULL) {
            p->qtail->next = &inv;
        } else {
            p->qhead = &inv;
        }
        p->qtail = &inv;
        pthread_cond_broadcast(&p->work);
    }
    while (!inv.done) {
        if (pthread_cond_timedwait(&inv.cond, &p->mu, &deadline) == ETIMEDOUT && !inv.done) {
            s_expire(p, &inv);
        }
    }
    pthread_mutex_unlock(&p->mu);
    free(inv.event); /* NULL once a worker took it */
    pthread_cond_destroy(&inv.cond);
    return 0;
}

/* ---- life cycle ---- */

mb_pool *mb_pool_new(const mb_pool_options *o, mb_err *err) {
    if (o->workers < 1 || o->workers > MB_POOL_MAX_WORKERS || o->timeout_ms < 1 ||
        o->bootstrap == NULL) {
        mb_err_set(err, MB_ERR_CONFIG, "workers must be 1..%d and the timeout positive",
                   MB_POOL_MAX_WORKERS);
        return NULL;
    }
    mb_pool *p = calloc(1, sizeof *p);
    if (p == NULL) {
        mb_err_set(err, MB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    p->o = *o;
    p->bootstrap = strdup(o->bootstrap);
    p->handlers_dir = o->handlers_dir ? strdup(o->handlers_dir) : NULL;
    p->function_name = strdup(o->function_name ? o->function_name : "moonbase-local");
    p->region = strdup(o->region ? o->region : "us-east-1");
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_mutex_init(&p->mu, NULL);
    rc |= pthread_cond_init(&p->work, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0 || !p->bootstrap || (o->handlers_dir && !p->handlers_dir) || !p->function_name ||
        !p->region) {
        mb_err_set(err, MB_ERR_NOMEM, "out of memory");
        free(p->bootstrap);
        free(p->handlers_dir);
        free(p->function_name);
        free(p->region);
        free(p);
        return NULL;
    }
    return p;
}

/* Signal every live worker; returns how many there are. */
static int s_signal_all(mb_pool *p, int sig) {
    int live = 0;
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->o.workers; i++) {
        if (p->slots[i].inst != NULL) {
            kill(p->slots[i].inst->pid, sig);
            live++;
        }
    }
    pthread_mutex_unlock(&p->mu);
    return live;
}

void mb_pool_shutdown(mb_pool *p) {
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    while (p->qhead != NULL) {
        invocation *inv = p->qhead;
        p->qhead = inv->next;
        s_finish(inv, MB_POOL_SHUTDOWN);
    }
    p->qtail = NULL;
    for (int i = 0; i < p->o.workers; i++) {
        if (p->slots[i].inst != NULL && p->slots[i].inst->inv != NULL) {
            s_finish(p->slots[i].inst->inv, MB_POOL_SHUTDOWN);
        }
        p->slots[i].respawn_at = 0;
    }
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    int64_t give_up = mb_clock_mono_ns(NULL) + (int64_t)STOP_GRACE_MS * 1000000;
    int sig = SIGTERM;
    while (s_signal_all(p, sig) > 0) {
        struct timespec nap = {0, 10 * 1000000};
        nanosleep(&nap, NULL);
        mb_pool_supervise(p);
        sig = mb_clock_mono_ns(NULL) > give_up ? SIGKILL : 0;
    }
}

int mb_pool_workers(mb_pool *p, mb_pool_worker_info *out, int max, int *queued) {
    int n = 0, q = 0;
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->o.workers && n < max; i++) {
        instance *inst = p->slots[i].inst;
        if (inst != NULL) {
            out[n++] = (mb_pool_worker_info){i + 1, (int)inst->pid, inst->ready, inst->inv != NULL};
        }
    }
    for (invocation *inv = p->qhead; inv != NULL; inv = inv->next) {
        q++;
    }
    pthread_mutex_unlock(&p->mu);
    *queued = q;
    return n;
}

void mb_pool_free(mb_pool *p) {
    if (p == NULL) {
        return;
    }
    for (int i = 0; i < p->o.workers; i++) {
        if (p->slots[i].inst != NULL) { /* only when shutdown was skipped */
            MHD_stop_daemon(p->slots[i].inst->daemon);
            free(p->slots[i].inst);
        }
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->work);
    free(p->bootstrap);
    free(p->handlers_dir);
    free(p->function_name);
    free(p->region);
    free(p);
}
