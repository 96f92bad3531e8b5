/* app.c - the request pipeline (see moonbase/app.h). */
#include "moonbase/app.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

#include "moonbase/clock.h"
#include "moonbase/auth.h"
#include "moonbase/ddb.h"
#include "moonbase/emf.h"
#include "moonbase/event.h"
#include "moonbase/json.h"
#include "moonbase/log.h"
#include "moonbase/lua_api.h"
#include "moonbase/lua_host.h"
#include "moonbase/quota.h"
#include "moonbase/router.h"
#include "moonbase/secrets.h"
#include "moonbase/tenant_api.h"

/* Retry-After of every 503: the retries inside an invocation already spent up to its deadline on
 * throttling or an unreachable dependency, and the JWKS penalty box is MB_JWKS_RETRY_S (1 s). */
#define MB_APP_RETRY_AFTER_S "1"

struct mb_app {
    const mb_config *cfg;
    mb_lua_host *host;
    mb_router router;
    mb_log *log;
    mb_emf *emf;
    mb_auth *auth;
    mb_tenant_api *tenant; /* the platform routes: /tenant/handlers, /t/{name} */
    mb_lua_services svc;
    uint64_t invocations;
    mb_buf body; /* scratch for error texts; kept to avoid per-request allocation */
};

/* What one invocation accumulates on its way through the pipeline. */
typedef struct inv_state {
    const mb_invocation *inv;
    mb_event ev;
    mb_route_match match;
    const char *route_name; /* "GET /items/{id}" style, or NULL when unmatched */
    char route_buf[320];
    int64_t t0_ns;
    bool emf_begun;
    mb_buf *out;
} inv_state;

/* Run routes.lua in the current request environment and swap the route table in, in development
 * mode at the top of every request (start-up loads through mb_tenant_api_load_routes). */
static int s_load_routes(mb_app *app, mb_err *err) {
    mb_router fresh;
    int rc = mb_router_load_file(&fresh, app->host, app->cfg->cpu_max_ms, err);
    if (rc != 0) {
        return rc;
    }
    mb_router_cleanup(&app->router);
    app->router = fresh;
    return 0;
}

/* The AWS credentials of cfg, moved into *creds; an error names the missing variable. */
static int s_credentials(const mb_config *cfg, mb_sigv4_credentials *creds, mb_err *err) {
    if (!cfg->aws_access_key_id || !cfg->aws_secret_access_key) {
        return mb_err_set(err, MB_ERR_CONFIG, "%s is not set",
                          cfg->aws_access_key_id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
    }
    return mb_sigv4_credentials_set(creds, cfg->aws_access_key_id, cfg->aws_secret_access_key,
                                    cfg->aws_session_token, err);
}

/* The process's AWS clients, made once here and freed by mb_app_free: DynamoDB when TABLE_NAME
 * is set, Secrets Manager when a secret is configured (SECRET_ARNS, CURSOR_SECRET_ARN). Making
 * one costs no I/O (aws_json opens its connection on the first call), so a cold start that
 * serves only public routes pays nothing for them. A client that cannot be made is not an init
 * error: public routes keep working, and the call that needs it answers 503 with the reason
 * (svc.ddb_err, svc.secrets_err) in its log line. */
static void s_open_clients(mb_app *app) {
    const mb_config *cfg = app->cfg;
    mb_lua_services *svc = &app->svc;
    mb_sigv4_credentials creds = {0};
    if (!cfg->table_name) {
        mb_err_set(&svc->ddb_err, MB_ERR_CONFIG, "TABLE_NAME is not set");
    } else if (s_credentials(cfg, &creds, &svc->ddb_err) == 0) {
        mb_ddb_config dc = {.region = cfg->region, .endpoint = cfg->dynamodb_endpoint};
        svc->ddb = mb_ddb_new(&dc, &creds, &svc->ddb_err); /* takes creds, also on failure */
    }
    if (!cfg->secret_arn_count && !cfg->cursor_secret_arn) {
        mb_err_set(&svc->secrets_err, MB_ERR_CONFIG, "no secret is configured");
    } else if (s_credentials(cfg, &creds, &svc->secrets_err) == 0) {
        mb_secrets_config sc = {
            .region = cfg->region, .endpoint = cfg->secrets_endpoint, .ttl_s = cfg->secrets_ttl_s};
        svc->secrets = mb_secrets_new(&sc, &creds, &svc->secrets_err); /* takes creds */
    }
}

mb_app *mb_app_new(const mb_config *cfg, int log_fd, mb_err *err) {
    mb_app *app = calloc(1, sizeof *app);
    if (!app) {
        mb_err_set(err, MB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    app->cfg = cfg;
    mb_lua_host_opts opts = {
        .handlers_dir = cfg->handlers_dir,
        .dev_mode = cfg->dev_mode,
        .instruction_limit = cfg->instruction_limit,
        .cpu_ms = cfg->cpu_ms,
        .memory_limit = (size_t)cfg->memory_mb * 1024u * 1024u,
        .invocation_memory_limit = (size_t)cfg->invocation_memory_mb * 1024u * 1024u,
    };
    if (!(app->log = mb_log_new(cfg->log_level, log_fd, err)) ||
        !(app->emf = mb_emf_new(cfg->metrics_namespace, cfg->environment, log_fd, err)) ||
        !(app->auth = mb_auth_new(cfg, err)) || !(app->host = mb_lua_host_new(&opts, err))) {
        mb_app_free(app);
        return NULL;
    }
    mb_auth_set_log(app->auth, app->log);
    app->svc = (mb_lua_services){.cfg = cfg, .log = app->log, .emf = app->emf};
    s_open_clients(app);
    if (mb_tenant_api_load_routes(app->host, &app->svc, &app->tenant, &app->router, cfg->cpu_max_ms,
                                  err) != 0) {
        mb_app_free(app);
        return NULL;
    }
    return app;
}

void mb_app_free(mb_app *app) {
    if (!app) {
        return;
    }
    mb_lua_host_free(app->host); /* closes the state first: bindings may reference the rest */
    mb_ddb_free(app->svc.ddb);
    mb_secrets_free(app->svc.secrets);
    mb_router_cleanup(&app->router);
    mb_tenant_api_free(app->tenant);
    mb_auth_free(app->auth);
    mb_emf_free(app->emf);
    mb_log_free(app->log);
    mb_buf_cleanup(&app->body);
    free(app);
}

static const char *s_code_for(int status) {
    switch (status) {
    case 400:
        return "bad_request";
    case 401:
        return "unauthorized";
    case 403:
        return "forbidden";
    case 404:
        return "not_found";
    case 405:
        return "method_not_allowed";
    case 409:
        return "conflict";
    case 413:
        return "payload_too_large";
    case 429:
        return "too_many_requests";
    case 431:
        return "headers_too_large";
    case 503:
        return "unavailable";
    case 504:
        return "timeout";
    default:
        return status >= 500 ? "internal" : "bad_request";
    }
}

/* Push an error response table for status with a client-safe message. [-0, +1, m] */
static void s_push_error(mb_app *app, inv_state *st, int status, const char *message) {
    mb_event_push_error(mb_lua_host_state(app->host), status, s_code_for(status), message,
                        st->inv->request_id);
}

/* Add header name=value to the response table on the stack top. [-0, +0, m] */
static void s_set_header(lua_State *L, const char *name, mb_cur value) {
    if (lua_getfield(L, -1, "headers") != LUA_TTABLE) { /* stack: resp, headers? */
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, "headers");
    }
    lua_pushlstring(L, value.ptr ? value.ptr : "", value.len);
    lua_setfield(L, -2, name);
    lua_pop(L, 1); /* stack: resp */
}

/* The Route dimension and log route: the pattern as written, e.g. "GET /items/{id}". */
static void s_set_route(mb_app *app, inv_state *st) {
    const mb_route *rt = st->match.route;
    if (rt) {
        snprintf(st->route_buf, sizeof st->route_buf, "%s %s", rt->method, rt->pattern);
        st->route_name = st->route_buf;
        mb_log_set_route(app->log, mb_cur_from_cstr(st->route_name));
    }
    mb_emf_begin(app->emf, mb_cur_from_cstr(st->route_name ? st->route_name : ""));
    mb_emf_set_request(app->emf, st->inv->request_id, st->inv->trace_id);
    st->emf_begun = true;
}

/* OPTIONS on a known path: answer the CORS preflight without running a handler. The CORS
 * headers go only to allowed origins: others get a plain 204 with Allow, which browsers treat
 * as a refused preflight. */
static void s_push_preflight(mb_app *app, inv_state *st, lua_State *L) {
    lua_createtable(L, 0, 2); /* stack: resp */
    lua_pushinteger(L, 204);
    lua_setfield(L, -2, "status");
    mb_cur allow = mb_buf_cur(&st->match.allow);
    s_set_header(L, "allow", allow);
    if (st->ev.origin.len &&
        mb_config_origin_allowed(app->cfg, st->ev.origin.ptr, st->ev.origin.len)) {
        s_set_header(L, "access-control-allow-methods", allow);
        s_set_header(L, "access-control-allow-headers", MB_CUR_LIT("authorization, content-type"));
        s_set_header(L, "access-control-max-age", MB_CUR_LIT("600"));
    }
}

/* Route the request; on success leaves nothing and returns true, else pushes the response. */
static bool s_route(mb_app *app, inv_state *st, lua_State *L, int req) {
    mb_err err = {0};
    if (app->cfg->dev_mode && s_load_routes(app, &err) != 0) {
        mb_log_writef(app->log, MB_LOG_ERROR, "routes.lua: %s", err.msg);
        s_push_error(app, st, 500, err.msg); /* dev mode only: the learner needs file and line */
        return false;
    }
    mb_route_result r = mb_tenant_api_match(app->tenant, st->ev.method, st->ev.path, &st->match);
    if (r == MB_ROUTE_NOT_FOUND) { /* not a platform route: routes.lua */
        mb_route_match_cleanup(&st->match);
        r = mb_router_match(&app->router, st->ev.method, st->ev.path, &st->match);
    }
    s_set_route(app, st);
    bool options = mb_cur_eq(st->ev.method, MB_CUR_LIT("OPTIONS"));
    if (r == MB_ROUTE_BAD_PATH) {
        s_push_error(app, st, 400, "invalid path");
    } else if (r == MB_ROUTE_NOMEM) {
        s_push_error(app, st, 500, "internal error");
    } else if (r == MB_ROUTE_NOT_FOUND) {
        s_push_error(app, st, 404, "no route matches this path");
    } else if (r == MB_ROUTE_METHOD_NOT_ALLOWED && options) {
        s_push_preflight(app, st, L);
    } else if (r == MB_ROUTE_METHOD_NOT_ALLOWED) {
        s_push_error(app, st, 405, "method not allowed on this path");
        s_set_header(L, "allow", mb_buf_cur(&st->match.allow));
    } else {
        lua_getfield(L, req, "params"); /* stack: params */
        for (size_t i = 0; i < st->match.param_count; i++) {
            mb_cur n = st->match.param_names[i], v = st->match.param_values[i];
            lua_pushlstring(L, n.ptr, n.len);
            lua_pushlstring(L, v.ptr, v.len);
            lua_rawset(L, -3);
        }
        lua_pop(L, 1);
        return true;
    }
    return false;
}

static mb_cur s_str_field(lua_State *L, int t, const char *key) {
    lua_getfield(L, t, key);
    size_t len = 0;
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
    lua_pop(L, 1); /* still referenced by the table at t, which outlives the invocation's use */
    return (mb_cur){s, len};
}

/* Verify the bearer token for an auth route: the claims (a C struct) give the tenant, sub and
 * log fields; req.user is built from them once, for the handler. Pushes a 401/403/503 on
 * failure. */
static bool s_authenticate(mb_app *app, inv_state *st, lua_State *L, int req) {
    const mb_route *rt = st->match.route;
    mb_auth_rule rule = {(mb_token_use)rt->token_use, (const char *const *)rt->groups,
                         rt->group_count};
    mb_err err = {0};
    const mb_auth_claims *who = NULL;
    int rc = mb_auth_authenticate(app->auth, st->ev.authorization, &rule, &who, &err);
    const char *detail = mb_auth_last_detail(app->auth); /* which check failed: logs only */
    if (rc == 0 && (rc = mb_auth_push_user(L, who, &err)) != 0) {
        detail = "building req.user failed";
    }
    if (rc == 0) {                                     /* stack: user */
        app->svc.tenant = mb_tenant_key(&who->tenant); /* both live until the next auth */
        app->svc.user_sub = who->sub;
        mb_log_set_user(app->log, app->svc.tenant, app->svc.user_sub);
        lua_setfield(L, req, "user");
        return true;
    }
    int status = rc == MB_ERR_FORBIDDEN ? 403 : rc == MB_ERR_UNAVAILABLE ? 503 : 401;
    mb_log_field f[2] = {mb_log_field_str("reason", mb_cur_from_cstr(err.msg)),
                         mb_log_field_str("detail", mb_cur_from_cstr(detail ? detail : ""))};
    mb_log_write(app->log, status == 503 ? MB_LOG_ERROR : MB_LOG_WARN, "authentication failed", f,
                 2);
    s_push_error(app, st, status, err.msg[0] ? err.msg : "invalid token");
    if (status == 401) {
        s_set_header(L, "www-authenticate", MB_CUR_LIT("Bearer error=\"invalid_token\""));
    }
    return false;
}

/* Take one request from the tenant's quota (QUOTA_REQUESTS per QUOTA_WINDOW_SECONDS) and, where
 * the route sets `quota = N`, from the route's; a spent quota is a 429 with Retry-After and counts
 * in the Throttled metric. A counter that cannot be reached (no table, DynamoDB down) lets the
 * request through with an error log: the quota protects the service, it must not take it down. */
static bool s_check_quota(mb_app *app, inv_state *st, lua_State *L) {
    const mb_config *cfg = app->cfg;
    const mb_route *rt = st->match.route;
    if ((!cfg->quota_requests && !rt->quota) || !app->svc.tenant.len) {
        return true;
    }
    mb_err err = app->svc.ddb_err;
    mb_ddb *ddb = app->svc.ddb;
    int retry = 0, rc = ddb ? 0 : err.status;
    mb_quota_request q = {cfg->table_name,     app->svc.tenant,
                          MB_CUR_LIT("*"),     cfg->quota_requests,
                          cfg->quota_window_s, mb_clock_now_ms(app->svc.clock)};
    if (rc == 0 && q.limit) {
        rc = mb_quota_take(ddb, &q, st->inv->deadline_ms, &retry, &err);
    }
    if (rc == 0 && rt->quota) {
        q.scope = mb_cur_from_cstr(st->route_name);
        q.limit = rt->quota;
        rc = mb_quota_take(ddb, &q, st->inv->deadline_ms, &retry, &err);
    }
    if (rc == 0) {
        return true;
    }
    mb_log_field f = mb_log_field_str("reason", mb_cur_from_cstr(err.msg));
    if (rc != MB_ERR_LIMIT) {
        mb_log_write(app->log, MB_LOG_ERROR, "quota counter unavailable: request let through", &f,
                     1);
        return true;
    }
    mb_log_write(app->log, MB_LOG_WARN, "tenant quota spent", &f, 1);
    (void)mb_emf_put(app->emf, MB_CUR_LIT("Throttled"), 1, MB_CUR_LIT("Count"), NULL);
    s_push_error(app, st, 429, "request quota exceeded; retry later");
    char secs[16];
    snprintf(secs, sizeof secs, "%d", retry);
    s_set_header(L, "retry-after", mb_cur_from_cstr(secs));
    return false;
}

static bool s_is_json_type(mb_cur ct) {
    size_t n = 0;
    while (n < ct.len && ct.ptr[n] != ';') {
        n++;
    }
    while (n && ct.ptr[n - 1] == ' ') {
        n--;
    }
    mb_cur type = {ct.ptr, n};
    return mb_cur_eq_icase(type, MB_CUR_LIT("application/json")) ||
           (n > 5 && mb_cur_eq_icase((mb_cur){ct.ptr + n - 5, 5}, MB_CUR_LIT("+json")));
}

/* A JSON body is parsed strictly before the handler runs: req.json, or a 400. */
static bool s_parse_body(mb_app *app, inv_state *st, lua_State *L, int req) {
    if (st->ev.body_len == 0 || !s_is_json_type(st->ev.content_type)) {
        return true;
    }
    lua_getfield(L, req, "body"); /* stack: body */
    mb_cur body = s_str_field(L, req, "body");
    mb_err err = {0};
    int rc = mb_json_decode(L, body, MB_JSON_MAX_DEPTH, &err);
    if (rc == MB_ERR_NOMEM) {
        lua_pop(L, 1);
        s_push_error(app, st, 500, "internal error");
        return false;
    }
    if (rc != 0) {
        lua_pop(L, 1);
        mb_buf_reset(&app->body);
        (void)mb_buf_appendf(&app->body, "request body is not valid JSON: %s", err.msg);
        s_push_error(app, st, 400, app->body.ptr);
        return false;
    }
    lua_setfield(L, req, "json"); /* stack: body */
    lua_pop(L, 1);
    return true;
}

/* Turn a failed handler call into a response; the details go to the logs only. */
static void s_push_outcome(mb_app *app, inv_state *st, const mb_lua_result *res) {
    lua_State *L = mb_lua_host_state(app->host);
    if (res->outcome == MB_LUA_FAIL) {
        int status = res->status;
        const char *code = res->code[0] ? res->code : s_code_for(status);
        mb_event_push_error(L, status, code, res->message.ptr ? res->message.ptr : "",
                            st->inv->request_id);
        if (res->field[0]) {
            lua_getfield(L, -1, "body");
            lua_pushstring(L, res->field);
            lua_setfield(L, -2, "field");
            lua_pop(L, 1);
        }
        return;
    }
    mb_log_lua_error(app->log, mb_cur_from_cstr(res->error_type), mb_buf_cur(&res->message),
                     mb_buf_cur(&res->traceback));
    if (res->outcome == MB_LUA_TIMEOUT) {
        s_push_error(app, st, 504, "the handler did not finish in time");
    } else if (res->outcome == MB_LUA_LOAD_ERROR && app->cfg->dev_mode) {
        s_push_error(app, st, 500, res->message.ptr); /* dev mode: say file and line */
    } else {
        s_push_error(app, st, 500, "internal error");
    }
}

typedef struct run_args {
    mb_app *app;
    inv_state *st;
    mb_cur event;
    mb_lua_result *res;
} run_args;

/* The pipeline up to a response table, which it leaves on the stack top. */
static void s_pipeline(mb_app *app, inv_state *st, lua_State *L, mb_cur event, mb_lua_result *res) {
    mb_err err = {0};
    if (event.len > MB_EVENT_MAX_BYTES) {
        s_push_error(app, st, 413, "event larger than Lambda's 6 MB payload limit");
        return;
    }
    int rc = mb_json_decode(L, event, MB_JSON_MAX_DEPTH, &err);
    if (rc != 0) { /* out of memory is ours (500), anything else the event's fault (400) */
        s_push_error(app, st, rc == MB_ERR_NOMEM ? 500 : 400,
                     rc == MB_ERR_NOMEM ? "internal error" : "event is not valid JSON");
        return;
    } /* stack: event */
    if (mb_event_to_request(L, -1, &st->ev, &err) != 0) {
        s_push_error(app, st, st->ev.reject_status, err.msg);
        return;
    } /* stack: event, req */
    int req = lua_gettop(L);
    mb_log_set_request(app->log, st->ev.method, st->ev.path); /* begun in mb_app_handle */
    lua_pushlstring(L, st->inv->request_id.ptr, st->inv->request_id.len);
    lua_setfield(L, req, "request_id");
    if (!s_route(app, st, L, req) || (st->match.route->auth && !s_authenticate(app, st, L, req)) ||
        (st->match.route->auth && !s_check_quota(app, st, L)) || !s_parse_body(app, st, L, req)) {
        return;
    }
    mb_lua_host_set_cpu_budget(app->host, st->match.route->cpu_ms); /* 0: the default */
    mb_lua_open_api(L);                                             /* stack: event, req, ctx */
    const mb_route *rt = st->match.route;
    mb_lua_outcome out = mb_tenant_api_owns(app->tenant, rt)
                             ? mb_tenant_api_dispatch(app->tenant, app->host, rt, req, res)
                             : mb_lua_host_call(app->host, rt->handler, req, -1, res);
    if (out != MB_LUA_OK) {
        s_push_outcome(app, st, res);
    } /* stack: event, req, ctx, response */
}

/* The API's security headers (docs/security.md). Forced ones replace whatever the handler set:
 * a handler cannot make an authenticated answer cacheable, let a browser sniff a JSON body into
 * HTML, or grant CORS itself (only CORS_ALLOWED_ORIGINS does, and config refuses '*' outside
 * local/dev/test). The rest are defaults a handler may override. resp is the response table. */
static size_t s_security_headers(const inv_state *st, lua_State *L, int resp, mb_event_header *h) {
    size_t n = 0;
    bool json = false;
    if (lua_type(L, resp) == LUA_TTABLE) {
        lua_pushliteral(L, "body");
        json = lua_rawget(L, resp) == LUA_TTABLE; /* a table body is sent as JSON */
        lua_pop(L, 1);
    }
    h[n++] = (mb_event_header){"x-content-type-options", MB_CUR_LIT("nosniff"), true};
    h[n++] =
        (mb_event_header){"content-security-policy",
                          MB_CUR_LIT("default-src 'none'; frame-ancestors 'none'; sandbox"), json};
    if (st->match.route && st->match.route->auth) { /* per-user data: no cache may keep it */
        h[n++] = (mb_event_header){"cache-control", MB_CUR_LIT("no-store"), true};
    }
    h[n++] = (mb_event_header){"x-frame-options", MB_CUR_LIT("DENY"), false};
    h[n++] = (mb_event_header){"referrer-policy", MB_CUR_LIT("no-referrer"), false};
    h[n++] = (mb_event_header){"strict-transport-security",
                               MB_CUR_LIT("max-age=31536000; includeSubDomains"), false};
    return n;
}

/* Encode the response on the stack top; an invalid one (a handler bug) becomes a logged 500. */
static int s_encode(mb_app *app, inv_state *st, lua_State *L, mb_buf *out) {
    mb_event_header extra[16];
    size_t n = 0;
    extra[n++] = (mb_event_header){"x-request-id", st->inv->request_id, true};
    if (st->ev.origin.len &&
        mb_config_origin_allowed(app->cfg, st->ev.origin.ptr, st->ev.origin.len)) {
        extra[n++] = (mb_event_header){"access-control-allow-origin", st->ev.origin, true};
        extra[n++] = (mb_event_header){"vary", MB_CUR_LIT("Origin"), false};
        extra[n++] =
            (mb_event_header){"access-control-expose-headers", MB_CUR_LIT("x-request-id"), false};
    } else { /* {NULL} value + force: the handler's own header is dropped, none is sent */
        extra[n++] = (mb_event_header){"access-control-allow-origin", {0}, true};
    }
    extra[n++] = (mb_event_header){"access-control-allow-credentials", {0}, true};
    /* A 503 (a dependency down or throttling past the retries: docs/observability.md, "Failure
     * behaviour") tells clients when to come back, as RFC 9110 asks; a handler may set its own. */
    if (lua_type(L, -1) == LUA_TTABLE) {
        lua_pushliteral(L, "status");
        if (lua_rawget(L, -2) == LUA_TNUMBER && lua_tointeger(L, -1) == 503) {
            extra[n++] = (mb_event_header){"retry-after", MB_CUR_LIT(MB_APP_RETRY_AFTER_S), false};
        }
        lua_pop(L, 1);
    }
    n += s_security_headers(st, L, lua_gettop(L), extra + n);
    int status = 500;
    mb_err err = {0};
    if (mb_event_encode_response(L, -1, &st->ev, extra, n, out, &status, &err) == 0) {
        return status;
    }
    mb_log_field f = mb_log_field_str("reason", mb_cur_from_cstr(err.msg));
    mb_log_set_error_type(app->log, MB_CUR_LIT("InvalidResponse"));
    mb_log_write(app->log, MB_LOG_ERROR, "handler returned an invalid response", &f, 1);
    s_push_error(app, st, 500, "internal error");
    if (mb_event_encode_response(L, -1, &st->ev, extra, n, out, &status, &err) != 0) {
        return -1;
    }
    return status;
}

static int s_run_protected(lua_State *L) {
    run_args *a = lua_touserdata(L, 1);
    mb_lua_host_begin(a->app->host, a->st->inv->deadline_ms); /* allocates: inside the pcall */
    s_pipeline(a->app, a->st, L, a->event, a->res);
    int status = s_encode(a->app, a->st, L, a->st->out);
    lua_pushinteger(L, status);
    return 1;
}

static void s_finish(mb_app *app, inv_state *st, int status, size_t event_len) {
    double ms = (double)(mb_clock_mono_ns(NULL) - st->t0_ns) / 1e6;
    bool cold = app->invocations == 0;
    if (!st->emf_begun) {
        mb_emf_begin(app->emf, MB_CUR_LIT(""));
        mb_emf_set_request(app->emf, st->inv->request_id, st->inv->trace_id);
    }
    mb_log_access a = {status, ms, event_len, st->out->len};
    mb_log_access_line(app->log, &a);
    mb_emf_finish(app->emf, status, ms, cold, mb_clock_now_ms(NULL));
    mb_log_end(app->log);
}

int mb_app_handle(mb_app *app, mb_cur event, const mb_invocation *inv, mb_buf *out) {
    inv_state st = {.inv = inv, .t0_ns = mb_clock_mono_ns(NULL), .out = out};
    mb_lua_result res = {0};
    lua_State *L = mb_lua_host_state(app->host);
    int base = lua_gettop(L);
    app->svc.request_id = inv->request_id;
    app->svc.deadline_ms = inv->deadline_ms;
    app->svc.tenant = app->svc.user_sub = app->svc.db_namespace = (mb_cur){0};
    app->svc.tenant_code = false;
    mb_log_request lr = {inv->request_id, inv->trace_id, {0}, {0}, app->invocations == 0};
    mb_log_begin(app->log, &lr);
    run_args args = {app, &st, event, &res};
    int status = -1;
    if (mb_lua_aux_cpcall(L, s_run_protected, 0, &args, 1) == LUA_OK) {
        status = (int)lua_tointeger(L, -1);
    }
    if (status < 0) { /* not even an error response could be built: answer without Lua */
        mb_log_writef(app->log, MB_LOG_ERROR, "could not build a response (out of memory)");
        mb_buf_reset(out);
        (void)mb_buf_append_cstr(out, MB_EVENT_FALLBACK_500);
        status = 500;
    }
    lua_settop(L, base);
    mb_lua_host_end(app->host);
    s_finish(app, &st, status, event.len);
    mb_route_match_cleanup(&st.match);
    mb_lua_result_cleanup(&res);
    app->svc.request_id = app->svc.tenant = app->svc.user_sub = (mb_cur){0};
    app->invocations++;
    return status;
}
