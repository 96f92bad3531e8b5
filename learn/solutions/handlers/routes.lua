-- Reference solution of the routes: whoami needs a token (learn/02-authentication.md),
-- /admin/report the group "admins" (learn/08-security.md). The rest: learn/handlers/routes.lua.
return {
  { "GET",    "/greet",         "greet" },                      -- greet-name
  { "POST",   "/sum",           "sum" },                        -- sum-input
  { "GET",    "/whoami",        "whoami",       auth = true },  -- whoami
  { "POST",   "/notes",         "notes",        auth = true },  -- notes-crud, notes-validate
  { "GET",    "/notes",         "notes",        auth = true },  -- notes-pages
  { "GET",    "/notes/{id}",    "notes",        auth = true },
  { "PUT",    "/notes/{id}",    "notes",        auth = true },
  { "DELETE", "/notes/{id}",    "notes",        auth = true },
  { "POST",   "/feedback",      "feedback" },                   -- feedback-metric
  { "GET",    "/admin/report",  "admin_report", auth = true, groups = { "admins" } },
  { "GET",    "/docs/{id}",     "docs",         auth = true },  -- owner-only
  { "PUT",    "/docs/{id}",     "docs",         auth = true },
  { "DELETE", "/docs/{id}",     "docs",         auth = true },
  { "GET",    "/batch/notes",   "batch_notes",  auth = true },  -- batch-read
}
