-- Shared prelude of the scripts that write a review and move its ratings.
-- Key order used by review_put and review_delete (all under the seller's tag {c:<creator>}):
--   KEYS[1] the seller's reviews (review id -> JSON)   KEYS[2] pairs ('<order> <product>' -> id)
--   KEYS[3] the product's rating hash   KEYS[4] the seller's rating hash
--   KEYS[5] the product's review ids (zset by time)   KEYS[6] the seller's review ids (zset)
--   KEYS[7] the seller's reported review ids (zset)
-- move(key, old, new): a rating goes from old to new (nil: none) in an aggregate of fields
--   sum, count and '1' .. '5'; exactly Rating.step in livecommerce/reviews/rules.py.
local reviews_key = KEYS[1]
local pairs_key = KEYS[2]
local product_rating_key = KEYS[3]
local seller_rating_key = KEYS[4]
local product_reviews_key = KEYS[5]
local seller_reviews_key = KEYS[6]
local reported_key = KEYS[7]

local function move(key, old, new)
  if old then
    redis.call('HINCRBY', key, 'sum', -old)
    redis.call('HINCRBY', key, 'count', -1)
    redis.call('HINCRBY', key, tostring(old), -1)
  end
  if new then
    redis.call('HINCRBY', key, 'sum', new)
    redis.call('HINCRBY', key, 'count', 1)
    redis.call('HINCRBY', key, tostring(new), 1)
  end
end
