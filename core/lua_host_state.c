/* lua_host_state.c - the process's Lua state (moonbase/lua_host.h): creation and set-up, the
 * registry keys, and what mb_lua_host_begin/end arm and reset around each invocation.
 * The sandbox is data, as in Redis: an allow-list of base functions and libraries, read-only
 * proxies in front of every shared table, a fresh _ENV per request, a count hook and a capped
 * allocator. See core/lua_host_priv.h for the files that make up the host. */
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

#include "moonbase/lua_aux.h"

/* Registry keys: addresses of these constants (lua_rawsetp), unique and collision-free. */
const char mb_lua_host_key_host = 'h';
const char mb_lua_host_key_base = 'b';
const char mb_lua_host_key_envmt = 'm';
const char mb_lua_host_key_env = 'e';
const char mb_lua_host_key_chunks = 'c';
const char mb_lua_host_key_stamps = 's';
const char mb_lua_host_key_loaded = 'l';

mb_lua_host *mb_lua_host_of(lua_State *L) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &mb_lua_host_key_host);
    mb_lua_host *h = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return h;
}

static int s_setup(lua_State *L) {
    mb_lua_host *h = lua_touserdata(L, 1);
    lua_pushlightuserdata(L, h);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &mb_lua_host_key_host);
    mb_lua_aux_open(L); /* the array and fail metatables */
    mb_lua_host_meter_patterns(
        L, h); /* lua_pattern: before mb_lua_host_build_base copies the string library */
    mb_lua_host_build_base(L);
    mb_lua_host_protect_string_mt(L);
    lua_createtable(L, 0, 2); /* the request envs' shared metatable */
    lua_rawgetp(L, LUA_REGISTRYINDEX, &mb_lua_host_key_base);
    lua_setfield(L, -2, "__index");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &mb_lua_host_key_envmt);
    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &mb_lua_host_key_chunks);
    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &mb_lua_host_key_stamps);
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
    mb_lua_alloc_set_meter(&h->alloc, mb_lua_host_alloc_meter, h);
    h->budget =
        opts->instruction_limit ? opts->instruction_limit : MB_LUA_DEFAULT_INSTRUCTION_LIMIT;
    h->cpu_default_ns = (int64_t)(opts->cpu_ms ? opts->cpu_ms : MB_LUA_DEFAULT_CPU_MS) * 1000000;
    mb_lua_host_init_timer(h);
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
    if (mb_lua_host_armed == host) {
        mb_lua_host_armed = NULL;
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
    host->cpu_start_ns = mb_lua_host_cpu_ns();
    host->in_invocation = true;
    mb_lua_host_armed = host;
    mb_lua_host_arm_timer(host);
    lua_sethook(L, mb_lua_host_hook, LUA_MASKCOUNT, MB_LUA_HOST_HOOK_EVERY);
    lua_newtable(L); /* stack: env */
    lua_rawgetp(L, LUA_REGISTRYINDEX, &mb_lua_host_key_envmt);
    lua_setmetatable(L, -2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &mb_lua_host_key_env);
    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &mb_lua_host_key_loaded);
}

void mb_lua_host_set_cpu_budget(mb_lua_host *host, unsigned ms) {
    host->cpu_budget_ns = ms ? (int64_t)ms * 1000000 : host->cpu_default_ns;
    if (host->in_invocation) {
        mb_lua_host_arm_timer(host);
    }
}

int64_t mb_lua_host_cpu_used_ns(const mb_lua_host *host) {
    return mb_lua_host_cpu_ns() - host->cpu_start_ns;
}

void mb_lua_host_end(mb_lua_host *host) {
    lua_State *L = host->L;
    mb_lua_host_disarm_timer(host);
    mb_lua_host_armed = NULL;
    host->in_invocation = false;
    host->nudge_thread = NULL;
    lua_sethook(L, NULL, 0, 0);
    bool cut = host->tripped != MB_LUA_OK || host->alloc.oom;
    host->alloc.limit = host->memory_limit;
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &mb_lua_host_key_env);
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &mb_lua_host_key_loaded);
    mb_lua_aux_clear_traceback(L); /* no traceback outlives its request */
    /* After a memory failure reclaim everything now; otherwise an incremental step keeps the
     * heap from growing across requests without a full collection on the hot path. */
    lua_gc(L, LUA_GCRESTART); /* belt and braces: handlers cannot stop it (lua_limits) */
    lua_gc(L, cut ? LUA_GCCOLLECT : LUA_GCSTEP, 0);
}
