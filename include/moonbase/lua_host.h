/* moonbase/lua_host.h - the one Lua 5.4 state of the process: sandbox, limits, handler cache.
 * The state is created once; handler files are compiled once and cached (re-checked with stat()
 * per request only in development mode). Every request runs in a fresh global environment whose
 * fallback is a read-only base environment built from an allow-list, so nothing a handler does
 * survives into the next request or reaches another tenant. A counting allocator caps memory,
 * for the state and for each invocation (a runaway handler gets a Lua memory error, not an OOM
 * kill), and a count hook enforces an instruction budget and the invocation deadline.
 * A CPU-time budget per invocation (the thread's CPU clock, CLOCK_THREAD_CPUTIME_ID) is checked
 * from the count hook, from the allocator (every 256 KB allocated, so allocation churn and the
 * collector work it drives count), from the metered library functions (lua_pattern, lua_limits)
 * and, on Linux, by a one-shot thread-CPU timer whose signal makes the hook run at the very next
 * instruction (so a C call that neither allocates nor runs Lua is cut as soon as it returns).
 * Every limit covers everything run between mb_lua_host_begin() and mb_lua_host_end(), whatever
 * its source: a handler file, or code a caller compiled itself (tenant handlers).
 * The timer's signal (SIGVTALRM) handler is installed by the first mb_lua_host_new(); it touches
 * only the host of the invocation in progress.
 * Ownership: mb_lua_host_new() returns a host freed by mb_lua_host_free(), which closes the
 * state. Results and messages borrow from the host until the next call. Not thread-safe. */
#ifndef MOONBASE_LUA_HOST_H
#define MOONBASE_LUA_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#include "moonbase/buf.h"
#include "moonbase/err.h"

typedef struct mb_lua_host mb_lua_host;

/* Defaults, each with its reason: 64 MB is a quarter of the smallest sensible Lambda size
 * (256 MB); 200 million VM instructions is a few hundred milliseconds of pure Lua, well past any
 * sane request, short of the 30 s API Gateway limit. */
#define MB_LUA_DEFAULT_MEMORY_LIMIT (64u * 1024u * 1024u)
#define MB_LUA_DEFAULT_INSTRUCTION_LIMIT 200000000ull
/* One second of CPU is a hundred times what a data route uses (a few ms), and short enough that a
 * runaway handler holds a worker (and bills Lambda time) for a second, not the function timeout. */
#define MB_LUA_DEFAULT_CPU_MS 1000u

typedef struct mb_lua_host_opts {
    const char *handlers_dir;       /* borrowed; must outlive the host */
    size_t memory_limit;            /* 0 = MB_LUA_DEFAULT_MEMORY_LIMIT */
    uint64_t instruction_limit;     /* per invocation; 0 = MB_LUA_DEFAULT_INSTRUCTION_LIMIT */
    unsigned cpu_ms;                /* CPU budget per invocation; 0 = MB_LUA_DEFAULT_CPU_MS */
    size_t invocation_memory_limit; /* growth per invocation; 0 = 3/4 of memory_limit */
    bool dev_mode;                  /* stat handler files per request and reload edited ones */
} mb_lua_host_opts;

/* Why a handler call failed; the app maps each kind to a response. */
typedef enum mb_lua_outcome {
    MB_LUA_OK = 0,     /* the handler's return value is on the stack */
    MB_LUA_FAIL,       /* ctx.fail(status, message): clean status in result.status */
    MB_LUA_ERROR,      /* runtime error in the handler: 500 */
    MB_LUA_LOAD_ERROR, /* missing file or syntax error: 500 (file:line in dev mode) */
    MB_LUA_BUDGET,     /* instruction budget exhausted: 500 */
    MB_LUA_MEMORY,     /* memory cap reached: 500 */
    MB_LUA_TIMEOUT,    /* the invocation deadline passed: 504 */
    MB_LUA_CPU,        /* CPU-time budget spent: 500, errorType CpuBudget */
} mb_lua_outcome;

typedef struct mb_lua_result {
    mb_lua_outcome outcome;
    int status;       /* for MB_LUA_FAIL */
    char code[33];    /* for MB_LUA_FAIL: the handler's error code, "" when none */
    char field[65];   /* for MB_LUA_FAIL: the field a validation error names, "" when none */
    mb_buf message;   /* error message (for logs; shown to clients only for FAIL / dev mode) */
    mb_buf traceback; /* Lua traceback for MB_LUA_ERROR (logs only) */
    const char *error_type; /* "HandlerError", "HandlerLoadError", ... static string */
} mb_lua_result;

/* Create the state, open the allowed libraries, build the read-only base environment. Cheap: no
 * handler is read until first use. On error returns NULL and fills err. */
mb_lua_host *mb_lua_host_new(const mb_lua_host_opts *opts, mb_err *err);
/* Close the state and free everything. Accepts NULL. */
void mb_lua_host_free(mb_lua_host *host);
lua_State *mb_lua_host_state(mb_lua_host *host);

/* Start an invocation: reset the instruction budget, arm the deadline (absolute epoch ms, 0 =
 * none) and push a fresh request environment. [-0, +0] */
void mb_lua_host_begin(mb_lua_host *host, int64_t deadline_ms);
/* Set the CPU-time budget of the invocation in progress (ms, counted from mb_lua_host_begin;
 * 0 = the host's default), e.g. a route's cpu_ms once the route is known. [-0, +0] */
void mb_lua_host_set_cpu_budget(mb_lua_host *host, unsigned ms);
/* CPU time (thread clock, ns) used since mb_lua_host_begin. */
int64_t mb_lua_host_cpu_used_ns(const mb_lua_host *host);
/* End an invocation: drop the request environment and let the collector catch up. [-0, +0] */
void mb_lua_host_end(mb_lua_host *host);

/* Run HANDLERS_DIR/<name>.lua in the current request environment and push its return value.
 * For routes.lua at start-up and in tests. Returns 0 [-0, +1], or an error [-0, +0] whose message
 * names the file and line (for init errors). */
int mb_lua_host_run_file(mb_lua_host *host, const char *name, mb_err *err);

/* Load handler `name` (cached) and call handler(req, ctx) with req and ctx at stack indices
 * req_idx and ctx_idx. On MB_LUA_OK the returned value is pushed [-0, +1]; otherwise nothing is
 * pushed [-0, +0] and res says why. res is caller-owned; release it with mb_lua_result_cleanup. */
mb_lua_outcome mb_lua_host_call(mb_lua_host *host, const char *name, int req_idx, int ctx_idx,
                                mb_lua_result *res);

/* mb_lua_host_call for a chunk the caller compiled (a tenant handler, text only) at stack index
 * chunk_idx: runs it in the current request environment and calls the function it returns with
 * (req, ctx), under the same limits. name is used in messages only. Same results as
 * mb_lua_host_call. */
mb_lua_outcome mb_lua_host_call_chunk(mb_lua_host *host, int chunk_idx, const char *name,
                                      int req_idx, int ctx_idx, mb_lua_result *res);

/* Push the current request environment (between begin and end), e.g. to give a dry run its own
 * print. [-0, +1] */
void mb_lua_host_push_env(mb_lua_host *host);

/* Push what print(...) prints for the arguments on the stack (1..top): each as tostring() gives
 * it, joined by tabs, no newline. The sandbox's print and a dry run's capturing print share it.
 * [-0, +1, e] */
void mb_lua_host_push_print_text(lua_State *L);

/* VM instructions charged to the current invocation so far (counted every 1000). */
uint64_t mb_lua_host_instructions(const mb_lua_host *host);

/* True when `name` is a valid handler or module name: [A-Za-z0-9_]+ (no path characters). */
bool mb_lua_host_valid_name(mb_cur name);

/* Bytes currently allocated by the Lua state. */
size_t mb_lua_host_memory(const mb_lua_host *host);

void mb_lua_result_cleanup(mb_lua_result *res);

#endif
