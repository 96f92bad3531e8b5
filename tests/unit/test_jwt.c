/* test_jwt.c - RS256 JWT verification: one test per rejection rule, the verified-token cache, and
 * the Wycheproof JWS vectors run through the JWS layer. Tokens are signed here with OpenSSL; the
 * JWKS documents are written here and served through the transport seam. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <string.h>

#include "jwt_testkit.h"
#include "moonbase/base64.h"
#include "moonbase/jwks.h"
#include "moonbase/jwt.h"

#define ISS "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Test"
#define NOW 1767225600
#define HDR "{\"kid\":\"k1\",\"alg\":\"RS256\"}"

static tk_key g_k1, g_k2;

typedef struct fx {
    tk_fetch fetch;
    tk_clock wall;
    tk_clock mono;
    mb_buf doc;
    mb_buf tok;
    mb_buf payload;
    mb_jwks *jwks;
    mb_jwt_verifier *v;
} fx;

/* Raw JSON text of each claim; NULL leaves the claim out. */
typedef struct spec {
    const char *iss, *token_use, *aud, *client_id, *exp, *nbf, *iat, *sub, *extra;
} spec;

static spec s_id(void) {
    return (spec){"\"" ISS "\"", "\"id\"",     "\"client-a\"", NULL, "1767229200",
                  NULL,          "1767225590", "\"u-1\"",      NULL};
}

static void s_payload(mb_buf *out, spec s) {
    const char *names[] = {"iss", "token_use", "aud", "client_id", "exp", "nbf", "iat", "sub"};
    const char *vals[] = {s.iss, s.token_use, s.aud, s.client_id, s.exp, s.nbf, s.iat, s.sub};
    mb_buf_reset(out);
    mb_buf_append_cstr(out, "{\"email\":\"a@example.com\",\"cognito:username\":\"alice\","
                            "\"username\":\"alice-a\",\"custom:tenant_id\":\"acme\","
                            "\"cognito:groups\":[\"admin\",\"users\"]");
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        if (vals[i] != NULL) {
            mb_buf_appendf(out, ",\"%s\":%s", names[i], vals[i]);
        }
    }
    if (s.extra != NULL) {
        mb_buf_appendf(out, ",%s", s.extra);
    }
    mb_buf_append_byte(out, '}');
}

static int group_setup(void **state) {
    (void)state;
    tk_key_init(&g_k1, 2048, "k1");
    tk_key_init(&g_k2, 2048, "k2");
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    tk_key_cleanup(&g_k1);
    tk_key_cleanup(&g_k2);
    return 0;
}

static int setup(void **state) {
    fx *f = calloc(1, sizeof *f);
    const tk_key *keys[] = {&g_k1};
    tk_jwks(&f->doc, keys, 1);
    f->fetch.doc = f->doc.ptr;
    f->wall.now = NOW;
    f->mono.now = 1000;
    f->jwks = mb_jwks_new(ISS "/.well-known/jwks.json", tk_fetch_fn, &f->fetch, NULL);
    mb_clock mono = tk_mono(&f->mono);
    mb_jwks_set_clock(f->jwks, &mono);
    static const char *const clients[] = {"client-a", "client-b"};
    mb_jwt_options o = {ISS, clients, 2, 60, tk_wall(&f->wall)};
    f->v = mb_jwt_verifier_new(&o, f->jwks, NULL);
    assert_non_null(f->v);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx *f = *state;
    mb_jwt_verifier_free(f->v);
    mb_jwks_free(f->jwks);
    mb_buf_cleanup(&f->doc);
    mb_buf_cleanup(&f->tok);
    mb_buf_cleanup(&f->payload);
    free(f);
    return 0;
}

/* Sign `s` with k1 and verify; returns the status, *claims for success. */
static int s_verify_spec(fx *f, const char *header, spec s, const mb_jwt_claims **claims) {
    const mb_jwt_claims *c = NULL;
    s_payload(&f->payload, s);
    tk_sign(&f->tok, &g_k1, header, f->payload.ptr);
    int rc = mb_jwt_verify(f->v, mb_buf_cur(&f->tok), &c, NULL);
    if (claims != NULL) {
        *claims = c;
    }
    return rc;
}

static int s_verify_tok(fx *f) {
    const mb_jwt_claims *c;
    mb_err err = {0};
    int rc = mb_jwt_verify(f->v, mb_buf_cur(&f->tok), &c, &err);
    if (rc == MB_ERR_UNAUTH) {
        /* Client-facing messages never carry detail or token bytes. */
        assert_true(strcmp(err.msg, "invalid token") == 0 ||
                    strcmp(err.msg, "token expired") == 0 ||
                    strcmp(err.msg, "token not yet valid") == 0);
    }
    return rc;
}

static void s_assert_detail(fx *f, const char *needle) {
    const char *d = mb_jwt_last_detail(f->v);
    if (strstr(d, needle) == NULL) {
        fail_msg("detail \"%s\" does not mention \"%s\"", d, needle);
    }
}

static void test_jwt_accepts_valid_id_token(void **state) {
    fx *f = *state;
    const mb_jwt_claims *c;
    assert_int_equal(s_verify_spec(f, HDR, s_id(), &c), 0);
    assert_true(mb_cur_eq(c->sub, MB_CUR_LIT("u-1")));
    assert_true(mb_cur_eq(c->email, MB_CUR_LIT("a@example.com")));
    assert_true(mb_cur_eq(c->username, MB_CUR_LIT("alice")));
    assert_true(mb_cur_eq(c->tenant, MB_CUR_LIT("acme")));
    assert_true(mb_cur_eq(c->groups, MB_CUR_LIT("[\"admin\",\"users\"]")));
    assert_int_equal(c->token_use, MB_JWT_USE_ID);
    assert_int_equal(c->exp, 1767229200);
    assert_int_equal(f->fetch.calls, 1);
    assert_string_equal(f->fetch.last_url, ISS "/.well-known/jwks.json");
}

static void test_jwt_accepts_valid_access_token(void **state) {
    fx *f = *state;
    const mb_jwt_claims *c;
    spec s = s_id();
    s.token_use = "\"access\"";
    s.aud = NULL;
    s.client_id = "\"client-b\"";
    assert_int_equal(s_verify_spec(f, HDR, s, &c), 0);
    assert_int_equal(c->token_use, MB_JWT_USE_ACCESS);
    assert_true(mb_cur_eq(c->username, MB_CUR_LIT("alice-a")));
}

static void test_jwt_unescapes_claim_strings(void **state) {
    fx *f = *state;
    const mb_jwt_claims *c;
    spec s = s_id();
    s.sub = "\"u\\u002d1\\u00e9\"";
    s.iss = "\"https:\\/\\/cognito-idp.us-east-1.amazonaws.com\\/us-east-1_Test\"";
    assert_int_equal(s_verify_spec(f, HDR, s, &c), 0);
    assert_true(mb_cur_eq(c->sub, MB_CUR_LIT("u-1\xc3\xa9")));
}

static void test_jwt_rejects_oversized_token_before_decoding(void **state) {
    fx *f = *state;
    mb_buf big = {0};
    for (size_t i = 0; i <= MB_JWT_MAX_TOKEN; i++) {
        mb_buf_append_byte(&big, i == 10 || i == 20 ? '.' : 'A');
    }
    const mb_jwt_claims *c;
    assert_int_equal(mb_jwt_verify(f->v, mb_buf_cur(&big), &c, NULL), MB_ERR_UNAUTH);
    s_assert_detail(f, "size");
    assert_int_equal(f->fetch.calls, 0);
    mb_buf_cleanup(&big);
}

static void test_jwt_rejects_wrong_segment_count(void **state) {
    fx *f = *state;
    assert_int_equal(s_verify_spec(f, HDR, s_id(), NULL), 0);
    mb_buf t = {0};
    mb_buf_append_cur(&t, mb_buf_cur(&f->tok));
    mb_buf_append_cstr(&f->tok, ".AAAA"); /* four segments */
    assert_int_equal(s_verify_tok(f), MB_ERR_UNAUTH);
    s_assert_detail(f, "three segments");
    const char *dot = memchr(t.ptr, '.', t.len);
    mb_buf_reset(&f->tok);
    mb_buf_append(&f->tok, t.ptr, (size_t)(strrchr(t.ptr, '.') - t.ptr)); /* two segments */
    assert_int_equal(s_verify_tok(f), MB_ERR_UNAUTH);
    mb_buf_reset(&f->tok);
    mb_buf_append(&f->tok, dot, t.len - (size_t)(dot - t.ptr)); /* empty header */
    assert_int_equal(s_verify_tok(f), MB_ERR_UNAUTH);
    mb_buf_cleanup(&t);
}

static void test_jwt_rejects_base64_padding(void **state) {
    fx *f = *state;
    assert_int_equal(s_verify_spec(f, HDR, s_id(), NULL), 0);
    mb_buf t = {0};
    const char *d1 = memchr(f->tok.ptr, '.', f->tok.len);
    mb_buf_append(&t, f->tok.ptr, (size_t)(d1 - f->tok.ptr));
    mb_buf_append_cstr(&t, "=="); /* padded header */
    mb_buf_append(&t, d1, f->tok.len - (size_t)(d1 - f->tok.ptr));
    mb_buf_reset(&f->tok);
    mb_buf_append_cur(&f->tok, mb_buf_cur(&t));
    assert_int_equal(s_verify_tok(f), MB_ERR_UNAUTH);
    s_assert_detail(f, "base64url");
    mb_buf_cleanup(&t);
}

static void test_jwt_rejects_foreign_base64_characters(void **state) {
    fx *f = *state;
    assert_int_equal(s_verify_spec(f, HDR, s_id(), NULL), 0);
    const char *foreign = "+/ \n*";
    for (const char *p = foreign; *p; p++) {
        assert_int_equal(s_verify_spec(f, HDR, s_id(), NULL), 0);
        char *last = strrchr(f->tok.ptr, '.');
        last[5] = *p; /* inside the signature */
        assert_int_equal(s_verify_tok(f), MB_ERR_UNAUTH);
        s_assert_detail(f, "base64url");
    }
}

static void test_jwt_rejects_nonzero_unused_base64_bits(void **state) {
    fx *f = *state;
    /* The 256-byte signature encodes to 342 characters: the last one carries 4 unused bits. */
    assert_int_equal(s_verify_spec(f, HDR, s_id(), NULL), 0);
    char *last = f->tok.ptr + f->tok.len - 1;
    const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t idx = (size_t)(strchr(alpha, *last) - alpha);
    *last = alpha[idx | 1]; /* same decoded bytes if unused bits were ignored */
    mb_jwt_cache_clear(f->v);
    assert_int_equal(s_verify_tok(f), MB_ERR_UNAUTH);
    s_assert_detail(f, "base64url");
}

static void test_jwt_rejects_header_not_object(void **state) {
    fx *f = *state;
    assert_int_equal(s_verify_spec(f, "[\"RS256\"]", s_id(), NULL), MB_ERR_UNAUTH);
    s_assert_detail(f, "header is not a JSON object");
    assert_int_equal(s_verify_spec(f, "{\"alg\":\"RS256\",\"kid\":\"k1\",}", s_id(), NULL),
                     MB_ERR_UNAUTH);
    assert_int_equal(
        s_verify_spec(f, "{\"alg\":\"RS256\",\"kid\":\"k1\",\"alg\":\"RS256\"}", s_id(), NULL),
        MB_ERR_UNAUTH); /* duplicate member */
}

static void test_jwt_rejects_payload_not_object(void **state) {
    fx *f = *state;
    tk_sign(&f->tok, &g_k1, HDR, "[1,2]");
    assert_int_equal(s_verify_tok(f), MB_ERR_UNAUTH);
    s_assert_detail(f, "payload is not a JSON object");
    tk_sign(&f->tok, &g_k1, HDR, "{\"exp\":01}");
    assert_int_equal(s_verify_tok(f), MB_ERR_UNAUTH);
}

static void test_jwt_rejects_alg_none_before_crypto(void **state) {
    fx *f = *state;
    s_payload(&f->payload, s_id());
    char h[64], p[2048];
    const char *hdr = "{\"alg\":\"none\",\"kid\":\"k1\"}";
    tk_b64url((const unsigned char *)hdr, strlen(hdr), h);
    tk_b64url((const unsigned char *)f->payload.ptr, f->payload.len, p);
    mb_buf_reset(&f->tok);
    mb_buf_appendf(&f->tok, "%s.%s.", h, p);
    assert_int_equal(s_verify_tok(f), MB_ERR_UNAUTH);
    mb_buf_append_cstr(&f->tok, "AAAA");
    assert_int_equal(s_verify_tok(f), MB_ERR_UNAUTH);
    s_assert_detail(f, "alg is not RS256");
    assert_int_equal(f->fetch.calls, 0); /* pinned before the key set was even needed */
}

static void test_jwt_rejects_hs256_key_confusion(void **state) {
    fx *f = *state;
    s_payload(&f->payload, s_id());
    /* The classic attack: HMAC keyed with the public key's bytes. */
    tk_sign_hs256(&f->tok, "{\"alg\":\"HS256\",\"kid\":\"k1\"}", f->payload.ptr,
                  (const unsigned char *)f->doc.ptr, f->doc.len);
    assert_int_equal(s_verify_tok(f), MB_ERR_UNAUTH);
    s_assert_detail(f, "alg is not RS256");
    assert_int_equal(f->fetch.calls, 0);
}

static void test_jwt_rejects_other_rsa_algorithms(void **state) {
    fx *f = *state;
    const char *algs[] = {"RS384", "RS512", "PS256", "ES256", "rs256", "RS256 ", "EdDSA"};
    s_payload(&f->payload, s_id());
    for (size_t i = 0; i < sizeof algs / sizeof *algs; i++) {
        char hdr[96];
        snprintf(hdr, sizeof hdr, "{\"alg\":\"%s\",\"kid\":\"k1\"}", algs[i]);
        const EVP_MD *md = strcmp(algs[i], "RS512") == 0   ? EVP_sha512()
                           : strcmp(algs[i], "RS384") == 0 ? EVP_sha384()
                                                           : EVP_sha256();
        tk_sign_md(&f->tok, &g_k1, md, hdr, f->payload.ptr);
        assert_int_equal(s_verify_tok(f), MB_ERR_UNAUTH);
        s_assert_detail(f, "alg is not RS256");
    }
    assert_int_equal(s_verify_spec(f, "{\"kid\":\"k1\"}", s_id(), NULL), MB_ERR_UNAUTH);
    assert_int_equal(s_verify_spec(f, "{\"kid\":\"k1\",\"alg\":null}", s_id(), NULL),
                     MB_ERR_UNAUTH);
    assert_int_equal(f->fetch.calls, 0);
}

static void test_jwt_ignores_jku_x5u_jwk_x5c(void **state) {
    fx *f = *state;
    /* An attacker signs with k2 and points every key-carrying header at k2: still k1's JWKS. */
    char hdr[4096];
    snprintf(hdr, sizeof hdr,
             "{\"alg\":\"RS256\",\"kid\":\"k2\",\"jku\":\"http://evil.example/jwks.json\","
             "\"x5u\":\"http://evil.example/cert.pem\",\"x5c\":[\"MIIB\"],"
             "\"jwk\":{\"kty\":\"RSA\",\"kid\":\"k2\",\"n\":\"%s\",\"e\":\"%s\"}}",
             g_k2.n, g_k2.e);
    s_payload(&f->payload, s_id());
    tk_sign(&f->tok, &g_k2, hdr, f->payload.ptr);
    assert_int_equal(s_verify_tok(f), MB_ERR_UNAUTH);
    assert_string_equal(f->fetch.last_url, ISS "/.well-known/jwks.json");
    /* The same headers on a genuine token are ignored, not fatal. */
    snprintf(hdr, sizeof hdr,
             "{\"alg\":\"RS256\",\"kid\":\"k1\",\"jku\":\"http://evil.example/jwks.json\"}");
    assert_int_equal(s_verify_spec(f, hdr, s_id(), NULL), 0);
    assert_string_equal(f->fetch.last_url, ISS "/.well-known/jwks.json");
}

static void test_jwt_rejects_crit(void **state) {
    fx *f = *state;
    assert_int_equal(
        s_verify_spec(f, "{\"alg\":\"RS256\",\"kid\":\"k1\",\"crit\":[\"exp\"],\"exp\":1}", s_id(),
                      NULL),
        MB_ERR_UNAUTH);
    s_assert_detail(f, "crit");
    assert_int_equal(
        s_verify_spec(f, "{\"alg\":\"RS256\",\"kid\":\"k1\",\"crit\":[]}", s_id(), NULL),
        MB_ERR_UNAUTH);
}

static void test_jwt_rejects_missing_or_unknown_kid(void **state) {
    fx *f = *state;
    assert_int_equal(s_verify_spec(f, "{\"alg\":\"RS256\"}", s_id(), NULL), MB_ERR_UNAUTH);
    s_assert_detail(f, "kid");
    assert_int_equal(s_verify_spec(f, "{\"alg\":\"RS256\",\"kid\":7}", s_id(), NULL),
                     MB_ERR_UNAUTH);
    assert_int_equal(s_verify_spec(f, "{\"alg\":\"RS256\",\"kid\":\"nope\"}", s_id(), NULL),
                     MB_ERR_UNAUTH);
    s_assert_detail(f, "no usable key");
}

static void test_jwt_rejects_key_with_wrong_use_alg_or_kty(void **state) {
    fx *f = *state;
    const char *extras[] = {"\"use\":\"enc\",", "\"alg\":\"RS384\",", "\"key_ops\":[\"encrypt\"],"};
    for (size_t i = 0; i < sizeof extras / sizeof *extras; i++) {
        mb_buf doc = {0};
        mb_buf_append_cstr(&doc, "{\"keys\":[");
        tk_jwk(&doc, &g_k1, extras[i]);
        mb_buf_append_cstr(&doc, "]}");
        assert_int_equal(mb_jwks_load(f->jwks, mb_buf_cur(&doc), NULL), 0);
        assert_int_equal(mb_jwks_key_count(f->jwks), 0);
        mb_jwt_cache_clear(f->v);
        f->mono.now += 100000; /* allow the refetch; the stub serves the same unusable set */
        f->fetch.doc = doc.ptr;
        assert_int_equal(s_verify_spec(f, HDR, s_id(), NULL), MB_ERR_UNAUTH);
        s_assert_detail(f, "no usable key");
        f->fetch.doc = f->doc.ptr;
        mb_buf_cleanup(&doc);
    }
    const char *ec = "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"k1\",\"crv\":\"P-256\",\"x\":\"AA\","
                     "\"y\":\"AA\",\"alg\":\"RS256\"}]}";
    assert_int_equal(mb_jwks_load(f->jwks, mb_cur_from_cstr(ec), NULL), 0);
    assert_int_equal(mb_jwks_key_count(f->jwks), 0);
}

static void test_jwt_rejects_tampered_signature_and_payload(void **state) {
    fx *f = *state;
    assert_int_equal(s_verify_spec(f, HDR, s_id(), NULL), 0);
    mb_jwt_cache_clear(f->v);
    char *last = strrchr(f->tok.ptr, '.');
    last[10] = last[10] == 'A' ? 'B' : 'A';
    assert_int_equal(s_verify_tok(f), MB_ERR_UNAUTH);
    s_assert_detail(f, "signature mismatch");
    /* Signed by another key under k1's kid. */
    s_payload(&f->payload, s_id());
    tk_sign(&f->tok, &g_k2, HDR, f->payload.ptr);
    assert_int_equal(s_verify_tok(f), MB_ERR_UNAUTH);
    s_assert_detail(f, "signature mismatch");
    /* Payload swapped after signing. */
    assert_int_equal(s_verify_spec(f, HDR, s_id(), NULL), 0);
    mb_buf good = {0};
    mb_buf_append_cur(&good, mb_buf_cur(&f->tok));
    spec s = s_id();
    s.sub = "\"admin\"";
    s_payload(&f->payload, s);
    tk_sign(&f->tok, &g_k1, HDR, f->payload.ptr);
    const char *d1 = memchr(good.ptr, '.', good.len), *d2 = strrchr(good.ptr, '.');
    const char *e1 = memchr(f->tok.ptr, '.', f->tok.len), *e2 = strrchr(f->tok.ptr, '.');
    mb_buf mixed = {0};
    mb_buf_append(&mixed, good.ptr, (size_t)(d1 - good.ptr));
    mb_buf_append(&mixed, e1, (size_t)(e2 - e1));
    mb_buf_append_cstr(&mixed, d2);
    mb_buf_reset(&f->tok);
    mb_buf_append_cur(&f->tok, mb_buf_cur(&mixed));
    assert_int_equal(s_verify_tok(f), MB_ERR_UNAUTH);
    s_assert_detail(f, "signature mismatch");
    mb_buf_cleanup(&good);
    mb_buf_cleanup(&mixed);
}

static void test_jwt_rejects_wrong_issuer(void **state) {
    fx *f = *state;
    const char *bad[] = {"\"" ISS "/\"",
                         "\"" ISS "x\"",
                         "\"https://cognito-idp.us-east-1.amazonaws"
                         ".com/us-east-1_Other\"",
                         "\"\"",
                         "null",
                         "[\"" ISS "\"]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        spec s = s_id();
        s.iss = bad[i];
        assert_int_equal(s_verify_spec(f, HDR, s, NULL), MB_ERR_UNAUTH);
        s_assert_detail(f, "iss");
    }
    spec s = s_id();
    s.iss = NULL;
    assert_int_equal(s_verify_spec(f, HDR, s, NULL), MB_ERR_UNAUTH);
}

static void test_jwt_rejects_expired_token(void **state) {
    fx *f = *state;
    spec s = s_id();
    mb_err err = {0};
    const mb_jwt_claims *c;
    s.exp = "1767225500"; /* 100 s ago, skew 60 */
    s_payload(&f->payload, s);
    tk_sign(&f->tok, &g_k1, HDR, f->payload.ptr);
    assert_int_equal(mb_jwt_verify(f->v, mb_buf_cur(&f->tok), &c, &err), MB_ERR_UNAUTH);
    assert_string_equal(err.msg, "token expired");
    s.exp = "1767225570"; /* 30 s ago: inside the skew */
    assert_int_equal(s_verify_spec(f, HDR, s, NULL), 0);
    s.exp = NULL;
    assert_int_equal(s_verify_spec(f, HDR, s, NULL), MB_ERR_UNAUTH);
    s_assert_detail(f, "exp missing");
}

static void test_jwt_rejects_nbf_in_future(void **state) {
    fx *f = *state;
    spec s = s_id();
    s.nbf = "1767225700";
    assert_int_equal(s_verify_spec(f, HDR, s, NULL), MB_ERR_UNAUTH);
    s_assert_detail(f, "nbf");
    s.nbf = "1767225650"; /* 50 s ahead: inside the skew */
    assert_int_equal(s_verify_spec(f, HDR, s, NULL), 0);
}

static void test_jwt_rejects_iat_in_future(void **state) {
    fx *f = *state;
    spec s = s_id();
    s.iat = "1767226000";
    assert_int_equal(s_verify_spec(f, HDR, s, NULL), MB_ERR_UNAUTH);
    s_assert_detail(f, "iat");
}

static void test_jwt_rejects_numeric_claims_that_are_not_numbers(void **state) {
    fx *f = *state;
    const char *names[] = {"exp", "nbf", "iat", "auth_time"};
    for (size_t i = 0; i < 4; i++) {
        spec s = s_id();
        char extra[64];
        if (i == 0) {
            s.exp = "\"1767229200\"";
        } else if (i == 1) {
            s.nbf = "\"1767225000\"";
        } else if (i == 2) {
            s.iat = "true";
        } else {
            snprintf(extra, sizeof extra, "\"%s\":\"1767225000\"", names[i]);
            s.extra = extra;
        }
        assert_int_equal(s_verify_spec(f, HDR, s, NULL), MB_ERR_UNAUTH);
    }
    spec s = s_id();
    s.exp = "1.7672292e9"; /* a number in exponent form is still a number */
    assert_int_equal(s_verify_spec(f, HDR, s, NULL), 0);
}

static void test_jwt_rejects_bad_token_use(void **state) {
    fx *f = *state;
    const char *uses[] = {"\"refresh\"", "\"ID\"", "1", NULL};
    for (size_t i = 0; i < 4; i++) {
        spec s = s_id();
        s.token_use = uses[i];
        assert_int_equal(s_verify_spec(f, HDR, s, NULL), MB_ERR_UNAUTH);
        s_assert_detail(f, "token_use");
    }
}

static void test_jwt_rejects_wrong_audience(void **state) {
    fx *f = *state;
    spec s = s_id();
    s.aud = "\"client-z\"";
    assert_int_equal(s_verify_spec(f, HDR, s, NULL), MB_ERR_UNAUTH);
    s_assert_detail(f, "aud");
    s.aud = NULL;
    s.client_id = "\"client-a\""; /* an id token must carry aud */
    assert_int_equal(s_verify_spec(f, HDR, s, NULL), MB_ERR_UNAUTH);
    s.aud = "[\"client-z\",\"client-b\"]";
    assert_int_equal(s_verify_spec(f, HDR, s, NULL), 0);
    s.aud = "[\"client-z\"]";
    assert_int_equal(s_verify_spec(f, HDR, s, NULL), MB_ERR_UNAUTH);
}

static void test_jwt_rejects_wrong_client_id_on_access_token(void **state) {
    fx *f = *state;
    spec s = s_id();
    s.token_use = "\"access\"";
    s.aud = NULL;
    s.client_id = "\"client-z\"";
    assert_int_equal(s_verify_spec(f, HDR, s, NULL), MB_ERR_UNAUTH);
    s_assert_detail(f, "client_id");
    s.client_id = NULL;
    s.aud = "\"client-a\""; /* aud does not stand in for client_id */
    assert_int_equal(s_verify_spec(f, HDR, s, NULL), MB_ERR_UNAUTH);
}

static void test_jwt_rejects_duplicate_claims(void **state) {
    fx *f = *state;
    spec s = s_id();
    s.extra = "\"iss\":\"https://evil.example\"";
    assert_int_equal(s_verify_spec(f, HDR, s, NULL), MB_ERR_UNAUTH);
    s.extra = "\"\\u0069ss\":\"" ISS "\""; /* the same name, escaped */
    assert_int_equal(s_verify_spec(f, HDR, s, NULL), MB_ERR_UNAUTH);
}

static void test_jwt_rejects_bad_identity_claims(void **state) {
    fx *f = *state;
    spec s = s_id();
    s.sub = NULL;
    assert_int_equal(s_verify_spec(f, HDR, s, NULL), MB_ERR_UNAUTH);
    s.sub = "\"\"";
    assert_int_equal(s_verify_spec(f, HDR, s, NULL), MB_ERR_UNAUTH);
    s.sub = "42";
    assert_int_equal(s_verify_spec(f, HDR, s, NULL), MB_ERR_UNAUTH);
}

static void test_jwt_rejects_groups_not_array_of_strings(void **state) {
    fx *f = *state;
    tk_sign(&f->tok, &g_k1, HDR,
            "{\"iss\":\"" ISS "\",\"token_use\":\"id\",\"aud\":\"client-a\",\"exp\":1767229200,"
            "\"sub\":\"u\",\"cognito:groups\":\"admin\"}");
    assert_int_equal(s_verify_tok(f), MB_ERR_UNAUTH);
    tk_sign(&f->tok, &g_k1, HDR,
            "{\"iss\":\"" ISS "\",\"token_use\":\"id\",\"aud\":\"client-a\",\"exp\":1767229200,"
            "\"sub\":\"u\",\"cognito:groups\":[\"admin\",1]}");
    assert_int_equal(s_verify_tok(f), MB_ERR_UNAUTH);
    s_assert_detail(f, "cognito:groups");
}

static void test_jwt_rejects_strict_json_violations(void **state) {
    fx *f = *state;
    const char *bad[] = {"{\"iss\":\"" ISS "\",\"exp\":NaN}",
                         "{\"a\":\"\x01\"}",
                         "{\"a\":\"\\x41\"}",
                         "{\"a\":\"\\ud800\"}",
                         "{\"a\":\"\xc0\xaf\"}",
                         "{\"a\":[1,]}",
                         "{\"a\":1} x",
                         "{\"a\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}",
                         "{\"a\":-}",
                         "{\"a\":1.}",
                         "{\"a\":tru}",
                         "{'a':1}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        tk_sign(&f->tok, &g_k1, HDR, bad[i]);
        assert_int_equal(s_verify_tok(f), MB_ERR_UNAUTH);
        s_assert_detail(f, "payload is not a JSON object");
    }
}

static void test_jwt_cache_hits_and_rechecks_exp(void **state) {
    fx *f = *state;
    mb_jwt_cache_stats st;
    const mb_jwt_claims *c;
    mb_err err = {0};
    assert_int_equal(s_verify_spec(f, HDR, s_id(), NULL), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(mb_jwt_verify(f->v, mb_buf_cur(&f->tok), &c, &err), 0);
        assert_true(mb_cur_eq(c->sub, MB_CUR_LIT("u-1")));
    }
    mb_jwt_cache_stats_get(f->v, &st);
    assert_int_equal(st.hits, 3);
    assert_int_equal(st.misses, 1);
    assert_int_equal(st.entries, 1);
    f->wall.now = 1767229200 + 61; /* past exp + skew */
    assert_int_equal(mb_jwt_verify(f->v, mb_buf_cur(&f->tok), &c, &err), MB_ERR_UNAUTH);
    assert_string_equal(err.msg, "token expired");
    mb_jwt_cache_stats_get(f->v, &st);
    assert_int_equal(st.hits, 4);
    assert_int_equal(st.entries, 0);
}

static void test_jwt_cache_rechecks_nbf(void **state) {
    fx *f = *state;
    spec s = s_id();
    s.nbf = "1767225650";
    assert_int_equal(s_verify_spec(f, HDR, s, NULL), 0);
    f->wall.now = NOW - 100; /* clock stepped back: nbf is ahead again */
    assert_int_equal(s_verify_tok(f), MB_ERR_UNAUTH);
    s_assert_detail(f, "nbf");
}

static void test_jwt_cache_distinguishes_tokens_fully(void **state) {
    fx *f = *state;
    assert_int_equal(s_verify_spec(f, HDR, s_id(), NULL), 0);
    /* A forged token differing in the last signature character must not ride on the entry. */
    f->tok.ptr[f->tok.len - 2] = f->tok.ptr[f->tok.len - 2] == 'A' ? 'B' : 'A';
    assert_int_equal(s_verify_tok(f), MB_ERR_UNAUTH);
}

static void test_jwt_cache_is_bounded(void **state) {
    fx *f = *state;
    mb_jwt_cache_stats st;
    for (int i = 0; i < MB_JWT_CACHE_SLOTS + 64; i++) {
        spec s = s_id();
        char sub[32];
        snprintf(sub, sizeof sub, "\"u-%d\"", i);
        s.sub = sub;
        assert_int_equal(s_verify_spec(f, HDR, s, NULL), 0);
    }
    mb_jwt_cache_stats_get(f->v, &st);
    assert_true(st.entries <= MB_JWT_CACHE_SLOTS);
    assert_true(st.entries >= MB_JWT_CACHE_SLOTS / 2);
}

static void test_jwt_cache_drops_entries_when_key_leaves_jwks(void **state) {
    fx *f = *state;
    mb_jwt_cache_stats st;
    assert_int_equal(s_verify_spec(f, HDR, s_id(), NULL), 0);
    mb_buf k1tok = {0};
    mb_buf_append_cur(&k1tok, mb_buf_cur(&f->tok));
    /* Rotation: the set now holds only k2. */
    const tk_key *keys[] = {&g_k2};
    mb_buf doc2 = {0};
    tk_jwks(&doc2, keys, 1);
    assert_int_equal(mb_jwks_load(f->jwks, mb_buf_cur(&doc2), NULL), 0);
    const mb_jwt_claims *c;
    assert_int_equal(mb_jwt_verify(f->v, mb_buf_cur(&k1tok), &c, NULL), MB_ERR_UNAUTH);
    mb_jwt_cache_stats_get(f->v, &st);
    assert_int_equal(st.hits, 0);
    assert_int_equal(st.entries, 0);
    mb_buf_cleanup(&k1tok);
    mb_buf_cleanup(&doc2);
}

static void test_jwt_cache_keeps_entries_of_surviving_keys(void **state) {
    fx *f = *state;
    mb_jwt_cache_stats st;
    assert_int_equal(s_verify_spec(f, HDR, s_id(), NULL), 0);
    const tk_key *keys[] = {&g_k1, &g_k2};
    mb_buf doc2 = {0};
    tk_jwks(&doc2, keys, 2);
    assert_int_equal(mb_jwks_load(f->jwks, mb_buf_cur(&doc2), NULL), 0);
    assert_int_equal(s_verify_tok(f), 0);
    mb_jwt_cache_stats_get(f->v, &st);
    assert_int_equal(st.hits, 1);
    mb_buf_cleanup(&doc2);
}

static void test_jwt_unavailable_when_jwks_fetch_fails(void **state) {
    fx *f = *state;
    mb_err err = {0};
    const mb_jwt_claims *c;
    f->fetch.fail_status = MB_ERR_IO;
    s_payload(&f->payload, s_id());
    tk_sign(&f->tok, &g_k1, HDR, f->payload.ptr);
    assert_int_equal(mb_jwt_verify(f->v, mb_buf_cur(&f->tok), &c, &err), MB_ERR_UNAVAILABLE);
    assert_null(strstr(err.msg, "eyJ"));
    f->fetch.fail_status = 0;
    f->mono.now += MB_JWKS_RETRY_S * 1000;
    assert_int_equal(s_verify_tok(f), 0);
}

static void test_jwt_verifier_rejects_bad_options(void **state) {
    fx *f = *state;
    mb_err err = {0};
    static const char *const clients[] = {"c"};
    mb_jwt_options none = {ISS, clients, 0, 60, {0}};
    assert_null(mb_jwt_verifier_new(&none, f->jwks, &err));
    assert_int_equal(err.status, MB_ERR_CONFIG);
    mb_jwt_options noiss = {NULL, clients, 1, 60, {0}};
    assert_null(mb_jwt_verifier_new(&noiss, f->jwks, &err));
    mb_jwt_options skew = {ISS, clients, 1, 301, {0}};
    assert_null(mb_jwt_verifier_new(&skew, f->jwks, &err));
    mb_jwt_verifier_free(NULL);
}

/* Random corruption of a valid token (byte flips, truncation, duplication): never a crash under
 * ASan/UBSan, never an acceptance of anything but the original bytes. */
static void test_jwt_survives_mutated_tokens(void **state) {
    fx *f = *state;
    assert_int_equal(s_verify_spec(f, HDR, s_id(), NULL), 0);
    mb_buf orig = {0}, m = {0};
    mb_buf_append_cur(&orig, mb_buf_cur(&f->tok));
    unsigned seed = 12345;
    for (int i = 0; i < 3000; i++) {
        mb_buf_reset(&m);
        mb_buf_append_cur(&m, mb_buf_cur(&orig));
        seed = seed * 1103515245u + 12345u;
        size_t pos = (seed >> 8) % m.len;
        switch (i % 4) {
        case 0:
            m.ptr[pos] = (char)(seed >> 3);
            break;
        case 1:
            m.len = pos;
            break;
        case 2:
            mb_buf_append(&m, orig.ptr, pos % 64);
            break;
        default:
            m.ptr[pos] ^= (char)(1u << ((seed >> 4) % 8));
            break;
        }
        const mb_jwt_claims *c;
        int rc = mb_jwt_verify(f->v, mb_buf_cur(&m), &c, NULL);
        if (rc == 0) {
            assert_true(mb_cur_eq(mb_buf_cur(&m), mb_buf_cur(&orig)));
        }
    }
    mb_buf_cleanup(&orig);
    mb_buf_cleanup(&m);
}

/* Wycheproof JWS vectors: build a one-key JWKS from each group's key and run every token through
 * the JWS layer. We must accept exactly the vectors that are valid AND RS256 with an RS256-usable
 * key; every other algorithm is rejected by design. */
static json_t *s_public_jwk(json_t *group) {
    json_t *pub = json_object_get(group, "public");
    if (pub == NULL) {
        return NULL;
    }
    return json_deep_copy(pub);
}

static bool s_rs256_header(const char *jws) {
    const char *dot = strchr(jws, '.');
    if (dot == NULL) {
        return false;
    }
    unsigned char hdr[1024];
    size_t n = 0;
    if (mb_base64url_decode_to((mb_cur){jws, (size_t)(dot - jws)}, hdr, sizeof hdr - 1, &n) != 0) {
        return false;
    }
    hdr[n] = 0;
    json_t *h = json_loads((const char *)hdr, 0, NULL);
    bool rs = json_is_string(json_object_get(h, "alg")) &&
              strcmp(json_string_value(json_object_get(h, "alg")), "RS256") == 0;
    json_decref(h);
    return rs;
}

static void s_run_jws_group(json_t *group, int *accepted, int *checked) {
    json_t *jwk = s_public_jwk(group);
    bool key_rs256 = jwk != NULL && json_is_string(json_object_get(jwk, "kty")) &&
                     strcmp(json_string_value(json_object_get(jwk, "kty")), "RSA") == 0;
    json_t *set = json_pack("{s:[o?]}", "keys", jwk);
    char *doc = json_dumps(set, JSON_COMPACT);
    tk_fetch fetch = {doc, 0, 0, ""};
    mb_jwks *jwks = mb_jwks_new("https://wycheproof.example/jwks.json", tk_fetch_fn, &fetch, NULL);
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(group, "tests"), i, t) {
        const char *jws = json_string_value(json_object_get(t, "jws"));
        if (jws == NULL) {
            continue; /* JSON serialization vectors: compact only, rejected elsewhere */
        }
        bool valid = strcmp(json_string_value(json_object_get(t, "result")), "valid") == 0;
        const char *detail = NULL;
        int rc = mb_jwt_verify_jws(jwks, mb_cur_from_cstr(jws), &detail, NULL);
        bool expect = valid && key_rs256 && s_rs256_header(jws);
        if ((rc == 0) != expect) {
            fail_msg("tcId %d (%s): rc %d (%s), expected %s",
                     (int)json_integer_value(json_object_get(t, "tcId")),
                     json_string_value(json_object_get(t, "comment")), rc, detail,
                     expect ? "accept" : "reject");
        }
        *accepted += rc == 0;
        (*checked)++;
    }
    mb_jwks_free(jwks);
    free(doc);
    json_decref(set);
}

static void test_jwt_wycheproof_json_web_signature(void **state) {
    (void)state;
    size_t len;
    char *text = tk_read_file(MB_TESTDATA "/wycheproof/json_web_signature_test.json", &len);
    json_t *root = json_loadb(text, len, 0, NULL);
    assert_non_null(root);
    int accepted = 0, checked = 0;
    size_t i;
    json_t *g;
    json_array_foreach(json_object_get(root, "testGroups"), i, g) {
        s_run_jws_group(g, &accepted, &checked);
    }
    print_message("wycheproof JWS: %d vectors, %d accepted (valid RS256)\n", checked, accepted);
    assert_true(checked > 300);
    assert_true(accepted >= 8);
    json_decref(root);
    free(text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_jwt_accepts_valid_id_token),
        T(test_jwt_accepts_valid_access_token),
        T(test_jwt_unescapes_claim_strings),
        T(test_jwt_rejects_oversized_token_before_decoding),
        T(test_jwt_rejects_wrong_segment_count),
        T(test_jwt_rejects_base64_padding),
        T(test_jwt_rejects_foreign_base64_characters),
        T(test_jwt_rejects_nonzero_unused_base64_bits),
        T(test_jwt_rejects_header_not_object),
        T(test_jwt_rejects_payload_not_object),
        T(test_jwt_rejects_alg_none_before_crypto),
        T(test_jwt_rejects_hs256_key_confusion),
        T(test_jwt_rejects_other_rsa_algorithms),
        T(test_jwt_ignores_jku_x5u_jwk_x5c),
        T(test_jwt_rejects_crit),
        T(test_jwt_rejects_missing_or_unknown_kid),
        T(test_jwt_rejects_key_with_wrong_use_alg_or_kty),
        T(test_jwt_rejects_tampered_signature_and_payload),
        T(test_jwt_rejects_wrong_issuer),
        T(test_jwt_rejects_expired_token),
        T(test_jwt_rejects_nbf_in_future),
        T(test_jwt_rejects_iat_in_future),
        T(test_jwt_rejects_numeric_claims_that_are_not_numbers),
        T(test_jwt_rejects_bad_token_use),
        T(test_jwt_rejects_wrong_audience),
        T(test_jwt_rejects_wrong_client_id_on_access_token),
        T(test_jwt_rejects_duplicate_claims),
        T(test_jwt_rejects_bad_identity_claims),
        T(test_jwt_rejects_groups_not_array_of_strings),
        T(test_jwt_rejects_strict_json_violations),
        T(test_jwt_cache_hits_and_rechecks_exp),
        T(test_jwt_cache_rechecks_nbf),
        T(test_jwt_cache_distinguishes_tokens_fully),
        T(test_jwt_cache_is_bounded),
        T(test_jwt_cache_drops_entries_when_key_leaves_jwks),
        T(test_jwt_cache_keeps_entries_of_surviving_keys),
        T(test_jwt_unavailable_when_jwks_fetch_fails),
        T(test_jwt_verifier_rejects_bad_options),
        T(test_jwt_survives_mutated_tokens),
        cmocka_unit_test(test_jwt_wycheproof_json_web_signature),
#undef T
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
