/* lua_host_limits.c - the host's meters: the instruction budget (the count hook), the CPU-time
 * budget (thread CPU clock, one-shot timer whose signal nudges the hook), the deadline, the
 * allocator's meter, the metered pattern matcher's charge, and coroutine.resume/wrap that the
 * nudge can follow. See core/lua_host_priv.h. */
#include "lua_host_priv.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <lauxlib.h>
#include <lualib.h>

#include "moonbase/clock.h"
#include "moonbase/lua_limits.h"
#include "moonbase/lua_pattern.h"

/* The clock is read on every 16th hook call (every 16k instructions). */
#define CLOCK_EVERY 16
/* lua_pattern: a step of the metered pattern matcher is charged as this many VM instructions
 * (measured: a step takes 1-4 ns, an instruction about 2 ns), so the budget buys about the same
 * time in a pattern as in Lua code. */
#define PATTERN_STEP_COST 2

/* The host whose invocation is in progress, for the timer's signal handler (a handler has no
 * other way to find it). Set by begin, cleared by end; one invocation at a time per process. */
mb_lua_host *volatile mb_lua_host_armed;
int64_t mb_lua_host_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Read the clocks: trip on the CPU budget, then on the deadline. */
static void s_check_clocks(mb_lua_host *h) {
    if (h->tripped != MB_LUA_OK) {
        return;
    }
    if (h->cpu_budget_ns && mb_lua_host_cpu_ns() - h->cpu_start_ns > h->cpu_budget_ns) {
        h->tripped = MB_LUA_CPU;
    } else if (h->deadline_ms && mb_clock_now_ms(NULL) >= h->deadline_ms) {
        h->tripped = MB_LUA_TIMEOUT;
    }
}

/* Make the hook run at the next VM instruction of the main thread and of the running
 * coroutine. Async-signal-safe: lua_sethook only stores fields (ldebug.c says it may be
 * called from a signal handler), and both threads are alive while they are stored. */
static void s_nudge(mb_lua_host *h) {
    h->nudged = 1;
    lua_sethook(h->L, mb_lua_host_hook, LUA_MASKCOUNT, 1);
    lua_State *t = h->nudge_thread;
    if (t) {
        lua_sethook(t, mb_lua_host_hook, LUA_MASKCOUNT, 1);
    }
}

/* The one-shot thread-CPU timer expired: the budget is spent, or about to be. */
static void s_on_timer(int sig) {
    (void)sig;
    int saved = errno;
    mb_lua_host *h = mb_lua_host_armed;
    if (h) {
        s_nudge(h);
    }
    errno = saved;
}

/* Arm the timer for what is left of the CPU budget (disarm when ns <= 0 is not wanted: a spent
 * budget fires at once). */
void mb_lua_host_arm_timer(mb_lua_host *h) {
    if (!h->has_timer || !h->cpu_budget_ns) {
        return;
    }
    int64_t left = h->cpu_budget_ns - (mb_lua_host_cpu_ns() - h->cpu_start_ns);
    if (left < 1000) {
        left = 1000;
    }
    struct itimerspec it = {.it_value = {left / 1000000000, left % 1000000000}};
    (void)timer_settime(h->timer, 0, &it, NULL);
}

void mb_lua_host_disarm_timer(mb_lua_host *h) {
    if (h->has_timer) {
        struct itimerspec it = {0};
        (void)timer_settime(h->timer, 0, &it, NULL);
    }
}

/* The thread CPU timer, and once per process the handler of its signal. Without either (not
 * Linux, or no timer left), the hook and the allocator still check the clock. */
void mb_lua_host_init_timer(mb_lua_host *h) {
    static bool handler_set;
    if (!handler_set) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = s_on_timer;
        sa.sa_flags = SA_RESTART; /* a read or poll in ctx.db resumes, not fails */
        sigemptyset(&sa.sa_mask);
        handler_set = sigaction(SIGVTALRM, &sa, NULL) == 0;
    }
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = SIGVTALRM;
    h->has_timer = handler_set && timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &h->timer) == 0;
}

/* The allocator's meter: every 256 KB of growth and every refusal. It cannot raise (it runs
 * inside Lua's allocator), so on a trip it nudges the hook, which raises at the next
 * instruction. */
void mb_lua_host_alloc_meter(void *ud) {
    mb_lua_host *h = ud;
    if (!h->in_invocation || h->tripped != MB_LUA_OK) {
        return;
    }
    s_check_clocks(h);
    if (h->tripped != MB_LUA_OK) {
        s_nudge(h);
    }
}

const char *mb_lua_host_trip_message(mb_lua_outcome o) {
    return o == MB_LUA_BUDGET ? "handler exceeded its instruction budget"
           : o == MB_LUA_CPU  ? "handler exceeded its CPU-time budget"
                              : "handler ran past the invocation deadline";
}

/* Once tripped, the hook raises on every call, so a handler that catches the error with pcall
 * is stopped again a thousand instructions later and cannot outrun its budget. */
void mb_lua_host_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    mb_lua_host *h = mb_lua_host_of(L);
    h->spent += MB_LUA_HOST_HOOK_EVERY;
    if (h->tripped == MB_LUA_OK && h->spent > h->budget) {
        h->tripped = MB_LUA_BUDGET;
    }
    if (h->nudged || ++h->hook_calls % CLOCK_EVERY == 0) {
        bool nudged = h->nudged;
        h->nudged = 0;
        s_check_clocks(h);
        if (nudged && h->tripped == MB_LUA_OK) { /* early (budget raised since): back to normal */
            lua_sethook(L, mb_lua_host_hook, LUA_MASKCOUNT, MB_LUA_HOST_HOOK_EVERY);
            mb_lua_host_arm_timer(h);
        }
    }
    if (h->tripped != MB_LUA_OK) {
        /* From now on raise at every instruction of this thread: a handler that catches the
         * error (pcall, xpcall, coroutine.resume) is stopped by the very next instruction of
         * its catching frame, so the error climbs out one frame at a time. */
        lua_sethook(L, mb_lua_host_hook, LUA_MASKCOUNT, 1);
    }
    if (h->tripped != MB_LUA_OK) {
        luaL_error(L, "%s", mb_lua_host_trip_message(h->tripped));
    }
}

/* lua_pattern: string.find/match/gmatch/gsub run inside one C call, where the count hook never
 * fires, so the matcher pays its steps here: the same budget, deadline and tripped state as the
 * hook (s_classify reports them alike), the same messages, and the same count-1 hook afterwards
 * so a pcall that catches the error is stopped at its next instruction. */
static const char *s_pattern_charge(lua_State *L, void *ud, size_t steps) {
    mb_lua_host *h = ud;
    if (lua_gethook(L) == NULL) {
        return NULL; /* outside an invocation (no hook): unmetered, like Lua code there */
    }
    uint64_t units = (uint64_t)steps * PATTERN_STEP_COST;
    h->spent += units;
    h->pattern_unclocked += units;
    if (h->tripped == MB_LUA_OK && h->spent > h->budget) {
        h->tripped = MB_LUA_BUDGET;
    }
    if (h->tripped == MB_LUA_OK &&
        h->pattern_unclocked >= (uint64_t)CLOCK_EVERY * MB_LUA_HOST_HOOK_EVERY) {
        h->pattern_unclocked = 0;
        s_check_clocks(h);
    }
    if (h->tripped == MB_LUA_OK) {
        return NULL;
    }
    lua_sethook(L, mb_lua_host_hook, LUA_MASKCOUNT, 1);
    return mb_lua_host_trip_message(h->tripped);
}

/* ---- coroutine.resume and coroutine.wrap that the nudge can follow ----
 * Lua 5.4's own (lcorolib.c), with one change: while a coroutine runs, the host knows it, so the
 * timer's signal reaches the thread that is actually running; and when the coroutine comes back
 * with a limit tripped, its resumer is stopped at its next instruction too. */

/* Resume co with narg values from L; returns the count of results moved to L, or -1 with an
 * error message on L. [-narg, +(nres|1)] */
static int s_auxresume(lua_State *L, lua_State *co, int narg) {
    if (!lua_checkstack(co, narg)) {
        lua_pushliteral(L, "too many arguments to resume");
        return -1;
    }
    lua_xmove(L, co, narg);
    mb_lua_host *h = mb_lua_host_of(L);
    lua_State *prev = h->nudge_thread;
    h->nudge_thread = co;
    int nres;
    int status = lua_resume(co, L, narg, &nres);
    h->nudge_thread = prev;
    if (h->tripped != MB_LUA_OK && lua_gethook(L)) {
        lua_sethook(L, mb_lua_host_hook, LUA_MASKCOUNT, 1);
    }
    if (status != LUA_OK && status != LUA_YIELD) {
        lua_xmove(co, L, 1); /* the error object */
        return -1;
    }
    if (!lua_checkstack(L, nres + 1)) {
        lua_pop(co, nres);
        lua_pushliteral(L, "too many results to resume");
        return -1;
    }
    lua_xmove(co, L, nres);
    return nres;
}

/* coroutine.resume(co, ...) -> true, ... | false, err */
static int s_co_resume(lua_State *L) {
    lua_State *co = lua_tothread(L, 1);
    luaL_argexpected(L, co, 1, "coroutine");
    int r = s_auxresume(L, co, lua_gettop(L) - 1);
    if (r < 0) {
        lua_pushboolean(L, 0);
        lua_insert(L, -2);
        return 2;
    }
    lua_pushboolean(L, 1);
    lua_insert(L, -(r + 1));
    return r + 1;
}

/* The function coroutine.wrap returns: resume, raise the coroutine's error in the caller. */
static int s_co_auxwrap(lua_State *L) {
    lua_State *co = lua_tothread(L, lua_upvalueindex(1));
    int r = s_auxresume(L, co, lua_gettop(L));
    if (r >= 0) {
        return r;
    }
    int stat = lua_status(co);
    if (stat != LUA_OK && stat != LUA_YIELD) { /* an error in the coroutine: close it */
#if LUA_VERSION_RELEASE_NUM >= 50406
        stat = lua_closethread(co, L);
#else
        stat = lua_resetthread(co);
#endif
        lua_xmove(co, L, 1);
    }
    if (stat != LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING) {
        luaL_where(L, 1); /* position information, as upstream adds */
        lua_insert(L, -2);
        lua_concat(L, 2);
    }
    return lua_error(L);
}

/* coroutine.wrap(f) */
static int s_co_wrap(lua_State *L) {
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_State *co = lua_newthread(L); /* stack: f, co */
    lua_pushvalue(L, 1);
    lua_xmove(L, co, 1);
    lua_pushcclosure(L, s_co_auxwrap, 1);
    return 1;
}

/* lua_pattern: put the metered matcher into the real string table. That table is both what
 * mb_lua_host_build_base copies into handlers' `string` and the strings' metatable __index (method
 * calls such as s:find(p)), so no path reaches the stock, unbounded functions. [-0, +0, m] */
void mb_lua_host_meter_patterns(lua_State *L, mb_lua_host *h) {
    luaL_requiref(L, "string", luaopen_string, 0); /* stack: string */
    mb_lua_pattern_inject(L, -1, s_pattern_charge, h);
    luaL_requiref(L, "table", luaopen_table, 0); /* stack: string, table */
    mb_lua_limits_inject(L, -2, -1, s_pattern_charge, h);
    luaL_requiref(L, "coroutine", luaopen_coroutine, 0); /* stack: string, table, coroutine */
    lua_pushcfunction(L, s_co_resume);
    lua_setfield(L, -2, "resume");
    lua_pushcfunction(L, s_co_wrap);
    lua_setfield(L, -2, "wrap");
    lua_pop(L, 3);
}
