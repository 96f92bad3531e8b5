-- Reference solution of greet-name (learn/01-first-function.md).
-- Lengths are counted in characters (utf8.len), not bytes: "Zoë" is 3 characters, 4 bytes.
-- utf8.len also returns nil for bytes that are not UTF-8, which we refuse the same way.
local MAX_NAME = 40

return function(req, ctx)
  local name = req.query.name
  if name == nil or name == "" then
    ctx.fail(400, "name is required", { code = "validation", field = "name" })
  end
  local length = utf8.len(name)
  if not length or length > MAX_NAME then
    ctx.fail(400, "name must be at most " .. MAX_NAME .. " characters",
      { code = "validation", field = "name" })
  end
  return { status = 200, body = { message = "Hello, " .. name .. "!" } }
end
