// handlers/templates.js - starter tenant handlers offered by the Handlers page. Each is a
// complete handler: it runs as /api/t/<name> with the same req and ctx as handlers/*.lua, and
// ctx.db keeps its data in the tenant's own key namespace.

export const TEMPLATES = [
  {
    id: 'hello',
    label: 'Hello',
    source: `-- hello: GET /api/t/<name>?name=you
return function(req, ctx)
  local name = req.query.name or "world"
  if (utf8.len(name) or 65) > 64 then -- characters, not bytes (invalid UTF-8 counts as too long)
    ctx.fail(400, "name must be at most 64 characters", { field = "name" })
  end
  ctx.log.info("greeting", { name = name })
  return { status = 200, body = { message = "Hello, " .. name .. "!", tenant = req.user.tenant } }
end
`,
  },
  {
    id: 'counter',
    label: 'Counter (ctx.db)',
    source: `-- counter: every call adds one; ctx.db keeps the count in this tenant's namespace
return function(req, ctx)
  local item = ctx.db.update("counter#" .. (req.query.key or "default"), { add = { n = 1 } })
  ctx.metric("CounterHits", 1, "Count")
  return { status = 200, body = { count = item.n } }
end
`,
  },
  {
    id: 'todo',
    label: 'Todo API',
    source: `-- todo: GET /api/t/<name> lists, POST {"title": "..."} adds, DELETE /api/t/<name>/<id> removes
local NEW = { type = "object", fields = {
  title = { type = "string", required = true, min_len = 1, max_len = 200 },
} }

return function(req, ctx)
  local id = req.params.rest
  if req.method == "GET" and not id then
    local page = ctx.db.query({ begins_with = "todo#", limit = 50 })
    local todos = setmetatable({}, json.array_mt)
    for i, item in ipairs(page.items) do
      todos[i] = { id = item.id, title = item.title, done = item.done, createdAt = item.createdAt }
    end
    return { status = 200, body = { todos = todos } }
  elseif req.method == "POST" and not id then
    local body = ctx.validate(req.json, NEW) -- a 400 naming the field unless the body fits
    local todo = { id = ctx.ulid(), title = body.title, done = false, createdAt = ctx.timestamp() }
    ctx.db.put({ SK = "todo#" .. todo.id, id = todo.id, title = todo.title, done = false,
      createdAt = todo.createdAt })
    return { status = 201, body = todo }
  elseif req.method == "DELETE" and id then
    ctx.db.delete("todo#" .. id)
    return { status = 200, body = { deleted = id } }
  end
  ctx.fail(405, "use GET or POST /t/<name>, or DELETE /t/<name>/<id>")
end
`,
  },
  {
    id: 'webhook',
    label: 'Webhook (validated body)',
    source: `-- webhook: POST {"event": "order.created", "data": {...}}; ctx.validate checks the body
local EVENT = { type = "object", fields = {
  event = { type = "string", required = true, max_len = 64, pattern = "^%w[%w%._-]*$",
            message = "must be a name like order.created" },
  data = { type = "object", allow_unknown = true },
} }

return function(req, ctx)
  if req.method ~= "POST" then
    ctx.fail(405, "send a POST")
  end
  local body = ctx.validate(req.json, EVENT) -- a 400 naming the field unless the body fits
  ctx.db.put({ SK = "event#" .. ctx.ulid(), event = body.event, receivedAt = ctx.timestamp() })
  ctx.log.info("webhook accepted", { event = body.event })
  return { status = 202, body = { accepted = true, event = body.event } }
end
`,
  },
];
