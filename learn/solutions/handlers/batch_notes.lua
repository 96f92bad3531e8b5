-- Reference solution of batch-read (learn/09-performance.md): one BatchGetItem for all the ids
-- instead of one GetItem each. batch_get returns the items found in any order, so we put them
-- back in the order the client asked for.
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
  local keys, seen = {}, {}
  for _, id in ipairs(ids) do -- DynamoDB refuses a batch that names one key twice
    if not seen[id] then
      seen[id] = true
      keys[#keys + 1] = "NOTE#" .. id
    end
  end
  local found = {}
  for _, note in ipairs(ctx.db.batch_get(keys)) do found[note.id] = note end
  local notes = setmetatable({}, json.array_mt)
  for _, id in ipairs(ids) do
    local note = found[id]
    if note then notes[#notes + 1] = { id = note.id, title = note.title } end
  end
  return { status = 200, body = { notes = notes } }
end
