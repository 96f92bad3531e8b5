/* moonbase/tenant_store.h - tenant handlers in the single table: an append-only history of
 * versions per handler, one pointer item to the live version, a per-tenant handler count.
 * Key layout (this header is the one place that defines it):
 *   PK = "HANDLERS#<tenant>"  the tenant's platform partition. ctx.db builds every PK as
 *                             "TENANT#<tenant>" and refuses a PK from handlers, so no handler
 *                             can name this partition, whatever its tenant.
 *   SK = "PTR#<name>"         pointer: live (absent once deleted), latest (highest version
 *                             number handed out), updatedAt, size, sha256, author
 *   SK = "VER#<name>#<%010d>" version: source, size, sha256, author, createdAt [, rolledBackFrom]
 *   SK = "COUNT"              n = handlers with a live version (the 50-handler cap)
 * Every write is conditional: version numbers come from an atomic ADD on the pointer, a version
 * item is written once (attribute_not_exists), and the pointer moves only if it still holds what
 * the deploy expected, so concurrent deploys never overwrite each other's version.
 * Calls work on Lua tables (the ddb module's Lua layer) and must run inside a protected call:
 * Lua may raise a memory error; no C memory is held across a call.
 * Ownership: mb_tenant_store is a caller-owned view (ddb client, table name, tenant) borrowed
 * for the call. One request at a time. */
#ifndef MOONBASE_TENANT_STORE_H
#define MOONBASE_TENANT_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include <lua.h>

#include "moonbase/buf.h"
#include "moonbase/err.h"

struct mb_ddb;

#define MB_TENANT_PK_PREFIX "HANDLERS#"
#define MB_TENANT_PTR_PREFIX "PTR#"
#define MB_TENANT_VER_PREFIX "VER#"
#define MB_TENANT_COUNT_SK "COUNT"
/* The sort-key namespace of tenant handlers' own ctx.db data, inside "TENANT#<tenant>". */
#define MB_TENANT_DB_NAMESPACE "APP#"
/* Limits from the issue: 50 handlers per tenant, 64 KB of source, names of 1..40 bytes. */
#define MB_TENANT_MAX_HANDLERS 50
#define MB_TENANT_MAX_SOURCE (64u * 1024u)
#define MB_TENANT_MAX_NAME 40

typedef struct mb_tenant_store {
    struct mb_ddb *ddb;
    const char *table;
    mb_cur tenant;       /* resolved from the verified token; never empty */
    int64_t deadline_ms; /* of the invocation (0: none) */
} mb_tenant_store;

/* True when name matches [a-z0-9][a-z0-9-]{0,39}. */
bool mb_tenant_store_valid_name(mb_cur name);

/* Push the pointer item of `name` (a table: name, live, latest, updatedAt, size, sha256,
 * author) or nil when there is none. consistent: a strongly consistent read (1 RCU instead of
 * 0.5). Returns 0 [-0, +1] or an mb_status from the ddb module [-0, +0]. */
int mb_tenant_store_get_pointer(const mb_tenant_store *s, lua_State *L, mb_cur name,
                                bool consistent, mb_err *err);
/* Push version `version` of `name` (source included) or nil. [-0, +1] / [-0, +0] */
int mb_tenant_store_get_version(const mb_tenant_store *s, lua_State *L, mb_cur name,
                                int64_t version, mb_err *err);
/* Push an array of the live handlers' pointer items, ordered by name. [-0, +1] / [-0, +0] */
int mb_tenant_store_list(const mb_tenant_store *s, lua_State *L, mb_err *err);
/* Push an array of the versions of `name`, newest first, without their source. */
int mb_tenant_store_versions(const mb_tenant_store *s, lua_State *L, mb_cur name, mb_err *err);

typedef struct mb_tenant_deploy {
    mb_cur name;
    mb_cur source;            /* already checked: text, at most MB_TENANT_MAX_SOURCE, compiles */
    mb_cur author;            /* the deployer's sub */
    int64_t expected_version; /* < 0: none (a later deploy wins); 0: the handler must not exist */
    int64_t rolled_back_from; /* 0, or the version whose source this is (rollback) */
} mb_tenant_deploy;

/* Append a version and make it live. On success returns 0 with *version set. MB_ERR_CONFLICT:
 * the live version is not expected_version, or another deploy went live first (*current = the
 * live version then, 0 for none; a version allocated by the losing deploy stays in the history,
 * never live). MB_ERR_LIMIT: the tenant already has MB_TENANT_MAX_HANDLERS live handlers.
 * Other mb_status values come from DynamoDB. Pushes nothing. [-0, +0] */
int mb_tenant_store_deploy(const mb_tenant_store *s, lua_State *L, const mb_tenant_deploy *d,
                           int64_t *version, int64_t *current, mb_err *err);

/* Take `name` offline (the pointer loses `live`, its history stays) and free its slot.
 * MB_ERR_NOTFOUND when it has no live version. [-0, +0] */
int mb_tenant_store_delete(const mb_tenant_store *s, lua_State *L, mb_cur name, mb_err *err);

#endif
