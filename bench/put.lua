-- wrk script: PUT a new identity on every request, with the bearer token from the environment.
local counter = 0
request = function()
  counter = counter + 1
  local body = string.format('{"customer_id": "bench-c-%d", "instance_id": "bench-i-%d"}', counter, counter)
  return wrk.format("PUT", wrk.path, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. (os.getenv("BENCH_TOKEN") or ""),
  }, body)
end
