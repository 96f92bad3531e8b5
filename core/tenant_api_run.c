/* tenant_api_run.c - /t/{name}: run a tenant's live handler, through this process's chunk cache
 * (compiled chunks in the registry, keyed by tenant and name, trusted for
 * MB_TENANT_POINTER_TTL_MS before the live pointer is read again). See core/tenant_api_call.h. */
#include <lauxlib.h>

#include "moonbase/clock.h"
#include "moonbase/emf.h"
#include "moonbase/lua_api.h"
#include "moonbase/tenant_api.h"
#include "moonbase/tenant_store.h"
#include "tenant_api_call.h"

/* Registry key of the chunk cache: {["<tenant>\n<name>"] = {fn = chunk, v = version, t = ms}}. */
static const char s_key_cache = 'k';

/* Push the cache table (created on first use) and the key of (tenant, name). [-0, +2, m] */
static void s_cache_push(mb_tenant_api_call *a) {
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
void mb_tenant_api_cache_forget(mb_tenant_api_call *a) {
    s_cache_push(a);
    lua_pushnil(a->L);
    lua_rawset(a->L, -3);
    lua_pop(a->L, 1);
}

/* Store {fn = chunk on the stack top, v = version, t = now} (the chunk stays pushed). When the
 * cache is full it starts over: simpler than LRU, and compiling is cheap next to a read. */
static void s_cache_store(mb_tenant_api_call *a, int64_t version, int64_t now) {
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
static int s_live_chunk(mb_tenant_api_call *a, int *reads, mb_err *err) {
    lua_State *L = a->L;
    int top = lua_gettop(L);
    int64_t now = mb_clock_mono_ns(NULL) / 1000000, cached = 0;
    s_cache_push(a);                       /* stack: cache, key */
    if (lua_rawget(L, -2) == LUA_TTABLE) { /* stack: cache, entry */
        cached = mb_tenant_api_int_field(L, -1, "v");
        if (now - mb_tenant_api_int_field(L, -1, "t") < MB_TENANT_POINTER_TTL_MS) {
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
    int64_t live = lua_istable(L, -1) ? mb_tenant_api_int_field(L, -1, "live") : 0;
    lua_settop(L, top);
    if (live == 0) {
        mb_tenant_api_cache_forget(a);
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
    if (!src || !mb_tenant_api_compile(a, (mb_cur){src, n})) {
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

mb_lua_outcome mb_tenant_api_run(mb_tenant_api_call *a, mb_lua_result *res) {
    lua_State *L = a->L;
    if (!mb_tenant_store_valid_name(a->name)) {
        return mb_tenant_api_error(a, 404, "not_found", "no handler of that name");
    }
    mb_err err = {0};
    int reads = 0;
    int rc = s_live_chunk(a, &reads, &err);
    (void)mb_emf_put(a->svc->emf, MB_CUR_LIT("TenantStoreReads"), reads, MB_CUR_LIT("Count"), NULL);
    if (rc != 0) {
        return mb_tenant_api_store_error(a, rc, &err);
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
