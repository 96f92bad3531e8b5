/* jwt_b64.h (private to core/) - strict base64url (RFC 4648 section 5) as JOSE requires it: no
 * padding, no whitespace, no foreign characters, and unused trailing bits must be zero, so every
 * byte string has exactly one accepted encoding.
 * Ownership: the caller provides the output buffer. */
#ifndef MOONBASE_JWT_B64_H
#define MOONBASE_JWT_B64_H

#include <stddef.h>

#include "moonbase/buf.h"

/* Bytes needed to decode `len` characters (an upper bound). */
#define MB_JWT_B64_DECODED_MAX(len) (((len) / 4) * 3 + 2)
/* Characters needed to encode `n` bytes without padding. */
#define MB_JWT_B64_ENCODED_MAX(n) (((n)*4 + 2) / 3)

/* Decode `in` into out (capacity cap). Returns 0 and sets *len; MB_ERR_INVALID for a character
 * outside the alphabet, '=' padding, a length of 4k+1 or non-zero unused bits; MB_ERR_LIMIT when
 * cap is too small. */
int mb_jwt_b64_decode(mb_cur in, unsigned char *out, size_t cap, size_t *len);

#endif
