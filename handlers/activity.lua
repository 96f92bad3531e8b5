-- GET /activity?days=1..90 (default 30): how many items were created, updated and deleted per
-- day, oldest day first, one entry per day (days without writes are zeros).
-- items.lua keeps one counter record per day: SK = "ACTIVITY#yyyy-mm-dd" with the numbers
-- created/updated/deleted, incremented with ADD. Dates are UTC.

local DAY_MS = 24 * 60 * 60 * 1000

return function(req, ctx)
  local days = 30
  if req.query.days ~= nil then
    days = math.tointeger(tonumber(req.query.days))
    if not days or days < 1 or days > 90 then
      ctx.fail(400, "days must be an integer 1..90", { code = "validation", field = "days" })
    end
  end

  -- The dates of the window, oldest first: yyyy-mm-dd is the first 10 characters of a timestamp.
  local now = ctx.now()
  local dates = {}
  for i = days - 1, 0, -1 do
    dates[#dates + 1] = ctx.timestamp(now - i * DAY_MS):sub(1, 10)
  end

  -- One query reads every record of the window (at most 90 small items).
  local page = ctx.db.query({
    between = { "ACTIVITY#" .. dates[1], "ACTIVITY#" .. dates[#dates] },
  })
  local counts = {}
  for _, record in ipairs(page.items) do
    counts[record.SK:sub(#"ACTIVITY#" + 1)] = record
  end

  local out = setmetatable({}, json.array_mt)
  for i, date in ipairs(dates) do
    local c = counts[date] or {}
    out[i] = {
      date = date, created = c.created or 0, updated = c.updated or 0, deleted = c.deleted or 0,
    }
  end
  return { status = 200, body = { days = out } }
end
