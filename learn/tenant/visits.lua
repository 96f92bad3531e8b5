-- Exercise tenant-handler (learn/08-security.md): a tenant handler, deployed through the
-- tenant-handler API (PUT /tenant/handlers/visits) and run at GET /t/visits.
-- Each call counts one more visit of the caller and answers {"visits": <the caller's count>,
-- "tenant": <the caller's tenant>}; the count is one item per user, SK = "VISITS#<sub>".
-- Tenant handlers cannot require() other files: this one file is the whole handler.
return function(req, ctx) -- luacheck: no unused args
  return {
    status = 501,
    body = { error = "not_implemented", message = "exercise tenant-handler is not solved yet" },
  }
end
