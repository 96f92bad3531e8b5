/* fuzz_base64.c - libFuzzer harness for mb_base64_decode / mb_base64url_decode. Decoding is
 * strict (padding rules, zero trailing bits), so every accepted input is the canonical encoding
 * of its bytes: encode(decode(x)) == x. Rejection must leave the output buffer unchanged. The
 * allocation-free mb_base64url_decode_to agrees with mb_base64url_decode. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "moonbase/base64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef int (*dec_fn)(mb_buf *, mb_cur, mb_err *);
typedef int (*enc_fn)(mb_buf *, mb_cur);

static void s_check(dec_fn dec, enc_fn enc, mb_cur in) {
    mb_buf out = {0}, back = {0};
    mb_err err = {0};
    FZ_CHECK(mb_buf_append(&out, "prefix", 6) == 0);
    int rc = dec(&out, in, &err);
    if (rc != 0) {
        FZ_CHECK(rc == MB_ERR_INVALID);
        FZ_CHECK(out.len == 6 && memcmp(out.ptr, "prefix", 6) == 0);
    } else {
        FZ_CHECK(out.len - 6 <= in.len / 4 * 3 + 2);
        FZ_CHECK(enc(&back, (mb_cur){out.ptr + 6, out.len - 6}) == 0);
        FZ_CHECK(back.len == in.len && (in.len == 0 || memcmp(back.ptr, in.ptr, in.len) == 0));
    }
    mb_buf_cleanup(&out);
    mb_buf_cleanup(&back);
}

/* mb_base64url_decode_to (the allocation-free JWT path) agrees with mb_base64url_decode, and
 * reports a buffer one byte too small as MB_ERR_LIMIT without writing past it. */
static void s_check_to(mb_cur in) {
    mb_buf ref = {0};
    mb_err err = {0};
    int want = mb_base64url_decode(&ref, in, &err);
    size_t cap = MB_BASE64_DECODED_MAX(in.len);
    unsigned char *out = malloc(cap + 1);
    size_t len = 0;
    FZ_CHECK(out != NULL);
    int rc = mb_base64url_decode_to(in, out, cap, &len);
    FZ_CHECK(rc == want);
    if (rc == 0) {
        FZ_CHECK(len == ref.len && (len == 0 || memcmp(out, ref.ptr, len) == 0));
        if (len > 0) {
            unsigned char *tight = malloc(len - 1); /* ASan sees any write past len - 1 bytes */
            FZ_CHECK(tight != NULL);
            FZ_CHECK(mb_base64url_decode_to(in, tight, len - 1, &len) == MB_ERR_LIMIT);
            free(tight);
        }
    }
    free(out);
    mb_buf_cleanup(&ref);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mb_cur in = {(const char *)data, size};
    s_check(mb_base64_decode, mb_base64_encode, in);
    s_check(mb_base64url_decode, mb_base64url_encode, in);
    s_check_to(in);
    return 0;
}
