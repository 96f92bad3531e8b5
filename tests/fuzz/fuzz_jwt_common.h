/* fuzz_jwt_common.h - the fixed JWKS and key shared by the JWT and JWKS harnesses: a key set
 * holding the public half of fuzz_key.h, served by an in-memory transport, with fixed clocks.
 * Header-only (static functions). */
#ifndef MOONBASE_FUZZ_JWT_COMMON_H
#define MOONBASE_FUZZ_JWT_COMMON_H

#include <stdint.h>

#include "fuzz_key.h"
#include "fuzz_util.h"
#include "moonbase/jwks.h"

#define FZ_NOW 1700000000
#define FZ_ISSUER "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Fuzz"

static const char fz_jwks_doc[] =
    "{\"keys\":[{\"alg\":\"RS256\",\"use\":\"sig\",\"kty\":\"RSA\","
    "\"kid\":\"" FZ_KEY_KID "\",\"n\":\"" FZ_KEY_N "\",\"e\":\"" FZ_KEY_E "\"}]}";

static inline int fz_fetch(void *ud, const char *url, mb_buf *body, mb_err *err) {
    (void)ud;
    (void)url;
    return mb_buf_append_cstr(body, fz_jwks_doc) == 0 ? 0 : mb_err_set(err, MB_ERR_NOMEM, "oom");
}

static inline int64_t fz_now_ms(void *ud) {
    (void)ud;
    return (int64_t)FZ_NOW * 1000;
}

static inline int64_t fz_mono_ns(void *ud) {
    (void)ud;
    return (int64_t)FZ_NOW * 1000000000;
}

/* FZ_NOW seconds, as wall time (exp/nbf checks) and as monotonic time (JWKS refetch pacing). */
static const mb_clock fz_clock = {.now_ms = fz_now_ms, .mono_ns = fz_mono_ns};

/* A set loaded with the fixed key; the transport serves the same document. */
static inline mb_jwks *fz_jwks_new(void) {
    mb_err err = {0};
    mb_jwks *j = mb_jwks_new(FZ_ISSUER "/.well-known/jwks.json", fz_fetch, NULL, &err);
    FZ_CHECK(j != NULL);
    mb_jwks_set_clock(j, &fz_clock);
    FZ_CHECK(mb_jwks_load(j, MB_CUR_LIT(fz_jwks_doc), &err) == 0);
    FZ_CHECK(mb_jwks_key_count(j) == 1);
    return j;
}

#endif
