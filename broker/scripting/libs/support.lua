-- Shared helpers for the Lua libraries Redis ships to scripts (cjson, cmsgpack, bit,
-- struct). Redis writes them in C against the Lua 5.1 auxiliary library; these helpers
-- reproduce the parts of lauxlib whose wording scripts can see, so that an error
-- caught with pcall reads byte for byte as it does on redis-server.
--
-- Errors. luaL_error prefixes the position of the library function's caller
-- ("user_script:3: ..."; nothing when the caller is C, e.g. pcall), and
-- luaL_argerror names the function as the caller called it. Both depend on the
-- stack around the library function, not on where inside it the error arose, so
-- the library code raises a tagged table (fail, argerror) and each public function
-- is a wrapper (wrap1, wrapn) that runs the code under pcall and re-raises the
-- message from its own frame. Errors that are not tagged (a hook stopping a runaway
-- script, "table index is nil" from rawset) pass through unchanged.
--
-- The chunk is run once per runtime, before the script sandbox hides `debug`.
local getinfo = debug.getinfo
local format, error, type, tonumber, tostring, pcall, unpack, select =
  string.format, error, type, tonumber, tostring, pcall, unpack, select
local floor, ceil = math.floor, math.ceil

local S = {}

local TAG = {}

-- luaL_error(msg) from inside a library function.
function S.fail(msg)
  error({ TAG, msg }, 0)
end

-- luaL_argerror(narg, extramsg).
function S.argerror(narg, extramsg)
  error({ TAG, extramsg, narg }, 0)
end
local argerror = S.argerror

-- Re-raise `e` as if from the wrapper one level up (raise is level 1, the wrapper
-- level 2, its caller level 3).
local function raise(e, fname)
  if type(e) ~= "table" or e[1] ~= TAG then error(e, 0) end
  local msg, narg = e[2], e[3]
  if narg then
    local ar = getinfo(2, "n")
    local name = ar and ar.name
    if ar and ar.namewhat == "method" then
      narg = narg - 1
      if narg == 0 then
        error(format("calling '%s' on bad self (%s)", tostring(name), msg), 3)
      end
    end
    if name == nil then
      -- A C function reached by a tail call keeps its caller's frame and name; a
      -- Lua one does not, so the library's own name stands in for what Lua would
      -- have found (the position prefix is lost there: a documented difference).
      local caller = getinfo(3, "S")
      name = (caller and caller.what == "tail") and fname or "?"
    end
    msg = format("bad argument #%d to '%s' (%s)", narg, name, msg)
  end
  error(msg, 3)
end

-- A public function returning one value.
function S.wrap1(fname, impl)
  return function(...)
    local ok, r = pcall(impl, ...)
    if ok then return r end
    raise(r, fname)
  end
end

-- At most LUAI_MAXCSTACK (8000) values fit a C function's stack, and Lua's unpack
-- needs three slots of its own: past 7990 the first ten are returned one by one.
local function spread(t, n)
  if n <= 7990 then return unpack(t, 1, n) end
  return t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8], t[9], t[10], unpack(t, 11, n)
end

-- A public function returning many values: `impl` returns a table and a count.
function S.wrapn(fname, impl)
  return function(...)
    local ok, t, n = pcall(impl, ...)
    if ok then return spread(t, n) end
    raise(t, fname)
  end
end

-- luaL_typename for argument `narg` of a call that had `nargs` arguments.
function S.typename(v, narg, nargs)
  if narg > nargs then return "no value" end
  return type(v)
end

-- luaL_typerror: "<tname> expected, got <type>".
function S.typeerror(narg, tname, v, nargs)
  argerror(narg, tname .. " expected, got " .. S.typename(v, narg, nargs))
end

-- luaL_checknumber: numbers and numeric strings, as lua_tonumber converts them.
function S.checknumber(v, narg, nargs)
  local n = tonumber(v)
  if n == nil or (type(v) ~= "number" and type(v) ~= "string") then
    S.typeerror(narg, "number", v, nargs)
  end
  return n
end

-- lua_Integer is a 64-bit ptrdiff_t on the builds Redis ships: (lua_Integer)d truncates.
local function trunc(n)
  if n >= 0 then return floor(n) else return ceil(n) end
end
S.trunc = trunc

-- luaL_checkinteger: as checknumber, truncated toward zero.
function S.checkinteger(v, narg, nargs)
  local n = S.checknumber(v, narg, nargs)
  if n ~= n then return 0 end
  return trunc(n)
end

-- luaL_optinteger: nil and none give the default.
function S.optinteger(v, narg, nargs, default)
  if narg > nargs or v == nil then return default end
  return S.checkinteger(v, narg, nargs)
end

-- luaL_checklstring: strings, and numbers converted as lua_tolstring does ("%.14g").
function S.checkstring(v, narg, nargs)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then return tostring(v) end
  S.typeerror(narg, "string", v, nargs)
end

-- C's (int) cast of a lua_Integer: keep the low 32 bits, signed.
function S.toint32(n)
  n = n % 4294967296
  if n >= 2147483648 then return n - 4294967296 end
  return n
end

return S
