/* ddb_value.c - DynamoDB numbers and binary values in Lua (see moonbase/ddb_value.h). */
#include "moonbase/ddb_value.h"

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

/* ---- N text ---- */

/* Powers of ten that a double holds exactly. */
static const double s_pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Write m x 10^-k (m > 0) as %g writes it in fixed notation, trailing zeros dropped, into buf
 * (at least 32 bytes). Returns the length, or 0 when %g would use an exponent (below 1e-4). */
static int s_write_fixed(bool neg, uint64_t m, int k, char *buf) {
    char digits[24];
    int nd = 0, o = 0;
    while (k > 0 && m % 10 == 0) {
        m /= 10;
        k--;
    }
    for (; m; m /= 10) {
        digits[nd++] = (char)('0' + m % 10); /* reversed */
    }
    if (nd - 1 - k < -4) {
        return 0;
    }
    buf[o] = '-';
    o += neg;
    if (nd <= k) { /* 0.00ddd */
        memcpy(buf + o, "0.000", (size_t)(2 + k - nd));
        o += 2 + k - nd;
    }
    for (int i = nd - 1; i >= 0; i--) {
        buf[o++] = digits[i];
        if (i == k && k > 0) {
            buf[o++] = '.';
        }
    }
    buf[o] = '\0';
    return o;
}

/* %.15g of d without printf when d is the double nearest a decimal m / 10^k of at most 15
 * significant digits and 1e-4 <= |d| < 1e15: the common case (prices, ratios, scores), and
 * printf + strtod cost ~40x more. Returns the length, or 0 to leave d to printf. Exact because
 * two 15-digit decimals are at least 1e-15 apart relative to their size and a double's rounding
 * error is at most 1.1e-16: the one decimal that rounds to d is the one %.15g prints, and it
 * reads back as d (m / 10^k is a single correctly rounded division of exact values). */
static int s_format_short_double(double d, char *buf) {
    double a = fabs(d);
    if (!(a >= 1e-4 && a < 1e15)) {
        return 0;
    }
    for (int k = 0; k <= 19; k++) { /* 15 digits from 1e-4 down: at most 19 places */
        double m = a * s_pow10[k];
        if (m >= 1e15) {
            return 0;
        }
        if (m == (double)(uint64_t)m && m / s_pow10[k] == a) {
            return s_write_fixed(d < 0, (uint64_t)m, k, buf);
        }
    }
    return 0;
}

/* Decimal text of v into buf (at least 21 bytes); snprintf is several times slower. */
static int s_format_int(lua_Integer v, char *buf, size_t size) {
    char tmp[24];
    size_t n = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    size_t o = 0;
    if (v < 0 && o < size) {
        buf[o++] = '-';
    }
    while (n && o + 1 < size) {
        buf[o++] = tmp[--n];
    }
    buf[o] = '\0';
    return (int)o;
}

/* Check the JSON/DynamoDB number grammar: -?digits(.digits)?([eE][+-]?digits)? and report
 * whether the text has a fraction or an exponent. */
bool mb_ddb_value_number_syntax(const char *p, size_t n, bool *is_int) {
    size_t i = 0;
    if (i < n && p[i] == '-') {
        i++;
    }
    size_t d0 = i;
    while (i < n && p[i] >= '0' && p[i] <= '9') {
        i++;
    }
    if (i == d0) {
        return false;
    }
    *is_int = true;
    if (i < n && p[i] == '.') {
        size_t f0 = ++i;
        while (i < n && p[i] >= '0' && p[i] <= '9') {
            i++;
        }
        if (i == f0) {
            return false;
        }
        *is_int = false;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-')) {
            i++;
        }
        size_t e0 = i;
        while (i < n && p[i] >= '0' && p[i] <= '9') {
            i++;
        }
        if (i == e0) {
            return false;
        }
        *is_int = false;
    }
    return i == n;
}

/* Parse a plain integer (no fraction or exponent) that fits int64. */
static bool s_parse_int64(const char *p, size_t n, int64_t *out) {
    bool neg = n > 0 && p[0] == '-';
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t v = 0;
    for (size_t i = neg; i < n; i++) {
        uint64_t digit = (uint64_t)(p[i] - '0');
        if (v > (limit - digit) / 10) {
            return false;
        }
        v = v * 10 + digit;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

void mb_ddb_value_decimal_parse(const char *p, size_t n, mb_ddb_decimal *d) {
    size_t i = 0;
    d->neg = n > 0 && p[0] == '-';
    i += d->neg;
    d->count = 0;
    long point = 0; /* digits before the decimal point, counting from the first significant */
    bool seen_point = false, significant = false;
    for (; i < n && p[i] != 'e' && p[i] != 'E'; i++) {
        if (p[i] == '.') {
            seen_point = true;
            continue;
        }
        if (!significant && p[i] == '0') {
            point -= seen_point; /* 0.001: each zero after the point lowers the exponent */
            continue;
        }
        significant = true;
        d->digits[d->count++] = p[i];
        point += !seen_point;
    }
    long e = 0;
    if (i < n) { /* exponent: saturate, a huge one only has to compare unequal */
        bool eneg = p[i + 1] == '-';
        for (i += 1 + (p[i + 1] == '-' || p[i + 1] == '+'); i < n; i++) {
            e = e < 1000000 ? e * 10 + (p[i] - '0') : e;
        }
        e = eneg ? -e : e;
    }
    while (d->count > 0 && d->digits[d->count - 1] == '0') {
        d->count--;
    }
    d->exp = d->count ? point + e : 0;
    d->neg = d->neg && d->count > 0;
}

static bool s_decimal_eq(const mb_ddb_decimal *a, const mb_ddb_decimal *b) {
    return a->neg == b->neg && a->count == b->count && a->exp == b->exp &&
           memcmp(a->digits, b->digits, a->count) == 0;
}

/* The double of a valid number text (grammar checked) when it has at most 15 significant digits
 * and a decimal exponent within +-22: m * 10^e or m / 10^-e is then one correctly rounded
 * operation on exact values, so it equals strtod (Clinger's fast path), and by the argument at
 * s_format_short_double the double's shortest form has the text's value: no check needed. */
static bool s_parse_short_double(const char *p, size_t n, double *out) {
    bool neg = p[0] == '-', frac = false;
    size_t i = neg;
    uint64_t m = 0;
    int sig = 0;
    long exp = 0;
    for (; i < n && p[i] != 'e' && p[i] != 'E'; i++) {
        if (p[i] == '.') {
            frac = true;
            continue;
        }
        sig += sig > 0 || p[i] != '0';
        if (sig > 15) {
            return false;
        }
        m = m * 10 + (uint64_t)(p[i] - '0');
        exp -= frac;
    }
    if (i < n) { /* exponent digits, saturated: a large one only has to fail the range test */
        bool eneg = p[i + 1] == '-';
        long e = 0;
        for (i += 1 + (p[i + 1] == '-' || p[i + 1] == '+'); i < n; i++) {
            e = e < 1000 ? e * 10 + (p[i] - '0') : e;
        }
        exp += eneg ? -e : e;
    }
    if (exp < -22 || exp > 22) {
        return false;
    }
    double d = exp >= 0 ? (double)m * s_pow10[exp] : (double)m / s_pow10[-exp];
    *out = neg ? -d : d;
    return true;
}

int mb_ddb_value_decimal_cmp(const mb_ddb_decimal *a, const mb_ddb_decimal *b) {
    int sa = a->count == 0 ? 0 : a->neg ? -1 : 1, sb = b->count == 0 ? 0 : b->neg ? -1 : 1;
    if (sa != sb || sa == 0) {
        return (sa > sb) - (sa < sb);
    }
    int mag; /* of |a| against |b|: the exponent first, then the digits (no trailing zeros) */
    if (a->exp != b->exp) {
        mag = a->exp < b->exp ? -1 : 1;
    } else {
        size_t n = a->count < b->count ? a->count : b->count;
        int c = memcmp(a->digits, b->digits, n);
        mag = c != 0 ? (c > 0) - (c < 0) : (a->count > b->count) - (a->count < b->count);
    }
    return sa * mag;
}

/* DynamoDB's range in the 0.DIGITS x 10^exp terms of mb_ddb_decimal: 1E-130 is 0.1 x 10^-129
 * and 9.99...E+125 is 0.999... x 10^126. */
#define NUMBER_MAX_DIGITS 38
#define NUMBER_MIN_EXP (-129)
#define NUMBER_MAX_EXP 126

int mb_ddb_value_decimal_check(const mb_ddb_decimal *d, mb_err *err) {
    if (d->count > NUMBER_MAX_DIGITS) {
        return mb_err_set(err, MB_ERR_INVALID, "ddb: a number has more than %d significant digits",
                          NUMBER_MAX_DIGITS);
    }
    if (d->count > 0 && (d->exp < NUMBER_MIN_EXP || d->exp > NUMBER_MAX_EXP)) {
        return mb_err_set(err, MB_ERR_INVALID,
                          "ddb: a number is outside DynamoDB's range (1E-130 to 9.99E+125)");
    }
    return 0;
}

/* The canonical text of a checked decimal into out (MB_DDB_NUMBER_MAX_CANONICAL bytes). */
static int s_decimal_write(const mb_ddb_decimal *d, char *out) {
    size_t o = 0, c = d->count;
    if (c == 0) {
        memcpy(out, "0", 2);
        return 1;
    }
    out[o] = '-';
    o += d->neg;
    if (d->exp <= 0) { /* 0.000ddd */
        size_t zeros = (size_t)-d->exp;
        memcpy(out + o, "0.", 2);
        memset(out + o + 2, '0', zeros);
        o += 2 + zeros;
        memcpy(out + o, d->digits, c);
        o += c;
    } else if ((size_t)d->exp < c) { /* ddd.ddd */
        size_t whole = (size_t)d->exp;
        memcpy(out + o, d->digits, whole);
        out[o + whole] = '.';
        memcpy(out + o + whole + 1, d->digits + whole, c - whole);
        o += c + 1;
    } else { /* ddd000 */
        size_t zeros = (size_t)d->exp - c;
        memcpy(out + o, d->digits, c);
        memset(out + o + c, '0', zeros);
        o += c + zeros;
    }
    out[o] = '\0';
    return (int)o;
}

int mb_ddb_value_number_canonical(mb_cur text, char *out, mb_err *err) {
    bool is_int;
    if (text.len == 0 || text.len >= MB_DDB_NUMBER_MAX_TEXT ||
        !mb_ddb_value_number_syntax(text.ptr, text.len, &is_int)) {
        return mb_err_set(err, MB_ERR_INVALID, "ddb: not a number: \"%.*s\"",
                          (int)(text.len < 40 ? text.len : 40), text.len ? text.ptr : "");
    }
    mb_ddb_decimal d;
    mb_ddb_value_decimal_parse(text.ptr, text.len, &d);
    int rc = mb_ddb_value_decimal_check(&d, err);
    return rc ? rc : s_decimal_write(&d, out);
}

/* The shortest decimal that reads back as exactly d (d finite, not 0) into buf (40 bytes): fixed
 * notation from the fast path, else the shortest %.Ng (N = 15..17), which may use an exponent. */
static int s_double_text(double d, char *buf) {
    int n = s_format_short_double(d, buf);
    if (n > 0) {
        return n;
    }
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(buf, 40, "%.*g", prec, d);
        if (strtod(buf, NULL) == d) {
            break;
        }
    }
    return n;
}

/* The N text of d in canonical form into buf (MB_DDB_NUMBER_MAX_CANONICAL bytes). MB_ERR_INVALID
 * outside DynamoDB's range. */
static int s_format_double(double d, char *buf, mb_err *err) {
    if (d == 0) {
        memcpy(buf, "0", 2); /* -0 has no DynamoDB form: it is zero */
        return 1;
    }
    char text[40];
    int n = s_double_text(d, text);
    if (memchr(text, 'e', (size_t)n) == NULL) {
        memcpy(buf, text, (size_t)n + 1); /* fixed notation, no trailing zeros: canonical */
        return n;
    }
    /* %g's exponent form ("1e+20", "1.5e-07") and its range are DynamoDB's business: the
     * canonical text is what DynamoDB sends back, so a round trip sends the same bytes. */
    return mb_ddb_value_number_canonical((mb_cur){text, (size_t)n}, buf, err);
}

int mb_ddb_value_lua_number_text(lua_State *L, int idx, char *out, mb_err *err) {
    if (lua_isinteger(L, idx)) {
        return s_format_int(lua_tointeger(L, idx), out, MB_DDB_NUMBER_MAX_CANONICAL);
    }
    double d = (double)lua_tonumber(L, idx);
    if (!isfinite(d)) {
        return mb_err_set(err, MB_ERR_INVALID, "ddb: NaN and infinity cannot be stored");
    }
    return s_format_double(d, out, err);
}

static void s_ensure_mts(lua_State *L);

/* Push a decimal number value holding the canonical text t[0..n). [-0, +1, m] */
static void s_push_canonical(lua_State *L, const char *t, size_t n) {
    s_ensure_mts(L);
    void *u = lua_newuserdatauv(L, n, 0); /* stack: ..., number */
    memcpy(u, t, n);
    luaL_setmetatable(L, MB_DDB_NUMBER_MT);
}

/* The slow path of mb_ddb_value_push_n: beyond int64, or more than 15 digits, or an exponent
 * past +-22. A float when strtod's double prints back as the same decimal, else a decimal. */
static int s_push_n_slow(lua_State *L, const char *p, size_t n, mb_err *err) {
    mb_ddb_decimal a, b;
    mb_ddb_value_decimal_parse(p, n, &a);
    int rc = mb_ddb_value_decimal_check(&a, err);
    if (rc != 0) {
        return rc;
    }
    char text[MB_DDB_NUMBER_MAX_TEXT], back[MB_DDB_NUMBER_MAX_CANONICAL];
    memcpy(text, p, n);
    text[n] = '\0';
    double d = strtod(text, NULL); /* in range: finite, and never subnormal */
    int blen = s_format_double(d, back, NULL);
    if (blen > 0) {
        mb_ddb_value_decimal_parse(back, (size_t)blen, &b);
        if (s_decimal_eq(&a, &b)) {
            lua_pushnumber(L, d);
            return 0;
        }
    }
    char canon[MB_DDB_NUMBER_MAX_CANONICAL];
    s_push_canonical(L, canon, (size_t)s_decimal_write(&a, canon)); /* exact: a double rounds */
    return 0;
}

int mb_ddb_value_push_n(lua_State *L, mb_cur text, mb_err *err) {
    const char *p = text.ptr;
    size_t n = text.len;
    bool is_int = false;
    if (n == 0 || n >= MB_DDB_NUMBER_MAX_TEXT || !mb_ddb_value_number_syntax(p, n, &is_int)) {
        return mb_err_set(err, MB_ERR_INVALID, "ddb: bad number \"%.*s\"", (int)(n < 40 ? n : 40),
                          n ? p : "");
    }
    int64_t iv;
    if (is_int && s_parse_int64(p, n, &iv)) {
        lua_pushinteger(L, (lua_Integer)iv);
        return 0;
    }
    double fast;
    if (!is_int && s_parse_short_double(p, n, &fast)) {
        lua_pushnumber(L, fast);
        return 0;
    }
    return s_push_n_slow(L, p, n, err);
}

/* ---- the Lua value types ---- */

bool mb_ddb_value_to_binary(lua_State *L, int idx, mb_cur *bytes) {
    void *u = luaL_testudata(L, idx, MB_DDB_BINARY_MT);
    if (u) {
        *bytes = (mb_cur){u, lua_rawlen(L, idx)};
    }
    return u != NULL;
}

bool mb_ddb_value_to_number(lua_State *L, int idx, mb_cur *text) {
    void *u = luaL_testudata(L, idx, MB_DDB_NUMBER_MT);
    if (u) {
        *text = (mb_cur){u, lua_rawlen(L, idx)};
    }
    return u != NULL;
}

static mb_cur s_check_binary(lua_State *L, int idx) {
    mb_cur b;
    if (!mb_ddb_value_to_binary(L, idx, &b)) {
        luaL_typeerror(L, idx, "binary");
    }
    return b;
}

/* Lua's string.sub/string.byte position rules (lstrlib.c posrelatI and getendpos). */
static size_t s_start_pos(lua_Integer pos, size_t len) {
    if (pos > 0) {
        return (size_t)pos;
    }
    if (pos == 0 || pos < -(lua_Integer)len) {
        return 1;
    }
    return len + (size_t)pos + 1;
}

static size_t s_end_pos(lua_Integer pos, size_t len) {
    if (pos > (lua_Integer)len) {
        return len;
    }
    if (pos >= 0) {
        return (size_t)pos;
    }
    if (pos < -(lua_Integer)len) {
        return 0;
    }
    return len + (size_t)pos + 1;
}

/* b:sub(i [, j]) -> string, as string.sub. [-(2|3), +1, m] */
static int s_bin_sub(lua_State *L) {
    mb_cur b = s_check_binary(L, 1);
    size_t start = s_start_pos(luaL_optinteger(L, 2, 1), b.len);
    size_t end = s_end_pos(luaL_optinteger(L, 3, -1), b.len);
    if (start > end) {
        lua_pushliteral(L, "");
    } else {
        lua_pushlstring(L, b.ptr + start - 1, end - start + 1);
    }
    return 1;
}

/* b:byte([i [, j]]) -> integers, as string.byte. [-(1..3), +n, e] */
static int s_bin_byte(lua_State *L) {
    mb_cur b = s_check_binary(L, 1);
    lua_Integer i = luaL_optinteger(L, 2, 1);
    size_t start = s_start_pos(i, b.len), end = s_end_pos(luaL_optinteger(L, 3, i), b.len);
    if (start > end) {
        return 0;
    }
    if (end - start >= (size_t)INT32_MAX) {
        return luaL_error(L, "binary slice too long");
    }
    int n = (int)(end - start) + 1;
    luaL_checkstack(L, n, "binary slice too long");
    for (int k = 0; k < n; k++) {
        lua_pushinteger(L, (unsigned char)b.ptr[start - 1 + (size_t)k]);
    }
    return n;
}

/* b:bytes() and tostring(b) -> the bytes as a string. [-1, +1, m] */
static int s_bin_bytes(lua_State *L) {
    mb_cur b = s_check_binary(L, 1);
    lua_pushlstring(L, b.len ? b.ptr : "", b.len);
    return 1;
}

/* #b -> the length in bytes. [-1, +1, -] */
static int s_bin_len(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)s_check_binary(L, 1).len);
    return 1;
}

/* Unsigned byte order, a prefix first: how DynamoDB orders binary values. */
static int s_bin_cmp(lua_State *L) {
    mb_cur a = s_check_binary(L, 1), b = s_check_binary(L, 2);
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    return c != 0 ? c : (a.len > b.len) - (a.len < b.len);
}

/* a == b: only two binaries can be equal (Lua calls __eq for two userdata that differ). */
static int s_bin_eq(lua_State *L) {
    mb_cur a, b;
    bool eq = mb_ddb_value_to_binary(L, 1, &a) && mb_ddb_value_to_binary(L, 2, &b) &&
              a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
    lua_pushboolean(L, eq);
    return 1;
}

static int s_bin_lt(lua_State *L) {
    lua_pushboolean(L, s_bin_cmp(L) < 0);
    return 1;
}

static int s_bin_le(lua_State *L) {
    lua_pushboolean(L, s_bin_cmp(L) <= 0);
    return 1;
}

/* The decimal of a comparison operand, a decimal value or a Lua number; returns 0, or +-2 for
 * an infinity (beyond every decimal), or 3 for NaN (unordered). */
static int s_operand_decimal(lua_State *L, int idx, mb_ddb_decimal *d) {
    mb_cur t;
    char buf[40];
    if (!mb_ddb_value_to_number(L, idx, &t)) {
        luaL_argexpected(L, lua_type(L, idx) == LUA_TNUMBER, idx, "number");
        if (lua_isinteger(L, idx)) {
            t = (mb_cur){buf, (size_t)s_format_int(lua_tointeger(L, idx), buf, sizeof buf)};
        } else {
            double f = (double)lua_tonumber(L, idx);
            if (isnan(f) || isinf(f)) {
                return isnan(f) ? 3 : f > 0 ? 2 : -2;
            }
            t = f == 0 ? (mb_cur){"0", 1} : (mb_cur){buf, (size_t)s_double_text(f, buf)};
        }
    }
    mb_ddb_value_decimal_parse(t.ptr, t.len, d);
    return 0;
}

/* -1, 0, 1, or 3 when unordered (NaN). */
static int s_num_cmp(lua_State *L) {
    mb_ddb_decimal a, b;
    int ia = s_operand_decimal(L, 1, &a), ib = s_operand_decimal(L, 2, &b);
    if (ia == 3 || ib == 3) {
        return 3;
    }
    if (ia != 0 || ib != 0) {
        return ia == ib ? 0 : (ia > ib) - (ia < ib);
    }
    return mb_ddb_value_decimal_cmp(&a, &b);
}

static int s_num_lt(lua_State *L) {
    lua_pushboolean(L, s_num_cmp(L) == -1);
    return 1;
}

static int s_num_le(lua_State *L) {
    int c = s_num_cmp(L);
    lua_pushboolean(L, c == -1 || c == 0);
    return 1;
}

/* a == b: two decimals are equal when their canonical texts are. */
static int s_num_eq(lua_State *L) {
    mb_cur a, b;
    lua_pushboolean(L, mb_ddb_value_to_number(L, 1, &a) && mb_ddb_value_to_number(L, 2, &b) &&
                           a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0);
    return 1;
}

/* tostring(n) -> the canonical text. [-1, +1, m] */
static int s_num_tostring(lua_State *L) {
    mb_cur t;
    if (!mb_ddb_value_to_number(L, 1, &t)) {
        return luaL_typeerror(L, 1, "decimal number");
    }
    lua_pushlstring(L, t.ptr, t.len);
    return 1;
}

/* a .. b for binaries (their bytes) and decimals (their text) with strings and numbers. */
static int s_concat(lua_State *L) {
    luaL_Buffer b;
    luaL_buffinit(L, &b); /* stack: a, b, buffer... */
    for (int i = 1; i <= 2; i++) {
        mb_cur v;
        if (mb_ddb_value_to_binary(L, i, &v) || mb_ddb_value_to_number(L, i, &v)) {
            luaL_addlstring(&b, v.len ? v.ptr : "", v.len);
        } else if (lua_type(L, i) == LUA_TSTRING || lua_type(L, i) == LUA_TNUMBER) {
            lua_pushvalue(L, i); /* luaL_addvalue converts a number the way .. does */
            luaL_addvalue(&b);
        } else {
            return luaL_error(L, "attempt to concatenate a %s value", luaL_typename(L, i));
        }
    }
    luaL_pushresult(&b);
    return 1;
}

/* Fill the new metatable on top: metamethods, methods, protection. [-0, +0, m] */
static void s_fill_mt(lua_State *L, const luaL_Reg *meta, const luaL_Reg *methods) {
    luaL_setfuncs(L, meta, 0);
    if (methods) {
        lua_newtable(L); /* stack: mt, methods (shared: only C functions in it) */
        luaL_setfuncs(L, methods, 0);
        lua_setfield(L, -2, "__index");
    }
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
}

static void s_ensure_mts(lua_State *L) {
    static const luaL_Reg bin_meta[] = {
        {"__len", s_bin_len},        {"__eq", s_bin_eq},     {"__lt", s_bin_lt}, {"__le", s_bin_le},
        {"__tostring", s_bin_bytes}, {"__concat", s_concat}, {NULL, NULL},
    };
    static const luaL_Reg bin_methods[] = {
        {"sub", s_bin_sub}, {"byte", s_bin_byte}, {"bytes", s_bin_bytes}, {NULL, NULL}};
    static const luaL_Reg num_meta[] = {
        {"__eq", s_num_eq},     {"__lt", s_num_lt},
        {"__le", s_num_le},     {"__tostring", s_num_tostring},
        {"__concat", s_concat}, {NULL, NULL},
    };
    if (luaL_newmetatable(L, MB_DDB_BINARY_MT)) { /* stack: mt */
        s_fill_mt(L, bin_meta, bin_methods);
    }
    if (luaL_newmetatable(L, MB_DDB_NUMBER_MT)) { /* stack: mt, mt */
        s_fill_mt(L, num_meta, NULL);
    }
    lua_pop(L, 2);
}

void mb_ddb_value_open(lua_State *L) {
    s_ensure_mts(L);
}

unsigned char *mb_ddb_value_new_binary(lua_State *L, size_t n) {
    s_ensure_mts(L);
    unsigned char *u = lua_newuserdatauv(L, n, 0); /* stack: ..., binary */
    luaL_setmetatable(L, MB_DDB_BINARY_MT);
    return u;
}

void mb_ddb_value_push_binary(lua_State *L, mb_cur bytes) {
    unsigned char *u = mb_ddb_value_new_binary(L, bytes.len);
    if (bytes.len) {
        memcpy(u, bytes.ptr, bytes.len);
    }
}

int mb_ddb_value_push_number(lua_State *L, mb_cur text, mb_err *err) {
    char canon[MB_DDB_NUMBER_MAX_CANONICAL];
    int n = mb_ddb_value_number_canonical(text, canon, err);
    if (n < 0) {
        return n;
    }
    s_push_canonical(L, canon, (size_t)n);
    return 0;
}
