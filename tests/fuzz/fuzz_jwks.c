/* fuzz_jwks.c - libFuzzer harness for mb_jwks_load on fuzzed JWKS documents. Properties: a
 * failed load keeps the previous set (the fixed key) and says MB_ERR_INVALID (or NOMEM); a
 * successful one keeps at most MB_JWKS_MAX_KEYS keys, each findable by its kid; loading the
 * fixed document afterwards restores exactly one key. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_jwt_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static mb_jwks *jwks;
    if (!jwks) {
        jwks = fz_jwks_new();
    }
    mb_err err = {0};
    uint64_t gen = mb_jwks_generation(jwks);
    int rc = mb_jwks_load(jwks, (mb_cur){(const char *)data, size}, &err);
    if (rc != 0) {
        FZ_CHECK(rc == MB_ERR_INVALID || rc == MB_ERR_NOMEM || rc == MB_ERR_LIMIT);
        FZ_CHECK(mb_jwks_generation(jwks) == gen && mb_jwks_key_count(jwks) == 1);
    } else {
        FZ_CHECK(mb_jwks_key_count(jwks) <= MB_JWKS_MAX_KEYS);
        const mb_jwks_key *key = NULL;
        if (mb_jwks_find(jwks, MB_CUR_LIT(FZ_KEY_KID), &key, &err) == 0) {
            FZ_CHECK(mb_cur_eq(mb_jwks_key_kid(key), MB_CUR_LIT(FZ_KEY_KID)));
            FZ_CHECK(mb_jwks_key_sig_len(key) >= MB_JWKS_MIN_BITS / 8);
        }
        FZ_CHECK(mb_jwks_load(jwks, MB_CUR_LIT(fz_jwks_doc), &err) == 0);
        FZ_CHECK(mb_jwks_key_count(jwks) == 1);
    }
    return 0;
}
