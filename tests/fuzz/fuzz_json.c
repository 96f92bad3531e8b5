/* fuzz_json.c - libFuzzer harness for mb_json_decode, with the round-trip property: whenever
 * text decodes, its encoding decodes again to an equal value, which encodes again. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "moonbase/json.h"
#include "moonbase/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lua_State *L = fz_lua_new();
    mb_err err = {0};
    mb_cur text = {(const char *)data, size};
    int top = lua_gettop(L);
    int rc = mb_json_decode(L, text, MB_JSON_MAX_DEPTH, &err);
    if (rc != 0) {
        FZ_CHECK(lua_gettop(L) == top); /* nothing left behind on error */
        FZ_CHECK(rc == MB_ERR_INVALID || rc == MB_ERR_LIMIT);
        lua_close(L);
        return 0;
    }
    FZ_CHECK(lua_gettop(L) == top + 1);
    mb_buf once = {0}, twice = {0};
    rc = mb_json_encode(L, -1, &once, &err);
    FZ_CHECK(rc == 0); /* anything the decoder accepts must be encodable */
    FZ_CHECK(mb_text_utf8_valid(mb_buf_cur(&once)));
    rc = mb_json_decode(L, mb_buf_cur(&once), MB_JSON_MAX_DEPTH, &err);
    FZ_CHECK(rc == 0);
    FZ_CHECK(fz_lua_equal(L, -1, -2));
    FZ_CHECK(mb_json_encode(L, -1, &twice, &err) == 0);
    mb_buf_cleanup(&once);
    mb_buf_cleanup(&twice);
    lua_close(L);
    return 0;
}
