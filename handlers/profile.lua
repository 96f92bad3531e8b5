-- GET /profile and PUT /profile: the signed-in user's profile.
-- Stored as one DynamoDB item with SK = "USER#<sub>" in the user's tenant (ctx.db adds the
-- tenant; handlers never see or set PK). GET creates the profile on first use from the token's
-- email; PUT changes any subset of the fields and answers with the whole profile.

local DEFAULT_COLOR = "#4f46e5"

-- A PUT body: any subset of the fields. ctx.validate refuses unknown fields by name (also inside
-- preferences) and answers 400 naming the field path, e.g. "preferences.theme".
local PROFILE = { type = "object", fields = {
  displayName = { type = "string", min_len = 1, max_len = 60 },
  bio = { type = "string", max_len = 500 },
  avatarColor = { type = "string", pattern = "^#%x%x%x%x%x%x$",
    message = 'must be a colour like "#1a2b3c"' },
  preferences = { type = "object", fields = {
    theme = { type = "string", enum = { "light", "dark", "system" } },
    emailNotifications = { type = "boolean" },
  } },
} }

-- What the client sees: exactly the contract's fields (never the key or other attributes).
-- The email is the token's when it has one (it may have changed in Cognito since the profile
-- was created; access tokens carry none), else the one stored at creation.
local function view(p, user)
  local prefs = p.preferences or {}
  return {
    displayName = p.displayName,
    bio = p.bio,
    avatarColor = p.avatarColor,
    preferences = { theme = prefs.theme, emailNotifications = prefs.emailNotifications },
    email = user.email or p.email,
    createdAt = p.createdAt,
    updatedAt = p.updatedAt,
  }
end

-- Read the profile, creating it on first use: displayName defaults to the part of the email
-- before the @ (at most 60 characters).
local function load_or_create(req, ctx, key)
  local profile = ctx.db.get(key)
  if profile then
    return profile
  end
  local email = req.user.email or ""
  local name = email:match("^([^@]+)@") or "user"
  local cut = utf8.offset(name, 61)
  if cut then name = name:sub(1, cut - 1) end
  local now = ctx.timestamp()
  profile = {
    SK = key, email = email, displayName = name, bio = "", avatarColor = DEFAULT_COLOR,
    preferences = { theme = "system", emailNotifications = true },
    createdAt = now, updatedAt = now,
  }
  -- exists = false: when two first requests race, one creates the profile and the other gets a
  -- conflict; that one simply reads what the winner wrote.
  local ok, err = pcall(ctx.db.put, profile, { exists = false })
  if not ok then
    if not ctx.db.is_conflict(err) then error(err, 0) end
    return ctx.db.get(key, { consistent = true })
  end
  return profile
end

return function(req, ctx)
  local key = "USER#" .. req.user.sub
  if req.method == "GET" then
    return { status = 200, body = view(load_or_create(req, ctx, key), req.user) }
  end

  -- PUT: validate first (nothing is written for a bad request), then change only what was sent.
  local body = ctx.validate(req.json, PROFILE)
  local profile = load_or_create(req, ctx, key)
  local set = { updatedAt = ctx.timestamp() }
  for _, field in ipairs({ "displayName", "bio", "avatarColor" }) do
    if body[field] ~= nil then set[field] = body[field] end
  end
  if body.preferences then
    local prefs = profile.preferences or {}
    for field, value in pairs(body.preferences) do prefs[field] = value end
    set.preferences = prefs
  end
  -- Last write wins: a profile has one owner, so there is no version check here.
  local updated = ctx.db.update(key, { set = set, exists = true })
  return { status = 200, body = view(updated, req.user) }
end
