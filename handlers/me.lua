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
      tenant = user.tenant,
      groups = user.groups,
      token_use = user.token_use,
    },
  }
end
