/* moonbase/lua_pattern.h - Lua 5.4's pattern matching (string.find, match, gmatch, gsub) with
 * metered cost, for a sandbox whose count hook cannot interrupt a C function: one stock call such
 * as ("a"):rep(6000):find(".-.-.-b") runs for minutes. The matcher is Lua 5.4.4's own (vendored
 * in core/lua_pattern.c, same results and errors); it counts its steps (one per pattern item
 * handled, expansion or backtrack, plus charges by length for scans, compares and long bracket
 * classes) and pays them to a caller-supplied charge function, which can stop the call.
 * Ownership: the charge function's ud is borrowed and must outlive the Lua state. Not
 * thread-safe (one state, one thread, like Lua itself). */
#ifndef MOONBASE_LUA_PATTERN_H
#define MOONBASE_LUA_PATTERN_H

#include <stddef.h>

#include <lua.h>

/* Steps a call may run before it pays: the granularity of the bound (the stock count hook runs
 * every 1000 VM instructions; a step costs about as much as a few instructions). */
#define MB_LUA_PATTERN_CHARGE_EVERY 1024

/* Pays `steps` units of matcher work done by the running call on thread L. Returns NULL to let
 * the call go on, or a message (static or otherwise alive until the error is raised): the call
 * then stops and raises it as a Lua error prefixed with the caller's position. Must not raise
 * itself. */
typedef const char *(*mb_lua_pattern_charge_fn)(lua_State *L, void *ud, size_t steps);

/* Set `find`, `match`, `gmatch` and `gsub` in the table at index idx (typically the real string
 * library, which is also the strings' metatable __index) to the metered versions. Each call pays
 * at least every MB_LUA_PATTERN_CHARGE_EVERY steps and once, with the remainder, when it
 * returns. Raises only on memory errors. [-0, +0, m] */
void mb_lua_pattern_inject(lua_State *L, int idx, mb_lua_pattern_charge_fn charge, void *ud);

#endif
