-- /docs/{id}: shared documents of a tenant. Everyone of the tenant may read a document
-- (GET); PUT creates it or replaces its text; DELETE removes it. Stored as SK = "DOC#<id>"
-- with the creator's sub in `owner`.
-- Exercise owner-only (learn/08-security.md): today anyone of the tenant may change or delete
-- anyone's document. Only the owner may: everyone else gets a 403 and the document stays as it was.

local function key(ctx, id)
  if not id:match("^[%w-]+$") or #id > 64 then ctx.fail(404, "document not found") end
  return "DOC#" .. id
end

local function view(doc)
  return {
    id = doc.SK:sub(#"DOC#" + 1), text = doc.text, owner = doc.owner, updatedAt = doc.updatedAt,
  }
end

return function(req, ctx)
  local k = key(ctx, req.params.id)
  if req.method == "GET" then
    local doc = ctx.db.get(k)
    if not doc then ctx.fail(404, "document not found") end
    return { status = 200, body = view(doc) }
  end
  local existing = ctx.db.get(k, { consistent = true })
  if req.method == "DELETE" then
    if not existing then ctx.fail(404, "document not found") end
    ctx.db.delete(k)
    return { status = 204 }
  end
  local body = req.json
  if type(body) ~= "table" or type(body.text) ~= "string" or #body.text > 10000 then
    ctx.fail(400, "text must be a string of at most 10000 bytes",
      { code = "validation", field = "text" })
  end
  local doc = {
    SK = k, text = body.text, owner = existing and existing.owner or req.user.sub,
    updatedAt = ctx.timestamp(),
  }
  ctx.db.put(doc)
  return { status = existing and 200 or 201, body = view(doc) }
end
