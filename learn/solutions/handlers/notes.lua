-- Reference solution of notes-crud, notes-pages and notes-validate (learn/03-database.md).
-- A note is one item in the caller's tenant partition: SK = "NOTE#<id>", id a ULID, so that
-- sort keys in descending order list the newest notes first. ctx.db adds the partition key.
local MAX_TITLE, MAX_BODY, MAX_TAGS, MAX_TAG = 100, 2000, 5, 20

local function bad(ctx, field, message)
  ctx.fail(400, message, { code = "validation", field = field })
end

-- notes-validate: declarative schemas; ctx.validate answers 400 naming the field path
-- ("title", "tags[2]", an unknown field's name) before anything is written. A POST needs a
-- title; a PUT may change any subset.
local function note_schema(title_required)
  return { type = "object", fields = {
    title = { type = "string", required = title_required, min_len = 1, max_len = MAX_TITLE },
    body = { type = "string", max_len = MAX_BODY },
    tags = { type = "array", max_items = MAX_TAGS,
             items = { type = "string", min_len = 1, max_len = MAX_TAG } },
  } }
end
local CREATE, CHANGE = note_schema(true), note_schema(false)

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
  local body = ctx.validate(req.json, CREATE)
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
  local body = ctx.validate(req.json, CHANGE)
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
