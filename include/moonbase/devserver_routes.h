/* moonbase/devserver_routes.h - the devserver's view of the REST API's resources: which route a
 * request matches (the platform's /tenant/handlers and /t/{name} routes first, then routes.lua:
 * its resource, path parameters and whether its method carries the Cognito authorizer), the way
 * sam/template.yaml deploys one API resource per route and a greedy "/{proxy+}" for the rest.
 * routes.lua is read in a sandboxed Lua state and read again when the file changes (the devserver
 * reloads edited handlers too). Ownership: mb_devroutes_new() returns a table freed by
 * mb_devroutes_free(); a lookup fills a caller-owned mb_devroutes_hit whose strings it allocates
 * and mb_devroutes_hit_cleanup() frees. Thread-safe: lookups from any thread (one mutex around the
 * table). */
#ifndef MOONBASE_DEVSERVER_ROUTES_H
#define MOONBASE_DEVSERVER_ROUTES_H

#include <stdbool.h>

#include "moonbase/buf.h"
#include "moonbase/devserver_apigw.h"
#include "moonbase/err.h"
#include "moonbase/router.h"

typedef struct mb_devroutes mb_devroutes;

typedef struct mb_devroutes_hit {
    mb_apigw_route route; /* points into this struct's own strings */
    char *resource;
    mb_cur names[MB_ROUTER_MAX_SEGMENTS];
    mb_cur values[MB_ROUTER_MAX_SEGMENTS];
    mb_buf text; /* owns the names and values */
} mb_devroutes_hit;

/* A table for HANDLERS_DIR (borrowed, must outlive it). Nothing is read until the first lookup.
 * Returns NULL when out of memory. */
mb_devroutes *mb_devroutes_new(const char *handlers_dir, mb_err *err);
void mb_devroutes_free(mb_devroutes *t);

/* The REST resource for method + raw path (path as sent, still percent-encoded). A routes.lua
 * that does not load gives the "/{proxy+}" resource (the function then reports its own error)
 * and a log line. Returns 0, or MB_ERR_NOMEM; the hit must be cleaned up either way. */
int mb_devroutes_lookup(mb_devroutes *t, const char *method, mb_cur raw_path,
                        mb_devroutes_hit *hit);
void mb_devroutes_hit_cleanup(mb_devroutes_hit *hit);

#endif
