"""What the media plane keeps in Redis: a room's stream state, its recordings, its pin history.

The stream state lives in the room hash (``stream``, and ``stream_origin``: the process that
holds the publication, where another process sends a WHEP viewer). Recordings are a list of
JSON entries per room, appended when a recording's file is finished; the pin history is the
stream ``room_pin.lua`` writes, read back so a replay shows each pin at its moment.
"""

from __future__ import annotations

from typing import Any

import orjson
from redis.asyncio import Redis

from livecommerce.events import StreamState
from livecommerce.rooms.store import pin_history
from livecommerce.store import keys
from livecommerce.store.connection import as_text, guarded, pack_event
from livecommerce.store.scripts import register

RECORDINGS_KEPT = 200


class MediaStore:
    def __init__(self, client: Redis, *, stream_max_len: int = 10_000) -> None:
        self.client = client
        self.stream_max_len = stream_max_len
        self._release = register(client, "stream_release")
        self._reap = register(client, "stream_reap")
        self._state = register(client, "stream_state")

    @guarded
    async def announce_stream(
        self, room_id: str, state: str, origin: str, internal: str, now_ms: int
    ) -> bool:
        """Set and announce the room's stream state, if this process still holds the stream
        (a process that lost it to another says nothing); whether it did."""
        event = pack_event(StreamState(type="stream.state", state=state, at=now_ms))
        seq = await self._state(
            keys=[keys.room(room_id), keys.room_seq(room_id), keys.room_events(room_id)],
            args=[
                origin,
                internal,
                state,
                now_ms,
                keys.room_channel(room_id),
                self.stream_max_len,
                event,
            ],
        )
        if not int(seq):
            return False
        await self.client.zadd(keys.stream_claims(), {room_id: now_ms})
        return True

    @guarded
    async def claim_stream(self, room_id: str, origin: str, internal: str, now_ms: int) -> None:
        fields = {"stream_origin": origin, "stream_internal": internal, "stream_seen": str(now_ms)}
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.hset(keys.room(room_id), mapping=fields)  # type: ignore[arg-type]
            pipe.zadd(keys.stream_claims(), {room_id: now_ms})
            await pipe.execute()

    @guarded
    async def release_stream(self, room_id: str, origin: str) -> None:
        """Forget where the stream was, unless another process has claimed it since."""
        if await self._release(keys=[keys.room(room_id)], args=[origin]):
            await self.client.zrem(keys.stream_claims(), room_id)

    @guarded
    async def touch_streams(self, room_ids: list[str], now_ms: int) -> None:
        """The streaming process is still there: a process that dies stops saying so."""
        async with self.client.pipeline(transaction=False) as pipe:
            for room_id in room_ids:
                pipe.hset(keys.room(room_id), "stream_seen", str(now_ms))
            pipe.zadd(keys.stream_claims(), dict.fromkeys(room_ids, now_ms))
            await pipe.execute()

    @guarded
    async def reap_streams(self, now_ms: int, fresh_ms: int) -> list[str]:
        """Take offline the streams of processes that stopped saying they stream (they died);
        the rooms whose viewers were told. Any process may run it: the script decides."""
        cutoff = now_ms - fresh_ms
        stale = await self.client.zrangebyscore(keys.stream_claims(), 0, cutoff, start=0, num=100)
        told = []
        event = pack_event(StreamState(type="stream.state", state="offline", at=now_ms))
        for raw in stale:
            room_id = as_text(raw)
            seq = await self._reap(
                keys=[keys.room(room_id), keys.room_seq(room_id), keys.room_events(room_id)],
                args=[cutoff, keys.room_channel(room_id), self.stream_max_len, event],
            )
            if int(seq) != 0:
                await self.client.zrem(keys.stream_claims(), room_id)
            if int(seq) > 0:
                told.append(room_id)
        return told

    @guarded
    async def stream_origin(self, room_id: str, now_ms: int, fresh_ms: int) -> tuple[str, str]:
        """The process streaming the room, if it has said so lately: its URL for clients and
        its URL for other processes; else empty strings."""
        origin, internal, seen = await self.client.hmget(
            keys.room(room_id), ["stream_origin", "stream_internal", "stream_seen"]
        )
        if not origin or not seen or now_ms - int(seen) > fresh_ms:
            return "", ""
        return as_text(origin), as_text(internal or origin)

    @guarded
    async def add_recording(self, room_id: str, entry: dict[str, Any]) -> None:
        key = keys.room_recordings(room_id)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.rpush(key, orjson.dumps(entry))
            pipe.ltrim(key, -RECORDINGS_KEPT, -1)
            await pipe.execute()

    @guarded
    async def recordings(self, room_id: str) -> list[dict[str, Any]]:
        raw = await self.client.lrange(keys.room_recordings(room_id), 0, -1)
        return [orjson.loads(item) for item in raw]

    @guarded
    async def pin_history(self, room_id: str) -> list[dict[str, Any]]:
        return await pin_history(self.client, room_id)
