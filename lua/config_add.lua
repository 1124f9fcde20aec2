-- SPDX-License-Identifier: Apache-2.0
-- logstate: adding log configurations, insert-only, in one atomic step.
-- An entry whose hash exists is left exactly as it is (its disabled flag
-- too); a new one is written whole. Only HSETNX and SADD write, so a
-- witness's ACL user may add without being allowed HSET on these keys
-- (README "Log configurations").
--
-- KEYS[1]       {N}:configs          SET of the log IDs that have an entry
-- KEYS[1 + i]   {N}:config:<logID>   HASH of entry i (i = 1 .. n)
-- ARGV[7i-6 .. 7i]  entry i: its log ID (hex SHA-256 of "o:" .. origin),
--                   origin, vkey, contact ("": none), qpd ("": none),
--                   disabled ("0" or "1"), added_ms
--
-- Returns one element per entry: 1 when it was added, else the stored hash
-- (HGETALL: field, value, ...). The same log twice: the second finds the
-- first. Errors: "LOGSTATE_ARGS ..." and "LOGSTATE_CORRUPT ..." (a key of
-- another type), both before any write.
--
-- By hand:
--   redis-cli --eval lua/config_add.lua '{logstate}:configs' '{logstate}:config:<ID>' , \
--     <ID> example.com/log 'example.com/log+01234567+AQID' '' '' 0 "$(date +%s000)"
local n = #KEYS - 1
if n < 1 or #ARGV ~= 7 * n then
  return redis.error_reply('LOGSTATE_ARGS config_add.lua takes 1 + n keys and 7n arguments')
end
local function type_of(key) return redis.call('TYPE', key)['ok'] end
local t = type_of(KEYS[1])
if t ~= 'none' and t ~= 'set' then
  return redis.error_reply('LOGSTATE_CORRUPT ' .. KEYS[1] .. ' is a ' .. t .. ', not a set')
end
for i = 2, n + 1 do
  t = type_of(KEYS[i])
  if t ~= 'none' and t ~= 'hash' then
    return redis.error_reply('LOGSTATE_CORRUPT ' .. KEYS[i] .. ' is a ' .. t .. ', not a hash')
  end
end
local fields = {'origin', 'vkey', 'contact', 'qpd', 'disabled', 'added_ms'}
local out = {}
for i = 1, n do
  local key, a = KEYS[i + 1], 7 * (i - 1)
  if redis.call('EXISTS', key) == 1 then
    out[i] = redis.call('HGETALL', key)
  else
    for k = 1, 6 do
      if ARGV[a + 1 + k] ~= '' then
        redis.call('HSETNX', key, fields[k], ARGV[a + 1 + k])
      end
    end
    redis.call('SADD', KEYS[1], ARGV[a + 1])
    out[i] = 1
  end
end
return out
