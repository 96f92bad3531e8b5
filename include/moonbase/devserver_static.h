/* moonbase/devserver_static.h - safe static file lookup for the devserver's frontend folder.
 * Ownership: mb_static_resolve() returns a malloc'd path the caller frees; content types are
 * static strings. Pure functions apart from filesystem reads: thread-safe. */
#ifndef MOONBASE_DEVSERVER_STATIC_H
#define MOONBASE_DEVSERVER_STATIC_H

#include "moonbase/buf.h"
#include "moonbase/err.h"

/* Map a raw (still %-encoded) URL path to a regular file under root, which must be an absolute,
 * symlink-free path (realpath). "/" and directories map to their index.html. Refused: NUL or
 * backslash, a ".." segment, a hidden (dot) segment, anything whose real path leaves root.
 * Returns 0 with *file_out set (caller frees), MB_ERR_INVALID (refused: answer 400),
 * MB_ERR_NOTFOUND, or MB_ERR_NOMEM. */
int mb_static_resolve(const char *root, mb_cur raw_path, char **file_out, mb_err *err);

/* The Content-Type for a file name, by extension; "application/octet-stream" when unknown. */
const char *mb_static_content_type(const char *path);

#endif
