/* moonbase/secrets.h - secrets from AWS Secrets Manager (GetSecretValue) at run time, through the
 * shared AWS JSON-protocol client (moonbase/aws_json.h: SigV4, keep-alive, retries), cached per
 * process with a TTL so a warm function asks Secrets Manager at most once per TTL per secret.
 * The allow-list (which names handlers may read) is the caller's: ctx.secret checks it
 * (core/lua_secret.c); the platform reads its own secrets (the cursor key) directly.
 * Ownership: mb_secrets_new() returns a client freed by mb_secrets_free(), which wipes the cached
 * values. A value returned by mb_secrets_get() borrows from the cache and stays valid until the
 * next mb_secrets_get() or the free. Not thread-safe. */
#ifndef MOONBASE_SECRETS_H
#define MOONBASE_SECRETS_H

#include <stdint.h>

#include "moonbase/aws_json.h"
#include "moonbase/buf.h"
#include "moonbase/err.h"
#include "moonbase/sigv4.h"

/* Five minutes: a rotated secret reaches every warm process within that, and a busy function
 * makes about one GetSecretValue call per secret per 5 minutes per execution environment. */
#define MB_SECRETS_DEFAULT_TTL_S 300
/* Distinct secrets a process caches; more is a configuration mistake (the allow-list is short). */
#define MB_SECRETS_MAX 32
/* Secrets Manager's own limit on a SecretString. */
#define MB_SECRETS_MAX_VALUE (64u * 1024u)

typedef struct mb_secrets mb_secrets;

typedef struct mb_secrets_config {
    const char *region;   /* required */
    const char *endpoint; /* NULL or "": https://secretsmanager.<region>.amazonaws.com */
    int ttl_s;            /* 0: MB_SECRETS_DEFAULT_TTL_S; < 0: no caching */
    mb_aws_json_seams seams;
} mb_secrets_config;

/* Create the client; creds are moved into it (as mb_aws_json_new). NULL with err on failure. */
mb_secrets *mb_secrets_new(const mb_secrets_config *cfg, mb_sigv4_credentials *creds, mb_err *err);
/* Free the client and wipe the cache. Accepts NULL. */
void mb_secrets_free(mb_secrets *s);

/* The SecretString of secret `id` (a name or an ARN): from the cache when it was fetched less than
 * the TTL ago, else from GetSecretValue (deadline_ms as in mb_aws_json_call). Returns 0 and sets
 * *value; or MB_ERR_NOTFOUND (no such secret, or it has no SecretString), MB_ERR_FORBIDDEN
 * (AccessDeniedException: the function's policy does not name it), MB_ERR_LIMIT (value larger
 * than MB_SECRETS_MAX_VALUE, or more than MB_SECRETS_MAX secrets), or the client's errors. The
 * message names the secret, never its value. */
int mb_secrets_get(mb_secrets *s, const char *id, int64_t deadline_ms, mb_cur *value, mb_err *err);

#endif
