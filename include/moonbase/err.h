/* moonbase/err.h - status codes and error messages shared by every core module.
 * Core functions return int: 0 on success, a negative mb_status on failure, and fill an optional
 * caller-owned mb_err with a human-readable message. mb_err holds no heap memory. */
#ifndef MOONBASE_ERR_H
#define MOONBASE_ERR_H

typedef enum mb_status {
    MB_OK = 0,
    MB_ERR_NOMEM = -1,        /* allocation failed */
    MB_ERR_INVALID = -2,      /* hostile or malformed input: answer 400 */
    MB_ERR_LIMIT = -3,        /* a size, depth or count bound was exceeded */
    MB_ERR_IO = -4,           /* file or network failure */
    MB_ERR_UPSTREAM = -5,     /* a remote service answered with an error */
    MB_ERR_UNAUTH = -6,       /* authentication failed: answer 401 */
    MB_ERR_FORBIDDEN = -7,    /* authenticated but not allowed: answer 403 */
    MB_ERR_NOTFOUND = -8,     /* missing item, file or route */
    MB_ERR_CONFLICT = -9,     /* a condition failed: answer 409 */
    MB_ERR_TIMEOUT = -10,     /* a deadline passed */
    MB_ERR_CONFIG = -11,      /* bad configuration or environment */
    MB_ERR_UNAVAILABLE = -12, /* a dependency is down: answer 503 */
} mb_status;

/* Messages are bounded so an error can be reported without allocating. */
#define MB_ERR_MSG_MAX 256

typedef struct mb_err {
    int status; /* an mb_status */
    char msg[MB_ERR_MSG_MAX];
} mb_err;

/* Record `status` and a printf-style message in err (which may be NULL) and return status, so
 * callers can write `return mb_err_set(err, MB_ERR_INVALID, "bad %s", what);`. */
int mb_err_set(mb_err *err, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A short constant name for a status ("invalid", "nomem"...). */
const char *mb_status_name(int status);

#endif
