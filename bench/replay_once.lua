-- wrk script: replay.lua's bodies, each sent once. The thread stops when every body has been
-- answered, and the time reported runs from its first request to that last answer (wrk itself
-- waits out its -d before it reports, so -d only has to be long enough).
-- usage: wrk -t1 -cC -dDs -s replay_once.lua URL -- BODIES_FILE TOKEN|-
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "replay.lua")

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_usec; } replay_timeval;
  int gettimeofday(replay_timeval *tv, void *tz);
]]
local tv = ffi.new("replay_timeval")
local function now_us()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) * 1e6 + tonumber(tv.tv_usec)
end

started, finished = 0, 0
local answered, threads, replay_request = 0, {}, request

function setup(thread)
  threads[#threads + 1] = thread
end

function request()
  if started == 0 then started = now_us() end
  return replay_request()
end

function response(status, headers, body)
  answered = answered + 1
  if answered == count then
    finished = now_us()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local t = threads[1]
  local first, last = t:get("started"), t:get("finished")
  if last == 0 then  -- (not every body answered within -d: wrk's own time)
    result(summary, latency, summary.duration / 1e6)
  else
    result(summary, latency, (last - first) / 1e6)
  end
end
