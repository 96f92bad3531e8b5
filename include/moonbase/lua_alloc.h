/* moonbase/lua_alloc.h - the Lua state's allocator: a byte-exact counting allocator with a cap,
 * with small blocks (<= MB_LUA_ALLOC_SMALL_MAX bytes: strings, tables, closures, most of what a
 * request allocates) served from per-size free lists carved out of 64 KB slabs instead of
 * malloc/free. `used` counts the bytes Lua asked for (not slab or malloc overhead), exactly as
 * before, so the cap means the same thing. Under AddressSanitizer the free lists are compiled out
 * and every block is a real malloc/realloc/free, so leaks and overflows stay detectable.
 * Ownership: the caller owns the mb_lua_alloc (embedded in its own struct); slabs are held until
 * mb_lua_alloc_cleanup(), which must run after lua_close() of every state using it. Small blocks
 * freed by Lua go back to their free list, not to malloc. Not thread-safe. */
#ifndef MOONBASE_LUA_ALLOC_H
#define MOONBASE_LUA_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

#define MB_LUA_ALLOC_GRAIN 16
#define MB_LUA_ALLOC_SMALL_MAX 256
#define MB_LUA_ALLOC_CLASSES (MB_LUA_ALLOC_SMALL_MAX / MB_LUA_ALLOC_GRAIN)

typedef struct mb_lua_alloc {
    size_t used;  /* bytes Lua holds (sum of live block sizes it asked for) */
    size_t limit; /* requests that would take `used` above this fail */
    bool oom;     /* a request failed (cap or malloc); the caller resets it */
    void *free_list[MB_LUA_ALLOC_CLASSES]; /* class c holds blocks of (c + 1) * GRAIN bytes */
    char *bump, *bump_end;                 /* uncarved rest of the newest slab */
    void *slabs;                           /* all slabs, linked through their first word */
    /* Optional meter (lua_host's CPU-time budget): called after every MB_LUA_ALLOC_METER_BYTES
     * of growth and on every refused request, so C code that allocates (and the collector work
     * allocation drives) is checked even where no VM instruction runs. It must not raise and must
     * not call back into the allocator. */
    void (*meter)(void *ud);
    void *meter_ud;
    size_t metered; /* growth since the last meter call */
} mb_lua_alloc;

/* 256 KB: a clock read (~0.2 us) per 256 KB allocated is noise next to filling them, and even
 * 16-byte blocks reach it within about a millisecond. */
#define MB_LUA_ALLOC_METER_BYTES (256u * 1024u)

/* Zero the allocator and set its cap (bytes, > 0). Allocates nothing. */
void mb_lua_alloc_init(mb_lua_alloc *a, size_t limit);
/* lua_Alloc with ud = the mb_lua_alloc: lua_newstate(mb_lua_alloc_fn, a). Returns NULL (and
 * sets a->oom) when the cap would be exceeded or memory runs out; never fails a free. */
void *mb_lua_alloc_fn(void *ud, void *ptr, size_t osize, size_t nsize);
/* Set (or, with NULL, clear) the meter. */
void mb_lua_alloc_set_meter(mb_lua_alloc *a, void (*meter)(void *ud), void *ud);
/* Free the slabs. Call after lua_close(); blocks still lent out become invalid. Idempotent. */
void mb_lua_alloc_cleanup(mb_lua_alloc *a);

#endif
