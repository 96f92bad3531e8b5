-- /items: the dashboard's items (POST, GET list, GET/PUT/DELETE one).
-- Each item is one DynamoDB item with SK = "ITEM#<id>", where id is a ULID: ULIDs sort by
-- creation time, so listing the sort keys in descending order gives the newest items first.
-- PUT and DELETE use optimistic concurrency: the client sends the version it last saw; the
-- write is conditional on that version, and a stale version answers 409 conflict.
-- Every write also counts itself in the day's activity record (see activity.lua).

-- The request bodies, checked by ctx.validate (docs/handlers.md#validating-input): unknown fields
-- are refused by name, and a 400 names the field that failed.
local FIELDS = {
  title = { type = "string", min_len = 1, max_len = 120 },
  description = { type = "string", max_len = 2000 },
  status = { type = "string", enum = { "todo", "doing", "done" } },
}
local CREATE = { type = "object", fields = {
  title = { type = "string", required = true, min_len = 1, max_len = 120 },
  description = FIELDS.description,
  status = FIELDS.status,
} }
-- PUT: any subset of the fields, plus the version the client last read.
local UPDATE = { type = "object", fields = {
  title = FIELDS.title,
  description = FIELDS.description,
  status = FIELDS.status,
  version = { type = "integer", required = true, min = 1,
    message = "is required: the integer version you last read" },
} }

local function fail_field(ctx, field, message)
  ctx.fail(400, message, { code = "validation", field = field })
end

-- A positive integer from a JSON number or a query string, or nil.
local function positive_int(v)
  local n = math.tointeger(tonumber(v))
  if n and n >= 1 then return n end
  return nil
end

-- What the client sees: exactly the contract's fields.
local function view(it)
  return {
    id = it.id, title = it.title, description = it.description, status = it.status,
    version = it.version, createdAt = it.createdAt, updatedAt = it.updatedAt,
  }
end

-- Count one write ("created", "updated" or "deleted") in today's ACTIVITY#yyyy-mm-dd record.
-- ADD creates the record and the counter when they do not exist yet. once = true: when the
-- answer to the ADD is lost and the call is retried, the retry cannot count it a second time
-- (an idempotency marker, docs/handlers.md).
local function count_activity(ctx, what)
  ctx.db.update("ACTIVITY#" .. ctx.timestamp():sub(1, 10), { add = { [what] = 1 }, once = true })
end

-- The sort key of /items/{id}; ids that cannot be ULIDs cannot exist: 404.
local function item_key(ctx, id)
  if #id ~= 26 or id:find("[^0-9A-HJKMNP-TV-Z]") then
    ctx.fail(404, "item not found")
  end
  return "ITEM#" .. id
end

local function create(req, ctx)
  local body = ctx.validate(req.json, CREATE)
  local id, now = ctx.ulid(), ctx.timestamp()
  local item = {
    SK = "ITEM#" .. id, id = id, title = body.title, description = body.description or "",
    status = body.status or "todo", version = 1, createdAt = now, updatedAt = now,
  }
  ctx.db.put(item, { exists = false }) -- a fresh ULID never exists; this guards anyway
  count_activity(ctx, "created")
  return { status = 201, headers = { location = "/items/" .. id }, body = view(item) }
end

local function list(req, ctx)
  local limit = 20
  if req.query.limit ~= nil then
    limit = positive_int(req.query.limit)
    if not limit or limit > 100 then fail_field(ctx, "limit", "limit must be an integer 1..100") end
  end
  -- cursor is the opaque string of the previous page; ctx.db answers 400 for a bad one.
  local page = ctx.db.query({
    begins_with = "ITEM#", descending = true, limit = limit, cursor = req.query.cursor,
  })
  local items = setmetatable({}, json.array_mt) -- so that no items encodes as []
  for i, it in ipairs(page.items) do items[i] = view(it) end
  return { status = 200, body = { items = items, cursor = page.cursor or json.null } }
end

local function update(req, ctx, key)
  local body = ctx.validate(req.json, UPDATE)
  local current = ctx.db.get(key, { consistent = true })
  if not current then ctx.fail(404, "item not found") end
  if current.version ~= body.version then
    ctx.fail(409, "this item was changed in the meantime (version " .. current.version .. ")",
      { code = "conflict" })
  end
  local set = { updatedAt = ctx.timestamp() }
  for _, field in ipairs({ "title", "description", "status" }) do
    if body[field] ~= nil then set[field] = body[field] end
  end
  -- expect: the write happens only if nobody wrote since our read; otherwise ctx.db raises 409.
  -- once: a retry of this update whose first answer was lost is recognised as done (200), not
  -- as a conflict with itself.
  local updated = ctx.db.update(key, {
    set = set, add = { version = 1 }, expect = { version = body.version },
    conflict = "this item was changed in the meantime", once = true,
  })
  count_activity(ctx, "updated")
  return { status = 200, body = view(updated) }
end

local function remove(req, ctx, key)
  local opts
  if req.query.version ~= nil then
    local version = positive_int(req.query.version)
    if not version then fail_field(ctx, "version", "version must be a positive integer") end
    if not ctx.db.get(key, { consistent = true }) then ctx.fail(404, "item not found") end
    opts = { expect = { version = version }, conflict = "this item was changed in the meantime" }
  end
  -- delete returns the item it removed, or nil when there was none.
  if not ctx.db.delete(key, opts) then ctx.fail(404, "item not found") end
  count_activity(ctx, "deleted")
  return { status = 204 }
end

return function(req, ctx)
  local id = req.params.id
  if not id then
    if req.method == "POST" then return create(req, ctx) end
    return list(req, ctx)
  end
  local key = item_key(ctx, id)
  if req.method == "GET" then
    local item = ctx.db.get(key)
    if not item then ctx.fail(404, "item not found") end
    return { status = 200, body = view(item) }
  elseif req.method == "PUT" then
    return update(req, ctx, key)
  end
  return remove(req, ctx, key)
end
