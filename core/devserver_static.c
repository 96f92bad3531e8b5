/* devserver_static.c - frontend files for the devserver: path checks and content types. */
#include "moonbase/devserver_static.h"

#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "moonbase/devserver_apigw.h"
#include "moonbase/text.h"

static const struct {
    const char *ext;
    const char *type;
} s_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".htm", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".map", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".jpg", "image/jpeg"},
    {".jpeg", "image/jpeg"},
    {".gif", "image/gif"},
    {".webp", "image/webp"},
    {".ico", "image/x-icon"},
    {".txt", "text/plain; charset=utf-8"},
    {".woff", "font/woff"},
    {".woff2", "font/woff2"},
    {".webmanifest", "application/manifest+json"},
    {".wasm", "application/wasm"},
};

const char *mb_static_content_type(const char *path) {
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (dot != NULL && (slash == NULL || dot > slash)) {
        for (size_t i = 0; i < sizeof s_types / sizeof s_types[0]; i++) {
            if (strcasecmp(dot, s_types[i].ext) == 0) {
                return s_types[i].type;
            }
        }
    }
    return "application/octet-stream";
}

/* Check every segment of the decoded path: no "..", no hidden names, no NUL or backslash. */
static bool s_path_ok(mb_cur p) {
    if (p.len == 0 || p.ptr[0] != '/' || memchr(p.ptr, 0, p.len) || memchr(p.ptr, '\\', p.len)) {
        return false;
    }
    for (size_t i = 0; i < p.len; i++) {
        if (p.ptr[i] == '/' && i + 1 < p.len && p.ptr[i + 1] == '.') {
            return false; /* covers "/..", "/.", "/.env" */
        }
    }
    return true;
}

int mb_static_resolve(const char *root, mb_cur raw_path, char **file_out, mb_err *err) {
    *file_out = NULL;
    mb_buf path = {0};
    int rc = MB_ERR_NOMEM;
    if (mb_buf_append_cstr(&path, root) != 0 || mb_text_pct_decode_buf(&path, raw_path, 0) != 0) {
        goto fail;
    }
    mb_cur rel = {path.ptr + strlen(root), path.len - strlen(root)};
    if (!s_path_ok(rel) || path.len >= PATH_MAX) {
        rc = mb_err_set(err, MB_ERR_INVALID, "refused path");
        goto fail;
    }
    struct stat st;
    if (stat(path.ptr, &st) == 0 && S_ISDIR(st.st_mode) &&
        mb_buf_append_cstr(&path, path.ptr[path.len - 1] == '/' ? "index.html" : "/index.html") !=
            0) {
        goto fail;
    }
    char *real = realpath(path.ptr, NULL);
    size_t rlen = strlen(root);
    if (real == NULL || strncmp(real, root, rlen) != 0 || real[rlen] != '/' ||
        stat(real, &st) != 0 || !S_ISREG(st.st_mode)) {
        free(real);
        rc = mb_err_set(err, MB_ERR_NOTFOUND, "not found");
        goto fail;
    }
    *file_out = real;
    rc = 0;
fail:
    mb_buf_cleanup(&path);
    return rc;
}
