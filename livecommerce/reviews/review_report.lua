-- review_report: someone reports a review to its seller; each person counts once.
-- KEYS[1] the seller's reviews (review id -> JSON)   KEYS[2] the seller's reported ids (zset)
-- ARGV[1] review id   ARGV[2] reporter id   ARGV[3] now (ms)   ARGV[4] reporters remembered
-- Returns {status, reports}: 1 counted now; 2 this person had reported it already;
--   0 no such review.
local reviews_key = KEYS[1]
local reported_key = KEYS[2]
local id = ARGV[1]
local reporter_id = ARGV[2]
local now = tonumber(ARGV[3])
local keep = tonumber(ARGV[4])

local raw = redis.call('HGET', reviews_key, id)
if not raw then
  return {0, 0}
end
local review = cjson.decode(raw)
local by = review.reported_by or {}
for _, who in ipairs(by) do
  if who == reporter_id then
    return {2, review.reports or 0}
  end
end
if #by < keep then
  by[#by + 1] = reporter_id
end
review.reported_by = by
review.reports = (review.reports or 0) + 1
redis.call('HSET', reviews_key, id, cjson.encode(review))
if not review.hidden and not review.judged then
  redis.call('ZADD', reported_key, 'NX', now, id)
end
return {1, review.reports}
