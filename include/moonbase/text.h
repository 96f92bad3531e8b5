/* moonbase/text.h - the text kernel shared by every module that reads or writes text by hand:
 * hex digits (percent-escapes in paths and queries, \u escapes in JSON scanners, SigV4's hex
 * digests). Small and hot, so the functions are static inline: no call on the JWT or SigV4 path.
 * Ownership: none (pure functions on caller-owned bytes). Thread-safe. */
#ifndef MOONBASE_TEXT_H
#define MOONBASE_TEXT_H

#include <stddef.h>

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

#endif
