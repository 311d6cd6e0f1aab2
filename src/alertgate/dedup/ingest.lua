-- The dedup decision of dedup/decide.py and the ticket writes it implies, atomic per key, for
-- every alert of a call in turn (one call carries many alerts: Redis's cost per call and the
-- gateway's per reply are paid once). Each alert's own failure is its own: it answers 'error'
-- and the next alert goes on.
-- Every key name comes from keys.py; they all share the Cluster hash slot of the tag's shard, so on
-- a Cluster one call carries the alerts of one shard only.
--
-- Per alert, four KEYS:
--   key state (hash: master, closed, closed_at, seq)   keys.state_key
--   occurrence (hash: ticket, <delivery> = time)       keys.occurrence_key
--   the shard's ticket index (zset: created_at → id)   keys.index_key
--   the shard's masters (zset: created_at → id)        keys.masters_key
-- and tickets at <ticket prefix><id> (keys.ticket_prefix; ids are numbered as keys.ticket_id_of),
-- and the work a master now needs in the shard's intents stream, <masters key>:intents
-- (keys.intents_key): its dispatch when it is created or reopened, its restoration notice when
-- its recovery resolves it; written here so that the work cannot be lost between the ticket's
-- write and a job's (workers/intents.py consumes it).
-- Per alert, in ARGV: the count of its arguments, then the arguments (A below):
--    1 kind (firing|resolved|update|maintenance)  2 delivery  3 now (epoch)  4 now (ISO)
--    5 window (s)  6 lookback (s)  7 auto_resolve (1|0)  8 tag  9 observed_at (epoch)
--   10 retention (s)  11 timeline entry for an update (JSON)  12 occurrence id
--   13 alert source  14 ticket prefix  15.. the new master's fields as field, value pairs (its
--   content packed in one, 'packed': tickets/codec.py)
-- Kind maintenance is a firing alert a maintenance window holds (SPEC §10): 11 is the window's
-- id, 14 the shard's held-occurrences key (keys.held_key), 15 the alert (msgpack), which the
-- caller leaves off for keys it has seen held by that window (the key's copy is then used, or
-- 'need_master' answered when there is none); it is recorded and listed there, and opens
-- nothing until the worker releases it when the window ends (maintenance/held.py).
-- Without those fields (a storm is mostly duplicates, so the caller leaves them off for keys it
-- has seen holding a ticket) a decision to open a master writes nothing and answers
-- 'need_master'; the caller sends the alert again with the fields, and the decision is taken
-- anew, atomically, in that call. With them, a decision that opens no master ignores them.
-- A new master's fields may name `caused_by` (topology correlation, SPEC §11): it is then a
-- ticket of kind correlated, listed in <masters key>:correlated instead of the masters, and answers
-- 'correlated' with that master; its recovery and reopening answer with it too.
-- Answers outcome, ticket, master for each alert, in order ('error', message, '' on failure).
-- The functions of tickets/cascade.lua are prepended (dedup/store.py INGEST_SCRIPT).
local UNRESOLVED = {open = true, assigned = true, in_progress = true, pending_change = true, suspended = true}

-- The alert being decided (set by the loop at the end; the helpers read them).
local A, state_key, occ_key, index_key, masters_key, kind, delivery, now, now_iso, prefix

local function tkey(id) return prefix .. id end
local function num(v) return tonumber(v) or 0 end

-- The master of a ticket that holds an occurrence: a duplicate's id is <master>-<k> (one from
-- before that numbering names it in master_id); a master is its own. (codec.master_of_duplicate)
local NUMBERED = '^(INC%-[^-]+%-%d+)%-%d+$'
local function master_of(ticket, master_id)
  return string.match(ticket, NUMBERED) or master_id or ticket
end

local function new_id()
  return 'INC-' .. A[8] .. '-' .. redis.call('HINCRBY', state_key, 'seq', 1)
end

-- The work a master now needs, in the shard's intents stream (keys.intents_key), in this same
-- atomic call: a worker dispatches it, or sends its restoration notice (workers/intents.py).
local function intend(ticket, work)
  redis.call('XADD', masters_key .. ':intents', '*', 'ticket', ticket, 'work', work)
end

local function record(ticket)
  redis.call('HSET', occ_key, 'ticket', ticket, delivery, A[3])
  redis.call('EXPIRE', occ_key, A[10])
end

local function timeline(key, action, from, to, note)
  redis.call('RPUSH', key .. ':tl', cjson.encode({at = now_iso, actor = 'alertgate', action = action,
    from_status = from, to_status = to, note = note}))
end

-- Resolves the master, and its duplicates with it (each unresolved one, with no timeline entry):
-- the first slice of them now (tickets/cascade.lua). Answers 'resolved', or 'cascading' while
-- more are left, which the caller resolves (tickets/cascade.py).
local function resolve_with_duplicates(master)
  local mkey = tkey(master)
  local from = redis.call('HGET', mkey, 'status')
  redis.call('HSET', mkey, 'status', 'resolved', 'resolution_code', 'monitoring_recovered',
    'resolved_at', A[3], 'updated_at', A[3], 'owed_restoration', A[3])  -- (workers/recovery.py)
  timeline(mkey, 'resolve', from, 'resolved', 'monitoring recovered')
  local _, done = cascade_start(prefix, master, mkey, masters_key .. ':cascades', {'status', 'resolved',
    'resolution_code', 'monitoring_recovered', 'resolved_at', A[3], 'updated_at', A[3]},
    {open = '', assigned = '', in_progress = '', pending_change = '', suspended = ''}, A[3])
  return done == 1 and 'resolved' or 'cascading'
end

local function decide()
  local holder, seen_at = unpack(redis.call('HMGET', occ_key, 'ticket', delivery))
  local seen = seen_at ~= false

  -- Recoveries and updates need the ticket that holds the occurrence.
  if kind ~= 'firing' and kind ~= 'maintenance' then
    if not holder then
      -- a recovery of an occurrence a window holds: recorded, so its release opens nothing
      if kind == 'resolved' and redis.call('HEXISTS', occ_key, 'held_by') == 1 then
        if seen then return {'repeat', '', ''} end
        redis.call('HSET', occ_key, delivery, A[3], 'recovered', A[3])
        return {'recovered', '', ''}
      end
      return {'ignored', '', ''}
    end
    local hkey = tkey(holder)
    local hkind, hstatus, hmaster, hend, hcause = unpack(redis.call('HMGET', hkey, 'kind', 'status', 'master_id',
      'outage_end', 'caused_by'))
    local master = master_of(holder, hmaster)
    if seen then
      redis.call('EXPIRE', occ_key, A[10])  -- a repeat writes too: see the firing case below
      return {'repeat', holder, master}
    end
    record(holder)
    if kind == 'update' then
      redis.call('RPUSH', hkey .. ':tl', A[11])
      redis.call('HSET', hkey, 'updated_at', A[3])
      return {'updated', holder, master}
    end
    if not hend or hend == '' then redis.call('HSET', hkey, 'outage_end', A[9]) end
    if hkind == 'master' and A[7] == '1' and UNRESOLVED[hstatus] then
      local outcome = resolve_with_duplicates(holder)
      intend(holder, 'restoration')
      return {outcome, holder, holder}
    end
    if hkind == 'correlated' and A[7] == '1' and UNRESOLVED[hstatus] then
      -- (answered with the parent's master: no restoration notice for a ticket nobody was told of)
      return {resolve_with_duplicates(holder), holder, hcause or ''}
    end
    if hkind == 'master' then timeline(hkey, 'recovery', nil, nil, 'recovered: ' .. A[12]) end
    return {'recovered', holder, master}
  end

  if seen then
    -- Still firing: keep recognising it. This write also makes a Redis WAIT after a repeat cover
    -- the write of the attempt it repeats (WAIT waits for the connection's last write).
    redis.call('EXPIRE', occ_key, A[10])
    -- (the holder's hash is read only when its id does not name its master)
    local master = holder and (string.match(holder, NUMBERED)
      or master_of(holder, redis.call('HGET', tkey(holder), 'master_id')))
    return {'repeat', holder or '', master or ''}
  end

  if kind == 'maintenance' then
    -- The key's alert is kept once per window, in its state ('held:<window>'); each occurrence
    -- keeps only what is its own: tag, occurrence id, delivery, outage start ('held_ref').
    local copy = 'held:' .. A[11]
    if #A >= 15 then
      redis.call('HSET', state_key, copy, A[15])
    elseif redis.call('HEXISTS', state_key, copy) == 0 then
      return {'need_master', '', ''}
    end
    redis.call('HSET', occ_key, delivery, A[3], 'held_by', A[11],
      'held_ref', cmsgpack.pack({A[8], A[12], A[2], A[9]}))
    redis.call('EXPIRE', occ_key, A[10])
    redis.call('ZADD', A[14], A[3], occ_key)
    return {'suppressed', '', ''}
  end

  local master = redis.call('HGET', state_key, 'master')
  local mstatus, mlast, mresolved, mcount
  if master then
    mstatus, mlast, mresolved, mcount = unpack(redis.call('HMGET', tkey(master),
      'status', 'last_occurrence_at', 'resolved_at', 'duplicate_count'))
  end

  -- (within the window after the master's last occurrence, or its resolution if later)
  local within = master and now - math.max(num(mlast), num(mresolved)) <= tonumber(A[5])
  if within and UNRESOLVED[mstatus] then
    local mkey = tkey(master)
    local count = num(mcount) + 1
    local id = master .. '-' .. count  -- (its number is its place among the master's duplicates)
    -- A storm is mostly these, so they hold only what is their own: its id names its master (so
    -- kind, master_id, origin and updated_at are derived, codec.from_hash), and the master's
    -- content, CI, priority and source are read from the master (tickets/store.py).
    redis.call('HSET', tkey(id), 'status', mstatus, 'created_at', A[3], 'outage_start', A[9],
      'occurrence_id', A[12], 'alert_source', A[13])
    redis.call('HSET', mkey, 'duplicate_count', count, 'last_occurrence_at', A[3], 'updated_at', A[3])
    redis.call('ZADD', index_key, A[3], id)
    record(id)
    return {'duplicate', id, master}
  end

  if within and mstatus == 'resolved' then
    local mkey = tkey(master)
    redis.call('HSET', mkey, 'status', 'in_progress', 'resolution_code', '', 'resolved_at', '',
      'solution', '', 'outage_end', '', 'last_occurrence_at', A[3], 'updated_at', A[3], 'owed_dispatch', A[3])
    redis.call('HINCRBY', mkey, 'reopen_count', 1)
    timeline(mkey, 'reopen', 'resolved', 'in_progress', 'occurred again: ' .. A[12])
    record(master)
    local mkind, mcause = unpack(redis.call('HMGET', mkey, 'kind', 'caused_by'))
    if mkind == 'correlated' then  -- still its parent's: listed again for the sweep, not dispatched
      redis.call('ZADD', masters_key .. ':correlated', A[3], master)
      return {'reopened', master, mcause or ''}
    end
    intend(master, 'reopened')
    return {'reopened', master, master}
  end

  local closed = redis.call('HGET', state_key, 'closed')
  local closed_at = redis.call('HGET', state_key, 'closed_at')
  local outcome = 'new'
  if closed and now - num(closed_at) <= tonumber(A[6]) then outcome = 'recurrence' end
  if #A < 15 then return {'need_master', '', ''} end

  local id = new_id()
  local key = tkey(id)
  local fields = {'id', id, 'origin', outcome, 'created_at', A[3], 'updated_at', A[3],
    'last_occurrence_at', A[3], 'outage_start', A[9], 'occurrence_id', A[12], 'alert_source', A[13]}
  local caused = nil  -- a parent CI's master this one is correlated to (master_fields' caused_by)
  for i = 15, #A do
    fields[#fields + 1] = A[i]
    if A[i] == 'caused_by' and i % 2 == 1 then caused = A[i + 1] end
  end
  redis.call('HSET', key, unpack(fields))
  if outcome == 'recurrence' then
    -- A recurrence copies the closed ticket's content and links to it.
    -- (its own field, or its packed value's: tickets/codec.py; copied as fields of their own,
    -- which win over the new master's packed ones)
    local copied = {'title', 'description', 'category', 'area', 'subarea', 'nature', 'affected_service', 'route_group'}
    local values = redis.call('HMGET', tkey(closed), 'packed', unpack(copied))
    local ok, packed = pcall(cmsgpack.unpack, values[1] or '')
    if not ok or type(packed) ~= 'table' then packed = {} end
    local copy = {'recurrence_of', closed}
    for i, field in ipairs(copied) do
      local value = values[i + 1] or packed[field]
      if type(value) == 'string' and value ~= '' then
        copy[#copy + 1] = field
        copy[#copy + 1] = value
      end
    end
    redis.call('HSET', key, unpack(copy))
  end
  redis.call('HSET', state_key, 'master', id)
  redis.call('ZADD', index_key, A[3], id)
  if caused then
    redis.call('ZADD', masters_key .. ':correlated', A[3], id)
    record(id)
    return {'correlated', id, caused}
  end
  redis.call('ZADD', masters_key, A[3], id)
  record(id)
  intend(id, outcome)
  return {outcome, id, id}
end

local replies, at = {}, 0
for i = 1, #KEYS / 4 do
  local count = tonumber(ARGV[at + 1])
  A = {unpack(ARGV, at + 2, at + 1 + count)}
  at = at + 1 + count
  state_key, occ_key, index_key, masters_key = KEYS[4 * i - 3], KEYS[4 * i - 2], KEYS[4 * i - 1], KEYS[4 * i]
  kind, delivery, now, now_iso = A[1], A[2], tonumber(A[3]), A[4]
  prefix = A[14]
  local ok, reply = pcall(decide)
  if not ok then
    reply = {'error', type(reply) == 'table' and tostring(reply.err) or tostring(reply), ''}
  end
  replies[#replies + 1] = reply[1]
  replies[#replies + 1] = reply[2]
  replies[#replies + 1] = reply[3]
end
return replies
