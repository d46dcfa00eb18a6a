"""The Lua side of the sandbox: run once per interpreter, before any script.

It does in Lua what Redis 7.0's ``script_lua.c`` and ``eval.c`` do in C: drop
what Redis does not load (``os``, ``io``, ``package``, ``require``, ``loadfile``,
``dofile``, ``print``, ``debug`` after the error handler took it), build the
``redis`` table, replace ``pcall`` and ``math.random``, and lock the globals.

Redis locks tables with a patched Lua (``lua_enablereadonlytable``); lupa's Lua
5.1 has no such flag, so the locking is done with proxies: scripts see ``_G``,
``string``, ``math``, ``table``, ``redis``, ... as empty tables whose metatables
read through to the real ones and refuse writes with Redis's message, and the
thread's global table is the ``_G`` proxy (so ``getfenv(0)`` and chunks made by
``loadstring`` see it too). ``rawset`` and ``setmetatable`` refuse those proxies.
One visible difference: ``pairs``/``next`` over a locked table find nothing.

The chunk gets ``py``, a table of Python callables, and returns a table of the
functions the engine calls. The Python callables are kept in upvalues only, and
``debug`` is gone once the chunk ends, so scripts cannot reach them.
"""

from __future__ import annotations

__all__ = ["PRELUDE", "API_SOURCE"]

# The chunk name of the prelude: frames from it are skipped when an error is
# located, so an error raised by redis.call points at the script's line.
API_SOURCE = "=fanout_scripting"

PRELUDE = r"""
local py, hook_count = ...
local G = _G
local dbg = debug
local type, error, select, tostring, tonumber, rawget, rawset = type, error, select, tostring, tonumber, rawget, rawset
local setmetatable, getmetatable, unpack, next, xpcall, pcall = setmetatable, getmetatable, unpack, next, xpcall, pcall
local loadstring, setfenv, floor, ceil, concat = loadstring, setfenv, math.floor, math.ceil, table.concat
local collectgarbage = collectgarbage
local dump, byte, gsub = string.dump, string.byte, string.gsub
local load = load
local unwrap = py.unwrap
-- The locked view of the globals scripts get (its metatable is set at the end).
-- Every function made below has it as environment, so getfenv(redis.call) does
-- not hand a script the real table; they use only the locals above.
local globals = {}
setfenv(1, globals)

-- What Redis never loads (package, os, io) or removes (dofile, loadfile, print), and lupa's own.
for _, name in next, {'os', 'io', 'package', 'require', 'module', 'loadfile', 'dofile', 'print',
                      'debug', 'python'} do
  G[name] = nil
end

-- ------------------------------------------------------------ errors

-- {err='CODE message'} as luaPushErrorBuff builds it: a leading '-' means the
-- first word is the code; otherwise the code is ERR. ``counted``: the error is in
-- INFO errorstats already (a command's error, or scriptCall's refusal), so the
-- script's reply of it is not counted again (ignore_error_stats_update).
local function err_table(message, counted)
  if counted then return {err = message, ignore_error_stats_update = true} end
  return {err = message}
end

local handling = false
-- True while a script (or a library's code at FUNCTION LOAD) runs: see nonexistent().
local running = false

-- __redis__err__handler: add where the error happened (the script's frame, not a
-- C function's nor one of this prelude's).
local function handler(err)
  handling = true
  local level = 2
  local i = dbg.getinfo(level, 'nSl')
  if i and i.what == 'C' then
    level = 3
    i = dbg.getinfo(level, 'nSl')
  end
  while i and i.source == '=fanout_scripting' do
    level = level + 1
    i = dbg.getinfo(level, 'nSl')
  end
  if type(err) == 'userdata' then err = unwrap(err) end
  if type(err) ~= 'table' then
    err = {err = 'ERR ' .. tostring(err)}
  end
  if i then
    err['source'] = i.source
    err['line'] = i.currentline
  end
  return err
end

-- ------------------------------------------------------------ runaway scripts

local check = py.check
local function hook()
  if handling then return end
  if check() then
    -- From now on every instruction fails, so a pcall in the script cannot
    -- swallow the stop and go on looping (as luaMaskCountHook does for SCRIPT KILL).
    dbg.sethook(hook, '', 1)
    error(py.killed())
  end
end
dbg.sethook(hook, '', hook_count)

local function rearm()
  handling = true
  dbg.sethook(hook, '', hook_count)
  handling = false
end

-- ------------------------------------------------------------ the redis table

local redis = {}
-- Python callables are C functions to Lua, so `return redis.call(...)` keeps the
-- script's frame (no tail call) and an error points at the script's line, as in
-- Redis. redis.call raises by raising a Python exception that carries the error
-- table; `unwrap` turns the Lua error object lupa makes of it back into the table.
--
-- lupa hands a Python callable at most 7997 arguments (it checks the Lua stack for
-- its own two slots), where Redis's C redis.call takes all the stack holds
-- (LUAI_MAXCSTACK: `redis.call('lpush', 'l', unpack(t))` of 7999 values): past
-- MAX_DIRECT they go to Python as one table. (A Lua function now, so a script's
-- `return redis.call(...)` would be a tail call; the script's compiled tail calls are
-- plain calls, tailcalls.untail, so its frame stays. The parentheses keep this
-- frame for the error handler to skip.)
local pycall, pypcall, call_table, pcall_table = py.call, py.pcall, py.call_table, py.pcall_table
local MAX_DIRECT = 7900
redis.call = function(...)
  local n = select('#', ...)
  if n < MAX_DIRECT then return (pycall(...)) end
  return (call_table({...}, n))
end
redis.pcall = function(...)
  local n = select('#', ...)
  if n < MAX_DIRECT then return (pypcall(...)) end
  return (pcall_table({...}, n))
end

-- These raise from Python (C functions to Lua, so `return redis.setresp(4)` keeps
-- the script's line in the error, as Redis's C functions do).
redis.setresp = py.setresp
redis.log = py.log
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.set_repl = py.set_repl
redis.replicate_commands = function() return true end
-- The debugger (SCRIPT DEBUG) is not offered: outside it Redis answers false / nothing.
redis.breakpoint = function() return false end
redis.debug = function() end
redis.sha1hex = py.sha1hex

redis.error_reply = function(...)
  local e = ...
  if select('#', ...) ~= 1 or type(e) ~= 'string' then
    return err_table('ERR wrong number or type of arguments')
  end
  if e:sub(1, 1) ~= '-' then e = '-' .. e end
  local space = e:find(' ', 1, true)
  local code, msg
  if space then
    code, msg = e:sub(2, space - 1), e:sub(space + 1)
  else
    code, msg = 'ERR', e:sub(2)
  end
  msg = msg:gsub('^[\r\n]+', ''):gsub('[\r\n]+$', '')
  return err_table(code .. ' ' .. msg)
end
redis.status_reply = function(...)
  local s = ...
  if select('#', ...) ~= 1 or type(s) ~= 'string' then
    return err_table('ERR wrong number or type of arguments')
  end
  return {ok = s}
end

redis.acl_check_cmd = py.acl_check_cmd

redis.REDIS_VERSION = py.version
redis.REDIS_VERSION_NUM = py.version_num

G.redis = redis

-- pcall turns a Redis error table into its message, as luaRedisPcall does.
local function pcall_result(ok, ...)
  if not ok then
    local e = ...
    if type(e) == 'userdata' then e = unwrap(e) end
    if type(e) == 'table' then
      local m = e.err
      if type(m) == 'string' or type(m) == 'number' then return false, m end
    end
    return false, e
  end
  return true, ...
end
G.pcall = function(...)
  return pcall_result(pcall(...))
end

-- ------------------------------------------------------------ no precompiled chunks

-- Redis's Lua parses every chunk as text (its f_parser has no undump: bytecode can
-- break the VM), so a precompiled chunk fails as text fails at its first byte, ESC.
-- The message is Lua's own for that chunk name: the one of a chunk '\1', reworded.
local function binary_refusal(name)
  local _, message = loadstring('\1', name)
  return (gsub(message, "char%(1%)'$", "char(27)'"))
end
local function is_binary(s)
  return type(s) == 'string' and byte(s, 1) == 27
end
-- luaL_checktype's error, located at the script's call as the C function's would be.
local function bad_argument(fname, expected, argc, value)
  local got = argc == 0 and 'no value' or type(value)
  error("bad argument #1 to '" .. fname .. "' (" .. expected .. " expected, got " .. got .. ")", 3)
end
G.loadstring = function(...)
  local s, name = ...
  local kind = type(s)
  if kind ~= 'string' and kind ~= 'number' then bad_argument('loadstring', 'string', select('#', ...), s) end
  if is_binary(s) then return nil, binary_refusal(name or s) end
  return loadstring(s, name)
end
G.load = function(...)
  local reader, name = ...
  if type(reader) ~= 'function' then bad_argument('load', 'function', select('#', ...), reader) end
  local first, binary = true, false
  local function read()
    local piece = reader()
    if first then
      first = false
      if is_binary(piece) then
        binary = true
        return nil
      end
    end
    return piece
  end
  local f, message = load(read, name)
  if binary then return nil, binary_refusal(name or '=(load)') end
  return f, message
end

-- ------------------------------------------------------------ math.random (redisLrand48)

local rand = py.rand
local math_ = G.math
math_.random = function(...)
  local r = rand()
  local argc = select('#', ...)
  if argc == 0 then return r end
  local u = tonumber((select(argc, ...)))
  if argc > 2 then error('wrong number of arguments', 2) end
  local function checkint(n, v)
    local x = tonumber(v)
    if x == nil then
      error("bad argument #" .. n .. " to 'random' (number expected, got " ..
            (v == nil and 'no value' or type(v)) .. ")", 3)
    end
    return x >= 0 and floor(x) or ceil(x)
  end
  if argc == 1 then
    u = checkint(1, (...))
    if u < 1 then error("bad argument #1 to 'random' (interval is empty)", 2) end
    return floor(r * u) + 1
  end
  local l, v = ...
  l = checkint(1, l)
  u = checkint(2, v)
  if l > u then error("bad argument #2 to 'random' (interval is empty)", 2) end
  return floor(r * (u - l + 1)) + l
end
local srand = py.srand
math_.randomseed = function(seed)
  local x = tonumber(seed)
  if x == nil then
    error("bad argument #1 to 'randomseed' (number expected, got " ..
          (seed == nil and 'no value' or type(seed)) .. ")", 2)
  end
  srand(x >= 0 and floor(x) or ceil(x))
end

-- ------------------------------------------------------------ locking

local protected = setmetatable({}, {__mode = 'k'})
local function readonly()
  error('Attempt to modify a readonly table', 2)
end
local function lock(real)
  local proxy = {}
  setmetatable(proxy, {__index = real, __newindex = readonly, __metatable = false})
  protected[proxy] = true
  return proxy
end

G.rawset = function(t, k, v)
  if protected[t] then error('Attempt to modify a readonly table', 0) end
  return rawset(t, k, v)
end
G.setmetatable = function(t, mt)
  if protected[t] then error('Attempt to modify a readonly table', 0) end
  return setmetatable(t, mt)
end
G.setfenv = function(f, env)
  if f == 0 then error('Attempt to modify a readonly table', 0) end
  return setfenv(f, env)
end

for _, name in next, {'string', 'math', 'table', 'coroutine', 'redis', 'cjson', 'cmsgpack', 'bit', 'struct'} do
  if type(rawget(G, name)) == 'table' then rawset(G, name, lock(rawget(G, name))) end
end
local string_meta = getmetatable('')
string_meta.__index = rawget(G, 'string')
string_meta.__metatable = lock(string_meta)

local globals_meta = {__index = G, __newindex = readonly}
setmetatable(globals, globals_meta)
protected[globals] = true
rawset(G, '_G', globals)

-- ------------------------------------------------------------ libraries, on first use

-- Redis's cjson, struct, cmsgpack and bit are C and cost its interpreter nothing
-- until used; ours are Lua code (broker/scripting/libs), about 90 KB of the heap
-- once loaded. So each is loaded the first time a script reads its global (a read
-- that misses G), and stays: the same files, arguments and locked table as when
-- they were loaded before this prelude. While a library's chunk runs, G holds the
-- values it had then (debug, the unwrapped pcall/rawset/...): what the library
-- captures in its locals is what it captured when loaded first. Nothing but the
-- library's own code runs meanwhile.
local lib_source, lib_host = py.library_source, py.library_host
local lib_originals = {debug = dbg, pcall = pcall, loadstring = loadstring, load = load, rawset = rawset,
                       setmetatable = setmetatable, setfenv = setfenv}
local lib_parts = {}
local function run_library(file, ...)
  local chunk = loadstring(lib_source(file), '=fanout_scripting')
  setfenv(chunk, G)
  local saved = {}
  for name, value in next, lib_originals do
    saved[name] = rawget(G, name)
    rawset(G, name, value)
  end
  local ok, a, b = pcall(chunk, ...)
  for name in next, lib_originals do rawset(G, name, saved[name]) end
  if not ok then error(a, 0) end
  return a, b
end
local library
local lib_builders = {
  bit = function(S)
    local b, uand = run_library('bit.lua', S)
    lib_parts.uand = uand
    return b
  end,
  struct = function(S)
    if lib_parts.uand == nil then library('bit') end
    return run_library('struct.lua', S, lib_host, lib_parts.uand)
  end,
  cmsgpack = function(S) return run_library('cmsgpack.lua', S, lib_host) end,
  cjson = function(S) return run_library('cjson.lua', S) end,
}
if lib_source == nil then lib_builders = {} end
-- The locked table of the library `name`, loading it (and what it needs) first.
library = function(name)
  local t = rawget(G, name)
  if t ~= nil then return t end
  if lib_parts.support == nil then lib_parts.support = run_library('support.lua') end
  t = lock(lib_builders[name](lib_parts.support))
  rawset(G, name, t)
  return t
end

local function nonexistent(t, name)
  -- lupa looks up the global 'debug' from C around its calls into Lua: answer it
  -- nil (a lookup from C, not from a script) instead of raising where nothing catches.
  -- Outside a script only lupa's own lookup (before every call from Python) can
  -- get here: answer it first, without the getinfo below, which costs about as much
  -- as the rest of entering a script.
  if name == 'debug' and not running then return nil end
  -- a library not loaded yet (G itself missed: not FUNCTION LOAD's globals)
  if t == G and lib_builders[name] ~= nil then return library(name) end
  if name == 'debug' then
    local caller = dbg.getinfo(2, 'S')
    if caller == nil or caller.what == 'C' then return nil end
  end
  error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
end
setmetatable(G, {__index = nonexistent, __newindex = readonly, __metatable = false})
-- What getmetatable(_G) gives (to scripts and functions alike), read-only as Redis
-- protects the globals' metatable: its __index, the function that raises on a
-- nonexistent global.
globals_meta.__metatable = lock({__index = nonexistent})

-- What a library's code sees while FUNCTION LOAD runs it (LIBRARY_API in function_lua.c):
-- redis.register_function, redis.log and the version fields, nothing else.
-- (register_function only here: a called function or an EVAL script finds it nil,
-- "attempt to call field 'register_function' (a nil value)", as in Redis.)
local load_redis = {register_function = py.register_function, log = redis.log,
                    LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
                    REDIS_VERSION = redis.REDIS_VERSION, REDIS_VERSION_NUM = redis.REDIS_VERSION_NUM}
setmetatable(load_redis, {__index = nonexistent, __newindex = readonly, __metatable = false})
local load_globals = {redis = lock(load_redis)}
setmetatable(load_globals, {__index = nonexistent, __newindex = readonly, __metatable = false})
local function set_load_mode(on)
  globals_meta.__index = on and load_globals or G
end

-- ------------------------------------------------------------ replies

-- One call from Python per table: what kind of reply it is, and its parts
-- (luaReplyToRedisReply's order of checks: err, ok, double, big_number,
-- verbatim_string, map, set, array).
local MAX_UNPACK = 4000
local function classify(t)
  local v = rawget(t, 'err')
  if type(v) == 'string' then return 'e', v, rawget(t, 'ignore_error_stats_update') end
  v = rawget(t, 'ok')
  if type(v) == 'string' then return 'o', v end
  v = rawget(t, 'double')
  if type(v) == 'number' then return 'd', v end
  v = rawget(t, 'big_number')
  if type(v) == 'string' then return 'n', v end
  v = rawget(t, 'verbatim_string')
  if type(v) == 'table' then
    local f, s = rawget(v, 'format'), rawget(v, 'string')
    if type(f) == 'string' and type(s) == 'string' then return 'v', f, s end
  end
  v = rawget(t, 'map')
  if type(v) == 'table' then
    local flat, n = {}, 0
    for key, value in next, v do
      flat[n + 1], flat[n + 2] = key, value
      n = n + 2
    end
    if n <= MAX_UNPACK then return 'm', unpack(flat, 1, n) end
    return 'M', flat, n
  end
  v = rawget(t, 'set')
  if type(v) == 'table' then
    local flat, n = {}, 0
    for key in next, v do
      n = n + 1
      flat[n] = key
    end
    if n <= MAX_UNPACK then return 's', unpack(flat, 1, n) end
    return 'S', flat, n
  end
  local n = 0
  while rawget(t, n + 1) ~= nil do n = n + 1 end
  if n <= MAX_UNPACK then return 'a', unpack(t, 1, n) end
  return 'A', t, n
end

-- A script's outcome: (0, value) | (1, kind, parts...) | (2, message, source, line, counted) | (3, text)
local function outcome(ok, res)
  if not ok then
    if type(res) == 'table' then
      return 2, rawget(res, 'err'), rawget(res, 'source'), rawget(res, 'line'),
             rawget(res, 'ignore_error_stats_update')
    end
    return 3, tostring(res)
  end
  if type(res) == 'table' then return 1, classify(res) end
  return 0, res
end

-- What run_eval / run_function return: the script's value itself when it is not a
-- table and no error happened (one value, the commonest case: no tuple on the
-- Python side), else outcome()'s codes.
local function result(ok, res)
  if ok and type(res) ~= 'table' then return res end
  return outcome(ok, res)
end

-- KEYS and ARGV come as varargs after their count (one call from Python, no
-- table built on the Python side), or as two tables when the count is -1.
-- Two tables, not three: the keys' table is made of all the values and its tail
-- moved to ARGV (its border stays at nkeys: the moved slots are nil).
local function collect(nkeys, ...)
  if nkeys < 0 then return ... end
  if nkeys == 0 then return {}, {...} end
  local keys, argv = {...}, {}
  local n = select('#', ...)
  for i = nkeys + 1, n do
    argv[i - nkeys] = keys[i]
    keys[i] = nil
  end
  return keys, argv
end

-- KEYS/ARGV exist in G from the first EVAL on (rawset: G refuses new globals);
-- from then on a plain assignment replaces them, without two rawset calls.
local have_keys = false
local function eval_tables(f, keys, argv)
  if have_keys then
    G.KEYS, G.ARGV = keys, argv
  else
    rawset(G, 'KEYS', keys)
    rawset(G, 'ARGV', argv)
    have_keys = true
  end
  handling = false
  running = true
  local ok, res = xpcall(f, handler)
  running = false
  return result(ok, res)
end

local function run_eval(f, nkeys, ...)
  return eval_tables(f, collect(nkeys, ...))
end

-- A function's callback and arguments, kept here for the duration of the call so
-- xpcall needs no closure made per call.
local current_f, current_keys, current_argv
local function call_current()
  return current_f(current_keys, current_argv)
end

local function function_tables(f, keys, argv)
  current_f, current_keys, current_argv = f, keys, argv
  handling = false
  running = true
  local ok, res = xpcall(call_current, handler)
  running = false
  current_f, current_keys, current_argv = nil, nil, nil
  return result(ok, res)
end

local function run_function(f, nkeys, ...)
  return function_tables(f, collect(nkeys, ...))
end

-- Entry points of fixed arity for few keys and arguments, the common calls:
-- run(f, k1, a1) builds {k1}, {a1} with table constructors, no varargs to walk.
-- Made with loadstring when an arity is first used (each costs the heap about
-- 400 bytes, and an interpreter uses few of the FIXED * FIXED), named as this chunk
-- so error locations skip them as they skip the rest of the prelude.
local FIXED = 4
local runners = {eval = eval_tables, ['function'] = function_tables}
local function fixed_entry(kind, nkeys, nargs)
  local params, keys, args = {'f'}, {}, {}
  for i = 1, nkeys do keys[i] = 'k' .. i; params[#params + 1] = keys[i] end
  for i = 1, nargs do args[i] = 'a' .. i; params[#params + 1] = args[i] end
  local source = 'local run = ... return function(' .. concat(params, ', ') .. ') return run(f, {' ..
                 concat(keys, ', ') .. '}, {' .. concat(args, ', ') .. '}) end'
  return loadstring(source, '=fanout_scripting')(runners[kind])
end

local function compile(body, name)
  if is_binary(body) then return nil, binary_refusal(name) end
  local f, message = loadstring(body, name)
  if f == nil then return nil, message end
  return f
end

-- The compiled chunk's bytecode, and a chunk loaded back from patched bytecode
-- (tailcalls.untail: see Sandbox.compile).
local function load_binary(code, name)
  return loadstring(code, name)
end

-- FUNCTION LOAD: run the library's code with the error handler; report as run_eval.
local function run_load(f)
  handling = false
  running = true
  local ok, res = xpcall(f, handler)
  running = false
  return outcome(ok, res)
end

local function gc(step)
  if step then return collectgarbage('step', step) end
  collectgarbage('collect')
end

-- From here on, every chunk and getfenv(0) sees the locked globals.
setfenv(0, globals)

return {
  run_eval = run_eval, run_function = run_function, run_load = run_load, compile = compile,
  dump = dump, load_binary = load_binary, fixed_entry = fixed_entry, fixed = FIXED,
  classify = classify, rearm = rearm, gc = gc, set_load_mode = set_load_mode,
  memory = function() return collectgarbage('count') end,
  table = function() return {} end,
  err = err_table,
}
"""
