-- review_delete: a buyer takes back their review; both ratings lose it in the same step.
-- uses: _review
-- KEYS[1..7] as _review.lua names them
-- ARGV[1] pair '<order id> <product id>'   ARGV[2] reviewer id
-- Returns {status, review id or reason}: 1 deleted; 0 refused, with 'not_found' (no review
--   for the pair) or 'forbidden' (someone else's).
local pair = ARGV[1]
local reviewer_id = ARGV[2]

local id = redis.call('HGET', pairs_key, pair)
if not id then
  return {0, 'not_found'}
end
local review = cjson.decode(redis.call('HGET', reviews_key, id))
if review.reviewer.id ~= reviewer_id then
  return {0, 'forbidden'}
end
move(product_rating_key, review.product_rating, nil)
move(seller_rating_key, review.seller_rating, nil)
redis.call('HDEL', pairs_key, pair)
redis.call('HDEL', reviews_key, id)
redis.call('ZREM', product_reviews_key, id)
redis.call('ZREM', seller_reviews_key, id)
redis.call('ZREM', reported_key, id)
return {1, id}
