-- wrk script: POST the pre-built bodies of a file, one per line, in order (then again from the
-- start: those are redeliveries). With `rate` > 0, each connection paces itself to about that many
-- requests per second in total (an open-loop approximation for the latency run).
-- usage: wrk -t1 -cC -dDs -s replay.lua URL -- BODIES_FILE TOKEN|- [RATE CONNECTIONS]
-- (replay_once.lua builds on it: its bodies, count and result are global for that)
bodies, count = {}, 0
local sent = 0
local token, pause = "", 0

function init(args)
  for line in io.lines(args[1]) do
    count = count + 1
    bodies[count] = line
  end
  token = args[2]
  local rate, connections = tonumber(args[3] or "0"), tonumber(args[4] or "1")
  if rate > 0 then pause = 1000 * connections / rate end
end

function delay()
  return pause
end

function request()
  sent = sent + 1
  local body = bodies[((sent - 1) % count) + 1]
  local headers = {["Content-Type"] = "application/json"}
  if token ~= "-" then headers["Authorization"] = "Bearer " .. token end
  return wrk.format("POST", nil, headers, body)
end

function result(summary, latency, seconds)
  io.write(string.format(
    'RESULT {"requests": %d, "seconds": %.3f, "errors": %d, "non_2xx": %d, "p50_ms": %.3f, "p99_ms": %.3f, "p999_ms": %.3f}\n',
    summary.requests, seconds,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000))
end

function done(summary, latency, requests)
  result(summary, latency, summary.duration / 1e6)
end
