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
  if #name > 64 then
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
return function(req, ctx)
  local id = req.params.rest
  if req.method == "GET" then
    local page = ctx.db.query({ begins_with = "todo#", limit = 50 })
    return { status = 200, body = { todos = page.items } }
  elseif req.method == "POST" then
    local title = req.json and req.json.title
    if type(title) ~= "string" or #title == 0 or #title > 200 then
      ctx.fail(400, "title must be 1-200 characters", { field = "title" })
    end
    local id = ctx.ulid()
    local todo = { SK = "todo#" .. id, id = id, title = title, done = false, createdAt = ctx.timestamp() }
    ctx.db.put(todo)
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
    source: `-- webhook: POST {"event": "order.created", "data": {...}}; the body is checked field by field
return function(req, ctx)
  if req.method ~= "POST" then
    ctx.fail(405, "send a POST")
  end
  local body = req.json
  if type(body) ~= "table" then
    ctx.fail(400, "send a JSON object (Content-Type: application/json)")
  end
  if type(body.event) ~= "string" or not body.event:match("^[%w][%w%._-]*$") or #body.event > 64 then
    ctx.fail(400, "event must be a name like order.created", { field = "event" })
  end
  if body.data ~= nil and type(body.data) ~= "table" then
    ctx.fail(400, "data must be an object", { field = "data" })
  end
  ctx.db.put({ SK = "event#" .. ctx.ulid(), event = body.event, receivedAt = ctx.timestamp() })
  ctx.log.info("webhook accepted", { event = body.event })
  return { status = 202, body = { accepted = true, event = body.event } }
end
`,
  },
];
