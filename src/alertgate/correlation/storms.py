"""Storm grouping (SPEC §11), the pure part: when N new masters of one symptom on CIs of one
service open within M minutes, a master of kind ``major`` groups them, one priority step above
them, and the incident manager is told. Here: what the major incident says; the counting is one
atomic script per group (``STORM_SCRIPT``), the rest ``intake/storms.py``."""

from __future__ import annotations

# KEYS: the group's new masters (zset), its open major incident (string).
# ARGV: now (epoch s), window (s), threshold, the new master's id, an id for a major incident.
# Answers {'counted'}, {'joined', major}, or {'opened', major, member, …} (every member in the
# window, the new one included): one major per group and window, whatever process counts.
STORM_SCRIPT = """
local now, window, threshold = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - window))
redis.call('EXPIRE', KEYS[1], math.ceil(window) + 60)
local major = redis.call('GET', KEYS[2])
if major then
  redis.call('EXPIRE', KEYS[2], math.ceil(window))
  return {'joined', major}
end
if redis.call('ZCARD', KEYS[1]) >= threshold then
  redis.call('SET', KEYS[2], ARGV[5], 'EX', math.ceil(window))
  local answer = {'opened', ARGV[5]}
  for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do answer[#answer + 1] = member end
  return answer
end
return {'counted'}
"""


def raised(priority: int) -> int:
    """One step more urgent (P1 stays P1)."""
    return max(1, priority - 1)


def major_title(symptom: str, service: str, members: int) -> str:
    return f"Major incident: {symptom} on {members} CIs of {service}"
