/* sigv4.c - AWS Signature Version 4 signing (see moonbase/sigv4.h). */
#include "moonbase/sigv4.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "moonbase/text.h"

#define ALGORITHM "AWS4-HMAC-SHA256"
#define MAX_EXPIRES 604800L /* seven days: the longest presigned URL AWS accepts */

/* One header or query parameter, as offsets into out->scratch (which may move on growth). */
typedef struct s_entry {
    size_t name_off, name_len;
    size_t value_off, value_len;
    size_t order; /* position in the input: keeps duplicate header values in request order */
} s_entry;

typedef struct s_list {
    s_entry items[MB_SIGV4_MAX_PARAMS];
    size_t count;
} s_list;

enum s_mode { S_MODE_HEADERS, S_MODE_QUERY };

void mb_sigv4_sha256_hex(mb_cur data, char hex[65]) {
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)(data.len ? data.ptr : ""), data.len, md);
    mb_text_hex_encode(md, sizeof md, hex);
}

static int s_hmac(const void *key, size_t key_len, const void *data, size_t len,
                  unsigned char out[32]) {
    unsigned int out_len = 0;
    if (!HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &out_len) || out_len != 32) {
        return -1;
    }
    return 0;
}

/* ---- credentials ---- */

static char *s_dup_bounded(const char *s, size_t max) {
    size_t n = strnlen(s, max + 1);
    if (n > max) {
        return NULL;
    }
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static int s_check_cred(const char *value, const char *name, size_t max, bool required,
                        mb_err *err) {
    if (!value || !value[0]) {
        return required ? mb_err_set(err, MB_ERR_CONFIG, "%s is not set", name) : 0;
    }
    if (strnlen(value, max + 1) > max) {
        return mb_err_set(err, MB_ERR_CONFIG, "%s is longer than %zu bytes", name, max);
    }
    return 0;
}

int mb_sigv4_credentials_set(mb_sigv4_credentials *creds, const char *access_key_id,
                             const char *secret_access_key, const char *session_token,
                             mb_err *err) {
    int rc = s_check_cred(access_key_id, "access key id", MB_SIGV4_MAX_KEY_ID, true, err);
    if (rc == 0) {
        rc = s_check_cred(secret_access_key, "secret access key", MB_SIGV4_MAX_SECRET, true, err);
    }
    if (rc == 0) {
        rc = s_check_cred(session_token, "session token", MB_SIGV4_MAX_TOKEN, false, err);
    }
    if (rc != 0) {
        return rc;
    }
    *creds = (mb_sigv4_credentials){0};
    creds->access_key_id = s_dup_bounded(access_key_id, MB_SIGV4_MAX_KEY_ID);
    creds->secret_access_key = s_dup_bounded(secret_access_key, MB_SIGV4_MAX_SECRET);
    if (session_token && session_token[0]) {
        creds->session_token = s_dup_bounded(session_token, MB_SIGV4_MAX_TOKEN);
    }
    if (!creds->access_key_id || !creds->secret_access_key ||
        (session_token && session_token[0] && !creds->session_token)) {
        mb_sigv4_credentials_cleanup(creds);
        return mb_err_set(err, MB_ERR_NOMEM, "out of memory copying credentials");
    }
    return 0;
}

static void s_free_secret(char *s) {
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

void mb_sigv4_credentials_cleanup(mb_sigv4_credentials *creds) {
    if (!creds) {
        return;
    }
    free(creds->access_key_id);
    s_free_secret(creds->secret_access_key);
    s_free_secret(creds->session_token);
    *creds = (mb_sigv4_credentials){0};
}

void mb_sigv4_signer_init(mb_sigv4_signer *signer, mb_sigv4_credentials *creds) {
    *signer = (mb_sigv4_signer){0};
    signer->creds = *creds;
    *creds = (mb_sigv4_credentials){0};
}

void mb_sigv4_signer_cleanup(mb_sigv4_signer *signer) {
    if (!signer) {
        return;
    }
    mb_sigv4_credentials_cleanup(&signer->creds);
    OPENSSL_cleanse(signer->key, sizeof signer->key);
    *signer = (mb_sigv4_signer){0};
}

void mb_sigv4_output_cleanup(mb_sigv4_output *out) {
    if (!out) {
        return;
    }
    mb_buf_cleanup(&out->canonical_request);
    mb_buf_cleanup(&out->string_to_sign);
    mb_buf_cleanup(&out->authorization);
    mb_buf_cleanup(&out->query);
    mb_buf_cleanup(&out->scratch);
    mb_buf_cleanup(&out->signed_headers);
    mb_buf_cleanup(&out->canonical_headers);
    *out = (mb_sigv4_output){0};
}

/* ---- signing key ---- */

/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request"),
 * recomputed only when the date, region or service changes. */
static int s_signing_key(mb_sigv4_signer *s, const char *date, const char *region,
                         const char *service) {
    if (strcmp(s->key_date, date) == 0 && strcmp(s->key_region, region) == 0 &&
        strcmp(s->key_service, service) == 0) {
        return 0;
    }
    char seed[4 + MB_SIGV4_MAX_SECRET];
    size_t secret_len = strlen(s->creds.secret_access_key);
    memcpy(seed, "AWS4", 4);
    memcpy(seed + 4, s->creds.secret_access_key, secret_len);
    unsigned char k[32];
    int rc = s_hmac(seed, 4 + secret_len, date, strlen(date), k);
    OPENSSL_cleanse(seed, sizeof seed);
    rc = rc ? rc : s_hmac(k, 32, region, strlen(region), k);
    rc = rc ? rc : s_hmac(k, 32, service, strlen(service), k);
    rc = rc ? rc : s_hmac(k, 32, "aws4_request", 12, s->key);
    OPENSSL_cleanse(k, sizeof k);
    if (rc != 0) {
        s->key_date[0] = '\0';
        return -1;
    }
    snprintf(s->key_date, sizeof s->key_date, "%s", date);
    snprintf(s->key_region, sizeof s->key_region, "%s", region);
    snprintf(s->key_service, sizeof s->key_service, "%s", service);
    s->key_derivations++;
    return 0;
}

/* ---- encoding ---- */

static bool s_unreserved(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/* Append the RFC 3986 encoding of bytes (unreserved kept, '/' kept when keep_slash). */
static int s_uri_encode(mb_buf *b, const char *p, size_t n, bool keep_slash) {
    static const char digits[] = "0123456789ABCDEF";
    if (n > (SIZE_MAX - 1) / 3 || mb_buf_reserve(b, 3 * n) != 0) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (s_unreserved(c) || (keep_slash && c == '/')) {
            b->ptr[b->len++] = (char)c;
        } else {
            b->ptr[b->len++] = '%';
            b->ptr[b->len++] = digits[c >> 4];
            b->ptr[b->len++] = digits[c & 15];
        }
    }
    b->ptr[b->len] = '\0';
    return 0;
}

/* ---- canonical URI ---- */

typedef struct s_seg {
    size_t off, len;
} s_seg;

/* Normalised path: drop empty and "." segments, let ".." pop one, keep a trailing '/'. */
static int s_canonical_uri_normalized(mb_buf *b, mb_cur path, mb_err *err) {
    s_seg segs[MB_SIGV4_MAX_PARAMS];
    size_t n = 0;
    size_t i = 0;
    while (i < path.len) {
        size_t start = i;
        while (i < path.len && path.ptr[i] != '/') {
            i++;
        }
        size_t len = i - start;
        i++; /* skip '/' */
        if (len == 0 || (len == 1 && path.ptr[start] == '.')) {
            continue;
        }
        if (len == 2 && path.ptr[start] == '.' && path.ptr[start + 1] == '.') {
            n -= n > 0;
            continue;
        }
        if (n == MB_SIGV4_MAX_PARAMS) {
            return mb_err_set(err, MB_ERR_LIMIT, "sigv4: too many path segments");
        }
        segs[n++] = (s_seg){start, len};
    }
    for (size_t k = 0; k < n; k++) {
        if (mb_buf_append_byte(b, '/') || s_uri_encode(b, path.ptr + segs[k].off, segs[k].len, 0)) {
            return mb_err_set(err, MB_ERR_NOMEM, "sigv4: out of memory");
        }
    }
    bool trailing = path.len > 0 && path.ptr[path.len - 1] == '/' && n > 0;
    if ((n == 0 || trailing) && mb_buf_append_byte(b, '/') != 0) {
        return mb_err_set(err, MB_ERR_NOMEM, "sigv4: out of memory");
    }
    return 0;
}

static int s_canonical_uri(mb_buf *b, mb_cur path, bool normalize, mb_err *err) {
    if (normalize) {
        return s_canonical_uri_normalized(b, path, err);
    }
    if (path.len == 0) {
        return mb_buf_append_byte(b, '/') ? mb_err_set(err, MB_ERR_NOMEM, "sigv4: no memory") : 0;
    }
    if (s_uri_encode(b, path.ptr, path.len, true) != 0) {
        return mb_err_set(err, MB_ERR_NOMEM, "sigv4: out of memory");
    }
    return 0;
}

/* ---- lists of name/value pairs in out->scratch ---- */

static int s_list_add(s_list *l, size_t name_off, size_t name_len, size_t value_off,
                      size_t value_len, mb_err *err) {
    if (l->count == MB_SIGV4_MAX_PARAMS) {
        return mb_err_set(err, MB_ERR_LIMIT, "sigv4: more than %d headers or parameters",
                          MB_SIGV4_MAX_PARAMS);
    }
    l->items[l->count] = (s_entry){name_off, name_len, value_off, value_len, l->count};
    l->count++;
    return 0;
}

/* qsort has no context argument: the scratch base is passed through this file-static pointer,
 * set and used only inside one s_list_sort call (the signer is single-threaded by contract). */
static _Thread_local const char *s_sort_base;

static int s_cmp_bytes(const char *a, size_t alen, const char *b, size_t blen) {
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c != 0) {
        return c;
    }
    return (alen > blen) - (alen < blen);
}

static int s_entry_cmp(const void *pa, const void *pb) {
    const s_entry *a = pa, *b = pb;
    int c =
        s_cmp_bytes(s_sort_base + a->name_off, a->name_len, s_sort_base + b->name_off, b->name_len);
    if (c == 0) {
        c = s_cmp_bytes(s_sort_base + a->value_off, a->value_len, s_sort_base + b->value_off,
                        b->value_len);
    }
    return c;
}

static int s_header_cmp(const void *pa, const void *pb) {
    const s_entry *a = pa, *b = pb;
    int c =
        s_cmp_bytes(s_sort_base + a->name_off, a->name_len, s_sort_base + b->name_off, b->name_len);
    return c ? c : (a->order > b->order) - (a->order < b->order);
}

static void s_list_sort(s_list *l, const mb_buf *scratch, bool headers) {
    s_sort_base = scratch->ptr;
    qsort(l->items, l->count, sizeof l->items[0], headers ? s_header_cmp : s_entry_cmp);
    s_sort_base = NULL;
}

/* ---- canonical headers ---- */

static bool s_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Append the lower-cased name and the trimmed, space-collapsed value of one header. */
static int s_add_header(s_list *l, mb_buf *s, mb_cur name, mb_cur value, mb_err *err) {
    if (name.len == 0) {
        return mb_err_set(err, MB_ERR_INVALID, "sigv4: empty header name");
    }
    if (mb_buf_reserve(s, name.len + value.len) != 0) {
        return mb_err_set(err, MB_ERR_NOMEM, "sigv4: out of memory");
    }
    size_t name_off = s->len;
    for (size_t i = 0; i < name.len; i++) {
        char c = name.ptr[i];
        if (c == ':' || (unsigned char)c <= ' ' || c == 0x7f) {
            return mb_err_set(err, MB_ERR_INVALID, "sigv4: bad character in a header name");
        }
        s->ptr[s->len++] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    size_t value_off = s->len;
    bool pending_space = false;
    for (size_t i = 0; i < value.len; i++) {
        if (s_space(value.ptr[i])) {
            pending_space = s->len > value_off;
            continue;
        }
        if (pending_space) {
            s->ptr[s->len++] = ' ';
            pending_space = false;
        }
        s->ptr[s->len++] = value.ptr[i];
    }
    s->ptr[s->len] = '\0';
    return s_list_add(l, name_off, value_off - name_off, value_off, s->len - value_off, err);
}

/* Append "name:v1,v2\n" lines to cr and "name;name" to signed (both sorted, merged). */
static int s_emit_headers(s_list *l, const mb_buf *s, mb_buf *cr, mb_buf *signed_headers) {
    for (size_t i = 0; i < l->count; i++) {
        const s_entry *e = &l->items[i];
        bool same =
            i > 0 && s_cmp_bytes(s->ptr + e->name_off, e->name_len,
                                 s->ptr + l->items[i - 1].name_off, l->items[i - 1].name_len) == 0;
        int rc = 0;
        if (same) {
            rc |= mb_buf_append_byte(cr, ',');
        } else {
            if (i > 0) {
                rc |= mb_buf_append_byte(cr, '\n');
                rc |= mb_buf_append_byte(signed_headers, ';');
            }
            rc |= mb_buf_append(cr, s->ptr + e->name_off, e->name_len);
            rc |= mb_buf_append_byte(cr, ':');
            rc |= mb_buf_append(signed_headers, s->ptr + e->name_off, e->name_len);
        }
        rc |= mb_buf_append(cr, s->ptr + e->value_off, e->value_len);
        if (rc != 0) {
            return -1;
        }
    }
    return l->count ? mb_buf_append_byte(cr, '\n') : 0;
}

/* ---- canonical query ---- */

/* Decode then re-encode one name or value of the request's query into scratch. */
static int s_requery(mb_buf *s, const char *p, size_t n, size_t *off, size_t *len, mb_err *err) {
    size_t raw = s->len;
    /* strict: a broken escape is refused, never signed as text */
    int rc = mb_text_pct_decode_buf(s, (mb_cur){p, n}, MB_TEXT_PCT_STRICT);
    if (rc != 0) {
        return mb_err_set(err, rc,
                          rc == MB_ERR_INVALID ? "sigv4: bad percent-escape in the query"
                                               : "sigv4: out of memory");
    }
    size_t dlen = s->len - raw;
    if (mb_buf_reserve(s, 3 * dlen) != 0) {
        return mb_err_set(err, MB_ERR_NOMEM, "sigv4: out of memory");
    }
    *off = s->len;
    s_uri_encode(s, s->ptr + raw, dlen, false); /* cannot fail: room reserved above */
    *len = s->len - *off;
    return 0;
}

static int s_parse_query(s_list *l, mb_buf *s, mb_cur q, mb_err *err) {
    size_t i = 0;
    while (i < q.len) {
        size_t start = i;
        while (i < q.len && q.ptr[i] != '&') {
            i++;
        }
        size_t end = i++;
        if (end == start) {
            continue;
        }
        const char *eq = memchr(q.ptr + start, '=', end - start);
        size_t name_end = eq ? (size_t)(eq - q.ptr) : end;
        size_t value_start = eq ? name_end + 1 : end;
        s_entry e = {0};
        int rc = s_requery(s, q.ptr + start, name_end - start, &e.name_off, &e.name_len, err);
        rc = rc ? rc
                : s_requery(s, q.ptr + value_start, end - value_start, &e.value_off, &e.value_len,
                            err);
        rc = rc ? rc : s_list_add(l, e.name_off, e.name_len, e.value_off, e.value_len, err);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* Add a parameter whose value is raw (not yet encoded): X-Amz-Credential and friends. */
static int s_add_param(s_list *l, mb_buf *s, const char *name, const char *value, size_t vlen,
                       mb_err *err) {
    size_t name_off = s->len;
    if (s_uri_encode(s, name, strlen(name), false) != 0) {
        return mb_err_set(err, MB_ERR_NOMEM, "sigv4: out of memory");
    }
    size_t value_off = s->len;
    if (s_uri_encode(s, value, vlen, false) != 0) {
        return mb_err_set(err, MB_ERR_NOMEM, "sigv4: out of memory");
    }
    return s_list_add(l, name_off, value_off - name_off, value_off, s->len - value_off, err);
}

static int s_emit_query(const s_list *l, const mb_buf *s, mb_buf *q) {
    int rc = 0;
    for (size_t i = 0; i < l->count; i++) {
        const s_entry *e = &l->items[i];
        if (i > 0) {
            rc |= mb_buf_append_byte(q, '&');
        }
        rc |= mb_buf_append(q, s->ptr + e->name_off, e->name_len);
        rc |= mb_buf_append_byte(q, '=');
        rc |= mb_buf_append(q, s->ptr + e->value_off, e->value_len);
    }
    return rc;
}

/* ---- the signing steps ---- */

static bool s_scope_part_ok(const char *p) {
    size_t n = p ? strnlen(p, MB_SIGV4_MAX_SCOPE_PART + 1) : 0;
    if (n == 0 || n > MB_SIGV4_MAX_SCOPE_PART) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!s_unreserved((unsigned char)p[i])) {
            return false;
        }
    }
    return true;
}

static int s_check_input(const mb_sigv4_signer *sg, const mb_sigv4_request *req,
                         const mb_sigv4_params *pr, mb_sigv4_output *out, mb_err *err) {
    if (!sg->creds.access_key_id || !sg->creds.secret_access_key) {
        return mb_err_set(err, MB_ERR_CONFIG, "sigv4: no credentials");
    }
    if (!s_scope_part_ok(pr->region) || !s_scope_part_ok(pr->service)) {
        return mb_err_set(err, MB_ERR_CONFIG, "sigv4: region or service missing or malformed");
    }
    if (!req->method || !req->method[0] || strnlen(req->method, 17) > 16) {
        return mb_err_set(err, MB_ERR_INVALID, "sigv4: bad method");
    }
    time_t t = (time_t)pr->time;
    struct tm tm;
    if (pr->time < 0 || !gmtime_r(&t, &tm) ||
        strftime(out->amz_date, sizeof out->amz_date, "%Y%m%dT%H%M%SZ", &tm) != 16) {
        return mb_err_set(err, MB_ERR_INVALID, "sigv4: signing time out of range");
    }
    return 0;
}

static void s_reset_output(mb_sigv4_output *out) {
    mb_buf_reset(&out->canonical_request);
    mb_buf_reset(&out->string_to_sign);
    mb_buf_reset(&out->signed_headers);
    mb_buf_reset(&out->authorization);
    mb_buf_reset(&out->query);
    mb_buf_reset(&out->scratch);
    mb_buf_reset(&out->canonical_headers);
    out->signature[0] = '\0';
    out->amz_date[0] = '\0';
    out->header_count = 0;
}

/* Sorted canonical header lines and the signed-header list, into out. */
static int s_build_headers(const mb_sigv4_signer *sg, const mb_sigv4_request *req,
                           const mb_sigv4_params *pr, enum s_mode mode, mb_sigv4_output *out,
                           s_list *l, mb_err *err) {
    l->count = 0;
    mb_buf_reset(&out->scratch);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < req->header_count; i++) {
        rc = s_add_header(l, &out->scratch, req->headers[i].name, req->headers[i].value, err);
    }
    if (rc == 0 && mode == S_MODE_HEADERS) {
        rc = s_add_header(l, &out->scratch, MB_CUR_LIT("x-amz-date"), (mb_cur){out->amz_date, 16},
                          err);
        if (rc == 0 && sg->creds.session_token && !pr->omit_session_token) {
            rc = s_add_header(l, &out->scratch, MB_CUR_LIT("x-amz-security-token"),
                              mb_cur_from_cstr(sg->creds.session_token), err);
        }
        if (rc == 0 && pr->sign_body) {
            rc = s_add_header(l, &out->scratch, MB_CUR_LIT("x-amz-content-sha256"),
                              (mb_cur){out->payload_hash, 64}, err);
        }
    }
    if (rc != 0) {
        return rc;
    }
    s_list_sort(l, &out->scratch, true);
    if (s_emit_headers(l, &out->scratch, &out->canonical_headers, &out->signed_headers) != 0) {
        return mb_err_set(err, MB_ERR_NOMEM, "sigv4: out of memory");
    }
    return 0;
}

/* The credential scope "YYYYMMDD/region/service/aws4_request" into scope[]. */
static void s_scope(const mb_sigv4_output *out, const mb_sigv4_params *pr, char *scope,
                    size_t size) {
    snprintf(scope, size, "%.8s/%s/%s/aws4_request", out->amz_date, pr->region, pr->service);
}

/* The canonical query: the request's parameters plus, in query mode, the X-Amz-* ones. */
static int s_build_query(const mb_sigv4_signer *sg, const mb_sigv4_request *req,
                         const mb_sigv4_params *pr, enum s_mode mode, mb_sigv4_output *out,
                         s_list *l, mb_err *err) {
    l->count = 0;
    mb_buf *s = &out->scratch;
    int rc = s_parse_query(l, s, req->query, err);
    if (rc == 0 && mode == S_MODE_QUERY) {
        char scope[3 * MB_SIGV4_MAX_SCOPE_PART], cred[MB_SIGV4_MAX_KEY_ID + sizeof scope + 1];
        char expires[24];
        s_scope(out, pr, scope, sizeof scope);
        int n = snprintf(cred, sizeof cred, "%s/%s", sg->creds.access_key_id, scope);
        snprintf(expires, sizeof expires, "%ld", pr->expires);
        rc = s_add_param(l, s, "X-Amz-Algorithm", ALGORITHM, strlen(ALGORITHM), err);
        rc = rc ? rc : s_add_param(l, s, "X-Amz-Credential", cred, (size_t)n, err);
        rc = rc ? rc : s_add_param(l, s, "X-Amz-Date", out->amz_date, 16, err);
        rc = rc ? rc : s_add_param(l, s, "X-Amz-Expires", expires, strlen(expires), err);
        rc = rc ? rc
                : s_add_param(l, s, "X-Amz-SignedHeaders", out->signed_headers.ptr,
                              out->signed_headers.len, err);
        if (rc == 0 && sg->creds.session_token && !pr->omit_session_token) {
            const char *t = sg->creds.session_token;
            rc = s_add_param(l, s, "X-Amz-Security-Token", t, strlen(t), err);
        }
    }
    if (rc != 0) {
        return rc;
    }
    s_list_sort(l, s, false);
    return s_emit_query(l, s, &out->query) ? mb_err_set(err, MB_ERR_NOMEM, "sigv4: no memory") : 0;
}

static int s_canonical_request(const mb_sigv4_request *req, const mb_sigv4_params *pr,
                               mb_sigv4_output *out, mb_err *err) {
    mb_buf *cr = &out->canonical_request;
    int rc = mb_buf_append_cstr(cr, req->method) | mb_buf_append_byte(cr, '\n');
    if (rc != 0) {
        return mb_err_set(err, MB_ERR_NOMEM, "sigv4: out of memory");
    }
    rc = s_canonical_uri(cr, req->path, pr->normalize_path, err);
    if (rc != 0) {
        return rc;
    }
    rc = mb_buf_append_byte(cr, '\n') | mb_buf_append_cur(cr, mb_buf_cur(&out->query)) |
         mb_buf_append_byte(cr, '\n') | mb_buf_append_cur(cr, mb_buf_cur(&out->canonical_headers)) |
         mb_buf_append_byte(cr, '\n') | mb_buf_append_cur(cr, mb_buf_cur(&out->signed_headers)) |
         mb_buf_append_byte(cr, '\n') | mb_buf_append(cr, out->payload_hash, 64);
    return rc ? mb_err_set(err, MB_ERR_NOMEM, "sigv4: out of memory") : 0;
}

static int s_string_to_sign_and_signature(mb_sigv4_signer *sg, const mb_sigv4_params *pr,
                                          mb_sigv4_output *out, mb_err *err) {
    char scope[3 * MB_SIGV4_MAX_SCOPE_PART], cr_hash[65], date[9];
    s_scope(out, pr, scope, sizeof scope);
    mb_sigv4_sha256_hex(mb_buf_cur(&out->canonical_request), cr_hash);
    if (mb_buf_appendf(&out->string_to_sign, ALGORITHM "\n%s\n%s\n%s", out->amz_date, scope,
                       cr_hash) != 0) {
        return mb_err_set(err, MB_ERR_NOMEM, "sigv4: out of memory");
    }
    snprintf(date, sizeof date, "%.8s", out->amz_date);
    unsigned char sig[32];
    if (s_signing_key(sg, date, pr->region, pr->service) != 0 ||
        s_hmac(sg->key, sizeof sg->key, out->string_to_sign.ptr, out->string_to_sign.len, sig)) {
        return mb_err_set(err, MB_ERR_NOMEM, "sigv4: HMAC-SHA256 failed");
    }
    mb_text_hex_encode(sig, sizeof sig, out->signature);
    return 0;
}

static int s_sign(mb_sigv4_signer *sg, const mb_sigv4_request *req, const mb_sigv4_params *pr,
                  enum s_mode mode, mb_sigv4_output *out, mb_err *err) {
    s_reset_output(out);
    int rc = s_check_input(sg, req, pr, out, err);
    if (rc != 0) {
        return rc;
    }
    s_list *l = malloc(sizeof *l); /* 10 KiB: too big for a Lambda-sized stack frame chain */
    if (!l) {
        return mb_err_set(err, MB_ERR_NOMEM, "sigv4: out of memory");
    }
    mb_sigv4_sha256_hex(req->body, out->payload_hash);
    rc = s_build_headers(sg, req, pr, mode, out, l, err);
    rc = rc ? rc : s_build_query(sg, req, pr, mode, out, l, err);
    free(l);
    rc = rc ? rc : s_canonical_request(req, pr, out, err);
    return rc ? rc : s_string_to_sign_and_signature(sg, pr, out, err);
}

int mb_sigv4_sign_headers(mb_sigv4_signer *signer, const mb_sigv4_request *req,
                          const mb_sigv4_params *params, mb_sigv4_output *out, mb_err *err) {
    int rc = s_sign(signer, req, params, S_MODE_HEADERS, out, err);
    if (rc != 0) {
        return rc;
    }
    char scope[3 * MB_SIGV4_MAX_SCOPE_PART];
    s_scope(out, params, scope, sizeof scope);
    if (mb_buf_appendf(
            &out->authorization, ALGORITHM " Credential=%s/%s, SignedHeaders=%s, Signature=%s",
            signer->creds.access_key_id, scope, out->signed_headers.ptr, out->signature) != 0) {
        return mb_err_set(err, MB_ERR_NOMEM, "sigv4: out of memory");
    }
    size_t n = 0;
    out->headers[n++] = (mb_http_header){MB_CUR_LIT("X-Amz-Date"), {out->amz_date, 16}};
    if (signer->creds.session_token) {
        out->headers[n++] = (mb_http_header){MB_CUR_LIT("X-Amz-Security-Token"),
                                             mb_cur_from_cstr(signer->creds.session_token)};
    }
    if (params->sign_body) {
        out->headers[n++] =
            (mb_http_header){MB_CUR_LIT("X-Amz-Content-Sha256"), {out->payload_hash, 64}};
    }
    out->headers[n++] =
        (mb_http_header){MB_CUR_LIT("Authorization"), mb_buf_cur(&out->authorization)};
    out->header_count = n;
    return 0;
}

int mb_sigv4_presign_query(mb_sigv4_signer *signer, const mb_sigv4_request *req,
                           const mb_sigv4_params *params, mb_sigv4_output *out, mb_err *err) {
    if (params->expires < 1 || params->expires > MAX_EXPIRES) {
        s_reset_output(out);
        return mb_err_set(err, MB_ERR_INVALID, "sigv4: expires must be 1..%ld", MAX_EXPIRES);
    }
    int rc = s_sign(signer, req, params, S_MODE_QUERY, out, err);
    if (rc != 0) {
        return rc;
    }
    rc = mb_buf_append_cstr(&out->query, out->query.len ? "&X-Amz-Signature=" : "X-Amz-Signature=");
    rc |= mb_buf_append(&out->query, out->signature, 64);
    if (signer->creds.session_token && params->omit_session_token) {
        const char *t = signer->creds.session_token;
        rc |= mb_buf_append_cstr(&out->query, "&X-Amz-Security-Token=");
        rc |= s_uri_encode(&out->query, t, strlen(t), false);
    }
    return rc ? mb_err_set(err, MB_ERR_NOMEM, "sigv4: out of memory") : 0;
}
