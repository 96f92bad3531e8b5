/* router.c - routes.lua -> route table, and method + path matching (see moonbase/router.h). */
#include "moonbase/router.h"

#include <stdlib.h>
#include <string.h>

#include "moonbase/text.h"
#include "moonbase/lua_host.h"

static bool s_is_param(mb_cur seg) {
    return seg.len > 2 && seg.ptr[0] == '{' && seg.ptr[seg.len - 1] == '}';
}

/* "{rest+}": a greedy parameter (API Gateway's {proxy+}), one or more segments, last only. */
static bool s_is_greedy(mb_cur seg) {
    return s_is_param(seg) && seg.len > 3 && seg.ptr[seg.len - 2] == '+';
}

/* The parameter's name without braces (and without the '+' of a greedy one). */
static mb_cur s_param_name(mb_cur seg) {
    return (mb_cur){seg.ptr + 1, seg.len - (s_is_greedy(seg) ? 3 : 2)};
}

/* Split a pattern into segment views; validates literal and {param} segments. */
static int s_parse_pattern(mb_route *rt, size_t i, mb_err *err) {
    const char *p = rt->pattern;
    if (p[0] != '/') {
        return mb_err_set(err, MB_ERR_CONFIG, "route %zu: path must start with '/'", i);
    }
    while (*p) {
        while (*p == '/') {
            p++;
        }
        const char *s = p;
        while (*p && *p != '/') {
            p++;
        }
        if (p == s) {
            break;
        }
        if (rt->seg_count == MB_ROUTER_MAX_SEGMENTS) {
            return mb_err_set(err, MB_ERR_CONFIG, "route %zu: too many path segments", i);
        }
        mb_cur seg = {s, (size_t)(p - s)};
        if (rt->greedy) {
            return mb_err_set(err, MB_ERR_CONFIG, "route %zu: a {name+} segment must be the last",
                              i);
        }
        if (s_is_param(seg) && !mb_lua_host_valid_name(s_param_name(seg))) {
            return mb_err_set(err, MB_ERR_CONFIG, "route %zu: bad parameter name in %s", i,
                              rt->pattern);
        }
        if (!s_is_param(seg) && (memchr(s, '{', seg.len) || memchr(s, '}', seg.len))) {
            return mb_err_set(err, MB_ERR_CONFIG, "route %zu: braces must wrap a whole segment", i);
        }
        for (size_t k = 0; s_is_param(seg) && k < rt->seg_count; k++) {
            if (s_is_param(rt->segs[k]) &&
                mb_cur_eq(s_param_name(rt->segs[k]),
                          s_param_name(seg))) { /* req.params could hold only one of them */
                return mb_err_set(err, MB_ERR_CONFIG, "route %zu: parameter %.*s appears twice", i,
                                  (int)(seg.len - 2), seg.ptr + 1);
            }
        }
        rt->literal_count += !s_is_param(seg);
        rt->greedy = s_is_greedy(seg);
        rt->segs[rt->seg_count++] = seg;
    }
    return 0;
}

/* Copy the string at t[k] (raw access: no metamethods run at start-up). */
static int s_field_str(lua_State *L, int t, int k, const char *kname, char **out, size_t i,
                       mb_err *err) {
    int type = k ? lua_rawgeti(L, t, k) : (lua_pushstring(L, kname), lua_rawget(L, t));
    if (type != LUA_TSTRING) {
        lua_pop(L, 1);
        return mb_err_set(err, MB_ERR_CONFIG, "route %zu: %s must be a string", i, kname);
    }
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    bool nul = memchr(s, '\0', len) != NULL;
    *out = nul ? NULL : mb_cur_dup((mb_cur){s, len});
    lua_pop(L, 1);
    if (nul) {
        return mb_err_set(err, MB_ERR_CONFIG, "route %zu: bad %s", i, kname);
    }
    return *out ? 0 : mb_err_set(err, MB_ERR_NOMEM, "route %zu: out of memory", i);
}

static int s_load_groups(lua_State *L, int t, mb_route *rt, size_t i, mb_err *err) {
    lua_pushliteral(L, "groups");
    if (lua_rawget(L, t) != LUA_TTABLE) {
        bool absent = lua_isnil(L, -1);
        lua_pop(L, 1);
        return absent ? 0 : mb_err_set(err, MB_ERR_CONFIG, "route %zu: groups must be a list", i);
    }
    int g = lua_gettop(L);
    size_t n = lua_rawlen(L, g);
    if (n > MB_ROUTER_MAX_GROUPS) {
        lua_pop(L, 1);
        return mb_err_set(err, MB_ERR_CONFIG, "route %zu: too many groups", i);
    }
    for (size_t k = 1; k <= n; k++) {
        int rc = s_field_str(L, g, (int)k, "group", &rt->groups[rt->group_count], i, err);
        if (rc != 0) {
            lua_pop(L, 1);
            return rc;
        }
        rt->group_count++;
    }
    lua_pop(L, 1);
    return 0;
}

/* An optional whole-number option `name` of route i, 1..hi: *out = its value, or 0 when absent.
 * (The name was interned by mb_router_load, so the lookup allocates nothing.) */
static int s_uint_option(lua_State *L, int t, const char *name, lua_Integer hi, unsigned *out,
                         size_t i, mb_err *err) {
    lua_pushstring(L, name);
    int type = lua_rawget(L, t);
    int isint = 0;
    lua_Integer n = lua_tointegerx(L, -1, &isint);
    lua_pop(L, 1);
    *out = 0;
    if (type == LUA_TNIL) {
        return 0;
    }
    if (type != LUA_TNUMBER || !isint || n < 1 || n > hi) {
        return mb_err_set(err, MB_ERR_CONFIG, "route %zu: %s must be an integer from 1 to %lld", i,
                          name, (long long)hi);
    }
    *out = (unsigned)n;
    return 0;
}

/* cpu_ms = N: the handler's CPU-time budget in ms; quota = N: requests per tenant and quota
 * window on this route, which needs auth (the tenant comes from the token). */
static int s_load_limits(lua_State *L, int t, mb_route *rt, size_t i, mb_err *err) {
    int rc = s_uint_option(L, t, "cpu_ms", MB_ROUTER_MAX_CPU_MS, &rt->cpu_ms, i, err);
    if (rc == 0) {
        rc = s_uint_option(L, t, "quota", 1000000000, &rt->quota, i, err);
    }
    if (rc == 0 && rt->quota && !rt->auth) {
        rc = mb_err_set(err, MB_ERR_CONFIG, "route %zu: quota needs auth = true", i);
    }
    return rc;
}

static int s_load_flags(lua_State *L, int t, mb_route *rt, size_t i, mb_err *err) {
    lua_pushliteral(L, "auth");
    int type = lua_rawget(L, t);
    rt->auth = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (type != LUA_TNIL && type != LUA_TBOOLEAN) {
        return mb_err_set(err, MB_ERR_CONFIG, "route %zu: auth must be true or false", i);
    }
    lua_pushliteral(L, "token_use");
    type = lua_rawget(L, t);
    const char *use = type == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    rt->token_use = use && strcmp(use, "id") == 0       ? MB_ROUTE_TOKEN_ID
                    : use && strcmp(use, "access") == 0 ? MB_ROUTE_TOKEN_ACCESS
                                                        : MB_ROUTE_TOKEN_ANY;
    lua_pop(L, 1);
    if (type != LUA_TNIL && rt->token_use == MB_ROUTE_TOKEN_ANY) {
        return mb_err_set(err, MB_ERR_CONFIG, "route %zu: token_use must be \"id\" or \"access\"",
                          i);
    }
    int rc = s_load_groups(L, t, rt, i, err);
    if (rc != 0) {
        return rc;
    }
    if (rt->group_count && !rt->auth) {
        return mb_err_set(err, MB_ERR_CONFIG, "route %zu: groups need auth = true", i);
    }
    return s_load_limits(L, t, rt, i, err);
}

static int s_load_route(lua_State *L, int t, mb_route *rt, size_t i, mb_err *err) {
    int rc;
    if ((rc = s_field_str(L, t, 1, "method", &rt->method, i, err)) != 0 ||
        (rc = s_field_str(L, t, 2, "path", &rt->pattern, i, err)) != 0 ||
        (rc = s_field_str(L, t, 3, "handler", &rt->handler, i, err)) != 0) {
        return rc; /* MB_ERR_CONFIG, or MB_ERR_NOMEM */
    }
    if (!rt->method[0]) {
        return mb_err_set(err, MB_ERR_CONFIG, "route %zu: bad method (empty)", i);
    }
    for (char *c = rt->method; *c; c++) {
        if (*c >= 'a' && *c <= 'z') {
            *c = (char)(*c - 'a' + 'A');
        } else if (*c < 'A' || *c > 'Z') {
            return mb_err_set(err, MB_ERR_CONFIG, "route %zu: bad method", i);
        }
    }
    if (!mb_lua_host_valid_name(mb_cur_from_cstr(rt->handler))) {
        return mb_err_set(err, MB_ERR_CONFIG,
                          "route %zu: handler names are letters, digits and '_'", i);
    }
    if (strlen(rt->pattern) > MB_ROUTER_MAX_PATH) {
        return mb_err_set(err, MB_ERR_CONFIG, "route %zu: path too long", i);
    }
    if (s_parse_pattern(rt, i, err) != 0) {
        return MB_ERR_CONFIG;
    }
    return s_load_flags(L, t, rt, i, err);
}

static bool s_same_route(const mb_route *a, const mb_route *b) {
    if (strcmp(a->method, b->method) != 0 || a->seg_count != b->seg_count ||
        a->greedy != b->greedy) {
        return false;
    }
    for (size_t k = 0; k < a->seg_count; k++) {
        bool pa = s_is_param(a->segs[k]), pb = s_is_param(b->segs[k]);
        if (pa != pb || (!pa && !mb_cur_eq(a->segs[k], b->segs[k]))) {
            return false;
        }
    }
    return true;
}

static int s_load(mb_router *r, lua_State *L, int idx, mb_err *err) {
    if (lua_type(L, idx) != LUA_TTABLE) {
        return mb_err_set(err, MB_ERR_CONFIG, "routes.lua must return a list of routes");
    }
    size_t n = lua_rawlen(L, idx);
    if (n > MB_ROUTER_MAX_ROUTES) {
        return mb_err_set(err, MB_ERR_CONFIG, "routes.lua lists more than %d routes",
                          MB_ROUTER_MAX_ROUTES);
    }
    if (n && !(r->routes = calloc(n, sizeof *r->routes))) {
        return mb_err_set(err, MB_ERR_NOMEM, "out of memory loading routes");
    }
    for (size_t i = 0; i < n; i++) {
        mb_route *rt = &r->routes[r->count++];
        int rc = lua_rawgeti(L, idx, (lua_Integer)i + 1) == LUA_TTABLE
                     ? s_load_route(L, lua_gettop(L), rt, i + 1, err)
                     : mb_err_set(err, MB_ERR_CONFIG, "route %zu must be a table", i + 1);
        lua_pop(L, 1);
        for (size_t k = 0; rc == 0 && k < i; k++) {
            if (s_same_route(&r->routes[k], rt)) {
                rc = mb_err_set(err, MB_ERR_CONFIG, "route %zu duplicates route %zu (%s %s)", i + 1,
                                k + 1, rt->method, rt->pattern);
            }
        }
        if (rc != 0) {
            mb_router_cleanup(r);
            return rc;
        }
    }
    return 0;
}

int mb_router_load(mb_router *r, lua_State *L, int idx, mb_err *err) {
    *r = (mb_router){0};
    idx = lua_absindex(L, idx);
    /* Intern the option names while nothing is held: the lookups in s_load then allocate
     * nothing in Lua, so a Lua memory error cannot strike with routes half-built. */
    lua_pushliteral(L, "auth");
    lua_pushliteral(L, "token_use");
    lua_pushliteral(L, "groups");
    lua_pushliteral(L, "cpu_ms");
    lua_pushliteral(L, "quota"); /* stack: "auth", "token_use", "groups", "cpu_ms", "quota" */
    int rc = s_load(r, L, idx, err);
    lua_pop(L, 5);
    return rc;
}

int mb_router_load_file(mb_router *r, mb_lua_host *host, unsigned cpu_max_ms, mb_err *err) {
    *r = (mb_router){0};
    lua_State *L = mb_lua_host_state(host);
    int rc = mb_lua_host_run_file(host, "routes", err); /* stack: routes */
    if (rc == 0) {
        rc = mb_router_load(r, L, -1, err);
        lua_pop(L, 1);
    }
    for (size_t i = 0; rc == 0 && cpu_max_ms && i < r->count; i++) {
        const mb_route *rt = &r->routes[i];
        if (rt->cpu_ms > cpu_max_ms) {
            rc = mb_err_set(err, MB_ERR_CONFIG,
                            "route %zu (%s %s): cpu_ms %u is above the platform maximum %u "
                            "(MOONBASE_CPU_MAX_MS)",
                            i + 1, rt->method, rt->pattern, rt->cpu_ms, cpu_max_ms);
            mb_router_cleanup(r);
        }
    }
    return rc;
}

void mb_router_cleanup(mb_router *r) {
    if (!r) {
        return;
    }
    for (size_t i = 0; i < r->count; i++) {
        mb_route *rt = &r->routes[i];
        free(rt->method);
        free(rt->pattern);
        free(rt->handler);
        for (size_t g = 0; g < rt->group_count; g++) {
            free(rt->groups[g]);
        }
    }
    free(r->routes);
    *r = (mb_router){0};
}

/* Percent-decode the path into m->scratch and fill segs; false for a malformed/dangerous path.
 * Segments are stored '/'-separated, so a run of them is one view (a greedy parameter). */
static bool s_split_path(mb_cur path, mb_route_match *m, mb_cur *segs, size_t *count) {
    if (path.len == 0 || path.len > MB_ROUTER_MAX_PATH || path.ptr[0] != '/' ||
        mb_buf_reserve(&m->scratch, path.len) != 0) {
        return false;
    }
    char *out = m->scratch.ptr; /* reserved up front: the views below never move */
    size_t i = 0, o = 0;
    *count = 0;
    while (i < path.len) {
        while (i < path.len && path.ptr[i] == '/') {
            i++;
        }
        size_t before = o;
        if (o > 0) {
            out[o++] = '/'; /* the output never outgrows the input: each segment had a '/' */
        }
        size_t start = o, end = i, n = 0;
        while (end < path.len && path.ptr[end] != '/') {
            end++;
        }
        /* decoded per segment: a '/' in the output is an encoded one */
        if (mb_text_pct_decode((mb_cur){path.ptr + i, end - i}, MB_TEXT_PCT_STRICT, out + start,
                               &n) != 0) {
            return false;
        }
        i = end;
        for (size_t k = start; k < start + n; k++) {
            unsigned char c = (unsigned char)out[k];
            if (c < 0x20 || c == 0x7f || c == '/' || c == '\\') {
                return false; /* NUL, control bytes and encoded separators never reach handlers */
            }
        }
        o = start + n;
        mb_cur seg = {out + start, o - start};
        if (seg.len == 0) {
            o = before;
            continue;
        }
        if (mb_cur_eq(seg, MB_CUR_LIT(".")) || mb_cur_eq(seg, MB_CUR_LIT("..")) ||
            *count == MB_ROUTER_MAX_SEGMENTS) {
            return false;
        }
        segs[(*count)++] = seg;
    }
    m->scratch.len = o;
    return true;
}

static bool s_path_matches(const mb_route *rt, const mb_cur *segs, size_t n) {
    if (rt->greedy ? n < rt->seg_count : rt->seg_count != n) {
        return false;
    }
    for (size_t k = 0; k < rt->seg_count; k++) {
        if (!s_is_param(rt->segs[k]) && !mb_cur_eq(rt->segs[k], segs[k])) {
            return false;
        }
    }
    return true;
}

static void s_add_allow(mb_buf *allow, const char *method) {
    mb_cur m = mb_cur_from_cstr(method);
    for (size_t p = 0; p + m.len <= allow->len; p++) {
        if ((p == 0 || allow->ptr[p - 1] == ' ') && memcmp(allow->ptr + p, m.ptr, m.len) == 0 &&
            (p + m.len == allow->len || allow->ptr[p + m.len] == ',')) {
            return;
        }
    }
    (void)(allow->len ? mb_buf_appendf(allow, ", %s", method) : mb_buf_append_cstr(allow, method));
}

mb_route_result mb_router_match(const mb_router *r, mb_cur method, mb_cur path, mb_route_match *m) {
    *m = (mb_route_match){0};
    mb_cur segs[MB_ROUTER_MAX_SEGMENTS];
    size_t n;
    /* Reserve before splitting, so a failed allocation is not mistaken for a bad path. */
    if (path.len <= MB_ROUTER_MAX_PATH && mb_buf_reserve(&m->scratch, path.len) != 0) {
        return MB_ROUTE_NOMEM;
    }
    if (!s_split_path(path, m, segs, &n)) {
        return MB_ROUTE_BAD_PATH;
    }
    const mb_route *best = NULL;
    bool path_known = false;
    for (size_t i = 0; i < r->count; i++) {
        const mb_route *rt = &r->routes[i];
        if (!s_path_matches(rt, segs, n)) {
            continue;
        }
        path_known = true;
        s_add_allow(&m->allow,
                    strcmp(rt->method, "ANY") == 0 ? "GET, POST, PUT, PATCH, DELETE" : rt->method);
        bool method_ok =
            strcmp(rt->method, "ANY") == 0 || mb_cur_eq(mb_cur_from_cstr(rt->method), method);
        if (method_ok && (!best || rt->literal_count > best->literal_count)) {
            best = rt;
        }
    }
    if (path_known) {
        s_add_allow(&m->allow, "OPTIONS");
    }
    if (!best) {
        return path_known ? MB_ROUTE_METHOD_NOT_ALLOWED : MB_ROUTE_NOT_FOUND;
    }
    m->route = best;
    for (size_t k = 0; k < best->seg_count; k++) {
        if (s_is_param(best->segs[k])) {
            mb_cur v = segs[k];
            if (s_is_greedy(best->segs[k])) { /* segs[k..n-1] are adjacent in scratch */
                v.len = (size_t)(segs[n - 1].ptr + segs[n - 1].len - v.ptr);
            }
            m->param_names[m->param_count] = s_param_name(best->segs[k]);
            m->param_values[m->param_count++] = v;
        }
    }
    return MB_ROUTE_FOUND;
}

void mb_route_match_cleanup(mb_route_match *m) {
    if (!m) {
        return;
    }
    mb_buf_cleanup(&m->scratch);
    mb_buf_cleanup(&m->allow);
}
