-- Roberto Ierusalimschy's struct library as Redis 7.0 ships it to scripts
-- (deps/lua/src/lua_struct.c): pack, unpack and size of binary records, on the x86-64
-- layout Redis is built for (little-endian native, long and size_t of 8 bytes, maximum
-- alignment 8). Integers travel as doubles; floats go through the host (`floats`),
-- which converts IEEE 754 bits exactly.
local S, floats, uand = ...
local byte, char, sub, find, format, rep = string.byte, string.char, string.sub, string.find, string.format, string.rep
local concat = table.concat
local select, type, tonumber = select, type, tonumber
local floor = math.floor
local unpack = unpack
local argerror, checknumber, checkstring, optinteger, fail = S.argerror, S.checknumber, S.checkstring, S.optinteger, S.fail
local trunc = S.trunc

local LITTLE, BIG = 1, 0
local NATIVE = LITTLE
local MAXINTSIZE = 32
local MAXALIGN = 8
local INT_MAX = 2147483647

local SIZES = { b = 1, B = 1, h = 2, H = 2, l = 8, L = 8, T = 8, f = 4, d = 8, x = 1 }

local function isdigit(c) return c and c >= 48 and c <= 57 end

-- getnum: an optional decimal count after an option; returns value, next position.
local function getnum(fmt, i, df)
  local c = byte(fmt, i)
  if not isdigit(c) then return df, i end
  local a = 0
  repeat
    local d = c - 48
    if a > floor(INT_MAX / 10) or a * 10 > INT_MAX - d then
      fail("integral size overflow")
    end
    a = a * 10 + d
    i = i + 1
    c = byte(fmt, i)
  until not isdigit(c)
  return a, i
end

-- optsize: the size of option `opt`, whose count digits start at i.
local function optsize(opt, fmt, i)
  local size = SIZES[opt]
  if size then return size, i end
  if opt == "c" then return getnum(fmt, i, 1) end
  if opt == "i" or opt == "I" then
    local sz
    sz, i = getnum(fmt, i, 4)
    if sz > MAXINTSIZE then
      fail(format("integral size %d is larger than limit of %d", sz, MAXINTSIZE))
    end
    return sz, i
  end
  return 0, i
end

-- gettoalign: padding before an element of `size` at offset `len`.
local function gettoalign(len, align, opt, size)
  if size == 0 or opt == "c" then return 0 end
  if size > align then size = align end
  return uand(size - uand(len, size - 1), size - 1)
end

-- controloptions: endianness, alignment and spaces; anything else is an error.
local function controloptions(opt, fmt, i, h)
  if opt == " " then return i end
  if opt == ">" then h.endian = BIG return i end
  if opt == "<" then h.endian = LITTLE return i end
  if opt == "!" then
    local a
    a, i = getnum(fmt, i, MAXALIGN)
    if not (a > 0 and uand(a, a - 1) == 0) then
      fail(format("alignment %d is not a power of 2", a))
    end
    h.align = a
    return i
  end
  argerror(1, format("invalid format option '%s'", opt))
end

local function isinteger(opt)
  return opt == "b" or opt == "B" or opt == "h" or opt == "H" or opt == "l"
    or opt == "L" or opt == "T" or opt == "i" or opt == "I"
end

-- putinteger: (unsigned long)(long)n for negatives, (unsigned long)n otherwise; the
-- 64-bit value's bytes, zeros past the eighth.
local function putinteger(n, endian, size)
  local v = trunc(n)
  local out = {}
  for k = 1, size do
    local b = 0
    if k <= 8 then
      b = v % 256
      v = (v - b) / 256
    end
    out[k] = b
  end
  if endian == LITTLE then
    return char(unpack(out, 1, size))
  end
  local rev = {}
  for k = 1, size do rev[k] = out[size + 1 - k] end
  return char(unpack(rev, 1, size))
end

-- struct.pack(fmt, v1, v2, ...)
local function pack(...)
  local nargs = select("#", ...)
  local fmt = checkstring((...), 1, nargs)
  local args = { ... }
  local h = { endian = NATIVE, align = 1 }
  local arg = 2
  local totalsize = 0
  local out, n = {}, 0
  local i, flen = 1, #fmt
  while i <= flen do
    local opt = sub(fmt, i, i)
    i = i + 1
    local size
    size, i = optsize(opt, fmt, i)
    local toalign = gettoalign(totalsize, h.align, opt, size)
    totalsize = totalsize + toalign
    if toalign > 0 then n = n + 1 out[n] = rep("\0", toalign) end
    if isinteger(opt) then
      local v = checknumber(args[arg], arg, nargs)
      arg = arg + 1
      n = n + 1 out[n] = putinteger(v, h.endian, size)
    elseif opt == "x" then
      n = n + 1 out[n] = "\0"
    elseif opt == "f" or opt == "d" then
      local v = checknumber(args[arg], arg, nargs)
      arg = arg + 1
      if v == 0 then
        -- lupa hands an integral double to Python as an int, which has no -0
        local zero = rep("\0", size - 1)
        local sign = (1 / v < 0) and "\128" or "\0"
        n = n + 1 out[n] = h.endian == LITTLE and zero .. sign or sign .. zero
      else
        n = n + 1 out[n] = floats.pack(v, size, h.endian == LITTLE)
      end
    elseif opt == "c" or opt == "s" then
      local s = checkstring(args[arg], arg, nargs)
      arg = arg + 1
      local l = #s
      if size == 0 then size = l end
      -- lua_struct.c checks after arg++: the error names the next argument
      if l < size then argerror(arg, "string too short") end
      n = n + 1 out[n] = sub(s, 1, size)
      if opt == "s" then
        n = n + 1 out[n] = "\0"
        size = size + 1
      end
    else
      i = controloptions(opt, fmt, i, h)
    end
    totalsize = totalsize + size
  end
  return concat(out, "", 1, n)
end

-- getinteger: the value of `size` bytes at data[pos+1..]; past 8 bytes only the 8
-- least significant survive, as in the C shifts of an unsigned long. Built from two
-- exact 32-bit halves so the one rounding to double happens where C's does.
local function getinteger(data, pos, endian, issigned, size)
  local bytes = { byte(data, pos + 1, pos + size) }
  if endian == BIG then
    local rev = {}
    for k = 1, size do rev[k] = bytes[size + 1 - k] end
    bytes = rev
  end
  -- bytes[1] is now the least significant
  local used = size > 8 and 8 or size
  local lo, hi = 0, 0
  for k = used < 4 and used or 4, 1, -1 do lo = lo * 256 + bytes[k] end
  for k = used, 5, -1 do hi = hi * 256 + bytes[k] end
  if issigned then
    local bits = used * 8
    if used <= 4 then
      if lo >= 2 ^ (bits - 1) then lo = lo - 2 ^ bits end
    elseif hi >= 2 ^ (bits - 33) then
      hi = hi - 2 ^ (bits - 32)
    end
  end
  return hi * 4294967296 + lo
end

-- struct.unpack(fmt, data [, pos])
local function unpack_(...)
  local nargs = select("#", ...)
  local f, d, p = ...
  local fmt = checkstring(f, 1, nargs)
  local data = checkstring(d, 2, nargs)
  local ld = #data
  local pos = optinteger(p, 3, nargs, 1)
  -- size_t in C: a negative offset wraps to a huge one and passes this check
  if pos == 0 then argerror(3, "offset must be 1 or greater") end
  pos = pos - 1
  local h = { endian = NATIVE, align = 1 }
  local out, n = {}, 0
  local i, flen = 1, #fmt
  while i <= flen do
    local opt = sub(fmt, i, i)
    i = i + 1
    local size
    size, i = optsize(opt, fmt, i)
    pos = pos + gettoalign(pos < 0 and 0 or pos, h.align, opt, size)
    if not (size <= ld and pos >= 0 and pos <= ld - size) then
      argerror(2, "data string too short")
    end
    if isinteger(opt) then
      local issigned = opt == "b" or opt == "h" or opt == "l" or opt == "i"
      n = n + 1 out[n] = getinteger(data, pos, h.endian, issigned, size)
    elseif opt == "x" then
      -- padding only
    elseif opt == "f" or opt == "d" then
      n = n + 1 out[n] = floats.unpack(h.endian == LITTLE, byte(data, pos + 1, pos + size))
    elseif opt == "c" then
      if size == 0 then
        if n == 0 or tonumber(out[n]) == nil then
          fail("format 'c0' needs a previous size")
        end
        size = trunc(tonumber(out[n]))
        out[n] = nil
        n = n - 1
        if not (size <= ld and pos <= ld - size) then
          argerror(2, "data string too short")
        end
      end
      n = n + 1 out[n] = sub(data, pos + 1, pos + size)
    elseif opt == "s" then
      local e = find(data, "\0", pos + 1, true)
      if e == nil then fail("unfinished string in data") end
      size = e - pos
      n = n + 1 out[n] = sub(data, pos + 1, e - 1)
    else
      i = controloptions(opt, fmt, i, h)
    end
    pos = pos + size
  end
  -- (a negative start, wrapped by C's size_t, comes back unchanged with no options)
  n = n + 1 out[n] = pos + 1
  return out, n
end

-- struct.size(fmt)
local function size_(...)
  local nargs = select("#", ...)
  local fmt = checkstring((...), 1, nargs)
  local h = { endian = NATIVE, align = 1 }
  local pos = 0
  local i, flen = 1, #fmt
  while i <= flen do
    local opt = sub(fmt, i, i)
    i = i + 1
    local size
    size, i = optsize(opt, fmt, i)
    pos = pos + gettoalign(pos, h.align, opt, size)
    if opt == "s" then
      argerror(1, "option 's' has no fixed size")
    elseif opt == "c" and size == 0 then
      argerror(1, "option 'c0' has no fixed size")
    end
    if not find(opt, "^%w") then
      i = controloptions(opt, fmt, i, h)
    end
    pos = pos + size
  end
  return pos
end

return { pack = S.wrap1("pack", pack), unpack = S.wrapn("unpack", unpack_), size = S.wrap1("size", size_) }
