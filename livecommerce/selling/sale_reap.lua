-- sale_reap: expire the holds of one sale whose time is up. Safe to run on every process
-- at once: a hold's state moves from held exactly once, so its units return exactly once.
-- uses: _sale
-- KEYS[1..7] the sale's keys (named in _sale.lua)
-- ARGV[1] now (ms)   ARGV[2] at most this many holds
-- Returns {expired count, available, held, sold, offers...}.
local now = ARGV[1]
local most = tonumber(ARGV[2])

local before = tonumber(redis.call('ZCOUNT', expiry_key, '-inf', now))
local offers = reap(tonumber(now), most)
local s = stock()
local out = {math.min(before, most), s[1], s[2], s[3]}
for _, offer in ipairs(offers) do
  out[#out + 1] = offer
end
return out
