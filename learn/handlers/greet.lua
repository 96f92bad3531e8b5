-- GET /greet?name=Ada -> 200 {"message": "Hello, Ada!"}.
-- A missing or empty name, or one longer than 40 characters -> 400 naming the field "name".
-- Exercise greet-name: learn/01-first-function.md. Replace the body of this function.
local todo = require("todo")

return function(req, ctx) -- luacheck: no unused args
  return todo("greet-name")
end
