-- auction_end: close a lot (its time is up, or the host cancels it), once, and write the
-- winner's order at the hammer price in the same step.
-- uses: _publish, _auction
-- KEYS[1..4] the lot's keys (named in _auction.lua)   KEYS[5] the room's active lot
-- KEYS[6] room seq counter   KEYS[7] room event stream   KEYS[8] the new order's key
-- KEYS[9] the room's orders (zset)   KEYS[10] the room's open lots (zset)
-- KEYS[11] the room's last ended lot (its id)
-- ARGV[1] reason: time_up or cancelled   ARGV[2] now (ms)   ARGV[3] room channel
-- ARGV[4] stream max length   ARGV[5] the order id to use if the lot sold
-- ARGV[6] how long the winner has to pay (ms)
-- Returns {1, seq, outcome, order JSON or ''} when this call closed it; {0, reason, ...}:
--   not_found; not_due with the lot's ends_at (time_up asked too soon, or a late bid moved
--   it); already_ended with the outcome and the order id ('' when none). Every process may
--   call it for every due lot: exactly one closes it.
local live_key = KEYS[5]
local seq_key = KEYS[6]
local events_key = KEYS[7]
local order_key = KEYS[8]
local orders_key = KEYS[9]
local open_key = KEYS[10]
local last_key = KEYS[11]
local reason = ARGV[1]
local now = tonumber(ARGV[2])
local channel = ARGV[3]
local maxlen = ARGV[4]
local order_id = ARGV[5]
local pay_ms = tonumber(ARGV[6])

local lot = read_lot()
if not lot then
  return {0, 'not_found'}
end
if lot.state == 'ended' then
  return {0, 'already_ended', lot.end_reason, lot.order_id}
end
if reason == 'time_up' and (lot.state ~= 'active' or now < lot.ends_at) then
  return {0, 'not_due', lot.ends_at}
end
local outcome = 'sold'
if reason == 'cancelled' then
  outcome = 'cancelled'
elseif lot.leader == '' then
  outcome = 'no_bids'
elseif lot.leader_max < lot.reserve then
  outcome = 'reserve_not_met'
end
local event = {type = 'auction.ended', auction_id = lot.id, reason = outcome}
local fields = {'state', 'ended', 'end_reason', outcome, 'ended_at', now}
local order = ''
if outcome == 'sold' then
  event.winner = person(lot.leader, lot.leader_name)
  event.amount = lot.price
  order = write_order(order_key, orders_key, lot, order_id, lot.leader, lot.leader_name,
    lot.price, now, pay_ms, false)
  for _, f in ipairs({'winner', lot.leader, 'winner_name', lot.leader_name, 'amount', lot.price,
      'order_id', order_id}) do
    fields[#fields + 1] = f
  end
end
redis.call('HSET', lot_key, unpack(fields))
if redis.call('GET', live_key) == lot.id then
  redis.call('DEL', live_key)
end
redis.call('ZREM', open_key, lot.id)
redis.call('SET', last_key, lot.id)
return {1, publish(seq_key, events_key, channel, maxlen, cmsgpack.pack(event)), outcome, order}
