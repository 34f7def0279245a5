-- product_stock: move units between a product's stock and one of its flash sales, once.
-- KEYS[1] the product hash   KEYS[2] the move's marker (one per sale and direction)
-- ARGV[1] units (> 0)   ARGV[2] 'take' (stock -> sale) or 'give' (unsold units -> stock)
-- ARGV[3] now (ms)
-- Returns {1, stock after} when moved now; {2, stock} when this move was made before (a
-- retry, or another process got there first); {0, 'not_found' | 'insufficient', stock}.
-- Taking at a sale's start is what keeps two sales from selling the same unit twice.
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
end
stock = redis.call('HINCRBY', KEYS[1], 'stock', units)
redis.call('HSET', KEYS[1], 'updated_at', ARGV[3])
redis.call('SET', KEYS[2], ARGV[3], 'EX', 90 * 86400)
return {1, stock}
