-- LuaBitOp 1.0.2 as Redis 7.0 ships it to scripts (deps/lua/src/lua_bit.c): 32-bit
-- operations on Lua 5.1's doubles. Lua 5.1 has no integer operators, so each
-- operation works on unsigned 32-bit values held in doubles (exact below 2^53) and
-- returns the signed result LuaBitOp returns.
local S = ...
local tonumber, type, select = tonumber, type, select
local floor, frexp, ldexp, huge = math.floor, math.frexp, math.ldexp, math.huge
local format, sub = string.format, string.sub
local pairs = pairs
local typeerror, wrap1 = S.typeerror, S.wrap1

local TWO32 = 4294967296
local TWO31 = 2147483648
-- 2^52 + 2^51: adding it rounds a double to an integer (ties to even, as the FPU
-- does) and leaves that integer in the low 32 bits of the mantissa.
local MAGIC = 6755399441055744

-- barg: the argument's 32 low bits, unsigned.
local function barg(v, narg, nargs)
  local n = tonumber(v)
  if n == nil or (type(v) ~= "number" and type(v) ~= "string") then
    typeerror(narg, "number", v, nargs)
  end
  local y = n + MAGIC
  if y >= 4503599627370496 and y < 9007199254740992 then
    return y % TWO32  -- the usual case: the mantissa is y - 2^52
  end
  if y ~= y or y == huge or y == -huge or y == 0 then return 0 end
  if y < 0 then y = -y end  -- the sign bit is not in the mantissa
  local m = frexp(y)
  return ldexp(m, 53) % TWO32  -- the 53-bit significand as an integer
end

local function signed(b)
  if b >= TWO31 then return b - TWO32 end
  return b
end

-- Bitwise and/or/xor of two unsigned 32-bit values, a nibble at a time.
local AND, OR, XOR = {}, {}, {}
for a = 0, 15 do
  for b = 0, 15 do
    local r_and, r_or, r_xor, p = 0, 0, 0, 1
    local x, y = a, b
    for _ = 1, 4 do
      local xb, yb = x % 2, y % 2
      if xb == 1 and yb == 1 then r_and = r_and + p end
      if xb == 1 or yb == 1 then r_or = r_or + p end
      if xb ~= yb then r_xor = r_xor + p end
      x, y, p = (x - xb) / 2, (y - yb) / 2, p * 2
    end
    AND[a * 16 + b], OR[a * 16 + b], XOR[a * 16 + b] = r_and, r_or, r_xor
  end
end

local function combine(tbl, a, b)
  local r, p = 0, 1
  while a > 0 or b > 0 do
    local x, y = a % 16, b % 16
    r = r + tbl[x * 16 + y] * p
    a, b, p = (a - x) / 16, (b - y) / 16, p * 16
  end
  return r
end
local function uand(a, b) return combine(AND, a, b) end

local M = {}

-- bit.tobit(x)
function M.tobit(...)
  return signed(barg((...), 1, select("#", ...)))
end

-- bit.bnot(x)
function M.bnot(...)
  return signed(TWO32 - 1 - barg((...), 1, select("#", ...)))
end

-- band/bor/bxor(x1 [,x2...]): LuaBitOp reads the first argument, then the rest from
-- the last one down, which decides which bad argument is reported first.
local function fold(tbl)
  return function(...)
    local nargs = select("#", ...)
    local b = barg((...), 1, nargs)
    for i = nargs, 2, -1 do
      b = combine(tbl, b, barg((select(i, ...)), i, nargs))
    end
    return signed(b)
  end
end
M.band = fold(AND)
M.bor = fold(OR)
M.bxor = fold(XOR)

-- Shifts take the count's low 5 bits, as `barg(L, 2) & 31`.
local function shift(op)
  return function(...)
    local nargs = select("#", ...)
    local a, c = ...
    local b = barg(a, 1, nargs)
    local n = barg(c, 2, nargs) % 32
    return signed(op(b, n))
  end
end
M.lshift = shift(function(b, n) return (b * 2 ^ n) % TWO32 end)
M.rshift = shift(function(b, n) return floor(b / 2 ^ n) end)
M.arshift = shift(function(b, n) return floor(signed(b) / 2 ^ n) % TWO32 end)
M.rol = shift(function(b, n) return (b * 2 ^ n) % TWO32 + floor(b / 2 ^ (32 - n)) end)
M.ror = shift(function(b, n)
  if n == 0 then return b end  -- (b << 32) is b on x86, so b | b
  return (b * 2 ^ (32 - n)) % TWO32 + floor(b / 2 ^ n)
end)

-- bit.bswap(x)
function M.bswap(...)
  local b = barg((...), 1, select("#", ...))
  local b0 = b % 256
  local b1 = floor(b / 256) % 256
  local b2 = floor(b / 65536) % 256
  local b3 = floor(b / 16777216)
  return signed(((b0 * 256 + b1) * 256 + b2) * 256 + b3)
end

-- bit.tohex(x [,n]): n digits (default 8), upper case when n is negative.
function M.tohex(...)
  local nargs = select("#", ...)
  local a, c = ...
  local b = barg(a, 1, nargs)
  local n = 8
  if nargs >= 2 then n = signed(barg(c, 2, nargs)) end
  local hexfmt = "%08x"
  if n < 0 then
    -- -(-2^31) overflows in C; gcc then takes the result as positive (eight digits)
    n = -n
    hexfmt = "%08X"
  end
  if n > 8 then n = 8 end
  if n <= 0 then return "" end
  return sub(format(hexfmt, b), 9 - n)
end

local B = {}
for name, f in pairs(M) do B[name] = wrap1(name, f) end
-- uand serves struct's alignment arithmetic; it is not part of the bit table
return B, uand
