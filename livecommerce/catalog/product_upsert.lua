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
local product_key = KEYS[1]
local products_key = KEYS[2]
local skus_key = KEYS[3]
local product_id = ARGV[1]
local creating = ARGV[2] == 'create'
local created_at = ARGV[3]

local exists = redis.call('EXISTS', product_key) == 1
if creating == exists then
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
  local holder = redis.call('HGET', skus_key, sku)
  if holder and holder ~= product_id then
    return {0, holder}
  end
  local old = redis.call('HGET', product_key, 'sku')
  if old and old ~= sku then
    redis.call('HDEL', skus_key, old)
  end
  redis.call('HSET', skus_key, sku, product_id)
end
redis.call('HSET', product_key, unpack(fields))
if creating then
  redis.call('ZADD', products_key, created_at, product_id)
end
local product = redis.call('HGETALL', product_key)
table.insert(product, 1, 1)
return product
