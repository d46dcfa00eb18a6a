-- Lua CJSON 2.1.0 as Redis 7.0 ships it to scripts (deps/lua/src/lua_cjson.c):
-- encode, decode, cjson.null, the configuration functions and cjson.new(). Numbers
-- are written with "%.14g" (encode_number_precision) and read as strtod reads them;
-- '/' is escaped as "\/", control bytes as \u00XX, other bytes pass through.
--
-- cjson.null is a light userdata NULL in C; pure Lua cannot make one, so it is a
-- zero-size full userdata (newproxy): type() says "userdata" as for the original,
-- and a script's reply turns it into a nil as Redis turns any userdata.
local S = ...
local byte, char, sub, find, match, gsub, format, lower =
  string.byte, string.char, string.sub, string.find, string.match, string.gsub, string.format, string.lower
local concat = table.concat
local select, type, next, rawget, rawset, tonumber, tostring =
  select, type, next, rawget, rawset, tonumber, tostring
local floor, huge = math.floor, math.huge
local ipairs, newproxy = ipairs, newproxy
local argerror, checkstring, checkinteger, toint32, fail, wrap1 =
  S.argerror, S.checkstring, S.checkinteger, S.toint32, S.fail, S.wrap1

local NULL = newproxy(false)
local INT_MAX = 2147483647

-- char2escape
local ESCAPES = {}
for c = 0, 31 do ESCAPES[char(c)] = format("\\u%04x", c) end
ESCAPES["\b"], ESCAPES["\t"], ESCAPES["\n"], ESCAPES["\f"], ESCAPES["\r"] = "\\b", "\\t", "\\n", "\\f", "\\r"
ESCAPES['"'], ESCAPES["/"], ESCAPES["\\"], ESCAPES["\127"] = '\\"', "\\/", "\\\\", "\\u007f"
local ESCAPE_PAT = '[%c"/\\]'
-- an object key without escapes and its colon, JSON whitespace around them
local KEY_PAT = '^[ \t\n\r]*"([^"\\%z]*)"[ \t\n\r]*:()'

-- escape2char
local UNESCAPES = { [34] = '"', [92] = "\\", [47] = "/", [98] = "\b", [116] = "\t",
  [110] = "\n", [102] = "\f", [114] = "\r" }

local function new()
  -- json_config_t, with its defaults
  local cfg = {
    sparse_convert = 0, sparse_ratio = 2, sparse_safe = 10,
    encode_max_depth = 1000, decode_max_depth = 1000,
    encode_invalid_numbers = 0, decode_invalid_numbers = 1,
    keep_buffer = 1, precision = 14, numfmt = "%.14g",
  }

  ---------------------------------------------------------------- encoding
  local function encode_string(s)
    if not find(s, ESCAPE_PAT) then return '"' .. s .. '"' end
    return '"' .. gsub(s, ESCAPE_PAT, ESCAPES) .. '"'
  end

  local function encode_number(num)
    if num ~= num or num == huge or num == -huge then
      local mode = cfg.encode_invalid_numbers
      if mode == 0 then fail("Cannot serialise number: must not be NaN or Inf") end
      if mode == 2 then return "null" end
      if num ~= num then return "nan" end
    end
    return format(cfg.numfmt, num)
  end

  -- lua_array_length: the largest key when every key is an integer >= 1, -1
  -- otherwise (or for a too sparse array that sparse_convert lets through).
  local function array_length(t)
    local max, items = 0, 0
    for k in next, t do
      if type(k) == "number" and k ~= 0 and floor(k) == k and k >= 1 then
        -- `int max = k` in C: past INT_MAX x86 stores INT_MIN
        if k > max then if k > INT_MAX then max = -2147483648 else max = k end end
        items = items + 1
      else
        return -1
      end
    end
    if cfg.sparse_ratio > 0 and max > items * cfg.sparse_ratio and max > cfg.sparse_safe then
      if cfg.sparse_convert == 0 then
        fail("Cannot serialise table: excessively sparse array")
      end
      return -1
    end
    return max
  end

  local append

  local function append_table(t, depth, out, n)
    depth = depth + 1
    if depth > cfg.encode_max_depth then
      fail(format("Cannot serialise, excessive nesting (%d)", depth))
    end
    local len = array_length(t)
    if len > 0 then
      n = n + 1 out[n] = "["
      for i = 1, len do
        if i > 1 then n = n + 1 out[n] = "," end
        n = append(rawget(t, i), depth, out, n)
      end
      n = n + 1 out[n] = "]"
      return n
    end
    n = n + 1 out[n] = "{"
    local comma = false
    for k, v in next, t do
      if comma then n = n + 1 out[n] = "," else comma = true end
      local kt = type(k)
      n = n + 1
      if kt == "number" then
        out[n] = '"' .. encode_number(k) .. '":'
      elseif kt == "string" then
        out[n] = encode_string(k) .. ":"
      else
        fail("Cannot serialise " .. kt .. ": table key must be a number or string")
      end
      n = append(v, depth, out, n)
    end
    n = n + 1 out[n] = "}"
    return n
  end

  append = function(v, depth, out, n)
    local t = type(v)
    if t == "string" then
      n = n + 1 out[n] = encode_string(v)
    elseif t == "number" then
      n = n + 1 out[n] = encode_number(v)
    elseif t == "boolean" then
      n = n + 1 out[n] = v and "true" or "false"
    elseif t == "table" then
      return append_table(v, depth, out, n)
    elseif t == "nil" or v == NULL then
      n = n + 1 out[n] = "null"
    else
      fail("Cannot serialise " .. t .. ": type not supported")
    end
    return n
  end

  -- cjson.encode(value)
  local function encode(...)
    if select("#", ...) ~= 1 then argerror(1, "expected 1 argument") end
    local v = ...
    local t = type(v)
    if t == "string" then return encode_string(v) end
    if t == "number" then return encode_number(v) end
    local out = {}
    local n = append(v, 0, out, 0)
    return concat(out, "", 1, n)
  end

  ---------------------------------------------------------------- decoding
  -- Tokens are (type, value, next position, position); positions are 1-based and
  -- the byte past the end reads as the NUL that ends a C string (T_END).
  local TOKEN = {}
  for c = 0, 255 do TOKEN[c] = "T_ERROR" end
  TOKEN[123], TOKEN[125], TOKEN[91], TOKEN[93] = "T_OBJ_BEGIN", "T_OBJ_END", "T_ARR_BEGIN", "T_ARR_END"
  TOKEN[44], TOKEN[58], TOKEN[0] = "T_COMMA", "T_COLON", "T_END"
  for _, c in ipairs({ 102, 105, 73, 110, 78, 116, 34, 43, 45 }) do TOKEN[c] = "T_UNKNOWN" end
  for c = 48, 57 do TOKEN[c] = "T_UNKNOWN" end

  -- json_is_invalid_number: what strtod takes but strict JSON does not.
  local function is_invalid_number(s, p)
    local c = byte(s, p) or 0
    if c == 43 then return true end
    if c == 45 then p = p + 1 c = byte(s, p) or 0 end
    if c == 48 then
      local c2 = byte(s, p + 1) or 0
      return c2 == 120 or c2 == 88 or (c2 >= 48 and c2 <= 57)
    elseif c <= 57 or c >= 128 then
      return false
    end
    local w = lower(sub(s, p, p + 2))
    return w == "inf" or w == "nan"
  end

  -- strtod at p: value and next position, or nil when it reads nothing.
  local function strtod(s, p)
    local q = p
    local c = byte(s, q)
    if c == 43 or c == 45 then q = q + 1 end
    local rest = lower(sub(s, q, q + 2))
    if rest == "inf" then
      local e = lower(sub(s, q, q + 7)) == "infinity" and q + 8 or q + 3
      return (c == 45) and -huge or huge, e
    elseif rest == "nan" then
      local e = q + 3
      local paren = match(s, "^%([%w_]*%)", e)
      if paren then e = e + #paren end
      return 0 / 0, e
    end
    local hex = match(s, "^0[xX]%x*%.?%x*", q)
    if hex and find(hex, "%x", 3) then
      local e = q + #hex
      local ex = match(s, "^[pP][-+]?%d+", e)
      if ex then e = e + #ex end
      return tonumber(sub(s, p, e - 1)), e
    end
    local m = match(s, "^%d*%.?%d*", q)
    if not find(m, "%d") then return nil end
    local e = q + #m
    local ex = match(s, "^[eE][-+]?%d+", e)
    if ex then e = e + #ex end
    return tonumber(sub(s, p, e - 1)), e
  end

  local function next_string(s, p)
    local parts, np = nil, 0
    local i = p + 1
    while true do
      local j = find(s, '["\\%z]', i)
      if j == nil then return "T_ERROR", "unexpected end of string", #s + 1, #s + 1 end
      local c = byte(s, j)
      if c == 34 then
        if parts == nil then return "T_STRING", sub(s, i, j - 1), j + 1, p end
        np = np + 1 parts[np] = sub(s, i, j - 1)
        return "T_STRING", concat(parts, "", 1, np), j + 1, p
      end
      if c == 0 then return "T_ERROR", "unexpected end of string", j, j end
      parts = parts or {}
      np = np + 1 parts[np] = sub(s, i, j - 1)
      local e = byte(s, j + 1) or 0
      if e == 117 then
        local h = match(s, "^%x%x%x%x", j + 2)
        local cp = h and tonumber(h, 16)
        local len = 6
        if cp and cp >= 0xD800 and cp <= 0xDFFF then
          if cp >= 0xDC00 or sub(s, j + 6, j + 7) ~= "\\u" then
            cp = nil
          else
            local h2 = match(s, "^%x%x%x%x", j + 8)
            local low = h2 and tonumber(h2, 16)
            if low and low >= 0xDC00 and low <= 0xDFFF then
              cp = (cp - 0xD800) * 1024 + (low - 0xDC00) + 0x10000
              len = 12
            else
              cp = nil
            end
          end
        end
        if cp == nil then return "T_ERROR", "invalid unicode escape code", j, j end
        local u
        if cp <= 0x7F then
          u = char(cp)
        elseif cp <= 0x7FF then
          u = char(0xC0 + floor(cp / 64), 0x80 + cp % 64)
        elseif cp <= 0xFFFF then
          u = char(0xE0 + floor(cp / 4096), 0x80 + floor(cp / 64) % 64, 0x80 + cp % 64)
        else
          u = char(0xF0 + floor(cp / 262144), 0x80 + floor(cp / 4096) % 64,
            0x80 + floor(cp / 64) % 64, 0x80 + cp % 64)
        end
        np = np + 1 parts[np] = u
        i = j + len
      else
        local u = UNESCAPES[e]
        if u == nil then return "T_ERROR", "invalid escape code", j, j end
        np = np + 1 parts[np] = u
        i = j + 2
      end
    end
  end

  local function next_token(s, p)
    local c = byte(s, p) or 0
    if c == 32 or c == 10 or c == 13 or c == 9 then
      p = find(s, "[^ \t\n\r]", p) or #s + 1
      c = byte(s, p) or 0
    end
    local tt = TOKEN[c]
    if tt == "T_ERROR" then return tt, "invalid token", p, p end
    if tt == "T_END" then return tt, nil, p, p end
    if tt ~= "T_UNKNOWN" then return tt, nil, p + 1, p end
    if c == 34 then return next_string(s, p) end
    if c == 45 or (c >= 48 and c <= 57) then
      if cfg.decode_invalid_numbers == 0 and is_invalid_number(s, p) then
        return "T_ERROR", "invalid number", p, p
      end
      -- the usual JSON number, read without strtod's other forms
      local m = match(s, "^-?%d+%.?%d*", p)
      if m then
        local e = p + #m
        local d = byte(s, e)
        if d == 101 or d == 69 then
          local ex = match(s, "^[eE][-+]?%d+", e)
          if ex then e = e + #ex end
          return "T_NUMBER", tonumber(sub(s, p, e - 1)), e, p
        elseif d ~= 120 and d ~= 88 then
          return "T_NUMBER", tonumber(m), e, p
        end
      end
      local v, e = strtod(s, p)
      if v == nil then return "T_ERROR", "invalid number", p, p end
      return "T_NUMBER", v, e, p
    end
    if sub(s, p, p + 3) == "true" then return "T_BOOLEAN", true, p + 4, p end
    if sub(s, p, p + 4) == "false" then return "T_BOOLEAN", false, p + 5, p end
    if sub(s, p, p + 3) == "null" then return "T_NULL", NULL, p + 4, p end
    if cfg.decode_invalid_numbers ~= 0 and is_invalid_number(s, p) then
      local v, e = strtod(s, p)
      if v == nil then return "T_ERROR", "invalid number", p, p end
      return "T_NUMBER", v, e, p
    end
    return "T_ERROR", "invalid token", p, p
  end

  local function throw(expected, tt, value, at)
    local found = tt == "T_ERROR" and value or tt
    fail(format("Expected %s but found %s at character %d", expected, found, at))
  end

  local value_of

  local function descend(depth, p)
    depth = depth + 1
    if depth > cfg.decode_max_depth then
      -- json->ptr - json->data: the 0-based offset just past the bracket
      fail(format("Found too many nested data structures (%d) at character %d", depth, p - 1))
    end
    return depth
  end

  local function parse_object(s, p, depth)
    depth = descend(depth, p)
    local t = {}
    local tt, v, at
    tt, v, p, at = next_token(s, p)
    if tt == "T_OBJ_END" then return t, p end
    while true do
      if tt ~= "T_STRING" then throw("object key string", tt, v, at) end
      local key = v
      tt, v, p, at = next_token(s, p)
      if tt ~= "T_COLON" then throw("colon", tt, v, at) end
      tt, v, p, at = next_token(s, p)
      v, p = value_of(s, tt, v, p, at, depth)
      rawset(t, key, v)
      tt, v, p, at = next_token(s, p)
      if tt == "T_OBJ_END" then return t, p end
      if tt ~= "T_COMMA" then throw("comma or object end", tt, v, at) end
      -- The usual next key, `"plain":`, in one match; anything else (escapes,
      -- errors) goes through the tokenizer from the same place.
      local k, after = match(s, KEY_PAT, p)
      if k then
        tt, v, p, at = next_token(s, after)
        v, p = value_of(s, tt, v, p, at, depth)
        rawset(t, k, v)
        tt, v, p, at = next_token(s, p)
        if tt == "T_OBJ_END" then return t, p end
        if tt ~= "T_COMMA" then throw("comma or object end", tt, v, at) end
      end
      tt, v, p, at = next_token(s, p)
    end
  end

  local function parse_array(s, p, depth)
    depth = descend(depth, p)
    local t = {}
    local tt, v, at
    tt, v, p, at = next_token(s, p)
    if tt == "T_ARR_END" then return t, p end
    local i = 1
    while true do
      v, p = value_of(s, tt, v, p, at, depth)
      rawset(t, i, v)
      tt, v, p, at = next_token(s, p)
      if tt == "T_ARR_END" then return t, p end
      if tt ~= "T_COMMA" then throw("comma or array end", tt, v, at) end
      tt, v, p, at = next_token(s, p)
      i = i + 1
    end
  end

  value_of = function(s, tt, v, p, at, depth)
    if tt == "T_STRING" or tt == "T_NUMBER" or tt == "T_BOOLEAN" or tt == "T_NULL" then
      return v, p
    elseif tt == "T_OBJ_BEGIN" then
      return parse_object(s, p, depth)
    elseif tt == "T_ARR_BEGIN" then
      return parse_array(s, p, depth)
    end
    throw("value", tt, v, at)
  end

  -- cjson.decode(text)
  local function decode(...)
    local nargs = select("#", ...)
    if nargs ~= 1 then argerror(1, "expected 1 argument") end
    local s = checkstring((...), 1, nargs)
    if #s >= 2 and (byte(s, 1) == 0 or byte(s, 2) == 0) then
      fail("JSON parser does not support UTF-16 or UTF-32")
    end
    local tt, v, p, at = next_token(s, 1)
    local result
    result, p = value_of(s, tt, v, p, at, 0)
    tt, v, p, at = next_token(s, p)
    if tt ~= "T_END" then throw("the end", tt, v, at) end
    return result
  end

  ---------------------------------------------------------------- configuration
  -- json_arg_init: at most `args` arguments.
  local function arg_init(nargs, args)
    if nargs > args then argerror(args + 1, "found too many arguments") end
  end

  local BOOL_OPTIONS = { "off", "on" }

  -- json_enum_option: true/false or one of `options` (0-based setting).
  local function enum_option(v, idx, nargs, key, options)
    if v ~= nil then
      if type(v) == "boolean" then
        cfg[key] = v and 1 or 0
      else
        local name = checkstring(v, idx, nargs)
        local found
        for i, o in ipairs(options) do if o == name then found = i - 1 end end
        if found == nil then argerror(idx, format("invalid option '%s'", name)) end
        cfg[key] = found
      end
    end
    local setting = cfg[key]
    if setting == 0 or setting == 1 then return setting == 1 end
    return options[setting + 1]
  end

  -- json_integer_option: an int in [min, max]; the range error always names arg 1.
  local function integer_option(v, idx, nargs, key, min, max)
    if v ~= nil then
      local value = toint32(checkinteger(v, idx, nargs))
      if not (min <= value and value <= max) then
        argerror(1, format("expected integer between %d and %d", min, max))
      end
      cfg[key] = value
    end
    return cfg[key]
  end

  local M = { encode = wrap1("encode", encode), decode = wrap1("decode", decode) }

  -- cjson.encode_sparse_array([convert [, ratio [, safe]]])
  local function encode_sparse_array(...)
    local nargs = select("#", ...)
    arg_init(nargs, 3)
    local a, b, c = ...
    local convert = enum_option(a, 1, nargs, "sparse_convert", BOOL_OPTIONS)
    local ratio = integer_option(b, 2, nargs, "sparse_ratio", 0, INT_MAX)
    local safe = integer_option(c, 3, nargs, "sparse_safe", 0, INT_MAX)
    return { convert, ratio, safe }, 3
  end
  M.encode_sparse_array = S.wrapn("encode_sparse_array", encode_sparse_array)

  local function integer_setting(fname, key, min, max, after)
    return wrap1(fname, function(...)
      local nargs = select("#", ...)
      arg_init(nargs, 1)
      local r = integer_option((...), 1, nargs, key, min, max)
      if after then after() end
      return r
    end)
  end
  M.encode_max_depth = integer_setting("encode_max_depth", "encode_max_depth", 1, INT_MAX)
  M.decode_max_depth = integer_setting("decode_max_depth", "decode_max_depth", 1, INT_MAX)
  M.encode_number_precision = integer_setting("encode_number_precision", "precision", 1, 14,
    function() cfg.numfmt = "%." .. cfg.precision .. "g" end)

  local function enum_setting(fname, key, options)
    return wrap1(fname, function(...)
      local nargs = select("#", ...)
      arg_init(nargs, 1)
      return enum_option((...), 1, nargs, key, options)
    end)
  end
  -- The buffer kept between calls is a C allocation detail; only the setting shows.
  M.encode_keep_buffer = enum_setting("encode_keep_buffer", "keep_buffer", BOOL_OPTIONS)
  M.encode_invalid_numbers = enum_setting("encode_invalid_numbers", "encode_invalid_numbers",
    { "off", "on", "null" })
  M.decode_invalid_numbers = enum_setting("decode_invalid_numbers", "decode_invalid_numbers", BOOL_OPTIONS)

  M.new = new
  M.null = NULL
  M._NAME = "cjson"
  M._VERSION = "2.1.0"
  return M
end

return new()
