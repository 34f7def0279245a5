-- auction_void: a moderator voids one person's bids on an open lot (fraud); the price is
-- worked out again from everyone else's latest maxes, as rules.winning_price says.
-- uses: _publish, _auction
-- KEYS[1..4] the lot's keys (named in _auction.lua)   KEYS[5] room seq counter
-- KEYS[6] room event stream
-- ARGV[1] the person whose bids go   ARGV[2] increments   ARGV[3] room channel
-- ARGV[4] stream max length
-- Returns {1, seq, bids voided} when voided; {0, reason}: not_found, auction_not_active,
-- or no_bids (they have none that count).
local seq_key = KEYS[5]
local events_key = KEYS[6]
local voided_id = ARGV[1]
local b = bands(ARGV[2])
local channel = ARGV[3]
local maxlen = ARGV[4]

local lot = read_lot()
if not lot then
  return {0, 'not_found'}
end
if lot.state == 'ended' then
  return {0, 'auction_not_active'}
end
local log = redis.call('LRANGE', bids_key, 0, -1)
local latest, names, order, voided, kept = {}, {}, {}, 0, 0
for i, raw in ipairs(log) do
  local entry = cjson.decode(raw)
  if not entry.voided then
    if entry.bidder == voided_id then
      entry.voided = true
      voided = voided + 1
      redis.call('LSET', bids_key, i - 1, cjson.encode(entry))
    else
      kept = kept + 1
      latest[entry.bidder] = entry.max
      names[entry.bidder] = entry.name
      order[entry.bidder] = i -- when their latest max was placed: it wins ties
    end
  end
end
if voided == 0 then
  return {0, 'no_bids'}
end
redis.call('HDEL', maxes_key, voided_id)
local function ahead(a, a_max, c, c_max)
  return c == nil or a_max > c_max or (a_max == c_max and order[a] < order[c])
end
local leader, leader_max, second, second_max = nil, 0, nil, 0
for who, max in pairs(latest) do
  if ahead(who, max, leader, leader_max) then
    second, second_max = leader, leader_max
    leader, leader_max = who, max
  elseif ahead(who, max, second, second_max) then
    second, second_max = who, max
  end
end
lot.leader, lot.leader_name, lot.leader_max = leader or '', names[leader] or '', leader_max
lot.runner_up, lot.runner_up_name, lot.runner_up_max = second or '', names[second] or '', second_max
lot.bids = kept
priced(lot, b)
write_lot(lot)
local seq = publish(seq_key, events_key, channel, maxlen, cmsgpack.pack({
  type = 'auction.voided', auction_id = lot.id, user_id = voided_id, amount = lot.price,
  bidder = person(lot.leader, lot.leader_name), next_bid = next_bid(lot, b),
  ends_at = lot.ends_at, bids = lot.bids,
}))
return {1, seq, voided}
