/* moonbase/tenant_api.h - the platform's own routes for tenant handlers: the /tenant/handlers
 * API (list, get, versions, deploy with compile-on-save, rollback, delete, dry run) and the
 * runtime ANY /t/{name} and /t/{name}/{rest+}, which runs the tenant's live handler in the same
 * sandbox as file handlers, with ctx.db confined to the tenant's "APP#" key namespace.
 * Compiled chunks are cached in the Lua state per (tenant, name, version); the live pointer is
 * re-read (one strongly consistent GetItem) at most once per MB_TENANT_POINTER_TTL_MS per
 * handler and warm process, so a deploy is live everywhere within that time plus one request.
 * Ownership: mb_tenant_api_new() returns an object freed by mb_tenant_api_free(); it owns the route
 * table. Responses and Lua values live in the host's state. One invocation at a time. */
#ifndef MOONBASE_TENANT_API_H
#define MOONBASE_TENANT_API_H

#include <stdbool.h>

#include <lua.h>

#include "moonbase/err.h"
#include "moonbase/lua_aux.h"
#include "moonbase/lua_host.h"
#include "moonbase/router.h"

/* How long a warm process trusts the live version it last read: the bound on how late a
 * deploy or rollback is seen (the issue asks for 2 s), and the pointer reads per second a busy
 * handler costs per process (one). */
#define MB_TENANT_POINTER_TTL_MS 1000
/* Compiled chunks kept per process; past this the cache starts over (recompiling is cheap). */
#define MB_TENANT_CACHE_MAX 256
/* The Cognito group whose members may change their tenant's handlers. */
#define MB_TENANT_ADMIN_GROUP "tenant-admin"

typedef struct mb_tenant_api mb_tenant_api;

/* Create the route table of the platform routes. NULL with err filled on failure. Runs Lua:
 * call under a protected call with the host's state. [-0, +0, m] */
mb_tenant_api *mb_tenant_api_new(lua_State *L, mb_err *err);
/* Accepts NULL. */
void mb_tenant_api_free(mb_tenant_api *t);

/* Load what a process routes by, in one protected call on the host's state (a Lua memory error
 * is an error, not a panic) and an invocation of its own (mb_lua_host_begin/_end): svc, when not
 * NULL, is stored as the state's services first (mb_lua_aux_set_services); then the platform
 * routes into *platform when it is NULL (built once, they never change); then
 * HANDLERS_DIR/routes.lua into *routes (mb_router_load_file, cpu_max_ms as there). The app at
 * start-up and the devserver's resource table both load through it. Returns 0, or an error with
 * err filled (*routes then empty; a platform table made before the error stays in *platform).
 * The caller frees both (mb_tenant_api_free, mb_router_cleanup). */
int mb_tenant_api_load_routes(mb_lua_host *host, mb_lua_services *svc, mb_tenant_api **platform,
                              mb_router *routes, unsigned cpu_max_ms, mb_err *err);

/* Match method + path against the platform routes (they win over routes.lua). Same contract as
 * mb_router_match. */
mb_route_result mb_tenant_api_match(const mb_tenant_api *t, mb_cur method, mb_cur path,
                                    mb_route_match *m);
/* True when rt is one of the platform routes (dispatch it with mb_tenant_api_dispatch). */
bool mb_tenant_api_owns(const mb_tenant_api *t, const mb_route *rt);

/* Run the platform route rt for the request table at req_idx (authenticated: req.user is set,
 * the services carry the tenant). Like mb_lua_host_call: on MB_LUA_OK a response table is
 * pushed [-0, +1] (API errors such as 400/404/409 are responses too); otherwise, for a tenant
 * handler that failed, nothing is pushed and res says why. */
mb_lua_outcome mb_tenant_api_dispatch(mb_tenant_api *t, mb_lua_host *host, const mb_route *rt,
                                      int req_idx, mb_lua_result *res);

#endif
