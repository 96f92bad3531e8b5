/* lua_host.c - the process's Lua state: sandbox, limits and handler cache (moonbase/lua_host.h).
 * The sandbox is data, as in Redis: an allow-list of base functions and libraries, read-only
 * proxies in front of every shared table, a fresh _ENV per request, a count hook and a capped
 * allocator. */
#include "moonbase/lua_host.h"

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
#include "moonbase/json.h"
#include "moonbase/log.h"
#include "moonbase/lua_alloc.h"
#include "moonbase/lua_aux.h"
#include "moonbase/lua_limits.h"
#include "moonbase/lua_pattern.h"

/* The hook runs every HOOK_EVERY VM instructions: often enough to stop a loop within
 * microseconds of its budget, rarely enough to cost well under 1% of run time. */
#define HOOK_EVERY 1000
/* The clock is read on every 16th hook call (every 16k instructions). */
#define CLOCK_EVERY 16
/* lua_pattern: a step of the metered pattern matcher is charged as this many VM instructions
 * (measured: a step takes 1-4 ns, an instruction about 2 ns), so the budget buys about the same
 * time in a pattern as in Lua code. */
#define PATTERN_STEP_COST 2

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

/* The host whose invocation is in progress, for the timer's signal handler (a handler has no
 * other way to find it). Set by begin, cleared by end; one invocation at a time per process. */
static mb_lua_host *volatile g_armed;

/* Registry keys: addresses of these statics (lua_rawsetp), unique and collision-free. */
static const char s_key_host = 'h';
static const char s_key_base = 'b';
static const char s_key_envmt = 'm';
static const char s_key_env = 'e';
static const char s_key_chunks = 'c';
static const char s_key_stamps = 's';
static const char s_key_loaded = 'l';

static mb_lua_host *s_host(lua_State *L) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &s_key_host);
    mb_lua_host *h = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return h;
}

static int64_t s_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Read the clocks: trip on the CPU budget, then on the deadline. */
static void s_check_clocks(mb_lua_host *h) {
    if (h->tripped != MB_LUA_OK) {
        return;
    }
    if (h->cpu_budget_ns && s_cpu_ns() - h->cpu_start_ns > h->cpu_budget_ns) {
        h->tripped = MB_LUA_CPU;
    } else if (h->deadline_ms && mb_clock_now_ms(NULL) >= h->deadline_ms) {
        h->tripped = MB_LUA_TIMEOUT;
    }
}

static void s_hook(lua_State *L, lua_Debug *ar);

/* Make the hook run at the next VM instruction of the main thread and of the running
 * coroutine. Async-signal-safe: lua_sethook only stores fields (ldebug.c says it may be
 * called from a signal handler), and both threads are alive while they are stored. */
static void s_nudge(mb_lua_host *h) {
    h->nudged = 1;
    lua_sethook(h->L, s_hook, LUA_MASKCOUNT, 1);
    lua_State *t = h->nudge_thread;
    if (t) {
        lua_sethook(t, s_hook, LUA_MASKCOUNT, 1);
    }
}

/* The one-shot thread-CPU timer expired: the budget is spent, or about to be. */
static void s_on_timer(int sig) {
    (void)sig;
    int saved = errno;
    mb_lua_host *h = g_armed;
    if (h) {
        s_nudge(h);
    }
    errno = saved;
}

/* Arm the timer for what is left of the CPU budget (disarm when ns <= 0 is not wanted: a spent
 * budget fires at once). */
static void s_arm_timer(mb_lua_host *h) {
    if (!h->has_timer || !h->cpu_budget_ns) {
        return;
    }
    int64_t left = h->cpu_budget_ns - (s_cpu_ns() - h->cpu_start_ns);
    if (left < 1000) {
        left = 1000;
    }
    struct itimerspec it = {.it_value = {left / 1000000000, left % 1000000000}};
    (void)timer_settime(h->timer, 0, &it, NULL);
}

static void s_disarm_timer(mb_lua_host *h) {
    if (h->has_timer) {
        struct itimerspec it = {0};
        (void)timer_settime(h->timer, 0, &it, NULL);
    }
}

/* The thread CPU timer, and once per process the handler of its signal. Without either (not
 * Linux, or no timer left), the hook and the allocator still check the clock. */
static void s_init_timer(mb_lua_host *h) {
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
static void s_alloc_meter(void *ud) {
    mb_lua_host *h = ud;
    if (!h->in_invocation || h->tripped != MB_LUA_OK) {
        return;
    }
    s_check_clocks(h);
    if (h->tripped != MB_LUA_OK) {
        s_nudge(h);
    }
}

static const char *s_trip_message(mb_lua_outcome o) {
    return o == MB_LUA_BUDGET ? "handler exceeded its instruction budget"
           : o == MB_LUA_CPU  ? "handler exceeded its CPU-time budget"
                              : "handler ran past the invocation deadline";
}

/* Once tripped, the hook raises on every call, so a handler that catches the error with pcall
 * is stopped again a thousand instructions later and cannot outrun its budget. */
static void s_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    mb_lua_host *h = s_host(L);
    h->spent += HOOK_EVERY;
    if (h->tripped == MB_LUA_OK && h->spent > h->budget) {
        h->tripped = MB_LUA_BUDGET;
    }
    if (h->nudged || ++h->hook_calls % CLOCK_EVERY == 0) {
        bool nudged = h->nudged;
        h->nudged = 0;
        s_check_clocks(h);
        if (nudged && h->tripped == MB_LUA_OK) { /* early (budget raised since): back to normal */
            lua_sethook(L, s_hook, LUA_MASKCOUNT, HOOK_EVERY);
            s_arm_timer(h);
        }
    }
    if (h->tripped != MB_LUA_OK) {
        /* From now on raise at every instruction of this thread: a handler that catches the
         * error (pcall, xpcall, coroutine.resume) is stopped by the very next instruction of
         * its catching frame, so the error climbs out one frame at a time. */
        lua_sethook(L, s_hook, LUA_MASKCOUNT, 1);
    }
    if (h->tripped != MB_LUA_OK) {
        luaL_error(L, "%s", s_trip_message(h->tripped));
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
    if (h->tripped == MB_LUA_OK && h->pattern_unclocked >= (uint64_t)CLOCK_EVERY * HOOK_EVERY) {
        h->pattern_unclocked = 0;
        s_check_clocks(h);
    }
    if (h->tripped == MB_LUA_OK) {
        return NULL;
    }
    lua_sethook(L, s_hook, LUA_MASKCOUNT, 1);
    return s_trip_message(h->tripped);
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
    mb_lua_host *h = s_host(L);
    lua_State *prev = h->nudge_thread;
    h->nudge_thread = co;
    int nres;
    int status = lua_resume(co, L, narg, &nres);
    h->nudge_thread = prev;
    if (h->tripped != MB_LUA_OK && lua_gethook(L)) {
        lua_sethook(L, s_hook, LUA_MASKCOUNT, 1);
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
 * s_build_base copies into handlers' `string` and the strings' metatable __index (method calls
 * such as s:find(p)), so no path reaches the stock, unbounded functions. [-0, +0, m] */
static void s_meter_patterns(lua_State *L, mb_lua_host *h) {
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

/* ---- sandboxed replacements for base functions ---- */

static int s_readonly_newindex(lua_State *L) {
    return luaL_error(L, "attempt to modify a read-only table");
}

/* The iterator of a proxy's pairs(): walks the source table held as its upvalue, so the
 * (writable) source never reaches Lua code.  [-2, +2|1, e] */
static int s_proxy_next(lua_State *L) {
    lua_settop(L, 2);                       /* stack: proxy, key */
    lua_pushvalue(L, 2);                    /* stack: proxy, key, key */
    if (lua_next(L, lua_upvalueindex(1))) { /* stack: proxy, key, k, v */
        return 2;
    }
    lua_pushnil(L);
    return 1;
}

/* __pairs of a proxy: returns (iterator, proxy, nil). Returning the source table as the state
 * would hand handlers a writable shared table (`local _, t = pairs(string); t.upper = ...`). */
static int s_proxy_pairs(lua_State *L) {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushcclosure(L, s_proxy_next, 1); /* stack: proxy, next */
    lua_pushvalue(L, 1);                  /* stack: proxy, next, proxy */
    lua_pushnil(L);
    return 3;
}

/* Replace the table on the stack top by a read-only proxy in front of it. [-1, +1, m] */
static void s_make_readonly(lua_State *L) {
    lua_newtable(L);          /* stack: src, proxy */
    lua_createtable(L, 0, 4); /* stack: src, proxy, mt */
    lua_pushvalue(L, -3);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, s_readonly_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushvalue(L, -3);
    lua_pushcclosure(L, s_proxy_pairs, 1);
    lua_setfield(L, -2, "__pairs");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable"); /* getmetatable() shows false */
    lua_setmetatable(L, -2);            /* stack: src, proxy */
    lua_remove(L, -2);                  /* stack: proxy */
}

/* setmetatable(t, mt) without __gc: a finalizer would run later, outside any budget, in
 * whichever request happens to trigger the collector. */
static int s_setmetatable(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_getfield(L, 2, "__gc");
        if (!lua_isnil(L, -1)) {
            return luaL_error(L, "__gc metamethods are not allowed in handlers");
        }
        lua_pop(L, 1);
    } else {
        luaL_argexpected(L, lua_isnil(L, 2), 2, "nil or table");
    }
    if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL) {
        return luaL_error(L, "cannot change a protected metatable");
    }
    lua_settop(L, 2);
    lua_setmetatable(L, 1);
    return 1;
}

/* load(text [, chunkname [, mode [, env]]]): text chunks only, _ENV defaults to the request's. */
static int s_load(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    const char *name = luaL_optstring(L, 2, "=(load)");
    if (luaL_loadbufferx(L, s, len, name, "t") != LUA_OK) {
        luaL_pushfail(L);
        lua_insert(L, -2);
        return 2; /* fail, message */
    }
    if (!lua_isnoneornil(L, 4)) {
        lua_pushvalue(L, 4);
    } else {
        lua_rawgetp(L, LUA_REGISTRYINDEX, &s_key_env);
    }
    lua_setupvalue(L, -2, 1); /* stack: ..., fn */
    return 1;
}

void mb_lua_host_push_print_text(lua_State *L) {
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        luaL_tolstring(L, i, NULL); /* __tostring and __name honoured, as the stock print */
        luaL_addvalue(&b);
        if (i < n) {
            luaL_addchar(&b, '\t');
        }
    }
    luaL_pushresult(&b); /* stack: args..., text */
}

/* print(...) -> nothing. [-0, +0, e]
 * One INFO line of the process logger (the services' mb_log) with "print": true: the same
 * request context, escaping, bounds and redaction as ctx.log, so a value ctx.secret read or a
 * token-shaped string prints as [REDACTED], and a newline in the text cannot forge a log line
 * (Lambda ships stderr to CloudWatch Logs line by line). A host run without services (tools,
 * some tests) has no logger and no secrets: the text goes to stderr as it is. */
static int s_print(lua_State *L) {
    mb_lua_host_push_print_text(L);
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    mb_lua_services *svc = mb_lua_aux_services(L);
    if (svc && svc->log) {
        mb_log_field f = mb_log_field_bool("print", true);
        mb_log_write_cur(svc->log, MB_LOG_INFO, (mb_cur){s, len}, &f, 1);
    } else {
        fwrite(s, 1, len, stderr);
        fputc('\n', stderr);
    }
    return 0;
}

static int s_require(lua_State *L);

static const char *const s_base_allow[] = {
    "assert",   "error", "ipairs", "next",     "pairs",  "pcall",  "select",       "tonumber",
    "tostring", "type",  "xpcall", "rawequal", "rawget", "rawlen", "getmetatable", NULL,
};

static const luaL_Reg s_libs[] = {
    {"string", luaopen_string}, {"table", luaopen_table},         {"math", luaopen_math},
    {"utf8", luaopen_utf8},     {"coroutine", luaopen_coroutine}, {NULL, NULL},
};

/* Library members kept out of handlers' reach even inside allowed libraries. */
static const char *const s_lib_deny[] = {"dump", "randomseed", NULL};

/* Copy a library table minus s_lib_deny into a read-only proxy set as base[name]. [-1, +0, m] */
static void s_add_lib(lua_State *L, int base, const char *name) {
    lua_newtable(L); /* stack: lib, copy */
    lua_pushnil(L);
    while (lua_next(L, -3) != 0) { /* stack: lib, copy, key, value */
        bool deny = false;
        for (int i = 0; s_lib_deny[i] && lua_type(L, -2) == LUA_TSTRING; i++) {
            deny = deny || strcmp(lua_tostring(L, -2), s_lib_deny[i]) == 0;
        }
        if (deny) {
            lua_pop(L, 1);
            continue;
        }
        lua_pushvalue(L, -2);
        lua_insert(L, -2); /* stack: lib, copy, key, key, value */
        lua_rawset(L, -4); /* stack: lib, copy, key */
    }
    s_make_readonly(L); /* stack: lib, proxy */
    lua_setfield(L, base, name);
    lua_pop(L, 1);
}

/* xpcall(f, msgh, ...) whose message handler runs after the protected call has returned. Lua
 * calls a message handler for an error raised by a hook (the budget or deadline) with hooks
 * disabled, so with the stock xpcall `xpcall(loop, function() while true do end end)` would run
 * forever past any budget. */
static const char s_xpcall_src[] = "local pcall, pack, unpack = ...\n"
                                   "return function(f, msgh, ...)\n"
                                   "  local r = pack(pcall(f, ...))\n"
                                   "  if r[1] then return unpack(r, 1, r.n) end\n"
                                   "  return false, msgh(r[2])\n"
                                   "end\n";

/* Set base.xpcall (base at index base, still a plain table). [-0, +0, e] */
static void s_add_xpcall(lua_State *L, int base) {
    if (luaL_loadbufferx(L, s_xpcall_src, sizeof s_xpcall_src - 1, "=xpcall", "t") != LUA_OK) {
        lua_error(L);
    } /* stack: chunk */
    lua_getfield(L, base, "pcall");
    luaL_requiref(L, "table", luaopen_table, 0); /* stack: chunk, pcall, table */
    lua_getfield(L, -1, "pack");
    lua_getfield(L, -2, "unpack");
    lua_remove(L, -3); /* stack: chunk, pcall, pack, unpack */
    lua_call(L, 3, 1); /* stack: xpcall */
    lua_setfield(L, base, "xpcall");
}

static void s_build_base(lua_State *L) {
    lua_newtable(L); /* stack: base */
    int base = lua_gettop(L);
    luaL_requiref(L, "_G", luaopen_base, 0); /* stack: base, _G */
    for (int i = 0; s_base_allow[i]; i++) {
        lua_getfield(L, -1, s_base_allow[i]);
        lua_setfield(L, base, s_base_allow[i]);
    }
    lua_pop(L, 1);
    for (const luaL_Reg *lib = s_libs; lib->name; lib++) {
        luaL_requiref(L, lib->name, lib->func, 0);
        s_add_lib(L, base, lib->name);
    }
    luaL_requiref(L, "os", luaopen_os, 0); /* stack: base, os */
    lua_createtable(L, 0, 2);              /* stack: base, os, safe_os */
    lua_getfield(L, -2, "time");
    lua_setfield(L, -2, "time");
    lua_getfield(L, -2, "clock");
    lua_setfield(L, -2, "clock");
    s_make_readonly(L);
    lua_setfield(L, base, "os");
    lua_pop(L, 1); /* stack: base */
    static const luaL_Reg own[] = {{"setmetatable", s_setmetatable},
                                   {"load", s_load},
                                   {"print", s_print},
                                   {"require", s_require},
                                   {NULL, NULL}};
    luaL_setfuncs(L, own, 0);
    mb_lua_limits_push_collectgarbage(L);
    lua_setfield(L, base, "collectgarbage");
    s_add_xpcall(L, base);
    mb_json_push_lib(L); /* stack: base, json */
    s_make_readonly(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, base, "json");
    lua_setfield(L, base, "cjson"); /* stack: base */
    s_make_readonly(L);             /* stack: base_proxy */
    lua_rawsetp(L, LUA_REGISTRYINDEX, &s_key_base);
}

/* Strings share one metatable whose __index is the real string library: hide it, so
 * getmetatable("").__index.upper = ... cannot reach a table shared by every request. */
static void s_protect_string_mt(lua_State *L) {
    lua_pushliteral(L, "");
    if (lua_getmetatable(L, -1)) { /* stack: "", mt */
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "__metatable");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

static int s_setup(lua_State *L) {
    mb_lua_host *h = lua_touserdata(L, 1);
    lua_pushlightuserdata(L, h);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &s_key_host);
    mb_lua_aux_open(L);     /* the array and fail metatables */
    s_meter_patterns(L, h); /* lua_pattern: before s_build_base copies the string library */
    s_build_base(L);
    s_protect_string_mt(L);
    lua_createtable(L, 0, 2); /* the request envs' shared metatable */
    lua_rawgetp(L, LUA_REGISTRYINDEX, &s_key_base);
    lua_setfield(L, -2, "__index");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &s_key_envmt);
    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &s_key_chunks);
    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &s_key_stamps);
    return 0;
}

mb_lua_host *mb_lua_host_new(const mb_lua_host_opts *opts, mb_err *err) {
    mb_lua_host *h = calloc(1, sizeof *h);
    if (!h) {
        mb_err_set(err, MB_ERR_NOMEM, "out of memory creating the Lua host");
        return NULL;
    }
    h->dir = opts->handlers_dir;
    h->dev_mode = opts->dev_mode;
    h->memory_limit = opts->memory_limit ? opts->memory_limit : MB_LUA_DEFAULT_MEMORY_LIMIT;
    h->invocation_memory_limit =
        opts->invocation_memory_limit ? opts->invocation_memory_limit : h->memory_limit / 4 * 3;
    mb_lua_alloc_init(&h->alloc, h->memory_limit);
    mb_lua_alloc_set_meter(&h->alloc, s_alloc_meter, h);
    h->budget =
        opts->instruction_limit ? opts->instruction_limit : MB_LUA_DEFAULT_INSTRUCTION_LIMIT;
    h->cpu_default_ns = (int64_t)(opts->cpu_ms ? opts->cpu_ms : MB_LUA_DEFAULT_CPU_MS) * 1000000;
    s_init_timer(h);
    h->L = lua_newstate(mb_lua_alloc_fn, &h->alloc);
    if (!h->L) {
        mb_lua_alloc_cleanup(&h->alloc);
        free(h);
        mb_err_set(err, MB_ERR_NOMEM, "cannot create the Lua state");
        return NULL;
    }
    if (mb_lua_aux_cpcall(h->L, s_setup, 0, h, 0) != LUA_OK) {
        mb_err_set(err, MB_ERR_NOMEM, "cannot set up the Lua sandbox: %s", lua_tostring(h->L, -1));
        mb_lua_host_free(h);
        return NULL;
    }
    return h;
}

void mb_lua_host_free(mb_lua_host *host) {
    if (!host) {
        return;
    }
    if (g_armed == host) {
        g_armed = NULL;
    }
    if (host->has_timer) {
        timer_delete(host->timer);
    }
    if (host->L) {
        lua_close(host->L);
    }
    mb_lua_alloc_cleanup(&host->alloc);
    free(host);
}

lua_State *mb_lua_host_state(mb_lua_host *host) {
    return host->L;
}

size_t mb_lua_host_memory(const mb_lua_host *host) {
    return host->alloc.used;
}

void mb_lua_host_begin(mb_lua_host *host, int64_t deadline_ms) {
    lua_State *L = host->L;
    host->spent = 0;
    host->hook_calls = 0;
    host->pattern_unclocked = 0; /* lua_pattern */
    host->tripped = MB_LUA_OK;
    host->alloc.oom = false;
    host->deadline_ms = deadline_ms;
    /* Memory per invocation: what the state holds now plus the invocation's share, never above
     * the state's cap. Garbage of earlier requests counts in "now" and is collected first. */
    size_t cap = host->alloc.used + host->invocation_memory_limit;
    host->alloc.limit = cap < host->memory_limit ? cap : host->memory_limit;
    host->nudged = 0;
    host->cpu_budget_ns = host->cpu_default_ns;
    host->cpu_start_ns = s_cpu_ns();
    host->in_invocation = true;
    g_armed = host;
    s_arm_timer(host);
    lua_sethook(L, s_hook, LUA_MASKCOUNT, HOOK_EVERY);
    lua_newtable(L); /* stack: env */
    lua_rawgetp(L, LUA_REGISTRYINDEX, &s_key_envmt);
    lua_setmetatable(L, -2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &s_key_env);
    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &s_key_loaded);
}

void mb_lua_host_set_cpu_budget(mb_lua_host *host, unsigned ms) {
    host->cpu_budget_ns = ms ? (int64_t)ms * 1000000 : host->cpu_default_ns;
    if (host->in_invocation) {
        s_arm_timer(host);
    }
}

int64_t mb_lua_host_cpu_used_ns(const mb_lua_host *host) {
    return s_cpu_ns() - host->cpu_start_ns;
}

void mb_lua_host_end(mb_lua_host *host) {
    lua_State *L = host->L;
    s_disarm_timer(host);
    g_armed = NULL;
    host->in_invocation = false;
    host->nudge_thread = NULL;
    lua_sethook(L, NULL, 0, 0);
    bool cut = host->tripped != MB_LUA_OK || host->alloc.oom;
    host->alloc.limit = host->memory_limit;
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &s_key_env);
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &s_key_loaded);
    mb_lua_aux_clear_traceback(L); /* no traceback outlives its request */
    /* After a memory failure reclaim everything now; otherwise an incremental step keeps the
     * heap from growing across requests without a full collection on the hot path. */
    lua_gc(L, LUA_GCRESTART); /* belt and braces: handlers cannot stop it (lua_limits) */
    lua_gc(L, cut ? LUA_GCCOLLECT : LUA_GCSTEP, 0);
}

/* ---- handler files ---- */

bool mb_lua_host_valid_name(mb_cur name) {
    if (name.len == 0 || name.len > 64) {
        return false;
    }
    for (size_t i = 0; i < name.len; i++) {
        char c = name.ptr[i];
        bool ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* Push the compiled chunk of <dir>/<name>.lua, compiling it on first use (and, in development
 * mode, again whenever stat() says the file changed). On failure pushes the error message and
 * returns the load status. [-0, +1, m] */
static int s_push_chunk(lua_State *L, mb_lua_host *h, const char *name) {
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s.lua", h->dir, name);
    if (n < 0 || (size_t)n >= sizeof path) {
        lua_pushliteral(L, "handler path too long");
        return LUA_ERRFILE;
    }
    lua_rawgetp(L, LUA_REGISTRYINDEX, &s_key_chunks);         /* stack: chunks */
    bool cached = lua_getfield(L, -1, name) == LUA_TFUNCTION; /* stack: chunks, chunk? */
    if (cached && !h->dev_mode) {
        lua_remove(L, -2);
        return LUA_OK;
    }
    lua_pop(L, 1); /* stack: chunks */
    char stamp[96] = "";
    struct stat st;
    if (stat(path, &st) == 0) {
        snprintf(stamp, sizeof stamp, "%llu:%lld:%lld.%09ld", (unsigned long long)st.st_ino,
                 (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    }
    lua_rawgetp(L, LUA_REGISTRYINDEX, &s_key_stamps); /* stack: chunks, stamps */
    lua_getfield(L, -1, name);                        /* stack: chunks, stamps, old */
    bool fresh = cached && lua_isstring(L, -1) && strcmp(lua_tostring(L, -1), stamp) == 0;
    lua_pop(L, 1);
    if (fresh) {
        lua_pop(L, 1);
        lua_getfield(L, -1, name); /* stack: chunks, chunk */
        lua_remove(L, -2);
        return LUA_OK;
    }
    int rc = luaL_loadfilex(L, path, "t"); /* stack: chunks, stamps, chunk|msg */
    if (rc != LUA_OK) {
        lua_remove(L, -2);
        lua_remove(L, -2);
        return rc;
    }
    lua_pushstring(L, stamp);
    lua_setfield(L, -3, name);
    lua_remove(L, -2); /* stack: chunks, chunk */
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, name);
    lua_remove(L, -2); /* stack: chunk */
    return LUA_OK;
}

/* Give the chunk on the stack top the current request environment as its _ENV. [-0, +0] */
static void s_bind_env(lua_State *L) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &s_key_env);
    if (!lua_setupvalue(L, -2, 1)) {
        lua_pop(L, 1);
    }
}

/* require(name): another file of HANDLERS_DIR, run once per request in the request env. */
static int s_require(lua_State *L) {
    size_t len;
    const char *name = luaL_checklstring(L, 1, &len);
    luaL_argcheck(L, mb_lua_host_valid_name((mb_cur){name, len}), 1,
                  "module names are letters, digits and '_' (files in HANDLERS_DIR)");
    lua_rawgetp(L, LUA_REGISTRYINDEX, &s_key_loaded); /* stack: name, loaded */
    if (lua_getfield(L, -1, name) != LUA_TNIL) {
        return 1;
    }
    lua_pop(L, 1);
    if (s_push_chunk(L, s_host(L), name) != LUA_OK) { /* stack: name, loaded, chunk|msg */
        return lua_error(L);
    }
    s_bind_env(L);
    lua_call(L, 0, 1); /* stack: name, loaded, module */
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, name);
    return 1;
}

int mb_lua_host_run_file(mb_lua_host *host, const char *name, mb_err *err) {
    lua_State *L = host->L;
    int rc = s_push_chunk(L, host, name); /* stack: chunk|msg */
    if (rc == LUA_OK) {
        s_bind_env(L);
        rc = mb_lua_aux_pcall(L, 0, 1); /* stack: value|error */
    }
    if (rc != LUA_OK) {
        const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "error object";
        mb_err_set(err, rc == LUA_ERRMEM ? MB_ERR_NOMEM : MB_ERR_CONFIG, "%s", msg);
        lua_pop(L, 1);
        return err ? err->status : MB_ERR_CONFIG;
    }
    return 0; /* stack: value */
}

static void s_set_msg(mb_buf *b, const char *s) {
    mb_buf_reset(b);
    (void)mb_buf_append_cstr(b, s); /* a message lost to OOM is still a 500 */
}

/* Classify a failed pcall whose error value is on the stack top, then pop it. */
static mb_lua_outcome s_classify(lua_State *L, mb_lua_host *h, int rc, mb_lua_result *res) {
    mb_lua_fail fail;
    if (h->tripped != MB_LUA_OK) {
        res->outcome = h->tripped;
        res->error_type = h->tripped == MB_LUA_BUDGET ? "InstructionBudgetExceeded"
                          : h->tripped == MB_LUA_CPU  ? "CpuBudget"
                                                      : "Timeout";
        s_set_msg(&res->message, s_trip_message(h->tripped));
    } else if (rc == LUA_ERRMEM || h->alloc.oom) {
        res->outcome = MB_LUA_MEMORY;
        res->error_type = "MemoryLimitExceeded";
        s_set_msg(&res->message, "handler exceeded its memory limit");
    } else if (mb_lua_aux_is_fail(L, -1, &fail)) {
        res->outcome = MB_LUA_FAIL;
        res->status = fail.status;
        res->error_type = "HandlerFail";
        mb_buf_reset(&res->message);
        (void)mb_buf_append_cur(&res->message, fail.message);
        snprintf(res->code, sizeof res->code, "%.*s", (int)fail.code.len, fail.code.ptr);
        snprintf(res->field, sizeof res->field, "%.*s", (int)fail.field.len, fail.field.ptr);
    } else {
        res->outcome = MB_LUA_ERROR;
        res->error_type = "HandlerError";
        const char *m = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        mb_buf_reset(&res->message);
        if (m) {
            (void)mb_buf_append_cstr(&res->message, m);
        } else {
            (void)mb_buf_appendf(&res->message, "error object is a %s value", luaL_typename(L, -1));
        }
        mb_lua_aux_push_traceback(L);
        mb_buf_reset(&res->traceback);
        if (lua_type(L, -1) == LUA_TSTRING) {
            (void)mb_buf_append_cstr(&res->traceback, lua_tostring(L, -1));
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return res->outcome;
}

/* Run the chunk on the stack top, above base (it returns the handler), then handler(req, ctx).
 * [-1, +1|0] */
static mb_lua_outcome s_run_chunk(mb_lua_host *host, const char *name, int base, int req_idx,
                                  int ctx_idx, mb_lua_result *res) {
    lua_State *L = host->L;
    s_bind_env(L);
    int rc = mb_lua_aux_pcall(L, 0, 1); /* stack: fn|error */
    if (rc == LUA_OK && lua_type(L, -1) != LUA_TFUNCTION) {
        lua_pop(L, 1);
        lua_pushfstring(L, "%s.lua must return a function (handler(req, ctx))", name);
        rc = LUA_ERRRUN;
    }
    if (rc == LUA_OK) {
        lua_pushvalue(L, req_idx);
        lua_pushvalue(L, ctx_idx);      /* stack: fn, req, ctx */
        rc = mb_lua_aux_pcall(L, 2, 1); /* stack: response|error */
    }
    if (rc != LUA_OK) {
        s_classify(L, host, rc, res);
        lua_settop(L, base);
        return res->outcome;
    }
    return MB_LUA_OK; /* stack: response */
}

mb_lua_outcome mb_lua_host_call(mb_lua_host *host, const char *name, int req_idx, int ctx_idx,
                                mb_lua_result *res) {
    lua_State *L = host->L;
    req_idx = lua_absindex(L, req_idx);
    ctx_idx = lua_absindex(L, ctx_idx);
    res->outcome = MB_LUA_OK;
    res->code[0] = res->field[0] = '\0';
    int base = lua_gettop(L);
    int rc = s_push_chunk(L, host, name); /* stack: chunk|msg */
    if (rc != LUA_OK) {
        res->outcome = MB_LUA_LOAD_ERROR;
        res->error_type = "HandlerLoadError";
        s_set_msg(&res->message, lua_tostring(L, -1));
        lua_settop(L, base);
        return res->outcome;
    }
    return s_run_chunk(host, name, base, req_idx, ctx_idx, res);
}

mb_lua_outcome mb_lua_host_call_chunk(mb_lua_host *host, int chunk_idx, const char *name,
                                      int req_idx, int ctx_idx, mb_lua_result *res) {
    lua_State *L = host->L;
    chunk_idx = lua_absindex(L, chunk_idx);
    req_idx = lua_absindex(L, req_idx);
    ctx_idx = lua_absindex(L, ctx_idx);
    res->outcome = MB_LUA_OK;
    res->code[0] = res->field[0] = '\0';
    int base = lua_gettop(L);
    lua_pushvalue(L, chunk_idx); /* stack: chunk */
    return s_run_chunk(host, name, base, req_idx, ctx_idx, res);
}

void mb_lua_host_push_env(mb_lua_host *host) {
    lua_rawgetp(host->L, LUA_REGISTRYINDEX, &s_key_env);
}

uint64_t mb_lua_host_instructions(const mb_lua_host *host) {
    return host->spent;
}

void mb_lua_result_cleanup(mb_lua_result *res) {
    if (!res) {
        return;
    }
    mb_buf_cleanup(&res->message);
    mb_buf_cleanup(&res->traceback);
}
