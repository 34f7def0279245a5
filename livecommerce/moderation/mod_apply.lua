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
local room_key = KEYS[1]
local seq_key = KEYS[2]
local events_key = KEYS[3]
local bans_key = KEYS[4]
local timeouts_key = KEYS[5]
local chat_key = KEYS[6]
local audit_key = KEYS[7]
local chat_order_key = KEYS[8]
local channel = ARGV[1]
local maxlen = ARGV[2]
local action = ARGV[3]
local target = ARGV[4]
local amount = ARGV[5]
local event = ARGV[6]
local note = ARGV[7]
local audit = ARGV[8]
local audit_maxlen = ARGV[9]

if redis.call('EXISTS', room_key) == 0 then
  return {0, 'not_found'}
end
if action == 'mod.delete' or action == 'mod.pin_chat' then
  if redis.call('HEXISTS', chat_key, target) == 0 then
    return {0, 'not_found'}
  end
  if action == 'mod.delete' then
    redis.call('HDEL', chat_key, target)
    redis.call('ZREM', chat_order_key, target)
    if redis.call('HGET', room_key, 'pinned_chat') == target then
      redis.call('HDEL', room_key, 'pinned_chat')
    end
  else
    redis.call('HSET', room_key, 'pinned_chat', target)
  end
elseif action == 'mod.unpin_chat' then
  redis.call('HDEL', room_key, 'pinned_chat')
elseif action == 'mod.timeout' then
  redis.call('HSET', timeouts_key, target, amount)
elseif action == 'mod.untimeout' then
  redis.call('HDEL', timeouts_key, target)
elseif action == 'mod.ban' then
  redis.call('SADD', bans_key, target)
  redis.call('HDEL', timeouts_key, target)
elseif action == 'mod.unban' then
  redis.call('SREM', bans_key, target)
  redis.call('HDEL', timeouts_key, target)
elseif action == 'mod.slow' then
  redis.call('HSET', room_key, 'slow_s', amount)
elseif action == 'mod.appoint' or action == 'mod.remove' then
  local list = {}
  local found = false
  for id in string.gmatch(redis.call('HGET', room_key, 'moderators') or '', '[^,]+') do
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
  redis.call('HSET', room_key, 'moderators', table.concat(list, ','))
  event = cmsgpack.pack({type = 'room.moderators', moderators = list})
end
local seq = 0
if event ~= '' then
  seq = publish(seq_key, events_key, channel, maxlen, event)
end
if note ~= '' then
  redis.call('SPUBLISH', channel, '|' .. note)
end
redis.call('XADD', audit_key, 'MAXLEN', '~', audit_maxlen, '*', 'd', audit)
return {1, seq}
