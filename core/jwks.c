/* jwks.c - the issuer's key set: lazy fetch, RSA keys imported once from n/e, rate-limited
 * refetch on unknown kids. */
#include "moonbase/jwks.h"

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jwt_b64.h"

/* 4096-bit modulus = 512 bytes; base64url of it is 683 characters. */
#define MB_JWKS_MAX_N_BYTES (MB_JWKS_MAX_BITS / 8)

struct mb_jwks_key {
    char *kid; /* NUL-terminated copy, also kept with its length */
    size_t kid_len;
    char *n_b64; /* as published, to recognise an unchanged key after a refetch */
    char *e_b64;
    EVP_PKEY *pkey;
    EVP_PKEY_CTX *vctx; /* verify context set up once: PKCS#1 v1.5 padding, SHA-256 */
    size_t sig_len;
    uint64_t serial;
};

struct mb_jwks {
    char *url;
    mb_jwks_fetch_fn fetch;
    void *fetch_ud;
    mb_jwks_clock_fn clock;
    void *clock_ud;
    mb_jwks_key *keys[MB_JWKS_MAX_KEYS];
    size_t count;
    size_t skipped;
    bool loaded;        /* a document was loaded at least once */
    bool fetched_once;  /* last_fetch is meaningful */
    int64_t last_fetch; /* monotonic seconds of the last attempt */
    uint64_t generation;
    uint64_t next_serial;
    uint64_t fetches;
};

static int64_t s_monotonic(void *ud) {
    (void)ud;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec;
}

mb_jwks *mb_jwks_new(const char *url, mb_jwks_fetch_fn fetch, void *fetch_ud, mb_err *err) {
    if (url == NULL || fetch == NULL) {
        mb_err_set(err, MB_ERR_CONFIG, "jwks: url and fetch function are required");
        return NULL;
    }
    mb_jwks *j = calloc(1, sizeof *j);
    if (j == NULL || (j->url = strdup(url)) == NULL) {
        free(j);
        mb_err_set(err, MB_ERR_NOMEM, "jwks: out of memory");
        return NULL;
    }
    j->fetch = fetch;
    j->fetch_ud = fetch_ud;
    j->clock = s_monotonic;
    j->next_serial = 1;
    return j;
}

void mb_jwks_key_free(mb_jwks_key *key) {
    if (key == NULL) {
        return;
    }
    EVP_PKEY_CTX_free(key->vctx);
    EVP_PKEY_free(key->pkey);
    free(key->kid);
    free(key->n_b64);
    free(key->e_b64);
    free(key);
}

void mb_jwks_free(mb_jwks *jwks) {
    if (jwks == NULL) {
        return;
    }
    for (size_t i = 0; i < jwks->count; i++) {
        mb_jwks_key_free(jwks->keys[i]);
    }
    free(jwks->url);
    free(jwks);
}

void mb_jwks_set_clock(mb_jwks *jwks, mb_jwks_clock_fn clock, void *ud) {
    jwks->clock = clock != NULL ? clock : s_monotonic;
    jwks->clock_ud = ud;
}

/* Decode a base64url big-endian unsigned integer with its minimal encoding (no leading zero). */
static BIGNUM *s_bn(mb_cur b64, unsigned char *tmp, size_t cap) {
    size_t n;
    if (b64.len == 0 || mb_jwt_b64_decode(b64, tmp, cap, &n) != 0 || n == 0 || tmp[0] == 0) {
        return NULL;
    }
    return BN_bin2bn(tmp, (int)n, NULL);
}

static int s_check_rsa(const BIGNUM *n, const BIGNUM *e, mb_err *err) {
    int bits = BN_num_bits(n);
    if (bits < MB_JWKS_MIN_BITS || bits > MB_JWKS_MAX_BITS) {
        return mb_err_set(err, MB_ERR_INVALID, "jwks: RSA modulus of %d bits not allowed", bits);
    }
    if (!BN_is_odd(n)) {
        return mb_err_set(err, MB_ERR_INVALID, "jwks: RSA modulus is even");
    }
    if (!BN_is_odd(e) || BN_num_bits(e) < 2 || BN_num_bits(e) > 64 || BN_cmp(e, n) >= 0) {
        return mb_err_set(err, MB_ERR_INVALID, "jwks: bad RSA public exponent");
    }
    return 0;
}

static int s_fromdata(BIGNUM *n, BIGNUM *e, EVP_PKEY **out, mb_err *err) {
    int rc = mb_err_set(err, MB_ERR_NOMEM, "jwks: RSA key import failed");
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    if (bld == NULL || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
        (params = OSSL_PARAM_BLD_to_param(bld)) == NULL) {
        goto fail;
    }
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        goto fail;
    }
    rc = 0;
fail:
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    return rc;
}

int mb_jwks_import_rsa(mb_cur n_b64, mb_cur e_b64, EVP_PKEY **out, mb_err *err) {
    unsigned char tmp[MB_JWKS_MAX_N_BYTES + 8];
    *out = NULL;
    if (n_b64.len > MB_JWT_B64_ENCODED_MAX(sizeof tmp) || e_b64.len > 16) {
        return mb_err_set(err, MB_ERR_INVALID, "jwks: RSA key member too long");
    }
    BIGNUM *n = s_bn(n_b64, tmp, sizeof tmp);
    BIGNUM *e = s_bn(e_b64, tmp, sizeof tmp);
    int rc;
    if (n == NULL || e == NULL) {
        rc = mb_err_set(err, MB_ERR_INVALID, "jwks: n or e is not a minimal base64url integer");
    } else {
        rc = s_check_rsa(n, e, err);
        if (rc == 0) {
            rc = s_fromdata(n, e, out, err);
        }
    }
    BN_free(n);
    BN_free(e);
    return rc;
}

mb_jwks_key *mb_jwks_key_new(EVP_PKEY *pkey, mb_cur kid, mb_err *err) {
    mb_jwks_key *k = calloc(1, sizeof *k);
    if (k == NULL || (k->kid = malloc(kid.len + 1)) == NULL) {
        free(k);
        EVP_PKEY_free(pkey);
        mb_err_set(err, MB_ERR_NOMEM, "jwks: out of memory");
        return NULL;
    }
    memcpy(k->kid, kid.ptr, kid.len);
    k->kid[kid.len] = '\0';
    k->kid_len = kid.len;
    k->pkey = pkey;
    k->sig_len = (size_t)EVP_PKEY_get_size(pkey);
    /* One context per key, initialised once: EVP_PKEY_verify() can be called on it repeatedly,
     * which saves the per-call context set-up EVP_DigestVerifyInit pays (~2.5 us measured). */
    k->vctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (k->vctx == NULL || EVP_PKEY_verify_init(k->vctx) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(k->vctx, RSA_PKCS1_PADDING) != 1 ||
        EVP_PKEY_CTX_set_signature_md(k->vctx, EVP_sha256()) != 1) {
        mb_jwks_key_free(k);
        mb_err_set(err, MB_ERR_NOMEM, "jwks: cannot set up the verify context");
        return NULL;
    }
    return k;
}

int mb_jwks_key_verify(const mb_jwks_key *key, const unsigned char digest[32],
                       const unsigned char *sig, size_t sig_len) {
    if (sig_len != key->sig_len) {
        return MB_ERR_UNAUTH;
    }
    return EVP_PKEY_verify(key->vctx, sig, sig_len, digest, 32) == 1 ? 0 : MB_ERR_UNAUTH;
}

size_t mb_jwks_key_sig_len(const mb_jwks_key *key) {
    return key->sig_len;
}

uint64_t mb_jwks_key_serial(const mb_jwks_key *key) {
    return key->serial;
}

mb_cur mb_jwks_key_kid(const mb_jwks_key *key) {
    return (mb_cur){key->kid, key->kid_len};
}

bool mb_jwks_has_serial(const mb_jwks *jwks, uint64_t serial) {
    for (size_t i = 0; i < jwks->count; i++) {
        if (jwks->keys[i]->serial == serial) {
            return true;
        }
    }
    return false;
}

uint64_t mb_jwks_generation(const mb_jwks *jwks) {
    return jwks->generation;
}

size_t mb_jwks_key_count(const mb_jwks *jwks) {
    return jwks->count;
}

size_t mb_jwks_skipped(const mb_jwks *jwks) {
    return jwks->skipped;
}

uint64_t mb_jwks_fetch_count(const mb_jwks *jwks) {
    return jwks->fetches;
}

static bool s_str_member(json_t *obj, const char *name, const char *want) {
    json_t *v = json_object_get(obj, name);
    return v == NULL || (json_is_string(v) && strcmp(json_string_value(v), want) == 0);
}

/* key_ops, when present, must be an array of strings that includes "verify". */
static bool s_key_ops_ok(json_t *obj) {
    json_t *ops = json_object_get(obj, "key_ops");
    if (ops == NULL) {
        return true;
    }
    size_t i;
    json_t *v;
    bool verify = false;
    if (!json_is_array(ops)) {
        return false;
    }
    json_array_foreach(ops, i, v) {
        if (!json_is_string(v)) {
            return false;
        }
        verify = verify || strcmp(json_string_value(v), "verify") == 0;
    }
    return verify;
}

/* True when the JWK may be used for RS256 (everything but the key material itself). */
static bool s_usable(json_t *jwk) {
    static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};
    json_t *kid = json_object_get(jwk, "kid");
    if (!json_is_object(jwk) || !json_is_string(kid) || json_string_length(kid) == 0 ||
        json_string_length(kid) > MB_JWKS_MAX_KID) {
        return false;
    }
    json_t *kty = json_object_get(jwk, "kty");
    if (kty == NULL || !s_str_member(jwk, "kty", "RSA") || !s_str_member(jwk, "use", "sig") ||
        !s_str_member(jwk, "alg", "RS256") || !s_key_ops_ok(jwk)) {
        return false;
    }
    for (size_t i = 0; i < sizeof private_members / sizeof *private_members; i++) {
        if (json_object_get(jwk, private_members[i]) != NULL) {
            return false; /* a set that publishes private material is broken: trust nothing */
        }
    }
    return json_is_string(json_object_get(jwk, "n")) && json_is_string(json_object_get(jwk, "e"));
}

static const mb_jwks_key *s_lookup(const mb_jwks *j, mb_cur kid) {
    for (size_t i = 0; i < j->count; i++) {
        if (mb_cur_eq((mb_cur){j->keys[i]->kid, j->keys[i]->kid_len}, kid)) {
            return j->keys[i];
        }
    }
    return NULL;
}

/* How many usable keys in `keys` carry this kid. */
static size_t s_kid_uses(json_t *keys, const char *kid) {
    size_t i, n = 0;
    json_t *jwk;
    json_array_foreach(keys, i, jwk) {
        if (s_usable(jwk) && strcmp(json_string_value(json_object_get(jwk, "kid")), kid) == 0) {
            n++;
        }
    }
    return n;
}

/* A build of the next key set: new keys are owned here until commit, reused ones stay old's. */
typedef struct s_build {
    mb_jwks_key *keys[MB_JWKS_MAX_KEYS];
    bool is_new[MB_JWKS_MAX_KEYS];
    bool old_taken[MB_JWKS_MAX_KEYS];
    size_t count;
    size_t skipped;
} s_build;

static int s_reuse_or_import(mb_jwks *j, s_build *b, json_t *jwk) {
    const char *kid = json_string_value(json_object_get(jwk, "kid"));
    json_t *n = json_object_get(jwk, "n"), *e = json_object_get(jwk, "e");
    for (size_t i = 0; i < j->count; i++) {
        mb_jwks_key *old = j->keys[i];
        if (!b->old_taken[i] && strcmp(old->kid, kid) == 0 &&
            strcmp(old->n_b64, json_string_value(n)) == 0 &&
            strcmp(old->e_b64, json_string_value(e)) == 0) {
            b->old_taken[i] = true;
            b->is_new[b->count] = false;
            b->keys[b->count++] = old;
            return 0;
        }
    }
    EVP_PKEY *pkey = NULL;
    mb_err ierr;
    int rc =
        mb_jwks_import_rsa((mb_cur){json_string_value(n), json_string_length(n)},
                           (mb_cur){json_string_value(e), json_string_length(e)}, &pkey, &ierr);
    if (rc == MB_ERR_INVALID) {
        b->skipped++;
        return 0;
    }
    if (rc != 0) {
        return rc;
    }
    mb_jwks_key *k = mb_jwks_key_new(pkey, mb_cur_from_cstr(kid), &ierr);
    if (k == NULL || (k->n_b64 = strdup(json_string_value(n))) == NULL ||
        (k->e_b64 = strdup(json_string_value(e))) == NULL) {
        mb_jwks_key_free(k);
        return MB_ERR_NOMEM;
    }
    k->serial = j->next_serial++;
    b->is_new[b->count] = true;
    b->keys[b->count++] = k;
    return 0;
}

static int s_build_keys(mb_jwks *j, s_build *b, json_t *keys) {
    size_t i;
    json_t *jwk;
    json_array_foreach(keys, i, jwk) {
        if (!s_usable(jwk) || b->count == MB_JWKS_MAX_KEYS ||
            s_kid_uses(keys, json_string_value(json_object_get(jwk, "kid"))) != 1) {
            b->skipped++;
            continue;
        }
        int rc = s_reuse_or_import(j, b, jwk);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static void s_commit(mb_jwks *j, s_build *b) {
    for (size_t i = 0; i < j->count; i++) {
        if (!b->old_taken[i]) {
            mb_jwks_key_free(j->keys[i]);
        }
    }
    memcpy(j->keys, b->keys, b->count * sizeof *b->keys);
    j->count = b->count;
    j->skipped = b->skipped;
    j->loaded = true;
    j->generation++;
}

int mb_jwks_load(mb_jwks *jwks, mb_cur doc, mb_err *err) {
    if (doc.len > MB_JWKS_MAX_DOC) {
        return mb_err_set(err, MB_ERR_INVALID, "jwks: document larger than %u bytes",
                          MB_JWKS_MAX_DOC);
    }
    json_error_t jerr;
    json_t *root = json_loadb(doc.ptr, doc.len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *keys = json_object_get(root, "keys");
    if (!json_is_object(root) || !json_is_array(keys) ||
        json_array_size(keys) > 4 * MB_JWKS_MAX_KEYS) {
        json_decref(root);
        return mb_err_set(err, MB_ERR_INVALID, "jwks: not a JWK set (an object with \"keys\")");
    }
    s_build *b = calloc(1, sizeof *b);
    int rc = b == NULL ? MB_ERR_NOMEM : s_build_keys(jwks, b, keys);
    if (rc == 0) {
        s_commit(jwks, b);
    } else {
        for (size_t i = 0; b != NULL && i < b->count; i++) {
            if (b->is_new[i]) {
                mb_jwks_key_free(b->keys[i]);
            }
        }
        mb_err_set(err, rc, "jwks: out of memory loading the key set");
    }
    free(b);
    json_decref(root);
    return rc;
}

static int s_fetch(mb_jwks *j, int64_t now, mb_err *err) {
    mb_buf body = {0};
    mb_err ferr = {0};
    j->fetches++;
    j->fetched_once = true;
    j->last_fetch = now;
    int rc = j->fetch(j->fetch_ud, j->url, &body, &ferr);
    if (rc == 0) {
        rc = mb_jwks_load(j, mb_buf_cur(&body), &ferr);
    }
    mb_buf_cleanup(&body);
    if (rc == MB_ERR_NOMEM) {
        return mb_err_set(err, rc, "jwks: out of memory");
    }
    if (rc != 0) {
        return mb_err_set(err, MB_ERR_UNAVAILABLE, "jwks: fetching %s failed: %s", j->url,
                          ferr.msg[0] ? ferr.msg : mb_status_name(rc));
    }
    return 0;
}

int mb_jwks_find(mb_jwks *jwks, mb_cur kid, const mb_jwks_key **key, mb_err *err) {
    *key = s_lookup(jwks, kid);
    if (*key != NULL) {
        return 0;
    }
    int64_t now = jwks->clock(jwks->clock_ud);
    int64_t since = now - jwks->last_fetch;
    if (jwks->loaded && jwks->fetched_once && since < MB_JWKS_REFETCH_S) {
        return mb_err_set(err, MB_ERR_UNAUTH, "jwks: unknown kid (refetch rate-limited)");
    }
    if (!jwks->loaded && jwks->fetched_once && since < MB_JWKS_RETRY_S) {
        return mb_err_set(err, MB_ERR_UNAVAILABLE, "jwks: key set unavailable (retry back-off)");
    }
    int rc = s_fetch(jwks, now, err);
    if (rc != 0) {
        return rc;
    }
    *key = s_lookup(jwks, kid);
    if (*key == NULL) {
        return mb_err_set(err, MB_ERR_UNAUTH, "jwks: unknown kid");
    }
    return 0;
}
