/* moonbase/auth.h - the glue between the request pipeline and JWT verification: parses the
 * Authorization header, verifies the bearer token (moonbase/jwt.h) against the issuer's JWKS
 * (moonbase/jwks.h, fetched over moonbase/http.h on first need), applies the route's token_use
 * and group rules, and resolves the request's tenant (the Tenancy section below) into a C struct,
 * mb_auth_claims, that the pipeline reads (tenant, sub, quota, logs); req.user is built from that
 * struct once, for the handler (mb_auth_push_user).
 * Ownership: mb_auth_new() borrows cfg (it must outlive the auth object) and returns an object
 * freed by mb_auth_free(). The claims belong to the auth object (see mb_auth_claims). The HTTP
 * handle, key set and verifier are created on the first mb_auth_authenticate() call, so a process
 * serving only public routes never pays for them. One invocation at a time (not thread-safe). */
#ifndef MOONBASE_AUTH_H
#define MOONBASE_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include <lua.h>

#include "moonbase/buf.h"
#include "moonbase/config.h"
#include "moonbase/err.h"
#include "moonbase/jwks.h"
#include "moonbase/jwt.h"

typedef struct mb_auth mb_auth;
struct mb_log;

/* Cheap: no network, no crypto init. Returns NULL only on allocation failure (MB_ERR_NOMEM);
 * a missing issuer or client id is reported per request as 503, so public routes keep working. */
mb_auth *mb_auth_new(const mb_config *cfg, mb_err *err);
/* Free everything. Accepts NULL. */
void mb_auth_free(mb_auth *auth);
/* Optional: log JWKS fetch failures and rejected keys through `log` (borrowed); without it they
 * go to stderr as one JSON line. */
void mb_auth_set_log(mb_auth *auth, struct mb_log *log);

/* Test seams, to call before the first mb_auth_authenticate(): replace the JWKS transport (default:
 * an HTTP GET through moonbase/http.h) and the clock (copied): its wall time checks exp/nbf/iat,
 * its monotonic time paces JWKS refetches (NULL members: the real ones). */
void mb_auth_set_transport(mb_auth *auth, mb_jwks_fetch_fn fetch, void *ud);
void mb_auth_set_clock(mb_auth *auth, const mb_clock *clock);

typedef enum {
    MB_TOKEN_USE_ANY = 0,
    MB_TOKEN_USE_ID = 1,
    MB_TOKEN_USE_ACCESS = 2,
} mb_token_use;

/* A route's rule: the token_use it accepts, and groups of which the user must belong to at
 * least one (group_count 0: any authenticated user). */
typedef struct mb_auth_rule {
    mb_token_use token_use;
    const char *const *groups;
    size_t group_count;
} mb_auth_rule;

/* ---- Tenancy ----
 * Every authenticated request has exactly one tenant, resolved here from the verified token and
 * from nothing else. Two namespaces that can never be mistaken for one another:
 *   personal: the user is in no tenant group. Key "user:<sub>" (sub: 1-128 of [A-Za-z0-9._-]).
 *   named:    the user is in exactly one Cognito group "tenant:<name>" (name: 1-63 of [a-z0-9-],
 *             starting with a letter or digit). Key "org:<name>".
 * Group membership is the source of truth because only an administrator can add a user to a
 * group (AdminAddUserToGroup), in Cognito and in cognito-local alike, and because both token types
 * carry cognito:groups: an ID token and an access token of the same user resolve the same tenant.
 * custom:tenant_id (ID tokens only; access tokens never carry it) is a cross-check: when present
 * it must equal the group's name. A user attribute is not trusted on its own: cognito-local lets
 * SignUp write any attribute (it stores an app client's WriteAttributes but never enforces them),
 * and a misconfigured Cognito client could too.
 * Refused (403, "no valid tenant for this user"): custom:tenant_id without the matching group,
 * more than one tenant group, a malformed tenant name, a sub outside the shape above.
 * ctx.db stores a tenant's items under PK = "TENANT#" + key ("TENANT#user:<sub>",
 * "TENANT#org:acme"). */
#define MB_TENANT_GROUP_PREFIX "tenant:"
#define MB_TENANT_NAME_MAX 63
#define MB_TENANT_SUB_MAX 128
/* "user:" + sub, the longer of the two key shapes, and a NUL. */
#define MB_TENANT_KEY_CAP (sizeof "user:" - 1 + MB_TENANT_SUB_MAX + 1)

typedef enum {
    MB_TENANT_NONE = 0, /* not resolved: public route, or authentication failed */
    MB_TENANT_PERSONAL = 1,
    MB_TENANT_NAMED = 2,
} mb_tenant_kind;

/* A resolved tenant; self-contained (no pointer into the token). */
typedef struct mb_tenant {
    mb_tenant_kind kind;
    char key[MB_TENANT_KEY_CAP]; /* "user:<sub>" | "org:<name>", NUL-terminated; "" for NONE */
    size_t key_len;
    size_t id_off; /* key + id_off is the sub or the name */
} mb_tenant;

/* The tenant's key and its id part (sub or name) as borrowed views of t. */
mb_cur mb_tenant_key(const mb_tenant *t);
mb_cur mb_tenant_id(const mb_tenant *t);
/* "personal", "named" or "none". */
const char *mb_tenant_kind_name(mb_tenant_kind kind);
/* True when `name` is a valid named-tenant name (see above). */
bool mb_tenant_name_valid(mb_cur name);

/* Resolve the tenant of verified claims by the rules above. Returns 0 with *out filled, or
 * MB_ERR_FORBIDDEN with *out kind NONE and *detail (may be NULL) a static reason for logs. */
int mb_auth_resolve_tenant(const mb_jwt_claims *claims, mb_tenant *out, const char **detail);

/* Who a verified request comes from: what the pipeline needs in C and what req.user is built
 * from. Ownership: the struct belongs to the auth object; the views borrow from the verifier's
 * copy of the token's claims (moonbase/jwt.h) and the tenant is held in the struct itself, so
 * all of it stays valid until the next mb_auth_authenticate() or mb_auth_free(). */
typedef struct mb_auth_claims {
    mb_tenant tenant;       /* resolved from the token only (Tenancy above) */
    mb_cur sub;             /* the verified sub */
    mb_cur email;           /* empty when absent */
    mb_cur username;        /* cognito:username (id) or username (access), else sub */
    mb_cur groups;          /* the cognito:groups JSON array text, empty when absent */
    mb_token_use token_use; /* MB_TOKEN_USE_ID or MB_TOKEN_USE_ACCESS */
    mb_cur payload;         /* the whole decoded payload: one strictly valid JSON object */
} mb_auth_claims;

/* The claims of the last successful mb_auth_authenticate() (what it returned); zeroed, tenant
 * kind NONE, after a failure. Valid for the auth object's life, content until the next call. */
const mb_auth_claims *mb_auth_claims_of(const mb_auth *auth);
/* The tenant of the last successful mb_auth_authenticate(); kind NONE after a failure. The
 * pointer stays valid for the auth object's life, its content until the next authenticate. */
const mb_tenant *mb_auth_tenant(const mb_auth *auth);

/* Verify the Authorization header value ("Bearer <jwt>", scheme case-insensitive), apply the
 * rule and resolve the tenant. No Lua, no allocation on a warm path. Returns 0 with *claims set
 * (see mb_auth_claims for its lifetime), or MB_ERR_UNAUTH (401), MB_ERR_FORBIDDEN (403, missing
 * group or no valid tenant), MB_ERR_UNAVAILABLE (503, JWKS unreachable or auth not configured),
 * MB_ERR_NOMEM, with *claims NULL and err->msg a short reason safe to show a client (never the
 * token, never which check failed beyond "invalid token", "token expired", "token not yet
 * valid", "missing bearer token"...). */
int mb_auth_authenticate(mb_auth *auth, mb_cur authorization, const mb_auth_rule *rule,
                         const mb_auth_claims **claims, mb_err *err);

/* Push the req.user table built from claims: sub, email, username, tenant (the key above),
 * tenant_kind ("personal" | "named"), tenant_name (named only), groups (array), token_use ("id"
 * | "access"), claims (the raw claims as a table). Built under a protected call: returns 0
 * [-0, +1], or MB_ERR_NOMEM when Lua ran out of memory [-0, +0]. */
int mb_auth_push_user(lua_State *L, const mb_auth_claims *claims, mb_err *err);

/* Which check failed in the last mb_auth_authenticate() ("alg is not RS256", "iss mismatch",
 * "not in a required group"...), "" after success: for logs only, never for clients. */
const char *mb_auth_last_detail(const mb_auth *auth);

/* Parse an Authorization header value: "Bearer" (any case), one or more spaces, the token (no
 * spaces inside), optional surrounding whitespace. Returns 0 with *token borrowing from
 * `authorization`, or MB_ERR_UNAUTH. Exposed for tests. */
int mb_auth_bearer_token(mb_cur authorization, mb_cur *token);

#endif
