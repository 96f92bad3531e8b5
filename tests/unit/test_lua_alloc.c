/* test_lua_alloc.c - the Lua state's allocator (moonbase/lua_alloc.h): exact byte accounting,
 * the cap, contents kept across resizes between size classes and malloc, and a Lua workload
 * whose own byte count (collectgarbage "count") must match ours at every point. Runs in both
 * builds: under ASan the free lists are compiled out (real malloc/free), elsewhere they are on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "moonbase/lua_alloc.h"

static void s_fill(unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) {
        p[i] = (unsigned char)(seed + i * 7);
    }
}

static void s_check(const unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(p[i], (unsigned char)(seed + i * 7));
    }
}

/* Every size from 1 to 600 grown then shrunk one byte at a time across all class boundaries
 * and the small/malloc boundary: the bytes both sizes hold must survive each move. */
static void test_resize_keeps_contents(void **state) {
    (void)state;
    mb_lua_alloc a;
    mb_lua_alloc_init(&a, 1u << 20);
    unsigned char *p = mb_lua_alloc_fn(&a, NULL, LUA_TSTRING, 1);
    assert_non_null(p);
    s_fill(p, 1, 3);
    for (size_t n = 2; n <= 600; n++) {
        p = mb_lua_alloc_fn(&a, p, n - 1, n);
        assert_non_null(p);
        s_check(p, n - 1, 3);
        s_fill(p, n, 3);
        assert_int_equal(a.used, n);
    }
    for (size_t n = 599; n >= 1; n--) {
        p = mb_lua_alloc_fn(&a, p, n + 1, n);
        assert_non_null(p);
        s_check(p, n, 3);
    }
    assert_null(mb_lua_alloc_fn(&a, p, 1, 0));
    assert_int_equal(a.used, 0);
    mb_lua_alloc_cleanup(&a);
}

/* Many live blocks of mixed sizes (several slabs' worth), freed in another order and
 * reallocated: no block overlaps another (each keeps its own pattern), and used is exact. */
static void test_many_blocks_do_not_overlap(void **state) {
    (void)state;
    enum { N = 6000 };
    static unsigned char *blk[N];
    mb_lua_alloc a;
    mb_lua_alloc_init(&a, 64u << 20);
    size_t total = 0;
    for (unsigned i = 0; i < N; i++) {
        size_t n = 1 + (i * 37) % 300;
        blk[i] = mb_lua_alloc_fn(&a, NULL, 0, n);
        assert_non_null(blk[i]);
        s_fill(blk[i], n, i);
        total += n;
    }
    assert_int_equal(a.used, total);
    for (unsigned i = 0; i < N; i += 2) {
        mb_lua_alloc_fn(&a, blk[i], 1 + (i * 37) % 300, 0);
        total -= 1 + (i * 37) % 300;
    }
    for (unsigned i = 0; i < N; i += 2) {
        size_t n = 1 + (i * 11) % 256;
        blk[i] = mb_lua_alloc_fn(&a, NULL, 0, n);
        s_fill(blk[i], n, i + 1);
        total += n;
    }
    assert_int_equal(a.used, total);
    for (unsigned i = 0; i < N; i++) {
        size_t n = i % 2 ? 1 + (i * 37) % 300 : 1 + (i * 11) % 256;
        s_check(blk[i], n, i % 2 ? i : i + 1);
        mb_lua_alloc_fn(&a, blk[i], n, 0);
    }
    assert_int_equal(a.used, 0);
    mb_lua_alloc_cleanup(&a);
}

/* The cap counts requested bytes: a request that would cross it fails and sets oom, leaving
 * the block and the count as they were; shrinking and freeing are never refused. */
static void test_cap(void **state) {
    (void)state;
    mb_lua_alloc a;
    mb_lua_alloc_init(&a, 1000);
    void *p = mb_lua_alloc_fn(&a, NULL, 0, 1000);
    assert_non_null(p);
    assert_false(a.oom);
    assert_null(mb_lua_alloc_fn(&a, NULL, 0, 1));
    assert_true(a.oom);
    a.oom = false;
    assert_null(mb_lua_alloc_fn(&a, p, 1000, 1001));
    assert_true(a.oom);
    assert_int_equal(a.used, 1000);
    p = mb_lua_alloc_fn(&a, p, 1000, 100);
    assert_non_null(p);
    assert_int_equal(a.used, 100);
    void *q = mb_lua_alloc_fn(&a, NULL, 0, 900);
    assert_non_null(q);
    mb_lua_alloc_fn(&a, q, 900, 0);
    mb_lua_alloc_fn(&a, p, 100, 0);
    assert_int_equal(a.used, 0);
    mb_lua_alloc_cleanup(&a);
}

/* A Lua state churning strings and tables: Lua's own count of its bytes equals ours, a memory
 * error is raised at the cap and the state carries on after it. */
static void test_lua_state_counts_match(void **state) {
    (void)state;
    mb_lua_alloc a;
    mb_lua_alloc_init(&a, 8u << 20);
    lua_State *L = lua_newstate(mb_lua_alloc_fn, &a);
    assert_non_null(L);
    luaL_openlibs(L);
    const char *churn = "local t = {} for i = 1, 20000 do t[i % 500 + 1] = {s = 'v' .. i, i, "
                        "{x = i}} end return #t";
    assert_int_equal(luaL_dostring(L, churn), LUA_OK);
    lua_pop(L, 1);
    size_t lua_bytes =
        (size_t)lua_gc(L, LUA_GCCOUNT, 0) * 1024 + (size_t)lua_gc(L, LUA_GCCOUNTB, 0);
    assert_int_equal(lua_bytes, a.used);
    const char *hog = "local t = {} for i = 1, 1e7 do t[i] = 'x' .. i end";
    assert_int_equal(luaL_loadstring(L, hog), LUA_OK);
    assert_int_equal(lua_pcall(L, 0, 0, 0), LUA_ERRMEM);
    assert_true(a.oom);
    assert_true(a.used <= a.limit);
    lua_settop(L, 0);
    lua_gc(L, LUA_GCCOLLECT, 0);
    assert_int_equal(luaL_dostring(L, churn), LUA_OK);
    lua_close(L);
    assert_int_equal(a.used, 0);
    mb_lua_alloc_cleanup(&a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resize_keeps_contents),
        cmocka_unit_test(test_many_blocks_do_not_overlap),
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_lua_state_counts_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
