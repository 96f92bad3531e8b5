/* moonbase/json.h - strict JSON (RFC 8259) straight into and out of the Lua state.
 * The Lua state is the data model: decoding pushes Lua values, encoding reads them; there is no
 * intermediate tree. Decoding rejects NaN/Infinity, hex, leading zeros, trailing commas, invalid
 * UTF-8, unescaped control characters and trailing garbage; it bounds depth and size. Integers
 * that fit in 64 bits become Lua integers (exact), other numbers floats. `null` becomes
 * lightuserdata NULL (the same value as cjson.null); arrays get the MB_LUA_ARRAY_MT metatable so
 * an empty array re-encodes as []. Strings may hold NUL bytes.
 * Why not Debian's lua-cjson 2.1.0 (whose API the `cjson` name imitates for handlers; it is not
 * linked at all): it reads every number as a double (64-bit ids and counters lose digits), has no
 * array marker for empty arrays, accepts invalid UTF-8, and prints at most 14 significant digits.
 * Ownership: the caller owns the input view and the output buffer. Errors never leave partial
 * values on the Lua stack. Not thread-safe per lua_State (like Lua itself). */
#ifndef MOONBASE_JSON_H
#define MOONBASE_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include <lua.h>

#include "moonbase/buf.h"
#include "moonbase/err.h"
#include "moonbase/lua_aux.h" /* MB_LUA_ARRAY_MT, null */

/* Nesting bound for request bodies: deep enough for any real document, shallow enough that the
 * recursive decoder's C stack use stays small. */
#define MB_JSON_MAX_DEPTH 64

/* Decode `text` and push the value. Returns 0 [-0, +1], or MB_ERR_INVALID / MB_ERR_LIMIT with a
 * message giving the byte offset, or MB_ERR_NOMEM; on error nothing is pushed [-0, +0]. */
int mb_json_decode(lua_State *L, mb_cur text, int max_depth, mb_err *err);

/* Append the JSON encoding of the value at `idx` to out. Tables with keys exactly 1..n (or marked
 * with MB_LUA_ARRAY_MT) are arrays, other tables objects with string keys; an empty unmarked
 * table is {}. ctx.db's binary values are base64 strings and its decimal numbers exact JSON
 * numbers (moonbase/ddb_value.h). Functions, other userdata (except null), NaN/Infinity, mixed or
 * sparse keys and cycles (depth) are errors: MB_ERR_INVALID with a message naming the problem.
 * [-0, +0, m] */
int mb_json_encode(lua_State *L, int idx, mb_buf *out, mb_err *err);

/* Strings are escaped, and UTF-8 validated, by the text kernel (moonbase/text.h:
 * mb_text_json_quote with MB_TEXT_ESC_REPAIR, mb_text_utf8_valid). */

/* Register json.encode/json.decode/json.null/json.array_mt as a table on the stack top, the
 * library handlers see as `json` (and as `cjson`, for code written for lua-cjson). [-0, +1, m] */
void mb_json_push_lib(lua_State *L);

#endif
