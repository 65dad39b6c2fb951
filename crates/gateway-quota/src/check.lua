-- Check and charge N units against every window of one request, atomically.
-- KEYS[i]: the counter of window i (all keys share one hash tag).
-- ARGV[1]: units to charge (N >= 0); ARGV[2]: now in milliseconds (the gateway's clock).
-- Then four arguments per window: kind, quota, a, b.
--   kind 'f' (fixed or calendar period; the key names the period): a = ms until the period
--            ends (returned as reset), b = TTL in ms for a new key.
--   kind 'h' (as Higress's Go plugins count: the window starts at the key's first charge and
--            ends when the key expires; the key is Higress's own name): a = window length in
--            ms (the TTL a new key gets), b unused. reset is the key's remaining lifetime.
--   kind 's' (sliding): a = window length in ms, b = sub-bucket length in ms. The key is a hash
--            of sub-bucket index -> units. A bucket counts until it is entirely older than the
--            window, so no span of the window's length admits more than the quota.
-- Optional last argument, ARGV[3 + 4 * #KEYS]: M, the least units to charge (M <= N). With it
-- the request is admitted when every window fits M (M = 0: while no window is over its quota,
-- used <= quota) and charges as much of N as every window still has room for, never less
-- than M ("reserve what fits"). Without it exactly N is charged: a request is rejected when
-- any window cannot fit N (N = 0: when any window is used up).
-- A rejected request charges nothing.
-- Returns {rejected window index or 0, used_1, reset_ms_1, field_1, used_2, ..., charged}:
-- `used` is after the charge when admitted, before it when rejected; `field` is the sliding
-- bucket charged (0 for fixed windows), so a reservation can be settled in the same place;
-- `charged` is the units charged (0 when rejected).
local n = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local least = ARGV[3 + 4 * #KEYS]
local m = n
if least then m = tonumber(least) end
local windows = {}
local rejected = 0
for i = 1, #KEYS do
  local base = 2 + (i - 1) * 4
  local kind = ARGV[base + 1]
  local quota = tonumber(ARGV[base + 2])
  local a = tonumber(ARGV[base + 3])
  local b = tonumber(ARGV[base + 4])
  local w = {kind = kind, quota = quota, a = a, b = b, field = 0}
  if kind == 'f' then
    w.used = tonumber(redis.call('GET', KEYS[i]) or '0') or 0
    w.reset = a
  elseif kind == 'h' then
    w.used = tonumber(redis.call('GET', KEYS[i]) or '0') or 0
    local left = redis.call('PTTL', KEYS[i])
    if left < 0 then left = a end
    w.reset = left
  else
    local cur = math.floor(now / b)
    local span = math.floor(a / b)
    local oldest = cur - span
    local flat = redis.call('HGETALL', KEYS[i])
    local buckets = {}
    local used = 0
    local stale = {}
    for j = 1, #flat, 2 do
      local idx = tonumber(flat[j])
      local count = tonumber(flat[j + 1]) or 0
      if idx == nil or idx < oldest then
        stale[#stale + 1] = flat[j]
      elseif count > 0 then
        buckets[#buckets + 1] = {idx, count}
        used = used + count
      end
    end
    if #stale > 0 then
      redis.call('HDEL', KEYS[i], unpack(stale))
    end
    table.sort(buckets, function(x, y) return x[1] < y[1] end)
    w.used = used
    w.buckets = buckets
    w.cur = cur
    w.span = span
    w.field = cur
  end
  local fits
  if least then fits = w.used + m <= quota
  elseif n == 0 then fits = w.used < quota
  else fits = w.used + n <= quota end
  if rejected == 0 and not fits then rejected = i end
  windows[i] = w
end
local charge = n
if rejected ~= 0 then
  charge = 0
elseif least then
  for i = 1, #KEYS do
    local room = windows[i].quota - windows[i].used
    if room < charge then charge = room end
  end
  if charge < m then charge = m end
end
local out = {rejected}
for i = 1, #KEYS do
  local w = windows[i]
  if charge > 0 then
    if w.kind == 'f' then
      w.used = redis.call('INCRBY', KEYS[i], charge)
      if w.used == charge then redis.call('PEXPIRE', KEYS[i], w.b) end
    elseif w.kind == 'h' then
      w.used = redis.call('INCRBY', KEYS[i], charge)
      -- A new key (or one left without a lifetime) starts its window now.
      if w.used == charge or redis.call('PTTL', KEYS[i]) < 0 then
        redis.call('PEXPIRE', KEYS[i], w.a)
        w.reset = w.a
      end
    else
      redis.call('HINCRBY', KEYS[i], w.cur, charge)
      redis.call('PEXPIRE', KEYS[i], w.a + w.b)
      w.used = w.used + charge
      w.buckets[#w.buckets + 1] = {w.cur, charge}
    end
  end
  if w.kind == 's' then
    -- Time until enough old buckets leave the window for one more unit (or for N, when this
    -- window rejected): bucket j leaves at (j + span + 1) * bucket_ms.
    local want = 1
    if rejected == i then want = math.max(m, 1) end
    local need = w.used + want - w.quota
    local reset = w.a
    if need > 0 and want <= w.quota then
      local freed = 0
      for _, bucket in ipairs(w.buckets) do
        freed = freed + bucket[2]
        if freed >= need then
          reset = (bucket[1] + w.span + 1) * w.b - now
          break
        end
      end
    elseif #w.buckets > 0 then
      reset = (w.buckets[1][1] + w.span + 1) * w.b - now
    end
    if reset < 0 then reset = 0 end
    w.reset = reset
  end
  out[#out + 1] = w.used
  out[#out + 1] = w.reset
  out[#out + 1] = w.field
end
out[#out + 1] = charge
return out
