-- product_upsert: create or change one product of a creator, keeping each sku unique among
-- that creator's products.
-- KEYS[1] the product's hash   KEYS[2] the creator's products (zset, score created_at)
-- KEYS[3] the creator's sku -> product id hash
-- ARGV[1] product id   ARGV[2] "create" (the product must not exist) or "update" (it must)
-- ARGV[3] created_at (the zset score; read on create only)
-- ARGV[4..] field, value pairs to set: the whole product on create; on update only what
-- changes (and updated_at). A "sku" pair on update moves the product to that sku.
-- Returns {1, field, value, ...}: the product's whole hash after the write;
-- {0, holder_id} when another product of the creator has the sku (nothing written);
-- {-1, ""} when updating a product that is gone, or creating over an existing id.
local exists = redis.call('EXISTS', KEYS[1]) == 1
if (ARGV[2] == 'create') == exists then
  return {-1, ''}
end
local fields = {}
local sku = nil
for i = 4, #ARGV, 2 do
  fields[#fields + 1] = ARGV[i]
  fields[#fields + 1] = ARGV[i + 1]
  if ARGV[i] == 'sku' then
    sku = ARGV[i + 1]
  end
end
if sku then
  local holder = redis.call('HGET', KEYS[3], sku)
  if holder and holder ~= ARGV[1] then
    return {0, holder}
  end
  local old = redis.call('HGET', KEYS[1], 'sku')
  if old and old ~= sku then
    redis.call('HDEL', KEYS[3], old)
  end
  redis.call('HSET', KEYS[3], sku, ARGV[1])
end
redis.call('HSET', KEYS[1], unpack(fields))
if ARGV[2] == 'create' then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
end
local product = redis.call('HGETALL', KEYS[1])
table.insert(product, 1, 1)
return product
