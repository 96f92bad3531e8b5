/* json.c - strict JSON <-> Lua values (see moonbase/json.h).
 * Both directions run inside mb_lua_aux_cpcall so that a Lua memory error (the handler's memory
 * cap) unwinds to us as a status, never as a longjmp through C frames holding heap memory. */
#include "moonbase/json.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "moonbase/base64.h"
#include "moonbase/ddb_value.h"
#include "moonbase/lua_aux.h"
#include "moonbase/numfmt.h"
#include "moonbase/text.h"

/* Longest number literal accepted; longer ones are valid JSON but only useful as an attack. */
#define JSON_MAX_NUMBER_LEN 400

typedef struct jp {
    lua_State *L;
    const char *p, *start, *end;
    int max_depth;
    int status; /* 0 or an mb_status once a parse error is recorded */
    mb_err *err;
    mb_buf scratch; /* unescaped strings and number text */
} jp;

static int s_fail(jp *j, int status, const char *what) {
    if (j->status == 0) {
        j->status = mb_err_set(j->err, status, "invalid JSON at byte %zu: %s",
                               (size_t)(j->p - j->start), what);
    }
    return -1;
}

static void s_ws(jp *j) {
    j->p = mb_text_json_ws(j->p, j->end);
}

/* Parse a string (j->p just past the opening quote) and push it. The text kernel scans and
 * checks it (UTF-8, control characters, escapes); only a string with escapes is copied, decoded,
 * into the scratch buffer. */
static int s_string(jp *j) {
    size_t len;
    bool escaped;
    const char *why;
    if (mb_text_json_scan_string(j->p, (size_t)(j->end - j->p), &len, &escaped, &why) != 0) {
        j->p += len;
        return s_fail(j, MB_ERR_INVALID, why);
    }
    mb_cur raw = {j->p, len};
    j->p += len + 1;
    if (!escaped) {
        lua_pushlstring(j->L, raw.ptr, raw.len);
        return 0;
    }
    size_t n = 0;
    mb_buf_reset(&j->scratch);
    if (mb_buf_reserve(&j->scratch, raw.len) != 0 ||
        mb_text_json_unescape(raw, j->scratch.ptr, raw.len, &n) != 0) {
        return s_fail(j, MB_ERR_NOMEM, "out of memory"); /* the scan checked every escape */
    }
    lua_pushlstring(j->L, j->scratch.ptr, n);
    return 0;
}

static int s_number(jp *j) {
    const char *s = j->p, *why;
    size_t n;
    bool is_int;
    if (mb_text_json_number_scan(s, (size_t)(j->end - s), &n, &is_int, &why) != 0) {
        j->p += n;
        return s_fail(j, MB_ERR_INVALID, why);
    }
    j->p += n;
    if (n > JSON_MAX_NUMBER_LEN) {
        return s_fail(j, MB_ERR_LIMIT, "number too long");
    }
    mb_buf_reset(&j->scratch);
    if (mb_buf_append(&j->scratch, s, n) != 0) {
        return s_fail(j, MB_ERR_NOMEM, "out of memory");
    }
    if (is_int) {
        errno = 0;
        long long v = strtoll(j->scratch.ptr, NULL, 10);
        if (errno == 0) {
            lua_pushinteger(j->L, (lua_Integer)v);
            return 0;
        }
    }
    /* Beyond 64 bits or fractional: a double, as JavaScript would read it. A magnitude past
     * DBL_MAX would become an infinity that mb_json_encode refuses: refuse it here instead. */
    double d = strtod(j->scratch.ptr, NULL);
    if (!isfinite(d)) {
        return s_fail(j, MB_ERR_LIMIT, "number out of range");
    }
    lua_pushnumber(j->L, d);
    return 0;
}

static int s_value(jp *j, int depth);

static int s_literal(jp *j, const char *word, size_t n) {
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0) {
        return s_fail(j, MB_ERR_INVALID, "unexpected token");
    }
    j->p += n;
    return 0;
}

static int s_array(jp *j, int depth) {
    mb_lua_aux_new_array(j->L, 0); /* stack: array */
    s_ws(j);
    if (j->p < j->end && *j->p == ']') {
        j->p++;
        return 0;
    }
    for (lua_Integer i = 1;; i++) {
        if (s_value(j, depth + 1) != 0) {
            return -1;
        }
        lua_rawseti(j->L, -2, i); /* stack: array */
        s_ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == ']') {
            j->p++;
            return 0;
        }
        return s_fail(j, MB_ERR_INVALID, "expected ',' or ']'");
    }
}

static int s_object(jp *j, int depth) {
    lua_createtable(j->L, 0, 0); /* stack: object */
    s_ws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        return 0;
    }
    for (;;) {
        s_ws(j);
        if (j->p >= j->end || *j->p != '"') {
            return s_fail(j, MB_ERR_INVALID, "expected a string key");
        }
        j->p++;
        if (s_string(j) != 0) { /* stack: object, key */
            return -1;
        }
        s_ws(j);
        if (j->p >= j->end || *j->p != ':') {
            return s_fail(j, MB_ERR_INVALID, "expected ':'");
        }
        j->p++;
        if (s_value(j, depth + 1) != 0) { /* stack: object, key, value */
            return -1;
        }
        lua_rawset(j->L, -3); /* stack: object */
        s_ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == '}') {
            j->p++;
            return 0;
        }
        return s_fail(j, MB_ERR_INVALID, "expected ',' or '}'");
    }
}

static int s_value(jp *j, int depth) {
    if (depth > j->max_depth) {
        return s_fail(j, MB_ERR_LIMIT, "nesting too deep");
    }
    if (!lua_checkstack(j->L, 4)) {
        return s_fail(j, MB_ERR_NOMEM, "Lua stack exhausted");
    }
    s_ws(j);
    if (j->p >= j->end) {
        return s_fail(j, MB_ERR_INVALID, "unexpected end of input");
    }
    switch (*j->p) {
    case '{':
        j->p++;
        return s_object(j, depth);
    case '[':
        j->p++;
        return s_array(j, depth);
    case '"':
        j->p++;
        return s_string(j);
    case 't':
        lua_pushboolean(j->L, 1);
        return s_literal(j, "true", 4);
    case 'f':
        lua_pushboolean(j->L, 0);
        return s_literal(j, "false", 5);
    case 'n':
        mb_lua_aux_push_null(j->L);
        return s_literal(j, "null", 4);
    default:
        if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9')) {
            return s_number(j);
        }
        return s_fail(j, MB_ERR_INVALID, "unexpected character");
    }
}

static int s_decode_protected(lua_State *L) {
    jp *j = lua_touserdata(L, 1);
    lua_settop(L, 0);
    if (s_value(j, 1) != 0) {
        return 0;
    }
    s_ws(j);
    if (j->p != j->end) {
        s_fail(j, MB_ERR_INVALID, "trailing characters after the value");
        return 0;
    }
    return 1;
}

int mb_json_decode(lua_State *L, mb_cur text, int max_depth, mb_err *err) {
    jp j = {L, text.ptr, text.ptr, text.ptr + text.len, max_depth, 0, err, {0}};
    if (!text.ptr) {
        j.p = j.start = j.end = "";
    }
    int rc = mb_lua_aux_cpcall(L, s_decode_protected, 0, &j, 1); /* stack: value | nil | error */
    mb_buf_cleanup(&j.scratch);
    if (rc != LUA_OK) {
        lua_pop(L, 1);
        return mb_err_set(err, MB_ERR_NOMEM, "out of memory decoding JSON");
    }
    if (j.status != 0) {
        lua_pop(L, 1);
        return j.status;
    }
    return 0;
}

/* ---- encoding ---- */

typedef struct je {
    lua_State *L;
    mb_buf *out;
    int status;
    mb_err *err;
} je;

static int s_efail(je *e, int status, const char *what) {
    if (e->status == 0) {
        e->status = mb_err_set(e->err, status, "cannot encode JSON: %s", what);
    }
    return -1;
}

static int s_enc_number(je *e, int idx) {
    char num[MB_NUMFMT_MAX];
    size_t n = lua_isinteger(e->L, idx) ? mb_numfmt_int(num, (int64_t)lua_tointeger(e->L, idx))
                                        : mb_numfmt_double(num, lua_tonumber(e->L, idx));
    if (n == 0) {
        return s_efail(e, MB_ERR_INVALID, "NaN or Infinity");
    }
    if (mb_buf_append(e->out, num, n) != 0) {
        return s_efail(e, MB_ERR_NOMEM, "out of memory");
    }
    return 0;
}

static int s_enc_value(je *e, int idx, int depth);

/* ctx.db's binary and decimal number values: binary as a base64 string (JSON has no bytes), a
 * decimal as the JSON number of its exact text (JSON numbers have no precision limit; a client
 * that reads numbers as doubles rounds it, as it would any 64-bit integer). */
static int s_enc_ddb_value(je *e, int idx) {
    mb_cur v;
    int rc;
    if (mb_ddb_value_to_binary(e->L, idx, &v)) {
        rc = mb_buf_append_byte(e->out, '"') || mb_base64_encode(e->out, v) ||
             mb_buf_append_byte(e->out, '"');
    } else if (mb_ddb_value_to_number(e->L, idx, &v)) {
        rc = mb_buf_append(e->out, v.ptr, v.len);
    } else {
        return s_efail(e, MB_ERR_INVALID, "userdata");
    }
    return rc == 0 ? 0 : s_efail(e, MB_ERR_NOMEM, "out of memory");
}

/* Array length if the table at idx is an array (keys exactly 1..n, or marked), else -1. */
static lua_Integer s_array_len(je *e, int idx) {
    lua_State *L = e->L;
    bool marked = mb_lua_aux_is_marked_array(L, idx);
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx), count = 0;
    lua_pushnil(L);                 /* start 'next' loop */
    while (lua_next(L, idx) != 0) { /* stack: key, value */
        lua_pop(L, 1);
        count++;
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > n) {
            lua_pop(L, 1);
            return -1;
        }
    }
    if (count == n && (n > 0 || marked)) {
        return n;
    }
    return -1;
}

static int s_enc_table(je *e, int idx, int depth) {
    lua_State *L = e->L;
    lua_Integer n = s_array_len(e, idx);
    if (n >= 0) {
        if (mb_buf_append_byte(e->out, '[') != 0) {
            return s_efail(e, MB_ERR_NOMEM, "out of memory");
        }
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, idx, i); /* stack: value */
            int rc = (i > 1 && mb_buf_append_byte(e->out, ',') != 0)
                         ? s_efail(e, MB_ERR_NOMEM, "out of memory")
                         : s_enc_value(e, lua_gettop(L), depth + 1);
            lua_pop(L, 1);
            if (rc != 0) {
                return -1;
            }
        }
        return mb_buf_append_byte(e->out, ']') == 0 ? 0 : s_efail(e, MB_ERR_NOMEM, "oom");
    }
    if (mb_buf_append_byte(e->out, '{') != 0) {
        return s_efail(e, MB_ERR_NOMEM, "out of memory");
    }
    bool first = true;
    lua_pushnil(L);                 /* start 'next' loop */
    while (lua_next(L, idx) != 0) { /* stack: key, value */
        if (lua_type(L, -2) != LUA_TSTRING) {
            lua_pop(L, 2);
            return s_efail(e, MB_ERR_INVALID, "table mixes array and object keys or is sparse");
        }
        size_t klen;
        const char *k = lua_tolstring(L, -2, &klen);
        if ((!first && mb_buf_append_byte(e->out, ',') != 0) ||
            mb_text_json_quote(e->out, (mb_cur){k, klen}, MB_TEXT_ESC_REPAIR) != 0 ||
            mb_buf_append_byte(e->out, ':') != 0) {
            lua_pop(L, 2);
            return s_efail(e, MB_ERR_NOMEM, "out of memory");
        }
        first = false;
        if (s_enc_value(e, lua_gettop(L), depth + 1) != 0) {
            lua_pop(L, 2);
            return -1;
        }
        lua_pop(L, 1); /* stack: key */
    }
    return mb_buf_append_byte(e->out, '}') == 0 ? 0 : s_efail(e, MB_ERR_NOMEM, "oom");
}

static int s_enc_value(je *e, int idx, int depth) {
    lua_State *L = e->L;
    if (depth > MB_JSON_MAX_DEPTH) {
        return s_efail(e, MB_ERR_LIMIT, "nesting too deep (or a cycle)");
    }
    if (!lua_checkstack(L, 4)) {
        return s_efail(e, MB_ERR_NOMEM, "Lua stack exhausted");
    }
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        return mb_buf_append(e->out, "null", 4) == 0 ? 0 : s_efail(e, MB_ERR_NOMEM, "oom");
    case LUA_TBOOLEAN: {
        bool b = lua_toboolean(L, idx);
        int rc = b ? mb_buf_append(e->out, "true", 4) : mb_buf_append(e->out, "false", 5);
        return rc == 0 ? 0 : s_efail(e, MB_ERR_NOMEM, "oom");
    }
    case LUA_TNUMBER:
        return s_enc_number(e, idx);
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        return mb_text_json_quote(e->out, (mb_cur){s, len}, MB_TEXT_ESC_REPAIR) == 0
                   ? 0
                   : s_efail(e, MB_ERR_NOMEM, "out of memory");
    }
    case LUA_TTABLE:
        return s_enc_table(e, idx, depth);
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == NULL) {
            return mb_buf_append(e->out, "null", 4) == 0 ? 0 : s_efail(e, MB_ERR_NOMEM, "oom");
        }
        return s_efail(e, MB_ERR_INVALID, "userdata");
    case LUA_TUSERDATA:
        return s_enc_ddb_value(e, idx);
    default:
        return s_efail(e, MB_ERR_INVALID, lua_typename(L, lua_type(L, idx)));
    }
}

static int s_encode_protected(lua_State *L) {
    je *e = lua_touserdata(L, 2);
    s_enc_value(e, 1, 1);
    return 0;
}

int mb_json_encode(lua_State *L, int idx, mb_buf *out, mb_err *err) {
    idx = lua_absindex(L, idx);
    je e = {L, out, 0, err};
    size_t mark = out->len;
    if (mb_lua_aux_cpcall(L, s_encode_protected, idx, &e, 0) != LUA_OK) {
        lua_pop(L, 1);
        e.status = mb_err_set(err, MB_ERR_NOMEM, "out of memory encoding JSON");
    }
    if (e.status != 0) {
        out->len = mark; /* never leave half a document behind */
        if (out->ptr) {
            out->ptr[mark] = '\0';
        }
    }
    return e.status;
}

/* ---- the `json` library for handlers ---- */

/* json.encode(value) -> string  [-1, +1, e] */
static int s_lua_encode(lua_State *L) {
    luaL_checkany(L, 1);
    mb_buf b = {0};
    mb_err err = {0};
    int rc = mb_json_encode(L, 1, &b, &err);
    if (rc == 0) {
        lua_pushlstring(L, b.ptr ? b.ptr : "", b.len);
    }
    mb_buf_cleanup(&b); /* release C memory before any Lua error */
    if (rc != 0) {
        return luaL_error(L, "%s", err.msg);
    }
    return 1;
}

/* json.decode(string) -> value  [-1, +1, e] */
static int s_lua_decode(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    mb_err err = {0};
    if (mb_json_decode(L, (mb_cur){s, len}, MB_JSON_MAX_DEPTH, &err) != 0) {
        return luaL_error(L, "%s", err.msg);
    }
    return 1;
}

void mb_json_push_lib(lua_State *L) {
    lua_createtable(L, 0, 4); /* stack: lib */
    lua_pushcfunction(L, s_lua_encode);
    lua_setfield(L, -2, "encode");
    lua_pushcfunction(L, s_lua_decode);
    lua_setfield(L, -2, "decode");
    mb_lua_aux_push_null(L);
    lua_setfield(L, -2, "null");
    luaL_getmetatable(L, MB_LUA_ARRAY_MT); /* stack: lib, array_mt */
    lua_setfield(L, -2, "array_mt");       /* stack: lib */
}
