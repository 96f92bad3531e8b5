/* moonbase/devserver_pool.h - the devserver's Lambda half: a Lambda Runtime API (2018-06-01)
 * emulator and N worker processes running the unchanged bootstrap against it, the way Lambda
 * runs a function: one invocation per worker at a time, a FIFO queue in front, a deadline per
 * invocation (the worker is killed and replaced when it passes), a crashed worker replaced by a
 * fresh (cold) one. Each worker instance gets its own emulator port, so the emulator always
 * knows which worker is asking for /next without changing the fixed Runtime API paths.
 * Threading: mb_pool_invoke() may be called from many threads at once; mb_pool_start(),
 * mb_pool_supervise(), mb_pool_shutdown() and mb_pool_free() belong to one supervisor thread
 * (the thread that forks the workers; it must outlive them, PR_SET_PDEATHSIG is per thread).
 * Ownership: the pool copies its options; a result owns its payload until
 * mb_pool_result_cleanup(). */
#ifndef MOONBASE_DEVSERVER_POOL_H
#define MOONBASE_DEVSERVER_POOL_H

#include "moonbase/buf.h"
#include "moonbase/err.h"

typedef struct mb_pool mb_pool;

#define MB_POOL_MAX_WORKERS 64

typedef struct mb_pool_options {
    const char *bootstrap;     /* worker executable (the unchanged build/bootstrap) */
    const char *handlers_dir;  /* HANDLERS_DIR given to workers; NULL keeps the inherited one */
    int workers;               /* 1..MB_POOL_MAX_WORKERS */
    int timeout_ms;            /* per invocation, queue time included (API Gateway's 30 s) */
    const char *function_name; /* for the function ARN, e.g. "moonbase-local" */
    const char *region;        /* for the function ARN */
    int quiet;                 /* 1: no worker life-cycle lines on stderr */
} mb_pool_options;

typedef enum mb_pool_outcome {
    MB_POOL_OK = 0,         /* payload = the function's response (POST .../response) */
    MB_POOL_FUNC_ERROR = 1, /* payload = the error document (POST .../error) */
    MB_POOL_CRASH = 2,      /* the worker died while running the invocation */
    MB_POOL_TIMEOUT = 3,    /* the deadline passed (worker killed and replaced) */
    MB_POOL_TOO_LARGE = 4,  /* the response exceeded Lambda's 6 MB */
    MB_POOL_INIT_ERROR = 5, /* no worker could start; payload = the last init error document */
    MB_POOL_SHUTDOWN = 6,   /* the pool is stopping */
} mb_pool_outcome;

typedef struct mb_pool_result {
    mb_pool_outcome outcome;
    mb_buf payload;
    int worker;          /* 1-based worker slot that ran the invocation, 0 when none did */
    double duration_ms;  /* time between /next handing out the event and the answer */
    double init_ms;      /* > 0 when this was the first invocation of a fresh worker */
    char request_id[40]; /* the Lambda request id (Lambda-Runtime-Aws-Request-Id) */
} mb_pool_result;

/* Create a pool; spawns nothing yet. Returns NULL with err filled on bad options or no memory. */
mb_pool *mb_pool_new(const mb_pool_options *opts, mb_err *err);
/* Spawn the workers (supervisor thread). Returns 0, or MB_ERR_IO when a worker could not be
 * started at all (bad bootstrap path, no port), with a message. */
int mb_pool_start(mb_pool *pool, mb_err *err);
/* Reap exited workers and start replacements whose (back-off) time has come. Call on SIGCHLD
 * and periodically. Returns the ms until the next pending replacement, or -1 when none. */
int mb_pool_supervise(mb_pool *pool);
/* Run one invocation: queue the event, wait for a worker's answer or the deadline. Blocks.
 * Always fills *res (outcome tells what happened); returns 0, or MB_ERR_NOMEM. */
int mb_pool_invoke(mb_pool *pool, mb_cur event, mb_pool_result *res);
/* Fail queued and running invocations with MB_POOL_SHUTDOWN, stop every worker (TERM, then
 * KILL after a grace period), reap them and close the emulator ports. Idempotent. */
void mb_pool_shutdown(mb_pool *pool);
typedef struct mb_pool_worker_info {
    int slot; /* 1-based */
    int pid;
    int ready; /* has asked for /next at least once (initialised) */
    int busy;  /* running an invocation now */
} mb_pool_worker_info;

/* A snapshot of the live workers (status endpoint, tests): writes up to max entries, returns
 * the count; *queued gets the queue length. */
int mb_pool_workers(mb_pool *pool, mb_pool_worker_info *out, int max, int *queued);
/* Free the pool (after mb_pool_shutdown). Accepts NULL. */
void mb_pool_free(mb_pool *pool);
void mb_pool_result_cleanup(mb_pool_result *res);

/* One log line on stderr, "devserver: HH:MM:SS.mmm <message>", written atomically. */
void mb_pool_logf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A random RFC 4122 version-4 UUID, NUL-terminated (out has room for 37 bytes). */
void mb_pool_uuid(char out[37]);

#endif
