/* fuzz_app.c - libFuzzer harness for the whole pipeline: mb_app_handle on a fuzzed event with the
 * repository's handlers/ and routes.lua (no issuer, no table: protected routes answer without any
 * network, data routes fail cleanly). Properties: every invocation leaves one valid JSON proxy
 * response whose statusCode is the status returned (100..599), with a string body. */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "moonbase/app.h"
#include "moonbase/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *s_env(const char *name) {
    if (strcmp(name, "HANDLERS_DIR") == 0) {
        return MB_SOURCE_DIR "/handlers";
    }
    if (strcmp(name, "ENVIRONMENT") == 0) {
        return "test";
    }
    if (strcmp(name, "CORS_ALLOWED_ORIGINS") == 0) {
        return "http://localhost:3000";
    }
    return NULL;
}

static mb_config g_cfg;
static mb_app *g_app;
static lua_State *g_check; /* decodes the responses */

static void s_init(void) {
    mb_err err = {0};
    FZ_CHECK(mb_config_load(&g_cfg, s_env, NULL, &err) == 0);
    int fd = open("/dev/null", O_WRONLY);
    FZ_CHECK(fd >= 0);
    g_app = mb_app_new(&g_cfg, fd, &err);
    if (g_app == NULL) {
        fprintf(stderr, "mb_app_new: %s\n", err.msg);
        abort();
    }
    g_check = fz_lua_new();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (g_app == NULL) {
        s_init();
    }
    mb_invocation inv = {MB_CUR_LIT("fuzz-request"), {0}, 0};
    mb_buf out = {0};
    int status = mb_app_handle(g_app, (mb_cur){(const char *)data, size}, &inv, &out);
    FZ_CHECK(status >= 100 && status <= 599);
    mb_err err = {0};
    FZ_CHECK(mb_json_decode(g_check, mb_buf_cur(&out), MB_JSON_MAX_DEPTH, &err) == 0);
    lua_getfield(g_check, -1, "statusCode");
    FZ_CHECK(lua_isinteger(g_check, -1) && lua_tointeger(g_check, -1) == status);
    lua_getfield(g_check, -2, "body");
    FZ_CHECK(lua_type(g_check, -1) == LUA_TSTRING);
    lua_settop(g_check, 0);
    mb_buf_cleanup(&out);
    return 0;
}
