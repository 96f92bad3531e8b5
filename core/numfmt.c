/* numfmt.c - integers and doubles as JSON numbers (see moonbase/numfmt.h). */
#include "moonbase/numfmt.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Digits of u, right-aligned ending at end; returns the start. */
static char *s_digits(char *end, uint64_t u) {
    do {
        *--end = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    return end;
}

static size_t s_emit(char *out, const char *from, const char *end) {
    size_t n = (size_t)(end - from);
    memmove(out, from, n);
    return n;
}

size_t mb_numfmt_int(char *out, int64_t v) {
    char tmp[24];
    char *end = tmp + sizeof tmp;
    char *p = s_digits(end, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
    if (v < 0) {
        *--p = '-';
    }
    return s_emit(out, p, end);
}

/* Values with at most 3 decimals skip snprintf + strtod: k / 1000.0 is correctly rounded, so
 * when it equals v the exact decimal k/1000 reads back as v. */
static size_t s_milli(char *out, double v) {
    if (!(fabs(v) < 1e12)) {
        return 0;
    }
    double scaled = v * 1000.0;
    int64_t k = (int64_t)(scaled < 0 ? scaled - 0.5 : scaled + 0.5);
    if ((double)k / 1000.0 != v) {
        return 0;
    }
    uint64_t u = k < 0 ? (uint64_t)0 - (uint64_t)k : (uint64_t)k;
    char tmp[32];
    char *end = tmp + sizeof tmp, *p = end;
    unsigned frac = (unsigned)(u % 1000);
    int digits = 3;
    while (digits > 0 && frac % 10 == 0) {
        frac /= 10;
        digits--;
    }
    for (int d = 0; d < digits; d++) {
        *--p = (char)('0' + frac % 10);
        frac /= 10;
    }
    if (digits > 0) {
        *--p = '.';
    }
    p = s_digits(p, u / 1000);
    if (k < 0) {
        *--p = '-';
    }
    return s_emit(out, p, end);
}

size_t mb_numfmt_double(char *out, double v) {
    if (!isfinite(v)) {
        return 0;
    }
    if (v == 0 && signbit(v)) {
        memcpy(out, "-0", 2); /* keep the sign: -0.0 is a distinct double and valid JSON */
        return 2;
    }
    if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        return mb_numfmt_int(out, (int64_t)v);
    }
    size_t n = s_milli(out, v);
    if (n) {
        return n;
    }
    int w = snprintf(out, MB_NUMFMT_MAX, "%.15g", v);
    if (w > 0 && strtod(out, NULL) != v) {
        w = snprintf(out, MB_NUMFMT_MAX, "%.17g", v);
    }
    return w > 0 ? (size_t)w : 0;
}
