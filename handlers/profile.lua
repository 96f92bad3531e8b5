-- GET /profile and PUT /profile: the signed-in user's profile.
-- Stored as one DynamoDB item with SK = "USER#<sub>" in the user's tenant (ctx.db adds the
-- tenant; handlers never see or set PK). GET creates the profile on first use from the token's
-- email; PUT changes any subset of the fields and answers with the whole profile.

local THEMES = { light = true, dark = true, system = true }
local DEFAULT_COLOR = "#4f46e5"

local function fail_field(ctx, field, message)
  ctx.fail(400, message, { code = "validation", field = field })
end

-- The length of s in characters (nil when s is not valid UTF-8).
local function chars(s)
  return utf8.len(s)
end

-- Check a text field: a string of min..max characters.
local function check_text(ctx, field, value, min, max)
  local n = type(value) == "string" and chars(value)
  if not n or n < min or n > max then
    fail_field(ctx, field, ("%s must be a string of %d to %d characters"):format(field, min, max))
  end
end

-- Validate a PUT body; returns the attributes to change. Unknown fields are refused by name.
local function validate(ctx, body)
  if type(body) ~= "table" or getmetatable(body) == json.array_mt then
    ctx.fail(400, "the body must be a JSON object", { code = "validation" })
  end
  local known = { displayName = true, bio = true, avatarColor = true, preferences = true }
  for field in pairs(body) do
    if not known[field] then
      fail_field(ctx, tostring(field), "unknown field '" .. tostring(field) .. "'")
    end
  end
  if body.displayName ~= nil then check_text(ctx, "displayName", body.displayName, 1, 60) end
  if body.bio ~= nil then check_text(ctx, "bio", body.bio, 0, 500) end
  if body.avatarColor ~= nil and not (type(body.avatarColor) == "string"
      and body.avatarColor:match("^#%x%x%x%x%x%x$")) then
    fail_field(ctx, "avatarColor", "avatarColor must be a colour like \"#1a2b3c\"")
  end
  local prefs = body.preferences
  if prefs ~= nil then
    if type(prefs) ~= "table" or getmetatable(prefs) == json.array_mt then
      fail_field(ctx, "preferences", "preferences must be an object")
    end
    for field in pairs(prefs) do
      if field ~= "theme" and field ~= "emailNotifications" then
        local name = "preferences." .. tostring(field)
        fail_field(ctx, name, "unknown field '" .. name .. "'")
      end
    end
    if prefs.theme ~= nil and not THEMES[prefs.theme] then
      fail_field(ctx, "preferences.theme", "preferences.theme must be light, dark or system")
    end
    if prefs.emailNotifications ~= nil and type(prefs.emailNotifications) ~= "boolean" then
      fail_field(ctx, "preferences.emailNotifications",
        "preferences.emailNotifications must be true or false")
    end
  end
  return body
end

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
  local body = validate(ctx, req.json)
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
