/* fuzz_event.c - libFuzzer harness for the event pipeline: fuzzed JSON -> mb_json_decode ->
 * mb_event_to_request, then mb_event_encode_response on a fuzzed response table. The input is
 * one JSON document: an event, or a two-element array [event, response]; a lone event is also
 * used as its own response table. Properties: errors leave the stack as it was and carry a 4xx
 * (or 500 for out of memory) status; every encoded response is valid JSON whose statusCode is
 * the status returned; the error response built from the event's request id always encodes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "moonbase/event.h"
#include "moonbase/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Encode the response at idx; when it encodes, the proxy response must be valid JSON. */
static void s_encode(lua_State *L, int idx, const mb_event *ev) {
    static const mb_event_header extra[] = {
        {"x-request-id", {"abc", 3}, false},
        {"content-type", {"application/json", 16}, false},
        {"cache-control", {"no-store", 8}, true},
        {"access-control-allow-origin", {0}, true},
    };
    mb_buf out = {0};
    mb_err err = {0};
    int status = 0, top = lua_gettop(L);
    idx = lua_absindex(L, idx);
    /* A status the handler set must come out exactly, or be refused. */
    bool has_status = lua_istable(L, idx) && lua_getfield(L, idx, "status") != LUA_TNIL;
    lua_Integer want = has_status && lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 200;
    lua_settop(L, top);
    int rc = mb_event_encode_response(L, idx, ev, extra, 2, &out, &status, &err);
    FZ_CHECK(lua_gettop(L) == top);
    if (rc != 0) {
        FZ_CHECK(rc == MB_ERR_INVALID || rc == MB_ERR_LIMIT);
        FZ_CHECK(out.len == 0);
    } else {
        FZ_CHECK(status >= 100 && status <= 599 && status == want);
        FZ_CHECK(mb_json_decode(L, mb_buf_cur(&out), MB_JSON_MAX_DEPTH, &err) == 0);
        lua_getfield(L, -1, "statusCode");
        FZ_CHECK(lua_isinteger(L, -1) && lua_tointeger(L, -1) == status);
        lua_settop(L, top);
    }
    mb_buf_cleanup(&out);
}

static void s_event(lua_State *L, int event, int resp) {
    mb_event ev;
    mb_err err = {0};
    int top = lua_gettop(L);
    int rc = mb_event_to_request(L, event, &ev, &err);
    FZ_CHECK(ev.version == 1 || ev.version == 2);
    if (rc != 0) {
        FZ_CHECK(lua_gettop(L) == top);
        FZ_CHECK(rc == MB_ERR_INVALID || rc == MB_ERR_LIMIT);
        FZ_CHECK(ev.reject_status >= 400 && ev.reject_status <= 499);
    } else {
        FZ_CHECK(lua_gettop(L) == top + 1 && lua_istable(L, -1));
        FZ_CHECK(ev.method.ptr != NULL && ev.path.ptr != NULL);
        s_encode(L, -1, &ev); /* the request table as a response: headers, body... */
    }
    s_encode(L, resp, &ev);
    mb_event_push_error(L, 400, "bad_request", "fuzzed", ev.request_id);
    mb_buf out = {0};
    int status = 0;
    FZ_CHECK(mb_event_encode_response(L, -1, &ev, NULL, 0, &out, &status, &err) == 0);
    FZ_CHECK(status == 400);
    mb_buf_cleanup(&out);
    lua_settop(L, top);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lua_State *L = fz_lua_new();
    mb_err err = {0};
    if (mb_json_decode(L, (mb_cur){(const char *)data, size}, MB_JSON_MAX_DEPTH, &err) == 0) {
        int doc = lua_gettop(L);
        if (lua_istable(L, doc) && lua_rawlen(L, doc) == 2) {
            lua_rawgeti(L, doc, 1); /* stack: doc, event */
            lua_rawgeti(L, doc, 2); /* stack: doc, event, response */
            s_event(L, doc + 1, doc + 2);
        } else {
            s_event(L, doc, doc);
        }
    }
    lua_close(L);
    return 0;
}
