/* fuzz_jwt_json.c - differential harness for the JWT claims scanner (core/jwt_json.c) against
 * the strict JSON decoder (core/json.c): whatever the scanner accepts, the decoder accepts as an
 * object with the same member count, each string member unescaping (mb_text_json_unescape, and
 * mb_jwt_json_str_eq) to the decoder's string, each array iterating (mb_jwt_json_iter_next) to
 * the decoder's element count. The scanner is stricter (depth 16, unique names), never looser. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "jwt_json.h"
#include "moonbase/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MEMBERS 64

static void s_check_member(lua_State *L, int obj, const mb_jwt_member *m) {
    char key[MB_JWT_JSON_MAX_KEY + 1];
    size_t klen;
    FZ_CHECK(mb_text_json_unescape(m->key, key, sizeof key, &klen) == 0);
    lua_pushlstring(L, key, klen);
    lua_rawget(L, obj); /* stack: value */
    if (m->type == MB_JWT_JSON_STRING) {
        FZ_CHECK(lua_type(L, -1) == LUA_TSTRING);
        size_t vlen, n;
        const char *v = lua_tolstring(L, -1, &vlen);
        char *buf = malloc(m->value.len + 1);
        FZ_CHECK(buf && mb_text_json_unescape(m->value, buf, m->value.len + 1, &n) == 0);
        FZ_CHECK(n == vlen && memcmp(buf, v, n) == 0);
        /* str_eq unescapes into 1 KB: longer escaped spans never compare equal (the safe way
         * for its use, matching short configured values). */
        FZ_CHECK(mb_jwt_json_str_eq(m->value, m->value_escaped, (mb_cur){v, vlen}) ==
                 (!m->value_escaped || m->value.len <= 1024));
        free(buf);
    } else if (m->type == MB_JWT_JSON_ARRAY) {
        FZ_CHECK(lua_type(L, -1) == LUA_TTABLE);
        mb_jwt_json_iter it;
        mb_jwt_member e;
        size_t n = 0;
        int rc;
        mb_jwt_json_iter_init(&it, m->value);
        while ((rc = mb_jwt_json_iter_next(&it, &e)) == 1) {
            n++;
        }
        FZ_CHECK(rc == 0 && n == lua_rawlen(L, -1));
    } else if (m->type == MB_JWT_JSON_NUMBER) {
        FZ_CHECK(lua_type(L, -1) == LUA_TNUMBER);
        int64_t secs;
        if (mb_jwt_json_number(m->value, &secs) == 0) {
            lua_Number d = lua_tonumber(L, -1);
            FZ_CHECK((lua_Number)secs == floor(d)); /* NumericDates round down */
        }
    }
    lua_pop(L, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mb_cur text = {(const char *)data, size};
    mb_jwt_member members[MAX_MEMBERS];
    size_t count = 0;
    int rc = mb_jwt_json_object(text, members, MAX_MEMBERS, &count);
    FZ_CHECK(rc == 0 || rc == MB_ERR_INVALID || rc == MB_ERR_LIMIT);
    if (rc != 0) {
        return 0;
    }
    lua_State *L = fz_lua_new();
    mb_err err = {0};
    int drc = mb_json_decode(L, text, MB_JSON_MAX_DEPTH, &err);
    if (drc == MB_ERR_LIMIT) {
        lua_close(L); /* the decoder's own bounds: 1e999, a number of 400+ digits */
        return 0;
    }
    FZ_CHECK(drc == 0);
    FZ_CHECK(lua_type(L, -1) == LUA_TTABLE && !lua_getmetatable(L, -1));
    int obj = lua_gettop(L);
    size_t keys = 0;
    lua_pushnil(L); /* start 'next' loop */
    while (lua_next(L, obj) != 0) {
        lua_pop(L, 1);
        keys++;
    }
    FZ_CHECK(keys == count);
    for (size_t i = 0; i < count; i++) {
        s_check_member(L, obj, &members[i]);
    }
    lua_close(L);
    return 0;
}
