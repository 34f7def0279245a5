-- auction_bid: take a batch of bids on one lot in order, each as if it came alone.
-- uses: _publish, _gcra, _auction
-- A process sends every bid for one lot that arrived while its last call was in flight as
-- one batch; the room hears one auction.bid for the batch, with the price after its last bid.
-- KEYS[1..4] the lot's keys (named in _auction.lua)   KEYS[5] room hash
-- KEYS[6] room seq counter   KEYS[7] room event stream   KEYS[8] the room's bans (set)
-- KEYS[8 + i] request i's per-account bid rate key (GCRA, _gcra.lua)
-- ARGV[1] now (ms)   ARGV[2] increments   ARGV[3] room channel   ARGV[4] stream max length
-- ARGV[5] rate interval (ms per bid; 0: no limit)   ARGV[6] rate burst
-- then four per request: bidder id, bidder name, amount (their max, minor units), key
-- Returns {seq of the batch's auction.bid or 0, {status, value, ...}}, per request:
--   1 taken: JSON {amount, max, leading, outbid, next_bid, ends_at} (outbid: who lost the
--     lead to it, or ''); 2 the answer this key got before (a retry of the same amount);
--   0 refused: not_found, auction_not_active (ended, its clock ran out, or the show ended),
--     forbidden (the host or a moderator), banned (someone banned from the room),
--     'bid_too_low:<next_bid>', 'rate_limited:<retry after ms>', or
--     idempotency_key_reused (the key was taken before with another amount).
local room_key = KEYS[5]
local seq_key = KEYS[6]
local events_key = KEYS[7]
local bans_key = KEYS[8]
local now = tonumber(ARGV[1])
local b = bands(ARGV[2])
local channel = ARGV[3]
local maxlen = ARGV[4]
local interval = tonumber(ARGV[5])
local burst = tonumber(ARGV[6])

local results = {}
local lot = read_lot()
if not lot then
  for i = 7, #ARGV, 4 do
    results[#results + 1] = 0
    results[#results + 1] = 'not_found'
  end
  return {0, results}
end
local room = redis.call('HMGET', room_key, 'host_id', 'moderators', 'state')
local host, moderators = room[1] or '', ',' .. (room[2] or '') .. ','
local open = lot.state == 'queued' or (lot.state == 'active' and now < lot.ends_at)
open = open and room[3] ~= 'ended'
local taken = 0

local function take(bidder, name, amount)
  local outbid = ''
  if bidder == lot.leader then
    if amount <= lot.leader_max then
      return nil
    end
    lot.leader_max = amount
  else
    if amount < next_bid(lot, b) then
      return nil
    end
    if lot.leader == '' then
      lot.leader, lot.leader_name, lot.leader_max = bidder, name, amount
    elseif amount > lot.leader_max then
      outbid = lot.leader
      lot.runner_up, lot.runner_up_name, lot.runner_up_max = lot.leader, lot.leader_name, lot.leader_max
      lot.leader, lot.leader_name, lot.leader_max = bidder, name, amount
    else
      lot.runner_up, lot.runner_up_name, lot.runner_up_max = bidder, name, amount
    end
  end
  priced(lot, b)
  return outbid
end

local function bid(bidder, name, amount, key, rate_key)
  local wait = interval > 0 and gcra(rate_key, now, interval, burst)
  if wait then
    return 0, 'rate_limited:' .. wait
  end
  local previous = redis.call('HGET', idem_key, bidder .. '|' .. key)
  if previous then
    if cjson.decode(previous).max ~= amount then
      return 0, 'idempotency_key_reused'
    end
    return 2, previous
  end
  if not open then
    return 0, 'auction_not_active'
  end
  if bidder == host or string.find(moderators, ',' .. bidder .. ',', 1, true) then
    return 0, 'forbidden'
  end
  if redis.call('SISMEMBER', bans_key, bidder) == 1 then
    return 0, 'banned'
  end
  local outbid = take(bidder, name, amount)
  if not outbid then
    return 0, 'bid_too_low:' .. next_bid(lot, b)
  end
  if lot.state == 'active' and lot.mode == 'standard' then
    lot.ends_at = math.max(lot.ends_at, now + lot.extend_s * 1000)
  end
  lot.bids = lot.bids + 1
  taken = taken + 1
  redis.call('RPUSH', bids_key, cjson.encode({
    n = redis.call('LLEN', bids_key) + 1, bidder = bidder, name = name, max = amount, amount = lot.price,
    leader = lot.leader, leader_name = lot.leader_name, at = now, voided = false,
  }))
  redis.call('HSET', maxes_key, bidder, amount)
  local answer = cjson.encode({
    amount = lot.price, max = amount, leading = lot.leader == bidder, outbid = outbid,
    next_bid = next_bid(lot, b), ends_at = lot.ends_at,
  })
  redis.call('HSET', idem_key, bidder .. '|' .. key, answer)
  return 1, answer
end

for i = 7, #ARGV, 4 do
  local n = (i - 7) / 4 + 1
  local status, value = bid(ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3], KEYS[8 + n])
  results[#results + 1] = status
  results[#results + 1] = value
end
local seq = 0
if taken > 0 then
  write_lot(lot)
  seq = publish(seq_key, events_key, channel, maxlen, cmsgpack.pack({
    type = 'auction.bid', auction_id = lot.id, amount = lot.price,
    bidder = person(lot.leader, lot.leader_name), next_bid = next_bid(lot, b),
    ends_at = lot.ends_at, bids = lot.bids,
  }))
end
return {seq, results}
