-- GET /me: who am I? Returns the identity from the verified token (the route has auth = true,
-- so req.user is always set here). No database access.
-- groups is an array even when empty: the runtime marks it so it encodes as [].
return function(req, ctx)
  local user = req.user
  return {
    status = 200,
    body = {
      sub = user.sub,
      email = user.email,
      username = user.username,
      tenant = user.tenant,           -- "user:<sub>" (personal) or "org:<name>" (named)
      tenant_kind = user.tenant_kind, -- "personal" or "named"
      tenant_name = user.tenant_name, -- the named tenant's name; nil (absent) when personal
      groups = user.groups,
      token_use = user.token_use,
    },
  }
end
