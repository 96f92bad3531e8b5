/* obs_bench.c - cost of the observability work of one invocation in the C core: the request
 * context, two handler log lines (one filtered by LOG_LEVEL), the access line and the EMF
 * document with two handler metrics, each line written with write(2) to OBS_BENCH_FD's target
 * (/dev/null in bench/run-obs). bench/obs_node.mjs does the same work the Node.js way.
 * Usage: obs_bench [iterations]   prints one JSON object with ns per invocation. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "moonbase/emf.h"
#include "moonbase/log.h"

static double s_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t s_line_bytes;

/* One invocation's observability work, the same steps as obs_node.mjs. */
static void s_invocation(mb_log *log, mb_emf *emf, long i) {
    char rid[48];
    int n = snprintf(rid, sizeof rid, "c0ffee00-0000-4000-8000-%012ld", i);
    mb_log_request req = {{rid, (size_t)n},
                          MB_CUR_LIT("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"),
                          MB_CUR_LIT("GET"),
                          MB_CUR_LIT("/items/01HF7Z3K9Q"),
                          i == 0};
    mb_log_begin(log, &req);
    mb_emf_begin(emf, MB_CUR_LIT("GET /items/{id}"));
    mb_emf_set_request(emf, req.request_id, req.trace_id);
    mb_log_set_route(log, MB_CUR_LIT("GET /items/{id}"));
    mb_log_set_user(log, MB_CUR_LIT("tenant-42"),
                    MB_CUR_LIT("8f3e2a1c-1111-2222-3333-444455556666"));
    mb_log_field f[] = {
        mb_log_field_str("itemId", MB_CUR_LIT("01HF7Z3K9Q")), mb_log_field_int("version", 3),
        mb_log_field_bool("cached", false),
        mb_log_field_str("authorization", MB_CUR_LIT("Bearer eyJhbGciOi.eyJzdWIi.sig"))};
    mb_log_write(log, MB_LOG_INFO, "item loaded", f, 4);
    mb_log_write(log, MB_LOG_DEBUG, "cache miss", f, 1); /* filtered at LOG_LEVEL=info */
    mb_emf_put(emf, MB_CUR_LIT("ItemsRead"), 1, MB_CUR_LIT("Count"), NULL);
    mb_emf_put(emf, MB_CUR_LIT("DbLatency"), 4.5, MB_CUR_LIT("Milliseconds"), NULL);
    mb_log_access a = {200, 5.125, 0, 312};
    mb_log_access_line(log, &a);
    mb_emf_finish(emf, 200, 5.125, i == 0, 0);
    mb_log_end(log);
}

int main(int argc, char **argv) {
    long iters = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
    int fd = open("/dev/null", O_WRONLY);
    mb_log *log = mb_log_new(MB_LOG_INFO, fd, NULL);
    mb_emf *emf = mb_emf_new("ServerlessApp", "bench", fd, NULL);
    if (fd < 0 || !log || !emf || iters <= 0) {
        fprintf(stderr, "obs_bench: setup failed\n");
        return 1;
    }
    for (long i = 0; i < iters / 10; i++) { /* warm up caches and branch predictors */
        s_invocation(log, emf, i);
    }
    double t0 = s_now();
    for (long i = 0; i < iters; i++) {
        s_invocation(log, emf, i);
    }
    double dt = s_now() - t0;
    /* bytes of one invocation's output, for the record */
    int pfd[2];
    if (pipe(pfd) == 0) {
        mb_log *l2 = mb_log_new(MB_LOG_INFO, pfd[1], NULL);
        mb_emf *e2 = mb_emf_new("ServerlessApp", "bench", pfd[1], NULL);
        s_invocation(l2, e2, 1);
        close(pfd[1]);
        char buf[65536];
        ssize_t r;
        while ((r = read(pfd[0], buf, sizeof buf)) > 0) {
            s_line_bytes += (size_t)r;
        }
        close(pfd[0]);
        mb_log_free(l2);
        mb_emf_free(e2);
    }
    printf(
        "{\"impl\":\"c\",\"iterations\":%ld,\"nsPerInvocation\":%.0f,\"bytesPerInvocation\":%zu}\n",
        iters, dt * 1e9 / (double)iters, s_line_bytes);
    mb_log_free(log);
    mb_emf_free(emf);
    close(fd);
    return 0;
}
