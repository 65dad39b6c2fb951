-- cookie-cache pass: the lock holder's response could not be stored. Its lock becomes the
-- hit-for-pass marker, so every request for the key goes upstream at once instead of waiting
-- for a fetch that will never be cached, until the marker expires or a cacheable response is
-- stored. Nobody can take the lock meanwhile.
-- KEYS[1] lock, ARGV[1] lock token, ARGV[2] marker expiry in ms
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], '!pass', 'PX', ARGV[2])
  return 1
end
return 0
