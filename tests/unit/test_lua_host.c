/* test_lua_host.c - the handler sandbox, limits and cache in a real Lua host: every escape the
 * sandbox promises to close is attempted from a handler file written to a temporary HANDLERS_DIR,
 * plus the ctx core (ctx.fail details, ctx.timestamp, ctx.now). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <lauxlib.h>

#include "foundation_testkit.h"
#include "host_testkit.h"
#include "moonbase/json.h"

typedef struct fixture {
    char *dir;
    mb_lua_host *host;
    mb_lua_services svc;
    mb_lua_result res;
    mb_buf out;   /* JSON encoding of the last successful handler's return value */
    int ret_type; /* Lua type of that value */
} fixture;

static int setup(void **state) {
    fixture *fx = calloc(1, sizeof *fx);
    fx->dir = tk_tempdir();
    *state = fx;
    return 0;
}

static int teardown(void **state) {
    fixture *fx = *state;
    tk_host_cleanup(fx->host, &fx->res, fx->dir);
    mb_buf_cleanup(&fx->out);
    free(fx);
    return 0;
}

static void open_host(fixture *fx, size_t memory, uint64_t budget, bool dev) {
    /* The CPU-time budget is test_lua_limits.c's subject: here a minute, so the instruction budget
     * and the deadline trip first however loaded the machine is. */
    mb_lua_host_opts o = {
        .memory_limit = memory, .instruction_limit = budget, .dev_mode = dev, .cpu_ms = 60000};
    fx->host = tk_host_new(fx->dir, o, &fx->svc);
}

/* One invocation of handler `name` with req.body = body (may be NULL). The stack must be balanced
 * whatever the outcome. */
static mb_lua_outcome call_body(fixture *fx, const char *name, int64_t deadline, mb_cur body) {
    lua_State *L = mb_lua_host_state(fx->host);
    mb_buf_reset(&fx->out);
    mb_lua_outcome o = tk_host_call(fx->host, name, deadline, 0, body, &fx->res);
    if (o == MB_LUA_OK) {
        fx->ret_type = lua_type(L, 3);
        mb_err err = {0};
        if (mb_json_encode(L, 3, &fx->out, &err) != 0) {
            mb_buf_append_cstr(&fx->out, "<unencodable>");
        }
    }
    tk_host_done(fx->host);
    return o;
}

static mb_lua_outcome call(fixture *fx, const char *name) {
    return call_body(fx, name, 0, (mb_cur){0});
}

/* Assert the handler returned the JSON `json` (strings come back quoted). */
#define assert_returned(fx, json) assert_string_equal((fx)->out.ptr ? (fx)->out.ptr : "", json)

static void assert_contains(const char *hay, const char *needle) {
    if (!hay || !strstr(hay, needle)) {
        fail_msg("'%s' does not contain '%s'", hay ? hay : "(null)", needle);
    }
}

static const char s_ok_handler[] =
    "return function(req, ctx) return string.upper('ok') .. tostring(os.time() > 0) end\n";

static void test_lua_host_sandbox_dangerous_names_absent(void **state) {
    fixture *fx = *state;
    tk_write(
        fx->dir, "names.lua",
        "return function()\n"
        "  local t = {io, os.execute, os.getenv, os.exit, os.remove, os.date, debug, package,\n"
        "    dofile, loadfile, string.dump, os.tmpname, rawset, _G, loadstring, module,\n"
        "    math.randomseed, require, load, os.time, os.clock, setmetatable, print, json,\n"
        "    cjson, utf8, coroutine, pcall}\n"
        "  local out = {}\n"
        "  for i = 1, 28 do out[i] = type(t[i]) end\n"
        "  return table.concat(out, ',')\n"
        "end\n");
    open_host(fx, 0, 0, false);
    assert_int_equal(call(fx, "names"), MB_LUA_OK);
    assert_returned(fx, "\"nil,nil,nil,nil,nil,nil,nil,nil,nil,nil,nil,nil,nil,nil,nil,nil,nil,"
                        "function,function,function,function,function,function,table,table,"
                        "table,table,function\"");
}

static int s_dump_writer(lua_State *L, const void *p, size_t n, void *ud) {
    (void)L;
    return mb_buf_append(ud, p, n);
}

static void test_lua_host_load_binary_chunk_refused(void **state) {
    fixture *fx = *state;
    lua_State *P = luaL_newstate(); /* a plain state makes a genuine binary chunk */
    assert_int_equal(luaL_loadstring(P, "return 42"), LUA_OK);
    mb_buf bin = {0};
    assert_int_equal(lua_dump(P, s_dump_writer, &bin, 0), 0);
    lua_close(P);
    tk_write(fx->dir, "loadbin.lua",
             "return function(req)\n"
             "  local f, msg = load(req.body)\n"
             "  local g, msg2 = load(req.body, 'x', 'b')\n"
             "  return tostring(f) .. '|' .. tostring(g) .. '|' .. msg .. '|' .. msg2\n"
             "end\n");
    tk_write_bytes(fx->dir, "binfile.lua", bin.ptr, bin.len);
    open_host(fx, 0, 0, false);
    assert_int_equal(call_body(fx, "loadbin", 0, mb_buf_cur(&bin)), MB_LUA_OK);
    assert_contains(fx->out.ptr, "nil|nil|");
    assert_contains(fx->out.ptr, "binary chunk");
    /* A handler file that is itself a binary chunk is refused at load time. */
    assert_int_equal(call(fx, "binfile"), MB_LUA_LOAD_ERROR);
    assert_string_equal(fx->res.error_type, "HandlerLoadError");
    mb_buf_cleanup(&bin);
}

static void test_lua_host_load_text_chunk_uses_request_env(void **state) {
    fixture *fx = *state;
    tk_write(fx->dir, "loadtxt.lua",
             "return function()\n"
             "  local f = assert(load('x = 41; return x + 1'))\n"
             "  local env = {}\n"
             "  local g = assert(load('y = 7', 'chunk', 't', env))\n"
             "  g()\n"
             "  return tostring(f()) .. tostring(x) .. tostring(env.y) .. tostring(y)\n"
             "end\n");
    tk_write(fx->dir, "seex.lua", "return function() return type(x) end\n");
    open_host(fx, 0, 0, false);
    assert_int_equal(call(fx, "loadtxt"), MB_LUA_OK);
    assert_returned(fx, "\"42417nil\"");
    assert_int_equal(call(fx, "seex"), MB_LUA_OK);
    assert_returned(fx, "\"nil\"");
}

/* xpcall is the sandbox's own (its message handler runs after the call): same results. */
static void test_lua_host_xpcall_behaves_like_stock(void **state) {
    fixture *fx = *state;
    tk_write(
        fx->dir, "xp.lua",
        "return function()\n"
        "  local a, b = xpcall(function() error('x', 0) end, function(m) return 'h:' .. m end)\n"
        "  local c, d, e = xpcall(function(p, q) return p + q, 'ok' end, print, 1, 2)\n"
        "  local f, g = xpcall(function() return nil end, print)\n"
        "  return table.concat({tostring(a), b, tostring(c), d, e, tostring(f), tostring(g)},"
        " ',')\n"
        "end\n");
    open_host(fx, 0, 0, false);
    assert_int_equal(call(fx, "xp"), MB_LUA_OK);
    assert_returned(fx, "\"false,h:x,true,3,ok,true,nil\"");
}

static void test_lua_host_readonly_libs_refuse_writes(void **state) {
    fixture *fx = *state;
    static const char *const writes[] = {
        "string.upper = nil",
        "os.time = nil",
        "json.encode = nil",
        "math.pi = 3",
        "table.insert = 1",
        "coroutine.wrap = nil",
        "utf8.char = nil",
        "cjson.null = 1",
        "string.newfield = 1",
        /* the one array metatable of the process: a field in it would reach later requests */
        "json.array_mt.__index = print",
        "cjson.array_mt.__name = 'tenant-a data'",
        "setmetatable(json.array_mt, nil)",
    };
    char code[256];
    open_host(fx, 0, 0, false);
    tk_write(fx->dir, "ok.lua", s_ok_handler);
    for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++) {
        snprintf(code, sizeof code, "return function() %s; return 'written' end\n", writes[i]);
        tk_write(fx->dir, "w.lua", code);
        mb_lua_host_free(fx->host); /* fresh host: the handler cache holds the previous file */
        open_host(fx, 0, 0, false);
        assert_int_equal(call(fx, "w"), MB_LUA_ERROR);
        assert_true(strstr(fx->res.message.ptr, "read-only") ||
                    strstr(fx->res.message.ptr, "protected metatable"));
        assert_int_equal(call(fx, "ok"), MB_LUA_OK);
        assert_returned(fx, "\"OKtrue\"");
    }
}

static void test_lua_host_globals_do_not_leak_between_requests(void **state) {
    fixture *fx = *state;
    tk_write(fx->dir, "set.lua",
             "secret = 'tenant-a'\n"
             "return function() leaked = 1; _ENV.other = 2; return 'set' end\n");
    tk_write(fx->dir, "get.lua",
             "return function() return tostring(secret) .. tostring(leaked) .. tostring(other) "
             "end\n");
    open_host(fx, 0, 0, false);
    assert_int_equal(call(fx, "set"), MB_LUA_OK);
    assert_int_equal(call(fx, "get"), MB_LUA_OK);
    assert_returned(fx, "\"nilnilnil\"");
    assert_int_equal(call(fx, "set"), MB_LUA_OK); /* cached chunk, fresh env again */
    assert_int_equal(call(fx, "get"), MB_LUA_OK);
    assert_returned(fx, "\"nilnilnil\"");
}

static void test_lua_host_string_metatable_unreachable(void **state) {
    fixture *fx = *state;
    tk_write(fx->dir, "mt.lua", "return function() return tostring(getmetatable('')) end\n");
    tk_write(fx->dir, "mtidx.lua", "return function() getmetatable('').__index.upper = nil end\n");
    tk_write(fx->dir, "setmt.lua", "return function() setmetatable(string, {}) end\n");
    tk_write(fx->dir, "ok.lua", s_ok_handler);
    open_host(fx, 0, 0, false);
    assert_int_equal(call(fx, "mt"), MB_LUA_OK);
    assert_returned(fx, "\"false\"");
    assert_int_equal(call(fx, "mtidx"), MB_LUA_ERROR);
    assert_int_equal(call(fx, "setmt"), MB_LUA_ERROR);
    assert_contains(fx->res.message.ptr, "protected metatable");
    assert_int_equal(call(fx, "ok"), MB_LUA_OK);
    assert_returned(fx, "\"OKtrue\"");
}

static void test_lua_host_setmetatable_gc_refused(void **state) {
    fixture *fx = *state;
    tk_write(fx->dir, "gc.lua",
             "return function() setmetatable({}, {__gc = function() end}) return 'set' end\n");
    tk_write(fx->dir, "idx.lua",
             "return function()\n"
             "  local t = setmetatable({}, {__index = function(_, k) return k .. '!' end})\n"
             "  return t.hi\n"
             "end\n");
    open_host(fx, 0, 0, false);
    assert_int_equal(call(fx, "gc"), MB_LUA_ERROR);
    assert_contains(fx->res.message.ptr, "__gc");
    assert_int_equal(call(fx, "idx"), MB_LUA_OK);
    assert_returned(fx, "\"hi!\"");
}

/* pairs() on a read-only library must not hand out the table behind the proxy: writing to that
 * table would change the library for every later request (and tenant). */
static void test_lua_host_pairs_does_not_expose_shared_tables(void **state) {
    fixture *fx = *state;
    tk_write(fx->dir, "tamper.lua",
             "return function()\n"
             "  local n = 0\n"
             "  for _, lib in ipairs({string, table, math, os, json, utf8, coroutine}) do\n"
             "    local f, s = pairs(lib)\n"
             "    if type(s) == 'table' and not rawequal(s, lib) then n = n + 1 end\n"
             "    pcall(function() s.upper = function() return 'pwned' end end)\n"
             "    pcall(function() s.encode = function() return 'pwned' end end)\n"
             "    pcall(function() local k = next(s); s[k] = nil end)\n"
             "  end\n"
             "  return n\n"
             "end\n");
    tk_write(fx->dir, "check.lua",
             "return function()\n"
             "  local n = 0\n"
             "  for k, v in pairs(string) do n = n + 1 end\n"
             "  return string.upper('a') .. json.encode({1}) .. tostring(n > 10) ..\n"
             "    tostring(math.pi > 3)\n"
             "end\n");
    open_host(fx, 0, 0, false);
    assert_int_equal(call(fx, "tamper"), MB_LUA_OK);
    assert_returned(fx, "0");
    assert_int_equal(call(fx, "check"), MB_LUA_OK);
    assert_returned(fx, "\"A[1]truetrue\"");
}

static void test_lua_host_runaway_loop_stopped_by_budget(void **state) {
    fixture *fx = *state;
    tk_write(fx->dir, "loop.lua", "return function() while true do end end\n");
    tk_write(fx->dir, "ok.lua", s_ok_handler);
    open_host(fx, 0, 2000000, false);
    int64_t t0 = tk_mono_ms();
    assert_int_equal(call(fx, "loop"), MB_LUA_BUDGET);
    assert_true(tk_mono_ms() - t0 < 3000);
    assert_string_equal(fx->res.error_type, "InstructionBudgetExceeded");
    assert_int_equal(call(fx, "ok"), MB_LUA_OK);
    assert_returned(fx, "\"OKtrue\"");
    assert_int_equal(call(fx, "loop"), MB_LUA_BUDGET); /* the budget resets per invocation */
}

static int64_t s_cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Handlers that catch the budget error (pcall, xpcall, coroutines) must still be stopped. A
 * regression would hang: alarm() turns that into a failure. */
static void test_lua_host_budget_not_caught_by_pcall(void **state) {
    fixture *fx = *state;
    static const char *const bodies[] = {
        "while true do pcall(function() while true do end end) end",
        "while true do pcall(function() while true do pcall(error) end end) end",
        "while true do xpcall(function() while true do end end, function(m) return m end) end",
        "while true do xpcall(function() while true do end end, function() while true do end "
        "end) end",
        "while true do local co = coroutine.create(function() while true do end end); "
        "coroutine.resume(co) end",
        "while true do pcall(string.gsub, 'aaaa', '.', function() while true do end end) end",
    };
    char code[512];
    tk_write(fx->dir, "ok.lua", s_ok_handler);
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        snprintf(code, sizeof code, "return function() %s end\n", bodies[i]);
        tk_write(fx->dir, "catch.lua", code);
        mb_lua_host_free(fx->host);
        open_host(fx, 0, 1000000, false);
        alarm(60);
        int64_t t0 = s_cpu_ms(); /* CPU, not wall time: a loaded machine must not fail this */
        assert_int_equal(call(fx, "catch"), MB_LUA_BUDGET);
        alarm(0);
        assert_true(s_cpu_ms() - t0 < 5000);
        assert_int_equal(call(fx, "ok"), MB_LUA_OK);
    }
}

static void test_lua_host_deadline_stops_handler(void **state) {
    fixture *fx = *state;
    tk_write(fx->dir, "loop.lua",
             "return function() while true do pcall(function() while true do end end) end end\n");
    tk_write(fx->dir, "ok.lua", s_ok_handler);
    open_host(fx, 0, 1000000000000ull, false);
    alarm(20);
    int64_t t0 = tk_mono_ms();
    assert_int_equal(call_body(fx, "loop", tk_epoch_ms() + 150, (mb_cur){0}), MB_LUA_TIMEOUT);
    int64_t took = tk_mono_ms() - t0;
    alarm(0);
    assert_true(took >= 100);
    assert_true(took < 2000);
    assert_string_equal(fx->res.error_type, "Timeout");
    /* A deadline already in the past stops the handler at once. */
    t0 = tk_mono_ms();
    assert_int_equal(call_body(fx, "loop", tk_epoch_ms() - 1, (mb_cur){0}), MB_LUA_TIMEOUT);
    assert_true(tk_mono_ms() - t0 < 1000);
    assert_int_equal(call(fx, "ok"), MB_LUA_OK); /* no deadline: runs normally */
}

static void test_lua_host_memory_bomb_capped_state_survives(void **state) {
    fixture *fx = *state;
    tk_write(fx->dir, "bomb.lua",
             "return function()\n"
             "  local t, i = {}, 0\n"
             "  while true do i = i + 1; t[i] = string.rep('x', 4096) .. i end\n"
             "end\n");
    tk_write(fx->dir, "rep.lua", "return function() return string.rep('x', 1 << 30) end\n");
    tk_write(fx->dir, "concat.lua",
             "return function() local s = 'xx'; while true do s = s .. s end end\n");
    tk_write(fx->dir, "ok.lua", s_ok_handler);
    open_host(fx, 16u * 1024u * 1024u, 0, false);
    assert_int_equal(call(fx, "ok"), MB_LUA_OK);
    size_t baseline = mb_lua_host_memory(fx->host);
    static const char *const bombs[] = {"bomb", "rep", "concat"};
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < 3; i++) {
            assert_int_equal(call(fx, bombs[i]), MB_LUA_MEMORY);
            assert_string_equal(fx->res.error_type, "MemoryLimitExceeded");
            assert_true(mb_lua_host_memory(fx->host) < baseline + 1024 * 1024);
            assert_int_equal(call(fx, "ok"), MB_LUA_OK);
            assert_returned(fx, "\"OKtrue\"");
        }
    }
}

static void test_lua_host_handler_returns_nil_or_non_table(void **state) {
    fixture *fx = *state;
    tk_write(fx->dir, "nil.lua", "return function() end\n");
    tk_write(fx->dir, "num.lua", "return function() return 42 end\n");
    tk_write(fx->dir, "notfn.lua", "return { status = 200 }\n");
    tk_write(fx->dir, "nothing.lua", "local x = 1\n");
    open_host(fx, 0, 0, false);
    assert_int_equal(call(fx, "nil"), MB_LUA_OK);
    assert_int_equal(fx->ret_type, LUA_TNIL);
    assert_int_equal(call(fx, "num"), MB_LUA_OK);
    assert_int_equal(fx->ret_type, LUA_TNUMBER);
    assert_int_equal(call(fx, "notfn"), MB_LUA_ERROR);
    assert_contains(fx->res.message.ptr, "notfn.lua must return a function");
    assert_int_equal(call(fx, "nothing"), MB_LUA_ERROR);
}

static void test_lua_host_error_values_classified(void **state) {
    fixture *fx = *state;
    tk_write(fx->dir, "tbl.lua", "return function() error({ code = 'x', secret = 's3' }) end\n");
    tk_write(fx->dir, "str.lua", "return function()\n  local a = 1\n  error('boom')\nend\n");
    tk_write(fx->dir, "nilerr.lua", "return function() error() end\n");
    tk_write(fx->dir, "idx.lua", "return function(req) return req.nope.deeper end\n");
    open_host(fx, 0, 0, false);
    assert_int_equal(call(fx, "tbl"), MB_LUA_ERROR);
    assert_string_equal(fx->res.message.ptr, "error object is a table value");
    assert_string_equal(fx->res.error_type, "HandlerError");
    assert_int_equal(call(fx, "str"), MB_LUA_ERROR);
    assert_contains(fx->res.message.ptr, "str.lua:3: boom");
    assert_contains(fx->res.traceback.ptr, "stack traceback");
    assert_int_equal(call(fx, "nilerr"), MB_LUA_ERROR);
    assert_contains(fx->res.message.ptr, "nil value");
    assert_int_equal(call(fx, "idx"), MB_LUA_ERROR);
    assert_contains(fx->res.message.ptr, "idx.lua:1:");
}

static void test_lua_host_syntax_error_names_file_and_line(void **state) {
    fixture *fx = *state;
    tk_write(fx->dir, "syntax.lua", "return function(req)\n  local x = \n  end end\n");
    open_host(fx, 0, 0, false);
    assert_int_equal(call(fx, "syntax"), MB_LUA_LOAD_ERROR);
    assert_contains(fx->res.message.ptr, "syntax.lua:3:");
    assert_string_equal(fx->res.error_type, "HandlerLoadError");
    assert_int_equal(call(fx, "missing"), MB_LUA_LOAD_ERROR);
    assert_contains(fx->res.message.ptr, "missing.lua");
    /* run_file (routes.lua at start-up) reports the same way. */
    mb_err err = {0};
    mb_lua_host_begin(fx->host, 0);
    assert_int_not_equal(mb_lua_host_run_file(fx->host, "syntax", &err), 0);
    assert_int_equal(lua_gettop(mb_lua_host_state(fx->host)), 0);
    mb_lua_host_end(fx->host);
    assert_contains(err.msg, "syntax.lua:3:");
}

static void test_lua_host_dev_mode_reloads_edited_file(void **state) {
    fixture *fx = *state;
    tk_write(fx->dir, "v.lua", "return function() return 'one' end\n");
    open_host(fx, 0, 0, true);
    assert_int_equal(call(fx, "v"), MB_LUA_OK);
    assert_returned(fx, "\"one\"");
    /* Same size, so only the modification time tells the versions apart. */
    tk_write(fx->dir, "v.lua", "return function() return 'two' end\n");
    tk_age(fx->dir, "v.lua", 5);
    assert_int_equal(call(fx, "v"), MB_LUA_OK);
    assert_returned(fx, "\"two\"");
    tk_write(fx->dir, "v.lua", "return function() return 'three' \n");
    assert_int_equal(call(fx, "v"), MB_LUA_LOAD_ERROR);
    assert_contains(fx->res.message.ptr, "v.lua:");
    tk_write(fx->dir, "v.lua", "return function() return 'fixed' end\n");
    assert_int_equal(call(fx, "v"), MB_LUA_OK);
    assert_returned(fx, "\"fixed\"");
}

static void test_lua_host_cache_ignores_edits_outside_dev_mode(void **state) {
    fixture *fx = *state;
    tk_write(fx->dir, "v.lua", "return function() return 'one' end\n");
    open_host(fx, 0, 0, false);
    assert_int_equal(call(fx, "v"), MB_LUA_OK);
    tk_write(fx->dir, "v.lua", "return function() return 'changed' end\n");
    tk_age(fx->dir, "v.lua", 5);
    assert_int_equal(call(fx, "v"), MB_LUA_OK);
    assert_returned(fx, "\"one\"");
}

static void test_lua_host_require_sibling_module(void **state) {
    fixture *fx = *state;
    tk_write(fx->dir, "util.lua",
             "loads = (loads or 0) + 1\n"
             "local M = {}\n"
             "function M.hi(n) return 'hi ' .. n end\n"
             "return M\n");
    tk_write(fx->dir, "noret.lua", "local x = 1\n");
    tk_write(fx->dir, "req.lua",
             "return function()\n"
             "  local u = require('util')\n"
             "  local u2 = require('util')\n"
             "  return u.hi('ada') .. '|' .. tostring(rawequal(u, u2)) .. '|' .. loads ..\n"
             "    '|' .. tostring(require('noret'))\n"
             "end\n");
    tk_write(
        fx->dir, "bad.lua",
        "return function()\n"
        "  local out = {}\n"
        "  for _, n in ipairs({'../util', 'util.lua', 'a/b', '', 'a.b', '/etc/passwd',\n"
        "                      string.rep('a', 65), 'nosuch'}) do\n"
        "    local ok, msg = pcall(require, n)\n"
        "    out[#out + 1] = ok and 'loaded' or\n"
        "      (msg:find('module names') and 'name' or msg:find('nosuch') and 'missing' or msg)\n"
        "  end\n"
        "  return table.concat(out, ',')\n"
        "end\n");
    open_host(fx, 0, 0, false);
    for (int i = 0; i < 2; i++) { /* a module runs once per request, again in the next one */
        assert_int_equal(call(fx, "req"), MB_LUA_OK);
        assert_returned(fx, "\"hi ada|true|1|true\"");
    }
    assert_int_equal(call(fx, "bad"), MB_LUA_OK);
    assert_returned(fx, "\"name,name,name,name,name,name,name,missing\"");
}

static void test_lua_host_valid_name_rules(void **state) {
    (void)state;
    assert_true(mb_lua_host_valid_name(MB_CUR_LIT("items_2")));
    assert_false(mb_lua_host_valid_name(MB_CUR_LIT("")));
    assert_false(mb_lua_host_valid_name(MB_CUR_LIT("a.b")));
    assert_false(mb_lua_host_valid_name(MB_CUR_LIT("a-b")));
    assert_false(mb_lua_host_valid_name((mb_cur){"a\0b", 3}));
    char long_name[66];
    memset(long_name, 'a', 65);
    long_name[65] = '\0';
    assert_false(mb_lua_host_valid_name(mb_cur_from_cstr(long_name)));
    assert_true(mb_lua_host_valid_name((mb_cur){long_name, 64}));
}

static void test_lua_host_ctx_fail_carries_details(void **state) {
    fixture *fx = *state;
    tk_write(fx->dir, "f1.lua",
             "return function(req, ctx)\n"
             "  ctx.fail(422, 'title is required', { code = 'validation', field = 'title' })\n"
             "end\n");
    tk_write(fx->dir, "f2.lua", "return function(req, ctx) ctx.fail() end\n");
    tk_write(fx->dir, "f3.lua", "return function(req, ctx) ctx.fail(200, 'not an error') end\n");
    tk_write(fx->dir, "f4.lua",
             "return function(req, ctx)\n"
             "  ctx.fail(409, 'stale', { code = string.rep('c', 33), field = 7 })\n"
             "end\n");
    tk_write(fx->dir, "f5.lua", "return function(req, ctx) ctx.fail(400, 'x', 'details') end\n");
    tk_write(fx->dir, "f6.lua",
             "return function(req, ctx)\n"
             "  local ok, e = pcall(ctx.fail, 404, 'gone')\n"
             "  error(e)\n" /* re-raised fail objects still count */
             "end\n");
    open_host(fx, 0, 0, false);
    assert_int_equal(call(fx, "f1"), MB_LUA_FAIL);
    assert_int_equal(fx->res.status, 422);
    assert_string_equal(fx->res.message.ptr, "title is required");
    assert_string_equal(fx->res.code, "validation");
    assert_string_equal(fx->res.field, "title");
    assert_int_equal(call(fx, "f2"), MB_LUA_FAIL);
    assert_int_equal(fx->res.status, 400);
    assert_string_equal(fx->res.message.ptr, "request failed");
    assert_string_equal(fx->res.code, "");
    assert_int_equal(call(fx, "f3"), MB_LUA_ERROR);
    assert_contains(fx->res.message.ptr, "400..599");
    assert_int_equal(call(fx, "f4"), MB_LUA_FAIL);
    assert_int_equal(fx->res.status, 409);
    assert_string_equal(fx->res.code, "");  /* longer than 32: dropped */
    assert_string_equal(fx->res.field, ""); /* not a string: dropped */
    assert_int_equal(call(fx, "f5"), MB_LUA_ERROR);
    assert_int_equal(call(fx, "f6"), MB_LUA_FAIL);
    assert_int_equal(fx->res.status, 404);
}

static void test_lua_host_ctx_clock_functions(void **state) {
    fixture *fx = *state;
    tk_write(fx->dir, "ts.lua",
             "return function(req, ctx)\n"
             "  return ctx.timestamp(0) .. '|' .. ctx.timestamp(1795612803123) .. '|' ..\n"
             "    math.type(ctx.now()) .. '|' .. tostring(ctx.remaining_ms()) .. '|' ..\n"
             "    #ctx.timestamp()\n"
             "end\n");
    tk_write(fx->dir, "now.lua", "return function(req, ctx) return ctx.now() end\n");
    tk_write(fx->dir, "neg.lua", "return function(req, ctx) return ctx.timestamp(-1) end\n");
    tk_write(fx->dir, "big.lua",
             "return function(req, ctx) return ctx.timestamp(253402300800000) end\n");
    tk_write(fx->dir, "str.lua", "return function(req, ctx) return ctx.timestamp('x') end\n");
    open_host(fx, 0, 0, false);
    assert_int_equal(call(fx, "ts"), MB_LUA_OK);
    assert_returned(fx, "\"1970-01-01T00:00:00.000Z|2026-11-25T13:20:03.123Z|integer|nil|24\"");
    int64_t before = tk_epoch_ms();
    assert_int_equal(call(fx, "now"), MB_LUA_OK);
    long long now = strtoll(fx->out.ptr, NULL, 10);
    assert_true(now >= before && now <= tk_epoch_ms());
    assert_int_equal(call(fx, "neg"), MB_LUA_ERROR);
    assert_int_equal(call(fx, "big"), MB_LUA_ERROR);
    assert_int_equal(call(fx, "str"), MB_LUA_ERROR);
    /* ctx.remaining_ms counts down to the services' deadline. */
    fx->svc.deadline_ms = tk_epoch_ms() + 60000;
    tk_write(fx->dir, "rem.lua", "return function(req, ctx) return ctx.remaining_ms() end\n");
    assert_int_equal(call(fx, "rem"), MB_LUA_OK);
    long long rem = strtoll(fx->out.ptr, NULL, 10);
    assert_true(rem > 50000 && rem <= 60000);
}

/* Creating the host under every memory cap from tiny to enough: each failure is clean. */
static void test_lua_host_new_fails_cleanly_under_small_caps(void **state) {
    fixture *fx = *state;
    mb_lua_host *h = NULL;
    size_t cap = 512;
    for (; !h && cap < 4u * 1024u * 1024u; cap += 512) {
        mb_lua_host_opts o = {.handlers_dir = fx->dir, .memory_limit = cap};
        mb_err err = {0};
        h = mb_lua_host_new(&o, &err);
        if (!h) {
            assert_int_equal(err.status, MB_ERR_NOMEM);
        }
    }
    assert_non_null(h);
    mb_lua_host_free(h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lua_host_sandbox_dangerous_names_absent, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lua_host_load_binary_chunk_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lua_host_load_text_chunk_uses_request_env, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lua_host_xpcall_behaves_like_stock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lua_host_readonly_libs_refuse_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lua_host_globals_do_not_leak_between_requests, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lua_host_string_metatable_unreachable, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lua_host_setmetatable_gc_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lua_host_pairs_does_not_expose_shared_tables, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lua_host_runaway_loop_stopped_by_budget, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lua_host_budget_not_caught_by_pcall, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lua_host_deadline_stops_handler, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lua_host_memory_bomb_capped_state_survives, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lua_host_handler_returns_nil_or_non_table, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lua_host_error_values_classified, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lua_host_syntax_error_names_file_and_line, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lua_host_dev_mode_reloads_edited_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lua_host_cache_ignores_edits_outside_dev_mode, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lua_host_require_sibling_module, setup, teardown),
        cmocka_unit_test(test_lua_host_valid_name_rules),
        cmocka_unit_test_setup_teardown(test_lua_host_ctx_fail_carries_details, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lua_host_ctx_clock_functions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lua_host_new_fails_cleanly_under_small_caps, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
