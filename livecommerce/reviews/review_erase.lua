-- review_erase: a deleted account's review keeps its stars and loses its words and author.
-- KEYS[1] the seller's reviews (review id -> JSON)
-- ARGV[1] review id   ARGV[2] the deleted person's id
-- Returns 1 erased; 0 no such review of theirs (gone, or erased before).
local reviews_key = KEYS[1]
local id = ARGV[1]
local person = ARGV[2]

local raw = redis.call('HGET', reviews_key, id)
if not raw then
  return 0
end
local review = cjson.decode(raw)
if review.reviewer.id ~= person then
  return 0
end
review.reviewer = {id = 'deleted', name = ''}
review.text = ''
review.reported_by = nil
redis.call('HSET', reviews_key, id, cjson.encode(review))
return 1
