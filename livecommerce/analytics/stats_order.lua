-- stats_order: a paid order or a refund added to its show's figures, once whatever retries.
-- KEYS[1] stats hash   KEYS[2] counted set (order ids, "r:"-prefixed for refunds)
-- KEYS[3] buyers HLL
-- ARGV[1] 'order' or 'refund'   ARGV[2] order id   ARGV[3] when (ms; an order's creation, its
-- minute in the timeline, for its refund too)
-- ARGV[4] product id   ARGV[5] units   ARGV[6] amount (minor units)
-- ARGV[7] the buyer's sketch id   ARGV[8] 1 if the buyer's first order from this creator
-- Returns 1 if counted now, 0 if it was counted before.
local stats_key = KEYS[1]
local counted_key = KEYS[2]
local buyers_key = KEYS[3]
local kind = ARGV[1]
local order_id = ARGV[2]
local minute = 'm:' .. math.floor(tonumber(ARGV[3]) / 60000) .. ':'
local product = 'p:' .. ARGV[4] .. ':'
local units = tonumber(ARGV[5])
local amount = tonumber(ARGV[6])
local buyer = ARGV[7]
local first = ARGV[8] == '1'

local function add(name, n)
  redis.call('HINCRBY', stats_key, name, n)
  redis.call('HINCRBY', stats_key, product .. name, n)
end

if kind == 'refund' then
  if redis.call('SADD', counted_key, 'r:' .. order_id) == 0 then
    return 0
  end
  add('refunds', 1)
  add('refunded', amount)
  redis.call('HINCRBY', stats_key, minute .. 'refunded', amount)
  return 1
end
if redis.call('SADD', counted_key, order_id) == 0 then
  return 0
end
add('orders', 1)
add('units', units)
add('gmv', amount)
redis.call('HINCRBY', stats_key, minute .. 'orders', 1)
redis.call('HINCRBY', stats_key, minute .. 'units', units)
redis.call('HINCRBY', stats_key, minute .. 'gmv', amount)
redis.call('PFADD', buyers_key, buyer)
if first then
  redis.call('HINCRBY', stats_key, 'first_time_buyers', 1)
end
return 1
