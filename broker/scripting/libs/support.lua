-- Shared helpers for the Lua libraries Redis ships to scripts (cjson, cmsgpack, bit,
-- struct). Redis writes them in C against the Lua 5.1 auxiliary library; these helpers
-- reproduce the parts of lauxlib whose wording scripts can see, so that an error caught
-- with pcall reads byte for byte as it does on redis-server.
--
-- The chunk is run once per runtime, before the script sandbox hides `debug`, and
-- returns a table of functions. Every error is raised with level 0: a C library
-- function raising through luaL_error has no "file:line:" prefix of its own.
local getinfo = debug.getinfo
local format, error, type, tonumber, tostring = string.format, error, type, tonumber, tostring
local floor, ceil = math.floor, math.ceil

local S = {}

-- luaL_argerror. `level` is the stack level of the library function as seen from
-- argerror's caller (1 = the caller itself). The function name comes from how the
-- script called it, as Lua's getfuncname finds it. One difference is forced by the
-- library being Lua rather than C: a Lua function reached by a tail call
-- (`return bit.band(x, "a")`) loses its caller's frame, where a C function keeps it;
-- then the library's own field name is used, which is what redis-server prints there.
function S.argerror(level, narg, extramsg, fname)
  local ar = getinfo(level + 1, "n")
  local name = ar and ar.name
  if ar and ar.namewhat == "method" then
    narg = narg - 1
    if narg == 0 then
      error(format("calling '%s' on bad self (%s)", tostring(name), extramsg), 0)
    end
  end
  if name == nil then
    local caller = getinfo(level + 2, "S")
    if caller and caller.what == "tail" then name = fname else name = "?" end
  end
  error(format("bad argument #%d to '%s' (%s)", narg, name, extramsg), 0)
end
local argerror = S.argerror

-- luaL_typename for argument `narg` of a call that had `nargs` arguments.
function S.typename(v, narg, nargs)
  if narg > nargs then return "no value" end
  return type(v)
end

-- luaL_typerror: "<tname> expected, got <type>".
function S.typeerror(level, narg, tname, v, nargs, fname)
  argerror(level + 1, narg, tname .. " expected, got " .. S.typename(v, narg, nargs), fname)
end

-- luaL_checknumber: numbers and numeric strings, as lua_tonumber converts them.
function S.checknumber(level, v, narg, nargs, fname)
  local n = tonumber(v)
  if n == nil or (type(v) ~= "number" and type(v) ~= "string") then
    S.typeerror(level + 1, narg, "number", v, nargs, fname)
  end
  return n
end

-- lua_Integer is a 64-bit ptrdiff_t on the builds Redis ships: (lua_Integer)d truncates.
local function trunc(n)
  if n >= 0 then return floor(n) else return ceil(n) end
end
S.trunc = trunc

-- luaL_checkinteger: as checknumber, truncated toward zero.
function S.checkinteger(level, v, narg, nargs, fname)
  local n = tonumber(v)
  if n == nil or (type(v) ~= "number" and type(v) ~= "string") then
    S.typeerror(level + 1, narg, "number", v, nargs, fname)
  end
  if n ~= n then return 0 end
  return trunc(n)
end

-- luaL_optinteger: nil and none give the default.
function S.optinteger(level, v, narg, nargs, default, fname)
  if narg > nargs or v == nil then return default end
  return S.checkinteger(level + 1, v, narg, nargs, fname)
end

-- luaL_checklstring: strings, and numbers converted as lua_tolstring does ("%.14g").
function S.checkstring(level, v, narg, nargs, fname)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then return tostring(v) end
  S.typeerror(level + 1, narg, "string", v, nargs, fname)
end

-- C's (int) cast of a lua_Integer: keep the low 32 bits, signed.
function S.toint32(n)
  n = n % 4294967296
  if n >= 2147483648 then return n - 4294967296 end
  return n
end

return S
