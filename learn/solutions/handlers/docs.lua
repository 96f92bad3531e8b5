-- Reference solution of owner-only (learn/08-security.md): reading stays open to the tenant;
-- changing or deleting needs the caller to be the document's owner (403 otherwise).
-- The check is also a condition of the write itself (expect owner = caller), so a document
-- that changed hands between our read and our write cannot be overwritten either.

local function key(ctx, id)
  if not id:match("^[%w-]+$") or #id > 64 then ctx.fail(404, "document not found") end
  return "DOC#" .. id
end

local function view(doc)
  return {
    id = doc.SK:sub(#"DOC#" + 1), text = doc.text, owner = doc.owner, updatedAt = doc.updatedAt,
  }
end

local function forbid_others(ctx, doc, user)
  if doc and doc.owner ~= user.sub then
    ctx.fail(403, "only the owner of this document may change it", { code = "forbidden" })
  end
end

return function(req, ctx)
  local k = key(ctx, req.params.id)
  if req.method == "GET" then
    local doc = ctx.db.get(k)
    if not doc then ctx.fail(404, "document not found") end
    return { status = 200, body = view(doc) }
  end
  local existing = ctx.db.get(k, { consistent = true })
  forbid_others(ctx, existing, req.user)
  local mine = { expect = { owner = req.user.sub }, conflict = "the document changed hands" }
  if req.method == "DELETE" then
    if not existing then ctx.fail(404, "document not found") end
    ctx.db.delete(k, mine)
    return { status = 204 }
  end
  local body = req.json
  if type(body) ~= "table" or type(body.text) ~= "string" or #body.text > 10000 then
    ctx.fail(400, "text must be a string of at most 10000 bytes",
      { code = "validation", field = "text" })
  end
  local doc = { SK = k, text = body.text, owner = req.user.sub, updatedAt = ctx.timestamp() }
  ctx.db.put(doc, existing and mine or { exists = false })
  return { status = existing and 200 or 201, body = view(doc) }
end
