/* tenant_api_call.h - what the tenant_api files share (private to core/): the API object, one
 * call's context, and the pieces each file gives the others.
 *   tenant_api.c         the platform routes, dispatch, and the shared helpers below (responses,
 *                        store errors, the JSON body, compiling a handler source)
 *   tenant_api_manage.c  the /tenant/handlers API: list, get, versions, put, rollback, delete
 *   tenant_api_run.c     /t/{name}: the chunk cache and the live pointer, then the call
 *   tenant_api_dry.c     the dry run (POST .../test): captured ctx.log, ctx.metric and print
 * Every function here runs inside mb_tenant_api_dispatch on the request's Lua state, pushes its
 * answer (a response table {status, body}) and may raise only a Lua memory error, which the
 * app's protected call answers 500. Nothing here holds C memory: the records and chunks live on
 * the Lua stack or in the registry. This header does not include moonbase/tenant_api.h (that
 * would be a circle of modules); the .c files do. */
#ifndef MOONBASE_TENANT_API_CALL_H
#define MOONBASE_TENANT_API_CALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#include "moonbase/buf.h"
#include "moonbase/err.h"
#include "moonbase/lua_aux.h"
#include "moonbase/lua_host.h"
#include "moonbase/router.h"
#include "moonbase/tenant_store.h"

typedef struct mb_tenant_api mb_tenant_api; /* as in moonbase/tenant_api.h */

struct mb_tenant_api {
    mb_router router;
    size_t cache_count; /* entries in the registry's chunk cache (tenant_api_run.c) */
};

/* One API call: what it works on. */
typedef struct mb_tenant_api_call {
    mb_tenant_api *t;
    mb_lua_host *host;
    lua_State *L;
    mb_lua_services *svc;
    int req;
    mb_cur name;
    mb_tenant_store store;
} mb_tenant_api_call;

/* ---- tenant_api.c: responses and checks ---- */

/* Push an error response {status, body = {error, message, requestId}}; returns MB_LUA_OK (the
 * error is the call's answer). [-0, +1, m] */
mb_lua_outcome mb_tenant_api_error(mb_tenant_api_call *a, int status, const char *code,
                                   const char *message);
/* Set body[k] = v in the response table on the stack top. [-0, +0, m] */
void mb_tenant_api_error_int(lua_State *L, const char *k, int64_t v);
/* Replace the body table on the stack top by a response {status, body}. [-1, +1, m] */
mb_lua_outcome mb_tenant_api_ok(lua_State *L, int status);
/* Set t[k] = v (a string) in the table on the stack top. [-0, +0, m] */
void mb_tenant_api_set_cur(lua_State *L, const char *k, mb_cur v);
/* The integer field k of the table at t, 0 when absent or not an integer. [-0, +0, m] */
int64_t mb_tenant_api_int_field(lua_State *L, int t, const char *k);
/* A tenant_store failure (rc, err) as a response (404, 409, 503, 504, 502); the detail goes to
 * the log only. [-0, +1, m] */
mb_lua_outcome mb_tenant_api_store_error(mb_tenant_api_call *a, int rc, const mb_err *err);
/* The request's JSON body if it is an object (its stack index), else 0 after pushing a 400.
 * [-0, +1, m] */
int mb_tenant_api_json_body(mb_tenant_api_call *a);
/* The handler's own line in a Lua message or traceback ("<name>:<line>: ..."), or 0. */
long mb_tenant_api_line_of(mb_cur name, const char *msg);
/* Check and compile a handler source named a->name: text only, at most 64 KB, valid Lua. Pushes
 * the chunk and returns true, or pushes a 400/413 response and returns false. [-0, +1, m] */
bool mb_tenant_api_compile(mb_tenant_api_call *a, mb_cur source);

/* ---- tenant_api_manage.c: the /tenant/handlers API, one function per route ---- */

/* Each pushes its response; a->name is checked by the dispatcher (except for list). [-0, +1] */
mb_lua_outcome mb_tenant_api_list(mb_tenant_api_call *a);
mb_lua_outcome mb_tenant_api_get(mb_tenant_api_call *a);
mb_lua_outcome mb_tenant_api_versions(mb_tenant_api_call *a);
mb_lua_outcome mb_tenant_api_put(mb_tenant_api_call *a);
mb_lua_outcome mb_tenant_api_rollback(mb_tenant_api_call *a);
mb_lua_outcome mb_tenant_api_delete(mb_tenant_api_call *a);

/* ---- tenant_api_run.c: /t/{name} and the chunk cache ---- */

/* Drop this process's cached chunk of (tenant, a->name): a deploy made here is seen here at
 * once. [-0, +0, m] */
void mb_tenant_api_cache_forget(mb_tenant_api_call *a);
/* Run the live version of a->name as a handler: pushes its response (MB_LUA_OK) or an error
 * response for a missing handler or a store failure; any other outcome is the handler's, in
 * res, with nothing pushed. */
mb_lua_outcome mb_tenant_api_run(mb_tenant_api_call *a, mb_lua_result *res);

/* ---- tenant_api_dry.c: the dry run ---- */

/* POST /tenant/handlers/{name}/test: pushes {response|error, logs, metrics, usage} (200) or an
 * error response; res->outcome stays MB_LUA_OK (the handler's failure is the result). */
mb_lua_outcome mb_tenant_api_test(mb_tenant_api_call *a, mb_lua_result *res);

#endif
