-- Charge tokens after the fact (reservation: off, the seed's behaviour): add N to every window
-- counter of a request, whatever the quota, in one call.
-- KEYS[i]: the window counters (one hash tag). ARGV[1]: tokens (N > 0).
-- ARGV[1 + i]: the TTL in milliseconds of counter i if this call creates it.
-- Returns the counts after charging.
local n = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS do
  local v = redis.call('INCRBY', KEYS[i], n)
  if v == n then redis.call('PEXPIRE', KEYS[i], ARGV[1 + i]) end
  out[i] = v
end
return out
