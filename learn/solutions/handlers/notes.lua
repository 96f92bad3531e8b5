-- Reference solution of notes-crud, notes-pages and notes-validate (learn/03-database.md).
-- A note is one item in the caller's tenant partition: SK = "NOTE#<id>", id a ULID, so that
-- sort keys in descending order list the newest notes first. ctx.db adds the partition key.
local MAX_TITLE, MAX_BODY, MAX_TAGS, MAX_TAG = 100, 2000, 5, 20

local function bad(ctx, field, message)
  ctx.fail(400, message, { code = "validation", field = field })
end

local function is_array(v)
  return type(v) == "table" and getmetatable(v) == json.array_mt
end

local function check_text(ctx, field, value, min, max)
  local n = type(value) == "string" and utf8.len(value)
  if not n or n < min or n > max then
    bad(ctx, field, ("%s must be a string of %d to %d characters"):format(field, min, max))
  end
end

-- notes-validate: every field by name; a POST needs a title, a PUT may change any subset.
-- (Written by hand: ctx.validate, the declarative validator, is not in the runtime yet.)
local function validate(ctx, body, creating)
  if type(body) ~= "table" or is_array(body) then
    bad(ctx, "body", "the body must be a JSON object")
  end
  for field in pairs(body) do
    if field ~= "title" and field ~= "body" and field ~= "tags" then
      bad(ctx, tostring(field), "unknown field '" .. tostring(field) .. "'")
    end
  end
  if creating or body.title ~= nil then check_text(ctx, "title", body.title, 1, MAX_TITLE) end
  if body.body ~= nil then check_text(ctx, "body", body.body, 0, MAX_BODY) end
  if body.tags ~= nil then
    if not is_array(body.tags) or #body.tags > MAX_TAGS then
      bad(ctx, "tags", "tags must be a list of at most " .. MAX_TAGS .. " tags")
    end
    for _, tag in ipairs(body.tags) do check_text(ctx, "tags", tag, 1, MAX_TAG) end
  end
  return body
end

local function view(note)
  return {
    id = note.id, title = note.title, body = note.body,
    tags = note.tags or setmetatable({}, json.array_mt),
    createdAt = note.createdAt, updatedAt = note.updatedAt,
  }
end

-- ULIDs are 26 Crockford base-32 characters; anything else cannot be a note.
local function key_of(ctx, id)
  if #id ~= 26 or id:find("[^0-9A-HJKMNP-TV-Z]") then ctx.fail(404, "note not found") end
  return "NOTE#" .. id
end

local function create(req, ctx)
  local body = validate(ctx, req.json, true)
  local id, now = ctx.ulid(), ctx.timestamp()
  local note = {
    SK = "NOTE#" .. id, id = id, title = body.title, body = body.body or "",
    tags = body.tags or setmetatable({}, json.array_mt), createdAt = now, updatedAt = now,
  }
  ctx.db.put(note, { exists = false })
  return { status = 201, headers = { location = "/notes/" .. id }, body = view(note) }
end

-- notes-pages: limit 1..100 (default 20), newest first, an opaque cursor for the next page.
local function list(req, ctx)
  local limit = 20
  if req.query.limit ~= nil then
    limit = math.tointeger(tonumber(req.query.limit))
    if not limit or limit < 1 or limit > 100 then bad(ctx, "limit", "limit must be 1..100") end
  end
  local page = ctx.db.query({
    begins_with = "NOTE#", descending = true, limit = limit, cursor = req.query.cursor,
  })
  local notes = setmetatable({}, json.array_mt)
  for i, note in ipairs(page.items) do notes[i] = view(note) end
  return { status = 200, body = { notes = notes, cursor = page.cursor or json.null } }
end

local function update(req, ctx, key)
  local body = validate(ctx, req.json, false)
  local set = { updatedAt = ctx.timestamp() }
  for _, field in ipairs({ "title", "body", "tags" }) do
    if body[field] ~= nil then set[field] = body[field] end
  end
  -- exists = true: updating a note that is not there is a 404, not a silent create.
  local ok, result = pcall(ctx.db.update, key, { set = set, exists = true })
  if not ok then
    if ctx.db.is_conflict(result) then ctx.fail(404, "note not found") end
    error(result, 0)
  end
  return { status = 200, body = view(result) }
end

return function(req, ctx)
  local id = req.params.id
  if not id then
    if req.method == "POST" then return create(req, ctx) end
    return list(req, ctx)
  end
  local key = key_of(ctx, id)
  if req.method == "GET" then
    local note = ctx.db.get(key)
    if not note then ctx.fail(404, "note not found") end
    return { status = 200, body = view(note) }
  elseif req.method == "PUT" then
    return update(req, ctx, key)
  end
  if not ctx.db.delete(key) then ctx.fail(404, "note not found") end
  return { status = 204 }
end
