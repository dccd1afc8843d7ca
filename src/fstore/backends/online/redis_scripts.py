"""The Lua scripts of the Redis online store (see ``redis.py``).

A value record is a JSON array whose first element is the event time, an integer
(``[1700000000000000,1.5,0.3,"1.0.0"]``), so a script reads it with one pattern match. Event
times are compared as decimal strings: exact for any 64-bit integer, where a Lua number
(a double) would round above 2^53.

Last write wins: a stored record with a newer event time is kept; otherwise the new record
replaces it (equal event times: the new write wins). An identical record (a
re-materialisation) is not rewritten and not counted; only its expiry follows the write.

Expiry: ``ttl`` is the feature's TTL in ms (``"0"``: none, which also clears an older
expiry); a written key expires at its record's event time + ``ttl`` (``PXAT``), not at the
write time + ``ttl``, so Redis forgets a value exactly when serving calls it expired. (The
event time in µs converts to a Lua double exactly up to ~2255; a later expiry is none.) The
caller does not send values that have expired already.
A script reads all its keys before it writes any, so a script that fails (a cluster node
refusing a key) has written nothing.
"""

from __future__ import annotations

import hashlib

_LAST_WRITE_WINS = """
local function event_time(record)
  return string.match(record, '^%[(%-?%d+)')
end
-- is the decimal integer a smaller than the decimal integer b?
local function less(a, b)
  local neg_a, neg_b = string.byte(a, 1) == 45, string.byte(b, 1) == 45
  if neg_a ~= neg_b then return neg_a end
  local lt
  if #a ~= #b then lt = #a < #b else lt = a < b end
  if neg_a then return a ~= b and not lt end
  return lt
end
-- the absolute expiry (unix ms, as a decimal string) of a record, false for none
local function expires_at(record, ttl)
  if ttl == '0' then return false end
  local at = math.floor(tonumber(event_time(record)) / 1000) + tonumber(ttl)
  if at > 9007199254740991 then return false end
  if at < 1 then at = 1 end  -- expired already: Redis drops it at once
  return string.format('%.0f', at)
end
-- write record new at key (stored record: current, false if none) unless a newer one is
-- stored; 1 if written
local function put(key, new, current, ttl)
  local at = expires_at(new, ttl)
  if current == new then
    if at then redis.call('PEXPIREAT', key, at) else redis.call('PERSIST', key) end
    return 0
  end
  local stored = current and event_time(current)
  if stored and less(event_time(new), stored) then
    return 0
  end
  if at then redis.call('SET', key, new, 'PXAT', at) else redis.call('SET', key, new) end
  return 1
end
-- read every key first: a key this node does not serve fails the script before any write
local function put_all(keys, records, ttl)
  local current = {}
  for i = 1, #keys do
    current[i] = redis.call('GET', keys[i])
  end
  local applied = 0
  for i = 1, #keys do
    applied = applied + put(keys[i], records[i], current[i], ttl)
  end
  return applied
end
"""

# Single server, or one hash slot of a cluster.
# KEYS[i]: a value key; ARGV[1]: ttl; ARGV[i + 1]: the new record of KEYS[i].
# Returns how many keys were written.
WRITE = (
    _LAST_WRITE_WINS
    + """
local records = {}
for i = 1, #KEYS do
  records[i] = ARGV[i + 1]
end
return put_all(KEYS, records, ARGV[1])
"""
)

# Cluster, the keys of one node whatever their slots (Redis >= 7.0: allow-cross-slot-keys).
# KEYS[1]: one of the keys, so the call is routed to the node serving it; ARGV[1]: ttl;
# ARGV[2 .. n + 1]: n value keys; ARGV[n + 2 .. 2n + 1]: their new records.
# The node refuses a key it does not serve (a stale slot map, a slot being migrated): the
# script then fails before writing anything, and the caller writes those keys slot by slot.
WRITE_NODE = (
    "#!lua flags=allow-cross-slot-keys\n"
    + _LAST_WRITE_WINS
    + """
local n = (#ARGV - 1) / 2
local keys, records = {}, {}
for i = 1, n do
  keys[i] = ARGV[i + 1]
  records[i] = ARGV[i + n + 1]
end
return put_all(keys, records, ARGV[1])
"""
)

# Cluster, read the keys of one node whatever their slots: KEYS[1] routes the call (one of
# the keys); ARGV: the keys. Returns their values (nil where missing), in order.
READ_NODE = """#!lua flags=no-writes,allow-cross-slot-keys
local values = {}
for i = 1, #ARGV do
  values[i] = redis.call('GET', ARGV[i])
end
return values
"""


def sha1(script: str) -> str:
    return hashlib.sha1(script.encode()).hexdigest()


WRITE_SHA = sha1(WRITE)
WRITE_NODE_SHA = sha1(WRITE_NODE)
READ_NODE_SHA = sha1(READ_NODE)
