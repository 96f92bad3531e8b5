/* lua_host_call.c - handler files and calls: the compiled-chunk cache (re-checked with stat() in
 * development mode), require, and running a handler with its outcome classified (ctx.fail,
 * error, budget, memory, deadline). See core/lua_host_priv.h. */
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
    lua_rawgetp(L, LUA_REGISTRYINDEX, &mb_lua_host_key_chunks); /* stack: chunks */
    bool cached = lua_getfield(L, -1, name) == LUA_TFUNCTION;   /* stack: chunks, chunk? */
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
    lua_rawgetp(L, LUA_REGISTRYINDEX, &mb_lua_host_key_stamps); /* stack: chunks, stamps */
    lua_getfield(L, -1, name);                                  /* stack: chunks, stamps, old */
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
    lua_rawgetp(L, LUA_REGISTRYINDEX, &mb_lua_host_key_env);
    if (!lua_setupvalue(L, -2, 1)) {
        lua_pop(L, 1);
    }
}

/* require(name): another file of HANDLERS_DIR, run once per request in the request env. */
int mb_lua_host_require(lua_State *L) {
    size_t len;
    const char *name = luaL_checklstring(L, 1, &len);
    luaL_argcheck(L, mb_lua_host_valid_name((mb_cur){name, len}), 1,
                  "module names are letters, digits and '_' (files in HANDLERS_DIR)");
    lua_rawgetp(L, LUA_REGISTRYINDEX, &mb_lua_host_key_loaded); /* stack: name, loaded */
    if (lua_getfield(L, -1, name) != LUA_TNIL) {
        return 1;
    }
    lua_pop(L, 1);
    if (s_push_chunk(L, mb_lua_host_of(L), name) != LUA_OK) { /* stack: name, loaded, chunk|msg */
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
        s_set_msg(&res->message, mb_lua_host_trip_message(h->tripped));
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
    lua_rawgetp(host->L, LUA_REGISTRYINDEX, &mb_lua_host_key_env);
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