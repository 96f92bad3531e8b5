/* tenant_api.c - /tenant/handlers (manage a tenant's handlers) and /t/{name} (run them), see
 * moonbase/tenant_api.h. The records live in tenant_store; tenant code runs through
 * mb_lua_host_call_chunk, so it gets exactly the file handlers' sandbox and limits. */
#include "moonbase/tenant_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "moonbase/clock.h"
#include "moonbase/emf.h"
#include "moonbase/event.h"
#include "moonbase/json.h"
#include "moonbase/log.h"
#include "moonbase/lua_api.h"
#include "moonbase/tenant_store.h"

/* A dry run returns at most this many log lines and metrics, each message cut at MAX_LOG_TEXT:
 * enough to debug a handler, bounded so a chatty loop cannot build a huge response. */
#define MAX_DRY_ENTRIES 100
#define MAX_LOG_TEXT 2048

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

struct mb_tenant_api {
    mb_router router;
    size_t cache_count; /* entries in the registry's chunk cache */
};

/* Registry key of the chunk cache: {["<tenant>\n<name>"] = {fn = chunk, v = version, t = ms}}. */
static const char s_key_cache = 'k';

/* One API call: what it works on. */
typedef struct api_call {
    mb_tenant_api *t;
    mb_lua_host *host;
    lua_State *L;
    mb_lua_services *svc;
    int req;
    mb_cur name;
    mb_tenant_store store;
} api_call;

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
static mb_lua_outcome s_error(api_call *a, int status, const char *code, const char *message) {
    mb_event_push_error(a->L, status, code, message, a->svc->request_id);
    return MB_LUA_OK;
}

/* Set body[k] = v in the response table on the stack top. [-0, +0, m] */
static void s_error_int(lua_State *L, const char *k, int64_t v) {
    lua_getfield(L, -1, "body");
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, k);
    lua_pop(L, 1);
}

/* Replace the body table on the stack top by a response {status, body}. [-1, +1, m] */
static mb_lua_outcome s_ok(lua_State *L, int status) {
    lua_createtable(L, 0, 2); /* stack: body, resp */
    lua_insert(L, -2);
    lua_setfield(L, -2, "body");
    lua_pushinteger(L, status);
    lua_setfield(L, -2, "status");
    return MB_LUA_OK;
}

static void s_set_cur(lua_State *L, const char *k, mb_cur v) {
    lua_pushlstring(L, v.ptr, v.len);
    lua_setfield(L, -2, k);
}

/* Copy the listed fields of the table at src into the table on the stack top. */
static void s_copy_fields(lua_State *L, int src, const char *const *fields) {
    for (; *fields; fields++) {
        lua_getfield(L, src, *fields);
        lua_setfield(L, -2, *fields);
    }
}

static int64_t s_int_field(lua_State *L, int t, const char *k) {
    lua_getfield(L, t, k);
    int64_t v = lua_isinteger(L, -1) ? (int64_t)lua_tointeger(L, -1) : 0;
    lua_pop(L, 1);
    return v;
}

/* A store failure as a response; the detail goes to the log only. */
static mb_lua_outcome s_store_error(api_call *a, int rc, const mb_err *err) {
    mb_log_field f = mb_log_field_str("reason", mb_cur_from_cstr(err->msg));
    switch (rc) {
    case MB_ERR_NOTFOUND:
        return s_error(a, 404, "not_found", "no handler of that name");
    case MB_ERR_CONFLICT:
        return s_error(a, 409, "conflict", err->msg);
    case MB_ERR_LIMIT:
        return s_error(a, 409, "handler_limit", err->msg);
    case MB_ERR_NOMEM:
        return s_error(a, 500, "internal", "internal error");
    default:
        break;
    }
    mb_log_set_error_type(a->svc->log, MB_CUR_LIT("TenantStoreError"));
    mb_log_write(a->svc->log, MB_LOG_ERROR, "tenant handler store failed", &f, 1);
    if (rc == MB_ERR_UNAVAILABLE || rc == MB_ERR_CONFIG) {
        return s_error(a, 503, "unavailable", "the database is busy, retry later");
    }
    if (rc == MB_ERR_TIMEOUT) {
        return s_error(a, 504, "timeout", "the database did not answer in time");
    }
    return s_error(a, 502, "internal", "the database request failed");
}

/* The request's JSON body if it is an object (index), else 0 after pushing a 400. */
static int s_json_body(api_call *a) {
    lua_getfield(a->L, a->req, "json"); /* stack: json */
    if (lua_istable(a->L, -1)) {
        return lua_gettop(a->L);
    }
    lua_pop(a->L, 1);
    s_error(a, 400, "bad_request", "the body must be a JSON object (application/json)");
    return 0;
}

/* An optional integer field of the object at t: *out, or def when absent or null. False (and a
 * 400 pushed) when present but not an integer >= min. */
static bool s_opt_int(api_call *a, int t, const char *k, int64_t min, int64_t def, int64_t *out) {
    lua_State *L = a->L;
    int type = lua_getfield(L, t, k);
    *out = def;
    bool ok = true;
    if (type == LUA_TNUMBER && lua_isinteger(L, -1) && lua_tointeger(L, -1) >= min) {
        *out = (int64_t)lua_tointeger(L, -1);
    } else if (type != LUA_TNIL && type != LUA_TLIGHTUSERDATA) { /* json.null */
        ok = false;
    }
    lua_pop(L, 1);
    if (!ok) {
        char msg[96];
        snprintf(msg, sizeof msg, "%s must be an integer >= %lld", k, (long long)min);
        s_error(a, 400, "bad_request", msg);
    }
    return ok;
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
static long s_line_of(mb_cur name, const char *msg) {
    long line = s_line_at(name, msg);
    for (const char *p = strchr(msg, '\t'); line == 0 && p; p = strchr(p + 1, '\t')) {
        line = s_line_at(name, p + 1);
    }
    return line;
}

/* Check and compile a handler source: text only, at most 64 KB, valid Lua. Pushes the chunk and
 * returns true, or pushes a 400/413 response and returns false. The chunk name is the handler
 * name, so messages read "hello:3: ..." with the handler's own line numbers. [-0, +1, m] */
static bool s_compile(api_call *a, mb_cur source) {
    lua_State *L = a->L;
    if (source.len > MB_TENANT_MAX_SOURCE) {
        s_error(a, 413, "payload_too_large", "a handler source is at most 64 KB");
        return false;
    }
    if (source.len > 0 && source.ptr[0] == LUA_SIGNATURE[0]) {
        s_error(a, 400, "bad_request", "binary chunks are not accepted: send Lua source text");
        return false;
    }
    if (memchr(source.ptr, '\0', source.len)) {
        s_error(a, 400, "bad_request", "the source must be text (it contains a NUL byte)");
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
    long line = s_line_of(a->name, msg);
    mb_event_push_error(L, 400, "syntax", msg, a->svc->request_id); /* stack: msg, resp */
    lua_remove(L, -2);
    s_error_int(L, "line", line);
    return false;
}

/* ---- the chunk cache ---- */

/* Push the cache table (created on first use) and the key of (tenant, name). [-0, +2, m] */
static void s_cache_push(api_call *a) {
    lua_State *L = a->L;
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &s_key_cache) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &s_key_cache);
        a->t->cache_count = 0;
    }
    /* Names never contain '\n', so splitting at the last one is unambiguous. */
    lua_pushlstring(L, a->svc->tenant.ptr, a->svc->tenant.len);
    lua_pushliteral(L, "\n");
    lua_pushlstring(L, a->name.ptr, a->name.len);
    lua_concat(L, 3); /* stack: cache, key */
}

/* Drop this process's entry for (tenant, name): a deploy made here is seen here at once. */
static void s_cache_forget(api_call *a) {
    s_cache_push(a);
    lua_pushnil(a->L);
    lua_rawset(a->L, -3);
    lua_pop(a->L, 1);
}

/* Store {fn = chunk on the stack top, v = version, t = now} (the chunk stays pushed). When the
 * cache is full it starts over: simpler than LRU, and compiling is cheap next to a read. */
static void s_cache_store(api_call *a, int64_t version, int64_t now) {
    lua_State *L = a->L;
    int chunk = lua_gettop(L);
    if (a->t->cache_count >= MB_TENANT_CACHE_MAX) {
        lua_pushnil(L);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &s_key_cache);
    }
    s_cache_push(a);          /* stack: chunk, cache, key */
    lua_createtable(L, 0, 3); /* stack: chunk, cache, key, entry */
    lua_pushvalue(L, chunk);
    lua_setfield(L, -2, "fn");
    lua_pushinteger(L, (lua_Integer)version);
    lua_setfield(L, -2, "v");
    lua_pushinteger(L, (lua_Integer)now);
    lua_setfield(L, -2, "t");
    lua_rawset(L, -3);
    lua_pop(L, 1);
    a->t->cache_count++;
}

/* Push the chunk of the live version of (tenant, name), reading the pointer when this
 * process's copy is older than MB_TENANT_POINTER_TTL_MS and the version only when it changed.
 * Returns 0 [-0, +1], MB_ERR_NOTFOUND [-0, +0], or a store error [-0, +0]. */
static int s_live_chunk(api_call *a, int *reads, mb_err *err) {
    lua_State *L = a->L;
    int top = lua_gettop(L);
    int64_t now = mb_clock_mono_ns(NULL) / 1000000, cached = 0;
    s_cache_push(a);                       /* stack: cache, key */
    if (lua_rawget(L, -2) == LUA_TTABLE) { /* stack: cache, entry */
        cached = s_int_field(L, -1, "v");
        if (now - s_int_field(L, -1, "t") < MB_TENANT_POINTER_TTL_MS) {
            lua_getfield(L, -1, "fn");
            lua_replace(L, top + 1);
            lua_settop(L, top + 1); /* stack: chunk */
            return 0;
        }
    }
    lua_settop(L, top);
    (*reads)++;
    int rc = mb_tenant_store_get_pointer(&a->store, L, a->name, true, err);
    if (rc != 0) {
        return rc;
    }
    int64_t live = lua_istable(L, -1) ? s_int_field(L, -1, "live") : 0;
    lua_settop(L, top);
    if (live == 0) {
        s_cache_forget(a);
        return MB_ERR_NOTFOUND;
    }
    if (live == cached) { /* unchanged: trust it for another TTL */
        s_cache_push(a);
        lua_rawget(L, -2); /* stack: cache, entry */
        lua_pushinteger(L, (lua_Integer)now);
        lua_setfield(L, -2, "t");
        lua_getfield(L, -1, "fn");
        lua_replace(L, top + 1);
        lua_settop(L, top + 1); /* stack: chunk */
        return 0;
    }
    (*reads)++;
    if ((rc = mb_tenant_store_get_version(&a->store, L, a->name, live, err)) != 0) {
        return rc;
    }
    size_t n = 0;
    const char *src = NULL; /* stack: version, source? */
    if (lua_istable(L, -1) && lua_getfield(L, -1, "source") == LUA_TSTRING) {
        src = lua_tolstring(L, -1, &n);
    }
    /* Saved sources were compiled on save: failing here means the record was damaged. */
    if (!src || !s_compile(a, (mb_cur){src, n})) {
        lua_settop(L, top);
        return mb_err_set(err, MB_ERR_UPSTREAM, "live version %lld is not loadable",
                          (long long)live);
    }
    lua_replace(L, top + 1);
    lua_settop(L, top + 1); /* stack: chunk */
    s_cache_store(a, live, now);
    return 0;
}

/* ---- /t/{name} ---- */

static mb_lua_outcome s_run(api_call *a, mb_lua_result *res) {
    lua_State *L = a->L;
    if (!mb_tenant_store_valid_name(a->name)) {
        return s_error(a, 404, "not_found", "no handler of that name");
    }
    mb_err err = {0};
    int reads = 0;
    int rc = s_live_chunk(a, &reads, &err);
    (void)mb_emf_put(a->svc->emf, MB_CUR_LIT("TenantStoreReads"), reads, MB_CUR_LIT("Count"), NULL);
    if (rc != 0) {
        return s_store_error(a, rc, &err);
    }
    int chunk = lua_gettop(L);
    a->svc->db_namespace = MB_CUR_LIT(MB_TENANT_DB_NAMESPACE);
    a->svc->tenant_code = true;
    mb_lua_open_api(L); /* stack: chunk, ctx */
    mb_lua_outcome out = mb_lua_host_call_chunk(a->host, chunk, a->name.ptr, a->req, -1, res);
    a->svc->db_namespace = (mb_cur){0};
    a->svc->tenant_code = false;
    if (out == MB_LUA_OK) { /* stack: chunk, ctx, response */
        lua_replace(L, chunk);
        lua_pop(L, 1);
    } else {
        lua_pop(L, 2);
    }
    return out;
}

/* ---- the API ---- */

static const char *const s_list_fields[] = {"name", "updatedAt", "size", "sha256", NULL};
static const char *const s_version_fields[] = {"size",      "sha256",         "author",
                                               "createdAt", "rolledBackFrom", NULL};

static mb_lua_outcome s_list(api_call *a) {
    lua_State *L = a->L;
    mb_err err = {0};
    int rc = mb_tenant_store_list(&a->store, L, &err);
    if (rc != 0) {
        return s_store_error(a, rc, &err);
    }
    int items = lua_gettop(L);
    lua_Integer n = (lua_Integer)lua_rawlen(L, items);
    lua_createtable(L, (int)n, 0); /* stack: items, list */
    luaL_setmetatable(L, MB_LUA_ARRAY_MT);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, items, i); /* stack: items, list, ptr */
        lua_createtable(L, 0, 5);
        s_copy_fields(L, lua_gettop(L) - 1, s_list_fields);
        lua_getfield(L, -2, "live");
        lua_setfield(L, -2, "version");
        lua_rawseti(L, items + 1, i);
        lua_pop(L, 1);
    }
    lua_createtable(L, 0, 2); /* stack: items, list, body */
    lua_insert(L, -2);
    lua_setfield(L, -2, "handlers");
    lua_pushinteger(L, MB_TENANT_MAX_HANDLERS);
    lua_setfield(L, -2, "limit");
    lua_remove(L, items);
    return s_ok(L, 200);
}

/* Parse ?version=N (digits only). 0 when absent, -1 when malformed. [-0, +0, m] */
static int64_t s_query_version(api_call *a) {
    lua_State *L = a->L;
    int top = lua_gettop(L);
    const char *v = NULL;
    if (lua_getfield(L, a->req, "query") == LUA_TTABLE &&
        lua_getfield(L, -1, "version") == LUA_TSTRING) {
        v = lua_tostring(L, -1);
    }
    int64_t out = 0;
    if (v) {
        size_t len = strlen(v);
        out = len == 0 || len > 10 || strspn(v, "0123456789") != len ? -1 : strtoll(v, NULL, 10);
    }
    lua_settop(L, top);
    return out;
}

static mb_lua_outcome s_get(api_call *a) {
    lua_State *L = a->L;
    int top = lua_gettop(L);
    int64_t want = s_query_version(a);
    if (want < 0) {
        return s_error(a, 400, "bad_request", "version must be a positive integer");
    }
    mb_err err = {0};
    int rc = mb_tenant_store_get_pointer(&a->store, L, a->name, true, &err);
    if (rc != 0) {
        return s_store_error(a, rc, &err);
    }
    int ptr = lua_gettop(L);
    int64_t live = lua_istable(L, ptr) ? s_int_field(L, ptr, "live") : 0;
    int64_t latest = lua_istable(L, ptr) ? s_int_field(L, ptr, "latest") : 0;
    int64_t v = want ? want : live;
    if (v == 0 || v > latest) {
        lua_settop(L, top);
        return s_error(a, 404, "not_found", want ? "no such version" : "no handler of that name");
    }
    if ((rc = mb_tenant_store_get_version(&a->store, L, a->name, v, &err)) != 0) {
        lua_settop(L, top);
        return s_store_error(a, rc, &err);
    }
    if (!lua_istable(L, -1)) {
        lua_settop(L, top);
        return s_error(a, 404, "not_found", "no such version");
    }
    int ver = lua_gettop(L);
    lua_createtable(L, 0, 10); /* stack: ptr, ver, body */
    s_set_cur(L, "name", a->name);
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, "version");
    if (live) {
        lua_pushinteger(L, (lua_Integer)live);
        lua_setfield(L, -2, "live");
    }
    lua_getfield(L, ver, "source");
    lua_setfield(L, -2, "source");
    s_copy_fields(L, ver, s_version_fields);
    lua_replace(L, top + 1);
    lua_settop(L, top + 1);
    return s_ok(L, 200);
}

static mb_lua_outcome s_versions(api_call *a) {
    lua_State *L = a->L;
    int top = lua_gettop(L);
    mb_err err = {0};
    int rc = mb_tenant_store_get_pointer(&a->store, L, a->name, true, &err);
    if (rc != 0) {
        return s_store_error(a, rc, &err);
    }
    if (!lua_istable(L, -1)) {
        lua_settop(L, top);
        return s_error(a, 404, "not_found", "no handler of that name");
    }
    int64_t live = s_int_field(L, -1, "live");
    if ((rc = mb_tenant_store_versions(&a->store, L, a->name, &err)) != 0) {
        lua_settop(L, top);
        return s_store_error(a, rc, &err);
    }
    lua_createtable(L, 0, 3); /* stack: ptr, versions, body */
    lua_insert(L, -2);
    lua_setfield(L, -2, "versions");
    s_set_cur(L, "name", a->name);
    if (live) {
        lua_pushinteger(L, (lua_Integer)live);
        lua_setfield(L, -2, "live");
    }
    lua_replace(L, top + 1);
    lua_settop(L, top + 1);
    return s_ok(L, 200);
}

/* Deploy source (checked and compiled first) and answer {name, version}. */
static mb_lua_outcome s_deploy(api_call *a, mb_cur source, int64_t expected, int64_t from) {
    lua_State *L = a->L;
    if (!s_compile(a, source)) {
        return MB_LUA_OK; /* the 400/413 response is pushed */
    }
    lua_pop(L, 1); /* compile-on-save only: /t/ compiles its own copy per process */
    mb_tenant_deploy d = {a->name, source, a->svc->user_sub, expected, from};
    int64_t version = 0, current = 0;
    mb_err err = {0};
    int rc = mb_tenant_store_deploy(&a->store, L, &d, &version, &current, &err);
    if (rc == MB_ERR_CONFLICT) {
        s_error(a, 409, "conflict", err.msg);
        s_error_int(L, "currentVersion", current);
        return MB_LUA_OK;
    }
    if (rc != 0) {
        return s_store_error(a, rc, &err);
    }
    s_cache_forget(a);
    lua_createtable(L, 0, 4);
    s_set_cur(L, "name", a->name);
    lua_pushinteger(L, (lua_Integer)version);
    lua_setfield(L, -2, "version");
    lua_pushinteger(L, (lua_Integer)source.len);
    lua_setfield(L, -2, "size");
    if (from) {
        lua_pushinteger(L, (lua_Integer)from);
        lua_setfield(L, -2, "rolledBackFrom");
    }
    return s_ok(L, 200);
}

static mb_lua_outcome s_put(api_call *a) {
    lua_State *L = a->L;
    int body = s_json_body(a);
    int64_t expected;
    if (!body || !s_opt_int(a, body, "expectedVersion", 0, -1, &expected)) {
        return MB_LUA_OK;
    }
    size_t n = 0;
    const char *src =
        lua_getfield(L, body, "source") == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL;
    if (!src) {
        return s_error(a, 400, "bad_request", "source must be a string of Lua source");
    }
    mb_lua_outcome out = s_deploy(a, (mb_cur){src, n}, expected, 0);
    lua_replace(L, body); /* stack: response (source and body were referenced until here) */
    lua_settop(L, body);
    return out;
}

static mb_lua_outcome s_rollback(api_call *a) {
    lua_State *L = a->L;
    int body = s_json_body(a);
    int64_t version, expected;
    if (!body || !s_opt_int(a, body, "version", 1, 0, &version) ||
        !s_opt_int(a, body, "expectedVersion", 0, -1, &expected)) {
        return MB_LUA_OK;
    }
    if (version == 0) {
        return s_error(a, 400, "bad_request", "version (the one to make live) is required");
    }
    mb_err err = {0};
    int rc = mb_tenant_store_get_version(&a->store, L, a->name, version, &err);
    if (rc != 0) {
        return s_store_error(a, rc, &err);
    }
    size_t n = 0;
    const char *src = lua_istable(L, -1) && lua_getfield(L, -1, "source") == LUA_TSTRING
                          ? lua_tolstring(L, -1, &n)
                          : NULL;
    if (!src) {
        return s_error(a, 404, "not_found", "no such version");
    }
    mb_lua_outcome out = s_deploy(a, (mb_cur){src, n}, expected, version);
    lua_replace(L, body);
    lua_settop(L, body);
    return out;
}

static mb_lua_outcome s_delete(api_call *a) {
    mb_err err = {0};
    int rc = mb_tenant_store_delete(&a->store, a->L, a->name, &err);
    if (rc != 0) {
        return s_store_error(a, rc, &err);
    }
    s_cache_forget(a);
    lua_createtable(a->L, 0, 2);
    s_set_cur(a->L, "name", a->name);
    lua_pushboolean(a->L, 1);
    lua_setfield(a->L, -2, "deleted");
    return s_ok(a->L, 200);
}

/* ---- dry run ---- */

/* Append {level, message [, fields]} to the capture list (upvalue 1) unless it is full. */
static void s_capture(lua_State *L, const char *level, int msg, int fields) {
    int list = lua_upvalueindex(1);
    lua_Integer n = (lua_Integer)lua_rawlen(L, list);
    if (n >= MAX_DRY_ENTRIES) {
        return;
    }
    lua_createtable(L, 0, 3);
    lua_pushstring(L, level);
    lua_setfield(L, -2, "level");
    size_t len = 0;
    const char *s = lua_tolstring(L, msg, &len);
    lua_pushlstring(L, s, len > MAX_LOG_TEXT ? MAX_LOG_TEXT : len);
    lua_setfield(L, -2, "message");
    if (fields && lua_istable(L, fields)) { /* scalars only: the result must encode as JSON */
        lua_newtable(L);
        lua_pushnil(L);
        while (lua_next(L, fields)) {
            int t = lua_type(L, -1);
            if (lua_type(L, -2) == LUA_TSTRING &&
                (t == LUA_TSTRING || t == LUA_TNUMBER || t == LUA_TBOOLEAN)) {
                lua_pushvalue(L, -2);
                lua_insert(L, -2);
                lua_rawset(L, -4);
            } else {
                lua_pop(L, 1);
            }
        }
        lua_setfield(L, -2, "fields");
    }
    lua_rawseti(L, list, n + 1);
}

/* ctx.log.<level>(message [, fields]) in a dry run: captured. Upvalues: list, level. */
static int s_dry_log(lua_State *L) {
    luaL_checklstring(L, 1, NULL);
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
    }
    s_capture(L, lua_tostring(L, lua_upvalueindex(2)), 1, 2);
    return 0;
}

/* print(...) in a dry run: one "print" line, arguments joined by tabs. Upvalue: list. */
static int s_dry_print(lua_State *L) {
    mb_lua_host_push_print_text(L);
    s_capture(L, "print", lua_gettop(L), 0);
    return 0;
}

/* ctx.metric(name, value [, unit]) in a dry run: captured. Upvalue: list. */
static int s_dry_metric(lua_State *L) {
    luaL_checkstring(L, 1);
    luaL_checknumber(L, 2);
    int list = lua_upvalueindex(1);
    lua_Integer n = (lua_Integer)lua_rawlen(L, list);
    if (n < MAX_DRY_ENTRIES) {
        lua_createtable(L, 0, 3);
        lua_pushvalue(L, 1);
        lua_setfield(L, -2, "name");
        lua_pushvalue(L, 2);
        lua_setfield(L, -2, "value");
        lua_pushstring(L, luaL_optstring(L, 3, "None"));
        lua_setfield(L, -2, "unit");
        lua_rawseti(L, list, n + 1);
    }
    return 0;
}

/* Replace ctx.log, ctx.metric and the environment's print by capturing versions. Stack: logs,
 * metrics, ctx on top. [-0, +0, m] */
static void s_dry_ctx(api_call *a, int logs, int metrics) {
    lua_State *L = a->L;
    static const char *const levels[] = {"debug", "info", "warn", "error", NULL};
    lua_createtable(L, 0, 4); /* stack: ..., ctx, log */
    for (int i = 0; levels[i]; i++) {
        lua_pushvalue(L, logs);
        lua_pushstring(L, levels[i]);
        lua_pushcclosure(L, s_dry_log, 2);
        lua_setfield(L, -2, levels[i]);
    }
    lua_setfield(L, -2, "log");
    lua_pushvalue(L, metrics);
    lua_pushcclosure(L, s_dry_metric, 1);
    lua_setfield(L, -2, "metric");
    mb_lua_host_push_env(a->host); /* stack: ..., ctx, env */
    lua_pushvalue(L, logs);
    lua_pushcclosure(L, s_dry_print, 1);
    lua_setfield(L, -2, "print");
    lua_pop(L, 1);
}

/* Copy the string-keyed scalar members of spec[field] into a new table set as r[field], keys
 * lower-cased when lower. [-0, +0, m] */
static void s_copy_map(lua_State *L, int spec, int r, const char *field, bool lower) {
    lua_newtable(L);                                          /* stack: map */
    if (spec && lua_getfield(L, spec, field) == LUA_TTABLE) { /* stack: map, src */
        lua_pushnil(L);
        while (lua_next(L, -2)) { /* stack: map, src, k, v */
            if (lua_type(L, -2) == LUA_TSTRING &&
                (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER)) {
                size_t kn;
                const char *k = lua_tolstring(L, -2, &kn);
                luaL_Buffer b;
                char *p = luaL_buffinitsize(L, &b, kn);
                for (size_t i = 0; i < kn; i++) {
                    p[i] = lower && k[i] >= 'A' && k[i] <= 'Z' ? (char)(k[i] + 32) : k[i];
                }
                luaL_pushresultsize(&b, kn);            /* stack: map, src, k, v, key */
                lua_pushstring(L, lua_tostring(L, -2)); /* stack: ..., key, value */
                lua_rawset(L, -6);
            }
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    } else if (spec) {
        lua_pop(L, 1);
    }
    lua_setfield(L, r, field);
}

/* Push the request table of a dry run from the spec {method, path, query, headers, body} at
 * spec (0: none), shaped like the one /t/ would build; user is the caller's. [-0, +1, m] */
static void s_dry_request(api_call *a, int spec) {
    lua_State *L = a->L;
    lua_createtable(L, 0, 12); /* stack: r */
    int r = lua_gettop(L);
    const char *method = NULL, *path = NULL;
    if (spec && lua_getfield(L, spec, "method") == LUA_TSTRING) {
        method = lua_tostring(L, -1);
    }
    if (spec) {
        lua_pop(L, 1);
    }
    char m[16] = "GET";
    for (size_t i = 0; method && method[i] && i + 1 < sizeof m; i++) {
        m[i] = method[i] >= 'a' && method[i] <= 'z' ? (char)(method[i] - 32) : method[i];
        m[i + 1] = '\0';
    }
    lua_pushstring(L, m);
    lua_setfield(L, r, "method");
    if (spec && lua_getfield(L, spec, "path") == LUA_TSTRING && lua_tostring(L, -1)[0] == '/') {
        path = lua_tostring(L, -1);
    }
    if (spec) {
        lua_pop(L, 1);
    }
    lua_pushliteral(L, "/t/");
    lua_pushlstring(L, a->name.ptr, a->name.len);
    lua_concat(L, 2); /* stack: r, default path */
    const char *def = lua_tostring(L, -1);
    size_t dl = strlen(def);
    lua_pushstring(L, path ? path : def);
    lua_setfield(L, r, "path");
    lua_createtable(L, 0, 2); /* params: name, and rest when the path goes below /t/<name>/ */
    s_set_cur(L, "name", a->name);
    if (path && strncmp(path, def, dl) == 0 && path[dl] == '/' && path[dl + 1]) {
        lua_pushstring(L, path + dl + 1);
        lua_setfield(L, -2, "rest");
    }
    lua_setfield(L, r, "params");
    lua_pop(L, 1); /* the default path */
    s_copy_map(L, spec, r, "query", false);
    s_copy_map(L, spec, r, "headers", true);
    lua_newtable(L);
    lua_setfield(L, r, "cookies");
    int bt = spec ? lua_getfield(L, spec, "body") : LUA_TNIL; /* stack: r, body? */
    if (bt == LUA_TTABLE) { /* a JSON body: req.json and its text, as the pipeline does */
        mb_buf text = {0};
        mb_err err = {0};
        int rc = mb_json_encode(L, lua_gettop(L), &text, &err);
        lua_pushlstring(L, rc == 0 ? text.ptr : "", rc == 0 ? text.len : 0);
        mb_buf_cleanup(&text);
        lua_setfield(L, r, "body");
        lua_setfield(L, r, "json");
    } else {
        lua_pushstring(L, bt == LUA_TSTRING ? lua_tostring(L, -1) : "");
        lua_setfield(L, r, "body");
        lua_pop(L, spec ? 1 : 0);
    }
    lua_getfield(L, a->req, "user");
    lua_setfield(L, r, "user");
    lua_getfield(L, a->req, "source_ip");
    lua_setfield(L, r, "source_ip");
    s_set_cur(L, "request_id", a->svc->request_id);
}

/* The proxy response /t/ would send for the response table on top, decoded back into a table
 * {status, headers, body, isBase64Encoded}; or {error} when the handler's table is invalid.
 * Replaces the top. [-1, +1, m] */
static void s_dry_response(api_call *a, bool *invalid) {
    lua_State *L = a->L;
    mb_event ev = {.version = 2};
    mb_buf out = {0};
    mb_err err = {0};
    int status = 0;
    int rc = mb_event_encode_response(L, -1, &ev, NULL, 0, &out, &status, &err);
    lua_pop(L, 1);
    *invalid = rc != 0;
    if (rc == 0) {
        rc = mb_json_decode(L, mb_buf_cur(&out), MB_JSON_MAX_DEPTH, &err);
    }
    mb_buf_cleanup(&out);
    if (*invalid || rc != 0) {
        lua_pushstring(L, err.msg);
        return;
    }
    lua_getfield(L, -1, "statusCode"); /* stack: proxy, status */
    lua_setfield(L, -2, "status");
    lua_pushnil(L);
    lua_setfield(L, -2, "statusCode");
}

/* The outcome of the dry run's handler call as the result's `response` or `error` field. */
static void s_dry_outcome(api_call *a, mb_lua_outcome out, const mb_lua_result *res, int result) {
    lua_State *L = a->L;
    bool invalid = false;
    if (out == MB_LUA_FAIL) {
        mb_event_push_error(L, res->status, res->code[0] ? res->code : "error",
                            res->message.ptr ? res->message.ptr : "", a->svc->request_id);
        out = MB_LUA_OK;
    }
    if (out == MB_LUA_OK) {
        s_dry_response(a, &invalid);
        if (!invalid) {
            lua_setfield(L, result, "response");
            return;
        }
    }
    lua_createtable(L, 0, 3); /* stack: [msg], error */
    if (invalid) {
        lua_insert(L, -2);
        lua_setfield(L, -2, "message");
        lua_pushliteral(L, "response");
    } else {
        lua_pushstring(L, res->message.ptr ? res->message.ptr : "error");
        lua_setfield(L, -2, "message");
        long line = s_line_of(a->name, res->message.ptr ? res->message.ptr : "");
        if (line == 0 && res->traceback.ptr) {
            line = s_line_of(a->name, res->traceback.ptr);
        }
        if (line > 0) {
            lua_pushinteger(L, line);
            lua_setfield(L, -2, "line");
        }
        lua_pushstring(L, out == MB_LUA_ERROR ? "runtime" : "limit");
    }
    lua_setfield(L, -2, "type");
    lua_setfield(L, result, "error");
}

/* Run the source on the stack top as a handler without saving it. [-1, +1 (response)] */
static mb_lua_outcome s_dry_run(api_call *a, int spec, mb_lua_result *res) {
    lua_State *L = a->L;
    int chunk = lua_gettop(L);
    lua_createtable(L, 0, 5); /* stack: chunk, result */
    int result = chunk + 1;
    lua_newtable(L);
    luaL_setmetatable(L, MB_LUA_ARRAY_MT);
    lua_newtable(L);
    luaL_setmetatable(L, MB_LUA_ARRAY_MT); /* stack: chunk, result, logs, metrics */
    s_dry_request(a, spec);                /* stack: ..., r */
    a->svc->db_namespace = MB_CUR_LIT(MB_TENANT_DB_NAMESPACE);
    a->svc->tenant_code = true;
    mb_lua_open_api(L); /* stack: ..., r, ctx */
    s_dry_ctx(a, result + 1, result + 2);
    uint64_t i0 = mb_lua_host_instructions(a->host);
    size_t m0 = mb_lua_host_memory(a->host);
    /* usage: the host's own thread-CPU count (what the CPU budget charges) and the monotonic
     * clock, read around the call */
    int64_t c0 = mb_lua_host_cpu_used_ns(a->host), t0 = mb_clock_mono_ns(a->svc->clock);
    mb_lua_outcome out = mb_lua_host_call_chunk(a->host, chunk, a->name.ptr, -2, -1, res);
    int64_t c1 = mb_lua_host_cpu_used_ns(a->host), t1 = mb_clock_mono_ns(a->svc->clock);
    size_t m1 = mb_lua_host_memory(a->host);
    uint64_t i1 = mb_lua_host_instructions(a->host);
    a->svc->db_namespace = (mb_cur){0};
    a->svc->tenant_code = false;
    s_dry_outcome(a, out, res, result); /* pops the response when there is one */
    lua_settop(L, result + 2);
    lua_setfield(L, result, "metrics");
    lua_setfield(L, result, "logs");
    lua_createtable(L, 0, 4); /* stack: chunk, result, usage */
    lua_pushinteger(L, (lua_Integer)(i1 - i0));
    lua_setfield(L, -2, "instructions");
    lua_pushinteger(L, (lua_Integer)(m1 > m0 ? m1 - m0 : 0));
    lua_setfield(L, -2, "memoryBytes");
    lua_pushnumber(L, (double)(c1 - c0) / 1e6);
    lua_setfield(L, -2, "cpuMs");
    lua_pushnumber(L, (double)(t1 - t0) / 1e6);
    lua_setfield(L, -2, "durationMs");
    lua_setfield(L, result, "usage");
    lua_remove(L, chunk);     /* stack: result */
    res->outcome = MB_LUA_OK; /* the handler's failure is the dry run's result, not ours */
    return s_ok(L, 200);
}

static mb_lua_outcome s_test(api_call *a, mb_lua_result *res) {
    lua_State *L = a->L;
    int body = s_json_body(a);
    if (!body) {
        return MB_LUA_OK;
    }
    size_t n = 0;
    const char *src =
        lua_getfield(L, body, "source") == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL;
    if (!src) { /* the saved live source */
        mb_err err = {0};
        int rc = mb_tenant_store_get_pointer(&a->store, L, a->name, true, &err);
        int64_t live = rc == 0 && lua_istable(L, -1) ? s_int_field(L, -1, "live") : 0;
        if (rc == 0 && live) {
            lua_pop(L, 1);
            rc = mb_tenant_store_get_version(&a->store, L, a->name, live, &err);
        }
        if (rc != 0) {
            return s_store_error(a, rc, &err);
        }
        if (!lua_istable(L, -1) || lua_getfield(L, -1, "source") != LUA_TSTRING) {
            return s_error(a, 404, "not_found", "no saved handler of that name: send a source");
        }
        src = lua_tolstring(L, -1, &n);
    }
    int spec = lua_getfield(L, body, "request") == LUA_TTABLE ? lua_gettop(L) : 0;
    if (!s_compile(a, (mb_cur){src, n})) {
        return MB_LUA_OK;
    }
    mb_lua_outcome out = s_dry_run(a, spec, res);
    lua_replace(L, body);
    lua_settop(L, body);
    return out;
}

mb_lua_outcome mb_tenant_api_dispatch(mb_tenant_api *t, mb_lua_host *host, const mb_route *rt,
                                      int req_idx, mb_lua_result *res) {
    lua_State *L = mb_lua_host_state(host);
    res->outcome = MB_LUA_OK;
    api_call a = {.t = t, .host = host, .L = L, .svc = mb_lua_aux_services(L)};
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
        return s_error(&a, 403, "forbidden", "no tenant in this token");
    }
    err = a.svc->ddb_err; /* why there is no client, when there is none */
    a.store = (mb_tenant_store){a.svc->ddb, a.svc->cfg ? a.svc->cfg->table_name : NULL,
                                a.svc->tenant, a.svc->deadline_ms};
    if (!a.store.ddb || !a.store.table) {
        return s_store_error(&a, MB_ERR_CONFIG, &err);
    }
    if (op == OP_RUN) {
        return s_run(&a, res);
    }
    if (op != OP_LIST && !mb_tenant_store_valid_name(a.name)) {
        return s_error(&a, 400, "bad_request",
                       "handler names are 1-40 of a-z, 0-9 and '-', starting with a letter or "
                       "digit");
    }
    switch (op) {
    case OP_LIST:
        return s_list(&a);
    case OP_GET:
        return s_get(&a);
    case OP_PUT:
        return s_put(&a);
    case OP_DELETE:
        return s_delete(&a);
    case OP_VERSIONS:
        return s_versions(&a);
    case OP_ROLLBACK:
        return s_rollback(&a);
    case OP_TEST:
        return s_test(&a, res);
    default:
        return s_error(&a, 404, "not_found", "no route matches this path");
    }
}
