/* moonbase/jwt.h - RS256 JWT verification of Cognito id and access tokens against a cached JWKS,
 * with a verified-token cache for warm processes.
 *
 * Why OpenSSL EVP directly and not libjwt (measured by bench/jwt_choice.c on the 2-core build
 * machine, RSA-2048, a 1.1 KB Cognito-shaped token): libjwt 1.10 jwt_decode() costs ~337 us per
 * token because it re-parses the PEM key on every call (and it takes the algorithm from the
 * token header, so pinning RS256 would need a wrapper anyway); EVP_PKEY_verify() on a key
 * imported once from the JWK's n/e with a verify context set up once costs ~17 us, the OpenSSL
 * floor. jansson was measured too: ~7.4 us to parse the payload, a third of the budget, so the
 * header and payload are read by a strict allocation-free scanner (core/jwt_json.c); jansson only
 * reads JWKS documents, off the hot path.
 *
 * Rules, in order: the token is at most MB_JWT_MAX_TOKEN bytes (checked before decoding), exactly
 * three non-empty strict base64url segments; the header is a JSON object whose "alg" is exactly
 * "RS256" (decided before any crypto: none, HS*, RS384/512, PS*, ES* are rejected), with a string
 * "kid" and no "crit" (we implement no extension, so every crit is unknown); "jku", "x5u", "jwk"
 * and "x5c" are ignored: the key comes only from the issuer's JWKS by kid. The signature must be
 * valid for that key. The payload is a JSON object with: "iss" exactly the configured issuer;
 * "exp" a number in the future, "nbf" and "iat" (when present) numbers not in the future, all
 * with the configured clock skew; "auth_time" a number when present; "token_use" "id" or
 * "access"; "aud" (id token; a string or an array of strings) or "client_id" (access token) one
 * of the configured client ids; "sub" a non-empty string; "cognito:groups" (when present) an
 * array of strings.
 *
 * Cache: a verified token is kept keyed by a seeded hash of the whole token and confirmed by a
 * full byte comparison; exp and nbf are re-checked against the clock on every hit; the cache is
 * bounded (MB_JWT_CACHE_SLOTS entries, evicting the soonest-expiring of a probe window); entries
 * whose signing key left the JWKS are dropped when the set changes.
 *
 * Ownership: the verifier borrows the mb_jwks (which must outlive it) and copies the options'
 * strings. Claims returned by mb_jwt_verify() belong to the verifier and stay valid until the next
 * mb_jwt_verify() or mb_jwt_verifier_free(). One invocation at a time (not thread-safe). */
#ifndef MOONBASE_JWT_H
#define MOONBASE_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "moonbase/buf.h"
#include "moonbase/clock.h"
#include "moonbase/err.h"
#include "moonbase/jwks.h"

/* Cognito tokens are 1-4 KB; anything past 16 KB is refused before a byte is decoded. */
#define MB_JWT_MAX_TOKEN (16u * 1024u)
/* A header is ~60 bytes in practice; 1 KB leaves room for harmless extra members. */
#define MB_JWT_MAX_HEADER 1024
/* Top-level claims kept per token (Cognito id tokens carry standard + custom attributes). */
#define MB_JWT_MAX_CLAIMS 128
#define MB_JWT_CACHE_SLOTS 256

typedef enum mb_jwt_token_use {
    MB_JWT_USE_ID = 1,
    MB_JWT_USE_ACCESS = 2,
} mb_jwt_token_use;

typedef struct mb_jwt_options {
    const char *issuer;            /* exact expected iss */
    const char *const *client_ids; /* accepted aud / client_id values */
    size_t client_id_count;
    int clock_skew_s; /* 0..300 */
    /* exp/nbf/iat are checked against mb_clock_now_s(&clock) (copied; zeroed: the real time()) */
    mb_clock clock;
} mb_jwt_options;

/* Verified claims. Strings are unescaped copies; absent optional strings are empty. */
typedef struct mb_jwt_claims {
    mb_cur payload; /* the decoded payload: one strictly valid JSON object */
    mb_cur sub;
    mb_cur email;
    mb_cur username; /* cognito:username (id) or username (access), else sub */
    mb_cur tenant;   /* custom:tenant_id as sent, empty when absent (see mb_auth_tenant) */
    mb_cur groups;   /* the cognito:groups JSON array text, empty when absent */
    mb_jwt_token_use token_use;
    int64_t exp;
    int64_t nbf; /* INT64_MIN when absent */
    int64_t iat; /* INT64_MIN when absent */
} mb_jwt_claims;

typedef struct mb_jwt_verifier mb_jwt_verifier;

/* Create a verifier. No I/O, no crypto. Returns NULL with MB_ERR_CONFIG (missing issuer, no client
 * ids, skew out of range) or MB_ERR_NOMEM. */
mb_jwt_verifier *mb_jwt_verifier_new(const mb_jwt_options *opts, mb_jwks *jwks, mb_err *err);
/* Free the verifier and its cache. Accepts NULL. */
void mb_jwt_verifier_free(mb_jwt_verifier *v);

/* Verify `token` (the compact JWS, without "Bearer "). Returns 0 with *claims set (see Ownership);
 * MB_ERR_UNAUTH with a client-safe err->msg ("invalid token", "token expired", "token not yet
 * valid"); MB_ERR_UNAVAILABLE when the JWKS could not be fetched; MB_ERR_NOMEM. The check that
 * failed is available from mb_jwt_last_detail() for logs. */
int mb_jwt_verify(mb_jwt_verifier *v, mb_cur token, const mb_jwt_claims **claims, mb_err *err);
/* A static description of the last failure ("alg is not RS256", "signature mismatch"...), or
 * "" after a success. Never contains token data. */
const char *mb_jwt_last_detail(const mb_jwt_verifier *v);

/* The JWS layer alone: size, segments, base64url, header rules, key by kid, signature. The
 * payload is not parsed (Wycheproof JWS vectors carry non-JSON payloads). Returns 0 when the
 * signature is valid; MB_ERR_UNAUTH / MB_ERR_UNAVAILABLE / MB_ERR_NOMEM otherwise, with *detail
 * (may be NULL) set to a static description. */
int mb_jwt_verify_jws(mb_jwks *jwks, mb_cur token, const char **detail, mb_err *err);

/* Cache statistics (tests and benchmarks). */
typedef struct mb_jwt_cache_stats {
    uint64_t hits;
    uint64_t misses;
    size_t entries;
} mb_jwt_cache_stats;
void mb_jwt_cache_stats_get(const mb_jwt_verifier *v, mb_jwt_cache_stats *out);
/* Drop every cached token (tests and benchmarks measuring first verifications). */
void mb_jwt_cache_clear(mb_jwt_verifier *v);

#endif
