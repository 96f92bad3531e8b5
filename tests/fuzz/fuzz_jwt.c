/* fuzz_jwt.c - libFuzzer harness for mb_jwt_verify with a fixed JWKS and a fixed clock.
 * First byte even: the rest is the token as received. First byte odd: the rest is
 * "<header JSON>\n<payload JSON>" (no newline: the payload, under a valid RS256 header), which
 * the harness signs with the JWKS key, so the claim checks behind the signature are fuzzed too.
 * Properties: only 0, MB_ERR_UNAUTH (or MB_ERR_NOMEM) come back; an accepted token has a
 * non-empty sub, a known token_use and an exp in the future (with skew); verifying the same
 * token again (a cache hit) gives the same answer and the same claims; mb_jwt_verify_jws
 * agrees whenever the full verification succeeds; mb_auth_authenticate agrees too (s_auth). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "fuzz_jwt_common.h"
#include "moonbase/auth.h"
#include "moonbase/base64.h"
#include "moonbase/json.h"
#include "moonbase/jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SKEW 60

static mb_jwks *g_jwks;
static EVP_PKEY *g_key;

static void s_init(void) {
    g_jwks = fz_jwks_new();
    BIO *bio = BIO_new_mem_buf(fz_key_pem, -1);
    g_key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    FZ_CHECK(g_key != NULL);
}

/* out = b64url(header) "." b64url(payload) "." b64url(RS256 signature). */
static void s_sign(mb_buf *out, mb_cur header, mb_cur payload) {
    unsigned char sig[512];
    size_t siglen = sizeof sig;
    FZ_CHECK(mb_base64url_encode(out, header) == 0 && mb_buf_append_byte(out, '.') == 0 &&
             mb_base64url_encode(out, payload) == 0);
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    FZ_CHECK(mc != NULL && EVP_DigestSignInit(mc, NULL, EVP_sha256(), NULL, g_key) == 1 &&
             EVP_DigestSign(mc, sig, &siglen, (const unsigned char *)out->ptr, out->len) == 1);
    EVP_MD_CTX_free(mc);
    FZ_CHECK(mb_buf_append_byte(out, '.') == 0 &&
             mb_base64url_encode(out, (mb_cur){(const char *)sig, siglen}) == 0);
}

/* The same token through mb_auth_authenticate: accepted exactly when mb_jwt_verify accepted it
 * (and the user is in the rule's group); req.user.claims equals the payload decoded by the
 * strict JSON decoder (differential: auth's own claims reader against core/json.c). */
static void s_auth(mb_cur token, int jwt_rc, mb_cur payload, bool in_group) {
    static const char *const groups[] = {"admins"};
    mb_config cfg = {0};
    cfg.cognito_issuer = FZ_ISSUER;
    cfg.client_ids[0] = "client-a";
    cfg.client_ids[1] = "client-b";
    cfg.client_id_count = 2;
    cfg.jwt_clock_skew_s = SKEW;
    mb_err err = {0};
    mb_auth *a = mb_auth_new(&cfg, &err);
    FZ_CHECK(a != NULL);
    mb_auth_set_transport(a, fz_fetch, NULL);
    mb_auth_set_clock(a, &fz_clock);
    mb_buf h = {0};
    FZ_CHECK(mb_buf_append_cstr(&h, "Bearer ") == 0 && mb_buf_append_cur(&h, token) == 0);
    lua_State *L = fz_lua_new();
    mb_auth_rule rule = {MB_TOKEN_USE_ANY, groups, in_group ? 1 : 0};
    const mb_auth_claims *who = NULL;
    int rc = mb_auth_authenticate(a, mb_buf_cur(&h), &rule, &who, &err);
    if (rc == 0) {
        FZ_CHECK(who != NULL &&
                 mb_cur_eq(mb_tenant_key(&who->tenant), mb_tenant_key(mb_auth_tenant(a))));
        rc = mb_auth_push_user(L, who, &err); /* req.user, as the app builds it */
    }
    if (jwt_rc != 0 || token.len == 0) {
        FZ_CHECK(rc != 0 && lua_gettop(L) == 0);
    } else if (rc == 0) {
        FZ_CHECK(lua_gettop(L) == 1 && lua_istable(L, 1));
        const mb_tenant *t = mb_auth_tenant(a); /* success: exactly one tenant, as in req.user */
        FZ_CHECK(t->kind != MB_TENANT_NONE && t->key_len > 0 && t->key_len < sizeof t->key);
        lua_getfield(L, 1, "tenant"); /* stack: user, tenant */
        size_t n = 0;
        const char *k = lua_tolstring(L, -1, &n);
        FZ_CHECK(k != NULL && n == t->key_len && memcmp(k, t->key, n) == 0);
        lua_pop(L, 1);
        lua_getfield(L, 1, "claims"); /* stack: user, claims */
        mb_err derr = {0};
        int drc = mb_json_decode(L, payload, MB_JSON_MAX_DEPTH, &derr);
        FZ_CHECK(drc == 0 || (drc == MB_ERR_LIMIT && strstr(derr.msg, "out of range")));
        FZ_CHECK(drc != 0 || fz_lua_equal(L, -1, -2));
    } else { /* a verified token is refused only for a missing group or an invalid tenant */
        FZ_CHECK(rc == MB_ERR_FORBIDDEN && mb_auth_tenant(a)->kind == MB_TENANT_NONE);
        FZ_CHECK(in_group || strcmp(mb_auth_last_detail(a), "not in a required group") != 0);
    }
    lua_close(L);
    mb_buf_cleanup(&h);
    mb_auth_free(a);
}

static void s_verify(mb_cur token) {
    static const char *const clients[] = {"client-a", "client-b"};
    mb_jwt_options o = {FZ_ISSUER, clients, 2, SKEW, fz_clock};
    mb_err err = {0};
    mb_jwt_verifier *v = mb_jwt_verifier_new(&o, g_jwks, &err);
    FZ_CHECK(v != NULL);
    const mb_jwt_claims *c = NULL;
    int rc = mb_jwt_verify(v, token, &c, &err);
    FZ_CHECK(rc == 0 || rc == MB_ERR_UNAUTH || rc == MB_ERR_NOMEM);
    FZ_CHECK((rc == 0) == (c != NULL));
    if (getenv("FZ_VERBOSE")) { /* which check a seed reaches: keep the corpus useful */
        fprintf(stderr, "jwt: status %d (%s)\n", rc, mb_jwt_last_detail(v));
    }
    mb_buf sub = {0}, payload = {0};
    if (rc == 0) {
        FZ_CHECK(mb_buf_append_cur(&payload, c->payload) == 0);
        FZ_CHECK(c->sub.len > 0 && mb_buf_append_cur(&sub, c->sub) == 0);
        FZ_CHECK(c->token_use == MB_JWT_USE_ID || c->token_use == MB_JWT_USE_ACCESS);
        FZ_CHECK(c->exp + SKEW > FZ_NOW);
        FZ_CHECK(mb_jwt_verify_jws(g_jwks, token, NULL, &err) == 0);
    }
    const mb_jwt_claims *again = NULL;
    int rc2 = mb_jwt_verify(v, token, &again, &err);
    FZ_CHECK(rc2 == rc);
    if (rc == 0) {
        FZ_CHECK(mb_cur_eq(again->sub, mb_buf_cur(&sub)));
    }
    mb_buf_cleanup(&sub);
    mb_jwt_verifier_free(v);
    s_auth(token, rc, mb_buf_cur(&payload), token.len % 2 == 0);
    mb_buf_cleanup(&payload);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_jwks) {
        s_init();
    }
    if (size == 0) {
        return 0;
    }
    mb_cur rest = {(const char *)data + 1, size - 1};
    if ((data[0] & 1) == 0) {
        s_verify(rest);
        return 0;
    }
    const char *nl = memchr(rest.ptr, '\n', rest.len);
    mb_cur header = MB_CUR_LIT("{\"kid\":\"" FZ_KEY_KID "\",\"alg\":\"RS256\"}"), payload = rest;
    if (nl) {
        header = (mb_cur){rest.ptr, (size_t)(nl - rest.ptr)};
        payload = (mb_cur){nl + 1, rest.len - header.len - 1};
    }
    mb_buf token = {0};
    s_sign(&token, header, payload);
    s_verify(mb_buf_cur(&token));
    mb_buf_cleanup(&token);
    return 0;
}
