/* lua_db_call.h - what the ctx.db files share (private to core/): one call's context, the
 * process scratch state, and the pieces each file gives the others.
 *   lua_db.c         the binding: call set-up, sending, errors, ctx.db.get/put/.../number
 *   lua_db_tenant.c  the tenant key policy: PK added to every key and item and stripped from
 *                    every result, the sort-key namespace, and the refusals of anything that
 *                    could name a partition (PK in an item, a names map or an expression)
 *   lua_db_expr.c    the expression builders: placeholders, conditions, update clauses, the
 *                    key condition and the query options
 *   lua_db_cursor.c  pagination: the cursor key, HMAC-signed cursors and the query page
 * Every function here runs inside a ctx.db call on the handler's Lua state and may raise (a
 * plain Lua error for a handler bug, a ctx.fail for the client); none holds C memory across a
 * call that can raise: scratch buffers live in the registry state (mb_lua_db_state), freed when
 * the Lua state closes. */
#ifndef MOONBASE_LUA_DB_CALL_H
#define MOONBASE_LUA_DB_CALL_H

#include <stdbool.h>
#include <stddef.h>

#include <lua.h>

#include "moonbase/buf.h"
#include "moonbase/err.h"
#include "moonbase/log.h"
#include "moonbase/lua_aux.h"

#define MB_LUA_DB_PK_PREFIX "TENANT#"
/* DynamoDB's bound on a sort key value. */
#define MB_LUA_DB_MAX_SK 1024
/* Placeholders generated here start with these; handlers may not use the prefixes. */
#define MB_LUA_DB_NAME_PREFIX "#mb_"
#define MB_LUA_DB_VALUE_PREFIX ":mb_"
/* The placeholders of update(..., {once = true})'s marker attribute and token. */
#define MB_LUA_DB_ONCE_NAME MB_LUA_DB_NAME_PREFIX "once"
#define MB_LUA_DB_ONCE_VALUE MB_LUA_DB_VALUE_PREFIX "once"

/* The update expression's clauses, in the order they are written. */
enum { MB_LUA_DB_SET, MB_LUA_DB_REMOVE, MB_LUA_DB_ADD, MB_LUA_DB_DELETE, MB_LUA_DB_CLAUSES };

/* Per-state (process) data: scratch memory and the cursor key, never per-request data. */
typedef struct mb_lua_db_state {
    unsigned char secret[32]; /* the cursor key (lua_db_cursor.c) */
    bool have_secret;
    mb_buf clause[MB_LUA_DB_CLAUSES]; /* update expression clauses */
    mb_buf cond;                      /* condition / key condition */
    mb_buf tmp;                       /* update expression, MAC input */
    mb_buf raw;                       /* cursor bytes */
    mb_buf b64;                       /* cursor text */
    mb_buf value;                     /* a value checked before it becomes a placeholder */
} mb_lua_db_state;

/* One ctx.db call: what it works on. */
typedef struct mb_lua_db_call {
    mb_lua_services *svc;
    mb_lua_db_state *st;
    const char *fn; /* the Lua-facing name, for messages: "ctx.db.get" */
    const char *op; /* the DynamoDB operation */
    int req;        /* stack index of the request table */
    int names;      /* stack index of ExpressionAttributeNames */
    int values;     /* stack index of ExpressionAttributeValues */
    int next;       /* next generated placeholder number */
    bool once;      /* update(..., {once = true}): the marker's SET and condition are added
                     * (lua_db_expr.c) and mb_ddb_update_once sends it */
    char token[33]; /* the marker's value for this call (32 hex digits) */
} mb_lua_db_call;

/* ---- lua_db.c ---- */

/* Append to b, raising "not enough memory" when it cannot grow. [-0, +0, m] */
void mb_lua_db_append(lua_State *L, mb_buf *b, const char *s, size_t n);
void mb_lua_db_appends(lua_State *L, mb_buf *b, const char *s);
/* Log one line about the call (operation, the client's last AWS error, reason). */
void mb_lua_db_log(mb_lua_db_call *c, mb_log_level level, const char *what, int rc,
                   const mb_err *err);
/* Turn a ddb status into a ctx.fail object (or a memory error); never returns. conflict is the
 * 409's message. [-0, +0, v] */
int mb_lua_db_raise(lua_State *L, mb_lua_db_call *c, int rc, const mb_err *err,
                    const char *conflict);

/* ---- lua_db_tenant.c ---- */

/* The string at idx, of 1..max bytes, else a Lua error naming fn and what. [-0, +0, v] */
const char *mb_lua_db_check_str(lua_State *L, int idx, const char *fn, const char *what, size_t max,
                                size_t *len);
/* Copy opts.names / opts.values into the call's maps, refusing PK and our prefixes. [-0, +0, v] */
void mb_lua_db_copy_names(lua_State *L, mb_lua_db_call *c, int opts);
void mb_lua_db_copy_values(lua_State *L, mb_lua_db_call *c, int opts);
/* opts[key] as an expression checked for PK (borrowed from opts), or NULL when absent or opts is
 * 0. [-0, +0, v] */
const char *mb_lua_db_opt_expr(lua_State *L, mb_lua_db_call *c, int opts, const char *key,
                               size_t *n);
/* A handler-given attribute name at idx: a string, never PK or SK. [-0, +0, v] */
void mb_lua_db_check_attr(lua_State *L, mb_lua_db_call *c, int idx, const char *what);
/* Push "TENANT#<tenant>". [-0, +1, m] */
void mb_lua_db_push_pk(lua_State *L, const mb_lua_services *svc);
/* Replace the SK string on the top by namespace .. SK. [-1, +1, v] */
void mb_lua_db_ns_sk(lua_State *L, mb_lua_db_call *c);
/* Push {PK = <tenant>, SK = <key at idx>} (idx: a string or {SK = ...}). [-0, +1, v] */
void mb_lua_db_push_key(lua_State *L, mb_lua_db_call *c, int idx);
/* Push a copy of the item table at idx with PK added; a PK in it is refused. [-0, +1, v] */
void mb_lua_db_push_item(lua_State *L, mb_lua_db_call *c, int idx);
/* Remove PK and the SK namespace from the item at idx, when it is a table. [-0, +0, m] */
void mb_lua_db_strip(lua_State *L, int idx);
/* Strip every item of the list on top and mark it an array. [-0, +0, m] */
void mb_lua_db_strip_list(lua_State *L);

/* ---- lua_db_expr.c ---- */

/* Check the optional options table at idx: nil or a table; returns its index or 0. [-0, +0, v] */
int mb_lua_db_opts(lua_State *L, int idx);
/* t.ConsistentRead = true when opts.consistent is truthy. [-0, +0, m] */
void mb_lua_db_set_consistent(lua_State *L, int opts, int t);
/* Names, values, ConditionExpression and ReturnValues (default ret_default) of a write; returns
 * opts.conflict (borrowed from opts) or NULL. opts may be 0. [-0, +0, v] */
const char *mb_lua_db_write_opts(lua_State *L, mb_lua_db_call *c, int opts,
                                 const char *ret_default);
/* UpdateExpression from opts' set/remove/add/delete, or opts.expression. [-0, +0, v] */
void mb_lua_db_update_expr(lua_State *L, mb_lua_db_call *c, int opts);
/* KeyConditionExpression: the tenant's partition, narrowed by begins_with or between. opts may
 * be 0. [-0, +0, v] */
void mb_lua_db_key_condition(lua_State *L, mb_lua_db_call *c, int opts);
/* ProjectionExpression from opts.projection (checked for PK), when present; returns it (borrowed
 * from opts) or NULL. opts may be 0. [-0, +0, v] */
const char *mb_lua_db_projection(lua_State *L, mb_lua_db_call *c, int opts);
/* Filter, projection, order, consistency, limit of a query; returns the page size asked for (0:
 * none) and sets *exact when one item more than the page is asked for. [-0, +0, v] */
lua_Integer mb_lua_db_query_opts(lua_State *L, mb_lua_db_call *c, int opts, bool *exact);

/* ---- lua_db_cursor.c ---- */

/* Push the ExclusiveStartKey (PK added) of the cursor at idx, or raise a 400 fail. [-0, +1, v] */
void mb_lua_db_push_start_key(lua_State *L, mb_lua_db_call *c, int idx);
/* Replace the Query response on top by {items = [...], cursor = "..." | nil, count = n}.
 * [-1, +1, v] */
void mb_lua_db_query_page(lua_State *L, mb_lua_db_call *c, lua_Integer limit, bool exact);

#endif
