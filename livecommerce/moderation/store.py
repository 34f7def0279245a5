"""Moderation in Redis: one script applies an action, its room event and its audit entry.

A room's bans, time-outs, slow mode and pinned chat line live beside its other keys, under
its hash tag, and ``chat_post.lua`` reads them in the same step that posts a line: that is
what makes a ban hold on every process at once. Reports and the word list are plain keys.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from redis.asyncio import Redis

from livecommerce.errors import NotFound
from livecommerce.events import ChatDeleted, ChatPinned, ChatUnpinned, Event, Moderated, RoomSlow
from livecommerce.moderation.rules import ModRequest
from livecommerce.store import keys
from livecommerce.store.connection import as_text, guarded, pack_event, unpack_event
from livecommerce.store.scripts import Scripts

AUDIT_MAX_LEN = 10_000
RESOLVED_KEPT = 1_000


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


class ModerationStore:
    def __init__(self, client: Redis, scripts: Scripts, *, stream_max_len: int) -> None:
        self.client = client
        self.scripts = scripts
        self.stream_max_len = stream_max_len

    @guarded
    async def apply(
        self,
        room_id: str,
        request: ModRequest,
        audit: Event,
        *,
        value: int = 0,
        event: ChatDeleted | ChatPinned | ChatUnpinned | RoomSlow | None = None,
        note: Moderated | None = None,
    ) -> int:
        """Apply one action; the seq of its room event (0 when it has none)."""
        target = request.user_id or request.message_id
        status, result = await self.scripts.mod_apply(
            keys=[
                keys.room(room_id),
                keys.room_seq(room_id),
                keys.room_events(room_id),
                keys.room_bans(room_id),
                keys.room_timeouts(room_id),
                keys.room_chat(room_id),
                keys.room_audit(room_id),
                keys.room_chat_order(room_id),
            ],
            args=[
                keys.room_channel(room_id),
                self.stream_max_len,
                request.action.value,
                target,
                value,
                pack_event(event) if event is not None else "",
                pack_event(note) if note is not None else "",
                pack_event(audit),
                AUDIT_MAX_LEN,
            ],
        )
        if int(status) == 0:
            why = as_text(result)
            if why == "not_moderator":
                raise NotFound(f"{request.user_id[:64]} is not a moderator of this room")
            if request.message_id:
                raise NotFound(f"message {request.message_id[:64]} is not in this room's chat")
            raise NotFound(f"room {room_id} does not exist")
        return int(result)

    @guarded
    async def record(self, room_id: str, entry: Event) -> None:
        """Keep an entry that no tool wrote (a refused attempt) in the room's audit log."""
        await self.client.xadd(
            keys.room_audit(room_id),
            {"d": pack_event(entry)},
            maxlen=AUDIT_MAX_LEN,
            approximate=True,
        )

    @guarded
    async def message(self, room_id: str, message_id: str) -> Event:
        """A recent chat line by id, with its seq; ``NotFound`` when deleted or too old."""
        raw = await self.client.hget(keys.room_chat(room_id), message_id)
        if raw is None:
            raise NotFound(f"message {message_id[:64]} is not in this room's chat")
        head, _, payload = _bytes(raw).partition(b"|")
        event = unpack_event(payload)
        event["seq"] = int(head)
        return event

    @guarded
    async def messages_of(self, room_id: str, user_id: str, limit: int = 50) -> list[Event]:
        """A person's recent chat lines in a room, newest first, for the console's user panel."""
        found: list[Event] = []
        async for _, raw in self.client.hscan_iter(keys.room_chat(room_id), count=500):
            head, _, payload = _bytes(raw).partition(b"|")
            event = unpack_event(payload)
            if event.get("user", {}).get("id") == user_id:
                event["seq"] = int(head)
                found.append(event)
        found.sort(key=lambda e: e["seq"], reverse=True)
        return found[:limit]

    @guarded
    async def standing(self, room_id: str, user_id: str) -> tuple[bool, int]:
        """Whether a person is banned here, and until when they are timed out (0: not)."""
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.sismember(keys.room_bans(room_id), user_id)
            pipe.hget(keys.room_timeouts(room_id), user_id)
            banned, until = await pipe.execute()
        return bool(banned), int(until or 0)

    @guarded
    async def banned(self, room_id: str) -> list[str]:
        return sorted(as_text(m) for m in await self.client.smembers(keys.room_bans(room_id)))

    @guarded
    async def timeouts(self, room_id: str, now: int) -> dict[str, int]:
        raw = await self.client.hgetall(keys.room_timeouts(room_id))
        return {as_text(k): int(v) for k, v in raw.items() if int(v) > now}

    @guarded
    async def audit(self, room_id: str, limit: int = 100, before: str = "+") -> list[Event]:
        """The newest audit entries first; ``before`` pages back by entry id."""
        rows: Any = await self.client.xrevrange(keys.room_audit(room_id), before, "-", count=limit)
        out = []
        for entry_id, fields in rows:
            entry = unpack_event(fields[b"d"])
            entry["id"] = as_text(entry_id)
            out.append(entry)
        return out

    @guarded
    async def words(self, room_id: str) -> list[str]:
        raw = await self.client.get(keys.room_words(room_id))
        return list(json.loads(raw)) if raw else []

    @guarded
    async def set_words(self, room_id: str, words: list[str]) -> None:
        await self.client.set(keys.room_words(room_id), orjson.dumps(words))

    @guarded
    async def add_report(self, room_id: str, report: Event) -> None:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(keys.room_reports(room_id), report["id"], orjson.dumps(report))
            pipe.zadd(keys.room_reports_open(room_id), {report["id"]: report["at"]})
            await pipe.execute()

    @guarded
    async def open_reports(self, room_id: str, limit: int = 100) -> list[Event]:
        ids: Any = await self.client.zrange(keys.room_reports_open(room_id), 0, limit - 1)
        if not ids:
            return []
        raw = await self.client.hmget(keys.room_reports(room_id), ids)
        return [orjson.loads(r) for r in raw if r is not None]

    @guarded
    async def resolve_report(self, room_id: str, report_id: str, resolution: Event) -> Event:
        raw = await self.client.hget(keys.room_reports(room_id), report_id)
        if raw is None:
            raise NotFound(f"report {report_id[:64]} does not exist")
        report: Event = {**orjson.loads(raw), **resolution, "state": "resolved"}
        resolved = keys.room_reports_resolved(room_id)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(keys.room_reports(room_id), report_id, orjson.dumps(report))
            pipe.zrem(keys.room_reports_open(room_id), report_id)
            pipe.zadd(resolved, {report_id: int(report.get("resolved_at") or report["at"])})
            await pipe.execute()
        # Resolved reports are kept for a while (the audit log keeps the decision for good).
        over = int(await self.client.zcard(resolved)) - RESOLVED_KEPT
        if over > 0:
            old: Any = await self.client.zpopmin(resolved, over)
            if old:
                await self.client.hdel(keys.room_reports(room_id), *(member for member, _ in old))
        return report

    @guarded
    async def count_open_reports(self, room_id: str) -> int:
        return int(await self.client.zcard(keys.room_reports_open(room_id)))
