/* ddb_marshal_names.c - the reader's cache of attribute-name strings (see ddb_marshal_priv.h). */
#include "ddb_marshal_priv.h"

/* Attribute names repeat from item to item (one schema), and pushing a Lua string means
 * hashing every byte and comparing with the interned twin: perf put Lua's string interning at
 * ~30% of unmarshal time. The cache keeps recent names per set of two slots, picked by a cheap
 * hash: their bytes in C (compared without calling Lua) and their strings in a Lua table (the
 * userdata's user value), so a repeated name costs a compare and one lua_rawgeti. Names only
 * (values vary too much to pay off), and short ones only (Lua interns only those): at most
 * NAME_CACHE_SLOTS strings of NAME_CACHE_MAX bytes stay alive per Lua state, plus ~22 KB. */
#define NAME_CACHE_SETS 256
#define NAME_CACHE_SLOTS (2 * NAME_CACHE_SETS)
#define NAME_CACHE_MAX 40 /* LUAI_MAXSHORTLEN */

typedef struct mb_ddb_marshal_names {
    unsigned char len[NAME_CACHE_SLOTS]; /* 0: empty slot */
    char bytes[NAME_CACHE_SLOTS][NAME_CACHE_MAX];
} mb_ddb_marshal_names;

static const char s_name_cache_key = 0; /* its address is the registry key */

/* Push the cache and its table of strings, created on first use ([-0, +2, m]); returns the
 * cache. Stack: ..., cache, strings. */
mb_ddb_marshal_names *mb_ddb_marshal_names_push(lua_State *L) {
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &s_name_cache_key) != LUA_TUSERDATA) {
        lua_pop(L, 1);
        mb_ddb_marshal_names *c = lua_newuserdatauv(L, sizeof *c, 1); /* stack: ..., cache */
        memset(c->len, 0, sizeof c->len);
        lua_createtable(L, NAME_CACHE_SLOTS, 0); /* rawseti into it never allocates */
        lua_setiuservalue(L, -2, 1);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &s_name_cache_key);
    }
    lua_getiuservalue(L, -1, 1);
    return lua_touserdata(L, -2);
}

/* First slot (0-based) of the set of the n (1..NAME_CACHE_MAX) bytes at p: its first and last
 * words (names sharing a prefix or a suffix still spread) and its length, one multiply: this
 * sits on the path of every attribute name. */
static unsigned s_name_set(const unsigned char *p, size_t n) {
    uint64_t h =
        n < 8 ? mb_text_load_short(p, n) : mb_text_load8(p) ^ mb_text_load8(p + n - 8) << 1;
    h = (h ^ n) * 0x9E3779B97F4A7C15ULL; /* Fibonacci hashing: the top bits mix every byte */
    return (unsigned)(h >> 56) * 2;
}

/* Whether the n (1..NAME_CACHE_MAX) bytes at a and b are equal: word compares, no call. */
static bool s_short_equal(const unsigned char *a, const unsigned char *b, size_t n) {
    if (n < 8) {
        return mb_text_load_short(a, n) == mb_text_load_short(b, n); /* the word holds every byte */
    }
    uint64_t diff = mb_text_load8(a + n - 8) ^ mb_text_load8(b + n - 8);
    for (size_t i = 0; i + 8 < n; i += 8) {
        diff |= mb_text_load8(a + i) ^ mb_text_load8(b + i);
    }
    return diff == 0;
}

/* A miss: the name takes its set's first slot and the previous holder moves to the second. */
static void s_name_insert(lua_State *L, mb_ddb_marshal_reader *r, unsigned slot, mb_cur raw) {
    mb_ddb_marshal_names *c = r->cache;
    lua_pushlstring(L, raw.ptr, raw.len); /* stack: ..., name */
    lua_rawgeti(L, r->names, slot + 1);   /* stack: ..., name, previous */
    lua_rawseti(L, r->names, slot + 2);   /* stack: ..., name */
    lua_pushvalue(L, -1);                 /* stack: ..., name, name */
    lua_rawseti(L, r->names, slot + 1);   /* stack: ..., name */
    c->len[slot + 1] = c->len[slot];
    memcpy(c->bytes[slot + 1], c->bytes[slot], NAME_CACHE_MAX);
    c->len[slot] = (unsigned char)raw.len;
    memcpy(c->bytes[slot], raw.ptr, raw.len);
}

/* Push the name raw (no escapes), from the cache when it holds it. */
void mb_ddb_marshal_push_name_raw(lua_State *L, mb_ddb_marshal_reader *r, mb_cur raw) {
    mb_ddb_marshal_names *c = r->cache;
    if (!c || raw.len == 0 || raw.len > NAME_CACHE_MAX) {
        lua_pushlstring(L, raw.len ? raw.ptr : "", raw.len);
        return;
    }
    const unsigned char *p = (const unsigned char *)raw.ptr;
    unsigned slot = s_name_set(p, raw.len);
    for (unsigned way = 0; way < 2; way++) {
        if (c->len[slot + way] == raw.len &&
            s_short_equal((const unsigned char *)c->bytes[slot + way], p, raw.len)) {
            lua_rawgeti(L, r->names, slot + way + 1);
            return;
        }
    }
    s_name_insert(L, r, slot, raw);
}
