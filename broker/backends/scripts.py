"""Lua scripts with exactly the effects of FANOUT.PUBLISH / JOIN / LEAVE (``broker.commands.fanout``).

A real Redis or Valkey has no FANOUT.* commands, so ``RedisBackend`` runs these
with EVALSHA. Keys are passed as KEYS (hash-tagged ``{<channel>}``, so on a
Redis Cluster they share the channel's slot, and so does the channel itself
for SPUBLISH). The last ARGV names the publish command: PUBLISH, or SPUBLISH on
a cluster. ``tests/integration/test_backend_scripts_diff.py`` runs the same
sequence through these scripts on redis-server and through FANOUT.* on our
broker and compares keys and pub/sub messages.

Lua 5.1 numbers are doubles, printed with ``%.14g``: times are built from the
strings TIME returns rather than multiplied, so they never turn into ``1.7e+12``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

__all__ = ["Script", "HISTORY_PUBLISH", "ONCE_HISTORY_PUBLISH", "ONCE_PUBLISH", "PRESENCE_JOIN", "PRESENCE_LEAVE"]


@dataclass(frozen=True)
class Script:
    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())


# KEYS: history:{ch}, history:{ch}:meta
# ARGV: channel, maxlen, ttl_ms, data, publish command      -> {offset, epoch}
HISTORY_PUBLISH = Script("""
local function int(s)
  if not string.match(s, '^-?%d+$') then
    return redis.error_reply('ERR value is not an integer or out of range')
  end
  return tonumber(s)
end
local maxlen = int(ARGV[2])
if type(maxlen) == 'table' then return maxlen end
local ttl = int(ARGV[3])
if type(ttl) == 'table' then return ttl end
if maxlen < 1 or ttl < 1 then
  return redis.error_reply('ERR maxlen and ttl must be positive')
end
local offset = redis.call('HINCRBY', KEYS[2], 'offset', 1)
local epoch = false
if offset ~= 1 then epoch = redis.call('HGET', KEYS[2], 'epoch') end
if not epoch then
  -- a new epoch starts a new stream; one that never had an entry (consumer groups
  -- made with MKSTREAM before the first message) is kept, with its groups
  if offset == 1 then
    local keep = false
    if redis.call('TYPE', KEYS[1]).ok == 'stream' and redis.call('XLEN', KEYS[1]) == 0 then
      local info = redis.call('XINFO', 'STREAM', KEYS[1])
      for i = 1, #info, 2 do
        if info[i] == 'last-generated-id' then keep = info[i + 1] == '0-0' end
      end
    end
    if not keep then redis.call('DEL', KEYS[1]) end
  end
  local now = redis.call('TIME')
  epoch = now[1] .. string.format('%06d', tonumber(now[2]))
  redis.call('HSET', KEYS[2], 'epoch', epoch)
end
local now = redis.call('TIME')
local now_ms = now[1] .. string.format('%03d', math.floor(tonumber(now[2]) / 1000))
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], offset .. '-0', 'd', ARGV[4], 't', now_ms)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call(ARGV[5], ARGV[1], '\\030h' .. offset .. ':' .. epoch .. ':' .. ARGV[4])
return {offset, epoch}
""")

# FANOUT.ONCE <key> <window> FANOUT.PUBLISH ...: HISTORY_PUBLISH unless the key exists.
# KEYS: history:{ch}, history:{ch}:meta, once:{ch}:<key>
# ARGV: channel, maxlen, ttl_ms, data, publish command, window_ms -> {duplicate, offset, epoch}
_ONCE_CHECK = """
local seen = redis.call('GET', KEYS[3])
if seen then
  local colon = string.find(seen, ':', 1, true)
  return {1, tonumber(string.sub(seen, 1, colon - 1)), string.sub(seen, colon + 1)}
end
"""
ONCE_HISTORY_PUBLISH = Script(_ONCE_CHECK + HISTORY_PUBLISH.source.replace(
    "return {offset, epoch}\n",
    "redis.call('SET', KEYS[3], offset .. ':' .. epoch, 'PX', ARGV[6])\nreturn {0, offset, epoch}\n"))

# FANOUT.ONCE <key> <window> PUBLISH|SPUBLISH channel data
# KEYS: once:{ch}:<key>
# ARGV: channel, data, publish command, window_ms            -> {duplicate, 0, ""}
ONCE_PUBLISH = Script("""
if redis.call('GET', KEYS[1]) then return {1, 0, ''} end
redis.call(ARGV[3], ARGV[1], ARGV[2])
redis.call('SET', KEYS[1], '0:', 'PX', ARGV[4])
return {0, 0, ''}
""")

# KEYS: presence:{ch}, presence:{ch}:users
# ARGV: channel, conn, user, meta, publish command          -> {added, first}
PRESENCE_JOIN = Script("""
if redis.call('HSET', KEYS[1], ARGV[2], ARGV[4]) == 0 then return {0, 0} end
local first = 0
if redis.call('HINCRBY', KEYS[2], ARGV[3], 1) == 1 then first = 1 end
redis.call(ARGV[5], ARGV[1], '\\030pj' .. first .. ARGV[4])
return {1, first}
""")

# KEYS: presence:{ch}, presence:{ch}:users
# ARGV: channel, conn, user, publish command                -> {removed, last}
PRESENCE_LEAVE = Script("""
local meta = redis.call('HGET', KEYS[1], ARGV[2])
if not meta then return {0, 0} end
redis.call('HDEL', KEYS[1], ARGV[2])
local last = 0
if redis.call('HINCRBY', KEYS[2], ARGV[3], -1) <= 0 then
  redis.call('HDEL', KEYS[2], ARGV[3])
  last = 1
end
redis.call(ARGV[4], ARGV[1], '\\030pl' .. last .. meta)
return {1, last}
""")
