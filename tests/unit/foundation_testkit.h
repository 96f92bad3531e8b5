/* foundation_testkit.h - helpers shared by the foundation unit tests (lua_host, router, app):
 * temporary handler directories, file writing, a monotonic clock.
 * Ownership: tk_tempdir() returns a malloc'd path that tk_rmdir() removes and frees. */
#ifndef FOUNDATION_TESTKIT_H
#define FOUNDATION_TESTKIT_H

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A fresh directory under $TMPDIR (or /tmp); aborts the test process if it cannot be made. */
static inline char *tk_tempdir(void) {
    const char *base = getenv("TMPDIR");
    char tmpl[PATH_MAX];
    snprintf(tmpl, sizeof tmpl, "%s/mbtest.XXXXXX", base && *base ? base : "/tmp");
    char *dir = mkdtemp(tmpl);
    if (!dir) {
        perror("mkdtemp");
        abort();
    }
    return strdup(dir);
}

/* Write `text` to dir/name (replacing it). Aborts on failure: a test cannot run without it. */
static inline void tk_write(const char *dir, const char *name, const char *text) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(text, 1, strlen(text), f) != strlen(text) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

/* Write raw bytes (binary chunks). */
static inline void tk_write_bytes(const char *dir, const char *name, const void *p, size_t n) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

/* Move a file's mtime `secs` into the past, so a rewrite is seen as a change even on file systems
 * with coarse timestamps. */
static inline void tk_age(const char *dir, const char *name, int secs) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct timespec ts[2];
    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec -= secs;
    ts[1] = ts[0];
    if (utimensat(AT_FDCWD, path, ts, 0) != 0) {
        perror(path);
        abort();
    }
}

/* Remove dir and the plain files in it, then free the path. */
static inline void tk_rmdir(char *dir) {
    if (!dir) {
        return;
    }
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
                char path[PATH_MAX];
                snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
                unlink(path);
            }
        }
        closedir(d);
    }
    rmdir(dir);
    free(dir);
}

static inline int64_t tk_mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* CPU time of the calling thread: what a budget bounds. Wall time on a loaded machine (other jobs,
 * a shared CI runner) includes the time the thread waited for a core, which no budget controls. */
static inline int64_t tk_thread_cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t tk_epoch_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
