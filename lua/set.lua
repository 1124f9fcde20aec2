-- SPDX-License-Identifier: Apache-2.0
-- logstate: the atomic set. A compare-and-set of one log's checkpoint.
--
-- KEYS[1]  {N}:log:<logID>   HASH with fields checkpoint, version, updated_ms
-- KEYS[2]  {N}:logs          SET of the log IDs that have a checkpoint
-- KEYS[3]  {N}:meta          (optional) HASH whose store_id must be ARGV[5]
-- KEYS[4]  {N}:history:<logID> (optional, with KEYS[3]) STREAM of the log's sets
-- ARGV[1]  the version the writer read when its transaction began ("0": none),
--          or "<version>=<checkpoint>": the writer expects exactly that
--          checkpoint at that version (its set is chained on an earlier one
--          whose outcome it does not know yet: another writer's checkpoint
--          of the same version must not do)
-- ARGV[2]  the new checkpoint, raw bytes
-- ARGV[3]  the log ID, added to the index set
-- ARGV[4]  the guard: "none", or "size" (same origin line, tree size never smaller)
-- ARGV[5]  with KEYS[3]: the store_id the writer pinned ("": none, with KEYS[4])
-- ARGV[6]  with KEYS[4]: how many entries the stream keeps (XADD MAXLEN, exact)
-- ARGV[7]  with KEYS[4]: "checkpoint" or "sha256", the field ARGV[8] goes to
-- ARGV[8]  with KEYS[4]: the checkpoint again, or its hex SHA-256
-- ARGV[9..11] with KEYS[4]: origin line, tree size, client name ("": none)
--
-- Returns {"OK", new_version} when stored, {"CONFLICT", current_version,
-- current_checkpoint} when another writer committed since ARGV[1] was read
-- (nothing stored; the checkpoint is left out when there is none), so that
-- the writer can retry without reading again. A caller that reads only the
-- first two elements keeps working. Errors:
-- "LOGSTATE_GUARD ..." (refused by the guard), "LOGSTATE_CORRUPT ..." (stored
-- hash unreadable), "LOGSTATE_RESET ..." (a first set in a store that is not
-- the pinned one: reset by FLUSHALL, say), "NOPERM ..." (history asked of a
-- user without XADD), and Redis's own (WRONGTYPE when an operator overwrote a key).
-- With KEYS[4], the stream gets one entry per set, in the same atomic step
-- (fields version, checkpoint or sha256, origin, tree_size, client; its ID
-- is the server's time): no entry without the set, no set without it.
--
-- Everything is checked before the first write: a failing redis.call does not
-- undo earlier writes in the script.
--
-- By hand:
--   redis-cli --eval lua/set.lua '{logstate}:log:example.com/log' '{logstate}:logs' , \
--     0 "$(cat checkpoint)" example.com/log none

-- pcall, so that an error can say which key it concerns ("[key: log]").
local cur = redis.pcall('HMGET', KEYS[1], 'version', 'checkpoint')
if cur.err then
  return redis.error_reply(cur.err .. ' [key: log]')
end
local version = 0
if cur[1] then
  version = tonumber(cur[1])
  if version == nil or version < 1 or version ~= math.floor(version) then
    return redis.error_reply('LOGSTATE_CORRUPT the version field is not a positive integer')
  end
  if not cur[2] then
    return redis.error_reply('LOGSTATE_CORRUPT the hash has a version but no checkpoint')
  end
elseif cur[2] then
  return redis.error_reply('LOGSTATE_CORRUPT the hash has a checkpoint but no version')
end

-- A log the index lists but whose hash is gone is damage (a deleted key),
-- not a new log: refuse to trust a first checkpoint for it.
if version == 0 and redis.call('SISMEMBER', KEYS[2], ARGV[3]) == 1 then
  return redis.error_reply('LOGSTATE_CORRUPT the index lists this log but its hash is missing: the store is damaged')
end

-- A first set is where a reset store would be trusted: with a pinned
-- store_id, the namespace must still be that store.
if version == 0 and KEYS[3] and ARGV[5] ~= '' and redis.call('HGET', KEYS[3], 'store_id') ~= ARGV[5] then
  return redis.error_reply('LOGSTATE_RESET the store_id in ' .. KEYS[3] .. ' is missing or not the pinned one: the store was reset or is another store')
end

local expect, expect_cp = ARGV[1], nil
local eq = string.find(expect, '=', 1, true)
if eq then
  expect_cp = string.sub(expect, eq + 1)
  expect = string.sub(expect, 1, eq - 1)
end
if version ~= tonumber(expect) or (expect_cp and cur[2] ~= expect_cp) then
  if cur[2] then
    return {'CONFLICT', version, cur[2]}
  end
  return {'CONFLICT', version}
end

if ARGV[4] == 'size' then
  -- A checkpoint body starts "<origin>\n<tree size>\n".
  local function parse(cp)
    local origin, size = string.match(cp, '^([^\n]+)\n(%d+)\n')
    if size then
      size = string.gsub(size, '^0+(%d)', '%1')
    end
    return origin, size
  end
  local origin, size = parse(ARGV[2])
  if not origin then
    return redis.error_reply('LOGSTATE_GUARD the new checkpoint does not start with an origin line and a decimal tree size line')
  end
  if cur[2] then
    local old_origin, old_size = parse(cur[2])
    if not old_origin then
      return redis.error_reply('LOGSTATE_GUARD the stored checkpoint has no origin and tree size lines to compare with')
    end
    if origin ~= old_origin then
      return redis.error_reply('LOGSTATE_GUARD the new checkpoint\'s origin line differs from the stored one')
    end
    -- Compare as decimal strings: tree sizes may exceed Lua's exact integers.
    if #size < #old_size or (#size == #old_size and size < old_size) then
      return redis.error_reply('LOGSTATE_GUARD the new tree size ' .. size .. ' is smaller than the stored ' .. old_size)
    end
  end
end

-- The history stream must take the entry: its type and the user's right to
-- XADD are checked before anything is written.
if KEYS[4] then
  local len = redis.pcall('XLEN', KEYS[4])
  if type(len) == 'table' and len.err then
    return redis.error_reply(len.err .. ' [key: history]')
  end
  if redis.acl_check_cmd and not redis.acl_check_cmd('XADD', KEYS[4], 'MAXLEN', ARGV[6], '*', 'version', '1') then
    return redis.error_reply('NOPERM this user may not XADD to ' .. KEYS[4] .. ': grant +xadd, or open without history')
  end
end

local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local next_version = version + 1
-- SADD first: it fails on a wrongly typed index key before the log hash is
-- touched; HMGET above already proved KEYS[1] is a hash or absent.
local added = redis.pcall('SADD', KEYS[2], ARGV[3])
if type(added) == 'table' and added.err then
  return redis.error_reply(added.err .. ' [key: index]')
end
redis.call('HSET', KEYS[1], 'checkpoint', ARGV[2],
  'version', string.format('%.0f', next_version),
  'updated_ms', string.format('%.0f', ms))
if KEYS[4] then
  local fields = {'version', string.format('%.0f', next_version), ARGV[7], ARGV[8]}
  local names = {[9] = 'origin', [10] = 'tree_size', [11] = 'client'}
  for i = 9, 11 do
    if ARGV[i] ~= '' then
      fields[#fields + 1] = names[i]
      fields[#fields + 1] = ARGV[i]
    end
  end
  redis.call('XADD', KEYS[4], 'MAXLEN', ARGV[6], '*', unpack(fields))
end
return {'OK', next_version}
