/* ddb_marshal_priv.h (private to core/) - what the parts of ddb_marshal share. The module is
 * split along its seams, each file one thing a newcomer can name:
 *   ddb_marshal_set.c      the set type (constructor, metatable) and what a set member sends
 *   ddb_marshal_write.c    Lua values -> AttributeValue JSON (mb_ddb_marshal_value, _item)
 *   ddb_marshal_read.c     AttributeValue JSON -> Lua values (mb_ddb_marshal_unmarshal_value,
 *                          _item): the reader's scanning and the AttributeValue grammar
 *   ddb_marshal_names.c    the cache of attribute-name strings the reader pushes
 *   ddb_marshal_request.c  the request and response envelopes: plain JSON whose item-valued
 *                          fields (Key, Item, Items...) go through the writer and the reader
 * Numbers (canonical text, decimals) and binary values are ddb_value's. JSON string scanning,
 * escaping and UTF-8 are the text kernel's (moonbase/text.h).
 * The writer's append helpers and the reader's scanning helpers are static inline here: they
 * are the hot path of every attribute, and stay calls-free in every part.
 * Ownership: as moonbase/ddb_marshal.h; a writer or reader lives for one call, on the stack. */
#ifndef MOONBASE_DDB_MARSHAL_PRIV_H
#define MOONBASE_DDB_MARSHAL_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <lua.h>

#include "moonbase/ddb_marshal.h"
#include "moonbase/text.h"

#define MB_DDB_MARSHAL_NOMEM(err) mb_err_set((err), MB_ERR_NOMEM, "ddb: out of memory")

/* ---- the writer (ddb_marshal_write.c) ---- */

/* Marshalling state for one call. mts holds the addresses of the set, binary, array and number
 * metatables (lua_topointer), looked up in the registry the first time a value with a
 * metatable comes along, so that classifying a value compares addresses: most items have no
 * metatable at all, and the lookups by name cost more than marshalling a short item.
 * The registry keeps the metatables alive, so their addresses stay theirs for the call. */
enum {
    MB_DDB_MARSHAL_MT_SET,
    MB_DDB_MARSHAL_MT_BINARY,
    MB_DDB_MARSHAL_MT_ARRAY,
    MB_DDB_MARSHAL_MT_NUMBER,
    MB_DDB_MARSHAL_MT_COUNT
};
enum mb_ddb_marshal_kind { MB_DDB_MARSHAL_MAP, MB_DDB_MARSHAL_LIST, MB_DDB_MARSHAL_SET };

typedef struct mb_ddb_marshal_writer {
    lua_State *L;
    mb_buf *out;
    mb_err *err;
    bool have_mts;
    const void *mts[MB_DDB_MARSHAL_MT_COUNT];
} mb_ddb_marshal_writer;

/* Levels of M/L an attribute value may hold: DynamoDB counts the item as the first level. */
#define MB_DDB_MARSHAL_MAX_NEST (MB_DDB_MAX_DEPTH - 1)

/* Stack room each container level makes for itself and for what a leaf pushes meanwhile (a
 * map's key and value, a set's type and member, a binary's bytes, 'next' keys). */
#define MB_DDB_MARSHAL_LEVEL_SLOTS 8

/* Start a call: the writer over out, and stack room for the first level. Returns 0 or
 * MB_ERR_NOMEM (Lua stack exhausted). */
int mb_ddb_marshal_writer_start(mb_ddb_marshal_writer *w, lua_State *L, mb_buf *out, mb_err *err);
/* End a call: the trailing NUL the fast paths leave out (see below); returns rc. */
int mb_ddb_marshal_finish(mb_buf *out, int rc);
/* Append s as a quoted JSON string; invalid UTF-8 is an error (MB_ERR_INVALID). */
int mb_ddb_marshal_quote(mb_ddb_marshal_writer *w, mb_cur s);
/* pre, s as a JSON string, post: the general case (escapes, or the buffer must grow). */
int mb_ddb_marshal_put_string_slow(mb_ddb_marshal_writer *w, const char *pre, size_t pre_len,
                                   mb_cur s, const char *post, size_t post_len);
/* The Lua number at idx as DynamoDB's canonical text. */
int mb_ddb_marshal_put_number(mb_ddb_marshal_writer *w, int idx);
/* Classify the table at idx (absolute): MB_DDB_MARSHAL_SET, _LIST (*n its length) or _MAP, or a
 * negative mb_status for keys that are neither. */
int mb_ddb_marshal_table_kind(mb_ddb_marshal_writer *w, int idx, lua_Integer *n);
/* The item (a map of attribute values) at idx. */
int mb_ddb_marshal_put_item(mb_ddb_marshal_writer *w, int idx);

/* Copy n bytes to o without a call for n <= 16 (names, tags, short values: nearly every copy
 * here), as two overlapping loads and stores that stay inside both ranges. */
static inline void mb_ddb_marshal_copy(char *o, const char *s, size_t n) {
    if (n >= 8 && n <= 16) {
        uint64_t a, b;
        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
        memcpy(o, &a, 8);
        memcpy(o + n - 8, &b, 8);
    } else if (n >= 4 && n < 8) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        memcpy(o, &a, 4);
        memcpy(o + n - 4, &b, 4);
    } else if (n > 16) {
        memcpy(o, s, n);
    } else {
        for (size_t i = 0; i < n; i++) {
            o[i] = s[i];
        }
    }
}

/* Append n bytes; the inline test is the whole cost when the buffer has room. */
static inline int mb_ddb_marshal_put(mb_ddb_marshal_writer *w, const char *s, size_t n) {
    mb_buf *out = w->out;
    if (out->cap - out->len > n) { /* room for the bytes and the trailing NUL */
        mb_ddb_marshal_copy(out->ptr + out->len, s, n);
        out->len += n;
        return 0;
    }
    return mb_buf_append(out, s, n) ? MB_DDB_MARSHAL_NOMEM(w->err) : 0;
}

#define MB_DDB_MARSHAL_LIT(w, s) mb_ddb_marshal_put((w), (s), sizeof(s) - 1)

/* Append pre, s as a JSON string, post. Inline so that pre and post are constants at each call
 * site; a string that needs no escape (nearly all) is copied after one capacity test. */
static inline int mb_ddb_marshal_put_string(mb_ddb_marshal_writer *w, const char *pre,
                                            size_t pre_len, mb_cur s, const char *post,
                                            size_t post_len) {
    mb_buf *out = w->out;
    const unsigned char *p = (const unsigned char *)s.ptr;
    if (s.len > SIZE_MAX / 4 || out->cap - out->len <= pre_len + s.len + 2 + post_len ||
        (s.len > 0 && mb_text_json_plain_prefix(p, s.len) != s.len)) {
        return mb_ddb_marshal_put_string_slow(w, pre, pre_len, s, post, post_len);
    }
    char *o = out->ptr + out->len;
    memcpy(o, pre, pre_len);
    o += pre_len;
    *o++ = '"';
    mb_ddb_marshal_copy(o, s.ptr, s.len);
    o += s.len;
    *o++ = '"';
    memcpy(o, post, post_len);
    out->len = (size_t)(o + post_len - out->ptr);
    return 0;
}

/* The string at idx (known to be a string) between two literals. */
#define MB_DDB_MARSHAL_STRING_AT(w, pre, idx, post)                                                \
    mb_ddb_marshal_put_string((w), (pre), sizeof(pre) - 1,                                         \
                              mb_ddb_marshal_string_cur((w)->L, (idx)), (post), sizeof(post) - 1)

static inline mb_cur mb_ddb_marshal_string_cur(lua_State *L, int idx) {
    size_t len;
    const char *p = lua_tolstring(L, idx, &len);
    return (mb_cur){p, len};
}

/* ---- the set type (ddb_marshal_set.c) ---- */

/* Push the set metatable, made on first use ([-0, +1, m]). */
void mb_ddb_marshal_push_set_mt(lua_State *L);
/* What a set member of kind 'S', 'N' or 'B' puts on the wire, before quoting, in *out (an NS
 * member's canonical text goes into buf[MB_DDB_NUMBER_MAX_CANONICAL]). */
int mb_ddb_marshal_member_text(lua_State *L, int idx, char kind, char *buf, mb_cur *out,
                               mb_err *err);

/* ---- the reader (ddb_marshal_read.c, names in ddb_marshal_names.c) ---- */

/* Parsing state: the unread bytes, the error, the stack slot of the array metatable (fetched
 * once per call, not once per list), and the name cache with the slot of its strings. */
typedef struct mb_ddb_marshal_names mb_ddb_marshal_names;
typedef struct mb_ddb_marshal_reader {
    const char *p, *end;
    mb_err *err;
    int array_mt, names;
    mb_ddb_marshal_names *cache;
} mb_ddb_marshal_reader;

typedef int (*mb_ddb_marshal_parse_fn)(lua_State *L, mb_ddb_marshal_reader *r, int depth);

/* MB_ERR_INVALID with "ddb: malformed response: <what>". */
int mb_ddb_marshal_bad(mb_ddb_marshal_reader *r, const char *what);
/* Consume the n bytes of lit when they come next. */
bool mb_ddb_marshal_lit_match(mb_ddb_marshal_reader *r, const char *lit, size_t n);
/* The rest of a string literal that is not plain text (mb_ddb_marshal_scan_string). */
int mb_ddb_marshal_scan_rest(mb_ddb_marshal_reader *r, mb_cur *raw, bool *escaped);
/* Push the decoded string of a scanned literal. */
int mb_ddb_marshal_push_string(lua_State *L, mb_ddb_marshal_reader *r, mb_cur raw, bool escaped);
/* Read a string value and push it. */
int mb_ddb_marshal_push_string_value(lua_State *L, mb_ddb_marshal_reader *r);
/* {"name": AttributeValue, ...} -> a table (an item, or an M value). */
int mb_ddb_marshal_read_map(lua_State *L, mb_ddb_marshal_reader *r, int depth);
/* true/false (BOOL), or true as null (NULL) when null is set. */
int mb_ddb_marshal_read_bool(lua_State *L, mb_ddb_marshal_reader *r, bool null);
/* Parse all of json with fn and push the value: the reader's set-up and clean-up. */
int mb_ddb_marshal_run(lua_State *L, mb_cur json, mb_err *err, mb_ddb_marshal_parse_fn fn);
/* Push the name cache and its table of strings, created on first use ([-0, +2, m]); returns
 * the cache. Stack: ..., cache, strings. */
mb_ddb_marshal_names *mb_ddb_marshal_names_push(lua_State *L);
/* Push the name raw (no escapes), from the cache when it holds it. */
void mb_ddb_marshal_push_name_raw(lua_State *L, mb_ddb_marshal_reader *r, mb_cur raw);

static inline void mb_ddb_marshal_ws(mb_ddb_marshal_reader *r) {
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t')) {
        r->p++;
    }
}

static inline bool mb_ddb_marshal_eat(mb_ddb_marshal_reader *r, char c) {
    if (r->p < r->end && *r->p == c) { /* compact JSON: no whitespace to skip */
        r->p++;
        return true;
    }
    mb_ddb_marshal_ws(r);
    if (r->p < r->end && *r->p == c) {
        r->p++;
        return true;
    }
    return false;
}

/* Scan a string literal (r->p after the opening quote). On success *raw is the bytes between
 * the quotes and *escaped tells whether they hold escapes; UTF-8 and escapes (\u ones included)
 * are validated. The usual string is plain text up to the closing quote. */
static inline int mb_ddb_marshal_scan_string(mb_ddb_marshal_reader *r, mb_cur *raw, bool *escaped) {
    const unsigned char *p = (const unsigned char *)r->p, *end = (const unsigned char *)r->end;
    *escaped = false;
    p += mb_text_json_plain_prefix(p, (size_t)(end - p));
    if (p == end || *p != '"') {
        return mb_ddb_marshal_scan_rest(r, raw, escaped);
    }
    *raw = (mb_cur){r->p, (size_t)((const char *)p - r->p)};
    r->p = (const char *)p + 1;
    return 0;
}

#endif
