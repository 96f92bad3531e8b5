/* test_jwks.c - the key set: lazy fetch, rate-limited refetch on unknown kids, rotation, key reuse,
 * the key-usability rules, and the Wycheproof key-import and RSA PKCS#1 v1.5 SHA-256 vectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/sha.h>
#include <string.h>

#include "jwt_testkit.h"
#include "moonbase/jwks.h"
#include "moonbase/jwt.h"

static tk_key g_k1, g_k2, g_small;

static int group_setup(void **state) {
    (void)state;
    tk_key_init(&g_k1, 2048, "k1");
    tk_key_init(&g_k2, 2048, "k2");
    tk_key_init(&g_small, 1024, "small");
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    tk_key_cleanup(&g_k1);
    tk_key_cleanup(&g_k2);
    tk_key_cleanup(&g_small);
    return 0;
}

typedef struct fx {
    tk_fetch fetch;
    tk_clock mono;
    mb_buf doc;
    mb_jwks *jwks;
} fx;

static int setup(void **state) {
    fx *f = calloc(1, sizeof *f);
    const tk_key *keys[] = {&g_k1};
    tk_jwks(&f->doc, keys, 1);
    f->fetch.doc = f->doc.ptr;
    f->mono.now = 5000;
    f->jwks = mb_jwks_new("http://issuer.test/.well-known/jwks.json", tk_fetch_fn, &f->fetch, NULL);
    mb_clock mono = tk_mono(&f->mono);
    mb_jwks_set_clock(f->jwks, &mono);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx *f = *state;
    mb_jwks_free(f->jwks);
    mb_buf_cleanup(&f->doc);
    free(f);
    return 0;
}

static int s_find(fx *f, const char *kid) {
    const mb_jwks_key *k;
    return mb_jwks_find(f->jwks, mb_cur_from_cstr(kid), &k, NULL);
}

static void test_jwks_new_does_no_io(void **state) {
    fx *f = *state;
    assert_int_equal(f->fetch.calls, 0);
    assert_int_equal(mb_jwks_key_count(f->jwks), 0);
    mb_err err = {0};
    assert_null(mb_jwks_new(NULL, tk_fetch_fn, NULL, &err));
    assert_int_equal(err.status, MB_ERR_CONFIG);
    mb_jwks_free(NULL);
}

static void test_jwks_fetches_lazily_once(void **state) {
    fx *f = *state;
    const mb_jwks_key *k;
    assert_int_equal(mb_jwks_find(f->jwks, MB_CUR_LIT("k1"), &k, NULL), 0);
    assert_true(mb_cur_eq(mb_jwks_key_kid(k), MB_CUR_LIT("k1")));
    assert_int_equal(mb_jwks_key_sig_len(k), 256);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(s_find(f, "k1"), 0);
    }
    assert_int_equal(f->fetch.calls, 1);
    assert_string_equal(f->fetch.last_url, "http://issuer.test/.well-known/jwks.json");
}

static void test_jwks_unknown_kid_refetch_is_rate_limited(void **state) {
    fx *f = *state;
    assert_int_equal(s_find(f, "k1"), 0);
    assert_int_equal(f->fetch.calls, 1);
    /* A flood of random kids right after the fetch: no refetch inside the window. */
    for (int i = 0; i < 100; i++) {
        char kid[16];
        snprintf(kid, sizeof kid, "rand-%d", i);
        assert_int_equal(s_find(f, kid), MB_ERR_UNAUTH);
        f->mono.now += (i % 10 == 9) ? 1000 : 0;
    }
    /* 100 lookups over 10 s of clock: exactly one more fetch once the window passed. */
    assert_true(f->fetch.calls <= 2);
    f->mono.now += MB_JWKS_REFETCH_S * 1000;
    assert_int_equal(s_find(f, "rand-x"), MB_ERR_UNAUTH);
    assert_true(f->fetch.calls <= 3);
    int before = f->fetch.calls;
    for (int i = 0; i < 50; i++) {
        assert_int_equal(s_find(f, "rand-y"), MB_ERR_UNAUTH);
    }
    assert_int_equal(f->fetch.calls, before);
}

static void test_jwks_rotation_picks_up_new_kid(void **state) {
    fx *f = *state;
    assert_int_equal(s_find(f, "k1"), 0);
    assert_int_equal(s_find(f, "k2"), MB_ERR_UNAUTH);
    const tk_key *keys[] = {&g_k1, &g_k2};
    mb_buf doc2 = {0};
    tk_jwks(&doc2, keys, 2);
    f->fetch.doc = doc2.ptr;
    f->mono.now += MB_JWKS_REFETCH_S * 1000;
    assert_int_equal(s_find(f, "k2"), 0);
    assert_int_equal(mb_jwks_key_count(f->jwks), 2);
    mb_buf_cleanup(&doc2);
}

static void test_jwks_unchanged_key_keeps_serial_removed_key_loses_it(void **state) {
    fx *f = *state;
    const mb_jwks_key *k;
    assert_int_equal(mb_jwks_find(f->jwks, MB_CUR_LIT("k1"), &k, NULL), 0);
    uint64_t s1 = mb_jwks_key_serial(k);
    uint64_t gen = mb_jwks_generation(f->jwks);
    const tk_key *both[] = {&g_k2, &g_k1};
    mb_buf doc2 = {0};
    tk_jwks(&doc2, both, 2);
    assert_int_equal(mb_jwks_load(f->jwks, mb_buf_cur(&doc2), NULL), 0);
    assert_true(mb_jwks_generation(f->jwks) > gen);
    assert_true(mb_jwks_has_serial(f->jwks, s1));
    const tk_key *only2[] = {&g_k2};
    tk_jwks(&doc2, only2, 1);
    assert_int_equal(mb_jwks_load(f->jwks, mb_buf_cur(&doc2), NULL), 0);
    assert_false(mb_jwks_has_serial(f->jwks, s1));
    mb_buf_cleanup(&doc2);
}

static void test_jwks_fetch_failure_is_unavailable_with_backoff(void **state) {
    fx *f = *state;
    mb_err err = {0};
    const mb_jwks_key *k;
    f->fetch.fail_status = MB_ERR_IO;
    assert_int_equal(mb_jwks_find(f->jwks, MB_CUR_LIT("k1"), &k, &err), MB_ERR_UNAVAILABLE);
    assert_non_null(strstr(err.msg, "jwks.json"));
    assert_int_equal(s_find(f, "k1"), MB_ERR_UNAVAILABLE); /* in back-off: no new fetch */
    assert_int_equal(f->fetch.calls, 1);
    f->fetch.fail_status = 0;
    f->mono.now += MB_JWKS_RETRY_S * 1000;
    assert_int_equal(s_find(f, "k1"), 0);
    assert_int_equal(f->fetch.calls, 2);
}

/* A fetch that fails after 3 s of the test clock, as a JWKS that never answers does. */
static int s_slow_failing_fetch(void *ud, const char *url, mb_buf *body, mb_err *err) {
    fx *f = ud;
    (void)url;
    (void)body;
    f->mono.now += 3000;
    return mb_err_set(err, MB_ERR_TIMEOUT, "timed out");
}

static void test_jwks_backoff_starts_when_a_slow_fetch_ends(void **state) {
    fx *f = *state;
    mb_jwks_free(f->jwks);
    f->jwks =
        mb_jwks_new("http://issuer.test/.well-known/jwks.json", s_slow_failing_fetch, f, NULL);
    mb_clock mono = tk_mono(&f->mono);
    mb_jwks_set_clock(f->jwks, &mono);
    assert_int_equal(s_find(f, "k1"), MB_ERR_UNAVAILABLE);
    /* Timed from the start of the 3 s attempt, the back-off would be over already. */
    f->mono.now += MB_JWKS_RETRY_S * 1000 - 1;
    assert_int_equal(s_find(f, "k1"), MB_ERR_UNAVAILABLE);
    assert_int_equal(mb_jwks_fetch_count(f->jwks), 1);
    f->mono.now += 1;
    assert_int_equal(s_find(f, "k1"), MB_ERR_UNAVAILABLE);
    assert_int_equal(mb_jwks_fetch_count(f->jwks), 2);
}

static void test_jwks_bad_document_is_unavailable_and_keeps_old_keys(void **state) {
    fx *f = *state;
    assert_int_equal(s_find(f, "k1"), 0);
    const char *bad[] = {"not json", "[]", "{\"keys\":{}}", "{\"keys\":[],\"keys\":[]}"};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(mb_jwks_load(f->jwks, mb_cur_from_cstr(bad[i]), NULL), MB_ERR_INVALID);
        assert_int_equal(mb_jwks_key_count(f->jwks), 1);
    }
    f->fetch.doc = "<html>";
    f->mono.now += MB_JWKS_REFETCH_S * 1000;
    assert_int_equal(s_find(f, "k9"), MB_ERR_UNAVAILABLE);
    assert_int_equal(s_find(f, "k1"), 0);
}

static void s_expect_skipped(fx *f, const char *doc) {
    assert_int_equal(mb_jwks_load(f->jwks, mb_cur_from_cstr(doc), NULL), 0);
    assert_int_equal(mb_jwks_key_count(f->jwks), 0);
    assert_true(mb_jwks_skipped(f->jwks) >= 1);
}

static void test_jwks_skips_unusable_keys(void **state) {
    fx *f = *state;
    const char *extras[] = {"\"use\":\"enc\",",        "\"alg\":\"RS512\",",
                            "\"alg\":\"PS256\",",      "\"key_ops\":[\"encrypt\"],",
                            "\"key_ops\":\"verify\",", "\"d\":\"AQAB\","};
    for (size_t i = 0; i < sizeof extras / sizeof *extras; i++) {
        mb_buf doc = {0};
        mb_buf_append_cstr(&doc, "{\"keys\":[");
        tk_jwk(&doc, &g_k1, extras[i]);
        mb_buf_append_cstr(&doc, "]}");
        s_expect_skipped(f, doc.ptr);
        mb_buf_cleanup(&doc);
    }
    mb_buf doc = {0};
    mb_buf_appendf(&doc, "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\"}]}", g_k1.n);
    s_expect_skipped(f, doc.ptr); /* no kid */
    mb_buf_reset(&doc);
    mb_buf_appendf(&doc, "{\"keys\":[{\"kid\":\"k1\",\"n\":\"%s\",\"e\":\"AQAB\"}]}", g_k1.n);
    s_expect_skipped(f, doc.ptr); /* no kty */
    mb_buf_cleanup(&doc);
}

static void test_jwks_drops_duplicate_kids(void **state) {
    fx *f = *state;
    tk_key dup = g_k2;
    snprintf(dup.kid, sizeof dup.kid, "k1");
    const tk_key *keys[] = {&g_k1, &dup, &g_k2};
    mb_buf doc = {0};
    tk_jwks(&doc, keys, 3);
    assert_int_equal(mb_jwks_load(f->jwks, mb_buf_cur(&doc), NULL), 0);
    assert_int_equal(mb_jwks_key_count(f->jwks), 1); /* only k2 survives */
    assert_int_equal(mb_jwks_skipped(f->jwks), 2);
    mb_buf_cleanup(&doc);
}

static void test_jwks_import_rejects_weak_or_malformed_rsa(void **state) {
    (void)state;
    EVP_PKEY *pk = NULL;
    assert_int_equal(mb_jwks_import_rsa(mb_cur_from_cstr(g_small.n), MB_CUR_LIT("AQAB"), &pk, NULL),
                     MB_ERR_INVALID); /* 1024 bits */
    assert_int_equal(mb_jwks_import_rsa(mb_cur_from_cstr(g_k1.n), MB_CUR_LIT("AQ"), &pk, NULL),
                     MB_ERR_INVALID); /* e = 1 */
    assert_int_equal(mb_jwks_import_rsa(mb_cur_from_cstr(g_k1.n), MB_CUR_LIT("Ag"), &pk, NULL),
                     MB_ERR_INVALID); /* e = 2, even */
    assert_int_equal(mb_jwks_import_rsa(mb_cur_from_cstr(g_k1.n), MB_CUR_LIT("AAEAAQ"), &pk, NULL),
                     MB_ERR_INVALID); /* leading zero byte */
    assert_int_equal(mb_jwks_import_rsa(mb_cur_from_cstr(g_k1.n), MB_CUR_LIT("AQAB="), &pk, NULL),
                     MB_ERR_INVALID); /* padding */
    char n[1100];
    snprintf(n, sizeof n, "AA%s", g_k1.n);
    assert_int_equal(mb_jwks_import_rsa(mb_cur_from_cstr(n), MB_CUR_LIT("AQAB"), &pk, NULL),
                     MB_ERR_INVALID); /* non-minimal modulus */
    assert_int_equal(mb_jwks_import_rsa(mb_cur_from_cstr(g_k1.n), MB_CUR_LIT("AQAB"), &pk, NULL),
                     0);
    EVP_PKEY_free(pk);
}

/* Wycheproof json_web_key_test.json: each group is a key set (take the public form), each test a
 * JWS. We accept only valid RS256 tokens under an RS256-usable key. */
static json_t *s_public_set(json_t *group) {
    json_t *set = json_object_get(group, "public");
    set = json_deep_copy(set != NULL ? set : json_object_get(group, "private"));
    static const char *const priv[] = {"d", "p", "q", "dp", "dq", "qi", "k"};
    size_t i;
    json_t *k;
    json_array_foreach(json_object_get(set, "keys"), i, k) {
        for (size_t j = 0; j < sizeof priv / sizeof *priv; j++) {
            json_object_del(k, priv[j]);
        }
    }
    return set;
}

static void test_jwks_wycheproof_json_web_key(void **state) {
    (void)state;
    size_t len;
    char *text = tk_read_file(MB_TESTDATA "/wycheproof/json_web_key_test.json", &len);
    json_t *root = json_loadb(text, len, 0, NULL);
    assert_non_null(root);
    size_t gi, ti;
    json_t *g, *t;
    int accepted = 0, checked = 0;
    json_array_foreach(json_object_get(root, "testGroups"), gi, g) {
        json_t *set = s_public_set(g);
        char *doc = json_dumps(set, JSON_COMPACT);
        tk_fetch fetch = {doc, 0, 0, ""};
        mb_jwks *jwks = mb_jwks_new("https://wp.example/jwks.json", tk_fetch_fn, &fetch, NULL);
        json_array_foreach(json_object_get(g, "tests"), ti, t) {
            const char *jws = json_string_value(json_object_get(t, "jws"));
            bool valid = strcmp(json_string_value(json_object_get(t, "result")), "valid") == 0;
            const char *detail = "";
            int rc = mb_jwt_verify_jws(jwks, mb_cur_from_cstr(jws), &detail, NULL);
            bool rs256 = strncmp(jws, "eyJhbGciOiJSUzI1NiIs", 20) == 0; /* {"alg":"RS256", */
            if (rc == 0 && !(valid && rs256)) {
                fail_msg("tcId %d (%s) accepted",
                         (int)json_integer_value(json_object_get(t, "tcId")),
                         json_string_value(json_object_get(t, "comment")));
            }
            if (valid && rs256 && rc != 0) {
                fail_msg("tcId %d valid RS256 rejected: %s",
                         (int)json_integer_value(json_object_get(t, "tcId")), detail);
            }
            accepted += rc == 0;
            checked++;
        }
        mb_jwks_free(jwks);
        free(doc);
        json_decref(set);
    }
    print_message("wycheproof JWK: %d vectors, %d accepted\n", checked, accepted);
    assert_int_equal(accepted, 1); /* tcId 5, the one valid RS256 case */
    json_decref(root);
    free(text);
}

static size_t s_unhex(const char *hex, unsigned char *out, size_t cap) {
    size_t n = strlen(hex) / 2;
    assert_true(n <= cap);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (unsigned char)v;
    }
    return n;
}

/* One rsa_signature_<bits>_sha256_test.json file: key imported from keyJwk n/e through the JWKS
 * import path, each signature checked through the verify path the tokens use. */
static void s_rsa_file(const char *path, int *checked) {
    size_t len;
    char *text = tk_read_file(path, &len);
    json_t *root = json_loadb(text, len, 0, NULL);
    assert_non_null(root);
    size_t gi, ti;
    json_t *g, *t;
    json_array_foreach(json_object_get(root, "testGroups"), gi, g) {
        json_t *jwk = json_object_get(g, "keyJwk");
        EVP_PKEY *pk = NULL;
        assert_int_equal(
            mb_jwks_import_rsa(mb_cur_from_cstr(json_string_value(json_object_get(jwk, "n"))),
                               mb_cur_from_cstr(json_string_value(json_object_get(jwk, "e"))), &pk,
                               NULL),
            0);
        mb_jwks_key *key = mb_jwks_key_new(pk, MB_CUR_LIT("wp"), NULL);
        assert_non_null(key);
        json_array_foreach(json_object_get(g, "tests"), ti, t) {
            static unsigned char msg[4096], sig[1024], dg[32];
            size_t ml = s_unhex(json_string_value(json_object_get(t, "msg")), msg, sizeof msg);
            size_t sl = s_unhex(json_string_value(json_object_get(t, "sig")), sig, sizeof sig);
            const char *result = json_string_value(json_object_get(t, "result"));
            SHA256(msg, ml, dg);
            int rc = mb_jwks_key_verify(key, dg, sig, sl);
            if (strcmp(result, "acceptable") != 0 && (rc == 0) != (strcmp(result, "valid") == 0)) {
                fail_msg("%s tcId %d (%s): rc %d, expected %s", path,
                         (int)json_integer_value(json_object_get(t, "tcId")),
                         json_string_value(json_object_get(t, "comment")), rc, result);
            }
            (*checked)++;
        }
        mb_jwks_key_free(key);
    }
    json_decref(root);
    free(text);
}

static void test_jwks_wycheproof_rsa_pkcs1_sha256(void **state) {
    (void)state;
    int checked = 0;
    s_rsa_file(MB_TESTDATA "/wycheproof/rsa_signature_2048_sha256_test.json", &checked);
    s_rsa_file(MB_TESTDATA "/wycheproof/rsa_signature_3072_sha256_test.json", &checked);
    s_rsa_file(MB_TESTDATA "/wycheproof/rsa_signature_4096_sha256_test.json", &checked);
    print_message("wycheproof RSA PKCS#1 v1.5 SHA-256: %d vectors\n", checked);
    assert_true(checked > 600);
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_jwks_new_does_no_io),
        T(test_jwks_fetches_lazily_once),
        T(test_jwks_unknown_kid_refetch_is_rate_limited),
        T(test_jwks_rotation_picks_up_new_kid),
        T(test_jwks_unchanged_key_keeps_serial_removed_key_loses_it),
        T(test_jwks_fetch_failure_is_unavailable_with_backoff),
        T(test_jwks_backoff_starts_when_a_slow_fetch_ends),
        T(test_jwks_bad_document_is_unavailable_and_keeps_old_keys),
        T(test_jwks_skips_unusable_keys),
        T(test_jwks_drops_duplicate_kids),
        T(test_jwks_import_rejects_weak_or_malformed_rsa),
        T(test_jwks_wycheproof_json_web_key),
        T(test_jwks_wycheproof_rsa_pkcs1_sha256),
#undef T
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
