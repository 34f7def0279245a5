-- review_judge: the seller or an operator hides a review's text (or shows it again), off
-- the reported list, with the action in the seller's review audit trail in the same step.
-- KEYS[1] the seller's reviews (review id -> JSON)   KEYS[2] the seller's reported ids (zset)
-- KEYS[3] the seller's review audit (list, newest first)
-- ARGV[1] review id   ARGV[2] '1' hide, '0' show   ARGV[3] audit entry JSON
-- ARGV[4] audit entries kept
-- Returns {status, review JSON}: 1 judged now; 2 already so (nothing written); 0 no such review.
local reviews_key = KEYS[1]
local reported_key = KEYS[2]
local audit_key = KEYS[3]
local id = ARGV[1]
local hide = ARGV[2] == '1'
local entry = ARGV[3]
local keep = tonumber(ARGV[4])

local raw = redis.call('HGET', reviews_key, id)
if not raw then
  return {0, ''}
end
local review = cjson.decode(raw)
local was_reported = redis.call('ZREM', reported_key, id) == 1
if (review.hidden == true) == hide and not was_reported then
  return {2, raw}
end
review.hidden = hide
review.judged = true
raw = cjson.encode(review)
redis.call('HSET', reviews_key, id, raw)
redis.call('LPUSH', audit_key, entry)
redis.call('LTRIM', audit_key, 0, keep - 1)
return {1, raw}
