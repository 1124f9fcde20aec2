-- SPDX-License-Identifier: Apache-2.0
-- logstate: disabling or enabling a log's entry, an operator's act, with
-- its audit record, in one atomic step.
--
-- KEYS[1]  {N}:config:<logID>   HASH of the entry
-- KEYS[2]  {N}:config-audit     STREAM of every disable and enable
-- ARGV[1]  the log ID           ARGV[2]  "1": disable, "0": enable
-- ARGV[3]  at_ms                ARGV[4]  by, the client name ("": none)
-- ARGV[5]  reason ("": none)    ARGV[6]  how many events the stream keeps
--
-- Returns 0 when the log has no entry, 1 when it already is so (nothing
-- written), 2 when it was changed and recorded. Everything is checked
-- before the first write, permissions too (a user who may not write both
-- keys changes nothing): "NOPERM ...", "LOGSTATE_ARGS ...",
-- "LOGSTATE_CORRUPT ...".
if #KEYS ~= 2 or #ARGV ~= 6 or (ARGV[2] ~= '0' and ARGV[2] ~= '1') then
  return redis.error_reply('LOGSTATE_ARGS config_change.lua takes 2 keys and 6 arguments')
end
local function type_of(key) return redis.call('TYPE', key)['ok'] end
local t1, t2 = type_of(KEYS[1]), type_of(KEYS[2])
if (t1 ~= 'none' and t1 ~= 'hash') or (t2 ~= 'none' and t2 ~= 'stream') then
  return redis.error_reply('LOGSTATE_CORRUPT ' .. KEYS[1] .. ' or ' .. KEYS[2] .. ' has another type')
end
if t1 == 'none' then
  return 0
end
if redis.acl_check_cmd and not (redis.acl_check_cmd('HSET', KEYS[1], 'disabled', ARGV[2]) and
    redis.acl_check_cmd('HDEL', KEYS[1], 'reason') and redis.acl_check_cmd('XADD', KEYS[2], '*', 'disabled', ARGV[2])) then
  return redis.error_reply('NOPERM this user may not disable or enable logs (HSET and HDEL on ' .. KEYS[1] ..
    ', XADD on ' .. KEYS[2] .. ')')
end
if (redis.call('HGET', KEYS[1], 'disabled') or '0') == ARGV[2] then
  return 1
end
local event = {'log_id', ARGV[1], 'origin', redis.call('HGET', KEYS[1], 'origin') or '', 'disabled', ARGV[2],
  'at_ms', ARGV[3]}
local change = {'disabled', ARGV[2], 'changed_ms', ARGV[3]}
for _, f in ipairs({{'by', 'changed_by', ARGV[4]}, {'reason', 'reason', ARGV[5]}}) do
  if f[3] ~= '' then
    table.insert(event, f[1])
    table.insert(event, f[3])
    table.insert(change, f[2])
    table.insert(change, f[3])
  end
end
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[6], '*', unpack(event))
redis.call('HSET', KEYS[1], unpack(change))
if ARGV[4] == '' then redis.call('HDEL', KEYS[1], 'changed_by') end
if ARGV[5] == '' then redis.call('HDEL', KEYS[1], 'reason') end
return 2
