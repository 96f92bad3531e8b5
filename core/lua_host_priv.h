/* lua_host_priv.h - what the lua_host files share (private to core/): the host object, its
 * registry keys, and the pieces each file gives the others. moonbase/lua_host.h is the contract.
 *   lua_host_state.c    creation and set-up of the state, begin/end of an invocation
 *   lua_host_limits.c   the meters: count hook, CPU timer, deadline, allocator meter, the
 *                       pattern matcher's charge, coroutine.resume/wrap the nudge can follow
 *   lua_host_sandbox.c  the read-only base environment and the sandboxed base functions
 *   lua_host_call.c     handler files (cache, require) and calls with their outcome classified
 * Ownership: the host (mb_lua_host_new) owns the state and everything here; the registry keys
 * are addresses only. One invocation at a time per process (not thread-safe); the timer's signal
 * handler reads mb_lua_host_armed and nothing else. */
#ifndef MOONBASE_LUA_HOST_PRIV_H
#define MOONBASE_LUA_HOST_PRIV_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <lua.h>

#include "moonbase/lua_alloc.h"
#include "moonbase/lua_host.h"

/* The hook runs every MB_LUA_HOST_HOOK_EVERY VM instructions: often enough to stop a loop within
 * microseconds of its budget, rarely enough to cost well under 1% of run time. */
#define MB_LUA_HOST_HOOK_EVERY 1000

struct mb_lua_host {
    lua_State *L;
    const char *dir;
    bool dev_mode;
    mb_lua_alloc alloc; /* counting, capped; small blocks from slabs (lua_alloc.h) */
    size_t memory_limit, invocation_memory_limit;
    uint64_t budget, spent;
    int64_t deadline_ms;
    unsigned hook_calls;
    uint64_t pattern_unclocked; /* lua_pattern, lua_limits: units charged since a clock read */
    mb_lua_outcome tripped;     /* MB_LUA_OK until the budget or deadline trips */
    bool in_invocation;         /* between begin and end: the meters and the timer apply */
    /* CPU-time budget: thread CPU clock at begin, the budget, the default. */
    int64_t cpu_start_ns, cpu_budget_ns, cpu_default_ns;
    /* Threads the timer's signal handler sets a count-1 hook on: the main thread and the
     * coroutine running now (set by s_auxresume around lua_resume, alive meanwhile: it is an
     * argument of the resume on its resumer's stack). */
    lua_State *volatile nudge_thread;
    volatile sig_atomic_t nudged;
    bool has_timer;
    timer_t timer;
};

/* ---- lua_host_state.c ---- */

/* Registry keys (lua_rawsetp): the host (light userdata), the read-only base environment, the
 * request environments' shared metatable, the request environment, the compiled handler files
 * and their stat() stamps, and the modules require() has run in this request. */
extern const char mb_lua_host_key_host, mb_lua_host_key_base, mb_lua_host_key_envmt,
    mb_lua_host_key_env, mb_lua_host_key_chunks, mb_lua_host_key_stamps, mb_lua_host_key_loaded;

/* The host of a state made by mb_lua_host_new. [-0, +0, -] */
mb_lua_host *mb_lua_host_of(lua_State *L);

/* ---- lua_host_limits.c ---- */

/* The host whose invocation is in progress, for the timer's signal handler (a handler has no
 * other way to find it). Set by begin, cleared by end and by free. */
extern mb_lua_host *volatile mb_lua_host_armed;

/* This thread's CPU time in nanoseconds (CLOCK_THREAD_CPUTIME_ID). */
int64_t mb_lua_host_cpu_ns(void);
/* Create h's thread-CPU timer, and once per process install its signal's handler. Without
 * either, the hook and the allocator still check the clock. */
void mb_lua_host_init_timer(mb_lua_host *h);
/* Arm the timer for what is left of h's CPU budget (at least 1 us); disarm it. */
void mb_lua_host_arm_timer(mb_lua_host *h);
void mb_lua_host_disarm_timer(mb_lua_host *h);
/* The allocator's meter (mb_lua_alloc_set_meter, ud = the host): checks the clocks and nudges
 * the hook on a trip; never raises. */
void mb_lua_host_alloc_meter(void *ud);
/* The message of a tripped limit (budget, CPU, deadline): a static string. */
const char *mb_lua_host_trip_message(mb_lua_outcome o);
/* The count hook: charges MB_LUA_HOST_HOOK_EVERY instructions, reads the clocks every 16th
 * call, and raises (on every instruction from then on) once a limit has tripped. */
void mb_lua_host_hook(lua_State *L, lua_Debug *ar);
/* Put the metered pattern matcher and table functions into the real string and table
 * libraries, and the nudge-following coroutine.resume/wrap into coroutine. [-0, +0, m] */
void mb_lua_host_meter_patterns(lua_State *L, mb_lua_host *h);

/* ---- lua_host_sandbox.c ---- */

/* Build the read-only base environment and store it at mb_lua_host_key_base. [-0, +0, m] */
void mb_lua_host_build_base(lua_State *L);
/* Hide the strings' shared metatable (getmetatable("") is false). [-0, +0, m] */
void mb_lua_host_protect_string_mt(lua_State *L);

/* ---- lua_host_call.c ---- */

/* require(name): another file of HANDLERS_DIR, run once per request in the request env. */
int mb_lua_host_require(lua_State *L);

#endif
