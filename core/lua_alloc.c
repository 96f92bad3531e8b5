/* lua_alloc.c - counting, capped allocator for the Lua state with slab-backed free lists for
 * small blocks (moonbase/lua_alloc.h). Lua passes the old size of every block it frees or
 * resizes, so a block needs no header: its size class follows from that size. */
#include "moonbase/lua_alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ASan (gcc defines __SANITIZE_ADDRESS__, clang answers __has_feature) must see every block as
 * its own malloc, or a use after free inside a slab and a leaked Lua block would go unseen. */
#ifndef MB_LUA_ALLOC_POOL
#if defined(__SANITIZE_ADDRESS__)
#define MB_LUA_ALLOC_POOL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MB_LUA_ALLOC_POOL 0
#endif
#endif
#endif
#ifndef MB_LUA_ALLOC_POOL
#define MB_LUA_ALLOC_POOL 1
#endif

/* 64 KB: one malloc per ~250 largest small blocks or ~4000 smallest, and few enough slabs that a
 * state's idle free blocks (never handed back to malloc before cleanup) stay a small part of
 * the heap. The first GRAIN bytes link the slab and keep the blocks 16-byte aligned. */
#define SLAB_SIZE (64u * 1024u)

void mb_lua_alloc_init(mb_lua_alloc *a, size_t limit) {
    memset(a, 0, sizeof *a);
    a->limit = limit;
}

void mb_lua_alloc_cleanup(mb_lua_alloc *a) {
    void *s = a->slabs;
    while (s) {
        void *next = *(void **)s;
        free(s);
        s = next;
    }
    size_t limit = a->limit;
    void (*meter)(void *) = a->meter;
    void *meter_ud = a->meter_ud;
    mb_lua_alloc_init(a, limit);
    mb_lua_alloc_set_meter(a, meter, meter_ud);
}

void mb_lua_alloc_set_meter(mb_lua_alloc *a, void (*meter)(void *ud), void *ud) {
    a->meter = meter;
    a->meter_ud = ud;
    a->metered = 0;
}

#if MB_LUA_ALLOC_POOL
static size_t s_class(size_t n) {
    return (n - 1) / MB_LUA_ALLOC_GRAIN;
}

static void s_small_put(mb_lua_alloc *a, void *p, size_t c) {
    *(void **)p = a->free_list[c];
    a->free_list[c] = p;
}

/* A new slab; the old slab's uncarved tail (< the block that did not fit) joins the free list
 * of the largest class it holds, so nothing is stranded. */
static bool s_new_slab(mb_lua_alloc *a) {
    char *s = malloc(SLAB_SIZE);
    if (!s) {
        return false;
    }
    size_t rest = (size_t)(a->bump_end - a->bump);
    if (rest >= MB_LUA_ALLOC_GRAIN) {
        s_small_put(a, a->bump, rest / MB_LUA_ALLOC_GRAIN - 1);
    }
    *(void **)s = a->slabs;
    a->slabs = s;
    a->bump = s + MB_LUA_ALLOC_GRAIN;
    a->bump_end = s + SLAB_SIZE;
    return true;
}

static void *s_small_get(mb_lua_alloc *a, size_t c) {
    void *p = a->free_list[c];
    if (p) {
        a->free_list[c] = *(void **)p;
        return p;
    }
    size_t size = (c + 1) * MB_LUA_ALLOC_GRAIN;
    if ((size_t)(a->bump_end - a->bump) < size && !s_new_slab(a)) {
        return NULL;
    }
    p = a->bump;
    a->bump += size;
    return p;
}

static void s_release(mb_lua_alloc *a, void *ptr, size_t size) {
    if (ptr && size - 1 < MB_LUA_ALLOC_SMALL_MAX) { /* size is >= 1 when ptr is set */
        s_small_put(a, ptr, s_class(size));
    } else {
        free(ptr);
    }
}

/* Lua may shrink a block and keep using it, so a resize within one class keeps the block; a
 * move between classes (or between a class and malloc) copies what both sizes hold. */
static void *s_resize(mb_lua_alloc *a, void *ptr, size_t old, size_t nsize) {
    bool small_old = ptr && old <= MB_LUA_ALLOC_SMALL_MAX;
    bool small_new = nsize <= MB_LUA_ALLOC_SMALL_MAX;
    if (!small_new && (!ptr || !small_old)) {
        return realloc(ptr, nsize);
    }
    if (small_old && small_new && s_class(old) == s_class(nsize)) {
        return ptr;
    }
    void *p = small_new ? s_small_get(a, s_class(nsize)) : malloc(nsize);
    if (p && ptr) {
        memcpy(p, ptr, old < nsize ? old : nsize);
        s_release(a, ptr, old);
    }
    return p;
}
#else
static void s_release(mb_lua_alloc *a, void *ptr, size_t size) {
    (void)a;
    (void)size;
    free(ptr);
}

static void *s_resize(mb_lua_alloc *a, void *ptr, size_t old, size_t nsize) {
    (void)a;
    (void)old;
    return realloc(ptr, nsize);
}
#endif

void *mb_lua_alloc_fn(void *ud, void *ptr, size_t osize, size_t nsize) {
    mb_lua_alloc *a = ud;
    size_t old = ptr ? osize : 0; /* for new blocks osize is a type tag, not a size */
    if (nsize == 0) {
        s_release(a, ptr, old);
        a->used -= old;
        return NULL;
    }
    if (nsize > old && a->meter) {
        a->metered += nsize - old;
        if (a->metered >= MB_LUA_ALLOC_METER_BYTES) {
            a->metered = 0;
            a->meter(a->meter_ud);
        }
    }
    if (nsize > old && a->used + (nsize - old) > a->limit) {
        a->oom = true;
        if (a->meter) { /* each refusal costs Lua an emergency full collection: check the clock */
            a->meter(a->meter_ud);
        }
        return NULL;
    }
    void *p = s_resize(a, ptr, old, nsize);
    if (p) {
        a->used = a->used - old + nsize;
    } else {
        a->oom = true;
    }
    return p;
}
