/* script_server.h - a scripted HTTP/1.1 server on a loopback port, in a thread of the test: the
 * fake DynamoDB transport of test_ddb and test_lua_db. Each request (keep-alive: several per
 * connection) gets the next scripted reply as an application/x-amz-json-1.0 body; past the end
 * of the script it answers 500 "{}", or repeats the last reply when repeat_last is set.
 * Ownership: the caller owns the struct (zero it, fill the script, start, stop); reply bodies
 * are borrowed and must outlive the server. */
#ifndef MOONBASE_TEST_SCRIPT_SERVER_H
#define MOONBASE_TEST_SCRIPT_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#define SCRIPT_MAX 32
#define SCRIPT_REQ_MAX 65536

typedef struct script_reply {
    int status;
    const char *body;
} script_reply;

typedef struct script_server {
    int fd, port;
    pthread_t thread;
    volatile int stop;
    script_reply script[SCRIPT_MAX];
    int script_len;
    bool repeat_last;          /* past the script: its last reply again, not a 500 */
    volatile int requests;     /* requests answered so far */
    char last[SCRIPT_REQ_MAX]; /* the last request, head and body */
    size_t last_len;
} script_server;

/* Bind an ephemeral loopback port (s->port) and start serving; cmocka-asserts on failure. */
void script_server_start(script_server *s);
/* Stop the thread and close the listening socket. */
void script_server_stop(script_server *s);

#endif
