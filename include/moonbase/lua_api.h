/* moonbase/lua_api.h - the `ctx` table handed to every Lua handler, composed from one injector
 * per API area (core/lua_<area>.c), as OpenResty composes `ngx` from ngx_http_lua_inject_*_api.
 * Ownership: the services struct is owned by the caller (the app) and must outlive every call
 * into Lua; its pointer lives in the Lua registry, never in a C global. One invocation at a time.
 */
#ifndef MOONBASE_LUA_API_H
#define MOONBASE_LUA_API_H

#include <stdbool.h>
#include <stdint.h>

#include <lua.h>

#include "moonbase/buf.h"
#include "moonbase/config.h"
#include "moonbase/err.h"

struct mb_log;
struct mb_emf;
struct mb_ddb;

/* What the C side of the ctx API may reach. Process-wide members are set once at start-up;
 * per-invocation members are set by the app before the handler runs and cleared after it. */
typedef struct mb_lua_services {
    const mb_config *cfg;
    struct mb_log *log; /* may be NULL in unit tests */
    struct mb_emf *emf; /* may be NULL in unit tests */
    struct mb_ddb *ddb; /* created lazily by the db binding on first use; may be NULL */
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
    int64_t deadline_ms; /* absolute epoch ms the invocation must finish by; 0 = none */
} mb_lua_services;

/* Registry name of the metatable that marks a Lua table as a JSON/DynamoDB array even when empty
 * (luaL_getmetatable(L, MB_LUA_ARRAY_MT)). Registered by mb_lua_api_register(). */
#define MB_LUA_ARRAY_MT "moonbase.array_mt"

/* Store `svc` in L's registry and register shared metatables. Call once per Lua state. [-0, +0, m]
 */
void mb_lua_api_register(lua_State *L, mb_lua_services *svc);
/* The services registered in L (never NULL after mb_lua_api_register). [-0, +0, -] */
mb_lua_services *mb_lua_api_services(lua_State *L);

/* The DynamoDB client of svc, created on first use from svc->cfg and the AWS_* environment
 * (core/lua_db.c), shared by ctx.db and the platform's own records. NULL with err filled when
 * TABLE_NAME or credentials are missing. */
struct mb_ddb *mb_lua_api_ddb(mb_lua_services *svc, mb_err *err);

/* Push a fresh ctx table for one invocation: ctx.fail, ctx.log, ctx.metric, ctx.db, ctx.now...
 * A fresh table per request means a handler that overwrites ctx.db cannot affect the next
 * request or tenant. [-0, +1, m] */
void mb_lua_open_api(lua_State *L);

/* Injectors: each sets its fields in the table on the top of the stack. [-0, +0, m] */
void mb_lua_inject_fail_api(lua_State *L);
void mb_lua_inject_log_api(lua_State *L);
void mb_lua_inject_metric_api(lua_State *L);
void mb_lua_inject_db_api(lua_State *L); /* ctx.db and ctx.ulid (core/lua_db.c) */

/* ctx.fail(status, message [, {code = "validation", field = "bio"}]) raises an error object
 * carrying an HTTP status; the app turns it into a clean 4xx/5xx JSON response. */
typedef struct mb_lua_fail {
    int status;
    mb_cur message; /* borrowed from the fail object at idx */
    mb_cur code;    /* empty when the handler gave none */
    mb_cur field;   /* empty when the handler gave none */
} mb_lua_fail;

/* True, with *out filled, when the value at idx is a ctx.fail object. [-0, +0, -] */
bool mb_lua_api_is_fail(lua_State *L, int idx, mb_lua_fail *out);

/* Raise a ctx.fail object from C, as ctx.fail(status, message, {code = code}) would: status
 * 400..599, code NULL or at most 32 bytes (NULL: the app picks one from the status). Call only
 * after releasing every C resource: it does not return (lua_error). [-0, +0, v] */
int mb_lua_api_raise_fail(lua_State *L, int status, const char *code, const char *message);

#endif
