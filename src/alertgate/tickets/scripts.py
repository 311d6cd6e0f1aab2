"""The ticket store's Lua scripts (``tickets/store.py``), each atomic on one ticket or one shard."""

# Clear a mark of owed work only if it is still the one the job saw (it may have been set again).
SETTLE = "if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1], ARGV[3]) end return 0"

# KEYS: a master's hash, its shard's masters index. ARGV: its id, the sweeps after which owed
# work is given up, then each flagged kind (workers/recovery.py ``settled``, decided again here,
# atomically: an action may have owed it work since the sweep read it).
FORGET_SETTLED = """
if redis.call('HGET', KEYS[1], 'status') ~= 'closed' then return 0 end
for i = 3, #ARGV do
  if redis.call('HEXISTS', KEYS[1], 'owed_' .. ARGV[i]) == 1
     and (tonumber(redis.call('HGET', KEYS[1], 'swept_' .. ARGV[i])) or 0) <= tonumber(ARGV[2]) then
    return 0
  end
end
return redis.call('ZREM', KEYS[2], ARGV[1])
"""

# KEYS: a shard's ticket index (it routes the call to the shard's slot). ARGV: the shard's ticket
# prefix, the number of filters, (field, wanted value) per filter, then ticket ids of that shard.
# Answers 1 or 0 per id: every filter's field holds the wanted value. A numbered duplicate
# (<master>-<k>) stores no kind and shows its master's ci, priority and source (the filters'
# fields among CONTENT_FIELDS).
FILTER = """
local prefix, n = ARGV[1], tonumber(ARGV[2])
local names, wanted = {}, {}
for i = 1, n do names[i], wanted[i] = ARGV[1 + 2 * i], ARGV[2 + 2 * i] end
local FROM_MASTER = {ci = true, priority = true, source = true}
local shown = {}
local answers = {}
for j = 3 + 2 * n, #ARGV do
  local id = ARGV[j]
  local values = redis.call('HMGET', prefix .. id, 'kind', unpack(names))
  local master = not values[1] and string.match(id, '^(INC%-[^-]+%-%d+)%-%d+$')
  local ok = 1
  for i = 1, n do
    local value = values[i + 1]
    if master and names[i] == 'kind' then
      value = 'duplicate'
    elseif master and FROM_MASTER[names[i]] then
      local from = shown[master]
      if not from then
        from = redis.call('HMGET', prefix .. master, 'ci', 'priority', 'source')
        from = {ci = from[1], priority = from[2], source = from[3]}
        shown[master] = from
      end
      value = from[names[i]]
    end
    if (value or '') ~= wanted[i] then ok = 0; break end
  end
  answers[#answers + 1] = ok
end
return answers
"""


# KEYS: a ticket's hash, its timeline. ARGV: how many first and newest entries to read. Returns
# {its hash as field, value, … pairs, the timeline's length, its entries}: all of them, or of a
# longer timeline the first and the newest only (tickets/timeline.py: a flapping master's 40,000
# entries were 7 MB a read).
READ_WINDOW = """
local length, first, newest = redis.call('LLEN', KEYS[2]), tonumber(ARGV[1]), tonumber(ARGV[2])
local entries
if length <= first + newest then
  entries = redis.call('LRANGE', KEYS[2], 0, -1)
else
  entries = redis.call('LRANGE', KEYS[2], 0, first - 1)
  for _, entry in ipairs(redis.call('LRANGE', KEYS[2], -newest, -1)) do entries[#entries + 1] = entry end
end
return {redis.call('HGETALL', KEYS[1]), length, entries}
"""
