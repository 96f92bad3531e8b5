/* moonbase/buf.h - length-delimited byte strings: borrowed views and owned growable buffers.
 * Ownership: an mb_cur borrows bytes it never frees; an mb_buf owns its heap block, which
 * mb_buf_cleanup() releases. Request data may hold NUL bytes, so nothing here relies on NUL
 * termination, although mb_buf keeps one after len as a convenience for C APIs (ptr[len] == 0). */
#ifndef MOONBASE_BUF_H
#define MOONBASE_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* A borrowed view: {ptr, len}. ptr may be NULL when len is 0. */
typedef struct mb_cur {
    const char *ptr;
    size_t len;
} mb_cur;

/* An owned buffer: {ptr, len, cap}. A zeroed struct is a valid empty buffer. */
typedef struct mb_buf {
    char *ptr;
    size_t len;
    size_t cap;
} mb_buf;

#define MB_CUR_LIT(s) ((mb_cur){(s), sizeof(s) - 1})

/* A view of a NUL-terminated C string (configuration and literals only, not request data). */
mb_cur mb_cur_from_cstr(const char *s);
bool mb_cur_eq(mb_cur a, mb_cur b);
/* ASCII case-insensitive comparison (header names, auth schemes). */
bool mb_cur_eq_icase(mb_cur a, mb_cur b);
bool mb_cur_starts_with(mb_cur a, mb_cur prefix);
/* c without leading and trailing spaces and tabs (HTTP's optional white space, RFC 9110 5.6.3). */
mb_cur mb_cur_trim(mb_cur c);
/* A NUL-terminated heap copy of c's bytes, which the caller frees with free(). c may hold NUL
 * bytes (the copy then reads shorter as a C string). Returns NULL when allocation fails. */
char *mb_cur_dup(mb_cur c);

/* Make room for at least `extra` more bytes (+1 for the trailing NUL). Returns 0, or -1 when
 * the allocation fails or the size would overflow; the buffer is unchanged on failure. */
int mb_buf_reserve(mb_buf *b, size_t extra);
/* Append bytes; returns 0 or -1 (out of memory), leaving the buffer unchanged on failure. */
int mb_buf_append(mb_buf *b, const void *data, size_t len);
int mb_buf_append_cur(mb_buf *b, mb_cur c);
int mb_buf_append_cstr(mb_buf *b, const char *s);
int mb_buf_append_byte(mb_buf *b, char c);
/* printf-style append; returns 0 or -1 (out of memory or encoding error). */
int mb_buf_appendf(mb_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int mb_buf_vappendf(mb_buf *b, const char *fmt, va_list ap);
/* Forget the contents, keep the capacity. */
void mb_buf_reset(mb_buf *b);
/* A view of the buffer's current contents, valid until the next write. */
mb_cur mb_buf_cur(const mb_buf *b);
/* Hand the heap block to the caller (who frees it with free()); the buffer becomes empty. */
char *mb_buf_detach(mb_buf *b, size_t *len_out);
/* Release the heap block. Accepts NULL; leaves *b empty and reusable. */
void mb_buf_cleanup(mb_buf *b);

#endif
