-- product_stock: move units between a product's stock and one of its flash sales, once.
-- KEYS[1] the product hash   KEYS[2] the move's marker (one per sale and direction)
-- KEYS[3] the product's set of sales holding its units (a product on sale cannot be deleted)
-- ARGV[1] units (> 0 to take, >= 0 to give)   ARGV[2] 'take' (stock -> sale) or 'give'
-- (unsold units -> stock, and the sale is over for this product)   ARGV[3] now (ms)
-- ARGV[4] the sale id
-- Returns {1, stock after} when moved now; {2, stock} when this move was made before (a
-- retry, or another process got there first); {0, 'not_found' | 'insufficient', stock}.
-- Taking at a sale's start is what keeps two sales from selling the same unit twice.
if ARGV[2] == 'give' then
  redis.call('SREM', KEYS[3], ARGV[4])
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {0, 'not_found', 0}
end
local stock = tonumber(redis.call('HGET', KEYS[1], 'stock'))
if redis.call('EXISTS', KEYS[2]) == 1 then
  return {2, stock}
end
local units = tonumber(ARGV[1])
if ARGV[2] == 'take' then
  if stock < units then
    return {0, 'insufficient', stock}
  end
  units = -units
  redis.call('SADD', KEYS[3], ARGV[4])
end
stock = redis.call('HINCRBY', KEYS[1], 'stock', units)
redis.call('HSET', KEYS[1], 'updated_at', ARGV[3])
redis.call('SET', KEYS[2], ARGV[3], 'EX', 90 * 86400)
return {1, stock}
