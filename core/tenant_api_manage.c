/* tenant_api_manage.c - the /tenant/handlers API: list, get, versions, put (deploy), rollback
 * and delete a tenant's handlers, each record read or written through tenant_store. See
 * core/tenant_api_call.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "moonbase/lua_aux.h"
#include "moonbase/tenant_api.h"
#include "moonbase/tenant_store.h"
#include "tenant_api_call.h"

/* Copy the listed fields of the table at src into the table on the stack top. */
static void s_copy_fields(lua_State *L, int src, const char *const *fields) {
    for (; *fields; fields++) {
        lua_getfield(L, src, *fields);
        lua_setfield(L, -2, *fields);
    }
}

/* An optional integer field of the object at t: *out, or def when absent or null. False (and a
 * 400 pushed) when present but not an integer >= min. */
static bool s_opt_int(mb_tenant_api_call *a, int t, const char *k, int64_t min, int64_t def,
                      int64_t *out) {
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
        mb_tenant_api_error(a, 400, "bad_request", msg);
    }
    return ok;
}

/* ---- the API ---- */

static const char *const s_list_fields[] = {"name", "updatedAt", "size", "sha256", NULL};
static const char *const s_version_fields[] = {"size",      "sha256",         "author",
                                               "createdAt", "rolledBackFrom", NULL};

mb_lua_outcome mb_tenant_api_list(mb_tenant_api_call *a) {
    lua_State *L = a->L;
    mb_err err = {0};
    int rc = mb_tenant_store_list(&a->store, L, &err);
    if (rc != 0) {
        return mb_tenant_api_store_error(a, rc, &err);
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
    return mb_tenant_api_ok(L, 200);
}

/* Parse ?version=N (digits only). 0 when absent, -1 when malformed. [-0, +0, m] */
static int64_t s_query_version(mb_tenant_api_call *a) {
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

mb_lua_outcome mb_tenant_api_get(mb_tenant_api_call *a) {
    lua_State *L = a->L;
    int top = lua_gettop(L);
    int64_t want = s_query_version(a);
    if (want < 0) {
        return mb_tenant_api_error(a, 400, "bad_request", "version must be a positive integer");
    }
    mb_err err = {0};
    int rc = mb_tenant_store_get_pointer(&a->store, L, a->name, true, &err);
    if (rc != 0) {
        return mb_tenant_api_store_error(a, rc, &err);
    }
    int ptr = lua_gettop(L);
    int64_t live = lua_istable(L, ptr) ? mb_tenant_api_int_field(L, ptr, "live") : 0;
    int64_t latest = lua_istable(L, ptr) ? mb_tenant_api_int_field(L, ptr, "latest") : 0;
    int64_t v = want ? want : live;
    if (v == 0 || v > latest) {
        lua_settop(L, top);
        return mb_tenant_api_error(a, 404, "not_found",
                                   want ? "no such version" : "no handler of that name");
    }
    if ((rc = mb_tenant_store_get_version(&a->store, L, a->name, v, &err)) != 0) {
        lua_settop(L, top);
        return mb_tenant_api_store_error(a, rc, &err);
    }
    if (!lua_istable(L, -1)) {
        lua_settop(L, top);
        return mb_tenant_api_error(a, 404, "not_found", "no such version");
    }
    int ver = lua_gettop(L);
    lua_createtable(L, 0, 10); /* stack: ptr, ver, body */
    mb_tenant_api_set_cur(L, "name", a->name);
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
    return mb_tenant_api_ok(L, 200);
}

mb_lua_outcome mb_tenant_api_versions(mb_tenant_api_call *a) {
    lua_State *L = a->L;
    int top = lua_gettop(L);
    mb_err err = {0};
    int rc = mb_tenant_store_get_pointer(&a->store, L, a->name, true, &err);
    if (rc != 0) {
        return mb_tenant_api_store_error(a, rc, &err);
    }
    if (!lua_istable(L, -1)) {
        lua_settop(L, top);
        return mb_tenant_api_error(a, 404, "not_found", "no handler of that name");
    }
    int64_t live = mb_tenant_api_int_field(L, -1, "live");
    if ((rc = mb_tenant_store_versions(&a->store, L, a->name, &err)) != 0) {
        lua_settop(L, top);
        return mb_tenant_api_store_error(a, rc, &err);
    }
    lua_createtable(L, 0, 3); /* stack: ptr, versions, body */
    lua_insert(L, -2);
    lua_setfield(L, -2, "versions");
    mb_tenant_api_set_cur(L, "name", a->name);
    if (live) {
        lua_pushinteger(L, (lua_Integer)live);
        lua_setfield(L, -2, "live");
    }
    lua_replace(L, top + 1);
    lua_settop(L, top + 1);
    return mb_tenant_api_ok(L, 200);
}

/* Deploy source (checked and compiled first) and answer {name, version}. */
static mb_lua_outcome s_deploy(mb_tenant_api_call *a, mb_cur source, int64_t expected,
                               int64_t from) {
    lua_State *L = a->L;
    if (!mb_tenant_api_compile(a, source)) {
        return MB_LUA_OK; /* the 400/413 response is pushed */
    }
    lua_pop(L, 1); /* compile-on-save only: /t/ compiles its own copy per process */
    mb_tenant_deploy d = {a->name, source, a->svc->user_sub, expected, from};
    int64_t version = 0, current = 0;
    mb_err err = {0};
    int rc = mb_tenant_store_deploy(&a->store, L, &d, &version, &current, &err);
    if (rc == MB_ERR_CONFLICT) {
        mb_tenant_api_error(a, 409, "conflict", err.msg);
        mb_tenant_api_error_int(L, "currentVersion", current);
        return MB_LUA_OK;
    }
    if (rc != 0) {
        return mb_tenant_api_store_error(a, rc, &err);
    }
    mb_tenant_api_cache_forget(a);
    lua_createtable(L, 0, 4);
    mb_tenant_api_set_cur(L, "name", a->name);
    lua_pushinteger(L, (lua_Integer)version);
    lua_setfield(L, -2, "version");
    lua_pushinteger(L, (lua_Integer)source.len);
    lua_setfield(L, -2, "size");
    if (from) {
        lua_pushinteger(L, (lua_Integer)from);
        lua_setfield(L, -2, "rolledBackFrom");
    }
    return mb_tenant_api_ok(L, 200);
}

mb_lua_outcome mb_tenant_api_put(mb_tenant_api_call *a) {
    lua_State *L = a->L;
    int body = mb_tenant_api_json_body(a);
    int64_t expected;
    if (!body || !s_opt_int(a, body, "expectedVersion", 0, -1, &expected)) {
        return MB_LUA_OK;
    }
    size_t n = 0;
    const char *src =
        lua_getfield(L, body, "source") == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL;
    if (!src) {
        return mb_tenant_api_error(a, 400, "bad_request", "source must be a string of Lua source");
    }
    mb_lua_outcome out = s_deploy(a, (mb_cur){src, n}, expected, 0);
    lua_replace(L, body); /* stack: response (source and body were referenced until here) */
    lua_settop(L, body);
    return out;
}

mb_lua_outcome mb_tenant_api_rollback(mb_tenant_api_call *a) {
    lua_State *L = a->L;
    int body = mb_tenant_api_json_body(a);
    int64_t version, expected;
    if (!body || !s_opt_int(a, body, "version", 1, 0, &version) ||
        !s_opt_int(a, body, "expectedVersion", 0, -1, &expected)) {
        return MB_LUA_OK;
    }
    if (version == 0) {
        return mb_tenant_api_error(a, 400, "bad_request",
                                   "version (the one to make live) is required");
    }
    mb_err err = {0};
    int rc = mb_tenant_store_get_version(&a->store, L, a->name, version, &err);
    if (rc != 0) {
        return mb_tenant_api_store_error(a, rc, &err);
    }
    size_t n = 0;
    const char *src = lua_istable(L, -1) && lua_getfield(L, -1, "source") == LUA_TSTRING
                          ? lua_tolstring(L, -1, &n)
                          : NULL;
    if (!src) {
        return mb_tenant_api_error(a, 404, "not_found", "no such version");
    }
    mb_lua_outcome out = s_deploy(a, (mb_cur){src, n}, expected, version);
    lua_replace(L, body);
    lua_settop(L, body);
    return out;
}

mb_lua_outcome mb_tenant_api_delete(mb_tenant_api_call *a) {
    mb_err err = {0};
    int rc = mb_tenant_store_delete(&a->store, a->L, a->name, &err);
    if (rc != 0) {
        return mb_tenant_api_store_error(a, rc, &err);
    }
    mb_tenant_api_cache_forget(a);
    lua_createtable(a->L, 0, 2);
    mb_tenant_api_set_cur(a->L, "name", a->name);
    lua_pushboolean(a->L, 1);
    lua_setfield(a->L, -2, "deleted");
    return mb_tenant_api_ok(a->L, 200);
}
