/* moonbase/ddb_value.h - DynamoDB's scalar values that Lua has no type for, and its number rules:
 * binary (B) and exact decimal numbers (N beyond int64/double) as Lua values, and N text both
 * ways (Lua integer/float -> canonical text, text -> integer, float or decimal value).
 *
 * The two value types are full userdata with a registry metatable, immutable once made:
 *   binary  MB_DDB_BINARY_MT  the bytes themselves (lua_rawlen is the length). Lua: #b,
 *           b:sub(i [, j]) and b:byte(i [, j]) as string.sub/string.byte (they return strings
 *           and integers), b:bytes() and tostring(b) the bytes as a string, == between two
 *           binaries, < and <= in DynamoDB's order (unsigned bytes), .. concatenates bytes.
 *   number  MB_DDB_NUMBER_MT  the canonical text of the number. Lua: tostring(n) the text,
 *           == between two decimals, < and <= against decimals and Lua numbers (exact), ..
 *           concatenates the text. No arithmetic: it is a value to store and compare (DynamoDB's
 *           own ADD is exact on the server).
 * Both metatables are protected (__metatable = false): handlers share them across requests and
 * tenants, so none may change them.
 *
 * DynamoDB's number rules (checked for every N written and read): the JSON number grammar, at
 * most 38 significant digits, a magnitude from 1E-130
 * to 9.9999999999999999999999999999999999999E+125 (or zero), no NaN or Infinity. The canonical text
 * is what DynamoDB (and dynalite) store and send back: plain notation without exponent, no leading
 * zeros, no trailing fraction zeros, no
 * "-0" ("1.50" -> "1.5", "1e3" -> "1000", "-0.0" -> "0", "1E-5" -> "0.00001").
 *
 * Errors: functions return 0 (or a length) or a negative mb_status with err filled; none raises a
 * Lua error except by running out of memory in the push functions ([-0, +1, m]).
 * Ownership: views returned by the accessors borrow from the Lua value on the stack. */
#ifndef MOONBASE_DDB_VALUE_H
#define MOONBASE_DDB_VALUE_H

#include <stdbool.h>
#include <stddef.h>

#include <lua.h>

#include "moonbase/buf.h"
#include "moonbase/err.h"

#define MB_DDB_BINARY_MT "moonbase.binary"
#define MB_DDB_NUMBER_MT "moonbase.number"

/* Longest N text accepted as input: every canonical text fits with room for leading zeros and an
 * exponent; anything longer is not a number DynamoDB could hold. */
#define MB_DDB_NUMBER_MAX_TEXT 256
/* Room for a canonical N text and its NUL: "-0." + 129 zeros + 38 digits is the longest (170). */
#define MB_DDB_NUMBER_MAX_CANONICAL 176

/* The decimal value of a number text: value = 0.DIGITS x 10^exp, leading and trailing zeros
 * dropped; zero has count 0 (and is never negative). */
typedef struct mb_ddb_decimal {
    bool neg;
    char digits[MB_DDB_NUMBER_MAX_TEXT];
    size_t count;
    long exp;
} mb_ddb_decimal;

/* True when p[0..n) matches -?digits(.digits)?([eE][+-]?digits)?; *is_int tells whether it has
 * no fraction and no exponent. */
bool mb_ddb_value_number_syntax(const char *p, size_t n, bool *is_int);
/* The decimal of a text that passed mb_ddb_value_number_syntax (n < MB_DDB_NUMBER_MAX_TEXT). */
void mb_ddb_value_decimal_parse(const char *p, size_t n, mb_ddb_decimal *d);
/* -1, 0 or 1 as a is below, equal to or above b. */
int mb_ddb_value_decimal_cmp(const mb_ddb_decimal *a, const mb_ddb_decimal *b);
/* 0, or MB_ERR_INVALID when d breaks DynamoDB's digit or range rules. */
int mb_ddb_value_decimal_check(const mb_ddb_decimal *d, mb_err *err);

/* Write the canonical text of `text` (any valid N text) into out (MB_DDB_NUMBER_MAX_CANONICAL
 * bytes, NUL-terminated). Returns the length, or MB_ERR_INVALID (not a number, more than 38
 * digits, out of range). */
int mb_ddb_value_number_canonical(mb_cur text, char *out, mb_err *err);

/* The N text of the Lua number (integer or float) at idx into out (MB_DDB_NUMBER_MAX_CANONICAL
 * bytes): integers exactly, floats as the shortest decimal that reads back as the same double,
 * in canonical form ("1e+20" is written "100000000000000000000"). Returns the length, or
 * MB_ERR_INVALID for NaN, infinities and floats outside DynamoDB's range. */
int mb_ddb_value_lua_number_text(lua_State *L, int idx, char *out, mb_err *err);

/* Push the Lua value of an N text read from DynamoDB: an integer when it has no fraction or
 * exponent and fits int64; a float when the double's shortest form has the same decimal value;
 * otherwise a decimal number value (never silently rounded). MB_ERR_INVALID (nothing pushed)
 * for text that is not a valid DynamoDB number. [-0, +1|0, m] */
int mb_ddb_value_push_n(lua_State *L, mb_cur text, mb_err *err);

/* Register the binary and number metatables (idempotent; the push functions create them on
 * first use too). [-0, +0, m] */
void mb_ddb_value_open(lua_State *L);
/* Push a binary value holding a copy of bytes. [-0, +1, m] */
void mb_ddb_value_push_binary(lua_State *L, mb_cur bytes);
/* Push a new binary value of n bytes and return its memory, for the caller to fill before any
 * other Lua call. [-0, +1, m] */
unsigned char *mb_ddb_value_new_binary(lua_State *L, size_t n);
/* Push a decimal number value from any valid N text (stored canonical). MB_ERR_INVALID (nothing
 * pushed) when the text is not a valid DynamoDB number. [-0, +1|0, m] */
int mb_ddb_value_push_number(lua_State *L, mb_cur text, mb_err *err);
/* True, with *bytes viewing its bytes, when the value at idx is a binary value. */
bool mb_ddb_value_to_binary(lua_State *L, int idx, mb_cur *bytes);
/* True, with *text viewing its canonical text, when the value at idx is a decimal number. */
bool mb_ddb_value_to_number(lua_State *L, int idx, mb_cur *text);

#endif
