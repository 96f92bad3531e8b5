/* lua_secret.c - ctx.secret(name): a Secrets Manager value for a handler (moonbase/lua_api.h),
 * only for secrets the configuration allows (SECRET_ARNS: the ARNs the function's IAM policy
 * names; a handler may ask by the secret's name or by its ARN), through the app's cached client
 * (svc->secrets, moonbase/secrets.h). Every value read is handed to the logger's redaction, so it
 * never appears in a log line, whoever logs it. */
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "moonbase/config.h"
#include "moonbase/log.h"
#include "moonbase/lua_aux.h"
#include "moonbase/secrets.h"

/* The name part of a Secrets Manager ARN: "arn:aws:secretsmanager:<region>:<account>:secret:
 * <name>-<6 random characters>" -> <name>; {NULL, 0} when `arn` is not one. */
static mb_cur s_arn_name(const char *arn) {
    const char *p = strstr(arn, ":secret:");
    size_t n = p ? strlen(p + 8) : 0;
    if (strncmp(arn, "arn:", 4) != 0 || n < 8 || p[8 + n - 7] != '-') {
        return (mb_cur){0};
    }
    return (mb_cur){p + 8, n - 7};
}

/* The SECRET_ARNS entry ctx.secret may read for `name` (the entry itself, or an ARN whose secret
 * name is `name`), or NULL when it is not allowed. Borrowed from cfg. */
static const char *s_allowed(const mb_config *cfg, mb_cur name) {
    for (size_t i = 0; cfg && i < cfg->secret_arn_count; i++) {
        const char *entry = cfg->secret_arns[i];
        mb_cur short_name = s_arn_name(entry);
        if (mb_cur_eq(name, mb_cur_from_cstr(entry)) ||
            (short_name.len && mb_cur_eq(name, short_name))) {
            return entry;
        }
    }
    return NULL;
}

/* ctx.secret(name) -> string. A name outside SECRET_ARNS, a missing secret or a refused one
 * is the deployment's mistake: a Lua error (500, the reason in the logs). Secrets Manager down
 * or throttling after retries: 503. [-1, +1, e] */
static int s_secret(lua_State *L) {
    size_t n;
    const char *name = luaL_checklstring(L, 1, &n);
    mb_lua_services *svc = mb_lua_aux_services(L);
    if (svc && svc->tenant_code) {
        return luaL_error(L, "ctx.secret is not available to tenant handlers (SECRET_ARNS are "
                             "the platform's secrets)");
    }
    const char *id = svc && strlen(name) == n ? s_allowed(svc->cfg, (mb_cur){name, n}) : NULL;
    if (!id) {
        return luaL_error(L, "ctx.secret: '%s' is not in SECRET_ARNS", name);
    }
    mb_err err = svc->secrets_err; /* why there is no client, when there is none */
    mb_cur value = {0};
    int rc = svc->secrets ? mb_secrets_get(svc->secrets, id, svc->deadline_ms, &value, &err)
                          : MB_ERR_CONFIG;
    if (rc == 0) {
        mb_log_redact_value(svc->log, value);
        lua_pushlstring(L, value.ptr, value.len);
        return 1;
    }
    if (rc == MB_ERR_UNAVAILABLE || rc == MB_ERR_TIMEOUT || rc == MB_ERR_UPSTREAM) {
        mb_log_field f = mb_log_field_str("reason", mb_cur_from_cstr(err.msg));
        mb_log_write(svc->log, MB_LOG_ERROR, "ctx.secret: Secrets Manager failed", &f, 1);
        return mb_lua_aux_raise_fail(L, 503, "unavailable", "a dependency is unavailable");
    }
    return luaL_error(L, "ctx.secret: %s", err.msg);
}

void mb_lua_inject_secret_api(lua_State *L) {
    lua_pushcfunction(L, s_secret);
    lua_setfield(L, -2, "secret");
}
