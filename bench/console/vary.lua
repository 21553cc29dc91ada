-- wrk script: each request takes the next of the paths given after `--`
-- (space-separated), so a list page is measured over several filters,
-- pages and dates and no cache can serve it from one remembered answer.
-- Reports like p95.lua.
local paths = {}
local i = 0
init = function(args)
  for _, p in ipairs(args) do paths[#paths + 1] = p end
  -- Threads start at different places in the cycle.
  i = math.random(0, math.max(#paths - 1, 0))
end
request = function()
  i = i % #paths + 1
  return wrk.format(nil, paths[i])
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT p50_ms=%.1f p95_ms=%.1f p99_ms=%.1f requests=%d non2xx=%d errors=%d\n",
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    summary.requests, summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
