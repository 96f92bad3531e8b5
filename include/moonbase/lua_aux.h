/* moonbase/lua_aux.h - the Lua value layer every Lua-facing module builds on, as lauxlib is built
 * on lua.h: the value model (the array metatable, null), the fail object of ctx.fail, the
 * services registry that C bindings reach their process objects through, and the one protected
 * call (with a traceback message handler) through which moonbase's C calls into Lua.
 * It uses only the official Lua API and knows no other moonbase module than the floor's buf and
 * err: json, event, ddb_marshal, auth, lua_host, lua_api and the ctx bindings all sit on top of
 * it, none below.
 * Ownership: nothing here allocates C memory. The services struct is the caller's (the app's) and
 * must outlive every call into Lua; only its pointer is in the registry. Borrowed strings in an
 * mb_lua_fail live as long as the fail object on the stack. One lua_State, one thread. */
#ifndef MOONBASE_LUA_AUX_H
#define MOONBASE_LUA_AUX_H

#include <stdbool.h>
#include <stdint.h>

#include <lua.h>

#include "moonbase/buf.h"
#include "moonbase/err.h"

/* ---- value model ---- */

/* Registry name of the metatable that marks a Lua table as a JSON/DynamoDB array even when empty
 * (json.array_mt in Lua). Created by mb_lua_aux_open. */
#define MB_LUA_ARRAY_MT "moonbase.array_mt"

/* Register the array and fail metatables in L. Call once per Lua state, before any of the
 * functions below. [-0, +0, m] */
void mb_lua_aux_open(lua_State *L);
/* Push a new table sized for narr array slots, marked as an array. [-0, +1, m] */
void mb_lua_aux_new_array(lua_State *L, int narr);
/* Mark the table on the stack top as an array (no-op before mb_lua_aux_open). [-0, +0, -] */
void mb_lua_aux_mark_array(lua_State *L);
/* True when the value at idx is a table carrying the array metatable. [-0, +0, -] */
bool mb_lua_aux_is_marked_array(lua_State *L, int idx);
/* JSON null is the NULL light userdata (json.null, cjson.null). [-0, +1, -] / [-0, +0, -] */
void mb_lua_aux_push_null(lua_State *L);
bool mb_lua_aux_is_null(lua_State *L, int idx);

/* ---- services registry ---- */

struct mb_config;
struct mb_log;
struct mb_emf;
struct mb_ddb;
struct mb_secrets;
struct mb_clock;

/* What the C side of the ctx API may reach. Process-wide members are set once at start-up by
 * their owner (the app creates and frees each one); per-invocation members are set by the app
 * before the handler runs and cleared after it. */
typedef struct mb_lua_services {
    const struct mb_config *cfg;
    struct mb_log *log;           /* may be NULL in unit tests */
    struct mb_emf *emf;           /* may be NULL in unit tests */
    struct mb_ddb *ddb;           /* NULL when the database is not configured (ddb_err: why) */
    struct mb_secrets *secrets;   /* Secrets Manager client; NULL when not configured */
    mb_err ddb_err;               /* why ddb is NULL, for the log line of a call that needed it */
    mb_err secrets_err;           /* why secrets is NULL */
    const struct mb_clock *clock; /* the clock of ctx.now, timings, cursors; NULL: the real one */
    /* per invocation (borrowed, valid during the handler call only) */
    mb_cur request_id;
    /* the tenant key ("user:<sub>" | "org:<name>", moonbase/auth.h) resolved from the verified
     * token only; empty on public routes, where ctx.db refuses to run */
    mb_cur tenant;
    mb_cur user_sub; /* verified `sub`; empty on public routes */
    /* ctx.db sort-key namespace: prepended to every SK a handler names and stripped from every
     * SK it reads back. Empty for file handlers; "APP#" for tenant handlers (tenant_api.h), so
     * their data cannot touch the platform's own records in the tenant's partition. */
    mb_cur db_namespace;
    /* True while a tenant's own code runs (/t/{name}, dry runs): ctx functions that reach the
     * platform's resources rather than the tenant's (ctx.secret: SECRET_ARNS are the platform's
     * secrets) refuse. */
    bool tenant_code;
    int64_t deadline_ms; /* absolute epoch ms the invocation must finish by; 0 = none */
} mb_lua_services;

/* Store svc's pointer in L's registry. [-0, +0, -] */
void mb_lua_aux_set_services(lua_State *L, mb_lua_services *svc);
/* The services stored in L, or NULL when none were. [-0, +0, -] */
mb_lua_services *mb_lua_aux_services(lua_State *L);

/* ---- the fail object (ctx.fail) ---- */

/* A fail object is a table {status, message[, code][, field]} with a private metatable; the app
 * answers it as a clean 4xx/5xx JSON error instead of a 500. */
typedef struct mb_lua_fail {
    int status;
    mb_cur message; /* borrowed from the fail object */
    mb_cur code;    /* empty when none was given */
    mb_cur field;   /* empty when none was given */
} mb_lua_fail;

/* A fail message is sent to the client: one that echoes its input ("unknown field '<1 MB>'")
 * is cut at this many bytes, at a character boundary, and marked with "...". */
#define MB_LUA_FAIL_MESSAGE_MAX 256

/* Push a fail object {status, message} (status outside 400..599 becomes 500; message NULL:
 * "request failed", longer than MB_LUA_FAIL_MESSAGE_MAX: cut). Callers add code/field with
 * lua_setfield. [-0, +1, m] */
void mb_lua_aux_push_fail(lua_State *L, lua_Integer status, const char *message);
/* True, with *out filled, when the value at idx is a fail object. [-0, +0, -] */
bool mb_lua_aux_is_fail(lua_State *L, int idx, mb_lua_fail *out);
/* Raise a fail object from C, as ctx.fail(status, message, {code = code}) would: code NULL or at
 * most 32 bytes (NULL: the app picks one from the status). Call only after releasing every C
 * resource: it does not return (lua_error). [-0, +0, v] */
int mb_lua_aux_raise_fail(lua_State *L, int status, const char *code, const char *message);

/* ---- protected calls ---- */

/* lua_pcall(L, nargs, nresults) under a message handler that records a traceback of runtime
 * errors (mb_lua_aux_push_traceback) and passes the error value through untouched, so a fail
 * object reaches the caller intact. Returns the lua_pcall status; on error the error value is on
 * the stack top, as with lua_pcall. [-(nargs+1), +(nresults|1), -] */
int mb_lua_aux_pcall(lua_State *L, int nargs, int nresults);
/* Run the C function fn protected, so a Lua error in it (a memory error under the handler's
 * memory cap) returns here instead of unwinding C frames: calls fn(value at arg, ud) when arg is
 * a valid index, fn(ud) when arg is 0, with ud as a light userdata. Same return and stack as
 * mb_lua_aux_pcall. [-0, +(nresults|1), -] */
int mb_lua_aux_cpcall(lua_State *L, lua_CFunction fn, int arg, void *ud, int nresults);
/* Push the traceback recorded by the last runtime error under mb_lua_aux_pcall (nil if none).
 * [-0, +1, -] */
void mb_lua_aux_push_traceback(lua_State *L);
/* Forget the recorded traceback. [-0, +0, -] */
void mb_lua_aux_clear_traceback(lua_State *L);

#endif
