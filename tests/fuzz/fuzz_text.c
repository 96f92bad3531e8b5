/* fuzz_text.c - libFuzzer harness for the text kernel, by properties rather than crashes alone:
 * mb_text_utf8_valid agrees with a loop of mb_text_utf8_seq; mb_text_json_quote writes valid
 * UTF-8 that mb_text_json_scan_string accepts and mb_text_json_unescape turns back into the
 * input (repaired input: into its repair); it refuses exactly what is not UTF-8 without repair;
 * a bounded escape stays inside its capacity and ends with the cut marker when it cuts; what the
 * scanner accepts unescapes within its length; strict percent-decoding agrees with lenient
 * wherever it succeeds; a scanned number lies inside the input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "moonbase/err.h"
#include "moonbase/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool s_seq_valid(const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n;) {
        size_t k = mb_text_utf8_seq(p + i, n - i);
        if (k == 0) {
            return false;
        }
        i += k;
    }
    return true;
}

static void s_quote_round_trip(mb_cur in, bool valid) {
    mb_buf q = {0};
    FZ_CHECK(mb_text_json_quote(&q, in, 0) == (valid ? 0 : MB_ERR_INVALID));
    mb_buf_reset(&q);
    FZ_CHECK(mb_text_json_quote(&q, in, MB_TEXT_ESC_REPAIR | MB_TEXT_ESC_DEL) == 0);
    FZ_CHECK(q.len >= 2 && q.ptr[0] == '"' && q.ptr[q.len - 1] == '"');
    FZ_CHECK(mb_text_utf8_valid(mb_buf_cur(&q)));
    size_t len;
    bool escaped;
    FZ_CHECK(mb_text_json_scan_string(q.ptr + 1, q.len - 1, &len, &escaped, NULL) == 0);
    FZ_CHECK(len == q.len - 2);
    char *back = malloc(len + 1);
    size_t n;
    FZ_CHECK(back && mb_text_json_unescape((mb_cur){q.ptr + 1, len}, back, len, &n) == 0);
    if (valid) {
        FZ_CHECK(n == in.len && (n == 0 || memcmp(back, in.ptr, n) == 0));
    }
    free(back);
    mb_buf_cleanup(&q);
}

static void s_bounded(mb_cur in, size_t cap) {
    char out[80];
    memset(out, 'Z', sizeof out);
    const mb_text_escape opt = {MB_TEXT_ESC_REPAIR, NULL, NULL, NULL, {"~", 1}};
    size_t w, used;
    FZ_CHECK(mb_text_json_escape(out, cap, in, &opt, &w, &used) == 0);
    FZ_CHECK(w <= cap && used <= in.len && out[cap] == 'Z');
    if (used < in.len && cap >= 1) {
        FZ_CHECK(w >= 1 && out[w - 1] == '~');
    }
    FZ_CHECK(mb_text_utf8_valid((mb_cur){out, w}));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mb_cur in = {(const char *)data, size};
    bool valid = mb_text_utf8_valid(in);
    FZ_CHECK(valid == s_seq_valid(data, size));
    s_quote_round_trip(in, valid);
    s_bounded(in, size % 64);
    /* the scanner on raw input: what it accepts unescapes within its length */
    size_t len;
    bool escaped;
    if (mb_text_json_scan_string(in.ptr, size, &len, &escaped, NULL) == 0) {
        FZ_CHECK(len < size && data[len] == '"');
        char *out = malloc(len + 1);
        size_t n;
        FZ_CHECK(out && mb_text_json_unescape((mb_cur){in.ptr, len}, out, len, &n) == 0);
        FZ_CHECK(n <= len && (escaped || n == len));
        free(out);
    } else {
        FZ_CHECK(len <= size);
    }
    /* percent-decoding: lenient never fails; strict, where it succeeds, says the same */
    char *a = malloc(size + 1), *b = malloc(size + 1);
    size_t na, nb;
    FZ_CHECK(a && b && mb_text_pct_decode(in, MB_TEXT_PCT_PLUS_SPACE, a, &na) == 0 && na <= size);
    if (mb_text_pct_decode(in, MB_TEXT_PCT_PLUS_SPACE | MB_TEXT_PCT_STRICT, b, &nb) == 0) {
        FZ_CHECK(na == nb && (na == 0 || memcmp(a, b, na) == 0));
    }
    free(a);
    free(b);
    bool is_int;
    if (mb_text_json_number_scan(in.ptr, size, &len, &is_int, NULL) == 0) {
        FZ_CHECK(len >= 1 && len <= size);
    }
    return 0;
}
