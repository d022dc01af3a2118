-- Appended to the wrk scripts of bench/web.sh and bench/fanout.sh: one machine-readable line
-- at the end,
--   WRKRESULT requests duration_us p50_us p95_us p99_us max_us socket_errors non_2xx_3xx
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRKRESULT %d %d %d %d %d %d %d %d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    e.connect + e.read + e.write + e.timeout, e.status))
end
