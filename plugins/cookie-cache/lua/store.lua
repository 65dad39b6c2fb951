-- cookie-cache store: writes an entry and releases the stampede lock if this caller holds it.
-- A hit-for-pass marker goes too: the key is cacheable again.
-- KEYS[1] entry, KEYS[2] lock (same hash tag)
-- ARGV[1] encoded entry, ARGV[2] expiry in ms (fresh + stale window), ARGV[3] lock token ("" if none)
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local held = redis.call('GET', KEYS[2])
if held == '!pass' or (ARGV[3] ~= '' and held == ARGV[3]) then
  redis.call('DEL', KEYS[2])
end
return 1
