-- GET /whoami -> who the verified token says you are: sub, email, tenant and groups.
-- Without a valid token: 401 (the runtime answers that, once the route asks for a token).
-- Exercise whoami: learn/02-authentication.md. Replace the body of this function.
local todo = require("todo")

return function(req, ctx) -- luacheck: no unused args
  return todo("whoami")
end
