/* auth.c - bearer token -> verified claims (mb_auth_claims), with the route's token_use and
 * groups; req.user built from the claims. */
#include "moonbase/auth.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwt_json.h"
#include "moonbase/http.h"
#include "moonbase/jwks.h"
#include "moonbase/jwt.h"
#include "moonbase/log.h"
#include "moonbase/lua_aux.h"

/* The JWKS endpoint answers in milliseconds; a cold Lambda must not hang on it. */
#define MB_AUTH_JWKS_TIMEOUT_MS 3000
#define MB_AUTH_JWKS_CONNECT_MS 1500

struct mb_auth {
    const mb_config *cfg;
    struct mb_log *log;
    mb_jwks_fetch_fn fetch;
    void *fetch_ud;
    mb_clock clock; /* for the verifier and the key set; zeroed: the real one */
    mb_http *http;
    mb_jwks *jwks;
    mb_jwt_verifier *verifier;
    uint64_t logged_fetches; /* fetch failures are logged once per attempt, not per request */
    const char *detail;
    mb_auth_claims claims; /* of the last successful authentication; tenant NONE after a failure */
};

mb_auth *mb_auth_new(const mb_config *cfg, mb_err *err) {
    mb_auth *a = calloc(1, sizeof *a);
    if (a == NULL) {
        mb_err_set(err, MB_ERR_NOMEM, "auth: out of memory");
        return NULL;
    }
    a->cfg = cfg;
    a->detail = "";
    return a;
}

void mb_auth_free(mb_auth *auth) {
    if (auth == NULL) {
        return;
    }
    mb_jwt_verifier_free(auth->verifier);
    mb_jwks_free(auth->jwks);
    mb_http_free(auth->http);
    free(auth);
}

void mb_auth_set_log(mb_auth *auth, struct mb_log *log) {
    auth->log = log;
}

void mb_auth_set_transport(mb_auth *auth, mb_jwks_fetch_fn fetch, void *ud) {
    auth->fetch = fetch;
    auth->fetch_ud = ud;
}

void mb_auth_set_clock(mb_auth *auth, const mb_clock *clock) {
    auth->clock = clock ? *clock : (mb_clock){0};
}

const char *mb_auth_last_detail(const mb_auth *auth) {
    return auth->detail;
}

const mb_auth_claims *mb_auth_claims_of(const mb_auth *auth) {
    return &auth->claims;
}

const mb_tenant *mb_auth_tenant(const mb_auth *auth) {
    return &auth->claims.tenant;
}

/* ---- tenancy (see the Tenancy section of moonbase/auth.h) ---- */

mb_cur mb_tenant_key(const mb_tenant *t) {
    return (mb_cur){t->key, t->key_len};
}

mb_cur mb_tenant_id(const mb_tenant *t) {
    return (mb_cur){t->key + t->id_off, t->key_len - t->id_off};
}

const char *mb_tenant_kind_name(mb_tenant_kind kind) {
    return kind == MB_TENANT_PERSONAL ? "personal" : kind == MB_TENANT_NAMED ? "named" : "none";
}

static bool s_lower_digit(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

bool mb_tenant_name_valid(mb_cur name) {
    if (name.len == 0 || name.len > MB_TENANT_NAME_MAX || !s_lower_digit(name.ptr[0])) {
        return false;
    }
    for (size_t i = 1; i < name.len; i++) {
        if (!s_lower_digit(name.ptr[i]) && name.ptr[i] != '-') {
            return false;
        }
    }
    return true;
}

/* Cognito subs are UUIDs; anything outside this shape is not a sub we key data by. */
static bool s_sub_valid(mb_cur sub) {
    if (sub.len == 0 || sub.len > MB_TENANT_SUB_MAX) {
        return false;
    }
    for (size_t i = 0; i < sub.len; i++) {
        char ch = sub.ptr[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.';
        if (!ok) {
            return false;
        }
    }
    return true;
}

static void s_tenant_set(mb_tenant *t, mb_tenant_kind kind, const char *prefix, mb_cur id) {
    size_t p = strlen(prefix);
    t->kind = kind;
    memcpy(t->key, prefix, p);
    memcpy(t->key + p, id.ptr, id.len); /* callers checked id.len against the capacity */
    t->key_len = p + id.len;
    t->key[t->key_len] = '\0';
    t->id_off = p;
}

/* Cognito group names have at most 128 characters; a longer one (6 bytes an escape) cannot come
 * from Cognito and is refused rather than half-read. */
#define MB_AUTH_GROUP_RAW_MAX (128 * 6)

/* Find the one "tenant:<name>" group. Returns 0 with *name (copied into buf, which has
 * MB_TENANT_NAME_MAX bytes) or empty when there is none; MB_ERR_FORBIDDEN when there are several,
 * a name is malformed or a group name is too long to check. */
static int s_tenant_group(mb_cur groups, char *buf, mb_cur *name, const char **detail) {
    static const char prefix[] = MB_TENANT_GROUP_PREFIX;
    const size_t plen = sizeof prefix - 1;
    char tmp[MB_AUTH_GROUP_RAW_MAX];
    mb_jwt_json_iter it;
    mb_jwt_member e;
    *name = (mb_cur){buf, 0};
    if (groups.len == 0) {
        return 0;
    }
    mb_jwt_json_iter_init(&it, groups);
    while (mb_jwt_json_iter_next(&it, &e) == 1) {
        size_t n = 0;
        if (e.value.len > sizeof tmp || mb_text_json_unescape(e.value, tmp, sizeof tmp, &n) != 0) {
            *detail = "a group name is too long or malformed";
            return MB_ERR_FORBIDDEN;
        }
        if (n < plen || memcmp(tmp, prefix, plen) != 0) {
            continue;
        }
        mb_cur nm = {tmp + plen, n - plen};
        if (!mb_tenant_name_valid(nm)) {
            *detail = "malformed tenant group name";
            return MB_ERR_FORBIDDEN;
        }
        if (name->len != 0) {
            *detail = "member of more than one tenant group";
            return MB_ERR_FORBIDDEN;
        }
        memcpy(buf, nm.ptr, nm.len);
        *name = (mb_cur){buf, nm.len};
    }
    return 0;
}

int mb_auth_resolve_tenant(const mb_jwt_claims *c, mb_tenant *out, const char **detail) {
    const char *d = "";
    char name_buf[MB_TENANT_NAME_MAX];
    mb_cur name;
    memset(out, 0, sizeof *out);
    int rc = s_tenant_group(c->groups, name_buf, &name, &d);
    if (rc == 0 && name.len == 0 && c->tenant.len != 0) {
        d = "custom:tenant_id without its tenant group";
        rc = MB_ERR_FORBIDDEN;
    } else if (rc == 0 && name.len != 0 && c->tenant.len != 0 && !mb_cur_eq(name, c->tenant)) {
        d = "custom:tenant_id differs from the tenant group";
        rc = MB_ERR_FORBIDDEN;
    } else if (rc == 0 && name.len == 0 && !s_sub_valid(c->sub)) {
        d = "sub is not a valid personal tenant id";
        rc = MB_ERR_FORBIDDEN;
    }
    if (rc == 0) {
        if (name.len != 0) {
            s_tenant_set(out, MB_TENANT_NAMED, "org:", name);
        } else {
            s_tenant_set(out, MB_TENANT_PERSONAL, "user:", c->sub);
        }
    }
    if (detail != NULL) {
        *detail = d;
    }
    return rc;
}

/* The default JWKS transport: GET over the keep-alive client, created on first use. */
static int s_http_fetch(void *ud, const char *url, mb_buf *body, mb_err *err) {
    mb_auth *a = ud;
    if (a->http == NULL && (a->http = mb_http_new(err)) == NULL) {
        return err != NULL ? err->status : MB_ERR_NOMEM;
    }
    mb_http_request req = {.method = "GET",
                           .url = url,
                           .timeout_ms = MB_AUTH_JWKS_TIMEOUT_MS,
                           .connect_timeout_ms = MB_AUTH_JWKS_CONNECT_MS,
                           .max_response_bytes = MB_JWKS_MAX_DOC};
    mb_http_response resp = {0};
    int rc = mb_http_send(a->http, &req, &resp, err);
    if (rc == 0 && resp.status != 200) {
        rc = mb_err_set(err, MB_ERR_UPSTREAM, "HTTP status %ld", resp.status);
    }
    if (rc == 0 && mb_buf_append_cur(body, mb_buf_cur(&resp.body)) != 0) {
        rc = mb_err_set(err, MB_ERR_NOMEM, "out of memory");
    }
    mb_http_response_cleanup(&resp);
    return rc;
}

static void s_log(mb_auth *a, mb_log_level level, const char *msg, const char *detail) {
    if (a->log != NULL) {
        mb_log_field f = mb_log_field_str("detail", mb_cur_from_cstr(detail));
        mb_log_write(a->log, level, msg, &f, 1);
        return;
    }
    /* No logger: one JSON line on stderr. detail comes from our own code (URL, status). */
    mb_buf line = {0};
    if (mb_buf_appendf(&line, "{\"level\":\"%s\",\"message\":\"%s\",\"detail\":\"",
                       mb_log_level_name(level), msg) == 0) {
        for (const char *p = detail; *p; p++) {
            if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) {
                mb_buf_append_byte(&line, '?');
            } else {
                mb_buf_append_byte(&line, *p);
            }
        }
        mb_buf_append_cstr(&line, "\"}\n");
        fputs(line.ptr, stderr);
    }
    mb_buf_cleanup(&line);
}

/* Create the key set and verifier on first use. */
static int s_init(mb_auth *a, mb_err *err) {
    const mb_config *cfg = a->cfg;
    if (a->verifier != NULL) {
        return 0;
    }
    if (cfg == NULL || cfg->cognito_issuer == NULL || cfg->client_id_count == 0) {
        a->detail = "COGNITO_ISSUER (or USER_POOL_ID) and CLIENT_ID must be set";
        return mb_err_set(err, MB_ERR_UNAVAILABLE, "authentication not configured");
    }
    mb_buf url = {0};
    if (a->jwks == NULL) {
        size_t n = strlen(cfg->cognito_issuer);
        bool slash = n > 0 && cfg->cognito_issuer[n - 1] == '/';
        /* COGNITO_JWKS_URL: the same keys under another host name (the issuer claim still has to
         * be COGNITO_ISSUER); sam local invoke reaches the host's cognito-local that way. */
        int rc = cfg->cognito_jwks_url ? mb_buf_append_cstr(&url, cfg->cognito_jwks_url)
                                       : mb_buf_appendf(&url, "%s%s.well-known/jwks.json",
                                                        cfg->cognito_issuer, slash ? "" : "/");
        if (rc != 0) {
            return mb_err_set(err, MB_ERR_NOMEM, "out of memory");
        }
        a->jwks = mb_jwks_new(url.ptr, a->fetch ? a->fetch : s_http_fetch,
                              a->fetch ? a->fetch_ud : a, err);
        mb_buf_cleanup(&url);
        if (a->jwks == NULL) {
            return MB_ERR_NOMEM;
        }
        mb_jwks_set_clock(a->jwks, &a->clock);
    }
    mb_jwt_options o = {cfg->cognito_issuer, (const char *const *)cfg->client_ids,
                        cfg->client_id_count, cfg->jwt_clock_skew_s, a->clock};
    a->verifier = mb_jwt_verifier_new(&o, a->jwks, err);
    if (a->verifier == NULL) {
        a->detail = "verifier configuration rejected";
        return mb_err_set(err, MB_ERR_UNAVAILABLE, "authentication not configured");
    }
    return 0;
}

int mb_auth_bearer_token(mb_cur h, mb_cur *token) {
    size_t i = 0, end = h.len;
    while (i < end && (h.ptr[i] == ' ' || h.ptr[i] == '\t')) {
        i++;
    }
    while (end > i && (h.ptr[end - 1] == ' ' || h.ptr[end - 1] == '\t')) {
        end--;
    }
    if (end - i < 7 || !mb_cur_eq_icase((mb_cur){h.ptr + i, 6}, MB_CUR_LIT("Bearer")) ||
        h.ptr[i + 6] != ' ') {
        return MB_ERR_UNAUTH;
    }
    i += 6;
    while (i < end && h.ptr[i] == ' ') {
        i++;
    }
    if (i == end) {
        return MB_ERR_UNAUTH;
    }
    for (size_t j = i; j < end; j++) {
        if (h.ptr[j] == ' ' || h.ptr[j] == '\t') {
            return MB_ERR_UNAUTH;
        }
    }
    *token = (mb_cur){h.ptr + i, end - i};
    return 0;
}

/* True when the user is in at least one of the rule's groups. */
static bool s_in_groups(const mb_jwt_claims *c, const mb_auth_rule *rule) {
    if (rule == NULL || rule->group_count == 0) {
        return true;
    }
    if (c->groups.len == 0) {
        return false;
    }
    mb_jwt_json_iter it;
    mb_jwt_member e;
    mb_jwt_json_iter_init(&it, c->groups);
    while (mb_jwt_json_iter_next(&it, &e) == 1) {
        for (size_t i = 0; i < rule->group_count; i++) {
            if (mb_jwt_json_str_eq(e.value, e.value_escaped, mb_cur_from_cstr(rule->groups[i]))) {
                return true;
            }
        }
    }
    return false;
}

static void s_push_string(lua_State *L, mb_cur raw, bool escaped) {
    if (!escaped) {
        lua_pushlstring(L, raw.ptr, raw.len);
        return;
    }
    luaL_Buffer b;
    char *p = luaL_buffinitsize(L, &b, raw.len);
    size_t n = 0;
    if (mb_text_json_unescape(raw, p, raw.len, &n) != 0) {
        n = 0; /* cannot happen: the payload was validated */
    }
    luaL_pushresultsize(&b, n);
}

static void s_push_number(lua_State *L, mb_cur raw) {
    char tmp[80];
    if (raw.len < sizeof tmp) {
        memcpy(tmp, raw.ptr, raw.len);
        tmp[raw.len] = '\0';
        if (lua_stringtonumber(L, tmp) != 0) {
            return;
        }
    }
    lua_pushlstring(L, raw.ptr, raw.len); /* stack: str */
    if (lua_stringtonumber(L, lua_tostring(L, -1)) != 0) {
        lua_remove(L, -2); /* stack: number */
    }
}

static void s_push_container(lua_State *L, mb_cur text, int depth);

static void s_push_value(lua_State *L, const mb_jwt_member *m, int depth) {
    switch (m->type) {
    case MB_JWT_JSON_STRING:
        s_push_string(L, m->value, m->value_escaped);
        break;
    case MB_JWT_JSON_NUMBER:
        s_push_number(L, m->value);
        break;
    case MB_JWT_JSON_OBJECT:
    case MB_JWT_JSON_ARRAY:
        s_push_container(L, m->value, depth + 1);
        break;
    case MB_JWT_JSON_TRUE:
    case MB_JWT_JSON_FALSE:
        lua_pushboolean(L, m->type == MB_JWT_JSON_TRUE);
        break;
    default:
        mb_lua_aux_push_null(L); /* json.null */
        break;
    }
}

/* Push a validated JSON object or array as a table (arrays marked with the array metatable). */
static void s_push_container(lua_State *L, mb_cur text, int depth) {
    mb_jwt_json_iter it;
    mb_jwt_member m;
    lua_Integer i = 0;
    while (text.len > 0 && text.ptr[0] != '{' && text.ptr[0] != '[') {
        text.ptr++, text.len--; /* leading whitespace */
    }
    luaL_checkstack(L, 4, "claims nested too deeply");
    mb_jwt_json_iter_init(&it, text);
    lua_newtable(L); /* stack: t */
    if (!it.is_object) {
        mb_lua_aux_mark_array(L);
    }
    while (depth <= MB_JWT_JSON_MAX_DEPTH && mb_jwt_json_iter_next(&it, &m) == 1) {
        if (it.is_object) {
            s_push_string(L, m.key, m.key_escaped); /* stack: t, key */
            s_push_value(L, &m, depth);             /* stack: t, key, value */
            lua_rawset(L, -3);
        } else {
            s_push_value(L, &m, depth); /* stack: t, value */
            lua_rawseti(L, -2, ++i);
        }
    }
}

static void s_set_cur(lua_State *L, const char *field, mb_cur v) {
    lua_pushlstring(L, v.ptr, v.len);
    lua_setfield(L, -2, field);
}

/* lua_CFunction run under mb_lua_aux_cpcall: (mb_auth_claims lightuserdata) -> user table.
 * [-1, +1, m] */
static int s_push_user(lua_State *L) {
    const mb_auth_claims *c = lua_touserdata(L, 1);
    const mb_tenant *t = &c->tenant;
    lua_createtable(L, 0, 10); /* stack: claims*, user */
    s_set_cur(L, "sub", c->sub);
    s_set_cur(L, "email", c->email);
    s_set_cur(L, "username", c->username);
    s_set_cur(L, "tenant", mb_tenant_key(t));
    lua_pushstring(L, mb_tenant_kind_name(t->kind));
    lua_setfield(L, -2, "tenant_kind");
    if (t->kind == MB_TENANT_NAMED) {
        s_set_cur(L, "tenant_name", mb_tenant_id(t));
    }
    lua_pushstring(L, c->token_use == MB_TOKEN_USE_ID ? "id" : "access");
    lua_setfield(L, -2, "token_use");
    s_push_container(L, c->groups.len > 0 ? c->groups : MB_CUR_LIT("[]"), 0);
    lua_setfield(L, -2, "groups");
    s_push_container(L, c->payload, 0);
    lua_setfield(L, -2, "claims");
    return 1;
}

int mb_auth_push_user(lua_State *L, const mb_auth_claims *claims, mb_err *err) {
    if (!lua_checkstack(L, 4)) {
        return mb_err_set(err, MB_ERR_NOMEM, "out of memory");
    }
    if (mb_lua_aux_cpcall(L, s_push_user, 0, (void *)claims, 1) != LUA_OK) { /* stack: user | e */
        lua_pop(L, 1);
        return mb_err_set(err, MB_ERR_NOMEM, "out of memory");
    }
    return 0;
}

static int s_reject(mb_auth *a, mb_err *err, int status, const char *public_msg, const char *d) {
    a->detail = d;
    return mb_err_set(err, status, "%s", public_msg);
}

static void s_log_fetch_failure(mb_auth *a) {
    uint64_t fetches = mb_jwks_fetch_count(a->jwks);
    if (fetches != a->logged_fetches && mb_jwks_last_error(a->jwks)[0] != '\0') {
        a->logged_fetches = fetches;
        s_log(a, MB_LOG_ERROR, "JWKS fetch failed", mb_jwks_last_error(a->jwks));
    }
}

int mb_auth_authenticate(mb_auth *auth, mb_cur authorization, const mb_auth_rule *rule,
                         const mb_auth_claims **claims, mb_err *err) {
    mb_cur token;
    const mb_jwt_claims *c = NULL;
    *claims = NULL;
    auth->detail = "";
    memset(&auth->claims, 0, sizeof auth->claims);
    if (authorization.len == 0) {
        return s_reject(auth, err, MB_ERR_UNAUTH, "missing bearer token", "no Authorization");
    }
    if (mb_auth_bearer_token(authorization, &token) != 0) {
        return s_reject(auth, err, MB_ERR_UNAUTH, "invalid authorization header",
                        "Authorization is not \"Bearer <token>\"");
    }
    int rc = s_init(auth, err);
    if (rc != 0) {
        return rc;
    }
    rc = mb_jwt_verify(auth->verifier, token, &c, err);
    if (rc != 0) {
        auth->detail = mb_jwt_last_detail(auth->verifier);
        if (rc == MB_ERR_UNAVAILABLE) {
            s_log_fetch_failure(auth);
        }
        return rc;
    }
    if (rule != NULL && rule->token_use != MB_TOKEN_USE_ANY &&
        (int)rule->token_use != (int)c->token_use) {
        return s_reject(auth, err, MB_ERR_UNAUTH, "invalid token",
                        "token_use not accepted on this route");
    }
    if (!s_in_groups(c, rule)) {
        return s_reject(auth, err, MB_ERR_FORBIDDEN, "not in a required group",
                        "not in a required group");
    }
    mb_tenant t;
    const char *why = "";
    if (mb_auth_resolve_tenant(c, &t, &why) != 0) {
        return s_reject(auth, err, MB_ERR_FORBIDDEN, "no valid tenant for this user", why);
    }
    auth->claims = (mb_auth_claims){
        .tenant = t,
        .sub = c->sub,
        .email = c->email,
        .username = c->username,
        .groups = c->groups,
        .token_use = c->token_use == MB_JWT_USE_ID ? MB_TOKEN_USE_ID : MB_TOKEN_USE_ACCESS,
        .payload = c->payload,
    };
    *claims = &auth->claims;
    return 0;
}
