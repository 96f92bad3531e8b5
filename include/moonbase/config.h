/* moonbase/config.h - the process configuration, read from the environment once at start-up
 * and validated there, so a bad setting is an init error rather than a failure on some request.
 * Ownership: mb_config_load() fills a caller-owned struct whose strings it allocates;
 * mb_config_cleanup() frees them. Read-only after loading; safe to share within the process. */
#ifndef MOONBASE_CONFIG_H
#define MOONBASE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "moonbase/err.h"

typedef enum mb_log_level {
    MB_LOG_DEBUG = 0,
    MB_LOG_INFO = 1,
    MB_LOG_WARN = 2,
    MB_LOG_ERROR = 3,
} mb_log_level;

/* CLIENT_ID may list several app clients; more than this is a configuration error. */
#define MB_CONFIG_MAX_CLIENTS 8
#define MB_CONFIG_MAX_ORIGINS 16
/* STS session tokens are 1-2 KiB today; AWS asks callers to allow for growth. */
#define MB_CONFIG_CREDENTIAL_MAX 8192
#define MB_CONFIG_MAX_SECRETS 16

typedef struct mb_config {
    char *table_name;   /* TABLE_NAME (may be NULL: no data routes) */
    char *user_pool_id; /* USER_POOL_ID (may be NULL when COGNITO_ISSUER is set) */
    char *client_ids[MB_CONFIG_MAX_CLIENTS]; /* CLIENT_ID, split on ',' and trimmed */
    size_t client_id_count;
    char *region;         /* AWS_REGION, default "us-east-1" */
    char *cognito_issuer; /* COGNITO_ISSUER, else https://cognito-idp.{region}.amazonaws.com/{pool};
                             NULL when neither is set (protected routes then answer 503) */
    char
        *cognito_jwks_url; /* COGNITO_JWKS_URL, else NULL = ${cognito_issuer}/.well-known/jwks.json;
                              where the keys are fetched when the issuer's host is not reachable
                              under its own name (sam local invoke in Docker) */
    char *dynamodb_endpoint; /* DYNAMODB_ENDPOINT, else https://dynamodb.{region}.amazonaws.com */
    char *handlers_dir;      /* HANDLERS_DIR, else handlers/ next to the binary */
    char *environment;       /* ENVIRONMENT, default "dev" */
    char *cors_origins[MB_CONFIG_MAX_ORIGINS]; /* CORS_ALLOWED_ORIGINS, split on ',' */
    size_t cors_origin_count;
    char *metrics_namespace; /* METRICS_NAMESPACE, default "ServerlessApp" */
    mb_log_level log_level;  /* LOG_LEVEL debug|info|warn|error, default info */
    int jwt_clock_skew_s;    /* JWT_CLOCK_SKEW_SECONDS 0..300, default 60 */
    bool dev_mode;           /* MOONBASE_DEV=1: reload edited handlers, detailed syntax errors */
    /* Handler limits (docs/security.md): */
    unsigned cpu_ms;     /* MOONBASE_CPU_MS, default CPU-time budget, default 1000 */
    unsigned cpu_max_ms; /* MOONBASE_CPU_MAX_MS, most a route's cpu_ms may ask, 5000 */
    unsigned long long instruction_limit; /* MOONBASE_INSTRUCTION_LIMIT, 0 = lua_host default */
    unsigned memory_mb;                   /* MOONBASE_MEMORY_MB: the Lua state's cap, default 64 */
    unsigned invocation_memory_mb;        /* MOONBASE_INVOCATION_MEMORY_MB: per invocation, 48 */
    /* Secrets (wiped by mb_config_cleanup, never logged): */
    char *cursor_secret; /* CURSOR_SECRET: key material of the pagination cursors' HMAC key;
                            NULL: a random key per process (cursors then work in it only) */
    /* AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN as Lambda provides them; NULL
     * when unset (ctx.db then answers 503). Up to MB_CONFIG_CREDENTIAL_MAX bytes each. */
    char *aws_access_key_id;
    char *aws_secret_access_key;
    char *aws_session_token;
    /* Secrets Manager (docs/security.md#secrets): */
    char *secret_arns[MB_CONFIG_MAX_SECRETS]; /* SECRET_ARNS: what ctx.secret may read (ARNs or
                                                 names; a name also matches its ARN) */
    size_t secret_arn_count;
    int secrets_ttl_s;       /* SECRETS_TTL_SECONDS 1..86400, default 300 */
    char *secrets_endpoint;  /* SECRETS_ENDPOINT (local/test), else AWS's for the region */
    unsigned quota_requests; /* QUOTA_REQUESTS per tenant per window; 0 (default) = none */
    unsigned quota_window_s; /* QUOTA_WINDOW_SECONDS 1..86400, default 60 */
    char *cursor_secret_arn; /* CURSOR_SECRET_ARN: the secret holding the cursor key material,
                                read at run time; CURSOR_SECRET (local runs) overrides it */
} mb_config;

/* A getenv-shaped seam so tests can feed an environment without touching the real one. */
typedef const char *(*mb_getenv_fn)(const char *name);

/* Read and validate the configuration. exe_path (argv[0] resolved, may be NULL) locates the default
 * handlers dir. On error returns MB_ERR_CONFIG (or MB_ERR_NOMEM) with a message naming the variable
 * and what to fix; *cfg is left cleaned up. */
int mb_config_load(mb_config *cfg, mb_getenv_fn getenv_fn, const char *exe_path, mb_err *err);
/* Free every string of cfg. Accepts NULL and a zeroed struct. */
void mb_config_cleanup(mb_config *cfg);

/* True when `origin` (exact match) may receive CORS headers. "*" in the list allows any origin. */
bool mb_config_origin_allowed(const mb_config *cfg, const char *origin, size_t len);
/* The Access-Control-Allow-Origin value API Gateway's CORS setting answers for `origin`: "*"
 * when the list has "*", else the listed entry equal to origin (borrowed from cfg), else NULL.
 * The devserver emulates API Gateway with it; the function itself echoes allowed origins. */
const char *mb_config_cors_allow_origin(const mb_config *cfg, const char *origin, size_t len);
/* True for ENVIRONMENT local/dev/test: where a wildcard origin and detailed errors are allowed. */
bool mb_config_is_development(const mb_config *cfg);

#endif
