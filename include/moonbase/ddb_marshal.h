/* moonbase/ddb_marshal.h - Lua values <-> DynamoDB AttributeValue JSON, both ways, in C.
 *
 * Mapping (Lua -> DynamoDB, and back); docs/handlers.md has the handler's view of it:
 *   string            <-> S   (any bytes that are valid UTF-8, embedded NULs included; a string
 *                              that is not UTF-8 is refused: store it as binary)
 *   integer           <-> N   exact to 64 bits ("9223372036854775807")
 *   float             <-> N   shortest decimal that reads back as the same double, written in
 *                              DynamoDB's canonical form (moonbase/ddb_value.h); NaN, infinities
 *                              and magnitudes outside 1E-130..9.99E+125 refused (an integral float
 *                              such as 2.0 is sent as "2" and comes back as the integer 2:
 *                              DynamoDB keeps no integer/float distinction)
 *   decimal number value (mb_ddb_value_push_number) <-> N   exact, up to 38 digits
 *   N on the way back:  an integer when it has no fraction/exponent and fits int64; a float when
 *                       the double's shortest form has the same decimal value as the text;
 *                       otherwise a decimal number value (never silently rounded).
 *   binary value (mb_ddb_value_push_binary) <-> B (base64); B comes back as a binary value
 *   boolean           <-> BOOL
 *   NULL lightuserdata <-> NULL (cjson.null is that value)
 *   table, keys 1..n  <-> L   (also an empty table with the "moonbase.array_mt" metatable)
 *   table, string keys <-> M  (an empty table without that metatable is an empty M)
 *   set (mb_ddb_marshal_push_set) <-> SS / NS / BS (sets come back as set tables)
 * Nesting: DynamoDB's MB_DDB_MAX_DEPTH levels counting the item, so an attribute value holds at
 * most MB_DDB_MAX_DEPTH - 1 levels of M/L; both directions check the same bound (a standalone
 * value counts like an attribute), and deeper input is MB_ERR_LIMIT. An error in an item's
 * attribute names the attribute ("ddb: attribute \"doc\": ...").
 *
 * Sets are Lua tables with a registry metatable (protected: getmetatable gives false):
 *   set:    { type = "SS"|"NS"|"BS", m1, m2, ... }   metatable registry["moonbase.set"]
 * NS members are integers, floats, decimal number values or numeric strings (sent canonical);
 * BS members are binary values or strings; they come back as decimals/numbers and binaries.
 *
 * Why a C reader for unmarshalling (and not lua-cjson + a conversion pass): the reader builds
 * the final Lua values in one pass straight from the response bytes (no intermediate tables of
 * {"S": ...} wrappers to create and then collect), validates types as it goes, and keeps N
 * strings exact without depending on cjson's number settings. Marshalling writes straight into
 * an mb_buf (no intermediate tree).
 *
 * Errors and Lua: every function returns 0 or a negative mb_status and fills err; none raises a
 * Lua error for bad data. Functions that push values (unmarshal, the constructors) allocate Lua
 * objects, so Lua may raise a memory error: call them from a Lua C function or under
 * lua_pcall (they hold no C heap memory while calling Lua, so nothing leaks if that happens).
 * On error the Lua stack is restored to its height at the call (nothing pushed).
 * Unmarshalling keeps a cache of recently read attribute names in the registry (at most 512
 * strings of at most 40 bytes, and a ~21 KB userdata, per Lua state), so repeated names skip
 * Lua's string interning.
 * Implementation: core/ddb_marshal_{write,read,request,names,set}.c, one seam each (their
 * shared parts and the map are in core/ddb_marshal_priv.h).
 * Ownership: output buffers belong to the caller; input views are borrowed for the call only.
 * Not thread-safe with respect to one lua_State (as Lua itself). */
#ifndef MOONBASE_DDB_MARSHAL_H
#define MOONBASE_DDB_MARSHAL_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <lua.h>

#include "moonbase/buf.h"
#include "moonbase/ddb_value.h"
#include "moonbase/err.h"
#include "moonbase/lua_aux.h" /* MB_LUA_ARRAY_MT: empty tables that are lists */

/* DynamoDB allows 32 levels of nesting counting the item itself (31 M/L inside an attribute;
 * AWS answers "Nesting Levels have exceeded supported limits" past that). */
#define MB_DDB_MAX_DEPTH 32
/* Bound on the nesting of the plain-JSON envelope of requests and responses. */
#define MB_DDB_MAX_ENVELOPE_DEPTH 16

#define MB_DDB_SET_MT "moonbase.set"

/* Every message of a value the writer refuses (MB_ERR_INVALID, MB_ERR_LIMIT) starts with this
 * prefix, and no other module's does: callers that must keep DynamoDB's own error text from
 * clients (lua_db) can still show these, which only describe the caller's own data. */
#define MB_DDB_MARSHAL_REFUSED "ddb: "
/* True when err holds such a message. */
static inline bool mb_ddb_marshal_refused(const mb_err *err) {
    return strncmp(err->msg, MB_DDB_MARSHAL_REFUSED, sizeof MB_DDB_MARSHAL_REFUSED - 1) == 0;
}
/* The message of err without that prefix (the whole message when it has none). */
static inline const char *mb_ddb_marshal_reason(const mb_err *err) {
    return err->msg + (mb_ddb_marshal_refused(err) ? sizeof MB_DDB_MARSHAL_REFUSED - 1 : 0);
}

/* ---- Lua -> JSON ---- */

/* Append the AttributeValue JSON of the Lua value at idx ({"S":"..."}, {"M":{...}}...) to out.
 * Returns 0; MB_ERR_INVALID for a value DynamoDB cannot hold (function, NaN, a float out of
 * range, non-UTF-8 string, mixed-key table, malformed set), MB_ERR_LIMIT past the nesting bound,
 * MB_ERR_NOMEM. On error
 * out may hold a partial write: reset it. */
int mb_ddb_marshal_value(lua_State *L, int idx, mb_buf *out, mb_err *err);
/* Append an item / key / ExpressionAttributeValues map: {"name": AttributeValue, ...} from a
 * table with string keys (an empty table gives {}). Same errors as mb_ddb_marshal_value. */
int mb_ddb_marshal_item(lua_State *L, int idx, mb_buf *out, mb_err *err);
/* Append a DynamoDB request as JSON from a Lua table shaped like the AWS request, where the
 * fields Key, Item, ExclusiveStartKey, ExpressionAttributeValues (at any depth) are items
 * marshalled with mb_ddb_marshal_item, Keys is a list of items, and everything else is plain
 * JSON (strings, numbers, booleans, tables as objects/arrays). Example (Lua):
 *   { TableName = "t", Key = { PK = "A", SK = "B" }, ConsistentRead = true }
 *   { RequestItems = { t = { { PutRequest = { Item = {...} } } } } }        -- BatchWriteItem
 * Same errors as mb_ddb_marshal_value. */
int mb_ddb_marshal_request(lua_State *L, int idx, mb_buf *out, mb_err *err);

/* ---- constructors ([-0, +1, m]) ---- */

/* Push a new set built from the sequence table at members_idx. type is "SS", "NS", "BS", or
 * NULL to infer it from the first member (string: SS; number or decimal: NS; binary: BS).
 * Duplicates are dropped (DynamoDB refuses them; NS members compare by value, so 1 and "1.0" are
 * one); members keep their first-seen order. Returns 0 with the set on the stack; on error
 * (MB_ERR_INVALID: empty, wrong member type, NS member that is not a valid DynamoDB number,
 * unknown type) nothing is pushed. */
int mb_ddb_marshal_push_set(lua_State *L, int members_idx, const char *type, mb_err *err);
/* Register the set, binary and number metatables (idempotent; unmarshal also creates them
 * lazily). */
void mb_ddb_marshal_open(lua_State *L);

/* ---- JSON -> Lua ([-0, +1, m] on success, [-0, +0, m] on error) ---- */

/* Parse one AttributeValue ({"S":"x"}) and push the Lua value. Returns 0; MB_ERR_INVALID for
 * malformed JSON, an unknown or missing type tag, two tags, a wrong value type, bad base64, a
 * number DynamoDB cannot hold, invalid UTF-8 or trailing bytes; MB_ERR_LIMIT past the nesting
 * bound. */
int mb_ddb_marshal_unmarshal_value(lua_State *L, mb_cur json, mb_err *err);
/* Parse an item map {"name": AttributeValue, ...} and push a table. Same errors. */
int mb_ddb_marshal_unmarshal_item(lua_State *L, mb_cur json, mb_err *err);
/* Parse a DynamoDB response and push it as a table: plain JSON, except that Item, Attributes,
 * Key, LastEvaluatedKey, ExclusiveStartKey and ExpressionAttributeValues are items, Items and
 * Keys are lists of items, and Responses maps table names to lists of items (so the
 * UnprocessedKeys / UnprocessedItems of a batch call come back in request shape, ready to be
 * sent again). JSON null is pushed as the NULL lightuserdata. Same errors. */
int mb_ddb_marshal_unmarshal_response(lua_State *L, mb_cur json, mb_err *err);

#endif
