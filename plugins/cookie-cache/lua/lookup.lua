-- cookie-cache lookup: one round trip for a cache read and, on a miss or a stale copy, the
-- stampede lock.
-- KEYS[1] entry, KEYS[2] lock (same hash tag)
-- ARGV[1] now (ms), ARGV[2] lock token, ARGV[3] lock expiry in ms ("0": do not lock)
-- Returns {entry or nil, state}: state 1 if this caller now holds the lock, 2 if the key is
-- marked hit-for-pass (the lock key holds '!pass': the last fetch could not be stored, so go
-- upstream at once), else 0 (fresh, another request holds the lock, or locking is off).
local entry = redis.call('GET', KEYS[1])
if entry then
  local stored, fresh = string.match(entry, '^cc1 (%d+) (%d+)\n')
  if stored and tonumber(ARGV[1]) - tonumber(stored) < tonumber(fresh) then
    return {entry, 0}
  end
end
if ARGV[3] == '0' then
  return {entry, 0}
end
if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then
  return {entry, 1}
end
if redis.call('GET', KEYS[2]) == '!pass' then
  return {entry, 2}
end
return {entry, 0}
