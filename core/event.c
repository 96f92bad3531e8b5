/* event.c - API Gateway v1/v2 proxy events <-> request/response tables (moonbase/event.h).
 * Conversions run under mb_lua_aux_cpcall so a Lua memory error cannot longjmp through C. */
#include "moonbase/event.h"

#include <string.h>

#include <lauxlib.h>

#include "moonbase/base64.h"
#include "moonbase/json.h"
#include "moonbase/text.h"
#include "moonbase/lua_aux.h"

typedef struct conv {
    mb_event *ev;
    mb_err *err;
    int status; /* mb_status once failed */
    size_t header_bytes;
    mb_buf raw; /* a decoded base64 body; freed by the caller after the protected call, so a
                   Lua memory error while pushing it cannot leak it */
} conv;

static int s_bad(conv *c, int http, int status, const char *msg) {
    if (c->status == 0) {
        c->ev->reject_status = http;
        c->status = mb_err_set(c->err, status, "%s", msg);
    }
    return -1;
}

static bool s_absent(lua_State *L, int idx) {
    return lua_isnil(L, idx) || mb_lua_aux_is_null(L, idx);
}

/* Push t[key] when it has `type`; push nil when absent or JSON null; fail on another type. */
static int s_get(conv *c, lua_State *L, int t, const char *key, int type) {
    if (t == 0 || lua_type(L, t) != LUA_TTABLE) {
        lua_pushnil(L);
        return 0;
    }
    lua_getfield(L, t, key);
    if (s_absent(L, -1)) {
        lua_pop(L, 1);
        lua_pushnil(L);
        return 0;
    }
    if (lua_type(L, -1) != type) {
        lua_pop(L, 1);
        char msg[128];
        snprintf(msg, sizeof msg, "event field '%s' must be a %s", key, lua_typename(L, type));
        return s_bad(c, 400, MB_ERR_INVALID, msg);
    }
    return 0;
}

static mb_cur s_cur(lua_State *L, int idx) {
    size_t len = 0;
    const char *s = lua_type(L, idx) == LUA_TSTRING ? lua_tolstring(L, idx, &len) : NULL;
    return (mb_cur){s, len};
}

/* Error paths below leave the Lua stack as it is: every conversion runs in its own protected
 * call, whose frame is discarded on return. */

/* Copy a string->string map at src into a new table (lower-casing keys when asked), pushed. */
static int s_copy_map(conv *c, lua_State *L, int src, bool lower, size_t max, const char *what) {
    lua_newtable(L); /* stack: dst */
    if (lua_isnil(L, src)) {
        return 0;
    }
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, src) != 0) { /* stack: dst, key, value */
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING) {
            lua_pop(L, 2);
            return s_bad(c, 400, MB_ERR_INVALID, "event maps must hold strings");
        }
        if (++n > max) {
            lua_pop(L, 2);
            return s_bad(c, lower ? 431 : 400, MB_ERR_LIMIT, lower ? "too many headers" : what);
        }
        mb_cur k = s_cur(L, -2), v = s_cur(L, -1);
        if (lower && (c->header_bytes += k.len + v.len) > MB_EVENT_MAX_HEADER_BYTES) {
            lua_pop(L, 2);
            return s_bad(c, 431, MB_ERR_LIMIT, "request headers too large");
        }
        if (lower) {
            char name[256];
            if (k.len >= sizeof name) {
                lua_pop(L, 2);
                return s_bad(c, 431, MB_ERR_LIMIT, "header name too long");
            }
            for (size_t i = 0; i < k.len; i++) {
                char ch = k.ptr[i];
                name[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
            }
            lua_pushlstring(L, name, k.len); /* stack: dst, key, value, lkey */
        } else {
            lua_pushvalue(L, -2);
        }
        lua_pushvalue(L, -2); /* stack: dst, key, value, k2, value */
        lua_rawset(L, -5);
        lua_pop(L, 1); /* stack: dst, key */
    }
    return 0;
}

/* v1 multiValueHeaders / multiValueQueryStringParameters: push a map of joined values (", ")
 * for headers, or of the last value for query strings (what API Gateway's single-value map has). */
static int s_join_multi(conv *c, lua_State *L, int src, bool headers) {
    lua_newtable(L); /* stack: dst */
    int dst = lua_gettop(L);
    size_t max = headers ? MB_EVENT_MAX_HEADERS : MB_EVENT_MAX_QUERY;
    lua_pushnil(L);
    while (lua_next(L, src) != 0) { /* stack: dst, key, list */
        int list = lua_gettop(L);
        size_t n = lua_type(L, list) == LUA_TTABLE ? lua_rawlen(L, list) : 0;
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, list) != LUA_TTABLE || n > max) {
            return s_bad(c, 400, MB_ERR_INVALID, "multi-value maps must hold lists of strings");
        }
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        for (size_t i = 1; i <= n; i++) {
            if (lua_rawgeti(L, list, (lua_Integer)i) != LUA_TSTRING) {
                return s_bad(c, 400, MB_ERR_INVALID, "multi-value entries must be strings");
            }
            if (!headers && i < n) {
                lua_pop(L, 1);
                continue;
            }
            luaL_addvalue(&b);
            if (i < n) {
                luaL_addstring(&b, ", ");
            }
        }
        luaL_pushresult(&b); /* stack: dst, key, list, joined */
        lua_pushvalue(L, -3);
        lua_insert(L, -2); /* stack: dst, key, list, key, joined */
        lua_rawset(L, dst);
        lua_pop(L, 1); /* stack: dst, key */
    }
    return 0;
}

/* v1 events may carry multi-value maps; when present they replace the single-value ones at
 * top+1 (headers) and top+2 (query). */
static int s_v1_multi(conv *c, lua_State *L, int ev, int top) {
    static const char *const names[] = {"multiValueHeaders", "multiValueQueryStringParameters"};
    for (int i = 0; i < 2; i++) {
        if (s_get(c, L, ev, names[i], LUA_TTABLE)) {
            return -1;
        }
        if (!lua_isnil(L, -1)) {
            if (s_join_multi(c, L, lua_gettop(L), i == 0)) {
                return -1;
            }
            lua_replace(L, top + 1 + i);
        }
        lua_pop(L, 1);
    }
    return 0;
}

/* Add "name=value" pairs separated by ';' to the cookies table at idx. */
static int s_add_cookies(conv *c, lua_State *L, int cookies, mb_cur s, size_t *count) {
    const char *p = s.ptr, *end = s.ptr + s.len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == ';')) {
            p++;
        }
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *stop = semi ? semi : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        if (eq && eq > p) {
            if (++*count > MB_EVENT_MAX_COOKIES) {
                return s_bad(c, 431, MB_ERR_LIMIT, "too many cookies");
            }
            lua_pushlstring(L, p, (size_t)(eq - p));
            lua_pushlstring(L, eq + 1, (size_t)(stop - eq - 1));
            lua_rawset(L, cookies);
        }
        p = stop;
    }
    return 0;
}

static void s_set_str(lua_State *L, int t, const char *key, mb_cur v) {
    lua_pushlstring(L, v.ptr ? v.ptr : "", v.len);
    lua_setfield(L, t, key);
}

/* req.headers at hdrs: remember the headers the pipeline itself needs. */
static void s_note_headers(lua_State *L, int hdrs, mb_event *ev) {
    static const struct {
        const char *name;
        size_t off;
    } wanted[] = {
        {"origin", offsetof(mb_event, origin)},
        {"authorization", offsetof(mb_event, authorization)},
        {"content-type", offsetof(mb_event, content_type)},
        {"access-control-request-method", offsetof(mb_event, preflight_method)},
    };
    for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
        lua_getfield(L, hdrs, wanted[i].name);
        *(mb_cur *)((char *)ev + wanted[i].off) = s_cur(L, -1);
        lua_pop(L, 1);
    }
}

/* Fill method, path, headers, query, request id and source ip for either version. */
static int s_fields(conv *c, lua_State *L, int ev, int req, int *hdrs_out) {
    bool v2 = c->ev->version == 2;
    if (s_get(c, L, ev, "requestContext", LUA_TTABLE)) {
        return -1;
    }
    int rcx = lua_gettop(L);
    if (s_get(c, L, rcx, v2 ? "http" : "identity", LUA_TTABLE) ||
        s_get(c, L, v2 ? lua_gettop(L) : ev, v2 ? "method" : "httpMethod", LUA_TSTRING) ||
        s_get(c, L, ev, v2 ? "rawPath" : "path", LUA_TSTRING) ||
        s_get(c, L, rcx, "requestId", LUA_TSTRING) ||
        s_get(c, L, rcx + 1, "sourceIp", LUA_TSTRING)) {
        return -1;
    } /* stack: rcx, http|identity, method, path, id, ip */
    c->ev->method = s_cur(L, rcx + 2);
    c->ev->path = s_cur(L, rcx + 3);
    c->ev->request_id = s_cur(L, rcx + 4);
    c->ev->source_ip = s_cur(L, rcx + 5);
    if (!c->ev->method.ptr || !c->ev->path.ptr || c->ev->method.len > 16) {
        return s_bad(c, 400, MB_ERR_INVALID, "event has no HTTP method or path");
    }
    s_set_str(L, req, "method", c->ev->method);
    s_set_str(L, req, "path", c->ev->path);
    s_set_str(L, req, "request_id", c->ev->request_id);
    s_set_str(L, req, "source_ip", c->ev->source_ip);
    int top = lua_gettop(L);
    if (s_get(c, L, ev, "headers", LUA_TTABLE) ||
        s_get(c, L, ev, "queryStringParameters", LUA_TTABLE)) {
        return -1;
    } /* stack: ..., headers, query */
    if (!v2 && s_v1_multi(c, L, ev, top)) {
        return -1;
    }
    if (s_copy_map(c, L, top + 1, true, MB_EVENT_MAX_HEADERS, "") ||
        s_copy_map(c, L, top + 2, false, MB_EVENT_MAX_QUERY, "too many query parameters")) {
        return -1;
    } /* stack: ..., req_headers, req_query */
    lua_setfield(L, req, "query");
    lua_pushvalue(L, -1);
    lua_setfield(L, req, "headers");
    *hdrs_out = lua_gettop(L);
    s_note_headers(L, *hdrs_out, c->ev);
    return 0;
}

static int s_cookies(conv *c, lua_State *L, int ev, int req, int hdrs) {
    lua_newtable(L); /* stack: cookies */
    int cookies = lua_gettop(L);
    size_t count = 0;
    if (c->ev->version == 2) {
        if (s_get(c, L, ev, "cookies", LUA_TTABLE)) {
            return -1;
        }
        size_t n = lua_istable(L, -1) ? lua_rawlen(L, -1) : 0;
        for (size_t i = 1; i <= n; i++) {
            if (lua_rawgeti(L, cookies + 1, (lua_Integer)i) != LUA_TSTRING) {
                return s_bad(c, 400, MB_ERR_INVALID, "event cookies must be strings");
            }
            if (s_add_cookies(c, L, cookies, s_cur(L, -1), &count)) {
                return -1;
            }
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    lua_getfield(L, hdrs, "cookie");
    if (lua_type(L, -1) == LUA_TSTRING && s_add_cookies(c, L, cookies, s_cur(L, -1), &count)) {
        return -1;
    }
    lua_pop(L, 1);
    lua_setfield(L, req, "cookies");
    return 0;
}

static int s_body(conv *c, lua_State *L, int ev, int req) {
    if (s_get(c, L, ev, "body", LUA_TSTRING) || s_get(c, L, ev, "isBase64Encoded", LUA_TBOOLEAN)) {
        return -1;
    } /* stack: body, b64 */
    mb_cur body = s_cur(L, -2);
    if (body.len > MB_EVENT_MAX_BYTES) {
        return s_bad(c, 413, MB_ERR_LIMIT, "request body too large");
    }
    if (lua_toboolean(L, -1) && body.ptr) {
        mb_err e = {0};
        int rc = mb_base64_decode(&c->raw, body, &e);
        if (rc == MB_ERR_NOMEM) {
            return s_bad(c, 500, MB_ERR_NOMEM, "out of memory decoding the body");
        }
        if (rc != 0) {
            return s_bad(c, 400, MB_ERR_INVALID, "request body is not valid base64");
        }
        lua_pushlstring(L, c->raw.ptr ? c->raw.ptr : "", c->raw.len); /* may raise */
        mb_buf_cleanup(&c->raw);
        lua_replace(L, -3);
        body = s_cur(L, -2);
    }
    c->ev->body_len = body.len;
    lua_pop(L, 1);
    if (!body.ptr) {
        lua_pop(L, 1);
        lua_pushliteral(L, "");
    }
    lua_setfield(L, req, "body");
    return 0;
}

static int s_version(conv *c, lua_State *L, int ev) {
    if (lua_type(L, ev) != LUA_TTABLE || lua_getmetatable(L, ev)) {
        return s_bad(c, 400, MB_ERR_INVALID, "event must be a JSON object");
    }
    lua_getfield(L, ev, "version");
    mb_cur v = s_cur(L, -1);
    lua_getfield(L, ev, "httpMethod");
    bool v1 = lua_type(L, -1) == LUA_TSTRING;
    lua_pop(L, 2);
    c->ev->version = (v1 && !mb_cur_eq(v, MB_CUR_LIT("2.0"))) ? 1 : 2;
    if (!v1 && !mb_cur_eq(v, MB_CUR_LIT("2.0"))) {
        return s_bad(c, 400, MB_ERR_INVALID, "not an API Gateway proxy event (v1 or 2.0)");
    }
    return 0;
}

static int s_to_request(lua_State *L) {
    conv *c = lua_touserdata(L, 2);
    lua_settop(L, 1);          /* stack: event */
    lua_createtable(L, 0, 12); /* stack: event, req */
    int hdrs = 0;
    if (s_version(c, L, 1) || s_fields(c, L, 1, 2, &hdrs) || s_cookies(c, L, 1, 2, hdrs) ||
        s_body(c, L, 1, 2)) {
        return 0;
    }
    lua_newtable(L);
    lua_setfield(L, 2, "params");
    lua_settop(L, 2);
    return 1;
}

int mb_event_to_request(lua_State *L, int event_idx, mb_event *ev, mb_err *err) {
    event_idx = lua_absindex(L, event_idx);
    *ev = (mb_event){.version = 2};
    conv c = {ev, err, 0, 0, {0}};
    int rc = mb_lua_aux_cpcall(L, s_to_request, event_idx, &c, 1);
    mb_buf_cleanup(&c.raw);
    if (rc != LUA_OK) {
        lua_pop(L, 1);
        ev->reject_status = 500;
        return mb_err_set(err, MB_ERR_NOMEM, "out of memory reading the event");
    }
    if (c.status != 0) {
        lua_pop(L, 1);
        return c.status;
    }
    return 0;
}

/* ---- responses ---- */

typedef struct enc {
    const mb_event *ev;
    const mb_event_header *extra;
    size_t nextra;
    mb_buf *out;
    mb_buf scratch;
    int status;
    int rc;
    mb_err *err;
} enc;

static int s_enc_fail(enc *e, int rc, const char *msg) {
    if (e->rc == 0) {
        e->rc = mb_err_set(e->err, rc, "invalid response: %s", msg);
    }
    return -1;
}

static bool s_token(mb_cur name) {
    static const char extra[] = "!#$%&'*+-.^_`|~";
    if (name.len == 0 || name.len > 256) {
        return false;
    }
    for (size_t i = 0; i < name.len; i++) {
        char c = name.ptr[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  (c && strchr(extra, c));
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* No CR, LF or NUL in a header value: a handler must not be able to inject headers. */
static bool s_safe_value(mb_cur v) {
    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.ptr[i];
        if (c == '\r' || c == '\n' || c == 0) {
            return false;
        }
    }
    return v.len <= 8192;
}

static int s_append(enc *e, const char *s) {
    return mb_buf_append_cstr(e->out, s) == 0 ? 0 : s_enc_fail(e, MB_ERR_NOMEM, "out of memory");
}

static int s_append_str(enc *e, mb_cur s) {
    return mb_text_json_quote(e->out, s, MB_TEXT_ESC_REPAIR) == 0
               ? 0
               : s_enc_fail(e, MB_ERR_NOMEM, "oom");
}

/* Append `"name":` or `,"name":`. */
static int s_key(enc *e, bool *first, mb_cur name) {
    if ((!*first && s_append(e, ",")) || s_append_str(e, name) || s_append(e, ":")) {
        return -1;
    }
    *first = false;
    return 0;
}

/* Append the header value at stack index idx (string or number) as a JSON string. */
static int s_value_at(enc *e, lua_State *L, int idx) {
    int t = lua_type(L, idx);
    if (t != LUA_TSTRING && t != LUA_TNUMBER) {
        return s_enc_fail(e, MB_ERR_INVALID, "header values must be strings or numbers");
    }
    lua_pushvalue(L, idx); /* convert a copy: lua_tolstring must not touch a key in a traversal */
    mb_cur v = s_cur(L, -1);
    if (t == LUA_TNUMBER) {
        size_t len;
        const char *p = lua_tolstring(L, -1, &len);
        v = (mb_cur){p, len};
    }
    int rc = s_safe_value(v) ? s_append_str(e, v)
                             : s_enc_fail(e, MB_ERR_INVALID, "header value has CR, LF or NUL");
    lua_pop(L, 1);
    return rc;
}

/* Append the list at idx as a JSON array of header values, or joined with ", " when !as_array. */
static int s_value_list(enc *e, lua_State *L, int idx, bool as_array) {
    size_t n = lua_rawlen(L, idx);
    if (as_array) {
        if (s_append(e, "[")) {
            return -1;
        }
        for (size_t i = 1; i <= n; i++) {
            lua_rawgeti(L, idx, (lua_Integer)i);
            int rc = (i > 1 && s_append(e, ",")) || s_value_at(e, L, lua_gettop(L));
            lua_pop(L, 1);
            if (rc) {
                return -1;
            }
        }
        return s_append(e, "]");
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (size_t i = 1; i <= n; i++) {
        if (lua_rawgeti(L, idx, (lua_Integer)i) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER) {
            return s_enc_fail(e, MB_ERR_INVALID, "header lists must hold strings");
        }
        luaL_addvalue(&b);
        if (i < n) {
            luaL_addstring(&b, ", ");
        }
    }
    luaL_pushresult(&b);
    int rc = s_value_at(e, L, lua_gettop(L));
    lua_pop(L, 1);
    return rc;
}

static bool s_has_header(lua_State *L, int hdrs, const char *name) {
    if (hdrs == 0) {
        return false;
    }
    mb_cur want = mb_cur_from_cstr(name);
    lua_pushnil(L);
    while (lua_next(L, hdrs) != 0) {
        if (lua_type(L, -2) == LUA_TSTRING && mb_cur_eq_icase(s_cur(L, -2), want)) {
            lua_pop(L, 2);
            return true;
        }
        lua_pop(L, 1);
    }
    return false;
}

/* True when the handler's header `name` gives way to a forced extra header. */
static bool s_forced(const enc *e, mb_cur name) {
    for (size_t i = 0; i < e->nextra; i++) {
        if (e->extra[i].force && mb_cur_eq_icase(name, mb_cur_from_cstr(e->extra[i].name))) {
            return true;
        }
    }
    return false;
}

/* "headers":{...} (single values; lists joined for v2) plus the pipeline's extra headers. */
static int s_headers(enc *e, lua_State *L, int hdrs, bool has_ct, bool json_body) {
    bool first = true;
    if (s_append(e, "\"headers\":{")) {
        return -1;
    }
    lua_pushnil(L);
    while (hdrs && lua_next(L, hdrs) != 0) { /* stack: name, value */
        mb_cur name = s_cur(L, -2);
        bool list = lua_type(L, -1) == LUA_TTABLE;
        if (lua_type(L, -2) != LUA_TSTRING || !s_token(name)) {
            return s_enc_fail(e, MB_ERR_INVALID, "header names must be HTTP tokens");
        }
        if (!(list && e->ev->version == 1) && !s_forced(e, name)) {
            if (s_key(e, &first, name) ||
                (list ? s_value_list(e, L, lua_gettop(L), false) : s_value_at(e, L, -1))) {
                return -1;
            }
        }
        lua_pop(L, 1);
    }
    for (size_t i = 0; i < e->nextra; i++) {
        if (e->extra[i].value.ptr && /* a NULL forced value only removes the handler's */
            (e->extra[i].force || !s_has_header(L, hdrs, e->extra[i].name)) &&
            (s_key(e, &first, mb_cur_from_cstr(e->extra[i].name)) ||
             s_append_str(e, e->extra[i].value))) {
            return -1;
        }
    }
    if (!has_ct &&
        (s_key(e, &first, MB_CUR_LIT("content-type")) ||
         s_append(e, json_body ? "\"application/json\"" : "\"text/plain; charset=utf-8\""))) {
        return -1;
    }
    return s_append(e, "}");
}

/* v1: "multiValueHeaders" for list-valued headers and cookies; v2: "cookies". */
static int s_multi(enc *e, lua_State *L, int hdrs, int cookies) {
    if (e->ev->version == 2) {
        if (!cookies) {
            return 0;
        }
        return s_append(e, ",\"cookies\":") || s_value_list(e, L, cookies, true);
    }
    bool first = true;
    if (s_append(e, ",\"multiValueHeaders\":{")) {
        return -1;
    }
    lua_pushnil(L);
    while (hdrs && lua_next(L, hdrs) != 0) {
        if (lua_type(L, -1) == LUA_TTABLE && !s_forced(e, s_cur(L, -2)) &&
            (s_key(e, &first, s_cur(L, -2)) || s_value_list(e, L, lua_gettop(L), true))) {
            return -1;
        }
        lua_pop(L, 1);
    }
    if (cookies &&
        (s_key(e, &first, MB_CUR_LIT("Set-Cookie")) || s_value_list(e, L, cookies, true))) {
        return -1;
    }
    return s_append(e, "}");
}

/* "body":"..." and "isBase64Encoded"; tables are JSON-encoded, binary strings base64. */
static int s_body_out(enc *e, lua_State *L, int body) {
    mb_buf_reset(&e->scratch);
    mb_cur text = {"", 0};
    bool b64 = false;
    if (lua_type(L, body) == LUA_TTABLE) {
        int rc = mb_json_encode(L, body, &e->scratch, e->err);
        if (rc == MB_ERR_NOMEM) {
            return s_enc_fail(e, MB_ERR_NOMEM, "out of memory");
        }
        if (rc != 0) {
            return s_enc_fail(e, MB_ERR_INVALID, "body table cannot be encoded as JSON");
        }
        text = mb_buf_cur(&e->scratch);
    } else if (lua_type(L, body) == LUA_TSTRING) {
        mb_cur s = s_cur(L, body);
        if (s.len > MB_EVENT_MAX_BYTES) {
            return s_enc_fail(e, MB_ERR_LIMIT, "body larger than Lambda's 6 MB response limit");
        }
        b64 = memchr(s.ptr, 0, s.len) || !mb_text_utf8_valid(s);
        if (b64 && mb_base64_encode(&e->scratch, s) != 0) {
            return s_enc_fail(e, MB_ERR_NOMEM, "out of memory");
        }
        text = b64 ? mb_buf_cur(&e->scratch) : s;
    } else if (!lua_isnil(L, body)) {
        return s_enc_fail(e, MB_ERR_INVALID, "body must be a table, a string or nil");
    }
    return s_append(e, ",\"body\":") || s_append_str(e, text) ||
           s_append(e, b64 ? ",\"isBase64Encoded\":true}" : ",\"isBase64Encoded\":false}");
}

static int s_encode(lua_State *L) {
    enc *e = lua_touserdata(L, 2);
    lua_settop(L, 1);
    if (lua_type(L, 1) != LUA_TTABLE) {
        return s_enc_fail(e, MB_ERR_INVALID, "handler must return a table"), 0;
    }
    lua_getfield(L, 1, "status");  /* stack: resp, status */
    lua_getfield(L, 1, "headers"); /* stack: resp, status, headers */
    lua_getfield(L, 1, "body");    /* stack: ..., body */
    lua_getfield(L, 1, "cookies"); /* stack: ..., cookies */
    bool int_status = lua_isinteger(L, 2);
    /* Range-check the 64-bit value before narrowing it: (int)4294967496 would be 200. */
    lua_Integer status = lua_isnil(L, 2) ? 200 : int_status ? lua_tointeger(L, 2) : -1;
    if (status < 100 || status > 599 || (!int_status && !lua_isnil(L, 2))) {
        return s_enc_fail(e, MB_ERR_INVALID, "status must be an integer from 100 to 599"), 0;
    }
    e->status = (int)status;
    if ((!lua_isnil(L, 3) && !lua_istable(L, 3)) || (!lua_isnil(L, 5) && !lua_istable(L, 5))) {
        return s_enc_fail(e, MB_ERR_INVALID, "headers and cookies must be tables"), 0;
    }
    int hdrs = lua_istable(L, 3) ? 3 : 0, cookies = lua_istable(L, 5) ? 5 : 0;
    bool has_ct = s_has_header(L, hdrs, "content-type");
    mb_buf_reset(e->out);
    if (mb_buf_appendf(e->out, "{\"statusCode\":%d,", e->status) != 0 ||
        s_headers(e, L, hdrs, has_ct, lua_istable(L, 4)) || s_multi(e, L, hdrs, cookies) ||
        s_body_out(e, L, 4)) {
        return s_enc_fail(e, MB_ERR_NOMEM, "out of memory"), 0;
    }
    return 0;
}

int mb_event_encode_response(lua_State *L, int resp_idx, const mb_event *ev,
                             const mb_event_header *extra, size_t nextra, mb_buf *out, int *status,
                             mb_err *err) {
    resp_idx = lua_absindex(L, resp_idx);
    enc e = {ev, extra, nextra, out, {0}, 500, 0, err};
    if (mb_lua_aux_cpcall(L, s_encode, resp_idx, &e, 0) != LUA_OK) {
        lua_pop(L, 1);
        s_enc_fail(&e, MB_ERR_NOMEM, "out of memory");
    }
    mb_buf_cleanup(&e.scratch);
    if (e.rc != 0) {
        mb_buf_reset(out);
        return e.rc;
    }
    *status = e.status;
    return 0;
}

void mb_event_push_error(lua_State *L, int status, const char *code, const char *message,
                         mb_cur request_id) {
    lua_createtable(L, 0, 2); /* stack: resp */
    lua_pushinteger(L, status);
    lua_setfield(L, -2, "status");
    lua_createtable(L, 0, 3); /* stack: resp, body */
    lua_pushstring(L, code);
    lua_setfield(L, -2, "error");
    lua_pushstring(L, message);
    lua_setfield(L, -2, "message");
    lua_pushlstring(L, request_id.ptr ? request_id.ptr : "", request_id.len);
    lua_setfield(L, -2, "requestId");
    lua_setfield(L, -2, "body"); /* stack: resp */
}
