/* lua_db_tenant.c - the tenant key policy of ctx.db (see lua_db_call.h). Handlers speak in
 * logical keys (the sort key, "ITEM#01J..."); this file adds the partition key
 * PK = "TENANT#<tenant of the verified token>" to every key and item, strips it (and the
 * tenant handlers' SK namespace) from every result, and refuses anything a handler could use to
 * name a partition itself: a PK attribute, a PK in an expression or a names map, a value naming
 * a TENANT#. */
#include "lua_db_call.h"

#include <string.h>

#include <lauxlib.h>

static bool s_is_word(char ch) {
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '_';
}

/* Refuse an expression that names the attribute PK directly (placeholders are checked when the
 * names map is copied). A PK inside a quoted string cannot occur: expressions have none. */
static void s_check_expr(lua_State *L, mb_lua_db_call *c, const char *what, const char *s,
                         size_t n) {
    for (size_t i = 0; i + 1 < n; i++) {
        bool start = i == 0 || (!s_is_word(s[i - 1]) && s[i - 1] != '#' && s[i - 1] != ':');
        if (start && s[i] == 'P' && s[i + 1] == 'K' && (i + 2 == n || !s_is_word(s[i + 2]))) {
            luaL_error(L, "%s: %s must not use PK: ctx.db manages the partition key", c->fn, what);
        }
    }
}

static bool s_has_prefix(const char *s, size_t n, const char *prefix) {
    size_t p = strlen(prefix);
    return n >= p && memcmp(s, prefix, p) == 0;
}

const char *mb_lua_db_check_str(lua_State *L, int idx, const char *fn, const char *what, size_t max,
                                size_t *len) {
    if (lua_type(L, idx) != LUA_TSTRING) {
        luaL_error(L, "%s: %s must be a string", fn, what);
    }
    const char *s = lua_tolstring(L, idx, len);
    if (*len == 0 || *len > max) {
        luaL_error(L, "%s: %s must be 1..%d bytes", fn, what, (int)max);
    }
    return s;
}

/* What one of the two placeholder maps accepts. */
typedef struct map_rule {
    const char *field;  /* "names" | "values" */
    const char *sigil;  /* "#" | ":" */
    const char *ours;   /* the generated placeholders' prefix */
    const char *refuse; /* the message for a key outside the rule */
} map_rule;

/* Refuse a map entry (key at -2, value at -1) that could reach another partition: names are
 * "#x" = "attr", never PK; values are ":x" = value, no string naming a tenant partition. */
static void s_check_entry(lua_State *L, mb_lua_db_call *c, const map_rule *r) {
    bool names = r->sigil[0] == '#';
    size_t kn, vn = 0;
    const char *k =
        mb_lua_db_check_str(L, -2, c->fn, names ? "a names key" : "a values key", 255, &kn);
    const char *v = names ? mb_lua_db_check_str(L, -1, c->fn, "a names value", 255, &vn)
                    : lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &vn)
                                                     : NULL;
    if (k[0] != r->sigil[0] || s_has_prefix(k, kn, r->ours)) {
        luaL_error(L, "%s: %s", c->fn, r->refuse);
    }
    if (names && vn == 2 && memcmp(v, "PK", 2) == 0) {
        luaL_error(L, "%s: names must not map to PK: ctx.db manages the partition key", c->fn);
    }
    if (!names && v && s_has_prefix(v, vn, MB_LUA_DB_PK_PREFIX)) {
        luaL_error(L, "%s: values must not name a tenant partition (" MB_LUA_DB_PK_PREFIX "...)",
                   c->fn);
    }
}

/* Copy opts[r->field] into the map at index map, entry by entry after s_check_entry. */
static void s_copy_map(lua_State *L, mb_lua_db_call *c, int opts, const map_rule *r, int map) {
    if (lua_getfield(L, opts, r->field) == LUA_TNIL) { /* stack: t? */
        lua_pop(L, 1);
        return;
    }
    luaL_argexpected(L, lua_istable(L, -1), 2,
                     r->sigil[0] == '#' ? "names must be a table" : "values must be a table");
    lua_pushnil(L);
    while (lua_next(L, -2)) { /* stack: t, k, v */
        s_check_entry(L, c, r);
        lua_pushvalue(L, -2);
        lua_insert(L, -2); /* stack: t, k, k, v */
        lua_rawset(L, map);
    }
    lua_pop(L, 1);
}

void mb_lua_db_copy_names(lua_State *L, mb_lua_db_call *c, int opts) {
    static const map_rule r = {"names", "#", MB_LUA_DB_NAME_PREFIX,
                               "names keys start with '#' (not '" MB_LUA_DB_NAME_PREFIX "')"};
    s_copy_map(L, c, opts, &r, c->names);
}

void mb_lua_db_copy_values(lua_State *L, mb_lua_db_call *c, int opts) {
    static const map_rule r = {"values", ":", MB_LUA_DB_VALUE_PREFIX,
                               "values keys start with ':' (not '" MB_LUA_DB_VALUE_PREFIX "')"};
    s_copy_map(L, c, opts, &r, c->values);
}

const char *mb_lua_db_opt_expr(lua_State *L, mb_lua_db_call *c, int opts, const char *key,
                               size_t *n) {
    if (opts == 0 || lua_getfield(L, opts, key) == LUA_TNIL) {
        if (opts) {
            lua_pop(L, 1);
        }
        return NULL;
    }
    const char *s = mb_lua_db_check_str(L, -1, c->fn, key, 4096, n);
    s_check_expr(L, c, key, s, *n);
    lua_pop(L, 1); /* the string stays referenced by opts */
    return s;
}

void mb_lua_db_check_attr(lua_State *L, mb_lua_db_call *c, int idx, const char *what) {
    size_t n;
    const char *s = mb_lua_db_check_str(L, idx, c->fn, what, 255, &n);
    if ((n == 2 && memcmp(s, "PK", 2) == 0) || (n == 2 && memcmp(s, "SK", 2) == 0)) {
        luaL_error(L, "%s: %s must not name the key attribute %s", c->fn, what, s);
    }
}

/* ---- keys and items ---- */

void mb_lua_db_push_pk(lua_State *L, const mb_lua_services *svc) {
    lua_pushliteral(L, MB_LUA_DB_PK_PREFIX);
    lua_pushlstring(L, svc->tenant.ptr, svc->tenant.len);
    lua_concat(L, 2);
}

/* The namespace is the tenant handlers' (svc->db_namespace); the logical key keeps DynamoDB's
 * bound on the stored one. */
void mb_lua_db_ns_sk(lua_State *L, mb_lua_db_call *c) {
    mb_cur ns = c->svc->db_namespace;
    if (ns.len == 0) {
        return;
    }
    if (lua_rawlen(L, -1) > MB_LUA_DB_MAX_SK - ns.len) {
        luaL_error(L, "%s: the key (SK) must be 1..%d bytes", c->fn,
                   (int)(MB_LUA_DB_MAX_SK - ns.len));
    }
    lua_pushlstring(L, ns.ptr, ns.len);
    lua_insert(L, -2);
    lua_concat(L, 2);
}

/* Push the sort key of argument idx: a string, or a table {SK = "..."} with nothing else. */
static void s_push_sk(lua_State *L, mb_lua_db_call *c, int idx) {
    if (lua_type(L, idx) == LUA_TTABLE) {
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            bool sk = lua_type(L, -2) == LUA_TSTRING && strcmp(lua_tostring(L, -2), "SK") == 0;
            if (!sk) {
                luaL_error(L, "%s: a key is {SK = \"...\"}: ctx.db adds PK itself", c->fn);
            }
            lua_pop(L, 1);
        }
        lua_getfield(L, idx, "SK");
    } else {
        lua_pushvalue(L, idx);
    }
    size_t n;
    mb_lua_db_check_str(L, -1, c->fn, "the key (SK)", MB_LUA_DB_MAX_SK, &n);
    mb_lua_db_ns_sk(L, c);
}

void mb_lua_db_push_key(lua_State *L, mb_lua_db_call *c, int idx) {
    idx = lua_absindex(L, idx);
    lua_createtable(L, 0, 2); /* stack: key */
    mb_lua_db_push_pk(L, c->svc);
    lua_setfield(L, -2, "PK");
    s_push_sk(L, c, idx);
    lua_setfield(L, -2, "SK");
}

void mb_lua_db_push_item(lua_State *L, mb_lua_db_call *c, int idx) {
    idx = lua_absindex(L, idx);
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_newtable(L); /* stack: copy */
    lua_pushnil(L);
    while (lua_next(L, idx)) { /* stack: copy, k, v */
        if (lua_type(L, -2) == LUA_TSTRING && strcmp(lua_tostring(L, -2), "PK") == 0) {
            luaL_error(L, "%s: items must not set PK: ctx.db adds the tenant partition key", c->fn);
        }
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -4); /* stack: copy, k */
    }
    lua_getfield(L, -1, "SK");
    size_t n;
    mb_lua_db_check_str(L, -1, c->fn, "item.SK", MB_LUA_DB_MAX_SK, &n);
    mb_lua_db_ns_sk(L, c);
    lua_setfield(L, -2, "SK");
    mb_lua_db_push_pk(L, c->svc);
    lua_setfield(L, -2, "PK");
}

void mb_lua_db_strip(lua_State *L, int idx) {
    if (!lua_istable(L, idx)) {
        return;
    }
    lua_pushnil(L);
    lua_setfield(L, idx, "PK");
    mb_cur ns = mb_lua_aux_services(L)->db_namespace;
    size_t n = 0;
    const char *sk = lua_getfield(L, idx, "SK") == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL;
    if (ns.len && sk && n >= ns.len && memcmp(sk, ns.ptr, ns.len) == 0) {
        lua_pushlstring(L, sk + ns.len, n - ns.len);
        lua_setfield(L, idx, "SK");
    }
    lua_pop(L, 1);
}

void mb_lua_db_strip_list(lua_State *L) {
    int list = lua_gettop(L);
    lua_Integer n = (lua_Integer)lua_rawlen(L, list);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, list, i);
        mb_lua_db_strip(L, lua_gettop(L));
        lua_pop(L, 1);
    }
    mb_lua_aux_mark_array(L);
}
