/* base64.c - strict RFC 4648 base64 and base64url (see moonbase/base64.h). */
#include "moonbase/base64.h"

#include <stdint.h>

static const char s_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char s_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int s_encode(mb_buf *out, mb_cur in, const char *alpha, bool pad) {
    if (in.len > (SIZE_MAX / 4) * 3 - 3 || mb_buf_reserve(out, (in.len + 2) / 3 * 4) != 0) {
        return MB_ERR_NOMEM;
    }
    const unsigned char *p = (const unsigned char *)in.ptr;
    char *o = out->ptr + out->len;
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
    out->len = (size_t)(o - out->ptr);
    out->ptr[out->len] = '\0';
    return 0;
}

int mb_base64_encode(mb_buf *out, mb_cur in) {
    return s_encode(out, in, s_std, true);
}

int mb_base64url_encode(mb_buf *out, mb_cur in) {
    return s_encode(out, in, s_url, false);
}

static int s_val(unsigned char c, bool url) {
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == (url ? '-' : '+')) {
        return 62;
    }
    if (c == (url ? '_' : '/')) {
        return 63;
    }
    return -1;
}

static int s_decode(mb_buf *out, mb_cur in, bool url, mb_err *err) {
    size_t n = in.len;
    if (!url) {
        if (n % 4 != 0) {
            return mb_err_set(err, MB_ERR_INVALID, "base64 length is not a multiple of 4");
        }
        while (n && in.ptr[n - 1] == '=' && in.len - n < 2) {
            n--; /* at most two padding characters */
        }
    }
    if (n % 4 == 1) {
        return mb_err_set(err, MB_ERR_INVALID, "truncated base64");
    }
    size_t mark = out->len;
    if (mb_buf_reserve(out, n / 4 * 3 + 3) != 0) {
        return mb_err_set(err, MB_ERR_NOMEM, "out of memory");
    }
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = s_val((unsigned char)in.ptr[i], url);
        if (v < 0) {
            out->len = mark;
            out->ptr[mark] = '\0';
            return mb_err_set(err, MB_ERR_INVALID, "invalid base64 character at %zu", i);
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out->ptr[out->len++] = (char)((acc >> bits) & 0xFF);
        }
    }
    if (bits && (acc & ((1u << bits) - 1)) != 0) {
        out->len = mark;
        out->ptr[mark] = '\0';
        return mb_err_set(err, MB_ERR_INVALID, "non-canonical base64 (trailing bits)");
    }
    out->ptr[out->len] = '\0';
    return 0;
}

int mb_base64_decode(mb_buf *out, mb_cur in, mb_err *err) {
    return s_decode(out, in, false, err);
}

int mb_base64url_decode(mb_buf *out, mb_cur in, mb_err *err) {
    return s_decode(out, in, true, err);
}
