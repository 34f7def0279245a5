"""The polls' store: each step one Lua script under the room's hash tag.

A vote and its count are one step, so an account that votes from two sockets on two
processes at once gets one vote and one ``already_voted``; ending a poll and the
``poll.ended`` everyone sees are one step too, so every process may try and one ends it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from redis.asyncio import Redis

from livecommerce.errors import NotFound
from livecommerce.polls.rules import LEADERBOARD_SIZE, Entry, Poll, poll_from_hash
from livecommerce.store import keys
from livecommerce.store.connection import as_strings, as_text, guarded
from livecommerce.store.schedule import Schedules
from livecommerce.store.scripts import register


@dataclass(frozen=True, slots=True)
class VoteAnswer:
    """``counts`` after the vote when taken; else ``reason`` (and the ``option`` chosen
    before, for ``already_voted``)."""

    counts: tuple[int, ...] = ()
    reason: str = ""
    option: int | None = None

    @property
    def ok(self) -> bool:
        return not self.reason


@dataclass(frozen=True, slots=True)
class Ending:
    """What ``end`` did: ended by this call (then ``seq``), or why not."""

    ended: bool
    reason: str = ""
    seq: int = 0
    ends_at: int = 0


def _board(raw: str | None) -> list[Entry]:
    if not raw:
        return []
    return [Entry(e["user"]["id"], e["user"]["name"], int(e["ms"])) for e in json.loads(raw)]


class PollStore:
    def __init__(self, client: Redis, *, stream_max_len: int) -> None:
        self.client = client
        self.schedules = Schedules(client)
        self.stream_max_len = stream_max_len
        self._start = register(client, "poll_start")
        self._vote = register(client, "poll_vote")
        self._end = register(client, "poll_end")

    @guarded
    async def poll(self, room_id: str, poll_id: str) -> Poll:
        raw = await self.client.hgetall(keys.poll(room_id, poll_id)[0])
        if not raw:
            raise NotFound(f"poll {poll_id[:80]} does not exist")
        fields = as_strings(raw)
        return poll_from_hash(fields, _board(fields.get("board")))

    async def _polls(self, room_id: str, ids: list[str]) -> list[Poll]:
        async with self.client.pipeline(transaction=False) as pipe:
            for poll_id in ids:
                pipe.hgetall(keys.poll(room_id, poll_id)[0])
            rows = await pipe.execute()
        found = []
        for row in rows:
            if row:
                fields = as_strings(row)
                found.append(poll_from_hash(fields, _board(fields.get("board"))))
        return found

    @guarded
    async def room_polls(self, room_id: str, limit: int = 100) -> list[Poll]:
        """The room's polls in the order they started."""
        ids = await self.client.zrange(keys.room_polls(room_id), 0, limit - 1)
        return await self._polls(room_id, [as_text(i) for i in ids])

    @guarded
    async def live_and_last(self, room_id: str) -> tuple[Poll | None, Poll | None]:
        """The running poll and the one that ended last, for a joiner."""
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.get(keys.room_live_poll(room_id))
            pipe.get(keys.room_last_poll(room_id))
            live, last = await pipe.execute()
        ids = [as_text(i) for i in (live, last) if i is not None]
        polls = {p.id: p for p in await self._polls(room_id, ids)}
        return (
            polls.get(as_text(live)) if live is not None else None,
            polls.get(as_text(last)) if last is not None else None,
        )

    @guarded
    async def live_poll(self, room_id: str) -> str | None:
        raw = await self.client.get(keys.room_live_poll(room_id))
        return None if raw is None else as_text(raw)

    @guarded
    async def vote_of(self, room_id: str, poll_id: str, user_id: str) -> int | None:
        raw = await self.client.hget(keys.poll(room_id, poll_id)[1], user_id)
        return None if raw is None else int(raw)

    @guarded
    async def counts(self, room_id: str, poll_id: str, options: int) -> list[int]:
        fields = [f"v{i + 1}" for i in range(options)]
        rows = await self.client.hmget(keys.poll(room_id, poll_id)[0], fields)
        return [int(r or 0) for r in rows]

    @guarded
    async def start(self, poll: Poll, now: int) -> tuple[bool, str, int]:
        """(True, seq, ends_at) when started; (False, reason, 0) when not.

        The poll joins the set the tickers visit before the script runs: a process that dies
        right after the start must not leave a poll that never ends."""
        room_id, index = poll.room_id, keys.active_polls()
        member = f"{room_id} {poll.id}"
        self.schedules[index].expect(now + poll.duration_s * 1000)
        await self.client.zadd(index, {member: now + poll.duration_s * 1000})
        flat: list[str] = []
        for name, value in poll.to_hash().items():
            flat += [name, value]
        raw = await self._start(
            keys=[
                keys.poll(room_id, poll.id)[0],
                keys.room(room_id),
                keys.room_live_poll(room_id),
                keys.room_polls(room_id),
                keys.room_seq(room_id),
                keys.room_events(room_id),
            ],
            args=[now, keys.room_channel(room_id), self.stream_max_len, *flat],
        )
        if int(raw[0]) == 0:
            await self.client.zrem(index, member)
            return False, as_text(raw[1]), 0
        return True, as_text(raw[1]), int(raw[2])

    @guarded
    async def vote(
        self, room_id: str, poll_id: str, user_id: str, name: str, option: int, now: int
    ) -> VoteAnswer:
        raw = await self._vote(
            keys=[*keys.poll(room_id, poll_id), keys.room_bans(room_id)],
            args=[user_id, name, option, now],
        )
        if int(raw[0]) == 1:
            return VoteAnswer(counts=tuple(int(c) for c in raw[1:]))
        detail = as_text(raw[2])
        return VoteAnswer(reason=as_text(raw[1]), option=int(detail) if detail else None)

    @guarded
    async def note_voter(self, user_id: str, room_id: str, poll_id: str) -> None:
        """Index a counted vote under its voter (their slot, not the room's): the export's
        way back to it. Written after the vote; a crash between loses only this index."""
        await self.client.sadd(keys.user_votes(user_id), f"{room_id} {poll_id}")

    @guarded
    async def polls_of_voter(self, user_id: str, limit: int) -> list[tuple[str, str]]:
        members = await self.client.srandmember(keys.user_votes(user_id), limit)
        found = []
        for member in members or []:
            room_id, _, poll_id = as_text(member).partition(" ")
            found.append((room_id, poll_id))
        return sorted(found)

    @guarded
    async def end(self, room_id: str, poll_id: str, reason: str, now: int) -> Ending:
        poll_keys = keys.poll(room_id, poll_id)
        raw = await self._end(
            keys=[
                poll_keys[0],
                poll_keys[2],
                poll_keys[3],
                keys.room_live_poll(room_id),
                keys.room_last_poll(room_id),
                keys.room_seq(room_id),
                keys.room_events(room_id),
            ],
            args=[reason, now, keys.room_channel(room_id), self.stream_max_len, LEADERBOARD_SIZE],
        )
        if int(raw[0]) == 1:
            return Ending(True, seq=int(raw[1]))
        why = as_text(raw[1])
        return Ending(False, why, ends_at=int(raw[2]) if why == "not_due" else 0)

    # The process-wide set the tickers visit --------------------------------------------

    async def due(self, now: int, limit: int = 100) -> list[tuple[str, str, int]]:
        """Running polls whose end is due by ``now`` as (room, poll, ends_at)."""
        return await self.schedules[keys.active_polls()].due(now, limit)

    async def reschedule(self, room_id: str, poll_id: str, at: int) -> None:
        await self.schedules[keys.active_polls()].put(room_id, poll_id, at)

    async def done(self, room_id: str, poll_id: str) -> None:
        await self.schedules[keys.active_polls()].done(room_id, poll_id)
