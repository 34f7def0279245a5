-- groupbuy_end: close a group buy: at its deadline (expired, or ended 'filled' if it had
-- filled), when its units are all paid for after filling (sold_out), or by its host
-- (stopped). Joins still pending are cancelled and let their unit go; authorised joins are
-- captured or voided afterwards by the settling process, as the group's outcome says.
-- uses: _publish, _groupbuy
-- KEYS[1..5] the group's keys (named in _groupbuy.lua)   KEYS[6] room seq counter
-- KEYS[7] room event stream
-- ARGV[1] reason: expired, sold_out or stopped   ARGV[2] now (ms)   ARGV[3] room channel
-- ARGV[4] stream max length
-- Returns {1, seq, state, reason} when closed now; {0, reason, detail}: not_found,
-- already_ended (detail: the state), not_due (detail: when it ends).
local seq_key = KEYS[6]
local events_key = KEYS[7]
local reason = ARGV[1]
local now = tonumber(ARGV[2])
local channel = ARGV[3]
local maxlen = ARGV[4]

local g = read_group()
if not g then
  return {0, 'not_found', ''}
end
if not joinable(g) then
  return {0, 'already_ended', g.state}
end
if reason == 'expired' and now < g.ends_at then
  return {0, 'not_due', g.ends_at}
end
if reason == 'sold_out' and (g.state ~= 'filled' or g.available > 0 or g.pending > 0
    or g.authorised > 0) then
  return {0, 'not_due', g.ends_at}
end
local state, said = 'expired', reason
if g.state == 'filled' then
  state = 'ended'
  if reason == 'expired' then
    said = 'filled'
  end
elseif reason == 'stopped' then
  state = 'stopped'
end
for _, id in ipairs(redis.call('SMEMBERS', todo_key)) do
  local j = get_join(id)
  if j and j.state == 'pending' then
    let_go(j, 'cancelled') -- told stays 0: an authorisation it made is looked for and voided
    put_join(j)
  end
end
redis.call('HSET', group_key, 'state', state, 'end_reason', said, 'ended_at', now)
g = read_group()
local event = {type = 'groupbuy.ended', group_id = g.id, reason = said,
  joined = g.authorised + g.captured}
return {1, publish(seq_key, events_key, channel, maxlen, cmsgpack.pack(event)), state, said}
