/* moonbase/lua_api.h - the `ctx` table handed to every Lua handler, composed from one injector
 * per API area (core/lua_<area>.c), as OpenResty composes `ngx` from ngx_http_lua_inject_*_api.
 * lua_api is only the composer: the value model, the fail object, the services registry and the
 * protected call are lua_aux's (moonbase/lua_aux.h), which the bindings use directly, so no
 * binding includes this header and nothing below it does.
 * Ownership: the services struct is owned by the caller (the app) and must outlive every call
 * into Lua; its pointer lives in the Lua registry, never in a C global. One invocation at a time.
 */
#ifndef MOONBASE_LUA_API_H
#define MOONBASE_LUA_API_H

#include <lua.h>

#include "moonbase/lua_aux.h"

/* Push a fresh ctx table for one invocation: ctx.fail, ctx.log, ctx.metric, ctx.db, ctx.now...
 * A fresh table per request means a handler that overwrites ctx.db cannot affect the next
 * request or tenant. [-0, +1, m] */
void mb_lua_open_api(lua_State *L);

/* Injectors: each sets its fields in the table on the top of the stack. [-0, +0, m] */
void mb_lua_inject_fail_api(lua_State *L);
void mb_lua_inject_log_api(lua_State *L);
void mb_lua_inject_metric_api(lua_State *L);
void mb_lua_inject_db_api(lua_State *L);   /* ctx.db (core/lua_db*.c) */
void mb_lua_inject_ulid_api(lua_State *L); /* ctx.ulid (core/lua_ulid.c) */
/* ctx.validate(value, schema) (core/lua_validate.c): raises ctx.fail(400) naming the field path
 * ("items[2].title"), returns value when it conforms. Needs ctx.fail already in the table. */
void mb_lua_inject_validate_api(lua_State *L);
/* ctx.secret(name) (core/lua_secret.c): the value of an allow-listed Secrets Manager secret. */
void mb_lua_inject_secret_api(lua_State *L);

#endif
