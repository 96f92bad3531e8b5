/* marshal_bench.c - DynamoDB marshalling (Lua table -> AttributeValue JSON -> Lua table) per item
 * and SigV4 signatures per second, for bench/run-marshal. Not a test.
 * Usage: bench_marshal [--emit DIR | --emit-only DIR]   DIR receives item.json (the representative
 * item as marshalled by moonbase) for the Node.js peer and the compatibility check. Prints
 * key=value lines: item_bytes, marshal_us, unmarshal_us, roundtrip_us (Lua's default incremental
 * GC, as the Lua host runs), roundtrip_gen_us (generational GC), sigv4_per_sec.
 *        bench_marshal --loop MODE N   runs N round trips (MODE 2), marshals (0) or unmarshals (1)
 * and nothing else, for profilers (valgrind --tool=callgrind, perf record). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lualib.h>

#include "moonbase/ddb_marshal.h"
#include "moonbase/lua_alloc.h"
#include "moonbase/lua_host.h"
#include "moonbase/sigv4.h"

#define BLOCKS 12
#define ITERS 20000
#define SIGN_ITERS 20000

/* 20 attributes, a nested map and lists: the shape of an items-API record plus some extras. */
static const char *const k_item =
    "return { PK = 'TENANT#acme-corp', SK = 'ITEM#01JDQ8Z6V3K4N5P6Q7R8S9T0UV',\n"
    "  id = '01JDQ8Z6V3K4N5P6Q7R8S9T0UV', title = 'Quarterly report draft',\n"
    "  description = string.rep('Lorem ipsum dolor sit amet, consectetur. ', 5),\n"
    "  status = 'doing', version = 7, createdAt = '2026-11-25T10:00:00Z',\n"
    "  updatedAt = '2026-11-25T12:34:56Z', owner = 'c0ffee00-1234-4abc-8def-0123456789ab',\n"
    "  priority = 3, score = 87.5, archived = false, deletedAt = ddb_null,\n"
    "  tags = {'work', 'q4', 'draft'}, counts = {views = 120, edits = 14, comments = 3},\n"
    "  meta = {source = 'web', client = {name = 'spa', version = '1.4.2'}, flags = {true, "
    "false}},\n"
    "  history = {{at = '2026-11-25T10:00:00Z', by = 'u1', action = 'create'},\n"
    "             {at = '2026-11-25T12:34:56Z', by = 'u2', action = 'update'}},\n"
    "  ratio = 0.125, size = 1048576 }";

static double s_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void s_die(const char *what, const char *msg) {
    fprintf(stderr, "bench_marshal: %s: %s\n", what, msg);
    exit(1);
}

/* The Lua host's allocator (counting, capped, small blocks from slabs) with its default cap:
 * luaL_newstate's plain realloc would measure a state that moonbase never runs. */
static lua_State *s_state(mb_lua_alloc *a) {
    mb_lua_alloc_init(a, MB_LUA_DEFAULT_MEMORY_LIMIT);
    lua_State *L = lua_newstate(mb_lua_alloc_fn, a);
    if (!L) {
        s_die("state", "out of memory");
    }
    luaL_openlibs(L);
    mb_lua_aux_open(L); /* the array metatable */
    mb_ddb_marshal_open(L);
    lua_pushlightuserdata(L, NULL);
    lua_setglobal(L, "ddb_null");
    if (luaL_dostring(L, k_item) != LUA_OK) { /* stack: item */
        s_die("item", lua_tostring(L, -1));
    }
    return L;
}

static void s_emit(lua_State *L, const char *dir, mb_buf *json) {
    char path[1024];
    snprintf(path, sizeof path, "%s/item.json", dir);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(json->ptr, 1, json->len, f) != json->len || fclose(f) != 0) {
        s_die("emit", path);
    }
    (void)L;
}

/* n marshals (mode 0), unmarshals (1) or both (2) of the item at stack index 1. */
static void s_loop(lua_State *L, int mode, const mb_buf *json, mb_buf *out, long n) {
    mb_err err = {0};
    for (long i = 0; i < n; i++) {
        if (mode != 1) {
            mb_buf_reset(out);
            if (mb_ddb_marshal_item(L, 1, out, &err) != 0) {
                s_die("marshal", err.msg);
            }
        }
        if (mode != 0) {
            mb_cur in = mode == 1 ? mb_buf_cur(json) : mb_buf_cur(out);
            if (mb_ddb_marshal_unmarshal_item(L, in, &err) != 0) {
                s_die("unmarshal", err.msg);
            }
            lua_pop(L, 1);
        }
    }
}

/* Fastest block of ITERS marshal (mode 0), unmarshal (1) or both (2), microseconds per item. */
static double s_time(lua_State *L, int mode, mb_buf *json) {
    double best = 1e30;
    mb_buf out = {0};
    for (int b = 0; b < BLOCKS; b++) {
        double t0 = s_now_us();
        s_loop(L, mode, json, &out, ITERS);
        double us = (s_now_us() - t0) / ITERS;
        best = us < best ? us : best;
        lua_gc(L, LUA_GCCOLLECT, 0);
    }
    mb_buf_cleanup(&out);
    return best;
}

/* Signatures per second for a DynamoDB-shaped request (key cached: the warm path). */
static double s_sign_rate(const mb_buf *body) {
    mb_sigv4_credentials c = {0};
    mb_err err = {0};
    if (mb_sigv4_credentials_set(&c, "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                 "session-token-example", &err) != 0) {
        s_die("creds", err.msg);
    }
    mb_sigv4_signer s;
    mb_sigv4_signer_init(&s, &c);
    mb_http_header h[] = {
        {MB_CUR_LIT("Host"), MB_CUR_LIT("dynamodb.us-east-1.amazonaws.com")},
        {MB_CUR_LIT("Content-Type"), MB_CUR_LIT("application/x-amz-json-1.0")},
        {MB_CUR_LIT("X-Amz-Target"), MB_CUR_LIT("DynamoDB_20120810.PutItem")},
    };
    mb_sigv4_request req = {"POST", MB_CUR_LIT("/"), {"", 0}, h, 3, mb_buf_cur(body)};
    mb_sigv4_params p = {"us-east-1", "dynamodb", 1764000000, true, false, false, 0};
    mb_sigv4_output out = {0};
    double best = 1e30;
    for (int b = 0; b < 5; b++) {
        double t0 = s_now_us();
        for (int i = 0; i < SIGN_ITERS; i++) {
            if (mb_sigv4_sign_headers(&s, &req, &p, &out, &err) != 0) {
                s_die("sign", err.msg);
            }
        }
        double us = (s_now_us() - t0) / SIGN_ITERS;
        best = us < best ? us : best;
    }
    mb_sigv4_output_cleanup(&out);
    mb_sigv4_signer_cleanup(&s);
    return 1e6 / best;
}

int main(int argc, char **argv) {
    mb_lua_alloc alloc;
    lua_State *L = s_state(&alloc);
    mb_buf json = {0};
    mb_err err = {0};
    if (mb_ddb_marshal_item(L, 1, &json, &err) != 0) {
        s_die("marshal", err.msg);
    }
    if (argc == 4 && strcmp(argv[1], "--loop") == 0) {
        mb_buf out = {0};
        s_loop(L, (int)(strtol(argv[2], NULL, 10) % 3), &json, &out, strtol(argv[3], NULL, 10));
        mb_buf_cleanup(&out);
        mb_buf_cleanup(&json);
        lua_close(L);
        mb_lua_alloc_cleanup(&alloc);
        return 0;
    }
    bool emit_only = argc == 3 && strcmp(argv[1], "--emit-only") == 0;
    if (argc == 3 && (emit_only || strcmp(argv[1], "--emit") == 0)) {
        s_emit(L, argv[2], &json);
    }
    if (emit_only) { /* the compatibility test needs the item, not the timings */
        mb_buf_cleanup(&json);
        lua_close(L);
        mb_lua_alloc_cleanup(&alloc);
        return 0;
    }
    printf("item_bytes=%zu\n", json.len);
    printf("marshal_us=%.3f\n", s_time(L, 0, &json));
    printf("unmarshal_us=%.3f\n", s_time(L, 1, &json));
    printf("roundtrip_us=%.3f\n", s_time(L, 2, &json));
    lua_gc(L, LUA_GCGEN, 0, 0);
    printf("roundtrip_gen_us=%.3f\n", s_time(L, 2, &json));
    lua_gc(L, LUA_GCINC, 0, 0, 0);
    printf("sigv4_per_sec=%.0f\n", s_sign_rate(&json));
    mb_buf_cleanup(&json);
    lua_close(L);
    mb_lua_alloc_cleanup(&alloc);
    return 0;
}
