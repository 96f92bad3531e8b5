/* test_sigv4.c - SigV4 against the AWS test suites in tests/data/sigv4 (both folders, every
 * case, canonical request, string to sign and signature checked separately), plus the key
 * cache, credentials from the environment and rejection cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "moonbase/sigv4.h"

#define SUITE_DIR MB_TESTDATA "/sigv4"
#define MAX_HEADERS 32
#define AKID "AKIDEXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
/* The token of the suite's post-sts-token cases (post-sts-token/readme.txt). */
#define STS_TOKEN                                                                                  \
    "AQoDYXdzEPT//////////"                                                                        \
    "wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwt"  \
    "hAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9"   \
    "HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fP"   \
    "OLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="
/* 2015-08-30T12:36:00Z, the suite's signing time. */
#define SUITE_TIME 1440938160

/* A parsed .req / request.txt: every view borrows from `raw`, values may span folded lines. */
typedef struct parsed_req {
    mb_buf raw;
    char method[16];
    mb_cur path, query, body;
    mb_http_header headers[MAX_HEADERS];
    size_t header_count;
} parsed_req;

static int read_file(const char *path, mb_buf *out) {
    mb_buf_reset(out);
    FILE *f = fopen(path, "rb");
    if (!f) {
        return -1;
    }
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        assert_int_equal(mb_buf_append(out, chunk, n), 0);
    }
    fclose(f);
    return 0;
}

static mb_cur trim_newlines(mb_cur c) {
    while (c.len && (c.ptr[c.len - 1] == '\n' || c.ptr[c.len - 1] == '\r')) {
        c.len--;
    }
    return c;
}

static void assert_text(const char *what, const char *path, mb_cur expected, mb_cur got) {
    if (!mb_cur_eq(expected, got)) {
        print_error("%s: %s mismatch\n--- expected\n%.*s\n--- got\n%.*s\n", path, what,
                    (int)expected.len, expected.ptr, (int)got.len, got.ptr);
        fail();
    }
}

static void assert_file_text(const char *what, const char *path, mb_cur got) {
    mb_buf b = {0};
    if (read_file(path, &b) != 0) {
        print_error("cannot read %s\n", path);
        fail();
    }
    assert_text(what, path, trim_newlines(mb_buf_cur(&b)), got);
    mb_buf_cleanup(&b);
}

/* Parse "METHOD URI HTTP/1.1\nName:value\n continuation\n...\n\nbody". */
static void parse_request(const char *path, parsed_req *r) {
    assert_int_equal(read_file(path, &r->raw), 0);
    char *p = r->raw.ptr, *end = r->raw.ptr + r->raw.len;
    char *eol = memchr(p, '\n', (size_t)(end - p));
    char *line_end = eol ? eol : end;
    char *sp = memchr(p, ' ', (size_t)(line_end - p));
    assert_non_null(sp);
    snprintf(r->method, sizeof r->method, "%.*s", (int)(sp - p), p);
    char *proto = NULL; /* the last " HTTP/" on the line: paths may contain spaces */
    for (char *q = sp; q + 6 <= line_end; q++) {
        if (memcmp(q, " HTTP/", 6) == 0) {
            proto = q;
        }
    }
    assert_non_null(proto);
    mb_cur uri = {sp + 1, (size_t)(proto - sp - 1)};
    const char *qm = memchr(uri.ptr, '?', uri.len);
    r->path = (mb_cur){uri.ptr, qm ? (size_t)(qm - uri.ptr) : uri.len};
    r->query = qm ? (mb_cur){qm + 1, (size_t)(uri.ptr + uri.len - qm - 1)} : (mb_cur){"", 0};
    r->header_count = 0;
    r->body = (mb_cur){"", 0};
    p = eol ? eol + 1 : end;
    while (p < end) {
        eol = memchr(p, '\n', (size_t)(end - p));
        line_end = eol ? eol : end;
        if (line_end == p) { /* blank line: the body follows */
            r->body = (mb_cur){p + 1, p + 1 <= end ? (size_t)(end - p - 1) : 0};
            break;
        }
        if ((*p == ' ' || *p == '\t') && r->header_count > 0) { /* folded line */
            mb_http_header *h = &r->headers[r->header_count - 1];
            h->value.len = (size_t)(line_end - h->value.ptr);
        } else {
            char *colon = memchr(p, ':', (size_t)(line_end - p));
            assert_non_null(colon);
            assert_true(r->header_count < MAX_HEADERS);
            r->headers[r->header_count++] = (mb_http_header){
                {p, (size_t)(colon - p)}, {colon + 1, (size_t)(line_end - colon - 1)}};
        }
        p = eol ? eol + 1 : end;
    }
}

/* Remove header `name` from r; returns its value (or an empty view). */
static mb_cur take_header(parsed_req *r, const char *name) {
    for (size_t i = 0; i < r->header_count; i++) {
        if (mb_cur_eq_icase(r->headers[i].name, mb_cur_from_cstr(name))) {
            mb_cur v = r->headers[i].value;
            memmove(&r->headers[i], &r->headers[i + 1],
                    (r->header_count - i - 1) * sizeof r->headers[0]);
            r->header_count--;
            return v;
        }
    }
    return (mb_cur){NULL, 0};
}

static void make_signer(mb_sigv4_signer *s, const char *token) {
    mb_sigv4_credentials c = {0};
    mb_err err = {0};
    assert_int_equal(mb_sigv4_credentials_set(&c, AKID, SECRET, token, &err), 0);
    mb_sigv4_signer_init(s, &c);
}

static mb_sigv4_request request_of(const parsed_req *r) {
    return (mb_sigv4_request){r->method, r->path, r->query, r->headers, r->header_count, r->body};
}

static int cmp_cur(const void *a, const void *b) {
    const mb_cur *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->ptr, y->ptr, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Percent-decode in place (the suite's signed requests show some parameters raw). */
static size_t decode_in_place(char *p, size_t n) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned int v;
        if (p[i] == '%' && i + 2 < n && sscanf(p + i + 1, "%2x", &v) == 1) {
            p[o++] = (char)v;
            i += 2;
        } else {
            p[o++] = p[i];
        }
    }
    return o;
}

/* Split a query string on '&' into sorted parts (order in a signed URL is not significant). */
static size_t split_query(mb_cur q, mb_cur *parts, size_t max) {
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= q.len; i++) {
        if (i == q.len || q.ptr[i] == '&') {
            assert_true(n < max);
            parts[n++] = (mb_cur){q.ptr + start, i - start};
            start = i + 1;
        }
    }
    qsort(parts, n, sizeof parts[0], cmp_cur);
    return n;
}

/* The query of the first line of a *-signed-request.txt equals ours (as a set of params). */
static void assert_signed_query(const char *path, mb_cur ours) {
    parsed_req r = {0};
    parse_request(path, &r);
    mb_buf mine = {0};
    assert_int_equal(mb_buf_append_cur(&mine, ours), 0);
    mine.len = decode_in_place(mine.ptr, mine.len);
    r.query.len = decode_in_place((char *)r.query.ptr, r.query.len);
    mb_cur a[64], b[64];
    size_t na = split_query(r.query, a, 64), nb = split_query(mb_buf_cur(&mine), b, 64);
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++) {
        assert_text("signed query parameter", path, a[i], b[i]);
    }
    mb_buf_cleanup(&mine);
    mb_buf_cleanup(&r.raw);
}

/* The Authorization line of a *-signed-request.txt (or the .authz file) equals ours. */
static void assert_signed_authorization(const char *path, mb_cur ours) {
    parsed_req r = {0};
    parse_request(path, &r);
    mb_cur v = take_header(&r, "Authorization");
    while (v.len && v.ptr[0] == ' ') {
        v.ptr++, v.len--;
    }
    assert_text("Authorization", path, v, ours);
    mb_buf_cleanup(&r.raw);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the sub-directories of dir; returns the count. */
static size_t list_dirs(const char *dir, char names[][128], size_t max) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char sub[1024];
        snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
        DIR *probe = e->d_name[0] != '.' ? opendir(sub) : NULL;
        if (probe) {
            closedir(probe);
            assert_true(n < max);
            snprintf(names[n++], 128, "%.127s", e->d_name);
        }
    }
    closedir(d);
    char *ptrs[128];
    for (size_t i = 0; i < n; i++) {
        ptrs[i] = names[i];
    }
    qsort(ptrs, n, sizeof ptrs[0], cmp_str);
    char sorted[128][128];
    for (size_t i = 0; i < n; i++) {
        snprintf(sorted[i], 128, "%s", ptrs[i]);
    }
    memcpy(names, sorted, n * 128);
    return n;
}

/* ---- aws-c-auth-v4: context.json + request.txt, header and query modes ---- */

typedef struct context {
    char token[1024];
    bool has_token, normalize, sign_body, omit_token;
    long expires;
    char region[64], service[64];
    int64_t time;
} context;

static void load_context(const char *path, context *c) {
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    assert_non_null(root);
    json_t *creds = json_object_get(root, "credentials");
    assert_string_equal(json_string_value(json_object_get(creds, "access_key_id")), AKID);
    assert_string_equal(json_string_value(json_object_get(creds, "secret_access_key")), SECRET);
    const char *token = json_string_value(json_object_get(creds, "token"));
    c->has_token = token != NULL;
    snprintf(c->token, sizeof c->token, "%s", token ? token : "");
    c->normalize = json_is_true(json_object_get(root, "normalize"));
    c->sign_body = json_is_true(json_object_get(root, "sign_body"));
    c->omit_token = json_is_true(json_object_get(root, "omit_session_token"));
    c->expires = (long)json_integer_value(json_object_get(root, "expiration_in_seconds"));
    snprintf(c->region, sizeof c->region, "%s", json_string_value(json_object_get(root, "region")));
    snprintf(c->service, sizeof c->service, "%s",
             json_string_value(json_object_get(root, "service")));
    struct tm tm = {0};
    const char *ts = json_string_value(json_object_get(root, "timestamp"));
    assert_non_null(ts);
    assert_int_equal(sscanf(ts, "%d-%d-%dT%d:%d:%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                            &tm.tm_hour, &tm.tm_min, &tm.tm_sec),
                     6);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    c->time = (int64_t)timegm(&tm);
    json_decref(root);
}

static void run_c_auth_case(const char *name) {
    char dir[512], path[640];
    snprintf(dir, sizeof dir, "%s/aws-c-auth-v4/%s", SUITE_DIR, name);
    context c = {0};
    snprintf(path, sizeof path, "%s/context.json", dir);
    load_context(path, &c);
    parsed_req r = {0};
    snprintf(path, sizeof path, "%s/request.txt", dir);
    parse_request(path, &r);
    mb_sigv4_signer s;
    make_signer(&s, c.has_token ? c.token : NULL);
    mb_sigv4_params p = {c.region,    c.service,    c.time,   c.normalize,
                         c.sign_body, c.omit_token, c.expires};
    mb_sigv4_request req = request_of(&r);
    mb_sigv4_output out = {0};
    mb_err err = {0};

    assert_int_equal(mb_sigv4_sign_headers(&s, &req, &p, &out, &err), 0);
    snprintf(path, sizeof path, "%s/header-canonical-request.txt", dir);
    assert_file_text("canonical request", path, mb_buf_cur(&out.canonical_request));
    snprintf(path, sizeof path, "%s/header-string-to-sign.txt", dir);
    assert_file_text("string to sign", path, mb_buf_cur(&out.string_to_sign));
    snprintf(path, sizeof path, "%s/header-signature.txt", dir);
    assert_file_text("signature", path, (mb_cur){out.signature, 64});
    snprintf(path, sizeof path, "%s/header-signed-request.txt", dir);
    assert_signed_authorization(path, mb_buf_cur(&out.authorization));

    assert_int_equal(mb_sigv4_presign_query(&s, &req, &p, &out, &err), 0);
    snprintf(path, sizeof path, "%s/query-canonical-request.txt", dir);
    assert_file_text("canonical request (query)", path, mb_buf_cur(&out.canonical_request));
    snprintf(path, sizeof path, "%s/query-string-to-sign.txt", dir);
    assert_file_text("string to sign (query)", path, mb_buf_cur(&out.string_to_sign));
    snprintf(path, sizeof path, "%s/query-signature.txt", dir);
    assert_file_text("signature (query)", path, (mb_cur){out.signature, 64});
    snprintf(path, sizeof path, "%s/query-signed-request.txt", dir);
    assert_signed_query(path, mb_buf_cur(&out.query));

    mb_sigv4_output_cleanup(&out);
    mb_sigv4_signer_cleanup(&s);
    mb_buf_cleanup(&r.raw);
}

static void test_sigv4_c_auth_suite_every_case(void **state) {
    (void)state;
    static char names[128][128];
    size_t n = list_dirs(SUITE_DIR "/aws-c-auth-v4", names, 128);
    assert_int_equal(n, 38); /* the whole suite, so a lost folder fails the test */
    for (size_t i = 0; i < n; i++) {
        run_c_auth_case(names[i]);
    }
}

/* ---- aws4_testsuite: <case>.req with .creq, .sts and .authz (header mode) ---- */

/* Inputs the old suite keeps outside its .req files: the session token of
 * get-vanilla-with-session-token (in its .creq/.sreq only) and post-sts-header-after, whose token
 * is added after signing (post-sts-token/readme.txt). */
static void suite_token(const char *name, parsed_req *r, char *token, size_t size, bool *omit) {
    mb_cur in_req = take_header(r, "X-Amz-Security-Token");
    *omit = false;
    token[0] = '\0';
    if (in_req.ptr) {
        snprintf(token, size, "%.*s", (int)in_req.len, in_req.ptr);
    } else if (strcmp(name, "get-vanilla-with-session-token") == 0) {
        snprintf(token, size, "%s",
                 "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267");
    } else if (strcmp(name, "post-sts-header-after") == 0) {
        snprintf(token, size, "%s", STS_TOKEN);
        *omit = true;
    }
}

static void run_suite_case(const char *dir, const char *name) {
    char path[768];
    parsed_req r = {0};
    snprintf(path, sizeof path, "%s/%s.req", dir, name);
    parse_request(path, &r);
    mb_cur date = take_header(&r, "X-Amz-Date");
    assert_text("X-Amz-Date", path, MB_CUR_LIT("20150830T123600Z"), date);
    char token[1024];
    bool omit;
    suite_token(name, &r, token, sizeof token, &omit);
    mb_sigv4_signer s;
    make_signer(&s, token[0] ? token : NULL);
    mb_sigv4_params p = {"us-east-1", "service", SUITE_TIME, true, false, omit, 0};
    mb_sigv4_request req = request_of(&r);
    mb_sigv4_output out = {0};
    mb_err err = {0};
    assert_int_equal(mb_sigv4_sign_headers(&s, &req, &p, &out, &err), 0);
    snprintf(path, sizeof path, "%s/%s.creq", dir, name);
    assert_file_text("canonical request", path, mb_buf_cur(&out.canonical_request));
    snprintf(path, sizeof path, "%s/%s.sts", dir, name);
    assert_file_text("string to sign", path, mb_buf_cur(&out.string_to_sign));
    snprintf(path, sizeof path, "%s/%s.authz", dir, name);
    assert_file_text("authorization", path, mb_buf_cur(&out.authorization));
    mb_sigv4_output_cleanup(&out);
    mb_sigv4_signer_cleanup(&s);
    mb_buf_cleanup(&r.raw);
}

/* Walk dir: a folder holding <folder>.req is a case, any other folder groups cases. */
static size_t walk_suite(const char *dir) {
    static char names[4][128][128];
    static int level = 0;
    assert_true(level < 4);
    char(*mine)[128] = names[level++];
    size_t n = list_dirs(dir, mine, 128), cases = 0;
    for (size_t i = 0; i < n; i++) {
        char sub[512], req[768];
        snprintf(sub, sizeof sub, "%s/%s", dir, mine[i]);
        snprintf(req, sizeof req, "%s/%s.req", sub, mine[i]);
        FILE *f = fopen(req, "rb");
        if (f) {
            fclose(f);
            run_suite_case(sub, mine[i]);
            cases++;
        } else {
            cases += walk_suite(sub);
        }
    }
    level--;
    return cases;
}

static void test_sigv4_aws4_testsuite_every_case(void **state) {
    (void)state;
    assert_int_equal(walk_suite(SUITE_DIR "/aws4_testsuite"), 34);
}

/* ---- signing key cache, credentials, rejections ---- */

static mb_sigv4_request simple_request(void) {
    static const mb_http_header h[] = {{MB_CUR_LIT("Host"), MB_CUR_LIT("dynamodb.local")}};
    return (mb_sigv4_request){"POST", MB_CUR_LIT("/"), {"", 0}, h, 1, MB_CUR_LIT("{}")};
}

static void test_sigv4_signing_key_derived_once_per_day(void **state) {
    (void)state;
    mb_sigv4_signer s;
    make_signer(&s, NULL);
    mb_sigv4_request req = simple_request();
    mb_sigv4_params p = {"us-east-1", "dynamodb", SUITE_TIME, true, false, false, 0};
    mb_sigv4_output out = {0};
    for (int i = 0; i < 5; i++) {
        p.time = SUITE_TIME + i * 3600; /* same UTC day */
        assert_int_equal(mb_sigv4_sign_headers(&s, &req, &p, &out, NULL), 0);
    }
    assert_int_equal(s.key_derivations, 1);
    char first[65];
    memcpy(first, out.signature, sizeof first);
    p.time = SUITE_TIME + 86400; /* next day */
    assert_int_equal(mb_sigv4_sign_headers(&s, &req, &p, &out, NULL), 0);
    assert_int_equal(s.key_derivations, 2);
    p.region = "eu-west-1";
    assert_int_equal(mb_sigv4_sign_headers(&s, &req, &p, &out, NULL), 0);
    assert_int_equal(s.key_derivations, 3);
    /* A fresh signer at the first time gives the cached signer's answer: the cache is exact. */
    mb_sigv4_signer fresh;
    make_signer(&fresh, NULL);
    p = (mb_sigv4_params){"us-east-1", "dynamodb", SUITE_TIME + 4 * 3600, true, false, false, 0};
    assert_int_equal(mb_sigv4_sign_headers(&fresh, &req, &p, &out, NULL), 0);
    assert_string_equal(out.signature, first);
    mb_sigv4_output_cleanup(&out);
    mb_sigv4_signer_cleanup(&s);
    mb_sigv4_signer_cleanup(&fresh);
}

static void test_sigv4_credentials_set_and_never_echo_secret(void **state) {
    (void)state;
    mb_sigv4_credentials c = {0};
    mb_err err = {0};
    assert_int_equal(mb_sigv4_credentials_set(&c, "AKIDX", "s3cr3t-VALUE", "tok/en+", &err), 0);
    assert_string_equal(c.access_key_id, "AKIDX");
    assert_string_equal(c.secret_access_key, "s3cr3t-VALUE");
    assert_string_equal(c.session_token, "tok/en+");
    mb_sigv4_signer s;
    mb_sigv4_signer_init(&s, &c);
    assert_null(c.secret_access_key); /* moved */
    mb_sigv4_request req = simple_request();
    mb_sigv4_params p = {"us-east-1", "dynamodb", SUITE_TIME, true, false, false, 0};
    mb_sigv4_output out = {0};
    assert_int_equal(mb_sigv4_sign_headers(&s, &req, &p, &out, &err), 0);
    assert_int_equal(out.header_count, 3); /* date, token, authorization */
    assert_true(mb_cur_eq(out.headers[1].value, MB_CUR_LIT("tok/en+")));
    assert_null(strstr(out.canonical_request.ptr, "s3cr3t"));
    assert_null(strstr(out.authorization.ptr, "s3cr3t"));
    assert_int_equal(mb_sigv4_presign_query(&s, &req,
                                            &(mb_sigv4_params){"us-east-1", "dynamodb", SUITE_TIME,
                                                               true, false, false, 60},
                                            &out, &err),
                     0);
    assert_non_null(strstr(out.query.ptr, "X-Amz-Security-Token=tok%2Fen%2B"));
    assert_null(strstr(out.query.ptr, "s3cr3t"));
    mb_sigv4_output_cleanup(&out);
    mb_sigv4_signer_cleanup(&s);

    assert_int_equal(mb_sigv4_credentials_set(&c, "AKIDX", NULL, NULL, &err), MB_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "secret access key"));
    assert_null(c.access_key_id);
    assert_int_equal(mb_sigv4_credentials_set(&c, "", "s3cr3t-VALUE", NULL, &err), MB_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "access key id"));
    assert_null(strstr(err.msg, "s3cr3t"));
}

static void test_sigv4_rejects_malformed_input(void **state) {
    (void)state;
    mb_sigv4_signer s;
    make_signer(&s, NULL);
    mb_sigv4_output out = {0};
    mb_err err = {0};
    mb_sigv4_params p = {"us-east-1", "dynamodb", SUITE_TIME, true, false, false, 0};
    mb_sigv4_request req = simple_request();
    req.query = MB_CUR_LIT("a=%zz");
    assert_int_equal(mb_sigv4_sign_headers(&s, &req, &p, &out, &err), MB_ERR_INVALID);
    req.query = MB_CUR_LIT("a=%4");
    assert_int_equal(mb_sigv4_sign_headers(&s, &req, &p, &out, &err), MB_ERR_INVALID);
    req = simple_request();
    mb_http_header bad[] = {{MB_CUR_LIT("Bad Name"), MB_CUR_LIT("x")}};
    req.headers = bad;
    assert_int_equal(mb_sigv4_sign_headers(&s, &req, &p, &out, &err), MB_ERR_INVALID);
    req = simple_request();
    p.region = "us/east";
    assert_int_equal(mb_sigv4_sign_headers(&s, &req, &p, &out, &err), MB_ERR_CONFIG);
    p.region = "us-east-1";
    p.expires = 0;
    assert_int_equal(mb_sigv4_presign_query(&s, &req, &p, &out, &err), MB_ERR_INVALID);
    p.expires = 604801;
    assert_int_equal(mb_sigv4_presign_query(&s, &req, &p, &out, &err), MB_ERR_INVALID);
    mb_sigv4_signer empty = {0};
    assert_int_equal(mb_sigv4_sign_headers(&empty, &req, &p, &out, &err), MB_ERR_CONFIG);
    mb_sigv4_output_cleanup(&out);
    mb_sigv4_signer_cleanup(&s);
    mb_sigv4_signer_cleanup(NULL);
    mb_sigv4_output_cleanup(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigv4_c_auth_suite_every_case),
        cmocka_unit_test(test_sigv4_aws4_testsuite_every_case),
        cmocka_unit_test(test_sigv4_signing_key_derived_once_per_day),
        cmocka_unit_test(test_sigv4_credentials_set_and_never_echo_secret),
        cmocka_unit_test(test_sigv4_rejects_malformed_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
