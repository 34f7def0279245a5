-- groupbuy_authorised: what the card said about a pending join: authorised (the join counts;
-- the min_buyers-th fills the group and tells the room), declined, or nothing at all (a
-- join whose process died before it asked: cancelled). Declined and cancelled joins let
-- their unit go.
-- uses: _publish, _groupbuy
-- KEYS[1..5] the group's keys (named in _groupbuy.lua)   KEYS[6] room seq counter
-- KEYS[7] room event stream
-- ARGV[1] join id   ARGV[2] outcome: authorised, declined or cancel
-- ARGV[3] the authorisation's ref (authorised) or decline code   ARGV[4] now (ms)
-- ARGV[5] room channel   ARGV[6] stream max length
-- Returns {status, join JSON, filled (0/1), seq}: 1 recorded now; 2 recorded before (the
-- join has moved on: its JSON says where); 0 with reason not_found or cancelled (the group
-- closed first: an authorisation made must be voided by the caller).
local seq_key = KEYS[6]
local events_key = KEYS[7]
local join_id = ARGV[1]
local outcome = ARGV[2]
local detail = ARGV[3]
local now = tonumber(ARGV[4])
local channel = ARGV[5]
local maxlen = ARGV[6]

local j = get_join(join_id)
if not j then
  return {0, 'not_found', 0, 0}
end
if j.state ~= 'pending' then
  if j.state == 'cancelled' and outcome == 'authorised' then
    return {0, 'cancelled', 0, 0}
  end
  return {2, cjson.encode(j), 0, 0}
end
if outcome ~= 'authorised' then
  let_go(j, outcome == 'declined' and 'declined' or 'cancelled')
  j.decline_code = detail
  j.told = 1 -- the joiner heard it in the answer to their join, or never joined at all
  return {1, put_join(j), 0, 0}
end
redis.call('HINCRBY', group_key, 'pending', -1)
redis.call('HINCRBY', group_key, 'authorised', 1)
j.state = 'authorised'
j.auth_ref = detail
local encoded = put_join(j)
local g = read_group()
if g.state == 'open' and g.authorised + g.captured >= g.min_buyers then
  redis.call('HSET', group_key, 'state', 'filled', 'filled_at', now)
  local event = {type = 'groupbuy.filled', group_id = g.id}
  return {1, encoded, 1, publish(seq_key, events_key, channel, maxlen, cmsgpack.pack(event))}
end
return {1, encoded, 0, 0}
