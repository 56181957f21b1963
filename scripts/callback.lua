-- wrk script: POST a valid utilsio signature callback with a fresh timestamp.
-- Used by scripts/load.sh; APP_ID defaults to the demo app id of the examples.
wrk.method = "POST"
wrk.headers["X-utilsio-Origin"] = "utilsio.dev"
wrk.headers["Content-Type"] = "application/json"

local app_id = os.getenv("APP_ID") or "demo-app-id"
local counter = 0

request = function()
  counter = counter + 1
  local body = string.format(
    '{"deviceId":"device-%d","appId":"%s","additionalData":"0.033333","timestamp":%d}',
    counter % 1000, app_id, os.time())
  return wrk.format(nil, nil, nil, body)
end
