/* moonbase/text.h - the text kernel shared by every module that reads or writes text by hand:
 * hex digits, UTF-8 validation and encoding, JSON whitespace, JSON strings (the scan of a string
 * literal, the one `\uXXXX` reader, unescaping, and the one escaper with the hooks the log needs:
 * redaction, a bounded output with a cut marker, DEL escaped), and percent-decoding.
 * The small, hot pieces (hex digits, the word-at-a-time and SSE2 scan for bytes a JSON string
 * cannot hold verbatim) are static inline: no call on the JWT, SigV4 or marshalling fast paths.
 * Ownership: none. Every function works on caller-owned bytes and writes only into caller
 * buffers (a fixed array with its capacity, or an mb_buf it grows); nothing else allocates.
 * Thread-safe. Floor 0: built only on buf and err. */
#ifndef MOONBASE_TEXT_H
#define MOONBASE_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "moonbase/buf.h"

/* ---- hex ---------------------------------------------------------------------------------- */

/* The value of hex digit c (0-9, a-f, A-F), or -1 for any other byte. */
static inline int mb_text_hex_digit(int c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Write the n bytes as 2n lower-case hex digits and a NUL into hex[2n + 1]. */
static inline void mb_text_hex_encode(const unsigned char *bytes, size_t n, char *hex) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = digits[bytes[i] >> 4];
        hex[2 * i + 1] = digits[bytes[i] & 15];
    }
    hex[2 * n] = '\0';
}

/* ---- word loads --------------------------------------------------------------------------- */

/* The 8 bytes at p as one word, in the machine's byte order (an unaligned load). */
static inline uint64_t mb_text_load8(const unsigned char *p) {
    uint64_t w;
    memcpy(&w, p, sizeof w);
    return w;
}

/* The n (1..7) bytes at p in one word, some of them repeated and no other byte: enough to ask
 * whether any of them is special, or to compare two short strings of the same length, without
 * a byte loop (short keys and values are the common case). */
static inline uint64_t mb_text_load_short(const unsigned char *p, size_t n) {
    if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, p, 4);
        memcpy(&b, p + n - 4, 4);
        return (uint64_t)a | (uint64_t)b << 32;
    }
    const uint64_t ones = 0x0101010101010101ULL;
    return (uint64_t)p[0] * ones ^ ((uint64_t)(p[0] ^ p[n / 2]) << 8) ^
           ((uint64_t)(p[0] ^ p[n - 1]) << 16);
}

/* ---- the JSON plain-byte scan ------------------------------------------------------------- */

/* A mask with the top bit set in each byte of w that a JSON string cannot hold without a look:
 * a control character, '"', '\\' or a non-ASCII byte (SWAR, "SIMD within a register"). Each byte
 * is tested on its low 7 bits with additions that cannot carry into the next byte, so the mask
 * is exact and its lowest set bit marks the first such byte. */
static inline uint64_t mb_text_json_special_mask(uint64_t w) {
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    const uint64_t low7 = ~highs;
    uint64_t lo = w & low7;
    uint64_t printable = lo + ones * (0x80 - 0x20); /* top bit: low 7 bits >= 0x20 */
    uint64_t q = lo ^ (ones * '"'), b = lo ^ (ones * '\\');
    uint64_t not_quote = (q + low7) | q, not_bslash = (b + low7) | b; /* top bit: byte != c */
    return (w | ~(printable & not_quote & not_bslash)) & highs;
}

static inline size_t mb_text_json_plain_bytes(const unsigned char *p, size_t n) {
    size_t i = 0;
    while (i < n && p[i] >= 0x20 && p[i] < 0x80 && p[i] != '"' && p[i] != '\\') {
        i++;
    }
    return i;
}

#if defined(__SSE2__)
/* Index of the first special byte (as above) in the 16 at p, or 16. SSE2 is part of x86-64
 * itself: a signed compare below 0x20 flags control characters and non-ASCII bytes at once. */
static inline unsigned mb_text_json_special16(const unsigned char *p) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i m = _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
                             _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                          _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
    unsigned mask = (unsigned)_mm_movemask_epi8(m);
    return mask ? (unsigned)__builtin_ctz(mask) : 16;
}
#endif

/* Index of the first byte of p[0..n) that is not printable ASCII other than '"' and '\\', or n.
 * 16 bytes at a time where SSE2 is there (x86-64, what the SAM template deploys), 8 otherwise.
 * This is the marshaller's, the readers' and the escaper's inner loop. */
static inline size_t mb_text_json_plain_prefix(const unsigned char *p, size_t n) {
    size_t i = 0;
#if defined(__SSE2__)
    for (; i + 16 <= n; i += 16) {
        unsigned k = mb_text_json_special16(p + i);
        if (k < 16) {
            return i + k;
        }
    }
#endif
    for (; i + 8 <= n; i += 8) {
        uint64_t m = mb_text_json_special_mask(mb_text_load8(p + i));
        if (m != 0) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            return i + (size_t)(__builtin_ctzll(m) >> 3); /* the lowest byte comes first */
#else
            return i + mb_text_json_plain_bytes(p + i, n - i);
#endif
        }
    }
    if (i < n) { /* 1..7 bytes left: all plain is the common answer */
        uint64_t w = n >= 8 ? mb_text_load8(p + n - 8) : mb_text_load_short(p, n);
        if (mb_text_json_special_mask(w) == 0) {
            return n;
        }
    }
    return i + mb_text_json_plain_bytes(p + i, n - i);
}

/* ---- UTF-8 -------------------------------------------------------------------------------- */

/* Length (1..4) of the valid UTF-8 sequence at p, n >= 1 bytes available, or 0 when the bytes
 * are not UTF-8: a stray continuation byte, an overlong form, a surrogate (U+D800..DFFF), a code
 * point past U+10FFFF, or a sequence cut short by the end. */
size_t mb_text_utf8_seq(const unsigned char *p, size_t n);
/* True when all of s is valid UTF-8 (the empty string is). ASCII runs are checked 8 or 16 bytes
 * at a time. */
bool mb_text_utf8_valid(mb_cur s);
/* Write code point cp (<= U+10FFFF, not a surrogate: the caller checked) as UTF-8 into out[4].
 * Returns the number of bytes written (1..4). */
size_t mb_text_utf8_encode(uint32_t cp, char *out);

/* ---- JSON strings: reading ---------------------------------------------------------------- */

/* Read the escape at p (p[0] == '\\', n bytes available): one of \" \\ \/ \b \f \n \r \t, or
 * \uXXXX, where a high surrogate must be followed by \uXXXX holding a low one (a pair) and a
 * low surrogate alone is refused. Returns the length of the escape in the input (2, 6 or 12)
 * and its code point in *cp, or 0 when malformed (also when cut short by n). The one reader of
 * `\u` escapes: every hand-written JSON reader goes through it. */
size_t mb_text_json_escape_read(const char *p, size_t n, uint32_t *cp);

/* Scan a JSON string literal: p is just past its opening quote, n bytes available. On success
 * returns 0, *len is the length of the contents (the closing quote is p[*len]) and *escaped
 * says whether they hold a backslash. The contents are checked: valid UTF-8, no control
 * character, every escape well-formed (mb_text_json_escape_read). Otherwise returns
 * MB_ERR_INVALID, *len is the offset of the offending byte and *why (when not NULL) a static
 * reason ("invalid UTF-8", "control character in a string", "bad escape", "unterminated
 * string"). Allocation-free. */
int mb_text_json_scan_string(const char *p, size_t n, size_t *len, bool *escaped, const char **why);

/* Scan a JSON number at p (n bytes available) by RFC 8259's grammar:
 * -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? (no leading zeros, no '+', no bare '.', no
 * NaN or hex). On success returns 0, *len is its length (the grammar ends it: the caller checks
 * what follows) and *is_int says it has neither fraction nor exponent. Otherwise returns
 * MB_ERR_INVALID, *len is the offset of the offending byte and *why (when not NULL) a static
 * reason ("bad number", "leading zero in number", "bad fraction", "bad exponent"). */
int mb_text_json_number_scan(const char *p, size_t n, size_t *len, bool *is_int, const char **why);

/* Decode the contents of a JSON string (raw, between the quotes) into out[0..cap): escapes are
 * decoded to UTF-8, other bytes copied. Decoded text is never longer than raw, so cap >=
 * raw.len always suffices. Returns 0 and sets *len; MB_ERR_INVALID for a malformed escape
 * (raw not validated by mb_text_json_scan_string), MB_ERR_LIMIT when cap is too small. */
int mb_text_json_unescape(mb_cur raw, char *out, size_t cap, size_t *len);

/* ---- JSON structure ----------------------------------------------------------------------- */

/* Skip JSON whitespace (space, tab, LF, CR) from p up to end; returns the first other byte or
 * end. The one skipper of json.c and jwt_json.c. Pointers, as those readers walk their text: an
 * offset form cost json.c's reader ~10% of its structural instructions (callgrind). */
static inline const char *mb_text_json_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) {
        p++;
    }
    return p;
}

/* ---- JSON strings: writing ---------------------------------------------------------------- */

/* Flags of the escaper. By default bytes that are not valid UTF-8 fail the call
 * (MB_ERR_INVALID): DynamoDB refuses them, and a silent change would store other text. */
enum {
    /* Each byte that is not part of valid UTF-8 becomes U+FFFD (its UTF-8 bytes): for text that
     * must go out whatever it holds (logs, json.encode, error messages). */
    MB_TEXT_ESC_REPAIR = 1 << 0,
    /* DEL (0x7F) is written as \u007f: legal JSON either way, but a log line is read on
     * terminals. */
    MB_TEXT_ESC_DEL = 1 << 1,
};

/* A redaction hook: asked at offset `at` of `in` (the whole input, so it can look behind), where
 * in.ptr[at] is one of the escaper's hook bytes. Returns the number of input bytes to replace
 * (0: no match, the byte is written as usual) after writing their replacement, plain text that
 * is copied as it is, into rep[0..MB_TEXT_HOOK_REP_MAX) with its length in *rep_len. */
#define MB_TEXT_HOOK_REP_MAX 32
typedef size_t (*mb_text_escape_hook)(void *ud, mb_cur in, size_t at, char *rep, size_t *rep_len);

/* How mb_text_json_escape writes. A zeroed struct (or NULL) is the plain JSON escaper. */
typedef struct mb_text_escape {
    unsigned flags;         /* MB_TEXT_ESC_* */
    const char *hook_bytes; /* ASCII bytes at which hook is asked (NUL-terminated), or NULL */
    mb_text_escape_hook hook;
    void *ud;
    mb_cur cut_marker; /* written last when the input does not fit (room is always kept) */
} mb_text_escape;

/* Escape `in` as the contents of a JSON string (no quotes) into dst[0..cap): '"' and '\\'
 * escaped, \b \f \n \r \t in short form, other control characters as \u00XX (lower-case hex),
 * valid UTF-8 copied. Stops before the first unit (an escape, a UTF-8 sequence, a redaction)
 * that does not fit: output is never cut inside one, and then ends with opt->cut_marker.
 * Returns 0, or MB_ERR_INVALID at a byte that is not UTF-8 without MB_TEXT_ESC_REPAIR (the
 * output so far stays). *written: bytes written; *used: input bytes consumed (< in.len when
 * cut or refused). cap smaller than the cut marker writes nothing. */
int mb_text_json_escape(char *dst, size_t cap, mb_cur in, const mb_text_escape *opt,
                        size_t *written, size_t *used);

/* Append s as a quoted JSON string to out (escaped as mb_text_json_escape does with `flags`,
 * no hook, no bound). Returns 0, MB_ERR_INVALID (invalid UTF-8 without MB_TEXT_ESC_REPAIR) or
 * MB_ERR_NOMEM; on error out is as it was. */
int mb_text_json_quote(mb_buf *out, mb_cur s, unsigned flags);

/* ---- percent-decoding --------------------------------------------------------------------- */

enum {
    /* '+' decodes to a space (application/x-www-form-urlencoded: query strings, not paths). */
    MB_TEXT_PCT_PLUS_SPACE = 1 << 0,
    /* A '%' not followed by two hex digits fails the call (MB_ERR_INVALID). Without it, it is
     * kept as it is (what API Gateway does with "%zz" in a query). */
    MB_TEXT_PCT_STRICT = 1 << 1,
};

/* Percent-decode src into out, which has room for src.len bytes (decoded text is never longer).
 * Every %XY becomes its byte, %00 included: the caller decides what a decoded byte may be.
 * Returns 0 and sets *len, or MB_ERR_INVALID (MB_TEXT_PCT_STRICT only). SigV4's canonical URI
 * encoding is the reverse operation and stays in sigv4. */
int mb_text_pct_decode(mb_cur src, unsigned flags, char *out, size_t *len);
/* The same, appended to out (kept NUL-terminated). Returns 0, MB_ERR_INVALID, or MB_ERR_NOMEM;
 * on error out->len is unchanged. */
int mb_text_pct_decode_buf(mb_buf *out, mb_cur src, unsigned flags);

#endif
