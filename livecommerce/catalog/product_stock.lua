-- product_stock: move units between a product's stock and one of its flash sales, once.
-- KEYS[1] the product hash   KEYS[2] the move's marker (one per sale and direction)
-- KEYS[3] the product's set of sales holding its units (a product on sale cannot be deleted)
-- ARGV[1] units (> 0 to take, >= 0 to give)   ARGV[2] 'take' (stock -> sale) or 'give'
-- (unsold units -> stock, and the sale is over for this product)   ARGV[3] now (ms)
-- ARGV[4] the sale id
-- Returns {1, stock after} when moved now; {2, stock} when this move was made before (a
-- retry, or another process got there first); {0, 'not_found' | 'insufficient', stock}.
-- Taking at a sale's start is what keeps two sales from selling the same unit twice.
local product_key = KEYS[1]
local move_key = KEYS[2]
local sales_key = KEYS[3]
local units = tonumber(ARGV[1])
local direction = ARGV[2]
local now = ARGV[3]
local sale_id = ARGV[4]

if direction == 'give' then
  redis.call('SREM', sales_key, sale_id)
end
if redis.call('EXISTS', product_key) == 0 then
  return {0, 'not_found', 0}
end
local stock = tonumber(redis.call('HGET', product_key, 'stock'))
if redis.call('EXISTS', move_key) == 1 then
  return {2, stock}
end
if direction == 'take' then
  if stock < units then
    return {0, 'insufficient', stock}
  end
  units = -units
  redis.call('SADD', sales_key, sale_id)
end
stock = redis.call('HINCRBY', product_key, 'stock', units)
redis.call('HSET', product_key, 'updated_at', now)
redis.call('SET', move_key, now, 'EX', 90 * 86400)
return {1, stock}
