-- wrk reporting hook shared by the benchmark scenarios (a) and (b).
--
-- wrk calls done() once at the end of a run; it prints one machine-readable
-- line, prefixed with "BENCH_JSON ", that run_benchmark.py parses (wrk's human
-- summary with --latency is printed as usual and kept in the raw logs).
-- Only done() is defined here, so wrk keeps its static fast path for requests.

-- Percentiles and mean are computed here from wrk's latency histogram
-- (latency(i) -> value, count of the i-th distinct value) instead of
-- latency:percentile(), which returns 0 for high percentiles in pipelined
-- runs with this wrk version.
local function latency_stats(latency)
   local n, sum = 0, 0
   for i = 1, #latency do
      local v, c = latency(i)
      n = n + c
      sum = sum + v * c
   end
   local result = { count = n, mean = (n > 0) and (sum / n) or 0 }
   local marks = { { "p50", 0.50 }, { "p90", 0.90 }, { "p99", 0.99 }, { "p999", 0.999 } }
   local seen, k = 0, 1
   for i = 1, #latency do
      local v, c = latency(i)
      seen = seen + c
      while k <= #marks and seen >= marks[k][2] * n do
         result[marks[k][1]] = v
         k = k + 1
      end
   end
   for _, m in ipairs(marks) do
      result[m[1]] = result[m[1]] or 0
   end
   return result
end

local function bench_report(summary, latency)
   local e = summary.errors
   local l = latency_stats(latency)
   io.write(string.format(
      'BENCH_JSON {"duration_us":%d,"requests":%d,"bytes":%d,' ..
      '"errors_connect":%d,"errors_read":%d,"errors_write":%d,' ..
      '"errors_status":%d,"errors_timeout":%d,"latency_samples":%d,' ..
      '"latency_mean_us":%.3f,"latency_max_us":%d,"latency_p50_us":%d,' ..
      '"latency_p90_us":%d,"latency_p99_us":%d,"latency_p999_us":%d}\n',
      summary.duration, summary.requests, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout, l.count,
      l.mean, latency.max, l.p50, l.p90, l.p99, l.p999))
end

function done(summary, latency, requests)
   bench_report(summary, latency)
end
