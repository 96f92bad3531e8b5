-- A handler that uses what the sandbox does not have: luacheck must flag every line.
local when = os.date("%Y")
rawset(_G, "x", when)
leaked = true
return function(req, ctx) return io.read() end
