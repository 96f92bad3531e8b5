/* fuzz_base64.c - libFuzzer harness for mb_base64_decode / mb_base64url_decode. Decoding is
 * strict (padding rules, zero trailing bits), so every accepted input is the canonical encoding
 * of its bytes: encode(decode(x)) == x. Rejection must leave the output buffer unchanged. */
#include <stddef.h>
#include <stdint.h>
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mb_cur in = {(const char *)data, size};
    s_check(mb_base64_decode, mb_base64_encode, in);
    s_check(mb_base64url_decode, mb_base64url_encode, in);
    return 0;
}
