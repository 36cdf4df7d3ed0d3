-- wrk script: HTTP/1.1 pipelining, DEPTH requests per write (default 16).
--
--   wrk -t1 -c50 -d10s --latency -s benchmarks/pipeline.lua http://127.0.0.1:8000/ -- 16
--
-- Every connection writes DEPTH identical GET requests in one buffer and waits
-- for all DEPTH responses before writing the next batch.  wrk counts each
-- response as one request and times each response from the write of its
-- batch.  The done() hook (machine-readable summary) comes from report.lua.

local depth = 16

function init(args)
   if args[1] ~= nil then
      depth = tonumber(args[1])
   end
   local batch = {}
   for i = 1, depth do
      batch[i] = wrk.format("GET", wrk.path)
   end
   pipelined_requests = table.concat(batch)
end

function request()
   return pipelined_requests
end

-- done(): the summary hook shared with scenarios (a) and (b), loaded from the file
-- next to this one so both report identically.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")
