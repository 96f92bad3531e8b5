-- GET /batch/notes?ids=ID1,ID2,...: up to 25 notes by id (see notes.lua for how notes are
-- stored: SK = "NOTE#<id>"), in the order asked for; ids that do not exist are left out.
-- Exercise batch-read (learn/09-performance.md): this works, but makes one DynamoDB request per
-- id. Make it one request whatever the number of ids.
local MAX_IDS = 25

local function parse_ids(ctx, text)
  local ids = {}
  for id in (text or ""):gmatch("[^,]+") do ids[#ids + 1] = id end
  if #ids == 0 or #ids > MAX_IDS then
    ctx.fail(400, "ids must list 1 to " .. MAX_IDS .. " note ids, comma-separated",
      { code = "validation", field = "ids" })
  end
  return ids
end

return function(req, ctx)
  local ids = parse_ids(ctx, req.query.ids)
  local notes = setmetatable({}, json.array_mt)
  for _, id in ipairs(ids) do
    local note = ctx.db.get("NOTE#" .. id)
    if note then notes[#notes + 1] = { id = note.id, title = note.title } end
  end
  return { status = 200, body = { notes = notes } }
end
