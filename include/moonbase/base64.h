/* moonbase/base64.h - RFC 4648 base64 (standard alphabet) and base64url, strict decoding.
 * Ownership: the caller owns input views and output buffers; functions append to `out`. */
#ifndef MOONBASE_BASE64_H
#define MOONBASE_BASE64_H

#include <stdbool.h>

#include "moonbase/buf.h"
#include "moonbase/err.h"

/* Append the standard base64 encoding of `in` (with '=' padding). Returns 0 or MB_ERR_NOMEM. */
int mb_base64_encode(mb_buf *out, mb_cur in);
/* Append the base64url encoding of `in` without padding (JWT, cursors). Returns 0 or MB_ERR_NOMEM.
 */
int mb_base64url_encode(mb_buf *out, mb_cur in);

/* base64url (no padding) into a caller array of at least MB_BASE64URL_ENCODED_LEN(in.len) + 1
 * bytes, NUL-terminated, without allocating (test and benchmark token builders). Returns the
 * length written. */
size_t mb_base64url_encode_to(mb_cur in, char *out);

/* Append the decoded bytes of standard base64 `in`. Padding is required for a partial final
 * group; whitespace, foreign characters and non-zero trailing bits are rejected. Returns 0,
 * MB_ERR_INVALID (out unchanged) or MB_ERR_NOMEM. */
int mb_base64_decode(mb_buf *out, mb_cur in, mb_err *err);
/* Same for base64url without padding (a '=' is rejected, as RFC 7515 requires for JWS). */
int mb_base64url_decode(mb_buf *out, mb_cur in, mb_err *err);

/* Bytes that decoding `n` characters can produce (an upper bound), and the length of the
 * unpadded base64url encoding of `n` bytes. */
#define MB_BASE64_DECODED_MAX(n) (((n) / 4) * 3 + 2)
#define MB_BASE64URL_ENCODED_LEN(n) (((n)*4 + 2) / 3)

/* base64url (no padding) into a caller buffer, without allocating: the JWT hot path. Same
 * strictness as mb_base64url_decode(). Returns 0 with *len set, MB_ERR_INVALID, or MB_ERR_LIMIT
 * when cap is too small. */
int mb_base64url_decode_to(mb_cur in, unsigned char *out, size_t cap, size_t *len);
/* The same for standard, padded base64 (DynamoDB B values), with mb_base64_decode's strictness. */
int mb_base64_decode_to(mb_cur in, unsigned char *out, size_t cap, size_t *len);

#endif
