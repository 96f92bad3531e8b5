/* text.c - UTF-8, JSON string scanning, escaping and unescaping, percent-decoding (see
 * moonbase/text.h). Everything writes into caller buffers; nothing here allocates but the
 * mb_buf appenders, through mb_buf_reserve. */
#include "moonbase/text.h"

#include "moonbase/err.h"

/* ---- UTF-8 -------------------------------------------------------------------------------- */

size_t mb_text_utf8_seq(const unsigned char *p, size_t n) {
    unsigned c = p[0];
    if (c < 0x80) {
        return 1;
    }
    size_t len;
    unsigned lo = 0x80, hi = 0xBF; /* the range of the second byte, narrowed by the first */
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80; /* E0 80..9F would be overlong */
        hi = c == 0xED ? 0x9F : 0xBF; /* ED A0..BF would be a surrogate */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        lo = c == 0xF0 ? 0x90 : 0x80; /* F0 80..8F would be overlong */
        hi = c == 0xF4 ? 0x8F : 0xBF; /* F4 90.. would be past U+10FFFF */
    } else {
        return 0; /* a continuation byte, C0/C1 (always overlong) or F5..FF */
    }
    if (n < len || p[1] < lo || p[1] > hi) {
        return 0;
    }
    for (size_t i = 2; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            return 0;
        }
    }
    return len;
}

/* Index of the first non-ASCII byte of p[0..n), or n: the common case of valid text. */
static size_t s_ascii_prefix(const unsigned char *p, size_t n) {
    const uint64_t highs = 0x8080808080808080ULL;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        if (mb_text_load8(p + i) & highs) {
            break;
        }
    }
    while (i < n && p[i] < 0x80) {
        i++;
    }
    return i;
}

bool mb_text_utf8_valid(mb_cur s) {
    const unsigned char *p = (const unsigned char *)s.ptr;
    size_t i = 0;
    while (i < s.len) {
        i += s_ascii_prefix(p + i, s.len - i);
        if (i == s.len) {
            break;
        }
        size_t k = mb_text_utf8_seq(p + i, s.len - i);
        if (k == 0) {
            return false;
        }
        i += k;
    }
    return true;
}

size_t mb_text_utf8_encode(uint32_t cp, char *o) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 63));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 63));
        o[2] = (char)(0x80 | (cp & 63));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 63));
    o[2] = (char)(0x80 | ((cp >> 6) & 63));
    o[3] = (char)(0x80 | (cp & 63));
    return 4;
}

/* ---- JSON strings: reading ---------------------------------------------------------------- */

/* The 4 hex digits at p as a code unit, or -1. */
static long s_hex4(const char *p) {
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int d = mb_text_hex_digit((unsigned char)p[i]);
        if (d < 0) {
            return -1;
        }
        v = v * 16 + d;
    }
    return v;
}

size_t mb_text_json_escape_read(const char *p, size_t n, uint32_t *cp) {
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    if (n < 2) {
        return 0;
    }
    const char *k = p[1] != '\0' ? memchr(from, p[1], sizeof from - 1) : NULL;
    if (k) {
        *cp = (unsigned char)to[k - from];
        return 2;
    }
    if (p[1] != 'u' || n < 6) {
        return 0;
    }
    long hi = s_hex4(p + 2);
    if (hi < 0 || (hi >= 0xDC00 && hi <= 0xDFFF)) {
        return 0; /* bad digits, or a low surrogate with no high one before it */
    }
    if (hi < 0xD800 || hi > 0xDBFF) {
        *cp = (uint32_t)hi;
        return 6;
    }
    if (n < 12 || p[6] != '\\' || p[7] != 'u') {
        return 0; /* a high surrogate must be followed by its low half */
    }
    long lo = s_hex4(p + 8);
    if (lo < 0xDC00 || lo > 0xDFFF) {
        return 0;
    }
    *cp = 0x10000 + (((uint32_t)hi - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
    return 12;
}

static int s_scan_fail(size_t at, size_t *len, const char **why, const char *what) {
    *len = at;
    if (why) {
        *why = what;
    }
    return MB_ERR_INVALID;
}

int mb_text_json_scan_string(const char *s, size_t n, size_t *len, bool *escaped,
                             const char **why) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    *escaped = false;
    for (;;) {
        i += mb_text_json_plain_prefix(p + i, n - i);
        if (i == n) {
            return s_scan_fail(i, len, why, "unterminated string");
        }
        unsigned char c = p[i];
        if (c == '"') {
            *len = i;
            return 0;
        }
        size_t k;
        uint32_t cp;
        if (c >= 0x80) {
            k = mb_text_utf8_seq(p + i, n - i);
            if (k == 0) {
                return s_scan_fail(i, len, why, "invalid UTF-8");
            }
        } else if (c == '\\') {
            k = mb_text_json_escape_read(s + i, n - i, &cp);
            if (k == 0) {
                return s_scan_fail(i, len, why, "bad escape");
            }
            *escaped = true;
        } else {
            return s_scan_fail(i, len, why, "control character in a string");
        }
        i += k;
    }
}

static size_t s_digits(const char *p, size_t n, size_t i) {
    while (i < n && p[i] >= '0' && p[i] <= '9') {
        i++;
    }
    return i;
}

int mb_text_json_number_scan(const char *p, size_t n, size_t *len, bool *is_int, const char **why) {
    size_t i = n > 0 && p[0] == '-' ? 1 : 0, d = s_digits(p, n, i);
    *is_int = true;
    if (d == i) {
        return s_scan_fail(i, len, why, "bad number");
    }
    if (p[i] == '0' && d > i + 1) {
        return s_scan_fail(i + 1, len, why, "leading zero in number");
    }
    i = d;
    if (i < n && p[i] == '.') {
        *is_int = false;
        d = s_digits(p, n, ++i);
        if (d == i) {
            return s_scan_fail(i, len, why, "bad fraction");
        }
        i = d;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        *is_int = false;
        i++;
        i += i < n && (p[i] == '+' || p[i] == '-');
        d = s_digits(p, n, i);
        if (d == i) {
            return s_scan_fail(i, len, why, "bad exponent");
        }
        i = d;
    }
    *len = i;
    return 0;
}

int mb_text_json_unescape(mb_cur raw, char *out, size_t cap, size_t *len) {
    const char *r = raw.ptr, *end = raw.ptr + raw.len;
    size_t n = 0;
    while (r < end) {
        const char *bs = memchr(r, '\\', (size_t)(end - r));
        size_t run = (size_t)((bs ? bs : end) - r);
        if (run > cap - n) {
            return MB_ERR_LIMIT;
        }
        memcpy(out + n, r, run);
        n += run;
        r += run;
        if (!bs) {
            break;
        }
        uint32_t cp;
        size_t used = mb_text_json_escape_read(r, (size_t)(end - r), &cp);
        if (used == 0) {
            return MB_ERR_INVALID;
        }
        char tmp[4];
        size_t w = mb_text_utf8_encode(cp, tmp);
        if (w > cap - n) {
            return MB_ERR_LIMIT;
        }
        memcpy(out + n, tmp, w);
        n += w;
        r += used;
    }
    *len = n;
    return 0;
}

/* ---- JSON strings: writing ---------------------------------------------------------------- */

static const char s_replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* Write the JSON escape of ASCII byte c at o (room for 6 bytes); returns its length. */
static size_t s_escape_byte(char *o, unsigned char c) {
    static const char digits[] = "0123456789abcdef";
    static const char short_form[] = "\"\\\b\f\n\r\t", letter[] = "\"\\bfnrt";
    const char *k = c ? memchr(short_form, c, sizeof short_form - 1) : NULL;
    o[0] = '\\';
    if (k) {
        o[1] = letter[k - short_form];
        return 2;
    }
    memcpy(o + 1, "u00", 3);
    o[4] = digits[c >> 4];
    o[5] = digits[c & 15];
    return 6;
}

/* Which ASCII bytes a JSON string holds verbatim: printable ones but '"' and '\\' (DEL too). */
#define S_ROW_CTL 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
#define S_ROW_ALL 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1
static const unsigned char s_json_plain[128] = {
    S_ROW_CTL, S_ROW_CTL,                                           /* 0x00-0x1F */
    1,         1,         0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x20-0x2F: '"' */
    S_ROW_ALL, S_ROW_ALL,                                           /* 0x30-0x4F */
    1,         1,         1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 0x50-0x5F: '\\' */
    S_ROW_ALL, S_ROW_ALL,                                           /* 0x60-0x7F */
};

/* The escaper's plain ASCII bytes for one call: JSON's, less the hook bytes and DEL when asked
 * (a table: the stops are common letters, the redaction hook's 'e' of "eyJ", so runs are short
 * and a byte loop with one lookup beats a wide scan that restarts at each stop). n counts the
 * stops; 0: the plain JSON scan serves. */
typedef struct s_stops {
    unsigned char plain[128];
    int n;
} s_stops;

static void s_stops_init(s_stops *st, const mb_text_escape *opt) {
    st->n = 0;
    const char *h = opt->hook ? opt->hook_bytes : NULL;
    if (!(h && *h) && !(opt->flags & MB_TEXT_ESC_DEL)) {
        return;
    }
    memcpy(st->plain, s_json_plain, sizeof st->plain);
    for (; h && *h; h++) {
        unsigned char c = (unsigned char)*h;
        if (c < 0x80) {
            st->plain[c] = 0;
            st->n++;
        }
    }
    if (opt->flags & MB_TEXT_ESC_DEL) {
        st->plain[0x7F] = 0;
        st->n++;
    }
}

/* An ASCII byte that JSON would copy but this call stops at (a hook byte or DEL). */
static inline bool s_is_stop(const s_stops *st, unsigned char c) {
    return st->n > 0 && c < 0x80 && s_json_plain[c] && !st->plain[c];
}

/* Length of the run at p[0..n) that is copied verbatim. */
static size_t s_plain_run(const unsigned char *p, size_t n, const s_stops *st) {
    if (st->n == 0) {
        return mb_text_json_plain_prefix(p, n);
    }
    size_t i = 0;
    while (i < n && p[i] < 0x80 && st->plain[p[i]]) {
        i++;
    }
    return i;
}

/* The output of the unit at in.ptr[i] (not plain): a redaction, a UTF-8 sequence, U+FFFD, an
 * escape or a hook byte that did not match. Sets *piece (tmp or the input itself), *used (input
 * bytes); returns the output length, or 0 for a byte that is not UTF-8 (no repair). */
static size_t s_unit(mb_cur in, size_t i, const mb_text_escape *opt, const s_stops *st, char *tmp,
                     const char **piece, size_t *used) {
    const unsigned char *s = (const unsigned char *)in.ptr;
    unsigned char c = s[i];
    *piece = tmp;
    *used = 1;
    if (s_is_stop(st, c) && c != 0x7F) {
        size_t rep_len = 0, m = opt->hook(opt->ud, in, i, tmp, &rep_len);
        if (m > 0) {
            *used = m;
            return rep_len;
        }
        tmp[0] = (char)c; /* a hook byte that starts nothing */
        return 1;
    }
    if (c >= 0x80) {
        size_t k = mb_text_utf8_seq(s + i, in.len - i);
        if (k == 0 && !(opt->flags & MB_TEXT_ESC_REPAIR)) {
            return 0;
        }
        *used = k ? k : 1;
        *piece = k ? in.ptr + i : s_replacement; /* U+FFFD for each byte that is not UTF-8 */
        return k ? k : sizeof s_replacement - 1;
    }
    return s_escape_byte(tmp, c);
}

int mb_text_json_escape(char *dst, size_t cap, mb_cur in, const mb_text_escape *opt,
                        size_t *written, size_t *used) {
    static const mb_text_escape plain = {0};
    opt = opt ? opt : &plain;
    const unsigned char *s = (const unsigned char *)in.ptr;
    size_t i = 0, o = 0;
    int rc = 0;
    *written = *used = 0;
    if (cap < opt->cut_marker.len) {
        return 0;
    }
    s_stops st;
    s_stops_init(&st, opt);
    size_t room = cap - opt->cut_marker.len; /* the marker always fits after the text */
    while (i < in.len) {
        size_t run = s_plain_run(s + i, in.len - i, &st);
        size_t take = run < room - o ? run : room - o;
        memcpy(dst + o, s + i, take);
        o += take;
        i += take;
        if (take < run || i == in.len) {
            break;
        }
        char tmp[MB_TEXT_HOOK_REP_MAX];
        const char *piece;
        size_t k, plen = s_unit(in, i, opt, &st, tmp, &piece, &k);
        if (plen == 0) {
            rc = MB_ERR_INVALID;
            break;
        }
        if (plen > room - o) {
            break;
        }
        memcpy(dst + o, piece, plen);
        o += plen;
        i += k;
    }
    if (i < in.len && rc == 0 && opt->cut_marker.len) {
        memcpy(dst + o, opt->cut_marker.ptr, opt->cut_marker.len);
        o += opt->cut_marker.len;
    }
    *written = o;
    *used = i;
    return rc;
}

int mb_text_json_quote(mb_buf *out, mb_cur s, unsigned flags) {
    size_t start = out->len, i = 0;
    mb_text_escape opt = {.flags = flags};
    /* Room for the common case (nothing to escape) once; a second round makes room for the
     * worst case of what is left (6 output bytes per input byte). */
    if (s.len > SIZE_MAX / 8 || mb_buf_reserve(out, s.len + 2) != 0) {
        return MB_ERR_NOMEM;
    }
    out->ptr[out->len++] = '"';
    for (;;) {
        size_t w, k, cap = out->cap - out->len - 2; /* keep the closing quote and the NUL */
        int rc = mb_text_json_escape(out->ptr + out->len, cap,
                                     (mb_cur){s.ptr ? s.ptr + i : "", s.len - i}, &opt, &w, &k);
        out->len += w;
        i += k;
        if (rc == 0 && i < s.len && mb_buf_reserve(out, (s.len - i) * 6 + 2) != 0) {
            rc = MB_ERR_NOMEM;
        }
        if (rc != 0) {
            out->len = start;
            out->ptr[start] = '\0';
            return rc;
        }
        if (i == s.len) {
            break;
        }
    }
    out->ptr[out->len++] = '"';
    out->ptr[out->len] = '\0';
    return 0;
}

/* ---- percent-decoding --------------------------------------------------------------------- */

int mb_text_pct_decode(mb_cur src, unsigned flags, char *out, size_t *len) {
    size_t o = 0;
    for (size_t i = 0; i < src.len; i++) {
        unsigned char c = (unsigned char)src.ptr[i];
        if (c == '%') {
            int hi = i + 2 < src.len ? mb_text_hex_digit((unsigned char)src.ptr[i + 1]) : -1;
            int lo = hi >= 0 ? mb_text_hex_digit((unsigned char)src.ptr[i + 2]) : -1;
            if (lo >= 0) {
                c = (unsigned char)(hi << 4 | lo);
                i += 2;
            } else if (flags & MB_TEXT_PCT_STRICT) {
                *len = o;
                return MB_ERR_INVALID;
            }
        } else if (c == '+' && (flags & MB_TEXT_PCT_PLUS_SPACE)) {
            c = ' ';
        }
        out[o++] = (char)c;
    }
    *len = o;
    return 0;
}

int mb_text_pct_decode_buf(mb_buf *out, mb_cur src, unsigned flags) {
    if (mb_buf_reserve(out, src.len) != 0) {
        return MB_ERR_NOMEM;
    }
    size_t n;
    int rc = mb_text_pct_decode(src, flags, out->ptr + out->len, &n);
    out->len += rc == 0 ? n : 0;
    out->ptr[out->len] = '\0';
    return rc;
}
