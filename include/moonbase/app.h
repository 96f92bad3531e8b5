/* moonbase/app.h - one invocation end to end: event JSON in, proxy response JSON out.
 * event -> request table -> router -> auth -> Lua handler -> response -> proxy response, with
 * the structured logs, the access line and the EMF document of the invocation. Used by both the
 * Lambda loop and `bootstrap invoke`.
 * Ownership: mb_app_new() borrows cfg (which must outlive the app) and returns an app freed with
 * mb_app_free(). Invocation views are borrowed for the call. One invocation at a time. */
#ifndef MOONBASE_APP_H
#define MOONBASE_APP_H

#include <stdbool.h>
#include <stdint.h>

#include "moonbase/buf.h"
#include "moonbase/config.h"
#include "moonbase/err.h"

typedef struct mb_app mb_app;

typedef struct mb_invocation {
    mb_cur request_id;   /* Lambda-Runtime-Aws-Request-Id (or a generated id for invoke) */
    mb_cur trace_id;     /* Lambda-Runtime-Trace-Id, may be empty */
    int64_t deadline_ms; /* absolute epoch ms; 0 = none */
} mb_invocation;

/* Build the app: Lua host, routes.lua, logger and metrics (to log_fd). Reads routes.lua now so a
 * broken one is an init error; opens no network connection. On error returns NULL and fills err
 * with a message naming the file and line, or the setting, to fix. */
mb_app *mb_app_new(const mb_config *cfg, int log_fd, mb_err *err);
void mb_app_free(mb_app *app);

/* Handle one event. Always leaves a proxy response in out (4xx/5xx included) and returns its
 * status code; the response is a static 500 when even that could not be built. */
int mb_app_handle(mb_app *app, mb_cur event, const mb_invocation *inv, mb_buf *out);

#endif
