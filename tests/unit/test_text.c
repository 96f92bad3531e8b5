/* test_text.c - the text kernel: UTF-8 validation (overlong forms, surrogates, truncated
 * sequences, past U+10FFFF), the JSON string scanner and the one \u reader (lone and reversed
 * surrogates, bad digits, cut escapes), the number grammar, unescaping bounds, the escaper (short
 * forms, repair, DEL, redaction hook, bounded output with a cut marker that never splits a unit),
 * and percent-decoding (%zz, %00, '+', strict mode). The mb_buf appenders run an out-of-memory loop
 * (realloc is wrapped: the Nth one fails). The JSON whitespace skipper. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "moonbase/err.h"
#include "moonbase/text.h"

static int g_fail_countdown = -1;
void *__real_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n) {
    if (g_fail_countdown >= 0 && g_fail_countdown-- == 0) {
        return NULL;
    }
    return __real_realloc(p, n);
}

#define CUR(s) ((mb_cur){(s), sizeof(s) - 1})

/* ---- UTF-8 ---- */

static void test_text_utf8_valid_accepts_and_refuses(void **state) {
    (void)state;
    static const char *const good[] = {
        "",
        "plain ascii, long enough for the word-at-a-time path",
        "\xc3\xa9",         /* U+00E9 */
        "\xdf\xbf",         /* U+07FF, last 2-byte */
        "\xe0\xa0\x80",     /* U+0800, first 3-byte */
        "\xed\x9f\xbf",     /* U+D7FF, just below the surrogates */
        "\xee\x80\x80",     /* U+E000, just above them */
        "\xef\xbf\xbf",     /* U+FFFF */
        "\xf0\x90\x80\x80", /* U+10000 */
        "\xf4\x8f\xbf\xbf", /* U+10FFFF, the last code point */
        "0123456789abcdef\xf0\x9f\x98\x80 after",
    };
    static const char *const bad[] = {
        "\x80",             /* a stray continuation byte */
        "\xc0\xaf",         /* overlong '/' */
        "\xc1\xbf",         /* overlong, 2 bytes */
        "\xe0\x80\xaf",     /* overlong, 3 bytes */
        "\xe0\x9f\xbf",     /* overlong U+07FF */
        "\xf0\x8f\xbf\xbf", /* overlong, 4 bytes */
        "\xed\xa0\x80",     /* U+D800, a surrogate */
        "\xed\xbf\xbf",     /* U+DFFF */
        "\xf4\x90\x80\x80", /* U+110000 */
        "\xf5\x80\x80\x80", /* F5: never UTF-8 */
        "\xff",
        "\xe2\x82",             /* truncated 3-byte */
        "abc\xf0\x9f\x98",      /* truncated 4-byte at the end */
        "\xe2\x28\xa1",         /* a continuation byte missing */
        "0123456789abcdef\xc3", /* truncated after the fast path */
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        assert_true(mb_text_utf8_valid(mb_cur_from_cstr(good[i])));
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (mb_text_utf8_valid(mb_cur_from_cstr(bad[i]))) {
            fail_msg("bad UTF-8 case %zu accepted", i);
        }
    }
    /* an embedded NUL is UTF-8 (U+0000) */
    assert_true(mb_text_utf8_valid((mb_cur){"a\0b", 3}));
}

/* mb_text_utf8_seq against a decoder written from the definition, on every 1..4 byte prefix
 * drawn from the interesting byte values. */
static size_t s_ref_seq(const unsigned char *p, size_t n) {
    unsigned c = p[0];
    size_t len = c < 0x80             ? 1
                 : (c & 0xE0) == 0xC0 ? 2
                 : (c & 0xF0) == 0xE0 ? 3
                 : (c & 0xF8) == 0xF0 ? 4
                                      : 0;
    if (len == 0 || len > n) {
        return 0;
    }
    uint32_t cp = len == 1 ? c : c & (0x7Fu >> len);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            return 0;
        }
        cp = cp << 6 | (p[i] & 0x3Fu);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0;
    }
    return len;
}

static void test_text_utf8_seq_matches_definition(void **state) {
    (void)state;
    static const unsigned char v[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF,
                                      0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE,
                                      0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF};
    const size_t nv = sizeof v;
    unsigned char p[4];
    for (size_t a = 0; a < nv; a++) {
        for (size_t b = 0; b < nv; b++) {
            for (size_t c = 0; c < nv; c++) {
                for (size_t d = 0; d < nv; d++) {
                    p[0] = v[a], p[1] = v[b], p[2] = v[c], p[3] = v[d];
                    for (size_t n = 1; n <= 4; n++) {
                        if (mb_text_utf8_seq(p, n) != s_ref_seq(p, n)) {
                            fail_msg("%02x %02x %02x %02x (n=%zu): %zu, want %zu", p[0], p[1], p[2],
                                     p[3], n, mb_text_utf8_seq(p, n), s_ref_seq(p, n));
                        }
                    }
                }
            }
        }
    }
}

static void test_text_utf8_encode_round_trips(void **state) {
    (void)state;
    static const uint32_t cps[] = {0,      0x41,   0x7F,   0x80,    0x7FF,   0x800,
                                   0xD7FF, 0xE000, 0xFFFF, 0x10000, 0x1F600, 0x10FFFF};
    for (size_t i = 0; i < sizeof cps / sizeof *cps; i++) {
        char o[4];
        size_t n = mb_text_utf8_encode(cps[i], o);
        assert_int_equal(n, cps[i] < 0x80 ? 1 : cps[i] < 0x800 ? 2 : cps[i] < 0x10000 ? 3 : 4);
        assert_int_equal(mb_text_utf8_seq((const unsigned char *)o, n), n);
    }
}

/* ---- JSON reading ---- */

static void test_text_json_escape_read_surrogates_and_bounds(void **state) {
    (void)state;
    static const struct {
        const char *in;
        size_t used;
        uint32_t cp;
    } cases[] = {
        {"\\n", 2, '\n'},
        {"\\/", 2, '/'},
        {"\\\"", 2, '"'},
        {"\\u0041", 6, 0x41},
        {"\\u00e9", 6, 0xE9},
        {"\\u00E9", 6, 0xE9},
        {"\\u0000", 6, 0},
        {"\\uffff", 6, 0xFFFF},
        {"\\ud83d\\ude00", 12, 0x1F600},
        {"\\udbff\\udfff", 12, 0x10FFFF},
        {"\\ud800\\udc00", 12, 0x10000},
        /* malformed: 0 */
        {"\\a", 0, 0},
        {"\\", 0, 0},
        {"\\u", 0, 0},
        {"\\u12", 0, 0},          /* cut short */
        {"\\u12g4", 0, 0},        /* bad digit */
        {"\\udc00", 0, 0},        /* a lone low surrogate */
        {"\\udc00\\ud800", 0, 0}, /* reversed pair */
        {"\\ud800", 0, 0},        /* a lone high surrogate */
        {"\\ud800x", 0, 0},
        {"\\ud800\\u0041", 0, 0}, /* high, then not a low one */
        {"\\ud800\\ud800", 0, 0},
        {"\\ud800\\udc0", 0, 0}, /* the pair cut short */
        {"\\ud800\\n", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        uint32_t cp = 0xFFFFFFFF;
        size_t used = mb_text_json_escape_read(cases[i].in, strlen(cases[i].in), &cp);
        if (used != cases[i].used || (used && cp != cases[i].cp)) {
            fail_msg("case %zu (%s): used %zu cp %x", i, cases[i].in, used, (unsigned)cp);
        }
    }
    /* n bounds the read even when the bytes after it would complete the escape */
    uint32_t cp;
    assert_int_equal(mb_text_json_escape_read("\\u0041", 5, &cp), 0);
    assert_int_equal(mb_text_json_escape_read("\\ud83d\\ude00", 11, &cp), 0);
    assert_int_equal(mb_text_json_escape_read("\\n", 1, &cp), 0);
    assert_int_equal(mb_text_json_escape_read((const char[]){'\\', '\0'}, 2, &cp), 0);
}

static void test_text_json_scan_string_checks_contents(void **state) {
    (void)state;
    size_t len;
    bool esc;
    const char *why = NULL;
    assert_int_equal(mb_text_json_scan_string("abc\" tail", 9, &len, &esc, &why), 0);
    assert_int_equal(len, 3);
    assert_false(esc);
    assert_int_equal(mb_text_json_scan_string("\"", 1, &len, &esc, &why), 0);
    assert_int_equal(len, 0);
    const char long_plain[] = "0123456789abcdef0123456789abcdef\xc3\xa9\\u00e9\\\"x\"";
    assert_int_equal(mb_text_json_scan_string(long_plain, sizeof long_plain - 1, &len, &esc, NULL),
                     0);
    assert_int_equal(len, sizeof long_plain - 2);
    assert_true(esc);
    static const struct {
        const char *in;
        size_t n, at;
        const char *why;
    } bad[] = {
        {"abc", 3, 3, "unterminated string"},
        {"abc\\\"", 5, 5, "unterminated string"},
        {"ab\x01\"", 4, 2, "control character in a string"},
        {"ab\n\"", 4, 2, "control character in a string"},
        {"a\xc0\xaf\"", 4, 1, "invalid UTF-8"},
        {"a\xed\xa0\x80\"", 5, 1, "invalid UTF-8"},
        {"0123456789abcdef0\xe2\x82", 19, 17, "invalid UTF-8"},
        {"a\\x\"", 4, 1, "bad escape"},
        {"a\\ud800\"", 8, 1, "bad escape"},
        {"a\\udc00\\ud800\"", 14, 1, "bad escape"},
        {"a\\u00\"", 6, 1, "bad escape"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        why = NULL;
        assert_int_equal(mb_text_json_scan_string(bad[i].in, bad[i].n, &len, &esc, &why),
                         MB_ERR_INVALID);
        assert_int_equal(len, bad[i].at);
        assert_string_equal(why, bad[i].why);
    }
    /* an embedded NUL is a control character */
    assert_int_equal(mb_text_json_scan_string((const char[]){'a', 0, '"'}, 3, &len, &esc, NULL),
                     MB_ERR_INVALID);
}

static void test_text_json_number_scan_grammar(void **state) {
    (void)state;
    static const struct {
        const char *in;
        size_t len;
        int is_int;
    } good[] = {
        {"0", 1, 1},   {"-0", 2, 1},       {"7,", 1, 1},    {"123]", 3, 1},
        {"1.5", 3, 0}, {"-0.25e-3", 8, 0}, {"1E+9", 4, 0},  {"10e5 ", 4, 0},
        {"0.0", 3, 0}, {"1.5.5", 3, 0},    {"2e3e4", 3, 0}, {"-9223372036854775809", 20, 1},
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        size_t len = 99;
        bool is_int = false;
        if (mb_text_json_number_scan(good[i].in, strlen(good[i].in), &len, &is_int, NULL) != 0 ||
            len != good[i].len || is_int != (bool)good[i].is_int) {
            fail_msg("good number %zu (%s): len %zu", i, good[i].in, len);
        }
    }
    static const struct {
        const char *in;
        size_t at;
        const char *why;
    } bad[] = {
        {"", 0, "bad number"},
        {"-", 1, "bad number"},
        {"+1", 0, "bad number"},
        {".5", 0, "bad number"},
        {"-a", 1, "bad number"},
        {"01", 1, "leading zero in number"},
        {"-00", 2, "leading zero in number"},
        {"1.", 2, "bad fraction"},
        {"1.e5", 2, "bad fraction"},
        {"1e", 2, "bad exponent"},
        {"1e+", 3, "bad exponent"},
        {"1E-x", 3, "bad exponent"},
        {"NaN", 0, "bad number"},
        {"0x10", 1, NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        size_t len = 99;
        bool is_int;
        const char *why = NULL;
        int rc = mb_text_json_number_scan(bad[i].in, strlen(bad[i].in), &len, &is_int, &why);
        if (!bad[i].why) { /* "0x10": the number is 0, and what follows is the caller's */
            assert_int_equal(rc, 0);
            assert_int_equal(len, bad[i].at);
            continue;
        }
        assert_int_equal(rc, MB_ERR_INVALID);
        assert_int_equal(len, bad[i].at);
        assert_string_equal(why, bad[i].why);
    }
}

static void test_text_json_unescape_decodes_and_bounds(void **state) {
    (void)state;
    char out[64];
    size_t n = 0;
    mb_cur raw = CUR("a\\n\\u00e9\\ud83d\\ude00\\/\\\\z");
    assert_int_equal(mb_text_json_unescape(raw, out, sizeof out, &n), 0);
    assert_int_equal(n, 1 + 1 + 2 + 4 + 1 + 1 + 1);
    assert_memory_equal(out, "a\n\xc3\xa9\xf0\x9f\x98\x80/\\z", n);
    /* raw.len is always enough */
    assert_int_equal(mb_text_json_unescape(raw, out, raw.len, &n), 0);
    /* too small: LIMIT at a plain run and at an escape; nothing past cap is written */
    memset(out, 'X', sizeof out);
    assert_int_equal(mb_text_json_unescape(CUR("abcdef"), out, 3, &n), MB_ERR_LIMIT);
    assert_int_equal(out[3], 'X');
    assert_int_equal(mb_text_json_unescape(CUR("ab\\u00e9"), out, 3, &n), MB_ERR_LIMIT);
    assert_int_equal(out[2], 'X');
    /* malformed escapes */
    assert_int_equal(mb_text_json_unescape(CUR("a\\ud800"), out, sizeof out, &n), MB_ERR_INVALID);
    assert_int_equal(mb_text_json_unescape(CUR("a\\"), out, sizeof out, &n), MB_ERR_INVALID);
    assert_int_equal(mb_text_json_unescape(CUR("\\q"), out, sizeof out, &n), MB_ERR_INVALID);
    /* empty */
    assert_int_equal(mb_text_json_unescape((mb_cur){NULL, 0}, out, 0, &n), 0);
    assert_int_equal(n, 0);
}

/* ---- JSON writing ---- */

static void s_quote_is(mb_cur in, unsigned flags, const char *want) {
    mb_buf b = {0};
    assert_int_equal(mb_text_json_quote(&b, in, flags), 0);
    assert_string_equal(b.ptr, want);
    assert_int_equal(b.len, strlen(want));
    mb_buf_cleanup(&b);
}

static void test_text_json_quote_escapes(void **state) {
    (void)state;
    s_quote_is((mb_cur){NULL, 0}, 0, "\"\"");
    s_quote_is(CUR("plain"), 0, "\"plain\"");
    s_quote_is(CUR("\"\\\b\f\n\r\t/"), 0, "\"\\\"\\\\\\b\\f\\n\\r\\t/\"");
    s_quote_is((mb_cur){"a\0b\x01\x1f", 5}, 0, "\"a\\u0000b\\u0001\\u001f\"");
    s_quote_is(CUR("\x7f"), 0, "\"\x7f\"");
    s_quote_is(CUR("\x7f"), MB_TEXT_ESC_DEL, "\"\\u007f\"");
    s_quote_is(CUR("caf\xc3\xa9 \xf0\x9f\x98\x80"), 0, "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"");
    /* every byte of a broken sequence becomes U+FFFD with REPAIR */
    s_quote_is(CUR("a\xff"
                   "b\xc0\xaf\xed\xa0\x80\xe2\x82"),
               MB_TEXT_ESC_REPAIR,
               "\"a\xef\xbf\xbd"
               "b\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
               "\xef\xbf\xbd\xef\xbf\xbd\"");
    /* without it, the call fails and the buffer is as it was */
    mb_buf b = {0};
    assert_int_equal(mb_buf_append(&b, "keep", 4), 0);
    assert_int_equal(mb_text_json_quote(&b, CUR("ok\xff"), 0), MB_ERR_INVALID);
    assert_int_equal(b.len, 4);
    assert_string_equal(b.ptr, "keep");
    /* a long string of escapes needs the second round of growth */
    char ctl[300];
    memset(ctl, 1, sizeof ctl);
    assert_int_equal(mb_text_json_quote(&b, (mb_cur){ctl, sizeof ctl}, 0), 0);
    assert_int_equal(b.len, 4 + 2 + 6 * sizeof ctl);
    assert_int_equal(b.ptr[b.len], '\0');
    mb_buf_cleanup(&b);
}

static void test_text_json_quote_out_of_memory(void **state) {
    (void)state;
    char text[300];
    for (size_t i = 0; i < sizeof text; i++) {
        text[i] = i % 2 ? '\x01' : 'a'; /* 1050 bytes out: past the first round's room */
    }
    for (int nth = 0;; nth++) {
        mb_buf b = {0};
        assert_int_equal(mb_buf_append(&b, "x", 1), 0);
        g_fail_countdown = nth;
        int rc = mb_text_json_quote(&b, (mb_cur){text, sizeof text}, 0);
        g_fail_countdown = -1;
        if (rc == 0) {
            assert_int_equal(b.ptr[0], 'x');
            assert_int_equal(b.ptr[1], '"');
            assert_int_equal(b.ptr[b.len - 1], '"');
            mb_buf_cleanup(&b);
            assert_true(nth >= 2); /* both rounds of growth were failed once */
            break;
        }
        assert_int_equal(rc, MB_ERR_NOMEM);
        assert_int_equal(b.len, 1);
        assert_string_equal(b.ptr, "x");
        mb_buf_cleanup(&b);
    }
}

/* The hook of these tests: "SECRET" at a word start becomes "[X]". */
static size_t s_hook(void *ud, mb_cur in, size_t at, char *rep, size_t *rep_len) {
    int *calls = ud;
    (*calls)++;
    if ((at > 0 && in.ptr[at - 1] != ' ') || in.len - at < 6 ||
        memcmp(in.ptr + at, "SECRET", 6) != 0) {
        return 0;
    }
    memcpy(rep, "[X]", 3);
    *rep_len = 3;
    return 6;
}

static void test_text_json_escape_hook_and_bound(void **state) {
    (void)state;
    int calls = 0;
    const mb_text_escape opt = {
        MB_TEXT_ESC_REPAIR | MB_TEXT_ESC_DEL, "S", s_hook, &calls, {"~", 1}};
    char out[64];
    size_t w, used;
    mb_cur in = CUR("a SECRET, xSECRET \x7f\"");
    assert_int_equal(mb_text_json_escape(out, sizeof out, in, &opt, &w, &used), 0);
    assert_int_equal(used, in.len);
    assert_memory_equal(out, "a [X], xSECRET \\u007f\\\"", w);
    assert_int_equal(w, strlen("a [X], xSECRET \\u007f\\\""));
    assert_int_equal(calls, 2); /* asked at each 'S', never elsewhere */
    /* the bound: the cut marker always fits, and no unit is split */
    mb_cur multi = CUR("ab\xc3\xa9\n");
    for (size_t cap = 0; cap <= 9; cap++) {
        memset(out, 'Z', sizeof out);
        assert_int_equal(mb_text_json_escape(out, cap, multi, &opt, &w, &used), 0);
        assert_true(w <= cap);
        assert_int_equal(out[cap], 'Z');
        static const size_t want_used[] = {0, 0, 1, 2, 2, 4, 4, 5, 5, 5};
        if (used != want_used[cap]) {
            fail_msg("cap %zu: used %zu", cap, used);
        }
        if (cap >= 1 && used < multi.len) {
            assert_int_equal(out[w - 1], '~');
        }
        if (used == multi.len) {
            assert_memory_equal(out, "ab\xc3\xa9\\n", w);
        }
    }
    /* without REPAIR, a bad byte stops the call with what was written so far */
    const mb_text_escape strict = {0};
    assert_int_equal(mb_text_json_escape(out, sizeof out, CUR("ok\xc3"), &strict, &w, &used),
                     MB_ERR_INVALID);
    assert_int_equal(w, 2);
    assert_int_equal(used, 2);
    /* NULL options: the plain escaper */
    assert_int_equal(mb_text_json_escape(out, sizeof out, CUR("\t"), NULL, &w, &used), 0);
    assert_memory_equal(out, "\\t", 2);
}

/* ---- percent-decoding ---- */

static void test_text_pct_decode_policies(void **state) {
    (void)state;
    char out[64];
    size_t n;
    /* lenient: a broken escape stays as it is; %00 decodes to NUL (the caller decides) */
    assert_int_equal(mb_text_pct_decode(CUR("a%2Fb+c%zz%4%00%e9%"), 0, out, &n), 0);
    assert_int_equal(n, 13);
    assert_memory_equal(out, "a/b+c%zz%4\0\xe9%", n);
    assert_int_equal(mb_text_pct_decode(CUR("a+b%2B"), MB_TEXT_PCT_PLUS_SPACE, out, &n), 0);
    assert_memory_equal(out, "a b+", 4);
    assert_int_equal(n, 4);
    /* strict: any broken escape fails */
    static const char *const broken[] = {"%zz", "%4", "%", "a%g0", "%0g", "ok%"};
    for (size_t i = 0; i < sizeof broken / sizeof *broken; i++) {
        assert_int_equal(
            mb_text_pct_decode(mb_cur_from_cstr(broken[i]), MB_TEXT_PCT_STRICT, out, &n),
            MB_ERR_INVALID);
    }
    assert_int_equal(mb_text_pct_decode(CUR("%41%62+"), MB_TEXT_PCT_STRICT, out, &n), 0);
    assert_memory_equal(out, "Ab+", 3);
    /* the buffer form appends and keeps the NUL; on error len is unchanged */
    mb_buf b = {0};
    assert_int_equal(mb_buf_append(&b, "x", 1), 0);
    assert_int_equal(mb_text_pct_decode_buf(&b, CUR("%7e+"), MB_TEXT_PCT_PLUS_SPACE), 0);
    assert_string_equal(b.ptr, "x~ ");
    assert_int_equal(mb_text_pct_decode_buf(&b, CUR("ab%"), MB_TEXT_PCT_STRICT), MB_ERR_INVALID);
    assert_string_equal(b.ptr, "x~ ");
    assert_int_equal(b.len, 3);
    for (int nth = 0;; nth++) {
        mb_buf c = {0};
        g_fail_countdown = nth;
        int rc = mb_text_pct_decode_buf(&c, CUR("%41bc"), 0);
        g_fail_countdown = -1;
        if (rc == 0) {
            assert_string_equal(c.ptr, "Abc");
            mb_buf_cleanup(&c);
            break;
        }
        assert_int_equal(rc, MB_ERR_NOMEM);
        assert_int_equal(c.len, 0);
        mb_buf_cleanup(&c);
    }
    mb_buf_cleanup(&b);
}

static void test_text_json_plain_prefix_every_offset(void **state) {
    (void)state;
    unsigned char s[40];
    static const unsigned char special[] = {'"', '\\', 0x00, 0x1f, 0x80, 0xff};
    for (size_t n = 1; n <= sizeof s; n++) {
        memset(s, 'a', sizeof s);
        assert_int_equal(mb_text_json_plain_prefix(s, n), n);
        for (size_t at = 0; at < n; at++) {
            for (size_t k = 0; k < sizeof special; k++) {
                memset(s, 'a', sizeof s);
                s[at] = special[k];
                assert_int_equal(mb_text_json_plain_prefix(s, n), at);
            }
        }
    }
    /* DEL and space are plain to JSON */
    assert_int_equal(mb_text_json_plain_prefix((const unsigned char *)"\x7f \x7f", 3), 3);
}

static void test_text_json_ws_skips_json_whitespace_only(void **state) {
    (void)state;
    const char *ws = " \t\n\rx ";
    assert_ptr_equal(mb_text_json_ws(ws, ws + 6), ws + 4); /* stops at the first other byte */
    assert_ptr_equal(mb_text_json_ws(ws, ws + 2), ws + 2); /* or at end */
    assert_ptr_equal(mb_text_json_ws(ws, ws), ws);         /* empty input */
    const char *other = "\v\f\xa0";                        /* not JSON whitespace */
    for (size_t i = 0; i < 3; i++) {
        assert_ptr_equal(mb_text_json_ws(other + i, other + 3), other + i);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_utf8_valid_accepts_and_refuses),
        cmocka_unit_test(test_text_utf8_seq_matches_definition),
        cmocka_unit_test(test_text_utf8_encode_round_trips),
        cmocka_unit_test(test_text_json_escape_read_surrogates_and_bounds),
        cmocka_unit_test(test_text_json_scan_string_checks_contents),
        cmocka_unit_test(test_text_json_number_scan_grammar),
        cmocka_unit_test(test_text_json_unescape_decodes_and_bounds),
        cmocka_unit_test(test_text_json_quote_escapes),
        cmocka_unit_test(test_text_json_quote_out_of_memory),
        cmocka_unit_test(test_text_json_escape_hook_and_bound),
        cmocka_unit_test(test_text_pct_decode_policies),
        cmocka_unit_test(test_text_json_plain_prefix_every_offset),
        cmocka_unit_test(test_text_json_ws_skips_json_whitespace_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
