/* jwt.c - RS256 JWT verification (JWS layer, Cognito claims, verified-token cache). */
#include "moonbase/jwt.h"

#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "moonbase/clock.h"
#include "moonbase/base64.h"
#include "jwt_json.h"

/* The largest signature we accept: a 4096-bit modulus. */
#define MB_JWT_MAX_SIG (MB_JWKS_MAX_BITS / 8)
/* Header members kept (alg, kid, typ and a few harmless extras). */
#define MB_JWT_MAX_HEADER_MEMBERS 16
/* Probe window of the open-addressed cache: a new entry evicts the soonest-expiring of these. */
#define MB_JWT_CACHE_PROBE 4

typedef struct s_entry {
    uint64_t hash;
    uint64_t key_serial;
    mb_cur token;
    mb_jwt_claims claims;
    char data[]; /* token bytes, then the payload, then unescaped claim strings */
} s_entry;

struct mb_jwt_verifier {
    char *issuer;
    char *client_ids[MB_JWKS_MAX_KEYS];
    size_t client_id_count;
    int skew;
    mb_clock clock; /* wall seconds through mb_clock_now_s: time() on the cached path */
    mb_jwks *jwks;
    uint64_t seed;
    uint64_t jwks_generation; /* the set generation the cache was last swept against */
    s_entry *slots[MB_JWT_CACHE_SLOTS];
    size_t entries;
    uint64_t hits;
    uint64_t misses;
    const char *detail;
};

/* The three segments of a compact JWS and the signed part (header.payload). */
typedef struct s_parts {
    mb_cur header;
    mb_cur payload;
    mb_cur sig;
    mb_cur signing_input;
} s_parts;

static void s_free_strings(mb_jwt_verifier *v) {
    free(v->issuer);
    for (size_t i = 0; i < v->client_id_count; i++) {
        free(v->client_ids[i]);
    }
}

static int s_copy_options(mb_jwt_verifier *v, const mb_jwt_options *o, mb_err *err) {
    if (o->issuer == NULL || o->issuer[0] == '\0' || o->client_id_count == 0 ||
        o->client_id_count > MB_JWKS_MAX_KEYS || o->clock_skew_s < 0 || o->clock_skew_s > 300) {
        return mb_err_set(err, MB_ERR_CONFIG,
                          "jwt: issuer, 1..%d client ids and a skew of 0..300 s are required",
                          MB_JWKS_MAX_KEYS);
    }
    if ((v->issuer = strdup(o->issuer)) == NULL) {
        return mb_err_set(err, MB_ERR_NOMEM, "jwt: out of memory");
    }
    for (size_t i = 0; i < o->client_id_count; i++) {
        if (o->client_ids[i] == NULL || (v->client_ids[i] = strdup(o->client_ids[i])) == NULL) {
            return mb_err_set(err, o->client_ids[i] == NULL ? MB_ERR_CONFIG : MB_ERR_NOMEM,
                              "jwt: bad client id list");
        }
        v->client_id_count = i + 1;
    }
    return 0;
}

mb_jwt_verifier *mb_jwt_verifier_new(const mb_jwt_options *opts, mb_jwks *jwks, mb_err *err) {
    mb_jwt_verifier *v = calloc(1, sizeof *v);
    if (v == NULL) {
        mb_err_set(err, MB_ERR_NOMEM, "jwt: out of memory");
        return NULL;
    }
    if (jwks == NULL) {
        mb_err_set(err, MB_ERR_CONFIG, "jwt: a key set is required");
        free(v);
        return NULL;
    }
    if (s_copy_options(v, opts, err) != 0) {
        s_free_strings(v);
        free(v);
        return NULL;
    }
    v->skew = opts->clock_skew_s;
    v->clock = opts->clock;
    v->jwks = jwks;
    v->jwks_generation = mb_jwks_generation(jwks);
    /* Only verified tokens enter the cache, so the seed needs no secrecy; it just varies. */
    v->seed =
        ((uint64_t)mb_clock_mono_ns(NULL) << 20) ^ (uint64_t)(uintptr_t)v ^ 0x9E3779B97F4A7C15ull;
    v->detail = "";
    return v;
}

void mb_jwt_cache_clear(mb_jwt_verifier *v) {
    for (size_t i = 0; i < MB_JWT_CACHE_SLOTS; i++) {
        free(v->slots[i]);
        v->slots[i] = NULL;
    }
    v->entries = 0;
}

void mb_jwt_verifier_free(mb_jwt_verifier *v) {
    if (v == NULL) {
        return;
    }
    mb_jwt_cache_clear(v);
    s_free_strings(v);
    free(v);
}

const char *mb_jwt_last_detail(const mb_jwt_verifier *v) {
    return v->detail;
}

void mb_jwt_cache_stats_get(const mb_jwt_verifier *v, mb_jwt_cache_stats *out) {
    out->hits = v->hits;
    out->misses = v->misses;
    out->entries = v->entries;
}

/* 64-bit multiply-xorshift hash, 8 bytes per step (a 1 KB token hashes in ~0.1 us). */
static uint64_t s_hash(uint64_t seed, mb_cur s) {
    uint64_t h = seed ^ (s.len * 0xFF51AFD7ED558CCDull);
    size_t i = 0;
    for (; i + 8 <= s.len; i += 8) {
        uint64_t w;
        memcpy(&w, s.ptr + i, 8);
        h = (h ^ w) * 0x9E3779B97F4A7C15ull;
        h ^= h >> 29;
    }
    uint64_t tail = 0;
    memcpy(&tail, s.ptr + i, s.len - i);
    h = (h ^ tail) * 0x9E3779B97F4A7C15ull;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ull;
    return h ^ (h >> 33);
}

/* Client-safe failure: the client sees `public_msg`, logs get `detail` (a static string). */
static int s_fail(const char **detail_out, mb_err *err, int status, const char *public_msg,
                  const char *detail) {
    if (detail_out != NULL) {
        *detail_out = detail;
    }
    return mb_err_set(err, status, "%s", public_msg);
}

#define S_INVALID(d) s_fail(detail, err, MB_ERR_UNAUTH, "invalid token", (d))

static int s_split(mb_cur t, s_parts *p, const char **detail, mb_err *err) {
    const char *d1 = memchr(t.ptr, '.', t.len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', t.len - (size_t)(d1 + 1 - t.ptr)) : NULL;
    if (d2 == NULL || memchr(d2 + 1, '.', t.len - (size_t)(d2 + 1 - t.ptr)) != NULL) {
        return S_INVALID("not three segments");
    }
    p->header = (mb_cur){t.ptr, (size_t)(d1 - t.ptr)};
    p->payload = (mb_cur){d1 + 1, (size_t)(d2 - d1 - 1)};
    p->sig = (mb_cur){d2 + 1, t.len - (size_t)(d2 + 1 - t.ptr)};
    p->signing_input = (mb_cur){t.ptr, (size_t)(d2 - t.ptr)};
    /* An empty payload is a valid JWS (RFC 7515); for a JWT it fails later as a non-object. */
    if (p->header.len == 0 || p->sig.len == 0) {
        return S_INVALID("empty header or signature");
    }
    return 0;
}

/* Decode and check the header; on success kid holds the unescaped kid. */
static int s_header(mb_cur seg, char *kid, size_t *kid_len, const char **detail, mb_err *err) {
    unsigned char buf[MB_JWT_MAX_HEADER];
    size_t n, count;
    mb_jwt_member m[MB_JWT_MAX_HEADER_MEMBERS];
    if (mb_base64url_decode_to(seg, buf, sizeof buf, &n) != 0) {
        return S_INVALID("header is not strict base64url or too long");
    }
    if (mb_jwt_json_object((mb_cur){(const char *)buf, n}, m, MB_JWT_MAX_HEADER_MEMBERS, &count) !=
        0) {
        return S_INVALID("header is not a JSON object");
    }
    const mb_jwt_member *alg = mb_jwt_json_find(m, count, MB_CUR_LIT("alg"));
    if (alg == NULL || alg->type != MB_JWT_JSON_STRING ||
        !mb_jwt_json_str_eq(alg->value, alg->value_escaped, MB_CUR_LIT("RS256"))) {
        return S_INVALID("alg is not RS256");
    }
    if (mb_jwt_json_find(m, count, MB_CUR_LIT("crit")) != NULL) {
        return S_INVALID("crit names an extension we do not implement");
    }
    const mb_jwt_member *k = mb_jwt_json_find(m, count, MB_CUR_LIT("kid"));
    if (k == NULL || k->type != MB_JWT_JSON_STRING ||
        mb_text_json_unescape(k->value, kid, MB_JWKS_MAX_KID, kid_len) != 0 || *kid_len == 0) {
        return S_INVALID("kid missing or not a string");
    }
    return 0;
}

/* The JWS layer: split, header, key by kid, signature. */
static int s_jws(mb_jwks *jwks, mb_cur token, s_parts *p, uint64_t *serial, const char **detail,
                 mb_err *err) {
    if (token.len == 0 || token.len > MB_JWT_MAX_TOKEN) {
        return S_INVALID("token size out of bounds");
    }
    char kid[MB_JWKS_MAX_KID];
    size_t kid_len, sig_len;
    unsigned char sig[MB_JWT_MAX_SIG];
    int rc = s_split(token, p, detail, err);
    if (rc == 0) {
        rc = s_header(p->header, kid, &kid_len, detail, err);
    }
    if (rc != 0) {
        return rc;
    }
    if (mb_base64url_decode_to(p->sig, sig, sizeof sig, &sig_len) != 0) {
        return S_INVALID("signature is not strict base64url or too long");
    }
    const mb_jwks_key *key = NULL;
    mb_err kerr;
    rc = mb_jwks_find(jwks, (mb_cur){kid, kid_len}, &key, &kerr);
    if (rc == MB_ERR_UNAVAILABLE) {
        return s_fail(detail, err, rc, "authentication unavailable", "JWKS fetch failed");
    }
    if (rc != 0) {
        return rc == MB_ERR_NOMEM ? s_fail(detail, err, rc, "out of memory", "out of memory")
                                  : S_INVALID("no usable key with this kid");
    }
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)p->signing_input.ptr, p->signing_input.len, digest);
    if (mb_jwks_key_verify(key, digest, sig, sig_len) != 0) {
        return S_INVALID("signature mismatch");
    }
    *serial = mb_jwks_key_serial(key);
    return 0;
}

int mb_jwt_verify_jws(mb_jwks *jwks, mb_cur token, const char **detail, mb_err *err) {
    s_parts p;
    uint64_t serial;
    const char *d = "";
    int rc = s_jws(jwks, token, &p, &serial, &d, err);
    if (detail != NULL) {
        *detail = d;
    }
    return rc;
}

/* Claim extraction state: the parsed payload and the area unescaped strings are written to. */
typedef struct s_ctx {
    const mb_jwt_member *m;
    size_t count;
    char *strings;
    size_t used;
} s_ctx;

/* Member `name` if present with type `type`; *bad when present with another type. */
static const mb_jwt_member *s_get(const s_ctx *c, const char *name, int type, bool *bad) {
    const mb_jwt_member *m = mb_jwt_json_find(c->m, c->count, mb_cur_from_cstr(name));
    if (m != NULL && m->type != type) {
        *bad = true;
        return NULL;
    }
    return m;
}

static int s_copy_string(s_ctx *c, const mb_jwt_member *m, mb_cur *out) {
    size_t n;
    char *dst = c->strings + c->used;
    if (m == NULL) {
        *out = (mb_cur){"", 0};
        return 0;
    }
    if (mb_text_json_unescape(m->value, dst, m->value.len, &n) != 0) {
        return MB_ERR_INVALID;
    }
    *out = (mb_cur){dst, n};
    c->used += n;
    return 0;
}

static bool s_client_ok(const mb_jwt_verifier *v, const mb_jwt_member *m) {
    for (size_t i = 0; i < v->client_id_count; i++) {
        if (mb_jwt_json_str_eq(m->value, m->value_escaped, mb_cur_from_cstr(v->client_ids[i]))) {
            return true;
        }
    }
    return false;
}

/* aud (id token: a string, or an array with at least one accepted string) or client_id. */
static bool s_audience_ok(const mb_jwt_verifier *v, const s_ctx *c, mb_jwt_token_use use) {
    const mb_jwt_member *m = mb_jwt_json_find(
        c->m, c->count, use == MB_JWT_USE_ID ? MB_CUR_LIT("aud") : MB_CUR_LIT("client_id"));
    if (m == NULL) {
        return false;
    }
    if (m->type == MB_JWT_JSON_STRING) {
        return s_client_ok(v, m);
    }
    if (m->type != MB_JWT_JSON_ARRAY || use != MB_JWT_USE_ID) {
        return false;
    }
    mb_jwt_json_iter it;
    mb_jwt_member e;
    bool ok = false;
    mb_jwt_json_iter_init(&it, m->value);
    while (mb_jwt_json_iter_next(&it, &e) == 1) {
        if (e.type != MB_JWT_JSON_STRING) {
            return false;
        }
        ok = ok || s_client_ok(v, &e);
    }
    return ok;
}

static bool s_string_array(mb_cur arr) {
    mb_jwt_json_iter it;
    mb_jwt_member e;
    int rc;
    mb_jwt_json_iter_init(&it, arr);
    while ((rc = mb_jwt_json_iter_next(&it, &e)) == 1) {
        if (e.type != MB_JWT_JSON_STRING) {
            return false;
        }
    }
    return rc == 0;
}

/* A NumericDate member: absent -> fallback, present -> must be a JSON number. */
static int s_date(const s_ctx *c, const char *name, int64_t fallback, int64_t *out) {
    bool bad = false;
    const mb_jwt_member *m = s_get(c, name, MB_JWT_JSON_NUMBER, &bad);
    if (bad) {
        return MB_ERR_INVALID;
    }
    if (m == NULL) {
        *out = fallback;
        return 0;
    }
    return mb_jwt_json_number(m->value, out);
}

static int s_times(const mb_jwt_verifier *v, const mb_jwt_claims *c, int64_t now,
                   const char **detail, mb_err *err) {
    if (now >= c->exp + v->skew) {
        return s_fail(detail, err, MB_ERR_UNAUTH, "token expired", "exp is in the past");
    }
    if (c->nbf != INT64_MIN && c->nbf > now + v->skew) {
        return s_fail(detail, err, MB_ERR_UNAUTH, "token not yet valid", "nbf is in the future");
    }
    if (c->iat != INT64_MIN && c->iat > now + v->skew) {
        return S_INVALID("iat is in the future");
    }
    return 0;
}

static int s_token_use(const s_ctx *c, mb_jwt_claims *out, const char **detail, mb_err *err) {
    bool bad = false;
    const mb_jwt_member *use = s_get(c, "token_use", MB_JWT_JSON_STRING, &bad);
    if (use != NULL && mb_jwt_json_str_eq(use->value, use->value_escaped, MB_CUR_LIT("id"))) {
        out->token_use = MB_JWT_USE_ID;
    } else if (use != NULL &&
               mb_jwt_json_str_eq(use->value, use->value_escaped, MB_CUR_LIT("access"))) {
        out->token_use = MB_JWT_USE_ACCESS;
    } else {
        return S_INVALID("token_use is not id or access");
    }
    return 0;
}

static int s_numbers(const s_ctx *c, mb_jwt_claims *out, const char **detail, mb_err *err) {
    int64_t auth_time;
    if (s_date(c, "exp", INT64_MIN, &out->exp) != 0 || out->exp == INT64_MIN) {
        return S_INVALID("exp missing or not a number");
    }
    if (s_date(c, "nbf", INT64_MIN, &out->nbf) != 0 ||
        s_date(c, "iat", INT64_MIN, &out->iat) != 0 || s_date(c, "auth_time", 0, &auth_time) != 0) {
        return S_INVALID("nbf, iat or auth_time is not a number");
    }
    return 0;
}

/* sub, email, username, tenant, groups: types checked, strings unescaped into c->strings. */
static int s_identity(s_ctx *c, mb_jwt_claims *out, const char **detail, mb_err *err) {
    bool bad = false;
    const mb_jwt_member *sub = s_get(c, "sub", MB_JWT_JSON_STRING, &bad);
    const mb_jwt_member *email = s_get(c, "email", MB_JWT_JSON_STRING, &bad);
    const mb_jwt_member *user =
        s_get(c, out->token_use == MB_JWT_USE_ID ? "cognito:username" : "username",
              MB_JWT_JSON_STRING, &bad);
    const mb_jwt_member *tenant = s_get(c, "custom:tenant_id", MB_JWT_JSON_STRING, &bad);
    const mb_jwt_member *groups = s_get(c, "cognito:groups", MB_JWT_JSON_ARRAY, &bad);
    if (bad || sub == NULL || sub->value.len == 0) {
        return S_INVALID("sub missing, or an identity claim has the wrong type");
    }
    if (groups != NULL && !s_string_array(groups->value)) {
        return S_INVALID("cognito:groups is not an array of strings");
    }
    if (s_copy_string(c, sub, &out->sub) != 0 || s_copy_string(c, email, &out->email) != 0 ||
        s_copy_string(c, user, &out->username) != 0 ||
        s_copy_string(c, tenant, &out->tenant) != 0) {
        return S_INVALID("bad string escape");
    }
    if (out->username.len == 0) {
        out->username = out->sub;
    }
    out->groups = groups != NULL ? groups->value : (mb_cur){"", 0};
    return 0;
}

/* Parse and check the payload decoded in e->claims.payload. */
static int s_claims(const mb_jwt_verifier *v, s_entry *e, char *strings, int64_t now,
                    const char **detail, mb_err *err) {
    mb_jwt_member m[MB_JWT_MAX_CLAIMS];
    s_ctx c = {m, 0, strings, 0};
    mb_jwt_claims *out = &e->claims;
    if (mb_jwt_json_object(out->payload, m, MB_JWT_MAX_CLAIMS, &c.count) != 0) {
        return S_INVALID("payload is not a JSON object (or has too many claims)");
    }
    bool bad = false;
    const mb_jwt_member *iss = s_get(&c, "iss", MB_JWT_JSON_STRING, &bad);
    if (iss == NULL ||
        !mb_jwt_json_str_eq(iss->value, iss->value_escaped, mb_cur_from_cstr(v->issuer))) {
        return S_INVALID("iss mismatch");
    }
    int rc = s_token_use(&c, out, detail, err);
    if (rc == 0) {
        rc = s_numbers(&c, out, detail, err);
    }
    if (rc == 0 && !s_audience_ok(v, &c, out->token_use)) {
        rc = S_INVALID(out->token_use == MB_JWT_USE_ID ? "aud not an accepted client id"
                                                       : "client_id not an accepted client id");
    }
    if (rc == 0) {
        rc = s_identity(&c, out, detail, err);
    }
    if (rc == 0) {
        rc = s_times(v, out, now, detail, err);
    }
    return rc;
}

/* Drop cached tokens whose key left the set (called when the set's generation moved). */
static void s_sweep(mb_jwt_verifier *v) {
    uint64_t gen = mb_jwks_generation(v->jwks);
    if (gen == v->jwks_generation) {
        return;
    }
    v->jwks_generation = gen;
    for (size_t i = 0; i < MB_JWT_CACHE_SLOTS; i++) {
        if (v->slots[i] != NULL && !mb_jwks_has_serial(v->jwks, v->slots[i]->key_serial)) {
            free(v->slots[i]);
            v->slots[i] = NULL;
            v->entries--;
        }
    }
}

static s_entry *s_cache_find(const mb_jwt_verifier *v, uint64_t h, mb_cur token, size_t *slot) {
    for (size_t i = 0; i < MB_JWT_CACHE_PROBE; i++) {
        size_t s = (h + i) & (MB_JWT_CACHE_SLOTS - 1);
        s_entry *e = v->slots[s];
        if (e != NULL && e->hash == h && mb_cur_eq(e->token, token)) {
            *slot = s;
            return e;
        }
    }
    return NULL;
}

static void s_cache_insert(mb_jwt_verifier *v, s_entry *e) {
    size_t victim = e->hash & (MB_JWT_CACHE_SLOTS - 1);
    for (size_t i = 0; i < MB_JWT_CACHE_PROBE; i++) {
        size_t s = (e->hash + i) & (MB_JWT_CACHE_SLOTS - 1);
        if (v->slots[s] == NULL) {
            victim = s;
            break;
        }
        if (v->slots[s]->claims.exp < v->slots[victim]->claims.exp) {
            victim = s;
        }
    }
    if (v->slots[victim] != NULL) {
        free(v->slots[victim]);
        v->entries--;
    }
    v->slots[victim] = e;
    v->entries++;
}

static void s_cache_drop(mb_jwt_verifier *v, size_t slot) {
    free(v->slots[slot]);
    v->slots[slot] = NULL;
    v->entries--;
}

/* A full verification of a token not in the cache; the verified entry is cached. */
static int s_verify_full(mb_jwt_verifier *v, mb_cur token, uint64_t h, int64_t now,
                         const mb_jwt_claims **claims, mb_err *err) {
    const char **detail = &v->detail;
    s_parts p;
    uint64_t serial;
    int rc = s_jws(v->jwks, token, &p, &serial, detail, err);
    if (rc != 0) {
        return rc;
    }
    size_t pmax = MB_BASE64_DECODED_MAX(p.payload.len);
    /* One block: entry, token copy, payload, unescaped strings (never longer than the payload). */
    s_entry *e = malloc(sizeof *e + token.len + 2 * pmax);
    if (e == NULL) {
        return s_fail(detail, err, MB_ERR_NOMEM, "out of memory", "out of memory");
    }
    memcpy(e->data, token.ptr, token.len);
    e->token = (mb_cur){e->data, token.len};
    e->hash = h;
    e->key_serial = serial;
    unsigned char *payload = (unsigned char *)e->data + token.len;
    size_t plen;
    if (mb_base64url_decode_to(p.payload, payload, pmax, &plen) != 0) {
        free(e);
        return S_INVALID("payload is not strict base64url");
    }
    e->claims.payload = (mb_cur){(const char *)payload, plen};
    rc = s_claims(v, e, (char *)payload + plen, now, detail, err);
    if (rc != 0) {
        free(e);
        return rc;
    }
    s_cache_insert(v, e);
    *claims = &e->claims;
    return 0;
}

int mb_jwt_verify(mb_jwt_verifier *v, mb_cur token, const mb_jwt_claims **claims, mb_err *err) {
    const char **detail = &v->detail;
    v->detail = "";
    *claims = NULL;
    if (token.len == 0 || token.len > MB_JWT_MAX_TOKEN) {
        return S_INVALID("token size out of bounds");
    }
    s_sweep(v);
    int64_t now = mb_clock_now_s(&v->clock); /* every token, cached or not */
    uint64_t h = s_hash(v->seed, token);
    size_t slot;
    s_entry *e = s_cache_find(v, h, token, &slot);
    if (e == NULL) {
        v->misses++;
        return s_verify_full(v, token, h, now, claims, err);
    }
    v->hits++;
    int rc = s_times(v, &e->claims, now, detail, err);
    if (rc != 0) {
        if (now >= e->claims.exp + v->skew) {
            s_cache_drop(v, slot); /* it can only stay expired */
        }
        return rc;
    }
    *claims = &e->claims;
    return 0;
}
