/* jwt_testkit.h - test helpers for jwt/jwks/auth: RSA keys made with OpenSSL, JWKS documents,
 * tokens signed in the test (RS256 or any header the test writes), a JWKS transport stub fed from
 * memory and settable clocks. Header-only (static functions): each test file includes it once. */
#ifndef MOONBASE_JWT_TESTKIT_H
#define MOONBASE_JWT_TESTKIT_H

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moonbase/base64.h"
#include "moonbase/buf.h"
#include "moonbase/clock.h"
#include "moonbase/err.h"

typedef struct tk_key {
    EVP_PKEY *pkey;
    char kid[64];
    char n[1024]; /* base64url modulus */
    char e[16];
} tk_key;

static inline size_t tk_b64url(const unsigned char *in, size_t n, char *out) {
    return mb_base64url_encode_to((mb_cur){(const char *)in, n}, out);
}

static inline void tk_bn_b64(EVP_PKEY *pkey, const char *name, char *out) {
    BIGNUM *bn = NULL;
    unsigned char buf[1024];
    if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1) {
        abort();
    }
    int n = BN_bn2bin(bn, buf);
    tk_b64url(buf, (size_t)n, out);
    BN_free(bn);
}

static inline void tk_key_init(tk_key *k, unsigned bits, const char *kid) {
    memset(k, 0, sizeof *k);
    k->pkey = EVP_RSA_gen(bits);
    if (k->pkey == NULL) {
        abort();
    }
    snprintf(k->kid, sizeof k->kid, "%s", kid);
    tk_bn_b64(k->pkey, OSSL_PKEY_PARAM_RSA_N, k->n);
    tk_bn_b64(k->pkey, OSSL_PKEY_PARAM_RSA_E, k->e);
}

static inline void tk_key_cleanup(tk_key *k) {
    EVP_PKEY_free(k->pkey);
    k->pkey = NULL;
}

/* One JWK with extra members `extra` (e.g. "\"use\":\"enc\"," or ""). */
static inline void tk_jwk(mb_buf *out, const tk_key *k, const char *extra) {
    if (mb_buf_appendf(out, "{%s\"kty\":\"RSA\",\"kid\":\"%s\",\"n\":\"%s\",\"e\":\"%s\"}", extra,
                       k->kid, k->n, k->e) != 0) {
        abort();
    }
}

/* A Cognito-shaped JWKS with every key marked alg RS256, use sig. */
static inline void tk_jwks(mb_buf *out, const tk_key *const *keys, size_t count) {
    mb_buf_reset(out);
    mb_buf_append_cstr(out, "{\"keys\":[");
    for (size_t i = 0; i < count; i++) {
        if (i > 0) {
            mb_buf_append_byte(out, ',');
        }
        tk_jwk(out, keys[i], "\"alg\":\"RS256\",\"use\":\"sig\",");
    }
    mb_buf_append_cstr(out, "]}");
}

/* Token from raw header and payload JSON, signed with RSASSA-PKCS1-v1_5 + `md` by k. */
static inline void tk_sign_md(mb_buf *out, const tk_key *k, const EVP_MD *md, const char *header,
                              const char *payload) {
    char *enc = malloc(4 * (strlen(header) + strlen(payload)) / 3 + 8);
    unsigned char sig[1024];
    size_t siglen = sizeof sig;
    mb_buf_reset(out);
    tk_b64url((const unsigned char *)header, strlen(header), enc);
    mb_buf_append_cstr(out, enc);
    mb_buf_append_byte(out, '.');
    tk_b64url((const unsigned char *)payload, strlen(payload), enc);
    mb_buf_append_cstr(out, enc);
    free(enc);
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    if (EVP_DigestSignInit(mc, NULL, md, NULL, k->pkey) != 1 ||
        EVP_DigestSign(mc, sig, &siglen, (const unsigned char *)out->ptr, out->len) != 1) {
        abort();
    }
    EVP_MD_CTX_free(mc);
    char sigenc[1400];
    tk_b64url(sig, siglen, sigenc);
    mb_buf_append_byte(out, '.');
    mb_buf_append_cstr(out, sigenc);
}

static inline void tk_sign(mb_buf *out, const tk_key *k, const char *header, const char *payload) {
    tk_sign_md(out, k, EVP_sha256(), header, payload);
}

/* Token with an HMAC-SHA256 signature keyed by `secret` (the algorithm-confusion attack). */
static inline void tk_sign_hs256(mb_buf *out, const char *header, const char *payload,
                                 const unsigned char *secret, size_t secret_len) {
    char enc[8192];
    unsigned char mac[32];
    unsigned maclen = 0;
    mb_buf_reset(out);
    tk_b64url((const unsigned char *)header, strlen(header), enc);
    mb_buf_append_cstr(out, enc);
    mb_buf_append_byte(out, '.');
    tk_b64url((const unsigned char *)payload, strlen(payload), enc);
    mb_buf_append_cstr(out, enc);
    HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)out->ptr, out->len, mac,
         &maclen);
    tk_b64url(mac, maclen, enc);
    mb_buf_append_byte(out, '.');
    mb_buf_append_cstr(out, enc);
}

/* JWKS transport stub: serves `doc` (or fails with `fail_status`), records calls. */
typedef struct tk_fetch {
    const char *doc;
    int fail_status;
    int calls;
    char last_url[512];
} tk_fetch;

static inline int tk_fetch_fn(void *ud, const char *url, mb_buf *body, mb_err *err) {
    tk_fetch *f = ud;
    f->calls++;
    snprintf(f->last_url, sizeof f->last_url, "%s", url);
    if (f->fail_status != 0 || f->doc == NULL) {
        return mb_err_set(err, f->fail_status ? f->fail_status : MB_ERR_IO, "stub fetch failed");
    }
    return mb_buf_append_cstr(body, f->doc) == 0 ? 0 : MB_ERR_NOMEM;
}

/* A settable clock seen through mb_clock: as wall time in seconds (tk_wall: JWT exp/nbf/iat), or
 * as monotonic time in milliseconds (tk_mono: the JWKS back-off windows). */
typedef struct tk_clock {
    int64_t now;
} tk_clock;

static inline int64_t tk_clock_ms(void *ud) {
    return ((tk_clock *)ud)->now * 1000;
}

static inline int64_t tk_clock_mono_ns(void *ud) {
    return ((tk_clock *)ud)->now * 1000000;
}

static inline mb_clock tk_wall(tk_clock *c) {
    return (mb_clock){.now_ms = tk_clock_ms, .ud = c};
}

static inline mb_clock tk_mono(tk_clock *c) {
    return (mb_clock){.mono_ns = tk_clock_mono_ns, .ud = c};
}

/* Read a whole file (test vectors). Aborts when missing: a vector that silently vanished must
 * fail the test rather than pass it vacuously. */
static inline char *tk_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        abort();
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    if (p == NULL || fread(p, 1, (size_t)n, f) != (size_t)n) {
        abort();
    }
    p[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return p;
}

#endif
