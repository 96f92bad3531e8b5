/* test_lua_limits.c - the hostile-handler suite for the CPU-time budget, the per-invocation
 * memory cap and the bounded library functions (lua_host + lua_limits + lua_alloc's meter).
 * Every hostile handler must be cut with the outcome its limit names, having used at most twice
 * its CPU budget (thread CPU time, so a loaded machine cannot fail or pass it by accident),
 * and must leave nothing behind: the next request runs normally, the collector still runs and
 * the state's memory returns to where it was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <lauxlib.h>

#include "foundation_testkit.h"
#include "host_testkit.h"

#define CPU_MS 200

typedef struct fixture {
    char *dir;
    mb_lua_host *host;
    mb_lua_services svc;
    mb_lua_result res;
    int64_t cpu_ns; /* CPU used by the last call */
    size_t base_memory;
} fixture;

static int setup(void **state) {
    fixture *fx = calloc(1, sizeof *fx);
    fx->dir = tk_tempdir();
    tk_write(fx->dir, "ok.lua",
             "return function() local t = {} for i = 1, 100 do t[i] = i end\n"
             "  return table.concat(t, ',', 1, 3) end\n");
    mb_lua_host_opts o = {
        .cpu_ms = CPU_MS, .memory_limit = 64u << 20, .invocation_memory_limit = 32u << 20};
    fx->host = tk_host_new(fx->dir, o, &fx->svc);
    *state = fx;
    return 0;
}

static int teardown(void **state) {
    fixture *fx = *state;
    tk_host_cleanup(fx->host, &fx->res, fx->dir);
    free(fx);
    return 0;
}

static mb_lua_outcome call_budget(fixture *fx, const char *name, unsigned cpu_ms) {
    mb_lua_outcome o = tk_host_call(fx->host, name, 0, cpu_ms, (mb_cur){0}, &fx->res);
    fx->cpu_ns = mb_lua_host_cpu_used_ns(fx->host);
    tk_host_done(fx->host);
    return o;
}

static mb_lua_outcome call(fixture *fx, const char *name) {
    return call_budget(fx, name, 0);
}

/* The baseline: the state's memory after a normal request and a full collection. */
static void settle(fixture *fx) {
    assert_int_equal(call(fx, "ok"), MB_LUA_OK);
    lua_gc(mb_lua_host_state(fx->host), LUA_GCCOLLECT);
    fx->base_memory = mb_lua_host_memory(fx->host);
}

/* After a cut: a normal request works, the collector runs, memory is back near the baseline. */
static void assert_recovered(fixture *fx) {
    lua_State *L = mb_lua_host_state(fx->host);
    assert_int_equal(call(fx, "ok"), MB_LUA_OK);
    assert_true(lua_gc(L, LUA_GCISRUNNING));
    /* The string table shrinks by half per cycle: after 100,000 strings, give it a few. */
    for (int i = 0; i < 8; i++) {
        lua_gc(L, LUA_GCCOLLECT);
    }
    size_t now = mb_lua_host_memory(fx->host);
    if (now > fx->base_memory + 64 * 1024) {
        fail_msg("memory %zu bytes after the cut, %zu before", now, fx->base_memory);
    }
}

/* Run handler `body` (the inside of function(req, ctx)) expecting `want`, with CPU use at most
 * twice the budget. */
static void expect_cut(fixture *fx, const char *body, mb_lua_outcome want, unsigned cpu_ms) {
    char code[2048];
    snprintf(code, sizeof code, "return function(req, ctx)\n%s\nend\n", body);
    tk_write(fx->dir, "hostile.lua", code);
    settle(fx);
    alarm(60); /* a regression would spin: fail instead of hanging the suite */
    mb_lua_outcome o = call_budget(fx, "hostile", cpu_ms);
    alarm(0);
    unsigned budget = cpu_ms ? cpu_ms : CPU_MS;
    print_message("%-60.60s -> %s after %lld ms CPU (budget %u)\n", body,
                  fx->res.error_type ? fx->res.error_type : "ok", (long long)(fx->cpu_ns / 1000000),
                  budget);
    if (o != want) {
        fail_msg("outcome %d (%s: %s), wanted %d", (int)o,
                 fx->res.error_type ? fx->res.error_type : "-",
                 fx->res.message.ptr ? fx->res.message.ptr : "", (int)want);
    }
    static const char *const types[] = {[MB_LUA_CPU] = "CpuBudget",
                                        [MB_LUA_BUDGET] = "InstructionBudgetExceeded",
                                        [MB_LUA_MEMORY] = "MemoryLimitExceeded"};
    assert_string_equal(fx->res.error_type, types[want]);
    assert_true(fx->cpu_ns <= (int64_t)budget * 2 * 1000000);
    assert_recovered(fx);
}

/* The case: stop the collector, then allocate forever. "stop" is refused, and the loop is
 * cut by the CPU budget, not the 30 s deadline. */
static void test_lua_limits_gc_stopped_churn_cut(void **state) {
    fixture *fx = *state;
    expect_cut(fx,
               "pcall(collectgarbage, 'stop')\n"
               "while true do local _ = { string.rep('y', 4096) } end",
               MB_LUA_CPU, 0);
}

static void test_lua_limits_allocation_loop_cut(void **state) {
    fixture *fx = *state;
    expect_cut(fx, "while true do local _ = { string.rep('y', 4096) } end", MB_LUA_CPU, 0);
    /* and with a per-route budget, smaller than the default */
    expect_cut(fx, "local t = {} while true do t[#t % 1000 + 1] = {} end", MB_LUA_CPU, 50);
}

/* Few VM instructions, each a large C-side job: the allocator's meter sees them. */
static void test_lua_limits_concat_and_rep_chain_cut(void **state) {
    fixture *fx = *state;
    expect_cut(fx,
               "local t = {} for i = 1, 20000 do t[i] = string.rep('ab', 100) end\n"
               "while true do local s = table.concat(t) end",
               MB_LUA_CPU, 0);
    expect_cut(fx, "while true do local s = 'x' for i = 1, 22 do s = s:rep(2) end end", MB_LUA_CPU,
               0);
}

static void test_lua_limits_deep_string_format_cut(void **state) {
    fixture *fx = *state;
    expect_cut(fx,
               "local function f(n) if n == 0 then return '' end\n"
               "  return string.format('%s%5.2f|%q', f(n - 1), n / 3, ('z'):rep(n)) end\n"
               "while true do f(150) end",
               MB_LUA_CPU, 0);
    expect_cut(fx,
               "local big = ('q'):rep(1 << 20)\n"
               "while true do local s = string.format('%s%s%s%s', big, big, big, big) end",
               MB_LUA_CPU, 0);
}

static void test_lua_limits_coroutine_bombs_cut(void **state) {
    fixture *fx = *state;
    /* many coroutines, each allocating */
    expect_cut(fx,
               "while true do\n"
               "  local co = coroutine.wrap(function() while true do\n"
               "    coroutine.yield(string.rep('z', 1000)) end end)\n"
               "  for i = 1, 100 do co() end\n"
               "end",
               MB_LUA_CPU, 0);
    /* nested coroutines down to the C-stack limit, again and again, catching every error */
    expect_cut(
        fx,
        "local function bomb(n)\n"
        "  local co = coroutine.create(function() while true do pcall(bomb, n + 1) end end)\n"
        "  coroutine.resume(co)\n"
        "end\n"
        "while true do pcall(bomb, 0) end",
        MB_LUA_CPU, 0);
    /* a coroutine spinning on its own, resumed once */
    expect_cut(fx, "coroutine.wrap(function() local x = 0 while true do x = x + 1 end end)()",
               MB_LUA_CPU, 0);
}

/* One C call that neither allocates nor runs Lua, each some 100 ms: table.sort of 100,000
 * strings (strcoll compares, as slow on sorted input). The count hook alone reads the clock every
 * 16,000 VM instructions (some 3,000 sorts, minutes); the thread-CPU timer's nudge cuts it
 * after the sort in progress, in a coroutine too (the nudge follows coroutine.resume/wrap). */
static void test_lua_limits_expensive_c_calls_cut_by_timer(void **state) {
    fixture *fx = *state;
    expect_cut(fx,
               "local u = {} for i = 1, 100000 do u[i] = tostring((i * 7919) % 100003) end\n"
               "while true do table.sort(u) end",
               MB_LUA_CPU, 600);
    /* the same inside a coroutine */
    expect_cut(fx,
               "local u = {} for i = 1, 100000 do u[i] = tostring((i * 7919) % 100003) end\n"
               "coroutine.wrap(function() while true do table.sort(u) end end)()",
               MB_LUA_CPU, 600);
}

/* Stock loops that never allocate and run as long as their arguments say: charged per element
 * against the instruction budget, so they are refused before they start. */
static void test_lua_limits_unbounded_library_loops_refused(void **state) {
    fixture *fx = *state;
    static const char *const bodies[] = {
        "table.move({}, 1, math.maxinteger - 1, 2) return 1",
        "local t = setmetatable({}, { __len = function() return math.maxinteger - 1 end })\n"
        "table.insert(t, 1, 'x') return 1",
        "local t = setmetatable({}, { __len = function() return math.maxinteger - 1 end })\n"
        "table.remove(t, 1) return 1",
    };
    /* string.rep of empty strings is simply empty: no loop at all */
    tk_write(fx->dir, "rep.lua", "return function() return string.rep('', math.maxinteger) end\n");
    assert_int_equal(call(fx, "rep"), MB_LUA_OK);
    assert_true(fx->cpu_ns < 10 * 1000000);
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        expect_cut(fx, bodies[i], MB_LUA_BUDGET, 0); /* refused up front: well inside 2x */
    }
}

/* The bounded replacements behave like the stock functions on ordinary input. */
static void test_lua_limits_replacements_match_stock(void **state) {
    fixture *fx = *state;
    tk_write(
        fx->dir, "same.lua",
        "return function()\n"
        "  local t = {1, 2, 3}\n"
        "  table.insert(t, 4) table.insert(t, 1, 0)\n"
        "  local r = table.remove(t, 1) .. table.remove(t)\n"
        "  local m = table.move({1, 2, 3}, 1, 3, 2, {9})\n"
        "  local ok, e = pcall(table.insert, t, 9, 1)\n"
        "  local ok2 = pcall(table.insert, t)\n"
        "  return table.concat(t, ',') .. '|' .. r .. '|' .. table.concat(m, ',') .. '|' ..\n"
        "    ('ab'):rep(3, '-') .. '|' .. tostring(ok) .. tostring(e:find('out of bounds') ~= "
        "nil)\n"
        "    .. tostring(ok2) .. '|' .. #string.rep('', 5) .. '|' .. tostring(table.remove({}))\n"
        "end\n");
    lua_State *L = mb_lua_host_state(fx->host);
    assert_int_equal(tk_host_call(fx->host, "same", 0, 0, (mb_cur){0}, &fx->res), MB_LUA_OK);
    assert_string_equal(lua_tostring(L, -1), "1,2,3|04|9,1,2,3|ab-ab-ab|falsetruefalse|0|nil");
    tk_host_done(fx->host);
}

static void test_lua_limits_collectgarbage_restricted(void **state) {
    fixture *fx = *state;
    tk_write(fx->dir, "gc.lua",
             "return function()\n"
             "  local out = {}\n"
             "  out[1] = type(collectgarbage('count'))\n"
             "  out[2] = tostring(collectgarbage())\n"
             "  out[3] = tostring(collectgarbage('collect'))\n"
             "  out[4] = type(collectgarbage('step', 10))\n"
             "  for _, o in ipairs({'stop', 'restart', 'incremental', 'generational',\n"
             "                     'setpause', 'setstepmul', 'isrunning'}) do\n"
             "    local ok, e = pcall(collectgarbage, o, 1)\n"
             "    out[#out + 1] = tostring(ok) .. ':' .. tostring(e:find('not allowed') ~= nil)\n"
             "  end\n"
             "  return table.concat(out, ',')\n"
             "end\n");
    lua_State *L = mb_lua_host_state(fx->host);
    assert_int_equal(tk_host_call(fx->host, "gc", 0, 0, (mb_cur){0}, &fx->res), MB_LUA_OK);
    assert_string_equal(lua_tostring(L, -1),
                        "number,0,0,boolean,false:true,false:true,false:true,false:true,"
                        "false:true,false:true,false:true");
    tk_host_done(fx->host);
    assert_true(lua_gc(L, LUA_GCISRUNNING));
    /* uncaught, "stop" is a handler error (500), and the collector keeps running */
    tk_write(fx->dir, "stop.lua", "return function() collectgarbage('stop') return 1 end\n");
    assert_int_equal(call(fx, "stop"), MB_LUA_ERROR);
    assert_non_null(strstr(fx->res.message.ptr, "not allowed in handlers"));
    assert_true(lua_gc(L, LUA_GCISRUNNING));
}

/* The memory cap is per invocation: 32 MB here inside a 64 MB state. A handler keeping 40 MB
 * alive gets the memory outcome (a clean 500), and the next request has its full share again. */
static void test_lua_limits_memory_cap_per_invocation(void **state) {
    fixture *fx = *state;
    expect_cut(fx,
               "local t = {} for i = 1, 40 do t[i] = string.rep(string.char(64 + i), 1 << 20) end",
               MB_LUA_MEMORY, 2000); /* filling 32 MB takes a while under ASan */
    /* 24 MB fits the invocation's share, twice in a row (the first one's memory is reclaimed) */
    tk_write(fx->dir, "fits.lua",
             "return function() local t = {} for i = 1, 24 do t[i] = string.rep(string.char(64 + "
             "i), 1 << 20)"
             " end return #t end\n");
    assert_int_equal(call_budget(fx, "fits", 2000), MB_LUA_OK);
    assert_int_equal(call_budget(fx, "fits", 2000), MB_LUA_OK);
}

/* A budget set after the call began (a route's cpu_ms once the route is known) is what counts. */
static void test_lua_limits_budget_set_per_invocation(void **state) {
    fixture *fx = *state;
    tk_write(
        fx->dir, "spin.lua",
        "return function(req, ctx) local x = 0\n"
        "  local t0 = os.clock() while os.clock() - t0 < 0.15 do x = x + 1 end return x end\n");
    assert_int_equal(call_budget(fx, "spin", 100), MB_LUA_CPU); /* 150 ms > 100 ms */
    assert_true(fx->cpu_ns <= 200 * 1000000);
    assert_int_equal(call_budget(fx, "spin", 400), MB_LUA_OK); /* and fits 400 ms */
    assert_int_equal(call(fx, "spin"), MB_LUA_OK);             /* and the 200 ms default */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lua_limits_gc_stopped_churn_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lua_limits_allocation_loop_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lua_limits_concat_and_rep_chain_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lua_limits_deep_string_format_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lua_limits_coroutine_bombs_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lua_limits_expensive_c_calls_cut_by_timer, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lua_limits_unbounded_library_loops_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lua_limits_replacements_match_stock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lua_limits_collectgarbage_restricted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lua_limits_memory_cap_per_invocation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lua_limits_budget_set_per_invocation, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
