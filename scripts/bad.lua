-- wrk script: requests the server must refuse with a 4xx, in rotation:
-- malformed JSON, a missing origin header, a stale timestamp, an anonymous
-- session request, an oversized body. Any 2xx answer is an error.
local app_id = os.getenv("APP_ID") or "demo-app-id"
local origin = { ["X-utilsio-Origin"] = "utilsio.dev", ["Content-Type"] = "application/json" }
local big = string.rep("a", 64 * 1024)
local counter = 0

request = function()
  counter = counter + 1
  local kind = counter % 5
  if kind == 0 then
    return wrk.format("POST", "/api/signature-callback", origin, "{")
  elseif kind == 1 then
    return wrk.format("POST", "/api/signature-callback", { ["Content-Type"] = "application/json" },
      string.format('{"deviceId":"d","appId":"%s","additionalData":"x","timestamp":%d}', app_id, os.time()))
  elseif kind == 2 then
    return wrk.format("POST", "/api/signature-callback", origin,
      string.format('{"deviceId":"d","appId":"%s","additionalData":"x","timestamp":%d}', app_id, os.time() - 3600))
  elseif kind == 3 then
    return wrk.format("POST", "/api/macrofy-session", nil, nil)
  else
    return wrk.format("POST", "/api/signature-callback", origin, big)
  end
end

-- Count 5xx answers (wrk's summary lumps them with the expected 4xx).
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init() server_errors = 0 end
function response(status) if status >= 500 then server_errors = server_errors + 1 end end
function done()
  local n = 0
  for _, t in ipairs(threads) do n = n + t:get("server_errors") end
  io.write(string.format("5xx responses: %d\n", n))
end
