-- lua-cmsgpack 0.4.0 as Redis 7.0 ships it to scripts (deps/lua/src/lua_cmsgpack.c),
-- on a 64-bit build with Lua 5.1: pack(...) concatenates the encodings of its
-- arguments; unpack, unpack_one and unpack_limit decode. A table is a MessagePack
-- array when its keys are exactly 1..n (the empty table too), a map otherwise;
-- tables nested 16 deep encode as nil. Floats go through the host (`floats`).
local S, floats = ...
local byte, char, sub, format = string.byte, string.char, string.sub, string.format
local concat = table.concat
local select, type, next, rawset, unpack = select, type, next, rawset, unpack
local floor, huge = math.floor, math.huge
local argerror, checkstring, checkinteger, optinteger, toint32, fail =
  S.argerror, S.checkstring, S.checkinteger, S.optinteger, S.toint32, S.fail

local MAX_NESTING = 16
local TWO32 = 4294967296
local TWO63 = 9223372036854775808

-- Speed matters here (Redis's is C; scripts pack tables of 100,000 values under
-- busy-reply-threshold): one-byte strings come from a table, 2- and 4-byte
-- big-endian numbers from arithmetic and one char() call, and a string's header and
-- its bytes go to the output as two pieces (no concatenation of the payload).
local CHAR = {}
for b = 0, 255 do CHAR[b] = char(b) end

-- Big-endian bytes of a non-negative integer below 2^64 (or its two's complement,
-- for a negative one), `count` of them.
local function be(n, count)
  if count == 2 then
    local lo = n % 256
    return char(((n - lo) / 256) % 256, lo)
  end
  if count == 4 then
    local b4 = n % 256
    n = (n - b4) / 256
    local b3 = n % 256
    n = (n - b3) / 256
    local b2 = n % 256
    return char(((n - b2) / 256) % 256, b2, b3, b4)
  end
  local out = {}
  for k = count, 1, -1 do
    local b = n % 256
    out[k] = b
    n = (n - b) / 256
  end
  return char(unpack(out, 1, count))
end

local function encode_int(n)
  if n >= 0 then
    if n <= 127 then return CHAR[n] end
    if n <= 0xff then return "\204" .. CHAR[n] end
    if n <= 0xffff then return "\205" .. be(n, 2) end
    if n <= 0xffffffff then return "\206" .. be(n, 4) end
    return "\207" .. be(n, 8)
  end
  if n >= -32 then return CHAR[256 + n] end
  if n >= -128 then return "\208" .. CHAR[256 + n] end
  if n >= -32768 then return "\209" .. be(n, 2) end
  if n >= -2147483648 then return "\210" .. be(n, 4) end
  return "\211" .. be(n, 8)
end

-- A string's header (the bytes follow as their own piece).
local function bytes_header(len)
  if len < 32 then return CHAR[0xa0 + len] end
  if len <= 0xff then return "\217" .. CHAR[len] end
  if len <= 0xffff then return "\218" .. be(len, 2) end
  return "\219" .. be(len, 4)
end

local function header(n, fix, b16, b32)
  if n <= 15 then return CHAR[fix + n] end
  if n <= 65535 then return b16 .. be(n, 2) end
  return b32 .. be(n, 4)
end

-- (int64_t)n == n, and not infinite: the number goes out as an integer.
local function is_int64(n)
  return n == floor(n) and n >= -TWO63 and n < TWO63
end

-- table_is_an_array: every key a number equal to its (int) cast and >= 1, and the
-- largest equal to the count.
local function is_array(t)
  local count, max = 0, 0
  for k in next, t do
    if type(k) ~= "number" or k <= 0 or k ~= floor(k) or k >= 2147483648 then
      return false
    end
    if k > max then max = k end
    count = count + 1
  end
  return max == count
end

local encode

local function encode_table(t, level, out, n)
  if is_array(t) then
    local len = #t
    n = n + 1 out[n] = header(len, 0x90, "\220", "\221")
    for j = 1, len do n = encode(t[j], level + 1, out, n) end
    return n
  end
  local len = 0
  for _ in next, t do len = len + 1 end
  n = n + 1 out[n] = header(len, 0x80, "\222", "\223")
  for k, v in next, t do
    n = encode(k, level + 1, out, n)
    n = encode(v, level + 1, out, n)
  end
  return n
end

encode = function(v, level, out, n)
  local t = type(v)
  if t == "table" and level == MAX_NESTING then t = "nil" end
  n = n + 1
  if t == "string" then
    out[n] = bytes_header(#v)
    n = n + 1
    out[n] = v
  elseif t == "boolean" then
    out[n] = v and "\195" or "\194"
  elseif t == "number" then
    if v ~= huge and v ~= -huge and is_int64(v) then
      out[n] = encode_int(v)
    else
      out[n] = floats.msgpack(v)
    end
  elseif t == "table" then
    return encode_table(v, level, out, n - 1)
  else
    out[n] = "\192"
  end
  return n
end

-- cmsgpack.pack(v1 [, v2 ...])
local function pack(...)
  local nargs = select("#", ...)
  if nargs == 0 then argerror(0, "MessagePack pack needs input.") end
  local out, n = {}, 0
  for i = 1, nargs do n = encode((select(i, ...)), 0, out, n) end
  return concat(out, "", 1, n)
end

-- Decoding. Each decoder takes the data and the 1-based position of the type byte
-- and returns the value and the next position; a short input or an unknown type
-- byte raises the error unpack reports.
local EOF = "Missing bytes in input."
local BADFMT = "Bad data format in input."

local function uint(s, p, count)
  if count == 2 then
    local a, b = byte(s, p, p + 1)
    return a * 256 + b
  end
  if count == 4 then
    local a, b, c, d = byte(s, p, p + 3)
    return ((a * 256 + b) * 256 + c) * 256 + d
  end
  local v = 0
  for k = p, p + count - 1 do v = v * 256 + byte(s, k) end
  return v
end

-- 64-bit values, read as lua_pushinteger of an int64_t does: two exact halves and
-- one rounding; an unsigned one past 2^63 wraps negative as the C cast does.
local function int64(s, p)
  local hi, lo = uint(s, p, 4), uint(s, p + 4, 4)
  if hi >= 2147483648 then hi = hi - TWO32 end
  return hi * TWO32 + lo
end

local decode

local function need(s, p, count)
  if #s - p + 1 < count then fail(EOF) end
end

local function decode_array(s, p, len)
  local t = {}
  for i = 1, len do
    local v
    v, p = decode(s, p)
    t[i] = v
  end
  return t, p
end

local function decode_map(s, p, len)
  local t = {}
  for _ = 1, len do
    local k, v
    k, p = decode(s, p)
    v, p = decode(s, p)
    rawset(t, k, v)
  end
  return t, p
end

decode = function(s, p)
  local c = byte(s, p)
  if c == nil then fail(EOF) end
  if c <= 0x7f then return c, p + 1 end
  if c >= 0xe0 then return c - 256, p + 1 end
  if c >= 0xa0 and c <= 0xbf then
    local l = c - 0xa0
    need(s, p, 1 + l)
    return sub(s, p + 1, p + l), p + 1 + l
  end
  if c >= 0x90 and c <= 0x9f then return decode_array(s, p + 1, c - 0x90) end
  if c >= 0x80 and c <= 0x8f then return decode_map(s, p + 1, c - 0x80) end
  if c == 0xcc then need(s, p, 2) return byte(s, p + 1), p + 2 end
  if c == 0xd0 then
    need(s, p, 2)
    local v = byte(s, p + 1)
    if v >= 128 then v = v - 256 end
    return v, p + 2
  end
  if c == 0xcd then need(s, p, 3) return uint(s, p + 1, 2), p + 3 end
  if c == 0xd1 then
    need(s, p, 3)
    local v = uint(s, p + 1, 2)
    if v >= 32768 then v = v - 65536 end
    return v, p + 3
  end
  if c == 0xce then need(s, p, 5) return uint(s, p + 1, 4), p + 5 end
  if c == 0xd2 then
    need(s, p, 5)
    local v = uint(s, p + 1, 4)
    if v >= 2147483648 then v = v - TWO32 end
    return v, p + 5
  end
  if c == 0xcf or c == 0xd3 then need(s, p, 9) return int64(s, p + 1), p + 9 end
  if c == 0xc0 then return nil, p + 1 end
  if c == 0xc3 then return true, p + 1 end
  if c == 0xc2 then return false, p + 1 end
  if c == 0xca then need(s, p, 5) return floats.unpack(false, byte(s, p + 1, p + 4)), p + 5 end
  if c == 0xcb then need(s, p, 9) return floats.unpack(false, byte(s, p + 1, p + 8)), p + 9 end
  if c == 0xd9 then
    need(s, p, 2)
    local l = byte(s, p + 1)
    need(s, p, 2 + l)
    return sub(s, p + 2, p + 1 + l), p + 2 + l
  end
  if c == 0xda then
    need(s, p, 3)
    local l = uint(s, p + 1, 2)
    need(s, p, 3 + l)
    return sub(s, p + 3, p + 2 + l), p + 3 + l
  end
  if c == 0xdb then
    need(s, p, 5)
    local l = uint(s, p + 1, 4)
    need(s, p + 5, l)
    return sub(s, p + 5, p + 4 + l), p + 5 + l
  end
  if c == 0xdc then need(s, p, 3) return decode_array(s, p + 3, uint(s, p + 1, 2)) end
  if c == 0xdd then need(s, p, 5) return decode_array(s, p + 5, uint(s, p + 1, 4)) end
  if c == 0xde then need(s, p, 3) return decode_map(s, p + 3, uint(s, p + 1, 2)) end
  if c == 0xdf then need(s, p, 5) return decode_map(s, p + 5, uint(s, p + 1, 4)) end
  fail(BADFMT)
end

-- A C function may hold LUAI_MAXCSTACK (8000) values; the string argument is one.
local STACK_MSG = "stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)"

-- mp_unpack_full: `limit` values from byte `offset` (0-based); limit 0 and offset 0
-- mean every value and no offset in the results.
local function unpack_full(s, limit, offset)
  local len = #s
  if offset < 0 or limit < 0 then
    -- (lua_cmsgpack.c prints the input length where it means the limit)
    fail(format("Invalid request to unpack with offset of %d and limit of %d.",
      toint32(offset), toint32(len)))
  elseif offset > len then
    fail(format("Start offset %d greater than input length %d.", toint32(offset), toint32(len)))
  end
  local decode_all = limit == 0 and offset == 0
  if decode_all then limit = 2147483647 end
  local out, cnt = {}, 0
  local p = offset + 1
  while p <= len and cnt < limit do
    if cnt + 2 > 8000 then fail(STACK_MSG) end
    local v
    v, p = decode(s, p)
    cnt = cnt + 1
    out[cnt] = v
  end
  if decode_all then return out, cnt end
  -- the next offset (-1 once the input is used up) comes first; values may be nil,
  -- so no table.insert (it trusts the # of a table with holes)
  for i = cnt, 1, -1 do out[i + 1] = out[i] end
  out[1] = p > len and -1 or p - 1
  return out, cnt + 1
end

-- cmsgpack.unpack(data)
local function unpack_(...)
  local s = checkstring((...), 1, select("#", ...))
  return unpack_full(s, 0, 0)
end

-- cmsgpack.unpack_one(data [, offset])
local function unpack_one(...)
  local nargs = select("#", ...)
  local a, o = ...
  local offset = optinteger(o, 2, nargs, 0)
  local s = checkstring(a, 1, 1)
  return unpack_full(s, 1, offset)
end

-- cmsgpack.unpack_limit(data, limit [, offset])
local function unpack_limit(...)
  local nargs = select("#", ...)
  local a, l, o = ...
  local limit = checkinteger(l, 2, nargs)
  local offset = optinteger(o, 3, nargs, 0)
  local s = checkstring(a, 1, 1)
  return unpack_full(s, limit, offset)
end

return {
  pack = S.wrap1("pack", pack),
  unpack = S.wrapn("unpack", unpack_),
  unpack_one = S.wrapn("unpack_one", unpack_one),
  unpack_limit = S.wrapn("unpack_limit", unpack_limit),
  _NAME = "cmsgpack",
  _VERSION = "lua-cmsgpack 0.4.0",
  _COPYRIGHT = "Copyright (C) 2012, Salvatore Sanfilippo",
  _DESCRIPTION = "MessagePack C implementation for Lua",
}
