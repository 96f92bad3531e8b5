-- Reference solution of sum-input (learn/01-first-function.md).
-- req.json is the parsed body (nil without a JSON body). A JSON array arrives as a Lua table
-- whose metatable is json.array_mt; an object is a table without it, so that is how we tell
-- {"numbers": [1, 2]} from {"numbers": {"a": 1}}.
local MAX_NUMBERS = 100

local function bad(ctx, message)
  ctx.fail(400, message, { code = "validation", field = "numbers" })
end

return function(req, ctx)
  local body = req.json
  if type(body) ~= "table" or getmetatable(body) == json.array_mt then
    bad(ctx, 'send a JSON object: {"numbers": [1, 2, 3]}')
  end
  local numbers = body.numbers
  if type(numbers) ~= "table" or getmetatable(numbers) ~= json.array_mt then
    bad(ctx, "numbers must be a list of numbers")
  end
  if #numbers > MAX_NUMBERS then
    bad(ctx, "numbers may hold at most " .. MAX_NUMBERS .. " numbers")
  end
  local sum = 0
  for i, n in ipairs(numbers) do
    if type(n) ~= "number" then
      bad(ctx, ("numbers[%d] is not a number"):format(i))
    end
    sum = sum + n
  end
  return { status = 200, body = { sum = sum } }
end
