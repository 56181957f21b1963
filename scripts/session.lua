-- wrk script: POST the Macrofy session route as an authenticated user (the
-- server example's bearer map). TOKEN defaults to the soak/load user token.
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("TOKEN") or "soak-token")
