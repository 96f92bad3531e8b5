-- Reference solution of whoami (learn/02-authentication.md); routes.lua gives the route
-- auth = true, so the runtime has verified the token before this runs and req.user is set.
-- The tenant is the token's custom:tenant_id, else the user's own sub: the runtime worked it
-- out already (req.user.tenant), from the verified token only.
return function(req, ctx) -- luacheck: no unused args
  local user = req.user
  return {
    status = 200,
    body = { sub = user.sub, email = user.email, tenant = user.tenant, groups = user.groups },
  }
end
