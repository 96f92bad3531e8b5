-- GET /admin/report: a report only members of the Cognito group "admins" may read.
-- Exercise admin-group (learn/08-security.md): this handler is finished; the route in
-- routes.lua is not. Protect it there, not here: the runtime then refuses everyone else with a
-- 403 before this code runs.
return function(req, ctx) -- luacheck: no unused args
  return {
    status = 200,
    body = { report = "quarterly numbers", readBy = req.user.email, groups = req.user.groups },
  }
end
