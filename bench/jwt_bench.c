/* jwt_bench.c - per-token cost of Moonbase's RS256 verification next to the OpenSSL floor.
 * Prints (microseconds per token): the RSA-2048 verify floor (EVP_PKEY_verify on a digest with a
 * reused context, what `openssl speed rsa2048` measures), a first verification of a token never
 * seen before (mb_jwt_verify on distinct tokens: decode, header, key lookup, SHA-256, RSA,
 * claims, cache insert), and a cached verification (the same token again).
 * `bench_jwt --emit DIR` also writes DIR/jwks.json, DIR/token.txt and DIR/env (issuer, pool,
 * client) so bench/jwt_node.mjs can time aws-jwt-verify on a token from the same key.
 * Built by CMake as bench_jwt; run both with bench/run-jwt. */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "moonbase/jwks.h"
#include "moonbase/base64.h"
#include "moonbase/jwt.h"

#define POOL "us-east-1_Bench1234"
#define ISS "https://cognito-idp.us-east-1.amazonaws.com/" POOL
#define CLIENT "3bench4client5id6789abcdef"
/* Measurements run in interleaved blocks and each figure is the fastest block: other processes on
 * a shared 2-core machine only ever add time, so the minimum is the least disturbed estimate, and
 * interleaving exposes the floor and our verifier to the same conditions. */
#define NTOK 1000
#define BLOCKS 12
#define CACHED_ITERS 100000
#define FLOOR_ITERS 1000

static double s_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t s_b64url(const unsigned char *in, size_t n, char *out) {
    return mb_base64url_encode_to((mb_cur){(const char *)in, n}, out);
}

static void s_bn(EVP_PKEY *k, const char *name, char *out) {
    BIGNUM *bn = NULL;
    unsigned char buf[512];
    EVP_PKEY_get_bn_param(k, name, &bn);
    s_b64url(buf, (size_t)BN_bn2bin(bn, buf), out);
    BN_free(bn);
}

/* A Cognito-shaped id token (same claim set and sizes as a real one). */
static char *s_token(EVP_PKEY *k, int i, long exp) {
    char payload[1024], hdr[128], buf[4096];
    int n = snprintf(payload, sizeof payload,
                     "{\"sub\":\"5f7a1c2e-8d3b-4e6f-9a0b-%012d\",\"cognito:groups\":[\"admin\"],"
                     "\"email_verified\":true,\"iss\":\"" ISS "\",\"cognito:username\":"
                     "\"5f7a1c2e-8d3b-4e6f-9a0b-%012d\",\"origin_jti\":\"0a1b2c3d-4e5f-6a7b-8c9d-"
                     "0e1f2a3b4c5d\",\"aud\":\"" CLIENT "\",\"event_id\":\"11223344-5566-7788-"
                     "99aa-bbccddeeff00\",\"token_use\":\"id\",\"auth_time\":%ld,\"exp\":%ld,"
                     "\"iat\":%ld,\"jti\":\"ffeeddcc-bbaa-9988-7766-%012d\",\"email\":"
                     "\"jane.doe@example.com\"}",
                     i, i, exp - 3600, exp, exp - 3600, i);
    const char *h = "{\"kid\":\"bench-kid\",\"alg\":\"RS256\"}";
    size_t o = s_b64url((const unsigned char *)h, strlen(h), hdr);
    memcpy(buf, hdr, o);
    buf[o++] = '.';
    o += s_b64url((const unsigned char *)payload, (size_t)n, buf + o);
    unsigned char sig[256];
    size_t siglen = sizeof sig;
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    EVP_DigestSignInit(mc, NULL, EVP_sha256(), NULL, k);
    EVP_DigestSign(mc, sig, &siglen, (unsigned char *)buf, o);
    EVP_MD_CTX_free(mc);
    buf[o++] = '.';
    o += s_b64url(sig, siglen, buf + o);
    return strndup(buf, o);
}

static int s_fetch(void *ud, const char *url, mb_buf *body, mb_err *err) {
    (void)url;
    (void)err;
    return mb_buf_append_cstr(body, ud);
}

typedef struct s_floor {
    EVP_PKEY_CTX *vc;
    unsigned char dg[32];
    unsigned char sig[256];
    size_t siglen;
} s_floor;

static void s_floor_init(s_floor *f, EVP_PKEY *k, const char *token) {
    const char *dot = strrchr(token, '.');
    f->siglen = sizeof f->sig;
    SHA256((const unsigned char *)token, (size_t)(dot - token), f->dg);
    EVP_PKEY_CTX *sc = EVP_PKEY_CTX_new(k, NULL);
    EVP_PKEY_sign_init(sc);
    EVP_PKEY_CTX_set_rsa_padding(sc, RSA_PKCS1_PADDING);
    EVP_PKEY_CTX_set_signature_md(sc, EVP_sha256());
    EVP_PKEY_sign(sc, f->sig, &f->siglen, f->dg, 32);
    EVP_PKEY_CTX_free(sc);
    f->vc = EVP_PKEY_CTX_new(k, NULL);
    EVP_PKEY_verify_init(f->vc);
    EVP_PKEY_CTX_set_rsa_padding(f->vc, RSA_PKCS1_PADDING);
    EVP_PKEY_CTX_set_signature_md(f->vc, EVP_sha256());
}

/* One block of the OpenSSL floor: EVP_PKEY_verify on a digest with a reused context. */
static double s_floor_block(s_floor *f) {
    double t0 = s_now();
    for (int i = 0; i < FLOOR_ITERS; i++) {
        if (EVP_PKEY_verify(f->vc, f->sig, f->siglen, f->dg, 32) != 1) {
            abort();
        }
    }
    return (s_now() - t0) / FLOOR_ITERS * 1e6;
}

/* One block of first verifications: every token is new to the (cleared) cache. */
static double s_first_block(mb_jwt_verifier *v, char **tokens) {
    const mb_jwt_claims *c;
    mb_jwt_cache_clear(v);
    double t0 = s_now();
    for (int i = 0; i < NTOK; i++) {
        if (mb_jwt_verify(v, mb_cur_from_cstr(tokens[i]), &c, NULL) != 0) {
            fprintf(stderr, "bench: token %d rejected: %s\n", i, mb_jwt_last_detail(v));
            exit(1);
        }
    }
    return (s_now() - t0) / NTOK * 1e6;
}

static double s_cached_block(mb_jwt_verifier *v, mb_cur token) {
    const mb_jwt_claims *c;
    double t0 = s_now();
    for (int i = 0; i < CACHED_ITERS; i++) {
        if (mb_jwt_verify(v, token, &c, NULL) != 0) {
            exit(1);
        }
    }
    return (s_now() - t0) / CACHED_ITERS * 1e6;
}

static double s_min(double a, double b) {
    return a < b ? a : b;
}

static void s_emit(const char *dir, const char *jwks, const char *token) {
    char path[1024];
    snprintf(path, sizeof path, "%s/jwks.json", dir);
    FILE *f = fopen(path, "w");
    fputs(jwks, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/token.txt", dir);
    f = fopen(path, "w");
    fputs(token, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/env", dir);
    f = fopen(path, "w");
    fprintf(f, "ISSUER=%s\nUSER_POOL_ID=%s\nCLIENT_ID=%s\n", ISS, POOL, CLIENT);
    fclose(f);
}

int main(int argc, char **argv) {
    EVP_PKEY *k = EVP_RSA_gen(2048);
    char n[400], e[16], jwks[1024];
    s_bn(k, OSSL_PKEY_PARAM_RSA_N, n);
    s_bn(k, OSSL_PKEY_PARAM_RSA_E, e);
    snprintf(jwks, sizeof jwks,
             "{\"keys\":[{\"alg\":\"RS256\",\"e\":\"%s\",\"kid\":\"bench-kid\",\"kty\":\"RSA\","
             "\"n\":\"%s\",\"use\":\"sig\"}]}",
             e, n);
    long exp = (long)time(NULL) + 3600;
    static char *tokens[NTOK];
    for (int i = 0; i < NTOK; i++) {
        tokens[i] = s_token(k, i, exp);
    }
    char *warm = s_token(k, -1, exp);
    if (argc == 3 && strcmp(argv[1], "--emit") == 0) {
        s_emit(argv[2], jwks, tokens[0]);
    }
    mb_jwks *set = mb_jwks_new(ISS "/.well-known/jwks.json", s_fetch, jwks, NULL);
    static const char *const clients[] = {CLIENT};
    mb_jwt_options o = {ISS, clients, 1, 60, {0}}; /* the real clock */
    mb_jwt_verifier *v = mb_jwt_verifier_new(&o, set, NULL);
    const mb_jwt_claims *c;
    double t0 = s_now();
    if (mb_jwt_verify(v, mb_cur_from_cstr(warm), &c, NULL) != 0) {
        fprintf(stderr, "bench: warm-up token rejected: %s\n", mb_jwt_last_detail(v));
        return 1;
    }
    double cold_us = (s_now() - t0) * 1e6;
    s_floor fl;
    s_floor_init(&fl, k, tokens[0]);
    double floor_us = 1e9, first_us = 1e9, cached_us = 1e9;
    for (int b = 0; b < BLOCKS; b++) {
        floor_us = s_min(floor_us, s_floor_block(&fl));
        first_us = s_min(first_us, s_first_block(v, tokens));
        cached_us = s_min(cached_us, s_cached_block(v, mb_cur_from_cstr(tokens[0])));
    }
    EVP_PKEY_CTX_free(fl.vc);
    mb_jwt_cache_stats st;
    mb_jwt_cache_stats_get(v, &st);

    printf("token_bytes=%zu\n", strlen(tokens[0]));
    printf("openssl_verify_us=%.3f\n", floor_us);
    printf("cold_first_token_us=%.3f\n", cold_us);
    printf("first_verify_us=%.3f\n", first_us);
    printf("cached_verify_us=%.3f\n", cached_us);
    printf("first_over_openssl=%.3f\n", first_us / floor_us);
    printf("cache_hits=%llu\n", (unsigned long long)st.hits);
    mb_jwt_verifier_free(v);
    mb_jwks_free(set);
    for (int i = 0; i < NTOK; i++) {
        free(tokens[i]);
    }
    free(warm);
    EVP_PKEY_free(k);
    return 0;
}
