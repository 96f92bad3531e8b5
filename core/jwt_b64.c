/* jwt_b64.c - strict base64url decoding for JOSE. */
#include "jwt_b64.h"

#include "moonbase/err.h"

/* 64 = not in the alphabet. Built for the URL-safe alphabet only: '+', '/' and '=' are foreign. */
static const unsigned char s_map[256] = {
#define X64 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64
    X64,           X64,
    /* 0x20 */ 64, 64,  64,  64,  64,  64,  64,  64,  64, 64, 64, 64, 64, 62, 64, 64,
    /* 0x30 */ 52, 53,  54,  55,  56,  57,  58,  59,  60, 61, 64, 64, 64, 64, 64, 64,
    /* 0x40 */ 64, 0,   1,   2,   3,   4,   5,   6,   7,  8,  9,  10, 11, 12, 13, 14,
    /* 0x50 */ 15, 16,  17,  18,  19,  20,  21,  22,  23, 24, 25, 64, 64, 64, 64, 63,
    /* 0x60 */ 64, 26,  27,  28,  29,  30,  31,  32,  33, 34, 35, 36, 37, 38, 39, 40,
    /* 0x70 */ 41, 42,  43,  44,  45,  46,  47,  48,  49, 50, 51, 64, 64, 64, 64, 64,
    X64,           X64, X64, X64, X64, X64, X64, X64,
#undef X64
};

int mb_jwt_b64_decode(mb_cur in, unsigned char *out, size_t cap, size_t *len) {
    const unsigned char *p = (const unsigned char *)in.ptr;
    size_t n = in.len, rem = n % 4, o = 0;
    if (rem == 1) {
        return MB_ERR_INVALID;
    }
    if (cap < (n / 4) * 3 + (rem ? rem - 1 : 0)) {
        return MB_ERR_LIMIT;
    }
    size_t full = n - rem;
    for (size_t i = 0; i < full; i += 4) {
        unsigned a = s_map[p[i]], b = s_map[p[i + 1]], c = s_map[p[i + 2]], d = s_map[p[i + 3]];
        if ((a | b | c | d) & 64) {
            return MB_ERR_INVALID;
        }
        unsigned v = (a << 18) | (b << 12) | (c << 6) | d;
        out[o++] = (unsigned char)(v >> 16);
        out[o++] = (unsigned char)(v >> 8);
        out[o++] = (unsigned char)v;
    }
    if (rem >= 2) {
        unsigned a = s_map[p[full]], b = s_map[p[full + 1]];
        unsigned c = rem == 3 ? s_map[p[full + 2]] : 0;
        if ((a | b | c) & 64) {
            return MB_ERR_INVALID;
        }
        /* Unused bits must be zero: otherwise several encodings map to one byte string. */
        if ((rem == 2 && (b & 0x0F) != 0) || (rem == 3 && (c & 0x03) != 0)) {
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
