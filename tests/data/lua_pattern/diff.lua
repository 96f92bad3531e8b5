-- diff.lua - differential check of the metered matcher against stock Lua 5.4: every case runs
-- find (with init and plain), match, gmatch (all iterations) and gsub (string, table and function
-- replacements, with and without a count) through both and raises on the first difference in
-- results or error messages. Run by tests/unit/test_lua_pattern.c:
--   chunk(stock, ours, corpus, nrandom, seed) -> number of comparisons
-- stock/ours: tables of find, match, gmatch, gsub; corpus: list of {subject, pattern} (may be
-- empty); nrandom: random cases generated from seed (a deterministic generator, not math.random,
-- so a failure names a case that reproduces).
local stock, ours, corpus, nrandom, seed = ...
local sfmt, srep, schar, sbyte, ssub = string.format, string.rep, string.char, string.byte,
  string.sub
local sgsub = stock.gsub -- to normalise messages, never the implementation under test
local compared = 0

local function pack(...)
  return { n = select("#", ...), ... }
end

local function show(v)
  if type(v) == "string" then
    return sfmt("%q", v)
  end
  return tostring(v)
end

local function showpack(t)
  local parts = {}
  for i = 1, t.n do
    parts[i] = show(t[i])
  end
  return "(" .. table.concat(parts, ", ") .. ")"
end

-- The functions differ in the name an argument error reports (the stock ones are no longer in
-- package.loaded.string, so Lua finds no name for them): compare messages without it.
local function norm(t)
  if t[1] == false and type(t[2]) == "string" then
    t[2] = sgsub(t[2], "to '[^']*'", "to '?'")
  end
  return t
end

local function same(a, b)
  if a.n ~= b.n then
    return false
  end
  for i = 1, a.n do
    if a[i] ~= b[i] then
      return false
    end
  end
  return true
end

local function check(what, a, b, s, p, extra)
  compared = compared + 1
  norm(a)
  norm(b)
  if not same(a, b) then
    error(sfmt("%s differs: subject %s pattern %s %s\n  stock %s\n  ours  %s", what, show(s),
      show(p), extra or "", showpack(a), showpack(b)), 0)
  end
end

-- All iterations of gmatch (bounded: an iterator that never ends is itself a difference).
local function gmatch_all(g, s, p, init)
  local it = g(s, p, init)
  local out = { n = 0 }
  for _ = 1, 2000 do
    local r = pack(it())
    if r[1] == nil then
      break
    end
    out.n = out.n + 1
    out[out.n] = table.concat((function()
      local t = {}
      for i = 1, r.n do
        t[i] = show(r[i])
      end
      return t
    end)(), ",")
  end
  return out
end

-- gsub with a function replacement: the log of the calls is part of the result.
local function gsub_fn(g, s, p, n)
  local log = {}
  local k = 0
  local r = pack(g(s, p, function(...)
    k = k + 1
    log[#log + 1] = showpack(pack(...))
    if k % 3 == 0 then
      return nil -- keep the match
    elseif k % 3 == 1 then
      return (...) .. "!"
    end
    return k -- a number is a valid replacement too
  end, n))
  r[r.n + 1] = table.concat(log, ";")
  r.n = r.n + 1
  return table.unpack(r, 1, r.n)
end

local repl_strings = { "", "x", "%0", "<%1>", "%1%1", "[%2|%1]", "%%", "%x", "%9", "a%0b%0c" }
local repl_table = { a = "A", b = false, ab = "AB", ["1"] = 1, [" "] = "_" }
local inits = { false, 1, 2, 0, -1, -3, 5, 100 }

local function compare(s, p, variant)
  local init = inits[variant % #inits + 1] or nil
  local function both(name, f, ...)
    local a = pack(pcall(f, stock, ...))
    local b = pack(pcall(f, ours, ...))
    check(name, a, b, s, p, init and ("init " .. init) or nil)
  end
  both("find", function(lib) return lib.find(s, p, init) end)
  both("find plain", function(lib) return lib.find(s, p, init or 1, true) end)
  both("match", function(lib) return lib.match(s, p, init) end)
  both("gmatch", function(lib)
    local t = gmatch_all(lib.gmatch, s, p, init)
    return t.n, table.concat(t, "|")
  end)
  local rs = repl_strings[variant % #repl_strings + 1]
  both("gsub string", function(lib) return lib.gsub(s, p, rs) end)
  both("gsub string n", function(lib) return lib.gsub(s, p, rs, variant % 3) end)
  both("gsub table", function(lib) return lib.gsub(s, p, repl_table) end)
  both("gsub function", function(lib) return gsub_fn(lib.gsub, s, p) end)
  both("gsub function n", function(lib) return gsub_fn(lib.gsub, s, p, 2) end)
end

for i, case in ipairs(corpus) do
  compare(case[1], case[2], i)
end

-- Deterministic generator (xorshift32), so a failing case reproduces from the seed.
local state = seed
local function rnd(n)
  state = state ~ ((state << 13) & 0xffffffff)
  state = state ~ (state >> 17)
  state = state ~ ((state << 5) & 0xffffffff)
  return state % n + 1
end

local atoms = { "a", "b", ".", "%a", "%d", "%s", "%w", "%p", "%S", "%W", "[ab]", "[^a]", "[a-c]",
  "[%d_]", "%%", "%.", "%(", "x", " ", "\0", "[%]a]", "[^%s%d]", "%z" }
local suffixes = { "", "", "", "*", "+", "-", "?" }
local specials = { "(", ")", "()", "%b()", "%bab", "%f[%w]", "%f[%W]", "%f[%z]", "%1", "%2",
  "^", "$", "%0", "[", "%", "]", "[^", "%b", "%f", "(%w+)", "(.-)", "(a*(.)%2)" }
local letters = { "a", "a", "b", "b", " ", "(", ")", "1", "_", ".", "%", "x", "\0", "\255" }

local function random_pattern()
  local parts = {}
  if rnd(8) == 1 then
    parts[#parts + 1] = "^"
  end
  for _ = 1, rnd(5) do
    if rnd(4) == 1 then
      parts[#parts + 1] = specials[rnd(#specials)]
    else
      parts[#parts + 1] = atoms[rnd(#atoms)] .. suffixes[rnd(#suffixes)]
    end
  end
  if rnd(8) == 1 then
    parts[#parts + 1] = "$"
  end
  return table.concat(parts)
end

local function random_subject()
  local t = {}
  for i = 1, rnd(17) - 1 do
    t[i] = letters[rnd(#letters)]
  end
  return table.concat(t)
end

for i = 1, nrandom do
  compare(random_subject(), random_pattern(), i)
end

return compared
