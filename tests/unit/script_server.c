/* script_server.c - the scripted HTTP server of the fake DynamoDB transport (script_server.h). */
#define _GNU_SOURCE /* strcasestr */
#include "script_server.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static bool s_read_request(script_server *s, int c, size_t *len) {
    size_t n = 0, head = 0, body = 0;
    while (n < SCRIPT_REQ_MAX - 1) {
        struct pollfd p = {c, POLLIN, 0};
        int ready = 0;
        for (int waited = 0; !ready && !s->stop && waited < 2000; waited += 20) {
            ready = poll(&p, 1, 20); /* short slices: script_server_stop is noticed quickly */
        }
        if (ready <= 0) {
            return false;
        }
        ssize_t k = recv(c, s->last + n, SCRIPT_REQ_MAX - 1 - n, 0);
        if (k <= 0) {
            return false;
        }
        n += (size_t)k;
        s->last[n] = '\0';
        char *end = head ? NULL : strstr(s->last, "\r\n\r\n");
        if (end) {
            head = (size_t)(end - s->last) + 4;
            char *cl = strcasestr(s->last, "content-length:");
            body = cl ? strtoul(cl + 15, NULL, 10) : 0;
        }
        if (head && n >= head + body) {
            *len = n;
            return true;
        }
    }
    return false;
}

static void *s_serve(void *arg) {
    script_server *s = arg;
    while (!s->stop) {
        struct pollfd p = {s->fd, POLLIN, 0};
        if (poll(&p, 1, 20) <= 0) {
            continue;
        }
        int c = accept(s->fd, NULL, NULL);
        size_t len;
        while (c >= 0 && !s->stop && s_read_request(s, c, &len)) { /* keep-alive: many per conn */
            s->last_len = len;
            script_reply r = s->requests < s->script_len           ? s->script[s->requests]
                             : s->repeat_last && s->script_len > 0 ? s->script[s->script_len - 1]
                                                                   : (script_reply){500, "{}"};
            s->requests++;
            char out[8192];
            int n = snprintf(out, sizeof out,
                             "HTTP/1.1 %d X\r\nContent-Type: application/x-amz-json-1.0\r\n"
                             "Content-Length: %zu\r\n\r\n%s",
                             r.status, strlen(r.body), r.body);
            if (send(c, out, (size_t)n, MSG_NOSIGNAL) != n) {
                break;
            }
        }
        if (c >= 0) {
            close(c);
        }
    }
    return NULL;
}

void script_server_start(script_server *s) {
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->fd, 8), 0);
    socklen_t al = sizeof a;
    getsockname(s->fd, (struct sockaddr *)&a, &al);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->thread, NULL, s_serve, s), 0);
}

void script_server_stop(script_server *s) {
    s->stop = 1;
    pthread_join(s->thread, NULL);
    close(s->fd);
}
