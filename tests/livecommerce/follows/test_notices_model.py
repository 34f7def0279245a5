"""Show notices against a model, step by random step, on a real Valkey.

Hypothesis creates shows (scheduled soon, later, long ago, or with no time), moves the clock,
takes shows live and ends them, and has one process or two at once run their notice tick.
After every step the webhooks queued for the creator must be exactly the ones the model
sends: a reminder once for a show still scheduled when its reminder comes due (and not long
overdue), a live notice once for a show still live when a tick sees it, nothing else, each
under its one event id.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis.asyncio as aioredis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from livecommerce.accounts.auth import Identity
from livecommerce.accounts.store import AccountStore
from livecommerce.follows.rules import REMINDER_STALE_MS, Notice, notice_event_id
from livecommerce.follows.service import Follows
from livecommerce.follows.store import FollowStore
from livecommerce.rooms.rules import RoomDraft, RoomState
from livecommerce.rooms.service import Rooms
from livecommerce.rooms.store import RoomStore
from livecommerce.store import keys
from livecommerce.store.connection import as_text
from livecommerce.store.embedded import EmbeddedValkey
from livecommerce.store.history import Store
from livecommerce.store.limits import Limit, Limiter
from livecommerce.webhooks.rules import Endpoint
from livecommerce.webhooks.store import WebhookStore

START = 1_800_000_000_000
LEAD_S = 900
LEAD_MS = LEAD_S * 1000
HOST = Identity("u_host", "Kari", "account")


@dataclass
class Show:
    id: str
    scheduled_at: int | None
    state: RoomState = RoomState.SCHEDULED
    reminder_waits: bool = False
    live_waits: bool = False


@dataclass
class Model:
    shows: list[Show] = field(default_factory=list)
    sent: set[str] = field(default_factory=set)  # event ids

    def tick(self, now: int) -> None:
        """What one round of ticks does, on however many processes."""
        for show in self.shows:
            if show.reminder_waits:
                assert show.scheduled_at is not None
                if show.state is not RoomState.SCHEDULED:
                    show.reminder_waits = False
                elif now >= show.scheduled_at - LEAD_MS:
                    show.reminder_waits = False
                    if now - show.scheduled_at <= REMINDER_STALE_MS:
                        self.sent.add(notice_event_id(show.id, Notice.REMINDER))
            if show.live_waits:
                show.live_waits = False
                if show.state is RoomState.LIVE:
                    self.sent.add(notice_event_id(show.id, Notice.LIVE))


class Process:
    """One server process's notice desk: a connection of its own, the same store."""

    def __init__(self, url: str, clock: Any) -> None:
        self.client = aioredis.Redis.from_url(url)
        store = Store(self.client)
        room_store = RoomStore(self.client, store.scripts, stream_max_len=100)
        self.follows = Follows(
            FollowStore(self.client),
            room_store,
            AccountStore(self.client, store.scripts),
            WebhookStore(self.client),
            Limiter(store),
            toggle_limit=Limit.parse("follow", "0"),
            reminder_lead_s=LEAD_S,
            base_url="https://shop.example",
            clock=clock,
        )
        self.rooms = Rooms(store, room_store, clock=clock, on_changed=self.follows.room_changed)


class NoticeMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.now = START
        self.processes = [Process(VALKEY.url, self.clock), Process(VALKEY.url, self.clock)]
        self.client = self.processes[0].client
        self.run(self.client.flushall())
        self.model = Model()

    def clock(self) -> float:
        return self.now / 1000

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        for process in self.processes:
            self.run(process.client.aclose())
        self.loop.close()

    @initialize()
    def the_creator_has_an_endpoint(self) -> None:
        endpoint = Endpoint("we_1", "https://hooks.example/x", "whsec_x", (), START)
        self.run(self.processes[0].follows.webhooks.add_endpoint(HOST.id, endpoint))

    @rule(
        offset_min=st.one_of(st.none(), st.integers(-120, 180)),
        by=st.sampled_from([0, 1]),
    )
    def a_show_is_created(self, offset_min: int | None, by: int) -> None:
        at = None if offset_min is None else self.now + offset_min * 60_000
        draft = RoomDraft("Show", "EUR", "en", "", at)
        room = self.run(self.processes[by].rooms.create(HOST, draft))
        self.model.shows.append(Show(room.id, at, reminder_waits=at is not None))

    @rule(minutes=st.integers(1, 90))
    def time_passes(self, minutes: int) -> None:
        self.now += minutes * 60_000

    @precondition(lambda self: any(s.state is RoomState.SCHEDULED for s in self.model.shows))
    @rule(data=st.data(), by=st.sampled_from([0, 1]))
    def a_show_goes_live(self, data: st.DataObject, by: int) -> None:
        show = data.draw(
            st.sampled_from([s for s in self.model.shows if s.state is RoomState.SCHEDULED])
        )
        rooms = self.processes[by].rooms
        self.run(rooms.transition(HOST, self.run(rooms.room(show.id)), RoomState.LIVE))
        show.state, show.live_waits = RoomState.LIVE, True

    @precondition(lambda self: any(s.state is not RoomState.ENDED for s in self.model.shows))
    @rule(data=st.data())
    def a_show_ends(self, data: st.DataObject) -> None:
        show = data.draw(
            st.sampled_from([s for s in self.model.shows if s.state is not RoomState.ENDED])
        )
        rooms = self.processes[0].rooms
        self.run(rooms.transition(HOST, self.run(rooms.room(show.id)), RoomState.ENDED))
        show.state = RoomState.ENDED

    @rule(both=st.booleans())
    def the_processes_tick(self, both: bool) -> None:
        ticking = self.processes if both else self.processes[:1]

        async def together() -> None:
            await asyncio.gather(*(p.follows.tick() for p in ticking))

        self.run(together())
        self.model.tick(self.now)

    @invariant()
    def each_notice_is_queued_once_and_only_when_due(self) -> None:
        due = self.run(self.client.zrange(keys.webhooks_due(), 0, -1))
        bodies = []
        for delivery_id in due:
            raw = self.run(self.client.hget(keys.webhook_delivery(as_text(delivery_id)), "body"))
            bodies.append(orjson.loads(raw))
        ids = [b["id"] for b in bodies]
        assert len(ids) == len(set(ids))
        assert set(ids) == self.model.sent
        for body in bodies:
            data = body["data"]
            expected = "scheduled" if body["type"] == "show.reminder" else "live"
            assert data["room"]["state"] == expected
            assert data["creator"]["id"] == HOST.id


VALKEY: EmbeddedValkey


def test_show_notices_are_the_models(private_valkey: EmbeddedValkey) -> None:
    global VALKEY
    VALKEY = private_valkey
    NoticeMachine.TestCase.settings = settings(
        max_examples=40,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    NoticeMachine.TestCase().runTest()
