"""The reservation engine against a plain Python model, step by random step.

Hypothesis drives reserve, release, confirm, reap, waitlist joins, stops and clock jumps,
retries included, against the real Lua scripts on a real Valkey, and checks the spec's
invariants 1 to 4 after every step, plus that the engine and the model agree exactly.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from livecommerce.events import SaleEnded, SaleStarted
from livecommerce.runtime.ids import SaleId
from livecommerce.selling.rules import Sale, SaleState
from livecommerce.selling.store import Answer, ReserveRequest, SalesStore
from livecommerce.store import keys
from livecommerce.store.embedded import EmbeddedValkey
from livecommerce.store.history import Store

USERS = ("u1", "u2", "u3", "u4")
ROOM = "r_model"


@dataclass
class ModelHold:
    id: str
    user: str
    quantity: int
    expires_at: int
    state: str = "held"
    order_id: str = ""


class Model:
    """What the engine should do, written the obvious way."""

    def __init__(self, units: int, limit: int, hold_ms: int, ends_at: int) -> None:
        self.units, self.limit, self.hold_ms, self.ends_at = units, limit, hold_ms, ends_at
        self.available, self.active = units, True
        self.holds: dict[str, ModelHold] = {}
        self.keys: dict[tuple[str, str], str] = {}
        self.waitlist: list[str] = []
        self.wanted: dict[str, int] = {}
        self.offers = 0

    def counts(self, user: str) -> tuple[int, int]:
        held = sum(h.quantity for h in self.holds.values() if h.user == user and h.state == "held")
        bought = sum(
            h.quantity for h in self.holds.values() if h.user == user and h.state == "confirmed"
        )
        return held, bought

    @property
    def held(self) -> int:
        return sum(h.quantity for h in self.holds.values() if h.state == "held")

    @property
    def sold(self) -> int:
        return sum(h.quantity for h in self.holds.values() if h.state == "confirmed")

    def give_back(self, now: int, units: int) -> None:
        while units > 0 and self.active and self.waitlist:
            user = self.waitlist.pop(0)
            wanted = self.wanted.pop(user)
            held, bought = self.counts(user)
            q = min(wanted, units, self.limit - held - bought)
            if q > 0:
                self.offers += 1
                hold_id = f"s_model.w{self.offers}"
                self.holds[hold_id] = ModelHold(hold_id, user, q, now + self.hold_ms)
                units -= q
        self.available += units

    def end_hold(self, hold: ModelHold, state: str, now: int) -> None:
        hold.state = state
        self.give_back(now, hold.quantity)

    def reap(self, now: int) -> None:
        due = sorted(
            (h for h in self.holds.values() if h.state == "held" and h.expires_at <= now),
            key=lambda h: (h.expires_at, h.id),
        )
        for hold in due:
            self.end_hold(hold, "expired", now)

    def reserve(self, user: str, q: int, key: str, hold_id: str, now: int) -> str:
        self.reap(now)
        if key and (user, key) in self.keys:
            return "repeat"
        if not self.active or now >= self.ends_at:
            return "sale_not_active"
        held, bought = self.counts(user)
        if held + bought + q > self.limit:
            return "limit_exceeded"
        if self.available < q:
            return "sold_out"
        self.available -= q
        self.holds[hold_id] = ModelHold(hold_id, user, q, now + self.hold_ms)
        if key:
            self.keys[(user, key)] = hold_id
        return "ok"


class EngineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.client = aioredis.Redis.from_url(VALKEY.url)
        self.run(self.client.flushall())
        base = Store(self.client)
        self.engine = SalesStore(self.client, base.scripts, stream_max_len=1000)
        self.now = 1_000_000
        self.serial = 0
        self.model: Model

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        self.run(self.client.aclose())
        self.loop.close()

    @initialize(units=st.integers(1, 8), limit=st.integers(1, 4), hold_s=st.integers(10, 60))
    def start_sale(self, units: int, limit: int, hold_s: int) -> None:
        self.run(self.client.hset(keys.room(ROOM), mapping={"state": "live"}))
        ends_at = self.now + 600_000
        sale = Sale(
            id=SaleId("s_model"), room_id=ROOM, product_id="p", title="t", image_url="", price=100,
            currency="EUR", units=units, per_user_limit=limit, hold_ms=hold_s * 1000,
            starts_at=self.now, ends_at=ends_at, state=SaleState.ACTIVE,
            available=units, held=0, sold=0,
        )  # fmt: skip
        self.run(self.engine.start(sale, SaleStarted(type="sale.started", sale=sale.to_public())))
        self.model = Model(units, limit, hold_s * 1000, ends_at)

    @rule(user=st.sampled_from(USERS), q=st.integers(1, 3), key=st.sampled_from(["", "k1", "k2"]))
    def reserve(self, user: str, q: int, key: str) -> None:
        self.serial += 1
        hold_id = f"s_model.{self.serial:05d}"
        expected = self.model.reserve(user, q, key, hold_id, self.now)
        answer = self.run(self.engine.reserve(ROOM, "s_model", user, q, key, hold_id, self.now))
        self._check(expected, answer, user, key, hold_id, q)

    @rule(
        batch=st.lists(
            st.tuples(st.sampled_from(USERS), st.integers(1, 3), st.sampled_from(["", "k1", "k2"])),
            min_size=1,
            max_size=6,
        )
    )
    def reserve_together(self, batch: list[tuple[str, int, str]]) -> None:
        """Buyers whose presses share one script call get what they would one by one."""
        requests = []
        for user, q, key in batch:
            self.serial += 1
            requests.append(ReserveRequest(user, q, key, f"s_model.{self.serial:05d}"))
        answers = self.run(self.engine.reserve_many(ROOM, "s_model", requests, self.now))
        assert len(answers) == len(requests)
        for request, answer in zip(requests, answers, strict=True):
            expected = self.model.reserve(
                request.user_id, request.quantity, request.key, request.hold_id, self.now
            )
            self._check(
                expected, answer, request.user_id, request.key, request.hold_id, request.quantity
            )
        last = answers[-1].stock
        assert (last.available, last.held, last.sold) == (
            self.model.available,
            self.model.held,
            self.model.sold,
        )

    def _check(
        self, expected: str, answer: Answer, user: str, key: str, hold_id: str, q: int
    ) -> None:
        if expected == "repeat":
            assert answer.status == 2
            assert answer.hold is not None
            assert answer.hold.id == self.model.keys[(user, key)]
        elif expected == "ok":
            assert answer.status == 1, answer
            assert answer.hold is not None
            assert (answer.hold.id, answer.hold.quantity) == (hold_id, q)
        else:
            assert (answer.status, answer.reason) == (0, expected)

    def _some_hold(self, data: st.DataObject) -> ModelHold:
        return self.model.holds[data.draw(st.sampled_from(sorted(self.model.holds)))]

    @precondition(lambda self: bool(self.model.holds))
    @rule(data=st.data(), as_owner=st.booleans())
    def release(self, data: st.DataObject, as_owner: bool) -> None:
        hold = self._some_hold(data)
        user = hold.user if as_owner else "intruder"
        answer = self.run(self.engine.release(ROOM, "s_model", hold.id, user, self.now))
        if not as_owner:
            assert (answer.status, answer.reason) == (0, "forbidden")
        elif hold.state == "held":
            self.model.end_hold(hold, "released", self.now)
            assert answer.status == 1
        else:
            assert answer.status == 2  # a retry changes nothing

    @precondition(lambda self: bool(self.model.holds))
    @rule(data=st.data())
    def confirm(self, data: st.DataObject) -> None:
        hold = self._some_hold(data)
        self.serial += 1
        order_id = f"o{self.serial}"
        result = self.run(
            self.engine.confirm(
                ROOM, "s_model", hold.id, hold.user, self.now, order_id,
                json.dumps({"id": order_id}),
                {"type": "sale.ended", "sale_id": "s_model", "reason": "sold_out"},
            )
        )  # fmt: skip
        if hold.state == "confirmed":
            assert (result.status, result.order_id) == (2, hold.order_id)  # invariant 3
        elif hold.state == "held" and hold.expires_at > self.now:
            assert (result.status, result.order_id) == (1, order_id)
            hold.state, hold.order_id = "confirmed", order_id
            if self.model.sold >= self.model.units and self.model.active:
                self.model.active = False
                assert result.sale_ended
        elif hold.state == "held":
            self.model.end_hold(hold, "expired", self.now)
            assert (result.status, result.reason) == (0, "hold_expired")
        else:
            assert (result.status, result.reason) == (0, f"hold_{hold.state}")

    @rule(seconds=st.sampled_from([1, 5, 15, 30, 61, 300]))
    def clock_jumps(self, seconds: int) -> None:
        self.now += seconds * 1000

    @rule()
    def reaper_runs(self) -> None:
        self.model.reap(self.now)
        self.run(self.engine.reap(ROOM, "s_model", self.now))

    @rule(user=st.sampled_from(USERS), q=st.integers(1, 2))
    def join_waitlist(self, user: str, q: int) -> None:
        status, value = self.run(self.engine.waitlist(ROOM, "s_model", user, q, self.now))
        m = self.model
        held, bought = m.counts(user)
        if not m.active or self.now >= m.ends_at:
            assert (status, value) == (0, "sale_not_active")
        elif m.available > 0:
            assert (status, value) == (0, "not_sold_out")
        elif held + bought + q > m.limit:
            assert (status, value) == (0, "limit_exceeded")
        else:
            assert status == 1
            if user not in m.waitlist:
                m.waitlist.append(user)
            m.wanted[user] = q
            assert int(value) == m.waitlist.index(user) + 1

    @precondition(lambda self: self.model.active)
    @rule()
    def host_stops_the_sale(self) -> None:
        ended, _ = self.run(
            self.engine.end(
                ROOM,
                "s_model",
                "stopped",
                self.now,
                SaleEnded(type="sale.ended", sale_id="s_model", reason="stopped"),
            )
        )
        assert ended
        self.model.active = False

    @invariant()
    def stock_adds_up_and_matches_the_model(self) -> None:
        sale = self.run(self.engine.sale(ROOM, "s_model"))
        m = self.model
        # Invariant 1: available + held + sold == units, each >= 0.
        assert sale.available + sale.held + sale.sold == sale.units
        assert min(sale.available, sale.held, sale.sold) >= 0
        assert sale.sold <= sale.units
        assert (sale.available, sale.held, sale.sold) == (m.available, m.held, m.sold)
        assert (sale.state == "active") == m.active

    @invariant()
    def nobody_is_over_the_limit(self) -> None:
        for user in USERS:
            held, bought = self.run(self.engine.user_counts(ROOM, "s_model", user))
            assert held + bought <= self.model.limit  # invariant 2
            assert (held, bought) == self.model.counts(user)

    @invariant()
    def the_rooms_count_of_holds_per_person_is_exact(self) -> None:
        """What caps one account's concurrent holds must count each open hold once."""
        raw = self.run(self.client.hgetall(keys.sale(ROOM, "s_model")[6]))
        counted = {k.decode(): int(v) for k, v in raw.items()}
        expected: dict[str, int] = {}
        for hold in self.model.holds.values():
            if hold.state == "held":
                expected[hold.user] = expected.get(hold.user, 0) + 1
        assert counted == expected

    @invariant()
    def a_buyer_finds_exactly_their_open_holds_and_what_they_bought(self) -> None:
        """What a buyer's welcome says: their held holds by id (expired ones not yet reaped
        included; the gateway drops those by the clock) and their units bought."""
        for user in USERS:
            parts = self.run(self.engine.buyer_parts(ROOM, user))
            holds = {h.id for part in parts for h in part.holds}
            bought = sum(part.bought for part in parts)
            expected = {
                h.id for h in self.model.holds.values() if h.user == user and h.state == "held"
            }
            assert holds == expected
            assert bought == self.model.counts(user)[1]

    @invariant()
    def every_hold_is_where_the_model_says(self) -> None:
        raw = self.run(self.client.hgetall(keys.sale(ROOM, "s_model")[2]))
        states = {k.decode(): json.loads(v)["state"] for k, v in raw.items()}
        assert states == {h.id: h.state for h in self.model.holds.values()}  # invariant 4


VALKEY: EmbeddedValkey


def test_the_engine_keeps_its_invariants(valkey: EmbeddedValkey) -> None:
    global VALKEY
    VALKEY = valkey
    run_state_machine_as_test(
        EngineMachine,
        settings=settings(
            max_examples=60,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
