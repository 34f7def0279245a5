-- review_put: a buyer's review of one product of one order, written or edited, with the
-- product's and the seller's ratings moved by the difference in the same atomic step.
-- uses: _review
-- KEYS[1..7] as _review.lua names them
-- ARGV[1] pair '<order id> <product id>'   ARGV[2] reviewer id   ARGV[3] product rating
-- ARGV[4] seller rating   ARGV[5] text   ARGV[6] now (ms)
-- ARGV[7] the new review as JSON, stored if the pair has none yet
-- Returns {status, review JSON}: 1 created now; 2 the pair's review, edited (or unchanged: a
--   retry); 0 refused, with 'forbidden' when the pair's review is someone else's.
local pair = ARGV[1]
local reviewer_id = ARGV[2]
local product_stars = tonumber(ARGV[3])
local seller_stars = tonumber(ARGV[4])
local text = ARGV[5]
local now = tonumber(ARGV[6])
local fresh = ARGV[7]

local id = redis.call('HGET', pairs_key, pair)
if not id then
  local review = cjson.decode(fresh)
  redis.call('HSET', pairs_key, pair, review.id)
  redis.call('HSET', reviews_key, review.id, fresh)
  redis.call('ZADD', product_reviews_key, now, review.id)
  redis.call('ZADD', seller_reviews_key, now, review.id)
  move(product_rating_key, nil, product_stars)
  move(seller_rating_key, nil, seller_stars)
  return {1, fresh}
end
local raw = redis.call('HGET', reviews_key, id)
local review = cjson.decode(raw)
if review.reviewer.id ~= reviewer_id then
  return {0, 'forbidden'}
end
if review.product_rating == product_stars and review.seller_rating == seller_stars
    and review.text == text then
  return {2, raw}
end
move(product_rating_key, review.product_rating, product_stars)
move(seller_rating_key, review.seller_rating, seller_stars)
review.product_rating = product_stars
review.seller_rating = seller_stars
if review.text ~= text then
  review.judged = nil -- new words: a new report puts them before the seller again
end
review.text = text
review.updated_at = now
raw = cjson.encode(review)
redis.call('HSET', reviews_key, id, raw)
return {2, raw}
