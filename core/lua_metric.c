/* lua_metric.c - ctx.metric(name, value [, unit]) for Lua handlers: values are collected by the
 * process EMF collector (moonbase/emf.h) and flushed once when the invocation ends. */
#include "moonbase/emf.h"
#include "moonbase/lua_aux.h"

#include <lauxlib.h>

/* ctx.metric(name, value [, unit]) -> nothing.  [-0, +0, v]
 * name: 1..255 printable ASCII; value: a finite number; unit: an EMF unit ("Count",
 * "Milliseconds", "Bytes", ... default "None"). Raises an error naming the problem when the
 * name, unit or value is invalid or a per-invocation limit is reached (as aws-embedded-metrics
 * throws), so a typo in a unit shows up in the first test rather than as a missing graph. */
static int s_metric(lua_State *L) {
    size_t nlen = 0, ulen = 0;
    const char *name = luaL_checklstring(L, 1, &nlen);
    lua_Number value = luaL_checknumber(L, 2);
    const char *unit = luaL_optlstring(L, 3, "None", &ulen);
    mb_lua_services *svc = mb_lua_aux_services(L);
    if (!svc || !svc->emf) {
        return 0;
    }
    mb_err err = {0};
    if (mb_emf_put(svc->emf, (mb_cur){name, nlen}, (double)value, (mb_cur){unit, ulen}, &err) !=
        0) {
        return luaL_error(L, "ctx.metric: %s", err.msg); /* nothing to release first */
    }
    return 0;
}

void mb_lua_inject_metric_api(lua_State *L) {
    lua_pushcfunction(L, s_metric); /* stack: ctx, fn */
    lua_setfield(L, -2, "metric");  /* stack: ctx */
}
