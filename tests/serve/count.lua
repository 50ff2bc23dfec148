-- count.lua -- wrk script for tests/serve_load.sh: sends METHOD PATH BODY from
-- the environment (WRK_METHOD, WRK_PATH, WRK_BODY) and counts the answers by
-- status; done() prints one JSON line: requests, requests/s, p50/p99 latency
-- (ms) and the counts.
local method = os.getenv("WRK_METHOD") or "GET"
local path = os.getenv("WRK_PATH") or "/healthz"
local body = os.getenv("WRK_BODY")
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  s2xx, s202, s409, s429, s503, sother, retry_after = 0, 0, 0, 0, 0, 0, 0
end

function request()
  local h = {}
  if body then h["Content-Type"] = "application/json" end
  return wrk.format(method, path, h, body)
end

function response(status, headers, b)
  if status == 202 then s202 = s202 + 1 end
  if status >= 200 and status < 300 then s2xx = s2xx + 1
  elseif status == 409 then s409 = s409 + 1
  elseif status == 429 then
    s429 = s429 + 1
    if headers["Retry-After"] == "1" then retry_after = retry_after + 1 end
  elseif status == 503 then s503 = s503 + 1
  else sother = sother + 1 end
end

function done(summary, latency, requests)
  local t = {s2xx = 0, s202 = 0, s409 = 0, s429 = 0, s503 = 0, sother = 0, retry_after = 0}
  for _, th in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + (th:get(k) or 0) end
  end
  local secs = summary.duration / 1e6
  io.write(string.format(
    '{"requests":%d,"rps":%.1f,"p50_ms":%.2f,"p99_ms":%.2f,"errors":%d,' ..
    '"2xx":%d,"202":%d,"409":%d,"429":%d,"429_retry_after":%d,"503":%d,"other":%d}\n',
    summary.requests, summary.requests / secs, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    t.s2xx, t.s202, t.s409, t.s429, t.retry_after, t.s503, t.sother))
end
