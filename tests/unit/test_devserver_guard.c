/* test_devserver_guard.c - what the devserver refuses before a worker sees a request (issue 19,
 * findings 6-11): request-head checks, the access log's view of a target, per-client and total
 * throttling with a log gate, and the Runtime API peer check (finding 12). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "moonbase/devserver_guard.h"

#define H(n, v)                                                                                    \
    { MB_CUR_LIT(n), MB_CUR_LIT(v) }

/* Check a GET of `target` with the given headers (Host added first unless no_host). */
static int s_check(const char *method, const char *target, const mb_http_header *extra, size_t n,
                   bool no_host) {
    mb_http_header h[MB_GUARD_MAX_HEADERS + 1];
    size_t k = 0, bytes = 0;
    if (!no_host) {
        h[k++] = (mb_http_header)H("Host", "localhost");
    }
    for (size_t i = 0; i < n && k < sizeof h / sizeof *h; i++) {
        h[k++] = extra[i];
    }
    for (size_t i = 0; i < k; i++) {
        bytes += h[i].name.len + h[i].value.len;
    }
    mb_guard_head head = {
        mb_cur_from_cstr(method), mb_cur_from_cstr(target), MB_CUR_LIT("HTTP/1.1"), h, k, bytes};
    mb_guard_verdict v;
    int rc = mb_guard_check(&head, &v);
    assert_int_equal(rc, v.status);
    assert_true(rc == 0 || v.message != NULL);
    return rc;
}

static void test_devserver_guard_accepts_ordinary_requests(void **state) {
    (void)state;
    mb_http_header h[] = {H("Accept", "*/*"), H("Content-Length", "12"),
                          H("X-Name", "caf\xc3\xa9")};
    assert_int_equal(s_check("GET", "/api/hello?name=%C3%A9t%C3%A9&a=1", h, 3, false), 0);
    mb_http_header chunked[] = {H("Transfer-Encoding", " Chunked ")};
    assert_int_equal(s_check("POST", "/api/items", chunked, 1, false), 0);
    mb_http_header same[] = {H("Content-Length", "5"), H("Content-Length", "5")};
    assert_int_equal(s_check("POST", "/api/items", same, 2, false), 0);
}

/* Finding 6: invalid UTF-8 anywhere in the request line, raw or percent-encoded. */
static void test_devserver_guard_invalid_utf8_is_400(void **state) {
    (void)state;
    assert_int_equal(s_check("GET", "/api/hello\xff", NULL, 0, false), 400);
    assert_int_equal(s_check("GET", "/api/hello?name=\xc3", NULL, 0, false), 400);
    assert_int_equal(s_check("GET", "/api/%FF", NULL, 0, false), 400);
    assert_int_equal(s_check("GET", "/api/hello?name=%C3%28", NULL, 0, false), 400);
    assert_int_equal(s_check("G\xc3\xa9T", "/api/hello", NULL, 0, false), 400);
    assert_int_equal(s_check("GE T", "/api/hello", NULL, 0, false), 400);
    assert_int_equal(s_check("", "/api/hello", NULL, 0, false), 400);
}

/* Finding 7: API Gateway's URL and head limits. */
static void test_devserver_guard_size_limits(void **state) {
    (void)state;
    size_t n = MB_GUARD_MAX_TARGET;
    char *t = malloc(n + 2);
    memcpy(t, "/api/hello?", 11);
    for (size_t i = 11; i < n; i++) {
        t[i] = (i % 2) ? '&' : 'a';
    }
    t[n] = '\0';
    assert_int_equal(s_check("GET", t, NULL, 0, false), 0); /* exactly the limit */
    t[n] = 'a';
    t[n + 1] = '\0';
    assert_int_equal(s_check("GET", t, NULL, 0, false), 414);
    free(t);
    char *big = malloc(MB_GUARD_MAX_HEAD + 1);
    memset(big, 'v', MB_GUARD_MAX_HEAD);
    big[MB_GUARD_MAX_HEAD] = '\0';
    mb_http_header h[] = {{MB_CUR_LIT("X-Big"), {big, MB_GUARD_MAX_HEAD - 200}}};
    assert_int_equal(s_check("GET", "/api/hello", h, 1, false), 0);
    h[0].value.len = MB_GUARD_MAX_HEAD - 20; /* with the request line: over */
    assert_int_equal(s_check("GET", "/api/hello", h, 1, false), 431);
    free(big);
}

/* Finding 8: the 129th header field is refused, not dropped. */
static void test_devserver_guard_too_many_headers_431(void **state) {
    (void)state;
    mb_http_header h[MB_GUARD_MAX_HEADERS + 1];
    for (size_t i = 0; i < sizeof h / sizeof *h; i++) {
        h[i] = (mb_http_header)H("X-A", "b");
    }
    assert_int_equal(s_check("GET", "/api/me", h, MB_GUARD_MAX_HEADERS - 1, false), 0);
    assert_int_equal(s_check("GET", "/api/me", h, MB_GUARD_MAX_HEADERS, false), 431);
}

/* Finding 9: ambiguous framing 400, unsupported codings 501, HTTP/1.1 needs one Host. */
static void test_devserver_guard_framing(void **state) {
    (void)state;
    mb_http_header two_cl[] = {H("Content-Length", "2"), H("Content-Length", "5")};
    assert_int_equal(s_check("POST", "/api/items", two_cl, 2, false), 400);
    mb_http_header bad_cl[] = {H("Content-Length", "5x")};
    assert_int_equal(s_check("POST", "/api/items", bad_cl, 1, false), 400);
    mb_http_header neg_cl[] = {H("Content-Length", "-1")};
    assert_int_equal(s_check("POST", "/api/items", neg_cl, 1, false), 400);
    mb_http_header cl_te[] = {H("Content-Length", "5"), H("Transfer-Encoding", "chunked")};
    assert_int_equal(s_check("POST", "/api/items", cl_te, 2, false), 400);
    const char *codings[] = {"gzip, chunked", "identity", "chunked, chunked", "gzip"};
    for (size_t i = 0; i < sizeof codings / sizeof *codings; i++) {
        mb_http_header te[] = {{MB_CUR_LIT("Transfer-Encoding"), mb_cur_from_cstr(codings[i])}};
        assert_int_equal(s_check("POST", "/api/items", te, 1, false), 501);
    }
    mb_http_header two_te[] = {H("Transfer-Encoding", "chunked"),
                               H("Transfer-Encoding", "chunked")};
    assert_int_equal(s_check("POST", "/api/items", two_te, 2, false), 501);
    assert_int_equal(s_check("GET", "/api/hello", NULL, 0, true), 400);
    mb_http_header host2[] = {H("Host", "evil.example")};
    assert_int_equal(s_check("GET", "/api/hello", host2, 1, false), 400);
    /* HTTP/1.0 has no Host requirement */
    mb_guard_head h10 = {MB_CUR_LIT("GET"), MB_CUR_LIT("/"), MB_CUR_LIT("HTTP/1.0"), NULL, 0, 0};
    mb_guard_verdict v;
    assert_int_equal(mb_guard_check(&h10, &v), 0);
}

static char *s_log_view(const char *target, size_t len) {
    mb_buf b = {0};
    assert_int_equal(mb_guard_log_target(&b, (mb_cur){target, len}), 0);
    return b.ptr ? b.ptr : calloc(1, 1);
}

/* Finding 10: nothing of the client's reaches the log verbatim; secrets are redacted. */
static void test_devserver_guard_log_target(void **state) {
    (void)state;
    const char forged[] = "/api/x?a=\"%20200%201B\x1b[31m\rb\\c";
    char *v = s_log_view(forged, sizeof forged - 1);
    assert_string_equal(v, "/api/x?a=\\x22%20200%201B\\x1b[31m\\x0db\\x5cc");
    assert_null(strpbrk(v, "\"\r\n\x1b"));
    free(v);
    const char q[] = "/api/cb?code=abc&state=1&access_token=t0k&Password=p&x&API%5FKEY=k";
    v = s_log_view(q, sizeof q - 1);
    assert_string_equal(v, "/api/cb?code=REDACTED&state=1&access_token=REDACTED&Password=REDACTED&x"
                           "&API%5FKEY=REDACTED");
    free(v);
    char *longt = malloc(5000);
    memset(longt, 'a', 5000);
    v = s_log_view(longt, 5000);
    assert_int_equal(strlen(v), MB_GUARD_LOG_TARGET_MAX + 3);
    free(v);
    memset(longt, '\x01', 5000); /* every byte escaped: still bounded */
    v = s_log_view(longt, 5000);
    assert_int_equal(strlen(v), MB_GUARD_LOG_TARGET_MAX + 3);
    free(v);
    free(longt);
}

#define SEC 1000000000LL

/* Finding 11: one busy client cannot starve another; 429 lines are rate-limited. */
static void test_devserver_guard_throttle_per_client(void **state) {
    (void)state;
    mb_guard_throttle_options o = {.rate = 10, .burst = 20, .client_rate = 5, .client_burst = 10};
    mb_guard_throttle *t = mb_guard_throttle_new(&o);
    int64_t now = 5 * SEC;
    int ok_a = 0;
    for (int i = 0; i < 100; i++) {
        ok_a += mb_guard_throttle_take(t, "127.0.0.2", now) == 0;
    }
    assert_int_equal(ok_a, 10); /* the client's burst */
    int ok_b = 0;
    for (int i = 0; i < 5; i++) {
        ok_b += mb_guard_throttle_take(t, "127.0.0.3", now) == 0;
    }
    assert_int_equal(ok_b, 5); /* the busy client left room in the total bucket */
    assert_true(mb_guard_throttle_take(t, "127.0.0.2", now) > 0);
    /* refills at the client's rate: 1 s later, 5 more for A */
    ok_a = 0;
    for (int i = 0; i < 20; i++) {
        ok_a += mb_guard_throttle_take(t, "127.0.0.2", now + SEC) == 0;
    }
    assert_int_equal(ok_a, 5);
    uint64_t suppressed = 99;
    assert_true(mb_guard_throttle_log_gate(t, now, &suppressed));
    assert_int_equal(suppressed, 0);
    for (int i = 0; i < 50; i++) {
        assert_false(mb_guard_throttle_log_gate(t, now + SEC / 2, &suppressed));
    }
    assert_true(mb_guard_throttle_log_gate(t, now + SEC, &suppressed));
    assert_int_equal(suppressed, 50);
    mb_guard_throttle_free(t);
    mb_guard_throttle_free(NULL);
}

static void test_devserver_guard_throttle_total_and_many_clients(void **state) {
    (void)state;
    mb_guard_throttle_options o = {.rate = 1, .burst = 3, .client_rate = 0};
    mb_guard_throttle *t = mb_guard_throttle_new(&o);
    int ok = 0;
    char ip[32];
    for (int i = 0; i < 10; i++) {
        snprintf(ip, sizeof ip, "10.0.0.%d", i);
        ok += mb_guard_throttle_take(t, ip, SEC) == 0;
    }
    assert_int_equal(ok, 3); /* no per-client limit, the total still holds */
    mb_guard_throttle_free(t);
    o = (mb_guard_throttle_options){.rate = 0, .client_rate = 1, .client_burst = 1};
    t = mb_guard_throttle_new(&o);
    for (int i = 0; i < 2000; i++) { /* more addresses than slots: bounded, each gets its token */
        snprintf(ip, sizeof ip, "10.%d.%d.1", i / 256, i % 256);
        assert_int_equal(mb_guard_throttle_take(t, ip, SEC), 0);
    }
    mb_guard_throttle_free(t);
}

/* Finding 12: a connection to a Runtime API port is accepted only from the worker's process. */
static void test_devserver_guard_peer_is_only_the_owner(void **state) {
    (void)state;
    int srv = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(srv, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(srv, 4), 0);
    assert_int_equal(getsockname(srv, (struct sockaddr *)&a, &len), 0);
    uint16_t port = ntohs(a.sin_port);
    int cli = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(cli, (struct sockaddr *)&a, sizeof a), 0);
    struct sockaddr_in peer;
    len = sizeof peer;
    int conn = accept(srv, (struct sockaddr *)&peer, &len);
    assert_true(conn >= 0);
    assert_true(mb_guard_peer_is(getpid(), &peer, port)); /* the client socket is ours */
    pid_t child = fork();
    if (child == 0) {
        pause();
        _exit(0);
    }
    close(cli); /* only the child holds the client socket now */
    assert_true(mb_guard_peer_is(child, &peer, port));
    assert_false(mb_guard_peer_is(getpid(), &peer, port));
    assert_false(mb_guard_peer_is(1, &peer, port));
    assert_false(mb_guard_peer_is(0, &peer, port));
    struct sockaddr_in other = peer;
    other.sin_port = htons((uint16_t)(ntohs(peer.sin_port) ^ 1));
    assert_false(mb_guard_peer_is(child, &other, port)); /* no such connection */
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    close(conn);
    close(srv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_devserver_guard_accepts_ordinary_requests),
        cmocka_unit_test(test_devserver_guard_invalid_utf8_is_400),
        cmocka_unit_test(test_devserver_guard_size_limits),
        cmocka_unit_test(test_devserver_guard_too_many_headers_431),
        cmocka_unit_test(test_devserver_guard_framing),
        cmocka_unit_test(test_devserver_guard_log_target),
        cmocka_unit_test(test_devserver_guard_throttle_per_client),
        cmocka_unit_test(test_devserver_guard_throttle_total_and_many_clients),
        cmocka_unit_test(test_devserver_guard_peer_is_only_the_owner),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
