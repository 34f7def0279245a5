"""Polls and quizzes in a room: who may start, end and vote, and keeping the room told.

The counting runs in Redis (``poll_*.lua``); this service checks who may do what, ends the
polls whose time is up on every process (one of them wins each, as auction lots close), and
sends the running counts as ``poll.tally``: coalesced here per poll to one update a tick,
whatever the voting rate, and paced again by each room's channel, like ``sale.stock``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from livecommerce.accounts.auth import Identity
from livecommerce.accounts.privacy import anonymise, authors
from livecommerce.errors import (
    AlreadyVoted,
    Banned,
    Conflict,
    Forbidden,
    LiveCommerceError,
    NotFound,
    OptionOutOfRange,
    PollNotActive,
    PollRunning,
    RoomNotLive,
    Unauthorized,
)
from livecommerce.events import Event, PollTally
from livecommerce.polls.rules import EndReason, Kind, Poll, PollDraft, PollState, percentages
from livecommerce.polls.store import PollStore, VoteAnswer
from livecommerce.rooms.rules import Room, RoomState
from livecommerce.runtime import metrics
from livecommerce.runtime.ids import Ids
from livecommerce.runtime.ticker import Ticker
from livecommerce.store.history import Store

log = logging.getLogger("livecommerce.polls")

TICK_EVERY_S = 0.25  # how late past its end a poll may end, and how often counts go out


def _refusal(answer: VoteAnswer) -> LiveCommerceError:
    reason = answer.reason
    if reason == "already_voted":
        extra = {} if answer.option is None else {"option": answer.option}
        return AlreadyVoted("you voted in this poll already", **extra)
    if reason == "poll_not_active":
        return PollNotActive("this poll has ended")
    if reason == "option_out_of_range":
        return OptionOutOfRange("this poll has no such option")
    if reason == "banned":
        return Banned("you are banned from this room")
    if reason == "forbidden":
        return Forbidden("the host does not vote in their own poll")
    if reason == "not_found":
        return NotFound("no such poll in this room")
    return Conflict(reason)


class Polls:
    def __init__(
        self,
        store: Store,
        polls: PollStore,
        *,
        deleted_among: Callable[[set[str]], Awaitable[set[str]]] | None = None,
        clock: Callable[[], float] = time.time,
        ids: Ids | None = None,
    ) -> None:
        self.store = store
        self.polls = polls
        self.deleted_among = deleted_among
        self.clock = clock
        self.ids = ids or Ids()
        self._dirty: dict[tuple[str, str], int] = {}  # polls voted on since the last tally
        self._ticker = Ticker("polls", TICK_EVERY_S, self.tick, unavailable=logging.DEBUG)

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def start_ticking(self) -> None:
        self._ticker.start()

    async def stop(self) -> None:
        await self._ticker.stop()

    # The host's commands ---------------------------------------------------------------

    async def start(self, who: Identity, room: Room, draft: PollDraft) -> Poll:
        room.require_host(who.id)
        if room.state is not RoomState.LIVE:
            raise RoomNotLive("go live before starting a poll")
        now = self.now_ms()
        poll = Poll(
            id=self.ids.poll(),
            room_id=room.id,
            host_id=room.host_id,
            question=draft.question,
            options=draft.options,
            kind=draft.kind,
            duration_s=draft.duration_s,
            starts_at=now,
            ends_at=now + draft.duration_s * 1000,
            answer=draft.answer,
            votes=(0,) * len(draft.options),
        )
        started, value, ends_at = await self.polls.start(poll, now)
        if not started:
            if value.startswith("busy:"):
                raise PollRunning("a poll is running; end it first", poll_id=value[5:])
            raise RoomNotLive("go live before starting a poll")
        metrics.EVENTS_PUBLISHED.labels("poll.started").inc()
        return replace(poll, ends_at=ends_at)

    async def end(self, who: Identity, room: Room, poll_id: str) -> Poll:
        """The host's End now: the result goes out at once, as at the end of its time."""
        room.require_host(who.id)
        ending = await self.polls.end(room.id, poll_id, EndReason.ENDED_EARLY, self.now_ms())
        if ending.reason == "not_found":
            raise NotFound("no such poll in this room")
        if not ending.ended:
            raise PollNotActive("this poll has ended already")
        metrics.EVENTS_PUBLISHED.labels("poll.ended").inc()
        await self.polls.done(room.id, poll_id)
        return await self.polls.poll(room.id, poll_id)

    async def room_ended(self, room: Room) -> None:
        """A show that ends takes its running poll with it, result and all."""
        poll_id = await self.polls.live_poll(room.id)
        if poll_id is not None:
            ending = await self.polls.end(room.id, poll_id, EndReason.ENDED_EARLY, self.now_ms())
            if ending.ended:
                metrics.EVENTS_PUBLISHED.labels("poll.ended").inc()
            await self.polls.done(room.id, poll_id)

    # Votes -----------------------------------------------------------------------------

    async def vote(self, who: Identity | None, room_id: str, poll_id: str, option: int) -> int:
        """Count ``who``'s vote; the option counted. Once per account, whatever the socket."""
        if who is None:
            raise Unauthorized("sign in to vote")
        answer = await self.polls.vote(room_id, poll_id, who.id, who.name, option, self.now_ms())
        metrics.command("vote", answer.reason or "ok").inc()
        if not answer.ok:
            raise _refusal(answer)
        self._dirty[(room_id, poll_id)] = len(answer.counts)
        with contextlib.suppress(LiveCommerceError):  # the vote stands; only the index is late
            await self.polls.note_voter(who.id, room_id, poll_id)
        return option

    # What people read ------------------------------------------------------------------

    async def welcome(self, room_id: str) -> dict[str, Any]:
        """A joiner's polls: the running one with its counts so far (never a quiz's answer),
        and the last that ended, with its result."""
        live, last = await self.polls.live_and_last(room_id)
        records = await self._anonymised(
            [p.to_record() if p is not None else {} for p in (live, last)]
        )
        return {"live": records[0] or None, "last": records[1] or None}

    async def your_vote(self, room_id: str, user_id: str) -> Event | None:
        """A joiner's own vote in the running poll, for their welcome only."""
        poll_id = await self.polls.live_poll(room_id)
        if poll_id is None:
            return None
        option = await self.polls.vote_of(room_id, poll_id, user_id)
        return None if option is None else {"poll_id": poll_id, "option": option}

    async def votes_of(self, user_id: str, limit: int) -> list[Event]:
        """The polls a person voted in, with the option they chose, for their data export.
        A quiz's answer shows only once it has ended, as everywhere else."""
        found: list[Event] = []
        for room_id, poll_id in await self.polls.polls_of_voter(user_id, limit):
            try:
                poll = await self.polls.poll(room_id, poll_id)
            except NotFound:
                continue
            option = await self.polls.vote_of(room_id, poll_id, user_id)
            if option is None:
                continue
            ended = poll.state is PollState.ENDED
            found.append(
                {
                    "poll_id": poll.id,
                    "room_id": room_id,
                    "question": poll.question,
                    "option": option,
                    "choice": poll.options[option] if 0 <= option < len(poll.options) else None,
                    "kind": str(poll.kind),
                    "state": str(poll.state),
                    "correct": option == poll.answer if ended and poll.kind is Kind.QUIZ else None,
                }
            )
        return found

    async def room_polls(self, room_id: str) -> list[Event]:
        """The show's polls in order with their results, for its results page and replay."""
        return await self._anonymised([p.to_record() for p in await self.polls.room_polls(room_id)])

    async def _anonymised(self, items: list[Event]) -> list[Event]:
        if self.deleted_among is None:
            return items
        deleted = await self.deleted_among(authors(items))
        return anonymise(items, deleted)

    # The ticker: ends polls on time, sends coalesced counts ----------------------------

    async def tick(self) -> None:
        """End every poll whose time is up; any process may, and exactly one does each."""
        now = self.now_ms()
        for room_id, poll_id, _ in await self.polls.due(now):
            try:
                await self.close(room_id, poll_id, now)
            except LiveCommerceError as exc:
                log.warning("ending poll %s: %s", poll_id, exc.code)
        await self.flush_tallies()

    async def close(self, room_id: str, poll_id: str, now: int) -> None:
        ending = await self.polls.end(room_id, poll_id, EndReason.TIME_UP, now)
        if ending.reason == "not_due":
            await self.polls.reschedule(room_id, poll_id, ending.ends_at)
            return
        if ending.ended:
            metrics.EVENTS_PUBLISHED.labels("poll.ended").inc()
        await self.polls.done(room_id, poll_id)

    async def flush_tallies(self) -> None:
        """The counts of each poll voted on since the last tick, read fresh: every process
        sends what the store holds, so the latest update is right whoever sends it."""
        dirty, self._dirty = self._dirty, {}
        for (room_id, poll_id), options in dirty.items():
            with contextlib.suppress(LiveCommerceError):
                counts = await self.polls.counts(room_id, poll_id, options)
                event = PollTally(
                    type="poll.tally",
                    poll_id=poll_id,
                    votes=counts,
                    total=sum(counts),
                    percentages=percentages(counts),
                )
                await self.store.publish_ephemeral(room_id, event)

    async def poll(self, room_id: str, poll_id: str) -> Poll:
        return await self.polls.poll(room_id, poll_id)
