-- GET /hello[?name=Ada]: the smallest handler. A handler file returns a function that takes
-- the request and the context and returns a response table.
local MAX_NAME = 64

return function(req, ctx)
  local name = req.query.name or "world"
  local chars = utf8.len(name) -- characters, not bytes: 20 emoji are 20 characters
  if not chars then
    ctx.fail(400, "name must be valid UTF-8", { field = "name" })
  end
  if chars > MAX_NAME then
    ctx.fail(400, "name must be at most " .. MAX_NAME .. " characters", { field = "name" })
  end
  if name:find("%c") then
    ctx.fail(400, "name must not contain control characters", { field = "name" })
  end
  if name == "" then
    ctx.fail(400, "name must not be empty", { field = "name" })
  end
  return {
    status = 200,
    body = { message = "Hello, " .. name .. "!", timestamp = ctx.timestamp() },
  }
end
