/* config.c - environment -> validated mb_config, once at start-up (see moonbase/config.h). */
#include "moonbase/config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "moonbase/buf.h"

/* Environment values are configuration, not request data, but still bounded: a 4 KB value is
 * already far beyond any real table name, pool id or URL. */
#define CONFIG_VALUE_MAX 4096

/* Bound the length and refuse control characters (tabs only where lists are trimmed of them);
 * sets *len. */
static int s_check(const char *v, const char *name, bool allow_tab, size_t *len, mb_err *err) {
    size_t n = strnlen(v, CONFIG_VALUE_MAX + 1);
    if (n > CONFIG_VALUE_MAX) {
        return mb_err_set(err, MB_ERR_CONFIG, "%s is longer than %d bytes", name, CONFIG_VALUE_MAX);
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)v[i] < 0x20 && !(allow_tab && v[i] == '\t')) {
            return mb_err_set(err, MB_ERR_CONFIG, "%s contains a control character", name);
        }
    }
    *len = n;
    return 0;
}

/* Copy env `name` (or `def` when unset/empty) into *out. NULL stays NULL when def is NULL. */
static int s_take(char **out, mb_getenv_fn ge, const char *name, const char *def, mb_err *err) {
    const char *v = ge(name);
    if (!v || !*v) {
        v = def;
    }
    if (!v) {
        return 0;
    }
    size_t n = 0;
    int rc = s_check(v, name, false, &n, err);
    if (rc != 0) {
        return rc;
    }
    *out = mb_cur_dup((mb_cur){v, n});
    return *out ? 0 : mb_err_set(err, MB_ERR_NOMEM, "out of memory reading %s", name);
}

/* Split a comma list into trimmed, non-empty entries. */
static int s_split(char **items, size_t max, size_t *count, const char *list, const char *name,
                   mb_err *err) {
    *count = 0;
    size_t total = 0;
    if (list && s_check(list, name, true, &total, err) != 0) {
        return MB_ERR_CONFIG;
    }
    const char *p = list;
    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *s = p;
        while (n && (*s == ' ' || *s == '\t')) {
            s++;
            n--;
        }
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) {
            n--;
        }
        if (n) {
            if (*count == max) {
                return mb_err_set(err, MB_ERR_CONFIG, "%s lists more than %zu values", name, max);
            }
            if (!(items[(*count)++] = mb_cur_dup((mb_cur){s, n}))) {
                return mb_err_set(err, MB_ERR_NOMEM, "out of memory reading %s", name);
            }
        }
        p = end ? end + 1 : NULL;
    }
    return 0;
}

static int s_log_level(mb_log_level *out, const char *v, mb_err *err) {
    static const char *const names[] = {"debug", "info", "warn", "error"};
    if (!v || !*v) {
        *out = MB_LOG_INFO;
        return 0;
    }
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(v, names[i]) == 0) {
            *out = (mb_log_level)i;
            return 0;
        }
    }
    if (strcasecmp(v, "warning") == 0) {
        *out = MB_LOG_WARN;
        return 0;
    }
    return mb_err_set(err, MB_ERR_CONFIG, "LOG_LEVEL must be debug, info, warn or error");
}

static int s_int(int *out, const char *v, int def, int lo, int hi, const char *name, mb_err *err) {
    if (!v || !*v) {
        *out = def;
        return 0;
    }
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || n < lo || n > hi) {
        return mb_err_set(err, MB_ERR_CONFIG, "%s must be an integer from %d to %d", name, lo, hi);
    }
    *out = (int)n;
    return 0;
}

/* MOONBASE_INSTRUCTION_LIMIT: a positive count of VM instructions per invocation. */
static int s_u64(unsigned long long *out, const char *v, const char *name, mb_err *err) {
    *out = 0;
    if (!v || !*v) {
        return 0;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || *end || n == 0 || v[0] == '-') {
        return mb_err_set(err, MB_ERR_CONFIG, "%s must be a positive integer", name);
    }
    *out = n;
    return 0;
}

/* The handler limits. The per-invocation memory cap must fit in the state's, and a route's
 * cpu_ms is checked against cpu_max_ms when routes.lua loads (mb_router_load_file). */
static int s_limits(mb_config *cfg, mb_getenv_fn ge, mb_err *err) {
    int cpu = 0, cpu_max = 0, mem = 0, inv_mem = 0;
    int rc = s_int(&cpu, ge("MOONBASE_CPU_MS"), 1000, 1, 600000, "MOONBASE_CPU_MS", err);
    if (rc == 0) {
        rc = s_int(&cpu_max, ge("MOONBASE_CPU_MAX_MS"), cpu > 5000 ? cpu : 5000, 1, 600000,
                   "MOONBASE_CPU_MAX_MS", err);
    }
    if (rc == 0) {
        rc = s_int(&mem, ge("MOONBASE_MEMORY_MB"), 64, 4, 4096, "MOONBASE_MEMORY_MB", err);
    }
    if (rc == 0) {
        rc = s_int(&inv_mem, ge("MOONBASE_INVOCATION_MEMORY_MB"), mem * 3 / 4, 1, 4096,
                   "MOONBASE_INVOCATION_MEMORY_MB", err);
    }
    if (rc == 0) {
        rc = s_u64(&cfg->instruction_limit, ge("MOONBASE_INSTRUCTION_LIMIT"),
                   "MOONBASE_INSTRUCTION_LIMIT", err);
    }
    if (rc != 0) {
        return rc;
    }
    if (cpu > cpu_max) {
        return mb_err_set(err, MB_ERR_CONFIG,
                          "MOONBASE_CPU_MS (%d) is above MOONBASE_CPU_MAX_MS (%d)", cpu, cpu_max);
    }
    if (inv_mem > mem) {
        return mb_err_set(err, MB_ERR_CONFIG,
                          "MOONBASE_INVOCATION_MEMORY_MB (%d) is above MOONBASE_MEMORY_MB (%d)",
                          inv_mem, mem);
    }
    cfg->cpu_ms = (unsigned)cpu;
    cfg->cpu_max_ms = (unsigned)cpu_max;
    cfg->memory_mb = (unsigned)mem;
    cfg->invocation_memory_mb = (unsigned)inv_mem;
    return 0;
}

/* Per-tenant quotas (moonbase/quota.h): requests per fixed window, per tenant. */
static int s_quota(mb_config *cfg, mb_getenv_fn ge, mb_err *err) {
    int n = 0, w = 0;
    int rc = s_int(&n, ge("QUOTA_REQUESTS"), 0, 0, 1000000000, "QUOTA_REQUESTS", err);
    if (rc == 0) {
        rc = s_int(&w, ge("QUOTA_WINDOW_SECONDS"), 60, 1, 86400, "QUOTA_WINDOW_SECONDS", err);
    }
    cfg->quota_requests = (unsigned)n;
    cfg->quota_window_s = (unsigned)w;
    return rc;
}

/* Secrets Manager: ctx.secret's allow-list, the cache TTL, the endpoint, the cursor key's secret.
 */
static int s_secrets_manager(mb_config *cfg, mb_getenv_fn ge, mb_err *err) {
    int rc = s_split(cfg->secret_arns, MB_CONFIG_MAX_SECRETS, &cfg->secret_arn_count,
                     ge("SECRET_ARNS"), "SECRET_ARNS", err);
    if (rc == 0) {
        rc = s_int(&cfg->secrets_ttl_s, ge("SECRETS_TTL_SECONDS"), 300, 1, 86400,
                   "SECRETS_TTL_SECONDS", err);
    }
    if (rc == 0 && (s_take(&cfg->secrets_endpoint, ge, "SECRETS_ENDPOINT", NULL, err) ||
                    s_take(&cfg->cursor_secret_arn, ge, "CURSOR_SECRET_ARN", NULL, err))) {
        rc = err ? err->status : MB_ERR_CONFIG;
    }
    return rc;
}

/* handlers/ next to the binary: Lambda unpacks the zip into /var/task with bootstrap at the top. */
static int s_default_handlers(mb_config *cfg, const char *exe, mb_err *err) {
    char dir[PATH_MAX];
    const char *slash = exe ? strrchr(exe, '/') : NULL;
    int n = slash ? snprintf(dir, sizeof dir, "%.*s/handlers", (int)(slash - exe), exe)
                  : snprintf(dir, sizeof dir, "handlers");
    if (n < 0 || (size_t)n >= sizeof dir) {
        return mb_err_set(err, MB_ERR_CONFIG, "binary path too long; set HANDLERS_DIR");
    }
    cfg->handlers_dir = mb_cur_dup((mb_cur){dir, (size_t)n});
    return cfg->handlers_dir ? 0 : mb_err_set(err, MB_ERR_NOMEM, "out of memory");
}

static int s_derived(mb_config *cfg, mb_getenv_fn ge, mb_err *err) {
    char buf[CONFIG_VALUE_MAX + 128];
    if (s_take(&cfg->cognito_issuer, ge, "COGNITO_ISSUER", NULL, err) != 0) {
        return err ? err->status : MB_ERR_CONFIG;
    }
    if (!cfg->cognito_issuer && cfg->user_pool_id) {
        snprintf(buf, sizeof buf, "https://cognito-idp.%s.amazonaws.com/%s", cfg->region,
                 cfg->user_pool_id);
        if (!(cfg->cognito_issuer = mb_cur_dup(mb_cur_from_cstr(buf)))) {
            return mb_err_set(err, MB_ERR_NOMEM, "out of memory");
        }
    }
    if (cfg->cognito_issuer && strncmp(cfg->cognito_issuer, "https://", 8) != 0 &&
        strncmp(cfg->cognito_issuer, "http://", 7) != 0) {
        return mb_err_set(err, MB_ERR_CONFIG, "COGNITO_ISSUER must be an http(s) URL");
    }
    if (s_take(&cfg->cognito_jwks_url, ge, "COGNITO_JWKS_URL", NULL, err) != 0) {
        return err ? err->status : MB_ERR_CONFIG;
    }
    if (cfg->cognito_jwks_url && strncmp(cfg->cognito_jwks_url, "https://", 8) != 0 &&
        strncmp(cfg->cognito_jwks_url, "http://", 7) != 0) {
        return mb_err_set(err, MB_ERR_CONFIG, "COGNITO_JWKS_URL must be an http(s) URL");
    }
    snprintf(buf, sizeof buf, "https://dynamodb.%s.amazonaws.com", cfg->region);
    return s_take(&cfg->dynamodb_endpoint, ge, "DYNAMODB_ENDPOINT", buf, err);
}

/* Copy a secret (a credential or key material): bounded by MB_CONFIG_CREDENTIAL_MAX, no control
 * characters, NULL when unset or empty. The message names the variable, never the value. */
static int s_secret(char **out, mb_getenv_fn ge, const char *name, mb_err *err) {
    const char *v = ge(name);
    if (!v || !*v) {
        return 0;
    }
    size_t n = strnlen(v, MB_CONFIG_CREDENTIAL_MAX + 1);
    if (n > MB_CONFIG_CREDENTIAL_MAX) {
        return mb_err_set(err, MB_ERR_CONFIG, "%s is longer than %d bytes", name,
                          MB_CONFIG_CREDENTIAL_MAX);
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)v[i] < 0x20) {
            return mb_err_set(err, MB_ERR_CONFIG, "%s contains a control character", name);
        }
    }
    *out = mb_cur_dup((mb_cur){v, n});
    return *out ? 0 : mb_err_set(err, MB_ERR_NOMEM, "out of memory reading %s", name);
}

static int s_secrets(mb_config *cfg, mb_getenv_fn ge, mb_err *err) {
    if (s_secret(&cfg->cursor_secret, ge, "CURSOR_SECRET", err) ||
        s_secret(&cfg->aws_access_key_id, ge, "AWS_ACCESS_KEY_ID", err) ||
        s_secret(&cfg->aws_secret_access_key, ge, "AWS_SECRET_ACCESS_KEY", err) ||
        s_secret(&cfg->aws_session_token, ge, "AWS_SESSION_TOKEN", err)) {
        return err ? err->status : MB_ERR_CONFIG;
    }
    return 0;
}

static int s_load(mb_config *cfg, mb_getenv_fn ge, const char *exe, mb_err *err) {
    if (s_take(&cfg->table_name, ge, "TABLE_NAME", NULL, err) ||
        s_take(&cfg->user_pool_id, ge, "USER_POOL_ID", NULL, err) ||
        s_take(&cfg->region, ge, "AWS_REGION", NULL, err) ||
        s_take(&cfg->environment, ge, "ENVIRONMENT", "dev", err) ||
        s_take(&cfg->metrics_namespace, ge, "METRICS_NAMESPACE", "ServerlessApp", err) ||
        s_take(&cfg->handlers_dir, ge, "HANDLERS_DIR", NULL, err)) {
        return err ? err->status : MB_ERR_CONFIG;
    }
    if (!cfg->region && s_take(&cfg->region, ge, "AWS_DEFAULT_REGION", "us-east-1", err)) {
        return err ? err->status : MB_ERR_CONFIG;
    }
    if (!cfg->handlers_dir && s_default_handlers(cfg, exe, err) != 0) {
        return err ? err->status : MB_ERR_CONFIG;
    }
    int rc = s_split(cfg->client_ids, MB_CONFIG_MAX_CLIENTS, &cfg->client_id_count, ge("CLIENT_ID"),
                     "CLIENT_ID", err);
    if (rc == 0) {
        rc = s_split(cfg->cors_origins, MB_CONFIG_MAX_ORIGINS, &cfg->cors_origin_count,
                     ge("CORS_ALLOWED_ORIGINS"), "CORS_ALLOWED_ORIGINS", err);
    }
    if (rc == 0) {
        rc = s_log_level(&cfg->log_level, ge("LOG_LEVEL"), err);
    }
    if (rc == 0) {
        rc = s_int(&cfg->jwt_clock_skew_s, ge("JWT_CLOCK_SKEW_SECONDS"), 60, 0, 300,
                   "JWT_CLOCK_SKEW_SECONDS", err);
    }
    if (rc == 0) {
        rc = s_limits(cfg, ge, err);
    }
    if (rc == 0) {
        rc = s_secrets_manager(cfg, ge, err);
    }
    if (rc == 0) {
        rc = s_quota(cfg, ge, err);
    }
    if (rc == 0) {
        rc = s_derived(cfg, ge, err);
    }
    if (rc == 0) {
        rc = s_secrets(cfg, ge, err);
    }
    if (rc != 0) {
        return rc;
    }
    const char *dev = ge("MOONBASE_DEV");
    cfg->dev_mode = dev && strcmp(dev, "1") == 0;
    /* A wildcard origin in production would let any site call the API with a user's token. */
    if (!mb_config_is_development(cfg)) {
        for (size_t i = 0; i < cfg->cors_origin_count; i++) {
            if (strcmp(cfg->cors_origins[i], "*") == 0) {
                return mb_err_set(err, MB_ERR_CONFIG,
                                  "CORS_ALLOWED_ORIGINS may not be '*' when ENVIRONMENT=%s",
                                  cfg->environment);
            }
        }
    }
    return 0;
}

int mb_config_load(mb_config *cfg, mb_getenv_fn getenv_fn, const char *exe_path, mb_err *err) {
    *cfg = (mb_config){0};
    int rc = s_load(cfg, getenv_fn ? getenv_fn : (mb_getenv_fn)getenv, exe_path, err);
    if (rc != 0) {
        mb_config_cleanup(cfg);
    }
    return rc;
}

/* Overwrite before freeing, through a volatile pointer so the stores are not optimised away. */
static void s_free_secret(char *s) {
    if (s) {
        for (volatile char *p = s; *p; p++) {
            *p = 0;
        }
        free(s);
    }
}

void mb_config_cleanup(mb_config *cfg) {
    if (!cfg) {
        return;
    }
    free(cfg->table_name);
    free(cfg->user_pool_id);
    for (size_t i = 0; i < cfg->client_id_count; i++) {
        free(cfg->client_ids[i]);
    }
    for (size_t i = 0; i < cfg->cors_origin_count; i++) {
        free(cfg->cors_origins[i]);
    }
    free(cfg->region);
    free(cfg->cognito_issuer);
    free(cfg->cognito_jwks_url);
    free(cfg->dynamodb_endpoint);
    free(cfg->handlers_dir);
    free(cfg->environment);
    free(cfg->metrics_namespace);
    s_free_secret(cfg->cursor_secret);
    free(cfg->aws_access_key_id);
    s_free_secret(cfg->aws_secret_access_key);
    s_free_secret(cfg->aws_session_token);
    for (size_t i = 0; i < cfg->secret_arn_count; i++) {
        free(cfg->secret_arns[i]);
    }
    free(cfg->secrets_endpoint);
    free(cfg->cursor_secret_arn);
    *cfg = (mb_config){0};
}

bool mb_config_origin_allowed(const mb_config *cfg, const char *origin, size_t len) {
    for (size_t i = 0; i < cfg->cors_origin_count; i++) {
        const char *o = cfg->cors_origins[i];
        if (strcmp(o, "*") == 0 || (strlen(o) == len && memcmp(o, origin, len) == 0)) {
            return true;
        }
    }
    return false;
}

const char *mb_config_cors_allow_origin(const mb_config *cfg, const char *origin, size_t len) {
    const char *match = NULL;
    for (size_t i = 0; i < cfg->cors_origin_count; i++) {
        const char *o = cfg->cors_origins[i];
        if (strcmp(o, "*") == 0) {
            return "*";
        }
        if (!match && origin && strlen(o) == len && memcmp(o, origin, len) == 0) {
            match = o;
        }
    }
    return match;
}

bool mb_config_is_development(const mb_config *cfg) {
    const char *e = cfg->environment ? cfg->environment : "";
    /* Exact, lower-case names only: anything else (even "Dev") gets production rules. */
    return strcmp(e, "local") == 0 || strcmp(e, "dev") == 0 || strcmp(e, "test") == 0;
}
