/* base64.c - strict RFC 4648 base64 and base64url (see moonbase/base64.h). */
#include "moonbase/base64.h"

#include <stdint.h>

static const char s_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char s_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Encode into o (room for (len + 2) / 3 * 4 bytes); returns the number of bytes written. */
static size_t s_encode_raw(mb_cur in, const char *alpha, bool pad, char *o) {
    const unsigned char *p = (const unsigned char *)in.ptr;
    char *start = o;
    size_t i = 0;
    for (; i + 3 <= in.len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = alpha[v >> 18];
        *o++ = alpha[(v >> 12) & 63];
        *o++ = alpha[(v >> 6) & 63];
        *o++ = alpha[v & 63];
    }
    size_t rest = in.len - i;
    if (rest) {
        uint32_t v = (uint32_t)p[i] << 16 | (rest == 2 ? (uint32_t)p[i + 1] << 8 : 0);
        *o++ = alpha[v >> 18];
        *o++ = alpha[(v >> 12) & 63];
        if (rest == 2) {
            *o++ = alpha[(v >> 6) & 63];
        } else if (pad) {
            *o++ = '=';
        }
        if (pad) {
            *o++ = '=';
        }
    }
    return (size_t)(o - start);
}

static int s_encode(mb_buf *out, mb_cur in, const char *alpha, bool pad) {
    if (in.len > (SIZE_MAX / 4) * 3 - 3 || mb_buf_reserve(out, (in.len + 2) / 3 * 4) != 0) {
        return MB_ERR_NOMEM;
    }
    out->len += s_encode_raw(in, alpha, pad, out->ptr + out->len);
    out->ptr[out->len] = '\0';
    return 0;
}

size_t mb_base64url_encode_to(mb_cur in, char *out) {
    size_t n = s_encode_raw(in, s_url, false, out);
    out[n] = '\0';
    return n;
}

int mb_base64_encode(mb_buf *out, mb_cur in) {
    return s_encode(out, in, s_std, true);
}

int mb_base64url_encode(mb_buf *out, mb_cur in) {
    return s_encode(out, in, s_url, false);
}

/* Decoding maps, 64 = not in the alphabet. The URL-safe map refuses '+', '/' and '=', the
 * standard one '-' and '_'. */
#define X64 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64
#define LETTERS                                                                                    \
    /* 0x40 */ 64, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, /* 0x50 */ 15, 16, 17, 18,    \
        19, 20, 21, 22, 23, 24, 25, 64, 64, 64, 64,
#define LOWER                                                                                      \
    /* 0x60 */ 64, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, /* 0x70 */ 41, 42,  \
        43, 44, 45, 46, 47, 48, 49, 50, 51, 64, 64, 64, 64, 64
#define DIGITS /* 0x30 */ 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 64, 64, 64, 64, 64, 64
static const unsigned char s_map_url[256] = {
    X64, X64, /* 0x20 */ 64, 64,         64,    64,  64,  64,  64,  64,  64,  64,  64,  64, 64, 62,
    64,  64,  DIGITS,        LETTERS 63, LOWER, X64, X64, X64, X64, X64, X64, X64, X64,
};
static const unsigned char s_map_std[256] = {
    X64, X64, /* 0x20 */ 64, 64,         64,    64,  64,  64,  64,  64,  64,  64,  64,  62, 64, 64,
    64,  63,  DIGITS,        LETTERS 64, LOWER, X64, X64, X64, X64, X64, X64, X64, X64,
};
#undef X64
#undef LETTERS
#undef LOWER
#undef DIGITS

/* Decode unpadded text with `map` into out. Unused trailing bits must be zero, so every byte
 * string has exactly one accepted encoding (no malleable tokens or cursors). */
static int s_decode_raw(mb_cur in, const unsigned char *map, unsigned char *out, size_t cap,
                        size_t *len) {
    const unsigned char *p = (const unsigned char *)in.ptr;
    size_t n = in.len, rem = n % 4, full = n - rem, o = 0;
    if (rem == 1) {
        return MB_ERR_INVALID;
    }
    if (cap < (n / 4) * 3 + (rem ? rem - 1 : 0)) {
        return MB_ERR_LIMIT;
    }
    for (size_t i = 0; i < full; i += 4) {
        unsigned a = map[p[i]], b = map[p[i + 1]], c = map[p[i + 2]], d = map[p[i + 3]];
        if ((a | b | c | d) & 64) {
            return MB_ERR_INVALID;
        }
        unsigned v = (a << 18) | (b << 12) | (c << 6) | d;
        out[o++] = (unsigned char)(v >> 16);
        out[o++] = (unsigned char)(v >> 8);
        out[o++] = (unsigned char)v;
    }
    if (rem >= 2) {
        unsigned a = map[p[full]], b = map[p[full + 1]], c = rem == 3 ? map[p[full + 2]] : 0;
        if (((a | b | c) & 64) || (rem == 2 && (b & 0x0F)) || (rem == 3 && (c & 0x03))) {
            return MB_ERR_INVALID;
        }
        unsigned v = (a << 18) | (b << 12) | (c << 6);
        out[o++] = (unsigned char)(v >> 16);
        if (rem == 3) {
            out[o++] = (unsigned char)(v >> 8);
        }
    }
    *len = o;
    return 0;
}

int mb_base64url_decode_to(mb_cur in, unsigned char *out, size_t cap, size_t *len) {
    return s_decode_raw(in, s_map_url, out, cap, len);
}

/* Standard base64 must be padded to a multiple of 4; at most two '=' and only at the end. What
 * they pad is then checked like unpadded text. False when the length or padding is wrong. */
static bool s_strip_padding(mb_cur *in) {
    if (in->len % 4 != 0) {
        return false;
    }
    for (int k = 0; k < 2 && in->len && in->ptr[in->len - 1] == '='; k++) {
        in->len--;
    }
    return true;
}

int mb_base64_decode_to(mb_cur in, unsigned char *out, size_t cap, size_t *len) {
    if (!s_strip_padding(&in)) {
        return MB_ERR_INVALID;
    }
    return s_decode_raw(in, s_map_std, out, cap, len);
}

static int s_decode(mb_buf *out, mb_cur in, bool url, mb_err *err) {
    if (!url && !s_strip_padding(&in)) {
        return mb_err_set(err, MB_ERR_INVALID, "base64 length is not a multiple of 4");
    }
    size_t n = 0;
    if (mb_buf_reserve(out, MB_BASE64_DECODED_MAX(in.len)) != 0) {
        return mb_err_set(err, MB_ERR_NOMEM, "out of memory");
    }
    int rc = s_decode_raw(in, url ? s_map_url : s_map_std, (unsigned char *)out->ptr + out->len,
                          out->cap - out->len - 1, &n);
    if (rc != 0) {
        out->ptr[out->len] = '\0'; /* contents unchanged: only bytes past len were written */
        return mb_err_set(err, MB_ERR_INVALID, "invalid %s", url ? "base64url" : "base64");
    }
    out->len += n;
    out->ptr[out->len] = '\0';
    return 0;
}

int mb_base64_decode(mb_buf *out, mb_cur in, mb_err *err) {
    return s_decode(out, in, false, err);
}

int mb_base64url_decode(mb_buf *out, mb_cur in, mb_err *err) {
    return s_decode(out, in, true, err);
}
