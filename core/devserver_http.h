/* devserver_http.h - the devserver's HTTP side (private to core/): the server's settings and
 * services, and the one call that starts the HTTP daemon on them.
 *   devserver.c       the command line, start-up, the signal loop that supervises the workers,
 *                     and teardown
 *   devserver_http.c  the libmicrohttpd callbacks: every request from first header to answer
 * Ownership: main owns the mb_devserver and everything it points to (it creates them in
 * s_prepare and frees them in s_teardown, after stopping the daemon); the daemon's callbacks
 * borrow it. The callbacks run on the daemon's threads (one per connection): they read the
 * settings, and the pool and the throttle are thread-safe (moonbase/devserver_pool.h,
 * moonbase/devserver_guard.h). */
#ifndef MOONBASE_DEVSERVER_HTTP_H
#define MOONBASE_DEVSERVER_HTTP_H

#include <stdbool.h>

#include "moonbase/config.h"
#include "moonbase/devserver_guard.h"
#include "moonbase/devserver_pool.h"
#include "moonbase/devserver_routes.h"

struct MHD_Daemon;

typedef struct mb_devserver {
    mb_pool *pool;
    char *frontend; /* realpath of --frontend, NULL when absent */
    const char *config_file;
    const char *dump_dir;
    int port;
    mb_guard_throttle *throttle; /* per client and in total, like a usage plan under a stage */
    mb_config cfg;        /* the environment, read and checked by config as the workers read it */
    mb_devroutes *routes; /* routes.lua: REST resources and their authorizers */
    bool http_api;        /* --payload-format 2.0: HTTP API v2 events instead of REST v1 */
    double timeout_s;
} mb_devserver;

/* Start the HTTP daemon on 127.0.0.1:s->port, serving s (borrowed until MHD_stop_daemon). On
 * error (port in use) returns NULL. */
struct MHD_Daemon *mb_devserver_listen(mb_devserver *s);

#endif
