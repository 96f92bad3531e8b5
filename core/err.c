/* err.c - status codes and error messages (see moonbase/err.h). */
#include "moonbase/err.h"

#include <stdarg.h>
#include <stdio.h>

int mb_err_set(mb_err *err, int status, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->status = status;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return status;
}

const char *mb_status_name(int status) {
    switch (status) {
    case MB_OK:
        return "ok";
    case MB_ERR_NOMEM:
        return "nomem";
    case MB_ERR_INVALID:
        return "invalid";
    case MB_ERR_LIMIT:
        return "limit";
    case MB_ERR_IO:
        return "io";
    case MB_ERR_UPSTREAM:
        return "upstream";
    case MB_ERR_UNAUTH:
        return "unauthorized";
    case MB_ERR_FORBIDDEN:
        return "forbidden";
    case MB_ERR_NOTFOUND:
        return "notfound";
    case MB_ERR_CONFLICT:
        return "conflict";
    case MB_ERR_TIMEOUT:
        return "timeout";
    case MB_ERR_CONFIG:
        return "config";
    case MB_ERR_UNAVAILABLE:
        return "unavailable";
    default:
        return "unknown";
    }
}
