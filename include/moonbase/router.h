/* moonbase/router.h - the route table from HANDLERS_DIR/routes.lua and path matching.
 * Patterns are literal segments and {param} segments ("/items/{id}"); a last segment {name+}
 * is greedy (API Gateway's {proxy+}): it matches one or more segments, "a/b/c" in params. Matching
 * works on percent-decoded segments; "." and ".." segments, NUL bytes and malformed escapes are
 * rejected before any handler can see them. The most specific route wins (most literal segments,
 * then table order). Ownership: mb_router_load() fills a caller-owned router that
 * mb_router_cleanup() releases. A match borrows from the router and from the match's own scratch
 * buffer. */
#ifndef MOONBASE_ROUTER_H
#define MOONBASE_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include <lua.h>

#include "moonbase/buf.h"
#include "moonbase/err.h"
#include "moonbase/lua_host.h"

#define MB_ROUTER_MAX_ROUTES 256
#define MB_ROUTER_MAX_SEGMENTS 32
#define MB_ROUTER_MAX_GROUPS 16
#define MB_ROUTER_MAX_PATH 4096
/* cpu_ms above this is a typo, not a budget: 10 minutes is more than any Lambda function runs. */
#define MB_ROUTER_MAX_CPU_MS 600000

typedef enum mb_route_token_use {
    MB_ROUTE_TOKEN_ANY = 0,
    MB_ROUTE_TOKEN_ID = 1,
    MB_ROUTE_TOKEN_ACCESS = 2,
} mb_route_token_use;

typedef struct mb_route {
    char *method;  /* upper case, or "ANY" */
    char *pattern; /* as written, e.g. "/items/{id}" (also the metric/log route name) */
    char *handler; /* file name without .lua */
    bool auth;
    mb_route_token_use token_use;
    char *groups[MB_ROUTER_MAX_GROUPS];
    size_t group_count;
    unsigned cpu_ms; /* cpu_ms = N: the handler's CPU-time budget; 0 = the platform default */
    unsigned quota;  /* quota = N: requests per tenant per quota window on this route; 0 = none */
    mb_cur segs[MB_ROUTER_MAX_SEGMENTS]; /* borrow from pattern; a param is "{name}" */
    size_t seg_count;
    size_t literal_count;
    bool greedy; /* the last segment is {name+} */
} mb_route;

typedef struct mb_router {
    mb_route *routes;
    size_t count;
} mb_router;

typedef enum mb_route_result {
    MB_ROUTE_FOUND = 0,
    MB_ROUTE_NOT_FOUND,
    MB_ROUTE_METHOD_NOT_ALLOWED, /* the path exists with other methods: see allow */
    MB_ROUTE_BAD_PATH,           /* malformed or dangerous path: 400 */
    MB_ROUTE_NOMEM,              /* no memory to decode the path: 500 */
} mb_route_result;

typedef struct mb_route_match {
    const mb_route *route;
    size_t param_count;
    mb_cur param_names[MB_ROUTER_MAX_SEGMENTS];  /* without braces, borrow from the route */
    mb_cur param_values[MB_ROUTER_MAX_SEGMENTS]; /* decoded, borrow from scratch */
    mb_buf scratch;                              /* decoded segments; owned by the match */
    mb_buf allow;                                /* "GET, PUT, OPTIONS" for 405 and preflight */
} mb_route_match;

/* Read the route list at stack index idx (what routes.lua returned). Each entry is
 * { METHOD, "/pattern", "handler", auth = bool, groups = {...}, token_use = "id"|"access",
 *   cpu_ms = 1..MB_ROUTER_MAX_CPU_MS }. The platform's own maximum (config) is checked by
 * mb_router_load_file.
 * On error returns MB_ERR_CONFIG with a message naming the entry and the problem, or MB_ERR_NOMEM.
 * Lua may raise a memory error only before any route is allocated. [-0, +0, m] */
int mb_router_load(mb_router *r, lua_State *L, int idx, mb_err *err);
/* Run HANDLERS_DIR/routes.lua in the host's current request environment and read the table it
 * returns into *r, as mb_router_load(). The one loader of routes.lua: the app at start-up and on
 * every development-mode request, the devserver to learn its API Gateway resources. cpu_max_ms,
 * when not 0, is the platform's maximum (MOONBASE_CPU_MAX_MS): a route asking for more is
 * MB_ERR_CONFIG naming it. Call between mb_lua_host_begin() and mb_lua_host_end(), inside a
 * protected call. Returns 0, or an error (the file and line of a Lua error, or the bad entry)
 * with *r left empty. [-0, +0, m] */
int mb_router_load_file(mb_router *r, mb_lua_host *host, unsigned cpu_max_ms, mb_err *err);
void mb_router_cleanup(mb_router *r);

/* Match method + raw (percent-encoded) path. The match must be cleaned up by the caller with
 * mb_route_match_cleanup() whatever the result. */
mb_route_result mb_router_match(const mb_router *r, mb_cur method, mb_cur path, mb_route_match *m);
void mb_route_match_cleanup(mb_route_match *m);

#endif
