-- Settle a reservation: add a signed delta to the counters a check charged.
-- KEYS[i]: the window counters the check used. ARGV[1]: delta (may be negative).
-- Then two arguments per window: kind ('f', 'h' or 's') and the sliding bucket charged.
-- A counter that has expired (its period is over) is left alone; counts never go below 0.
-- Returns the counts after settling (-1 for an expired counter).
local delta = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS do
  local kind = ARGV[2 + (i - 1) * 2]
  local field = ARGV[3 + (i - 1) * 2]
  local v = -1
  if redis.call('EXISTS', KEYS[i]) == 1 then
    if kind == 's' then
      v = redis.call('HINCRBY', KEYS[i], field, delta)
      if v < 0 then
        redis.call('HINCRBY', KEYS[i], field, -v)
        v = 0
      end
    else
      v = redis.call('INCRBY', KEYS[i], delta)
      if v < 0 then
        redis.call('INCRBY', KEYS[i], -v)
        v = 0
      end
    end
  end
  out[i] = v
end
return out
