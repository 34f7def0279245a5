-- giveaway_draw: publish the draw of a closed giveaway, once, with the winner's prize order.
-- uses: _publish
-- KEYS[1] the giveaway's hash   KEYS[2] its entries   KEYS[3] its seed
-- KEYS[4] the room's running giveaway   KEYS[5] room seq counter   KEYS[6] room event stream
-- KEYS[7] the room's last ended giveaway   KEYS[8] the prize order's key
-- KEYS[9] the room's orders (zset)
-- ARGV[1] the winner's id ('' when nobody entered), drawn by rules.draw from what
-- giveaway_close returned   ARGV[2] now (ms)   ARGV[3] room channel   ARGV[4] stream max length
-- ARGV[5] the order id to use   ARGV[6] how long the winner has to give an address (ms)
-- Returns {1, seq, order JSON or ''} when this call ended it; {0, reason}: not_found,
-- already_ended (with the order id, '' when none), not_drawing (entries still open), or
-- not_an_entrant (a winner who never entered: refused, never published).
local giveaway_key = KEYS[1]
local entries_key = KEYS[2]
local seed_key = KEYS[3]
local live_key = KEYS[4]
local seq_key = KEYS[5]
local events_key = KEYS[6]
local last_key = KEYS[7]
local order_key = KEYS[8]
local orders_key = KEYS[9]
local winner = ARGV[1]
local now = tonumber(ARGV[2])
local channel = ARGV[3]
local maxlen = ARGV[4]
local order_id = ARGV[5]
local claim_ms = tonumber(ARGV[6])

local g = redis.call('HMGET', giveaway_key, 'state', 'id', 'entrants', 'card', 'currency',
  'room_id', 'order_id')
if not g[1] then
  return {0, 'not_found'}
end
if g[1] == 'ended' then
  return {0, 'already_ended', g[7] or ''}
end
if g[1] ~= 'drawing' then
  return {0, 'not_drawing'}
end
local entrants = tonumber(g[3])
local fields = {'state', 'ended', 'ended_at', now}
local event = {type = 'giveaway.ended', giveaway_id = g[2], winner = cjson.null,
  seed = redis.call('GET', seed_key), entrants = entrants, reason = 'no_entrants'}
local order = ''
if winner ~= '' then
  local entry = redis.call('HGET', entries_key, winner)
  if not entry then
    return {0, 'not_an_entrant'}
  end
  local name = string.sub(entry, string.find(entry, '|', 1, true) + 1)
  local card = cjson.decode(g[4])
  order = cjson.encode({
    id = order_id, kind = 'giveaway', state = 'awaiting_address', room_id = g[6],
    giveaway_id = g[2], buyer = {id = winner, name = name},
    lines = {{product_id = card.product.id, title = card.product.title, quantity = 1,
      unit_price = 0, amount = 0}},
    amount = 0, currency = g[5], shipping = cjson.null, payment = {ref = cjson.null},
    created_at = now, claim_by = now + claim_ms,
  })
  redis.call('SET', order_key, order)
  redis.call('ZADD', orders_key, now, order_id)
  event.winner = {id = winner, name = name}
  event.reason = 'drawn'
  for _, f in ipairs({'end_reason', 'drawn', 'winner', winner, 'winner_name', name,
      'order_id', order_id}) do
    fields[#fields + 1] = f
  end
else
  fields[#fields + 1] = 'end_reason'
  fields[#fields + 1] = 'no_entrants'
end
redis.call('HSET', giveaway_key, unpack(fields))
if redis.call('GET', live_key) == g[2] then
  redis.call('DEL', live_key)
end
redis.call('SET', last_key, g[2])
return {1, publish(seq_key, events_key, channel, maxlen, cmsgpack.pack(event)), order}
