-- Reference solution of tenant-handler (learn/08-security.md). ADD starts a missing counter at
-- 0, so one update both creates and increments it, and returns the item after the update.
-- ctx.db of a tenant handler keeps to the tenant's own namespace: this item is stored as
-- SK = "APP#VISITS#<sub>" in the tenant's partition, out of reach of the file handlers' data.
return function(req, ctx)
  local counter = ctx.db.update("VISITS#" .. req.user.sub, { add = { count = 1 } })
  return { status = 200, body = { visits = counter.count, tenant = req.user.tenant } }
end
