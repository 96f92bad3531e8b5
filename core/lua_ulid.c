/* lua_ulid.c - ctx.ulid(): sortable unique ids for handlers (ULID: 48-bit millisecond time + 80
 * random bits, Crockford base32). The last time and random part live in a registry userdata of
 * the Lua state (process-wide, no C memory), so ids made by one process sort in creation order
 * even within one millisecond. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>

#include <lauxlib.h>

#include "moonbase/clock.h"
#include "moonbase/lua_aux.h"

typedef struct ulid_state {
    int64_t ms;
    unsigned char rand[10];
} ulid_state;

static const char s_key_state = 'u';
static const char k_crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* The state's ulid_state, created on first use. [-0, +0, m] */
static ulid_state *s_state(lua_State *L) {
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &s_key_state) != LUA_TUSERDATA) { /* stack: ud? */
        lua_pop(L, 1);
        memset(lua_newuserdatauv(L, sizeof(ulid_state), 0), 0, sizeof(ulid_state));
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &s_key_state); /* stack: ud */
    }
    ulid_state *st = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return st;
}

static bool s_random(void *out, size_t n) {
    unsigned char *p = out;
    while (n > 0) {
        ssize_t k = getrandom(p, n, 0);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            return false;
        }
        p += k;
        n -= (size_t)k;
    }
    return true;
}

/* ctx.ulid() -> a 26-character ULID. Within one millisecond the random part is incremented
 * (monotonic ULIDs), so ids made by one process also sort in creation order. [-0, +1, m] */
static int s_ulid(lua_State *L) {
    ulid_state *st = s_state(L);
    mb_lua_services *svc = mb_lua_aux_services(L);
    int64_t ms = mb_clock_now_ms(svc ? svc->clock : NULL);
    if (ms <= st->ms) {
        ms = st->ms;
        int i = 9;
        while (i >= 0 && ++st->rand[i] == 0) {
            i--;
        }
    } else if (!s_random(st->rand, sizeof st->rand)) {
        return luaL_error(L, "ctx.ulid: no randomness available");
    }
    st->ms = ms;
    char out[26];
    for (int i = 9; i >= 0; i--) {
        out[i] = k_crockford[ms & 31];
        ms >>= 5;
    }
    for (int i = 0; i < 16; i++) { /* 80 bits, 5 at a time, most significant first */
        int bit = i * 5, v = 0;
        for (int j = 0; j < 5; j++, bit++) {
            v = (v << 1) | ((st->rand[bit / 8] >> (7 - bit % 8)) & 1);
        }
        out[10 + i] = k_crockford[v];
    }
    lua_pushlstring(L, out, sizeof out);
    return 1;
}

void mb_lua_inject_ulid_api(lua_State *L) {
    lua_pushcfunction(L, s_ulid); /* stack: ctx, ulid */
    lua_setfield(L, -2, "ulid");
}
