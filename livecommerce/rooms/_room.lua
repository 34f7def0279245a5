-- Shared prelude for the scripts that change a room's state.
-- room_refusal(room_key, expected) -> nil when the room is in the expected state; else the
--   refusal to return as it is: {-1, ''} when the room does not exist, {0, current state}
--   when it is in another state.
local function room_refusal(room_key, expected)
  local state = redis.call('HGET', room_key, 'state')
  if not state then
    return {-1, ''}
  end
  if state ~= expected then
    return {0, state}
  end
  return nil
end
