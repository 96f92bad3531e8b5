/* fuzz_ddb_unmarshal.c - libFuzzer harness for the DynamoDB unmarshaller: each input goes
 * through mb_ddb_marshal_unmarshal_value, _item and _response. Properties: errors push nothing
 * and say INVALID or LIMIT; a value or item that unmarshals marshals back (B and BS as binary
 * values, big N as decimal values), and that JSON unmarshals to an equal Lua value. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "moonbase/ddb_marshal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef int (*unmarshal_fn)(lua_State *, mb_cur, mb_err *);
typedef int (*marshal_fn)(lua_State *, int, mb_buf *, mb_err *);

static void s_run(lua_State *L, mb_cur in, unmarshal_fn un, marshal_fn re) {
    mb_err err = {0};
    int top = lua_gettop(L);
    int rc = un(L, in, &err);
    if (rc != 0) {
        FZ_CHECK(rc == MB_ERR_INVALID || rc == MB_ERR_LIMIT);
        FZ_CHECK(lua_gettop(L) == top);
        return;
    }
    FZ_CHECK(lua_gettop(L) == top + 1);
    if (re) {
        mb_buf out = {0};
        rc = re(L, -1, &out, &err);
        FZ_CHECK(rc == 0); /* every value read back can be written back */
        if (rc == 0) {
            FZ_CHECK(un(L, mb_buf_cur(&out), &err) == 0);
            FZ_CHECK(fz_lua_equal(L, -1, -2));
        }
        mb_buf_cleanup(&out);
    }
    lua_settop(L, top);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lua_State *L = fz_lua_new();
    mb_ddb_marshal_open(L);
    mb_cur in = {(const char *)data, size};
    s_run(L, in, mb_ddb_marshal_unmarshal_value, mb_ddb_marshal_value);
    s_run(L, in, mb_ddb_marshal_unmarshal_item, mb_ddb_marshal_item);
    s_run(L, in, mb_ddb_marshal_unmarshal_response, NULL);
    lua_close(L);
    return 0;
}
