/* jwt_json.c - strict, allocation-free JSON scanning for JWT headers and payloads. */
#include "jwt_json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "moonbase/err.h"

#include "moonbase/text.h"

/* A NumericDate longer than this is not a timestamp anyone issues. */
#define MB_JWT_JSON_MAX_NUMBER 64

typedef struct s_scan {
    const char *p;
    const char *end;
} s_scan;

static void s_ws(s_scan *s) {
    s->p = mb_text_json_ws(s->p, s->end);
}

/* s->p is at the opening quote. On success *out spans the contents, s->p is past the quote.
 * The text kernel scans and checks it: UTF-8, control characters, every escape (\u pairs
 * included), without allocating. */
static int s_string(s_scan *s, mb_cur *out, bool *escaped) {
    const char *start = s->p + 1;
    size_t len;
    if (mb_text_json_scan_string(start, (size_t)(s->end - start), &len, escaped, NULL) != 0) {
        return MB_ERR_INVALID;
    }
    *out = (mb_cur){start, len};
    s->p = start + len + 1;
    return 0;
}

static int s_number(s_scan *s) {
    size_t len;
    bool is_int;
    if (mb_text_json_number_scan(s->p, (size_t)(s->end - s->p), &len, &is_int, NULL) != 0) {
        return MB_ERR_INVALID;
    }
    s->p += len;
    return 0;
}

static int s_literal(s_scan *s, const char *word, size_t n) {
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0) {
        return MB_ERR_INVALID;
    }
    s->p += n;
    return 0;
}

static int s_value(s_scan *s, int depth, mb_jwt_member *m);

/* s->p at '{' or '['. Validates the whole container (members not recorded). */
static int s_container(s_scan *s, int depth, bool is_object) {
    if (depth >= MB_JWT_JSON_MAX_DEPTH) {
        return MB_ERR_LIMIT;
    }
    char close = is_object ? '}' : ']';
    s->p++;
    s_ws(s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
        return 0;
    }
    for (;;) {
        mb_jwt_member m;
        if (is_object) {
            if (s->p >= s->end || *s->p != '"') {
                return MB_ERR_INVALID;
            }
            int rc = s_string(s, &m.key, &m.key_escaped);
            if (rc != 0) {
                return rc;
            }
            s_ws(s);
            if (s->p >= s->end || *s->p++ != ':') {
                return MB_ERR_INVALID;
            }
            s_ws(s);
        }
        int rc = s_value(s, depth + 1, &m);
        if (rc != 0) {
            return rc;
        }
        s_ws(s);
        if (s->p >= s->end) {
            return MB_ERR_INVALID;
        }
        char c = *s->p++;
        if (c == close) {
            return 0;
        }
        if (c != ',') {
            return MB_ERR_INVALID;
        }
        s_ws(s);
    }
}

/* Scan one value at s->p (no leading whitespace); fill m->value/type/value_escaped. */
static int s_value(s_scan *s, int depth, mb_jwt_member *m) {
    if (s->p >= s->end) {
        return MB_ERR_INVALID;
    }
    const char *start = s->p;
    int rc;
    m->value_escaped = false;
    switch (*s->p) {
    case '"':
        m->type = MB_JWT_JSON_STRING;
        return s_string(s, &m->value, &m->value_escaped);
    case '{':
    case '[':
        m->type = *s->p == '{' ? MB_JWT_JSON_OBJECT : MB_JWT_JSON_ARRAY;
        rc = s_container(s, depth, *s->p == '{');
        break;
    case 't':
        m->type = MB_JWT_JSON_TRUE;
        rc = s_literal(s, "true", 4);
        break;
    case 'f':
        m->type = MB_JWT_JSON_FALSE;
        rc = s_literal(s, "false", 5);
        break;
    case 'n':
        m->type = MB_JWT_JSON_NULL;
        rc = s_literal(s, "null", 4);
        break;
    default:
        m->type = MB_JWT_JSON_NUMBER;
        rc = s_number(s);
        break;
    }
    m->value = (mb_cur){start, (size_t)(s->p - start)};
    return rc;
}

/* Compare two member names after unescaping. */
static bool s_key_eq(const mb_jwt_member *a, const mb_jwt_member *b) {
    if (!a->key_escaped && !b->key_escaped) {
        return mb_cur_eq(a->key, b->key);
    }
    char da[MB_JWT_JSON_MAX_KEY], db[MB_JWT_JSON_MAX_KEY];
    size_t la, lb;
    if (mb_text_json_unescape(a->key, da, sizeof da, &la) != 0 ||
        mb_text_json_unescape(b->key, db, sizeof db, &lb) != 0) {
        return true; /* cannot happen for validated keys; err on the side of rejecting */
    }
    return la == lb && memcmp(da, db, la) == 0;
}

/* Read one "key": value member of the top-level object into m. */
static int s_member(s_scan *s, mb_jwt_member *m) {
    if (s->p >= s->end || *s->p != '"') {
        return MB_ERR_INVALID;
    }
    int rc = s_string(s, &m->key, &m->key_escaped);
    if (rc != 0) {
        return rc;
    }
    if (m->key.len > MB_JWT_JSON_MAX_KEY) {
        return MB_ERR_LIMIT;
    }
    s_ws(s);
    if (s->p >= s->end || *s->p++ != ':') {
        return MB_ERR_INVALID;
    }
    s_ws(s);
    return s_value(s, 1, m);
}

int mb_jwt_json_object(mb_cur text, mb_jwt_member *members, size_t max, size_t *count) {
    s_scan s = {text.ptr, text.ptr + text.len};
    size_t n = 0;
    *count = 0;
    s_ws(&s);
    if (s.p >= s.end || *s.p++ != '{') {
        return MB_ERR_INVALID;
    }
    s_ws(&s);
    if (s.p < s.end && *s.p == '}') {
        s.p++;
    } else {
        for (;;) {
            mb_jwt_member m;
            int rc = s_member(&s, &m);
            if (rc != 0) {
                return rc;
            }
            for (size_t i = 0; i < n; i++) {
                if (s_key_eq(&members[i], &m)) {
                    return MB_ERR_INVALID;
                }
            }
            if (n == max) {
                return MB_ERR_LIMIT;
            }
            members[n++] = m;
            s_ws(&s);
            if (s.p >= s.end) {
                return MB_ERR_INVALID;
            }
            char c = *s.p++;
            if (c == '}') {
                break;
            }
            if (c != ',') {
                return MB_ERR_INVALID;
            }
            s_ws(&s);
        }
    }
    s_ws(&s);
    if (s.p != s.end) {
        return MB_ERR_INVALID;
    }
    *count = n;
    return 0;
}

const mb_jwt_member *mb_jwt_json_find(const mb_jwt_member *members, size_t count, mb_cur name) {
    for (size_t i = 0; i < count; i++) {
        if (mb_jwt_json_str_eq(members[i].key, members[i].key_escaped, name)) {
            return &members[i];
        }
    }
    return NULL;
}

void mb_jwt_json_iter_init(mb_jwt_json_iter *it, mb_cur container) {
    it->p = container.ptr;
    it->end = container.ptr + container.len;
    it->is_object = container.len > 0 && container.ptr[0] == '{';
    it->started = false;
    it->done = false;
}

int mb_jwt_json_iter_next(mb_jwt_json_iter *it, mb_jwt_member *out) {
    s_scan s = {it->p, it->end};
    char close = it->is_object ? '}' : ']';
    if (it->done) {
        return 0;
    }
    if (!it->started) {
        if (s.p >= s.end || (*s.p != '{' && *s.p != '[')) {
            return MB_ERR_INVALID;
        }
        s.p++;
        s_ws(&s);
        it->started = true;
        if (s.p < s.end && *s.p == close) {
            it->done = true;
            return 0;
        }
    }
    memset(out, 0, sizeof *out);
    int rc = it->is_object ? s_member(&s, out) : s_value(&s, 1, out);
    if (rc != 0) {
        return rc;
    }
    s_ws(&s);
    if (s.p >= s.end || (*s.p != ',' && *s.p != close)) {
        return MB_ERR_INVALID;
    }
    it->done = *s.p++ == close;
    s_ws(&s);
    it->p = s.p;
    return 1;
}

bool mb_jwt_json_str_eq(mb_cur raw, bool escaped, mb_cur lit) {
    if (!escaped) {
        return mb_cur_eq(raw, lit);
    }
    /* An escape is at most 6 bytes per decoded byte, so a longer raw span cannot match. */
    char tmp[1024];
    size_t n;
    if (raw.len > sizeof tmp || raw.len > lit.len * 6) {
        return false;
    }
    if (mb_text_json_unescape(raw, tmp, sizeof tmp, &n) != 0) {
        return false;
    }
    return n == lit.len && memcmp(tmp, lit.ptr, n) == 0;
}

int mb_jwt_json_number(mb_cur raw, int64_t *out) {
    char tmp[MB_JWT_JSON_MAX_NUMBER + 1];
    if (raw.len == 0 || raw.len > MB_JWT_JSON_MAX_NUMBER) {
        return MB_ERR_INVALID;
    }
    /* Fast path: a plain integer (every NumericDate Cognito issues). */
    bool plain = raw.len <= 15;
    int64_t v = 0;
    for (size_t i = 0; plain && i < raw.len; i++) {
        char c = raw.ptr[i];
        if (c < '0' || c > '9') {
            plain = false;
        } else {
            v = v * 10 + (c - '0');
        }
    }
    if (plain) {
        *out = v;
        return 0;
    }
    memcpy(tmp, raw.ptr, raw.len);
    tmp[raw.len] = '\0';
    char *end = NULL;
    double d = strtod(tmp, &end);
    if (end != tmp + raw.len || !isfinite(d) || d > 9007199254740992.0 || d < -9007199254740992.0) {
        return MB_ERR_INVALID;
    }
    *out = (int64_t)floor(d);
    return 0;
}
