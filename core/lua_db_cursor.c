/* lua_db_cursor.c - ctx.db.query's pagination (see lua_db_call.h): the opaque cursor a page
 * returns, base64url(1 || key JSON || 128-bit HMAC-SHA256), bound to the tenant it was made
 * for, and the per-deployment key it is signed with. A cursor that is malformed, forged, or
 * made for another tenant does not verify: a 400, never another partition's page. */
#include "lua_db_call.h"

#include <string.h>

#include <lauxlib.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "moonbase/base64.h"
#include "moonbase/config.h"
#include "moonbase/ddb_marshal.h"
#include "moonbase/secrets.h"

/* A cursor holds one key of at most 2 KB (PK is not in it); longer input is refused unread. */
#define MAX_CURSOR 4096
#define CURSOR_VERSION 1
#define CURSOR_MAC_LEN 16 /* 128 bits of HMAC-SHA256: forging needs 2^128 tries */
#define CURSOR_LABEL "moonbase-cursor-v1"

/* The per-deployment cursor key: HMAC(key material, label), where the material is, in order:
 * CURSOR_SECRET (local runs: scripts/seed gives each local stack a random one), the Secrets
 * Manager secret CURSOR_SECRET_ARN (deployments: read at run time through the cached client, so a
 * rotation reaches warm processes within the TTL, and the key is never in the function's
 * configuration), else 32 random bytes of this process (cursors then work only in the process
 * that made them). Never derived from AWS_SECRET_ACCESS_KEY: a local stack's is the public
 * "local", which let anyone mint cursors. */
static void s_secret(lua_State *L, mb_lua_db_call *c) {
    mb_lua_db_state *st = c->st;
    const mb_config *cfg = c->svc->cfg;
    bool from_manager = cfg && !cfg->cursor_secret && cfg->cursor_secret_arn;
    if (st->have_secret && !from_manager) {
        return;
    }
    static const char label[] = "moonbase-cursor-secret";
    mb_cur src = {0};
    if (cfg && cfg->cursor_secret) {
        src = mb_cur_from_cstr(cfg->cursor_secret);
    } else if (from_manager) {
        mb_err err = c->svc->secrets_err; /* why there is no client, when there is none */
        if (!c->svc->secrets || mb_secrets_get(c->svc->secrets, cfg->cursor_secret_arn,
                                               c->svc->deadline_ms, &src, &err) != 0) {
            mb_lua_db_log(c, MB_LOG_ERROR, "cursor key not available", err.status, &err);
            mb_lua_aux_raise_fail(L, 503, "unavailable", "a dependency is unavailable");
        }
        mb_log_redact_value(c->svc->log, src);
    }
    unsigned int len = 0;
    if (src.len) {
        HMAC(EVP_sha256(), src.ptr, (int)(src.len < 65536 ? src.len : 65536),
             (const unsigned char *)label, sizeof label - 1, st->secret, &len);
    } else if (RAND_bytes(st->secret, (int)sizeof st->secret) == 1) {
        len = sizeof st->secret;
        mb_log_writef(
            c->svc->log, MB_LOG_WARN,
            "CURSOR_SECRET is not set (nor CURSOR_SECRET_ARN): pagination cursors are valid "
            "in this process only");
    }
    if (len != sizeof st->secret) {
        luaL_error(L, "%s: cannot derive the cursor key", c->fn);
    }
    st->have_secret = true;
}

/* mac = HMAC-SHA256(secret, label || 0 || be32(len tenant) || tenant || key JSON). */
static void s_mac(lua_State *L, mb_lua_db_call *c, mb_cur json, unsigned char mac[32]) {
    mb_buf *b = &c->st->tmp;
    mb_cur t = c->svc->tenant;
    unsigned char be[4] = {(unsigned char)(t.len >> 24), (unsigned char)(t.len >> 16),
                           (unsigned char)(t.len >> 8), (unsigned char)t.len};
    mb_buf_reset(b);
    mb_lua_db_append(L, b, CURSOR_LABEL, sizeof CURSOR_LABEL); /* with its NUL: the separator */
    mb_lua_db_append(L, b, (const char *)be, sizeof be);
    mb_lua_db_append(L, b, t.ptr, t.len);
    mb_lua_db_append(L, b, json.ptr, json.len);
    unsigned int len = 0;
    HMAC(EVP_sha256(), c->st->secret, (int)sizeof c->st->secret, (const unsigned char *)b->ptr,
         b->len, mac, &len);
}

/* Push the opaque cursor of the key (without PK) at idx. [-0, +1, v] */
static void s_push_cursor(lua_State *L, mb_lua_db_call *c, int idx) {
    mb_lua_db_state *st = c->st;
    s_secret(L, c);
    mb_buf_reset(&st->raw);
    mb_lua_db_append(L, &st->raw, "\x01", 1);
    mb_err err = {0};
    if (mb_ddb_marshal_item(L, idx, &st->raw, &err) != 0) {
        luaL_error(L, "%s: cannot encode the cursor: %s", c->fn, err.msg);
    }
    unsigned char mac[32];
    s_mac(L, c, (mb_cur){st->raw.ptr + 1, st->raw.len - 1}, mac);
    mb_lua_db_append(L, &st->raw, (const char *)mac, CURSOR_MAC_LEN);
    mb_buf_reset(&st->b64);
    if (mb_base64url_encode(&st->b64, mb_buf_cur(&st->raw)) != 0) {
        luaL_error(L, "not enough memory");
    }
    lua_pushlstring(L, st->b64.ptr, st->b64.len);
}

static int s_bad_cursor(lua_State *L) {
    return mb_lua_aux_raise_fail(L, 400, "bad_request", "invalid cursor");
}

void mb_lua_db_push_start_key(lua_State *L, mb_lua_db_call *c, int idx) {
    mb_lua_db_state *st = c->st;
    size_t n = 0;
    const char *s = lua_type(L, idx) == LUA_TSTRING ? lua_tolstring(L, idx, &n) : NULL;
    if (!s || n == 0 || n > MAX_CURSOR) {
        s_bad_cursor(L);
    }
    s_secret(L, c);
    mb_buf_reset(&st->raw);
    if (mb_base64url_decode(&st->raw, (mb_cur){s, n}, NULL) != 0 ||
        st->raw.len < 1 + 2 + CURSOR_MAC_LEN || st->raw.ptr[0] != CURSOR_VERSION) {
        s_bad_cursor(L);
    }
    mb_cur json = {st->raw.ptr + 1, st->raw.len - 1 - CURSOR_MAC_LEN};
    unsigned char mac[32];
    s_mac(L, c, json, mac);
    if (CRYPTO_memcmp(mac, json.ptr + json.len, CURSOR_MAC_LEN) != 0) {
        s_bad_cursor(L);
    }
    if (mb_ddb_marshal_unmarshal_item(L, json, NULL) != 0) { /* verified, so ours: still check */
        s_bad_cursor(L);
    }
    if (lua_getfield(L, -1, "PK") != LUA_TNIL) { /* stack: key, pk */
        s_bad_cursor(L);
    }
    lua_pop(L, 1);
    if (lua_getfield(L, -1, "SK") != LUA_TSTRING) { /* stack: key, sk */
        s_bad_cursor(L);
    }
    mb_lua_db_ns_sk(L, c); /* cursors hold the logical SK, like the items a handler reads */
    lua_setfield(L, -2, "SK");
    mb_lua_db_push_pk(L, c->svc);
    lua_setfield(L, -2, "PK");
}

void mb_lua_db_query_page(lua_State *L, mb_lua_db_call *c, lua_Integer limit, bool exact) {
    int resp = lua_gettop(L);
    lua_createtable(L, 0, 3);                           /* stack: resp, out */
    if (lua_getfield(L, resp, "Items") != LUA_TTABLE) { /* stack: resp, out, items */
        lua_pop(L, 1);
        lua_newtable(L);
    }
    int items = lua_gettop(L);
    mb_lua_db_strip_list(L); /* first: the cursor below takes the logical SK of the last item */
    lua_Integer n = (lua_Integer)lua_rawlen(L, items);
    lua_pushnil(L); /* stack: resp, out, items, cursor */
    if (exact && n > limit) {
        for (lua_Integer i = n; i > limit; i--) {
            lua_pushnil(L);
            lua_rawseti(L, items, i);
        }
        n = limit;
        lua_createtable(L, 0, 1); /* stack: ..., cursor, key */
        lua_rawgeti(L, items, n);
        lua_getfield(L, -1, "SK");
        lua_setfield(L, -3, "SK");
        lua_pop(L, 1);
        s_push_cursor(L, c, lua_gettop(L)); /* stack: ..., cursor, key, text */
        lua_replace(L, -3);
        lua_pop(L, 1);
    } else if (lua_getfield(L, resp, "LastEvaluatedKey") == LUA_TTABLE) {
        mb_lua_db_strip(L, lua_gettop(L)); /* stack: ..., cursor, lek */
        s_push_cursor(L, c, lua_gettop(L));
        lua_replace(L, -3);
        lua_pop(L, 1);
    } else {
        lua_pop(L, 1);
    }
    lua_setfield(L, resp + 1, "cursor"); /* stack: resp, out, items */
    lua_setfield(L, resp + 1, "items");
    lua_pushinteger(L, n);
    lua_setfield(L, resp + 1, "count");
    lua_remove(L, resp); /* stack: out */
}
