-- Shared prelude of the auction scripts (prepended after the publish prelude).
-- Key order used by every auction script:
--   KEYS[1] the lot's hash   KEYS[2] its bid log (list of JSON, oldest first)
--   KEYS[3] each bidder's latest max (bidder -> minor units)
--   KEYS[4] idempotency hash ("<bidder>|<key>" -> the answer that bid got, JSON)
-- They are named below (lot_key ... idem_key), and the auction scripts use those names.
-- The price rules mirror livecommerce/auctions/rules.py (bid, _priced, Lot.next_bid), which the
-- model tests prove; a change here is a change there.
--   bands(spec) -> the increment table from "<upto>:<step>,...,*:<step>" (major units)
--   read_lot() -> the lot's price state as a table; write_lot(lot) stores it back
--   next_bid(lot, b), priced(lot, b): as in rules.py
--   public(lot) -> the lot as the protocol shows it (docs/protocol.md, Auctions)
--   write_order(order_key, orders_key, lot, id, buyer, name, amount, now, pay_ms, second)
--     -> the JSON of the lot's order, awaiting payment, written and listed in the room's orders
local lot_key = KEYS[1]
local bids_key = KEYS[2]
local maxes_key = KEYS[3]
local idem_key = KEYS[4]
local AMOUNT_MAX = 1000000000000 -- currencies.AMOUNT_MAX

local function bands(spec)
  local out = {}
  for upto, step in string.gmatch(spec, '([^:,]+):([^:,]+)') do
    out[#out + 1] = {tonumber(upto), tonumber(step)} -- '*' reads as nil: no upper bound
  end
  return out
end

local function step_above(price, b, unit)
  for _, band in ipairs(b) do
    if band[1] == nil or price < band[1] * unit then
      return band[2] * unit
    end
  end
  return b[#b][2] * unit
end

local LOT_FIELDS = {
  'state', 'starting_bid', 'reserve', 'unit', 'leader', 'leader_name', 'leader_max',
  'runner_up', 'runner_up_name', 'runner_up_max', 'price', 'bids', 'mode', 'extend_s',
  'starts_at', 'ends_at', 'duration_s', 'card', 'end_reason', 'winner', 'winner_name',
  'amount', 'order_id', 'room_id', 'id',
}
local NUMBERS = {
  starting_bid = true, reserve = true, unit = true, leader_max = true, runner_up_max = true,
  price = true, bids = true, extend_s = true, starts_at = true, ends_at = true,
  duration_s = true, amount = true,
}

local function read_lot()
  local values = redis.call('HMGET', lot_key, unpack(LOT_FIELDS))
  if not values[1] then
    return nil
  end
  local lot = {}
  for i, name in ipairs(LOT_FIELDS) do
    local v = values[i] or ''
    if NUMBERS[name] then
      v = tonumber(v) or 0
    end
    lot[name] = v
  end
  return lot
end

local function write_lot(lot)
  redis.call('HSET', lot_key,
    'state', lot.state, 'leader', lot.leader, 'leader_name', lot.leader_name,
    'leader_max', lot.leader_max, 'runner_up', lot.runner_up,
    'runner_up_name', lot.runner_up_name, 'runner_up_max', lot.runner_up_max,
    'price', lot.price, 'bids', lot.bids, 'starts_at', lot.starts_at, 'ends_at', lot.ends_at)
end

local function next_bid(lot, b)
  if lot.leader == '' then
    return lot.starting_bid
  end
  return math.min(AMOUNT_MAX, lot.price + step_above(lot.price, b, lot.unit))
end

local function priced(lot, b)
  local price
  if lot.runner_up_max == 0 then
    price = lot.starting_bid
  else
    price = math.min(lot.leader_max, lot.runner_up_max + step_above(lot.runner_up_max, b, lot.unit))
  end
  if lot.reserve > 0 and lot.leader_max >= lot.reserve then
    price = math.max(price, lot.reserve)
  end
  if lot.leader == '' then
    price = 0
  end
  lot.price = price
end

local function person(id, name)
  if id == '' then
    return cjson.null
  end
  return {id = id, name = name}
end

local function public(lot, b)
  local out = cjson.decode(lot.card)
  out.state = lot.state
  out.current_bid = lot.price
  out.high_bidder = person(lot.leader, lot.leader_name)
  out.next_bid = next_bid(lot, b)
  out.bids = lot.bids
  out.reserve_met = lot.reserve == 0 or (lot.leader ~= '' and lot.leader_max >= lot.reserve)
  out.starts_at = lot.starts_at
  out.ends_at = lot.ends_at
  out.result = cjson.null
  return out
end

local function write_order(order_key, orders_key, lot, id, buyer, name, amount, now, pay_ms, second)
  local card = cjson.decode(lot.card)
  local order = cjson.encode({
    id = id, kind = 'auction', state = 'awaiting_payment', room_id = lot.room_id,
    auction_id = lot.id, lot = second and (lot.id .. '.2') or lot.id, second_chance = second,
    buyer = {id = buyer, name = name},
    lines = {{product_id = card.product_id, title = card.title, quantity = 1,
      unit_price = amount, amount = amount}},
    amount = amount, currency = card.currency, shipping = cjson.null,
    payment = {ref = cjson.null}, created_at = now, pay_by = now + pay_ms,
  })
  redis.call('SET', order_key, order)
  redis.call('ZADD', orders_key, now, id)
  return order
end
