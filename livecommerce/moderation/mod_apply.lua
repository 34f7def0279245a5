-- mod_apply: one moderation action, its room event and its audit entry, as one step.
-- uses: _publish
-- KEYS[1] room hash   KEYS[2] seq counter   KEYS[3] event stream   KEYS[4] banned users (set)
-- KEYS[5] timed-out users (hash user -> until ms)   KEYS[6] chat index (message id -> event)
-- KEYS[7] audit stream   KEYS[8] chat index order (zset message id by seq)
-- ARGV[1] channel   ARGV[2] stream max length   ARGV[3] action (mod.*; mod.untimeout lifts a
--   time-out, mod.unban a ban and any time-out)
-- ARGV[4] target: a user id or a message id ('' for none)   ARGV[5] a number: until (ms)
--   for mod.timeout, seconds for mod.slow
-- ARGV[6] the room event to publish ('' for none; MessagePack)
-- ARGV[7] an ephemeral event to publish, such as a note to the person acted on ('' for none)
-- ARGV[8] the audit entry (MessagePack)   ARGV[9] audit max length
-- Returns {1, seq of the room event or 0}; {0, reason}: 'not_found' (no such message, or
-- no such room), 'not_moderator' (mod.remove of someone who is not one).
-- mod.appoint and mod.remove build their own event from the stored list, so concurrent
-- changes never lose one another.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {0, 'not_found'}
end
local action, target = ARGV[3], ARGV[4]
local event = ARGV[6]
if action == 'mod.delete' or action == 'mod.pin_chat' then
  if redis.call('HEXISTS', KEYS[6], target) == 0 then
    return {0, 'not_found'}
  end
  if action == 'mod.delete' then
    redis.call('HDEL', KEYS[6], target)
    redis.call('ZREM', KEYS[8], target)
    if redis.call('HGET', KEYS[1], 'pinned_chat') == target then
      redis.call('HDEL', KEYS[1], 'pinned_chat')
    end
  else
    redis.call('HSET', KEYS[1], 'pinned_chat', target)
  end
elseif action == 'mod.unpin_chat' then
  redis.call('HDEL', KEYS[1], 'pinned_chat')
elseif action == 'mod.timeout' then
  redis.call('HSET', KEYS[5], target, ARGV[5])
elseif action == 'mod.untimeout' then
  redis.call('HDEL', KEYS[5], target)
elseif action == 'mod.ban' then
  redis.call('SADD', KEYS[4], target)
  redis.call('HDEL', KEYS[5], target)
elseif action == 'mod.unban' then
  redis.call('SREM', KEYS[4], target)
  redis.call('HDEL', KEYS[5], target)
elseif action == 'mod.slow' then
  redis.call('HSET', KEYS[1], 'slow_s', ARGV[5])
elseif action == 'mod.appoint' or action == 'mod.remove' then
  local list = {}
  local found = false
  for id in string.gmatch(redis.call('HGET', KEYS[1], 'moderators') or '', '[^,]+') do
    if id == target then
      found = true
    else
      list[#list + 1] = id
    end
  end
  if action == 'mod.remove' and not found then
    return {0, 'not_moderator'}
  end
  if action == 'mod.appoint' then
    list[#list + 1] = target
  end
  redis.call('HSET', KEYS[1], 'moderators', table.concat(list, ','))
  event = cmsgpack.pack({type = 'room.moderators', moderators = list})
end
local seq = 0
if event ~= '' then
  seq = publish(KEYS[2], KEYS[3], ARGV[1], ARGV[2], event)
end
if ARGV[7] ~= '' then
  redis.call('PUBLISH', ARGV[1], '|' .. ARGV[7])
end
redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[9], '*', 'd', ARGV[8])
return {1, seq}
