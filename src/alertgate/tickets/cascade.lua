-- A master's duplicates follow it into resolved or closed (SPEC §2) a slice at a time, so that a
-- master with 100,000 duplicates does not hold Redis for seconds: the first slice in the atomic
-- call that resolves or closes the master (the ingest script, the action's transaction), each
-- further slice in a call of its own (tickets/cascade.py), and a cascade cut short by a crash
-- finished by the worker's sweep. Prepended to the scripts that use it.
--
-- A master's duplicates are at places 1 … last: <master>-<k>, numbered as they come (ingest.lua),
-- after the first ones of a master from before that numbering, listed in <master key>:dups
-- (TicketStore.duplicate_page is the same rule for the API).
-- A cascade is `fields` (field, value pairs) and `entries` (status → timeline entry, '' for
-- none): a duplicate in a status it names gets the fields and the entry; any other is left as it
-- is, so a slice done twice changes nothing the second time. While one is not done, the master
-- holds it in `cascade` (msgpack), `cascade_next` and `cascade_last`, and its shard's cascades
-- (zset: master id → time of its last slice, keys.cascades_key) list it.
-- CASCADE_SLICE, the duplicates a call moves at most, is set before this (tickets/cascade.py SLICE).

local function cascade_slice(prefix, master, mkey, fields, entries, first, last)
  local listed = redis.call('LLEN', mkey .. ':dups')
  local older = {}
  if first <= listed then older = redis.call('LRANGE', mkey .. ':dups', first - 1, math.min(last, listed) - 1) end
  local changed = 0
  for k = first, last do
    local dkey = prefix .. (older[k - first + 1] or (master .. '-' .. k))
    local entry = entries[redis.call('HGET', dkey, 'status') or '']
    if entry then
      if #fields > 0 then redis.call('HSET', dkey, unpack(fields)) end
      if entry ~= '' then redis.call('RPUSH', dkey .. ':tl', entry) end
      changed = changed + 1
    end
  end
  return changed
end

-- One slice from `first`; the rest noted on the master and listed, or the cascade forgotten when
-- done. Returns the duplicates changed, and 1 when the cascade is done (0 when not).
local function cascade_from(prefix, master, mkey, cascades, fields, entries, first, last, now)
  local upto = math.min(last, first + CASCADE_SLICE - 1)
  local changed = cascade_slice(prefix, master, mkey, fields, entries, first, upto)
  if upto < last then
    redis.call('HSET', mkey, 'cascade_next', upto + 1, 'cascade_last', last)
    redis.call('ZADD', cascades, now, master)
    return changed, 0
  end
  redis.call('HDEL', mkey, 'cascade', 'cascade_next', 'cascade_last')
  redis.call('ZREM', cascades, master)
  return changed, 1
end

-- A new cascade of every duplicate the master has now (one not done yet is replaced: this one
-- covers its duplicates too, as a duplicate follows the master's latest status).
local function cascade_start(prefix, master, mkey, cascades, fields, entries, now)
  local last = math.max(redis.call('LLEN', mkey .. ':dups'), tonumber(redis.call('HGET', mkey, 'duplicate_count')) or 0)
  if last > CASCADE_SLICE then redis.call('HSET', mkey, 'cascade', cmsgpack.pack({fields, entries})) end
  return cascade_from(prefix, master, mkey, cascades, fields, entries, 1, last, now)
end
