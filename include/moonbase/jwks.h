/* moonbase/jwks.h - the issuer's JSON Web Key Set: fetched lazily, RSA keys imported once into
 * OpenSSL (EVP_PKEY_fromdata from the JWK's n/e, no PEM), each with a ready verify context, so a
 * token verification costs one RSA public operation and nothing else.
 * Only keys fit for RS256 signatures are kept: kty "RSA"; "use" absent or "sig"; "alg" absent or
 * "RS256"; "key_ops" absent or containing "verify"; no private members; a non-empty kid that no
 * other key in the set shares (a duplicated kid is ambiguous: every key with it is dropped);
 * 2048..4096-bit modulus, odd public exponent >= 3, minimal big-endian encodings.
 * Fetching: on the first lookup; again when a kid is unknown, at most once per
 * MB_JWKS_REFETCH_S seconds (a flood of random kids cannot become a flood of fetches); after a
 * failed fetch with no keys at all, at most once per MB_JWKS_RETRY_S seconds; both windows
 * start when the last attempt ended (a fetch that timed out counts from its timeout).
 * Ownership: mb_jwks_new() returns a set freed by mb_jwks_free(). Keys are owned by the set; a
 * key pointer stays valid until the next call that may fetch (mb_jwks_find, mb_jwks_load) or
 * mb_jwks_free. A key's serial outlives it: callers that remember a key keep its serial and ask
 * mb_jwks_has_serial(). A key that survives a refetch unchanged (same kid, n and e) keeps its
 * object and serial. Not thread-safe: one invocation at a time. */
#ifndef MOONBASE_JWKS_H
#define MOONBASE_JWKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "moonbase/buf.h"
#include "moonbase/clock.h"
#include "moonbase/err.h"

#define MB_JWKS_MAX_KEYS 32
#define MB_JWKS_MAX_KID 256
/* A JWKS document larger than this is refused (Cognito's is about 1 KB). */
#define MB_JWKS_MAX_DOC (256u * 1024u)
#define MB_JWKS_REFETCH_S 10
#define MB_JWKS_RETRY_S 1
#define MB_JWKS_MIN_BITS 2048
#define MB_JWKS_MAX_BITS 4096

/* Transport seam: fetch `url` and append the response body to `body`. Return 0 on a 200
 * response; any negative mb_status otherwise (the set reports MB_ERR_UNAVAILABLE). */
typedef int (*mb_jwks_fetch_fn)(void *ud, const char *url, mb_buf *body, mb_err *err);

typedef struct mb_jwks mb_jwks;
typedef struct mb_jwks_key mb_jwks_key;

/* Create an empty set that will fetch from `url` (copied) with `fetch`. Does no I/O and no
 * crypto. Returns NULL on allocation failure (MB_ERR_NOMEM) or a NULL url/fetch (MB_ERR_CONFIG). */
mb_jwks *mb_jwks_new(const char *url, mb_jwks_fetch_fn fetch, void *fetch_ud, mb_err *err);
/* Free the set and its keys. Accepts NULL. */
void mb_jwks_free(mb_jwks *jwks);
/* Replace the clock whose monotonic time (read in milliseconds; the back-off windows above are
 * whole seconds of it) paces refetches (copied; NULL or a NULL mono_ns restores
 * CLOCK_MONOTONIC). */
void mb_jwks_set_clock(mb_jwks *jwks, const mb_clock *clock);

/* Replace the key set with the usable keys of JWKS document `doc` (no fetch). Returns 0, or
 * MB_ERR_INVALID when doc is not a JSON object with a "keys" array (the old set is kept),
 * MB_ERR_NOMEM. Unusable keys are skipped, and counted in mb_jwks_skipped(). */
int mb_jwks_load(mb_jwks *jwks, mb_cur doc, mb_err *err);

/* Find the key for `kid`, fetching the set first if needed (see the header comment). Returns 0
 * with *key set; MB_ERR_UNAUTH when no usable key has that kid; MB_ERR_UNAVAILABLE when a needed
 * fetch failed or is in its retry back-off with no keys; MB_ERR_NOMEM. */
int mb_jwks_find(mb_jwks *jwks, mb_cur kid, const mb_jwks_key **key, mb_err *err);

/* Verify an RSASSA-PKCS1-v1_5 SHA-256 signature over a 32-byte digest. Returns 0 when valid,
 * MB_ERR_UNAUTH otherwise (including a signature whose length is not the modulus length). */
int mb_jwks_key_verify(const mb_jwks_key *key, const unsigned char digest[32],
                       const unsigned char *sig, size_t sig_len);
/* The signature length this key expects (modulus bytes). */
size_t mb_jwks_key_sig_len(const mb_jwks_key *key);
uint64_t mb_jwks_key_serial(const mb_jwks_key *key);
mb_cur mb_jwks_key_kid(const mb_jwks_key *key);

/* True while a key with this serial is in the set. */
bool mb_jwks_has_serial(const mb_jwks *jwks, uint64_t serial);
/* Incremented by every successful load or fetch (cache owners compare it to notice changes). */
uint64_t mb_jwks_generation(const mb_jwks *jwks);
size_t mb_jwks_key_count(const mb_jwks *jwks);
/* Keys skipped by the last load (unusable or ambiguous). */
size_t mb_jwks_skipped(const mb_jwks *jwks);
/* Why the last fetch failed (URL and reason, no secrets), "" after a success. */
const char *mb_jwks_last_error(const mb_jwks *jwks);
/* Number of fetches attempted (tests and logs). */
uint64_t mb_jwks_fetch_count(const mb_jwks *jwks);

/* Import an RSA public key from base64url n and e with the rules above. Returns 0 with a new
 * EVP_PKEY the caller frees with EVP_PKEY_free(), or MB_ERR_INVALID / MB_ERR_NOMEM. Exposed for
 * the key-import tests (Wycheproof). */
int mb_jwks_import_rsa(mb_cur n_b64, mb_cur e_b64, EVP_PKEY **out, mb_err *err);
/* Wrap an imported key (ownership passes to the key) into a standalone verify key, for tests
 * and benchmarks that check signatures without a set. Returns NULL on failure. */
mb_jwks_key *mb_jwks_key_new(EVP_PKEY *pkey, mb_cur kid, mb_err *err);
void mb_jwks_key_free(mb_jwks_key *key);

#endif
