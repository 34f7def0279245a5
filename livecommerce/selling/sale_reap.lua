-- sale_reap: expire the holds of one sale whose time is up. Safe to run on every process
-- uses: _sale
-- at once: a hold's state moves from held exactly once, so its units return exactly once.
-- KEYS[1..7] the sale's keys (see _sale.lua)
-- ARGV[1] now (ms)   ARGV[2] at most this many holds
-- Returns {expired count, available, held, sold, offers...}.
local before = tonumber(redis.call('ZCOUNT', KEYS[2], '-inf', ARGV[1]))
local offers = reap(tonumber(ARGV[1]), tonumber(ARGV[2]))
local s = stock()
local out = {math.min(before, tonumber(ARGV[2])), s[1], s[2], s[3]}
for _, offer in ipairs(offers) do
  out[#out + 1] = offer
end
return out
