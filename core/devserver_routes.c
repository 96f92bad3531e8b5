/* devserver_routes.c - which REST API resource a devserver request lands on: routes.lua loaded
 * in a sandboxed Lua state (the bootstrap's own loader), reloaded when the file changes. */
#include "moonbase/devserver_routes.h"

#include "moonbase/lua_host.h"
#include "moonbase/tenant_api.h"
#include "moonbase/text.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct mb_devroutes {
    const char *dir;
    pthread_mutex_t mu;
    mb_tenant_api *platform; /* /tenant/handlers, /t/{name}: the bootstrap's own routes */
    mb_router router;
    bool loaded;
    struct stat seen; /* routes.lua as last loaded: reload when it changes */
};

mb_devroutes *mb_devroutes_new(const char *handlers_dir, mb_err *err) {
    mb_devroutes *t = calloc(1, sizeof *t);
    if (t == NULL) {
        mb_err_set(err, MB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    t->dir = handlers_dir;
    pthread_mutex_init(&t->mu, NULL);
    return t;
}

void mb_devroutes_free(mb_devroutes *t) {
    if (t == NULL) {
        return;
    }
    mb_router_cleanup(&t->router);
    mb_tenant_api_free(t->platform);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

/* routes.lua into a fresh router (a throwaway Lua state: the devserver serves no Lua itself). */
static int s_load(const char *dir, mb_router *out, mb_tenant_api **platform, mb_err *err) {
    mb_lua_host_opts o = {.handlers_dir = dir, .dev_mode = true};
    mb_lua_host *host = mb_lua_host_new(&o, err);
    if (host == NULL) {
        return err ? err->status : MB_ERR_NOMEM;
    }
    /* The platform routes first (they win over routes.lua, as in the bootstrap); loaded once,
     * they never change while the devserver runs. */
    int rc = mb_tenant_api_load_routes(host, NULL, platform, out, 0, err);
    mb_lua_host_free(host);
    return rc;
}

/* Reload routes.lua when its inode, size or mtime changed since the last load. */
static void s_refresh(mb_devroutes *t) {
    char path[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof path, "%s/routes.lua", t->dir);
    if (stat(path, &st) != 0) {
        memset(&st, 0, sizeof st);
    }
    if (t->loaded && st.st_ino == t->seen.st_ino && st.st_size == t->seen.st_size &&
        st.st_mtim.tv_sec == t->seen.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == t->seen.st_mtim.tv_nsec) {
        return;
    }
    mb_router fresh = {0};
    mb_err err = {0};
    if (s_load(t->dir, &fresh, &t->platform, &err) != 0) {
        /* The workers report the same error to the client; keep the last good table. */
        fprintf(stderr, "devserver: routes.lua: %s\n", err.msg);
        mb_router_cleanup(&fresh);
    } else {
        mb_router_cleanup(&t->router);
        t->router = fresh;
    }
    t->seen = st;
    t->loaded = true;
}

/* The greedy fallback: "/{proxy+}" with proxy = the path without its leading '/'. */
static int s_proxy(mb_cur raw_path, mb_devroutes_hit *hit) {
    mb_cur rest = raw_path.len && raw_path.ptr[0] == '/'
                      ? (mb_cur){raw_path.ptr + 1, raw_path.len - 1}
                      : raw_path;
    hit->resource = strdup(rest.len ? "/{proxy+}" : "/");
    if (hit->resource == NULL) {
        return MB_ERR_NOMEM;
    }
    if (rest.len > 0) {
        if (mb_text_pct_decode_buf(&hit->text, rest, 0) != 0) {
            return MB_ERR_NOMEM;
        }
        hit->names[0] = MB_CUR_LIT("proxy");
        hit->values[0] = mb_buf_cur(&hit->text);
        hit->route.param_count = 1;
    }
    return 0;
}

/* Copy the match out of the router (which the next reload frees). */
static int s_copy(const mb_route_match *m, mb_devroutes_hit *hit) {
    size_t offs[MB_ROUTER_MAX_SEGMENTS * 2];
    hit->resource = strdup(m->route->pattern);
    int rc = hit->resource ? 0 : MB_ERR_NOMEM;
    for (size_t i = 0; rc == 0 && i < m->param_count; i++) {
        offs[2 * i] = hit->text.len;
        rc = mb_buf_append_cur(&hit->text, m->param_names[i]);
        offs[2 * i + 1] = hit->text.len;
        rc |= mb_buf_append_cur(&hit->text, m->param_values[i]);
    }
    for (size_t i = 0; rc == 0 && i < m->param_count; i++) {
        hit->names[i] = (mb_cur){hit->text.ptr + offs[2 * i], m->param_names[i].len};
        hit->values[i] = (mb_cur){hit->text.ptr + offs[2 * i + 1], m->param_values[i].len};
    }
    hit->route.param_count = rc == 0 ? m->param_count : 0;
    hit->route.cognito = m->route->auth;
    return rc == 0 ? 0 : MB_ERR_NOMEM;
}

int mb_devroutes_lookup(mb_devroutes *t, const char *method, mb_cur raw_path,
                        mb_devroutes_hit *hit) {
    memset(hit, 0, sizeof *hit);
    hit->route.param_names = hit->names;
    hit->route.param_values = hit->values;
    pthread_mutex_lock(&t->mu);
    s_refresh(t);
    mb_route_match m;
    mb_route_result r = MB_ROUTE_NOT_FOUND;
    if (t->platform != NULL) {
        r = mb_tenant_api_match(t->platform, mb_cur_from_cstr(method), raw_path, &m);
        if (r != MB_ROUTE_FOUND) {
            mb_route_match_cleanup(&m);
        }
    }
    if (r != MB_ROUTE_FOUND) {
        r = mb_router_match(&t->router, mb_cur_from_cstr(method), raw_path, &m);
    }
    /* Only a method the route declares has the API method (and its authorizer); anything else
     * reaches the function through the greedy resource, which answers 404/405 itself. */
    int rc = r == MB_ROUTE_FOUND ? s_copy(&m, hit) : 0;
    mb_route_match_cleanup(&m);
    pthread_mutex_unlock(&t->mu);
    if (rc == 0 && r != MB_ROUTE_FOUND) {
        rc = s_proxy(raw_path, hit);
    }
    hit->route.resource = hit->resource ? hit->resource : "/{proxy+}";
    return rc;
}

void mb_devroutes_hit_cleanup(mb_devroutes_hit *hit) {
    if (hit == NULL) {
        return;
    }
    free(hit->resource);
    mb_buf_cleanup(&hit->text);
    memset(hit, 0, sizeof *hit);
}
