/* tenant_api.c - /tenant/handlers (manage a tenant's handlers) and /t/{name} (run them), see
 * moonbase/tenant_api.h. The records live in tenant_store; tenant code runs through
 * mb_lua_host_call_chunk, so it gets exactly the file handlers' sandbox and limits. This file:
 * the platform routes, dispatch and the checks the other parts share; the API, the runtime and
 * the dry run are in tenant_api_manage.c, _run.c and _dry.c (core/tenant_api_call.h). */
#include "moonbase/tenant_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "moonbase/event.h"
#include "moonbase/log.h"
#include "moonbase/tenant_store.h"
#include "tenant_api_call.h"

typedef enum api_op {
    OP_LIST,
    OP_GET,
    OP_PUT,
    OP_DELETE,
    OP_VERSIONS,
    OP_ROLLBACK,
    OP_TEST,
    OP_RUN,
    OP_COUNT,
} api_op;

/* Route handler names (never files: the platform routes are dispatched here). */
static const char *const s_op_names[OP_COUNT] = {
    "tenant_list",     "tenant_get",      "tenant_put",  "tenant_delete",
    "tenant_versions", "tenant_rollback", "tenant_test", "tenant_run",
};

/* Writes and dry runs need the tenant-admin group (the auth module answers 403 otherwise);
 * reads and /t/ are for every member of the tenant. */
static const char s_routes_src[] =
    "local admin = { '" MB_TENANT_ADMIN_GROUP "' }\n"
    "return {\n"
    "  { 'GET', '/tenant/handlers', 'tenant_list', auth = true },\n"
    "  { 'GET', '/tenant/handlers/{name}', 'tenant_get', auth = true },\n"
    "  { 'PUT', '/tenant/handlers/{name}', 'tenant_put', auth = true, groups = admin },\n"
    "  { 'DELETE', '/tenant/handlers/{name}', 'tenant_delete', auth = true, groups = admin },\n"
    "  { 'GET', '/tenant/handlers/{name}/versions', 'tenant_versions', auth = true },\n"
    "  { 'POST', '/tenant/handlers/{name}/rollback', 'tenant_rollback', auth = true,\n"
    "    groups = admin },\n"
    "  { 'POST', '/tenant/handlers/{name}/test', 'tenant_test', auth = true, groups = admin },\n"
    "  { 'ANY', '/t/{name}', 'tenant_run', auth = true },\n"
    "  { 'ANY', '/t/{name}/{rest+}', 'tenant_run', auth = true },\n"
    "}\n";
mb_tenant_api *mb_tenant_api_new(lua_State *L, mb_err *err) {
    /* Lua first, C memory after: a memory error raised while building the table leaks nothing
     * (mb_router_load raises only before it allocates). */
    if (luaL_loadbufferx(L, s_routes_src, sizeof s_routes_src - 1, "=tenant_routes", "t") !=
        LUA_OK) {
        mb_err_set(err, MB_ERR_CONFIG, "tenant routes: %s", lua_tostring(L, -1));
        lua_pop(L, 1);
        return NULL;
    }
    lua_call(L, 0, 1); /* stack: routes */
    mb_router r;
    int rc = mb_router_load(&r, L, -1, err);
    lua_pop(L, 1);
    if (rc != 0) {
        return NULL;
    }
    mb_tenant_api *t = calloc(1, sizeof *t);
    if (!t) {
        mb_router_cleanup(&r);
        mb_err_set(err, MB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    t->router = r;
    return t;
}

typedef struct load_args {
    mb_lua_host *host;
    mb_lua_services *svc;
    mb_tenant_api **platform;
    mb_router *routes;
    unsigned cpu_max_ms;
    mb_err *err;
} load_args;

/* The body of mb_tenant_api_load_routes, under mb_lua_aux_cpcall. (load_args) -> status
 * [-1, +1, m] */
static int s_load_routes_protected(lua_State *L) {
    load_args *a = lua_touserdata(L, 1);
    if (a->svc) {
        mb_lua_aux_set_services(L, a->svc);
    }
    mb_lua_host_begin(a->host, 0);
    int rc = 0;
    if (!*a->platform && !(*a->platform = mb_tenant_api_new(L, a->err))) {
        rc = a->err ? a->err->status : MB_ERR_NOMEM;
    }
    if (rc == 0) {
        rc = mb_router_load_file(a->routes, a->host, a->cpu_max_ms, a->err);
    }
    mb_lua_host_end(a->host);
    lua_pushinteger(L, rc);
    return 1;
}

int mb_tenant_api_load_routes(mb_lua_host *host, mb_lua_services *svc, mb_tenant_api **platform,
                              mb_router *routes, unsigned cpu_max_ms, mb_err *err) {
    lua_State *L = mb_lua_host_state(host);
    load_args a = {host, svc, platform, routes, cpu_max_ms, err};
    if (mb_lua_aux_cpcall(L, s_load_routes_protected, 0, &a, 1) != LUA_OK) {
        mb_lua_host_end(host);
        lua_pop(L, 1);
        return mb_err_set(err, MB_ERR_NOMEM, "out of memory loading the routes");
    }
    int rc = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    return rc;
}

void mb_tenant_api_free(mb_tenant_api *t) {
    if (!t) {
        return;
    }
    mb_router_cleanup(&t->router);
    free(t);
}

mb_route_result mb_tenant_api_match(const mb_tenant_api *t, mb_cur method, mb_cur path,
                                    mb_route_match *m) {
    return mb_router_match(&t->router, method, path, m);
}

bool mb_tenant_api_owns(const mb_tenant_api *t, const mb_route *rt) {
    return t && rt >= t->router.routes && rt < t->router.routes + t->router.count;
}

/* ---- small helpers ---- */

/* Push an error response {status, body = {error, message, requestId}}. [-0, +1, m] */
mb_lua_outcome mb_tenant_api_error(mb_tenant_api_call *a, int status, const char *code,
                                   const char *message) {
    mb_event_push_error(a->L, status, code, message, a->svc->request_id);
    return MB_LUA_OK;
}

/* Set body[k] = v in the response table on the stack top. [-0, +0, m] */
void mb_tenant_api_error_int(lua_State *L, const char *k, int64_t v) {
    lua_getfield(L, -1, "body");
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, k);
    lua_pop(L, 1);
}

/* Replace the body table on the stack top by a response {status, body}. [-1, +1, m] */
mb_lua_outcome mb_tenant_api_ok(lua_State *L, int status) {
    lua_createtable(L, 0, 2); /* stack: body, resp */
    lua_insert(L, -2);
    lua_setfield(L, -2, "body");
    lua_pushinteger(L, status);
    lua_setfield(L, -2, "status");
    return MB_LUA_OK;
}

void mb_tenant_api_set_cur(lua_State *L, const char *k, mb_cur v) {
    lua_pushlstring(L, v.ptr, v.len);
    lua_setfield(L, -2, k);
}

int64_t mb_tenant_api_int_field(lua_State *L, int t, const char *k) {
    lua_getfield(L, t, k);
    int64_t v = lua_isinteger(L, -1) ? (int64_t)lua_tointeger(L, -1) : 0;
    lua_pop(L, 1);
    return v;
}

/* A store failure as a response; the detail goes to the log only. */
mb_lua_outcome mb_tenant_api_store_error(mb_tenant_api_call *a, int rc, const mb_err *err) {
    mb_log_field f = mb_log_field_str("reason", mb_cur_from_cstr(err->msg));
    switch (rc) {
    case MB_ERR_NOTFOUND:
        return mb_tenant_api_error(a, 404, "not_found", "no handler of that name");
    case MB_ERR_CONFLICT:
        return mb_tenant_api_error(a, 409, "conflict", err->msg);
    case MB_ERR_LIMIT:
        return mb_tenant_api_error(a, 409, "handler_limit", err->msg);
    case MB_ERR_NOMEM:
        return mb_tenant_api_error(a, 500, "internal", "internal error");
    default:
        break;
    }
    mb_log_set_error_type(a->svc->log, MB_CUR_LIT("TenantStoreError"));
    mb_log_write(a->svc->log, MB_LOG_ERROR, "tenant handler store failed", &f, 1);
    if (rc == MB_ERR_UNAVAILABLE || rc == MB_ERR_CONFIG) {
        return mb_tenant_api_error(a, 503, "unavailable", "the database is busy, retry later");
    }
    if (rc == MB_ERR_TIMEOUT) {
        return mb_tenant_api_error(a, 504, "timeout", "the database did not answer in time");
    }
    return mb_tenant_api_error(a, 502, "internal", "the database request failed");
}

/* The request's JSON body if it is an object (index), else 0 after pushing a 400. */
int mb_tenant_api_json_body(mb_tenant_api_call *a) {
    lua_getfield(a->L, a->req, "json"); /* stack: json */
    if (lua_istable(a->L, -1)) {
        return lua_gettop(a->L);
    }
    lua_pop(a->L, 1);
    mb_tenant_api_error(a, 400, "bad_request", "the body must be a JSON object (application/json)");
    return 0;
}

/* The line in "<name>:<line>: ..." at s, or 0 when s does not start that way. */
static long s_line_at(mb_cur name, const char *s) {
    if (strncmp(s, name.ptr, name.len) != 0 || s[name.len] != ':') {
        return 0;
    }
    char *end = NULL;
    long line = strtol(s + name.len + 1, &end, 10);
    return end && *end == ':' && line > 0 ? line : 0;
}

/* The handler's own line in a Lua message or traceback (whose frames follow tabs), or 0. */
long mb_tenant_api_line_of(mb_cur name, const char *msg) {
    long line = s_line_at(name, msg);
    for (const char *p = strchr(msg, '\t'); line == 0 && p; p = strchr(p + 1, '\t')) {
        line = s_line_at(name, p + 1);
    }
    return line;
}

/* Check and compile a handler source: text only, at most 64 KB, valid Lua. Pushes the chunk and
 * returns true, or pushes a 400/413 response and returns false. The chunk name is the handler
 * name, so messages read "hello:3: ..." with the handler's own line numbers. [-0, +1, m] */
bool mb_tenant_api_compile(mb_tenant_api_call *a, mb_cur source) {
    lua_State *L = a->L;
    if (source.len > MB_TENANT_MAX_SOURCE) {
        mb_tenant_api_error(a, 413, "payload_too_large", "a handler source is at most 64 KB");
        return false;
    }
    if (source.len > 0 && source.ptr[0] == LUA_SIGNATURE[0]) {
        mb_tenant_api_error(a, 400, "bad_request",
                            "binary chunks are not accepted: send Lua source text");
        return false;
    }
    if (memchr(source.ptr, '\0', source.len)) {
        mb_tenant_api_error(a, 400, "bad_request",
                            "the source must be text (it contains a NUL byte)");
        return false;
    }
    lua_pushliteral(L, "=");
    lua_pushlstring(L, a->name.ptr, a->name.len);
    lua_concat(L, 2); /* stack: chunkname */
    int rc = luaL_loadbufferx(L, source.ptr, source.len, lua_tostring(L, -1), "t");
    lua_remove(L, -2); /* stack: chunk|message */
    if (rc == LUA_OK) {
        return true;
    }
    if (rc == LUA_ERRMEM) {
        luaL_error(L, "not enough memory"); /* the app's protected call answers 500 */
    }
    const char *msg = lua_tostring(L, -1);
    long line = mb_tenant_api_line_of(a->name, msg);
    mb_event_push_error(L, 400, "syntax", msg, a->svc->request_id); /* stack: msg, resp */
    lua_remove(L, -2);
    mb_tenant_api_error_int(L, "line", line);
    return false;
}

mb_lua_outcome mb_tenant_api_dispatch(mb_tenant_api *t, mb_lua_host *host, const mb_route *rt,
                                      int req_idx, mb_lua_result *res) {
    lua_State *L = mb_lua_host_state(host);
    res->outcome = MB_LUA_OK;
    mb_tenant_api_call a = {.t = t, .host = host, .L = L, .svc = mb_lua_aux_services(L)};
    a.req = lua_absindex(L, req_idx);
    int top = lua_gettop(L);
    lua_getfield(L, a.req, "params"); /* stack: params */
    size_t n = 0;
    const char *name = lua_istable(L, -1) && lua_getfield(L, -1, "name") == LUA_TSTRING
                           ? lua_tolstring(L, -1, &n)
                           : NULL;
    a.name = (mb_cur){name, n}; /* req.params holds the string for the whole call */
    lua_settop(L, top);
    api_op op = OP_COUNT;
    for (int i = 0; i < OP_COUNT; i++) {
        if (strcmp(rt->handler, s_op_names[i]) == 0) {
            op = (api_op)i;
        }
    }
    mb_err err = {0};
    if (a.svc->tenant.len == 0) {
        return mb_tenant_api_error(&a, 403, "forbidden", "no tenant in this token");
    }
    err = a.svc->ddb_err; /* why there is no client, when there is none */
    a.store = (mb_tenant_store){a.svc->ddb, a.svc->cfg ? a.svc->cfg->table_name : NULL,
                                a.svc->tenant, a.svc->deadline_ms};
    if (!a.store.ddb || !a.store.table) {
        return mb_tenant_api_store_error(&a, MB_ERR_CONFIG, &err);
    }
    if (op == OP_RUN) {
        return mb_tenant_api_run(&a, res);
    }
    if (op != OP_LIST && !mb_tenant_store_valid_name(a.name)) {
        return mb_tenant_api_error(
            &a, 400, "bad_request",
            "handler names are 1-40 of a-z, 0-9 and '-', starting with a letter or "
            "digit");
    }
    switch (op) {
    case OP_LIST:
        return mb_tenant_api_list(&a);
    case OP_GET:
        return mb_tenant_api_get(&a);
    case OP_PUT:
        return mb_tenant_api_put(&a);
    case OP_DELETE:
        return mb_tenant_api_delete(&a);
    case OP_VERSIONS:
        return mb_tenant_api_versions(&a);
    case OP_ROLLBACK:
        return mb_tenant_api_rollback(&a);
    case OP_TEST:
        return mb_tenant_api_test(&a, res);
    default:
        return mb_tenant_api_error(&a, 404, "not_found", "no route matches this path");
    }
}
