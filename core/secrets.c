/* secrets.c - Secrets Manager GetSecretValue with a per-process TTL cache (moonbase/secrets.h). */
#include "moonbase/secrets.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

typedef struct entry {
    char *id;
    char *value;
    size_t len;
    int64_t fetched_ms;
} entry;

struct mb_secrets {
    mb_aws_json *client;
    int ttl_s;
    mb_clock clock;
    entry cache[MB_SECRETS_MAX];
    size_t count;
};

/* Secrets Manager's errors: a missing secret and a refused one get their own status, so the
 * caller can say which; the rest as for any JSON-protocol service. */
static int s_map_error(mb_cur type, long http_status, bool *retryable) {
    if (mb_cur_eq(type, MB_CUR_LIT("ResourceNotFoundException"))) {
        *retryable = false;
        return MB_ERR_NOTFOUND;
    }
    if (mb_cur_eq(type, MB_CUR_LIT("AccessDeniedException")) ||
        mb_cur_eq(type, MB_CUR_LIT("AccessDenied"))) {
        *retryable = false;
        return MB_ERR_FORBIDDEN;
    }
    return mb_aws_json_map_error(type, http_status, retryable);
}

mb_secrets *mb_secrets_new(const mb_secrets_config *cfg, mb_sigv4_credentials *creds, mb_err *err) {
    mb_secrets *s = calloc(1, sizeof *s);
    if (!s) {
        mb_sigv4_credentials_cleanup(creds);
        mb_err_set(err, MB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    mb_aws_json_config jc = {
        .label = "Secrets Manager",
        .service = "secretsmanager",
        .target_prefix = "secretsmanager",
        .content_type = "application/x-amz-json-1.1",
        .region = cfg->region,
        .endpoint = cfg->endpoint,
        .max_response = 2 * MB_SECRETS_MAX_VALUE + 4096, /* JSON-escaped value + metadata */
        .map_error = s_map_error,
        .seams = cfg->seams,
    };
    s->client = mb_aws_json_new(&jc, creds, err);
    if (!s->client) {
        free(s);
        return NULL;
    }
    s->ttl_s = cfg->ttl_s ? cfg->ttl_s : MB_SECRETS_DEFAULT_TTL_S;
    s->clock = cfg->seams.clock;
    return s;
}

static void s_wipe(entry *e) {
    if (e->value) {
        memset(e->value, 0, e->len);
    }
    free(e->value);
    e->value = NULL;
    e->len = 0;
}

void mb_secrets_free(mb_secrets *s) {
    if (!s) {
        return;
    }
    for (size_t i = 0; i < s->count; i++) {
        s_wipe(&s->cache[i]);
        free(s->cache[i].id);
    }
    mb_aws_json_free(s->client);
    free(s);
}

/* The cache entry of id, made (empty) when there is none. NULL when the cache is full. */
static entry *s_entry(mb_secrets *s, const char *id, mb_err *err) {
    for (size_t i = 0; i < s->count; i++) {
        if (strcmp(s->cache[i].id, id) == 0) {
            return &s->cache[i];
        }
    }
    if (s->count == MB_SECRETS_MAX) {
        mb_err_set(err, MB_ERR_LIMIT, "more than %d distinct secrets", MB_SECRETS_MAX);
        return NULL;
    }
    entry *e = &s->cache[s->count];
    if (!(e->id = strdup(id))) {
        mb_err_set(err, MB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    s->count++;
    return e;
}

/* GetSecretValue into e (replacing what it held). */
static int s_fetch(mb_secrets *s, entry *e, int64_t deadline_ms, mb_err *err) {
    json_t *req = json_pack("{s:s}", "SecretId", e->id);
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (!body) {
        return mb_err_set(err, MB_ERR_NOMEM, "out of memory");
    }
    mb_cur resp = {0};
    int rc = mb_aws_json_call(s->client, "GetSecretValue", mb_cur_from_cstr(body), deadline_ms,
                              &resp, err);
    free(body);
    if (rc == MB_ERR_NOTFOUND) {
        return mb_err_set(err, rc, "secret '%.80s' does not exist", e->id);
    }
    if (rc == MB_ERR_FORBIDDEN) {
        return mb_err_set(err, rc, "reading secret '%.80s' is not allowed by the policy", e->id);
    }
    if (rc != 0) {
        return rc;
    }
    json_t *doc = json_loadb(resp.ptr, resp.len, 0, NULL);
    json_t *str = json_object_get(doc, "SecretString");
    if (!json_is_string(str)) {
        json_decref(doc);
        return mb_err_set(err, MB_ERR_NOTFOUND, "secret '%.80s' has no SecretString", e->id);
    }
    size_t n = json_string_length(str);
    char *copy = n <= MB_SECRETS_MAX_VALUE ? malloc(n + 1) : NULL;
    if (copy) {
        memcpy(copy, json_string_value(str), n);
        copy[n] = '\0';
    }
    json_decref(doc); /* jansson's copy of the value is freed unwiped: its allocator's business */
    if (!copy) {
        return n > MB_SECRETS_MAX_VALUE
                   ? mb_err_set(err, MB_ERR_LIMIT, "secret '%.80s' is too large", e->id)
                   : mb_err_set(err, MB_ERR_NOMEM, "out of memory");
    }
    s_wipe(e);
    e->value = copy;
    e->len = n;
    e->fetched_ms = mb_clock_now_ms(&s->clock);
    return 0;
}

int mb_secrets_get(mb_secrets *s, const char *id, int64_t deadline_ms, mb_cur *value, mb_err *err) {
    if (!id || !*id) {
        return mb_err_set(err, MB_ERR_INVALID, "a secret id is required");
    }
    entry *e = s_entry(s, id, err);
    if (!e) {
        return err ? err->status : MB_ERR_LIMIT;
    }
    int64_t now = mb_clock_now_ms(&s->clock);
    bool fresh = e->value && s->ttl_s > 0 && now - e->fetched_ms < (int64_t)s->ttl_s * 1000;
    if (!fresh) {
        int rc = s_fetch(s, e, deadline_ms, err);
        if (rc != 0) {
            return rc;
        }
    }
    *value = (mb_cur){e->value, e->len};
    return 0;
}
