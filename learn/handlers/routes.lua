-- learn/handlers/routes.lua: the routes of the learner track's exercises. `scripts/learn check`
-- runs them with HANDLERS_DIR=learn/handlers; the format is the one of handlers/routes.lua
-- ({ METHOD, "/path/{param}", "handler" [, auth = true] [, groups = {...}] [, token_use = ...] }).
-- Try them by hand: HANDLERS_DIR=learn/handlers build/bootstrap invoke --event <file>.
return {
  { "GET",    "/greet",         "greet" },                      -- greet-name
  { "POST",   "/sum",           "sum" },                        -- sum-input
  { "GET",    "/whoami",        "whoami" },                     -- whoami: this route needs a token
  { "POST",   "/notes",         "notes",        auth = true },  -- notes-crud, notes-validate
  { "GET",    "/notes",         "notes",        auth = true },  -- notes-pages
  { "GET",    "/notes/{id}",    "notes",        auth = true },
  { "PUT",    "/notes/{id}",    "notes",        auth = true },
  { "DELETE", "/notes/{id}",    "notes",        auth = true },
  { "POST",   "/feedback",      "feedback" },                   -- feedback-metric
  { "GET",    "/admin/report",  "admin_report", auth = true },  -- admin-group: admins only
  { "GET",    "/docs/{id}",     "docs",         auth = true },  -- owner-only
  { "PUT",    "/docs/{id}",     "docs",         auth = true },
  { "DELETE", "/docs/{id}",     "docs",         auth = true },
  { "GET",    "/batch/notes",   "batch_notes",  auth = true },  -- batch-read
}
