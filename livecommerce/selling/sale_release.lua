-- sale_release: the buyer gives a hold back before it expires.
-- uses: _sale
-- KEYS[1..7] the sale's keys (named in _sale.lua)
-- ARGV[1] hold id   ARGV[2] user id (must own the hold)   ARGV[3] now (ms)
-- Returns {status, hold JSON or reason, available, held, sold, offers...}:
--   status 1: released now; 2: it was no longer held (already released, expired or
--   confirmed: nothing changes, so a retry is harmless); 0: refused, reason not_found or
--   forbidden (someone else's hold).
local hold_id = ARGV[1]
local user_id = ARGV[2]
local now = tonumber(ARGV[3])

local raw = redis.call('HGET', holds_key, hold_id)
if not raw then
  return {0, 'not_found', 0, 0, 0}
end
local hold = cjson.decode(raw)
if hold.user_id ~= user_id then
  return {0, 'forbidden', 0, 0, 0}
end
local status, offers = 2, {}
if hold.state == 'held' then
  status = 1
  offers = end_hold(hold, 'released', now)
  raw = cjson.encode(hold)
end
local s = stock()
local out = {status, raw, s[1], s[2], s[3]}
for _, offer in ipairs(offers) do
  out[#out + 1] = offer
end
return out
