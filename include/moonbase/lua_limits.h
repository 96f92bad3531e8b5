/* moonbase/lua_limits.h - the standard-library functions whose stock versions let one call run
 * unbounded or weaken the sandbox's limits, replaced by metered or restricted ones.
 * The count hook cannot interrupt a C function, and the allocator sees only calls that
 * allocate. These loop without allocating, for as long as their arguments say:
 *   string.rep("", math.maxinteger)                 n empty copies
 *   table.move({}, 1, math.maxinteger - 1, 2)       moves nils, which never allocate
 *   table.insert(t, 1, v) / table.remove(t, 1)      shift up to #t, and __len may lie
 * so each pays its element moves to the same charge function as the pattern matcher
 * (moonbase/lua_pattern.h), which stops the call when the budget is spent. And
 * collectgarbage is limited to what cannot weaken the memory cap or the CPU budget:
 * "count", "collect" and "step" ("stop", "incremental", "generational", "setpause"... are refused).
 * Ownership: the charge function's ud is borrowed and must outlive the Lua state. Not
 * thread-safe. */
#ifndef MOONBASE_LUA_LIMITS_H
#define MOONBASE_LUA_LIMITS_H

#include <lua.h>

#include "moonbase/lua_pattern.h"

/* An element move (lua_geti + lua_seti, 10-20 ns) costs about as much as this many pattern
 * steps or VM instructions (~2 ns each). */
#define MB_LUA_LIMITS_MOVE_COST 8

/* Set `rep` in the string table at index string_idx and `insert`, `remove`, `move` in the
 * table library at index table_idx to the bounded versions. [-0, +0, m] */
void mb_lua_limits_inject(lua_State *L, int string_idx, int table_idx,
                          mb_lua_pattern_charge_fn charge, void *ud);

/* Push the restricted collectgarbage(opt [, arg]) for the handlers' base environment.
 * [-0, +1, m] */
void mb_lua_limits_push_collectgarbage(lua_State *L);

#endif
