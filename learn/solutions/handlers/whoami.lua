-- Reference solution of whoami (learn/02-authentication.md); routes.lua gives the route
-- auth = true, so the runtime has verified the token before this runs and req.user is set.
-- req.user.tenant is the tenant the runtime resolved from the verified token alone:
-- "org:<name>" for a member of the Cognito group tenant:<name>, else "user:<sub>".
return function(req, ctx) -- luacheck: no unused args
  local user = req.user
  return {
    status = 200,
    body = { sub = user.sub, email = user.email, tenant = user.tenant, groups = user.groups },
  }
end
