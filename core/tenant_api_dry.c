/* tenant_api_dry.c - POST /tenant/handlers/{name}/test: run a source (sent, or the saved live
 * one) as a handler without saving it, with ctx.log, ctx.metric and print captured, and answer
 * the response, the logs, the metrics and the usage. See core/tenant_api_call.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "moonbase/clock.h"
#include "moonbase/event.h"
#include "moonbase/json.h"
#include "moonbase/lua_api.h"
#include "moonbase/tenant_api.h"
#include "moonbase/tenant_store.h"
#include "tenant_api_call.h"

/* A dry run returns at most this many log lines and metrics, each message cut at MAX_LOG_TEXT:
 * enough to debug a handler, bounded so a chatty loop cannot build a huge response. */
#define MAX_DRY_ENTRIES 100
#define MAX_LOG_TEXT 2048

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
static void s_dry_ctx(mb_tenant_api_call *a, int logs, int metrics) {
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
static void s_dry_request(mb_tenant_api_call *a, int spec) {
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
    mb_tenant_api_set_cur(L, "name", a->name);
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
    mb_tenant_api_set_cur(L, "request_id", a->svc->request_id);
}

/* The proxy response /t/ would send for the response table on top, decoded back into a table
 * {status, headers, body, isBase64Encoded}; or {error} when the handler's table is invalid.
 * Replaces the top. [-1, +1, m] */
static void s_dry_response(mb_tenant_api_call *a, bool *invalid) {
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
static void s_dry_outcome(mb_tenant_api_call *a, mb_lua_outcome out, const mb_lua_result *res,
                          int result) {
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
        long line = mb_tenant_api_line_of(a->name, res->message.ptr ? res->message.ptr : "");
        if (line == 0 && res->traceback.ptr) {
            line = mb_tenant_api_line_of(a->name, res->traceback.ptr);
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
static mb_lua_outcome s_dry_run(mb_tenant_api_call *a, int spec, mb_lua_result *res) {
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
    return mb_tenant_api_ok(L, 200);
}

mb_lua_outcome mb_tenant_api_test(mb_tenant_api_call *a, mb_lua_result *res) {
    lua_State *L = a->L;
    int body = mb_tenant_api_json_body(a);
    if (!body) {
        return MB_LUA_OK;
    }
    size_t n = 0;
    const char *src =
        lua_getfield(L, body, "source") == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL;
    if (!src) { /* the saved live source */
        mb_err err = {0};
        int rc = mb_tenant_store_get_pointer(&a->store, L, a->name, true, &err);
        int64_t live = rc == 0 && lua_istable(L, -1) ? mb_tenant_api_int_field(L, -1, "live") : 0;
        if (rc == 0 && live) {
            lua_pop(L, 1);
            rc = mb_tenant_store_get_version(&a->store, L, a->name, live, &err);
        }
        if (rc != 0) {
            return mb_tenant_api_store_error(a, rc, &err);
        }
        if (!lua_istable(L, -1) || lua_getfield(L, -1, "source") != LUA_TSTRING) {
            return mb_tenant_api_error(a, 404, "not_found",
                                       "no saved handler of that name: send a source");
        }
        src = lua_tolstring(L, -1, &n);
    }
    int spec = lua_getfield(L, body, "request") == LUA_TTABLE ? lua_gettop(L) : 0;
    if (!mb_tenant_api_compile(a, (mb_cur){src, n})) {
        return MB_LUA_OK;
    }
    mb_lua_outcome out = s_dry_run(a, spec, res);
    lua_replace(L, body);
    lua_settop(L, body);
    return out;
}
