-- routes.lua: the API's routes. Each entry is { METHOD, "/path/{param}", "handler" [, options] }.
-- The handler is handlers/<handler>.lua. Options:
--   auth = true            require a valid Cognito token (req.user is then set)
--   groups = { "admins" }  also require membership of one of these Cognito groups
--   token_use = "id"       accept only id tokens ("access" for access tokens; default both)
-- Edit and save: with `scripts/up` running, the next request uses the change.
-- On Lambda, redeploy.
return {
  { "GET",    "/hello",      "hello" },
  { "GET",    "/me",         "me",       auth = true },
  { "GET",    "/profile",    "profile",  auth = true },
  { "PUT",    "/profile",    "profile",  auth = true },
  { "GET",    "/items",      "items",    auth = true },
  { "POST",   "/items",      "items",    auth = true },
  { "GET",    "/items/{id}", "items",    auth = true },
  { "PUT",    "/items/{id}", "items",    auth = true },
  { "DELETE", "/items/{id}", "items",    auth = true },
  { "GET",    "/activity",   "activity", auth = true },
}
