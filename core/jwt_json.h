/* jwt_json.h (private to core/) - a strict, allocation-free JSON scanner for JWT headers and
 * payloads: RFC 8259 grammar (no NaN, no leading zeros, no trailing commas, no control characters
 * in strings, valid UTF-8 and surrogate pairs), bounded depth, duplicate member names rejected.
 * Why not jansson here: parsing a Cognito-sized payload with jansson costs ~7 us (measured by
 * bench/jwt_choice.c), a third of an RSA-2048 verify; this scanner records spans instead of
 * building a tree and costs well under 1 us.
 * Ownership: every span (mb_cur) borrows from the text passed in. No heap memory is used. */
#ifndef MOONBASE_JWT_JSON_H
#define MOONBASE_JWT_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "moonbase/buf.h"
#include "moonbase/text.h"

/* Nesting deeper than this is refused: claims are flat, hostile input must not recurse far. */
#define MB_JWT_JSON_MAX_DEPTH 16
/* Member names longer than this are refused (keeps the duplicate check cheap and bounded). */
#define MB_JWT_JSON_MAX_KEY 256

typedef enum mb_jwt_json_type {
    MB_JWT_JSON_STRING = 1,
    MB_JWT_JSON_NUMBER,
    MB_JWT_JSON_OBJECT,
    MB_JWT_JSON_ARRAY,
    MB_JWT_JSON_TRUE,
    MB_JWT_JSON_FALSE,
    MB_JWT_JSON_NULL,
} mb_jwt_json_type;

/* One object member or array element. For strings, key and value exclude the quotes and are
 * still escaped (key_escaped / value_escaped say whether a backslash occurs). For objects and
 * arrays, value includes the brackets. For arrays, key is empty. */
typedef struct mb_jwt_member {
    mb_cur key;
    mb_cur value;
    uint8_t type; /* an mb_jwt_json_type */
    bool key_escaped;
    bool value_escaped;
} mb_jwt_member;

/* Parse `text` as one JSON object (whitespace around it allowed) and record up to `max` top-level
 * members in order. Returns 0 and sets *count; MB_ERR_INVALID for malformed JSON, a non-object,
 * or a duplicate member name; MB_ERR_LIMIT when depth, key length or `max` is exceeded. */
int mb_jwt_json_object(mb_cur text, mb_jwt_member *members, size_t max, size_t *count);

/* Find a top-level member by (unescaped) name; NULL when absent. */
const mb_jwt_member *mb_jwt_json_find(const mb_jwt_member *members, size_t count, mb_cur name);

/* Iterate over the members of an object or the elements of an array previously validated by
 * mb_jwt_json_object (value spans of type OBJECT/ARRAY). */
typedef struct mb_jwt_json_iter {
    const char *p;
    const char *end;
    bool is_object;
    bool started;
    bool done;
} mb_jwt_json_iter;

void mb_jwt_json_iter_init(mb_jwt_json_iter *it, mb_cur container);
/* Returns 1 and fills *out for the next member, 0 at the end, MB_ERR_INVALID on malformed text. */
int mb_jwt_json_iter_next(mb_jwt_json_iter *it, mb_jwt_member *out);

/* A string span is unescaped with the text kernel's mb_text_json_unescape (moonbase/text.h),
 * into a caller buffer (capacity >= raw.len is always enough: escapes only shrink). */
/* True when the string span (escaped or not) decodes to exactly `lit`. */
bool mb_jwt_json_str_eq(mb_cur raw, bool escaped, mb_cur lit);
/* Convert a NUMBER span to seconds: integral part of the value, 0 on success, MB_ERR_INVALID when
 * it is not finite or outside +-2^53. */
int mb_jwt_json_number(mb_cur raw, int64_t *out);

#endif
