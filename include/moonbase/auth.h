/* moonbase/auth.h - the glue between the request pipeline and JWT verification: parses the
 * Authorization header, verifies the bearer token (moonbase/jwt.h) against the issuer's JWKS
 * (moonbase/jwks.h, fetched over moonbase/http.h on first need), applies the route's token_use
 * and group rules and builds req.user in the Lua state.
 * Ownership: mb_auth_new() borrows cfg (it must outlive the auth object) and returns an object
 * freed by mb_auth_free(). The HTTP handle, key set and verifier are created on the first
 * mb_auth_authenticate() call, so a process serving only public routes never pays for them.
 * One invocation at a time (not thread-safe). */
#ifndef MOONBASE_AUTH_H
#define MOONBASE_AUTH_H

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
 * an HTTP GET through moonbase/http.h) and the wall clock used for exp/nbf/iat (default: time()).
 */
void mb_auth_set_transport(mb_auth *auth, mb_jwks_fetch_fn fetch, void *ud);
void mb_auth_set_clock(mb_auth *auth, mb_jwt_clock_fn now, void *ud);

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

/* Verify the Authorization header value ("Bearer <jwt>", scheme case-insensitive). On success
 * pushes the req.user table onto L's stack (sub, email, username, tenant = custom:tenant_id else
 * sub, groups (array), token_use, claims (raw claims table)) and returns 0 [-0, +1]. On failure
 * pushes nothing [-0, +0] and returns MB_ERR_UNAUTH (401), MB_ERR_FORBIDDEN (403, missing group)
 * or MB_ERR_UNAVAILABLE (503, JWKS unreachable or auth not configured), MB_ERR_NOMEM, with
 * err->msg a short reason safe to show a client (never the token, never which check failed
 * beyond "invalid token", "token expired", "token not yet valid", "missing bearer token"...).
 * The Lua table is built under lua_pcall, so a Lua memory error becomes MB_ERR_NOMEM. */
int mb_auth_authenticate(mb_auth *auth, lua_State *L, mb_cur authorization,
                         const mb_auth_rule *rule, mb_err *err);

/* Which check failed in the last mb_auth_authenticate() ("alg is not RS256", "iss mismatch",
 * "not in a required group"...), "" after success: for logs only, never for clients. */
const char *mb_auth_last_detail(const mb_auth *auth);

/* Parse an Authorization header value: "Bearer" (any case), one or more spaces, the token (no
 * spaces inside), optional surrounding whitespace. Returns 0 with *token borrowing from
 * `authorization`, or MB_ERR_UNAUTH. Exposed for tests. */
int mb_auth_bearer_token(mb_cur authorization, mb_cur *token);

#endif
