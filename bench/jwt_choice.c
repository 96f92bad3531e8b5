/* jwt_choice.c - the measurement behind core/jwt.c's design: libjwt 1.10 vs OpenSSL EVP with a key
 * imported once, plus the cost of parsing a Cognito-sized payload with jansson.
 * Build: cc -O2 bench/jwt_choice.c -o /tmp/jwt_choice -ljwt -ljansson -lcrypto
 * (libjwt is not a dependency of moonbase: `apt-get install libjwt-dev` to re-run this comparison)
 * (not part of the CMake build: it exists to justify a decision, see include/moonbase/jwt.h). */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double s_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t s_b64url(const unsigned char *in, size_t n, char *out) {
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < n) {
            v |= (unsigned)in[i + 1] << 8;
        }
        if (i + 2 < n) {
            v |= in[i + 2];
        }
        out[o++] = a[(v >> 18) & 63];
        out[o++] = a[(v >> 12) & 63];
        if (i + 1 < n) {
            out[o++] = a[(v >> 6) & 63];
        }
        if (i + 2 < n) {
            out[o++] = a[v & 63];
        }
    }
    out[o] = 0;
    return o;
}

static const char *s_payload =
    "{\"sub\":\"5f7a1c2e-8d3b-4e6f-9a0b-1c2d3e4f5a6b\",\"cognito:groups\":[\"admin\",\"users\"],"
    "\"email_verified\":true,\"iss\":\"https://cognito-idp.us-east-1.amazonaws.com/"
    "us-east-1_AbCdEfGhI\",\"cognito:username\":\"5f7a1c2e-8d3b-4e6f-9a0b-1c2d3e4f5a6b\","
    "\"origin_jti\":\"0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d\",\"aud\":"
    "\"1example23456789abcdefghij\","
    "\"event_id\":\"11223344-5566-7788-99aa-bbccddeeff00\",\"token_use\":\"id\",\"auth_time\":"
    "1767225600,\"custom:tenant_id\":\"acme\",\"exp\":4102444800,\"iat\":1767225600,\"jti\":"
    "\"ffeeddcc-bbaa-9988-7766-554433221100\",\"email\":\"jane.doe@example.com\"}";

int main(void) {
    EVP_PKEY *key = EVP_RSA_gen(2048);
    char hdr[128], pay[1024], tok[4096];
    const char *h = "{\"kid\":\"k1\",\"alg\":\"RS256\"}";
    s_b64url((const unsigned char *)h, strlen(h), hdr);
    s_b64url((const unsigned char *)s_payload, strlen(s_payload), pay);
    int n = snprintf(tok, sizeof tok, "%s.%s", hdr, pay);
    unsigned char sig[256];
    size_t siglen = sizeof sig;
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    EVP_DigestSignInit(mc, NULL, EVP_sha256(), NULL, key);
    EVP_DigestSign(mc, sig, &siglen, (unsigned char *)tok, (size_t)n);
    EVP_MD_CTX_free(mc);
    tok[n] = '.';
    s_b64url(sig, siglen, tok + n + 1);
    size_t signed_len = (size_t)n;

    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, key);
    char *pem;
    long pemlen = BIO_get_mem_data(bio, &pem);

    int iters = 20000;
    unsigned char dg[32];
    SHA256((unsigned char *)tok, signed_len, dg);
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(key, NULL);
    EVP_PKEY_verify_init(pc);
    EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING);
    EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256());
    double t0 = s_now();
    for (int i = 0; i < iters; i++) {
        if (EVP_PKEY_verify(pc, sig, siglen, dg, 32) != 1) {
            return 1;
        }
    }
    double floor_us = (s_now() - t0) / iters * 1e6;

    t0 = s_now();
    for (int i = 0; i < iters; i++) {
        SHA256((unsigned char *)tok, signed_len, dg);
        if (EVP_PKEY_verify(pc, sig, siglen, dg, 32) != 1) {
            return 1;
        }
    }
    double hash_verify_us = (s_now() - t0) / iters * 1e6;

    t0 = s_now();
    for (int i = 0; i < iters; i++) {
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        EVP_DigestVerifyInit(m, NULL, EVP_sha256(), NULL, key);
        if (EVP_DigestVerify(m, sig, siglen, (unsigned char *)tok, signed_len) != 1) {
            return 1;
        }
        EVP_MD_CTX_free(m);
    }
    double digestverify_us = (s_now() - t0) / iters * 1e6;

    t0 = s_now();
    for (int i = 0; i < iters / 4; i++) {
        jwt_t *j = NULL;
        if (jwt_decode(&j, tok, (unsigned char *)pem, (int)pemlen) != 0) {
            return 2;
        }
        jwt_free(j);
    }
    double libjwt_us = (s_now() - t0) / (iters / 4) * 1e6;

    t0 = s_now();
    for (int i = 0; i < iters; i++) {
        json_t *j = json_loadb(s_payload, strlen(s_payload), JSON_REJECT_DUPLICATES, NULL);
        json_decref(j);
    }
    double jansson_us = (s_now() - t0) / iters * 1e6;

    printf("token %zu bytes, payload %zu bytes\n", strlen(tok), strlen(s_payload));
    printf("EVP_PKEY_verify on digest, ctx reused (floor): %6.2f us\n", floor_us);
    printf("SHA256 + EVP_PKEY_verify, ctx reused:          %6.2f us\n", hash_verify_us);
    printf("EVP_DigestVerifyInit+DigestVerify per call:    %6.2f us\n", digestverify_us);
    printf("libjwt 1.10 jwt_decode (PEM per call):         %6.2f us\n", libjwt_us);
    printf("jansson json_loadb of the payload:             %6.2f us\n", jansson_us);
    EVP_PKEY_CTX_free(pc);
    BIO_free(bio);
    EVP_PKEY_free(key);
    return 0;
}
