-- poll_end: end a poll (its time is up, or the host ends it early), once, and announce its
-- result: the counts, their percentages and, for a quiz, the answer and the fastest right.
-- uses: _publish
-- KEYS[1] the poll's hash   KEYS[2] a quiz's right answers (zset by ms)
-- KEYS[3] the names of those who answered right   KEYS[4] the room's running poll
-- KEYS[5] the room's last ended poll   KEYS[6] room seq counter   KEYS[7] room events
-- ARGV[1] reason: time_up or ended_early   ARGV[2] now (ms)   ARGV[3] room channel
-- ARGV[4] stream max length   ARGV[5] leaderboard size
-- Returns {1, seq} when this call ended it; {0, reason, ...}: not_found; already_ended;
--   not_due with the poll's ends_at (time_up asked too soon). Every process may call it for
--   every due poll: exactly one ends it.
-- The percentages are rules.percentages (largest remainder), the board rules.leaderboard.
local poll_key = KEYS[1]
local right_key = KEYS[2]
local names_key = KEYS[3]
local live_key = KEYS[4]
local last_key = KEYS[5]
local seq_key = KEYS[6]
local events_key = KEYS[7]
local reason = ARGV[1]
local now = tonumber(ARGV[2])
local channel = ARGV[3]
local maxlen = ARGV[4]
local size = tonumber(ARGV[5])

local p = redis.call('HMGET', poll_key, 'state', 'ends_at', 'id', 'options', 'kind', 'answer')
if not p[1] then
  return {0, 'not_found'}
end
if p[1] == 'ended' then
  return {0, 'already_ended'}
end
if reason == 'time_up' and now < tonumber(p[2]) then
  return {0, 'not_due', tonumber(p[2])}
end

local n = #cjson.decode(p[4])
local votes, total = {}, 0
for i = 1, n do
  votes[i] = tonumber(redis.call('HGET', poll_key, 'v' .. i) or '0')
  total = total + votes[i]
end
local shares = {}
if total == 0 then
  for i = 1, n do
    shares[i] = 0
  end
else
  local remainders, order, sum = {}, {}, 0
  for i = 1, n do
    remainders[i] = (100 * votes[i]) % total
    shares[i] = (100 * votes[i] - remainders[i]) / total
    sum = sum + shares[i]
    order[i] = i
  end
  table.sort(order, function(a, b)
    if remainders[a] ~= remainders[b] then
      return remainders[a] > remainders[b]
    end
    return a < b
  end)
  for k = 1, 100 - sum do
    shares[order[k]] = shares[order[k]] + 1
  end
end

local event = {type = 'poll.ended', poll_id = p[3], votes = votes, total = total,
  percentages = shares, reason = reason}
local fields = {'state', 'ended', 'ended_at', now, 'end_reason', reason}
if p[5] == 'quiz' then
  local rows = redis.call('ZRANGE', right_key, 0, size - 1, 'WITHSCORES')
  local board = {}
  for i = 1, #rows, 2 do
    local name = redis.call('HGET', names_key, rows[i]) or ''
    board[#board + 1] = {user = {id = rows[i], name = name}, ms = tonumber(rows[i + 1])}
  end
  event.answer = tonumber(p[6])
  event.leaderboard = board
  local stored = '[]'
  if #board > 0 then
    stored = cjson.encode(board)
  end
  fields[#fields + 1] = 'board'
  fields[#fields + 1] = stored
end
redis.call('HSET', poll_key, unpack(fields))
if redis.call('GET', live_key) == p[3] then
  redis.call('DEL', live_key)
end
redis.call('SET', last_key, p[3])
return {1, publish(seq_key, events_key, channel, maxlen, cmsgpack.pack(event))}
