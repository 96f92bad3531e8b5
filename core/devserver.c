/* devserver.c - the local API Gateway: HTTP on one port, /api/... turned into REST API proxy
 * events (or HTTP API v2 events with --payload-format 2.0) and run by bootstrap workers through
 * the Runtime API emulator, the Lambda Invoke API under /2015-03-31/functions/, everything else
 * served from the frontend folder, plus /config.json. Gateway limits (payload sizes, timeout,
 * throttling, CORS) behave like API Gateway's. The main thread supervises workers and handles
 * signals. This file: the command line, start-up, the signal loop and teardown; the requests
 * themselves are core/devserver_http.c's (core/devserver_http.h). */
#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "moonbase/config.h"
#include "moonbase/devserver_guard.h"
#include "moonbase/devserver_pool.h"
#include "moonbase/devserver_routes.h"
#include "devserver_http.h"

/* ---- command line and main loop ---- */

typedef struct options {
    int port, workers, payload_format;
    double timeout_s, rate, burst, client_rate, client_burst; /* client_*: -1 = half the total */
    const char *handlers, *frontend, *config, *bootstrap, *dump_dir;
} options;

static const char s_usage[] =
    "usage: devserver [--port 3000] [--workers N] [--handlers DIR] [--frontend DIR]\n"
    "                 [--config FILE] [--bootstrap PATH] [--timeout SECONDS]\n"
    "                 [--rate PER_SECOND (100, 0 = off) --burst N (200)] [--dump-events DIR]\n"
    "                 [--client-rate PER_SECOND (rate/2, 0 = off) --client-burst N (burst/2)]\n"
    "                 [--payload-format 1.0|2.0]\n"
    "Serves /api/... through N bootstrap workers (Lambda Runtime API emulator) as REST API proxy\n"
    "events (payload format 1.0, what sam/template.yaml deploys; 2.0 = HTTP API events), the\n"
    "Lambda Invoke API (POST /2015-03-31/functions/MoonbaseFunction/invocations), other paths\n"
    "from --frontend, and /config.json from --config. CORS_ALLOWED_ORIGINS configures CORS.\n";

static int s_number(const char *arg, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = arg ? strtod(arg, &end) : 0;
    if (arg == NULL || errno != 0 || end == arg || *end != 0 || v < lo || v > hi) {
        return -1;
    }
    *out = v;
    return 0;
}

/* Parse one "--name value" pair into o. Returns 0, or -1 for an unknown name or a bad value. */
static int s_option(options *o, const char *name, const char *val) {
    double d;
    static const char *const paths[] = {"--handlers", "--frontend", "--config", "--bootstrap",
                                        "--dump-events"};
    const char **slots[] = {&o->handlers, &o->frontend, &o->config, &o->bootstrap, &o->dump_dir};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        if (strcmp(name, paths[i]) == 0 && val != NULL && *val != 0) {
            *slots[i] = val;
            return 0;
        }
    }
    if (strcmp(name, "--port") == 0 && s_number(val, 1, 65535, &d) == 0) {
        o->port = (int)d;
    } else if (strcmp(name, "--workers") == 0 && s_number(val, 1, MB_POOL_MAX_WORKERS, &d) == 0) {
        o->workers = (int)d;
    } else if (strcmp(name, "--timeout") == 0 && s_number(val, 0.05, 900, &d) == 0) {
        o->timeout_s = d;
    } else if (strcmp(name, "--rate") == 0 && s_number(val, 0, 1e7, &d) == 0) {
        o->rate = d;
    } else if (strcmp(name, "--burst") == 0 && s_number(val, 1, 1e7, &d) == 0) {
        o->burst = d;
    } else if (strcmp(name, "--client-rate") == 0 && s_number(val, 0, 1e7, &d) == 0) {
        o->client_rate = d;
    } else if (strcmp(name, "--client-burst") == 0 && s_number(val, 1, 1e7, &d) == 0) {
        o->client_burst = d;
    } else if (strcmp(name, "--payload-format") == 0 && val != NULL &&
               (strcmp(val, "1.0") == 0 || strcmp(val, "2.0") == 0)) {
        o->payload_format = val[0] - '0';
    } else {
        return -1;
    }
    return 0;
}

static int s_parse(int argc, char **argv, options *o) {
    /* Throttling defaults = the SAM template's DefaultRouteSettings (100 rps, burst 200). */
    *o = (options){.port = 3000,
                   .workers = 2,
                   .timeout_s = 30,
                   .rate = 100,
                   .burst = 200,
                   .client_rate = -1,
                   .client_burst = -1,
                   .payload_format = 1,
                   .handlers = "handlers"};
    for (int i = 1; i < argc; i += 2) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(s_usage, stdout);
            exit(0);
        }
        if (s_option(o, argv[i], i + 1 < argc ? argv[i + 1] : NULL) != 0) {
            fprintf(stderr, "devserver: bad option '%s%s%s'\n%s", argv[i], i + 1 < argc ? " " : "",
                    i + 1 < argc ? argv[i + 1] : "", s_usage);
            return -1;
        }
    }
    return 0;
}

/* The bootstrap next to this executable, unless --bootstrap says otherwise. */
static char *s_default_bootstrap(void) {
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 16);
    if (n <= 0) {
        return strdup("./bootstrap");
    }
    self[n] = 0;
    char *slash = strrchr(self, '/');
    snprintf(slash + 1, sizeof self - (size_t)(slash + 1 - self), "bootstrap");
    return strdup(self);
} /* Supervise workers until SIGINT or SIGTERM. */
static void s_run(mb_pool *pool, const sigset_t *set) {
    int next_ms = 1000;
    for (;;) {
        struct timespec t = {next_ms / 1000, (long)(next_ms % 1000) * 1000000};
        int sig = sigtimedwait(set, NULL, &t);
        if (sig == SIGINT || sig == SIGTERM) {
            mb_pool_logf("%s received: stopping workers", sig == SIGINT ? "SIGINT" : "SIGTERM");
            return;
        }
        next_ms = mb_pool_supervise(pool);
        next_ms = next_ms < 0 || next_ms > 1000 ? 1000 : next_ms;
    }
}

static int s_prepare(mb_devserver *s, const options *o, char **bootstrap, char **handlers) {
    *bootstrap = o->bootstrap ? strdup(o->bootstrap) : s_default_bootstrap();
    *handlers = realpath(o->handlers, NULL);
    if (*handlers == NULL) {
        fprintf(stderr, "devserver: handlers folder '%s': %s (pass --handlers DIR)\n", o->handlers,
                strerror(errno));
        return -1;
    }
    const char *fe = o->frontend;
    if (fe == NULL) {
        fe = access("frontend/dist/index.html", R_OK) == 0 ? "frontend/dist" : "frontend";
    }
    s->frontend = realpath(fe, NULL);
    if (s->frontend == NULL && o->frontend != NULL) {
        fprintf(stderr, "devserver: frontend folder '%s': %s\n", fe, strerror(errno));
        return -1;
    }
    s->config_file = o->config;
    s->dump_dir = o->dump_dir;
    s->port = o->port;
    /* One client may use half of the stage's limits by default, so a busy client cannot starve
     * the others (a usage plan per key under the stage's throttle, in API Gateway terms). */
    mb_guard_throttle_options to = {o->rate, o->burst, o->client_rate, o->client_burst};
    to.client_rate = to.client_rate < 0 ? to.rate / 2 : to.client_rate;
    to.client_burst = to.client_burst < 0 ? to.burst / 2 : to.client_burst;
    s->throttle = mb_guard_throttle_new(&to);
    s->http_api = o->payload_format == 2;
    s->timeout_s = o->timeout_s;
    mb_err err = {0};
    if (mb_config_load(&s->cfg, NULL, NULL, &err) != 0) { /* the workers would refuse it too */
        fprintf(stderr, "devserver: %s\n", err.msg);
        return -1;
    }
    s->routes = mb_devroutes_new(*handlers, NULL);
    return *bootstrap && s->routes && s->throttle ? 0 : -1;
}

/* Stop in dependency order: the pool first (it wakes every waiting client thread), then the
 * HTTP server (which joins those threads), then free. */
static void s_teardown(mb_devserver *s, struct MHD_Daemon *d) {
    if (s->pool != NULL) {
        mb_pool_shutdown(s->pool);
    }
    if (d != NULL) {
        MHD_stop_daemon(d);
    }
    mb_pool_free(s->pool);
    mb_devroutes_free(s->routes);
    mb_config_cleanup(&s->cfg);
    free(s->frontend);
    mb_guard_throttle_free(s->throttle);
}

int main(int argc, char **argv) {
    options o;
    if (s_parse(argc, argv, &o) != 0) {
        return 2;
    }
    /* Block the signals before any thread exists, so only s_run's sigtimedwait sees them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    mb_devserver s = {.pool = NULL};
    char *bootstrap = NULL, *handlers = NULL;
    int rc = 1;
    mb_err err = {0};
    struct MHD_Daemon *d = NULL;
    if (s_prepare(&s, &o, &bootstrap, &handlers) != 0) {
        goto done;
    }
    mb_pool_options po = {.bootstrap = bootstrap,
                          .handlers_dir = handlers,
                          .workers = o.workers,
                          .timeout_ms = (int)(o.timeout_s * 1000),
                          .function_name = "moonbase-local",
                          .region = s.cfg.region};
    s.pool = mb_pool_new(&po, &err);
    if (s.pool == NULL || mb_pool_start(s.pool, &err) != 0) {
        fprintf(stderr, "devserver: %s\n", err.msg);
        goto done;
    }
    d = mb_devserver_listen(&s);
    if (d == NULL) {
        fprintf(stderr, "devserver: cannot listen on 127.0.0.1:%d (port in use? try --port)\n",
                o.port);
        goto done;
    }
    mb_pool_logf("listening on http://localhost:%d (api under /api as %s events, Lambda Invoke "
                 "API, %d workers, handlers %s, frontend %s, timeout %.1f s)",
                 o.port, s.http_api ? "HTTP API 2.0" : "REST 1.0", o.workers, handlers,
                 s.frontend ? s.frontend : "(none)", o.timeout_s);
    s_run(s.pool, &set);
    rc = 0;
done:
    s_teardown(&s, d);
    free(bootstrap);
    free(handlers);
    if (rc == 0) {
        mb_pool_logf("stopped");
    }
    return rc;
}
