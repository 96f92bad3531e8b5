/* buf.c - length-delimited byte strings (see moonbase/buf.h). */
#include "moonbase/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Buffers start at 256 bytes and double: most request-path strings (headers, keys, log lines)
 * fit the first block, and doubling keeps appends amortised O(1) for large bodies. */
#define BUF_MIN_CAP 256

mb_cur mb_cur_from_cstr(const char *s) {
    return (mb_cur){s, s ? strlen(s) : 0};
}

bool mb_cur_eq(mb_cur a, mb_cur b) {
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static int s_lower(int c) {
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

bool mb_cur_eq_icase(mb_cur a, mb_cur b) {
    if (a.len != b.len) {
        return false;
    }
    for (size_t i = 0; i < a.len; i++) {
        if (s_lower((unsigned char)a.ptr[i]) != s_lower((unsigned char)b.ptr[i])) {
            return false;
        }
    }
    return true;
}

bool mb_cur_starts_with(mb_cur a, mb_cur prefix) {
    return a.len >= prefix.len && (prefix.len == 0 || memcmp(a.ptr, prefix.ptr, prefix.len) == 0);
}

mb_cur mb_cur_trim(mb_cur c) {
    while (c.len > 0 && (c.ptr[0] == ' ' || c.ptr[0] == '\t')) {
        c.ptr++;
        c.len--;
    }
    while (c.len > 0 && (c.ptr[c.len - 1] == ' ' || c.ptr[c.len - 1] == '\t')) {
        c.len--;
    }
    return c;
}

char *mb_cur_dup(mb_cur c) {
    char *p = c.len < SIZE_MAX ? malloc(c.len + 1) : NULL;
    if (p) {
        if (c.len) {
            memcpy(p, c.ptr, c.len);
        }
        p[c.len] = '\0';
    }
    return p;
}

int mb_buf_reserve(mb_buf *b, size_t extra) {
    if (extra > SIZE_MAX - b->len - 1) {
        return -1;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap) {
        return 0;
    }
    size_t cap = b->cap ? b->cap : BUF_MIN_CAP;
    while (cap < need) {
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    }
    char *p = realloc(b->ptr, cap);
    if (!p) {
        return -1;
    }
    b->ptr = p;
    b->cap = cap;
    return 0;
}

int mb_buf_append(mb_buf *b, const void *data, size_t len) {
    if (mb_buf_reserve(b, len) != 0) {
        return -1;
    }
    if (len) {
        memcpy(b->ptr + b->len, data, len);
    }
    b->len += len;
    b->ptr[b->len] = '\0';
    return 0;
}

int mb_buf_append_cur(mb_buf *b, mb_cur c) {
    return mb_buf_append(b, c.ptr, c.len);
}

int mb_buf_append_cstr(mb_buf *b, const char *s) {
    return mb_buf_append(b, s, strlen(s));
}

int mb_buf_append_byte(mb_buf *b, char c) {
    return mb_buf_append(b, &c, 1);
}

int mb_buf_vappendf(mb_buf *b, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        return -1;
    }
    if ((size_t)n < sizeof small) {
        return mb_buf_append(b, small, (size_t)n);
    }
    if (mb_buf_reserve(b, (size_t)n) != 0) {
        return -1;
    }
    vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int mb_buf_appendf(mb_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = mb_buf_vappendf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void mb_buf_reset(mb_buf *b) {
    b->len = 0;
    if (b->ptr) {
        b->ptr[0] = '\0';
    }
}

mb_cur mb_buf_cur(const mb_buf *b) {
    return (mb_cur){b->ptr, b->len};
}

char *mb_buf_detach(mb_buf *b, size_t *len_out) {
    char *p = b->ptr;
    if (len_out) {
        *len_out = b->len;
    }
    *b = (mb_buf){0};
    return p;
}

void mb_buf_cleanup(mb_buf *b) {
    if (!b) {
        return;
    }
    free(b->ptr);
    *b = (mb_buf){0};
}
