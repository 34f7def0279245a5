"""The auction engine against the rules, step by random step.

Hypothesis drives bids (one by one and in batches, retried under the same key, below, at and
far above the next bid, the leader raising, the host and a moderator trying), the clock
(right up to, at and past the end), starts, voids, the ticker closing a lot and the host
cancelling it, against the real Lua scripts on a real Valkey. After every step the stored lot
must be the one ``rules.bid`` makes, and its price the closed form ``winning_price`` gives for
everyone's latest max; each answer must be the one the model gives; a lot ends exactly once,
and the order written at its end has the winner at the hammer price.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field, replace
from typing import Any

import msgpack
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

from livecommerce.auctions.rules import (
    Auction,
    AuctionState,
    Increments,
    Lot,
    Mode,
    Refusal,
    bid,
    ends_at_after_bid,
    winning_price,
)
from livecommerce.auctions.store import AuctionStore, BidAnswer, BidRequest, Closing
from livecommerce.currencies import AMOUNT_MAX
from livecommerce.store import keys
from livecommerce.store.embedded import EmbeddedValkey

ROOM = "r_auction_model"
LOT = "a_model"
HOST, MODERATOR = "host", "mod"
BIDDERS = ("b1", "b2", "b3", "b4")
PAY_MS = 600_000
START = 1_764_000_000_000  # a real epoch in ms: amounts and times both pass through Lua numbers
INCREMENTS = (Increments.whatnot(), Increments.parse("5:1,*:3"))
AMOUNT_KINDS = (
    "next", "next", "over", "over", "below", "leader_max", "runner_up_max", "above_leader", "huge"
)  # fmt: skip


def name_of(bidder: str) -> str:
    return f"Bidder {bidder}"


@dataclass
class Model:
    """What the engine should do, built on ``rules.py`` and written the obvious way."""

    lot: Lot
    increments: Increments
    mode: Mode
    duration_ms: int
    extend_s: int
    state: AuctionState = AuctionState.QUEUED
    ends_at: int = 0
    seq: int = 0
    maxes: list[tuple[str, int]] = field(default_factory=list)  # latest each, in placed order
    answers: dict[tuple[str, str], BidAnswer] = field(default_factory=dict)
    log: list[dict[str, Any]] = field(default_factory=list)
    outcome: str = ""
    order_id: str = ""
    show_over: bool = False
    banned: set[str] = field(default_factory=set)

    def open_at(self, now: int) -> bool:
        running = self.state is AuctionState.ACTIVE and now < self.ends_at
        return not self.show_over and (self.state is AuctionState.QUEUED or running)

    def next_bid(self) -> int:
        return self.lot.next_bid(self.increments)

    def bid(self, bidder: str, amount: int, key: str, now: int) -> BidAnswer:
        """The answer a bid gets (``seq`` left 0: the batch gives it), and the lot after it."""
        if (bidder, key) in self.answers:
            first = self.answers[(bidder, key)]
            if first.max != amount:  # a key names one bid: another amount is refused
                return BidAnswer(0, reason="idempotency_key_reused")
            return first
        if not self.open_at(now):
            return BidAnswer(0, reason=Refusal.NOT_ACTIVE)
        if bidder in (HOST, MODERATOR):
            return BidAnswer(0, reason="forbidden")
        if bidder in self.banned:
            return BidAnswer(0, reason="banned")
        taken = bid(self.lot, bidder, amount, self.increments)
        if isinstance(taken, Refusal):
            return BidAnswer(0, reason=taken, next_bid=self.next_bid())
        self.lot = taken.lot
        if self.state is AuctionState.ACTIVE:
            self.ends_at = ends_at_after_bid(self.mode, self.ends_at, now, self.extend_s)
        self.maxes = [(who, m) for who, m in self.maxes if who != bidder] + [(bidder, amount)]
        self.log.append(
            {"bidder": bidder, "max": amount, "amount": self.lot.price, "leader": self.lot.leader}
        )
        answer = BidAnswer(
            1,
            amount=self.lot.price,
            max=amount,
            leading=self.lot.leader == bidder,
            outbid=taken.outbid or "",
            next_bid=self.next_bid(),
            ends_at=self.ends_at,
        )
        self.answers[(bidder, key)] = replace(answer, status=2, outbid="")
        return answer

    def void(self, who: str) -> str:
        """'' when voided, else why not; the lot becomes what the others' maxes make."""
        if self.state is AuctionState.ENDED:
            return "auction_not_active"
        if not any(e["bidder"] == who and not e.get("voided") for e in self.log):
            return "no_bids"
        for entry in self.log:
            if entry["bidder"] == who:
                entry["voided"] = True
        self.maxes = [(b, m) for b, m in self.maxes if b != who]
        base = replace(self.lot, leader=None, leader_max=0, runner_up_max=0, price=0)
        closed = winning_price(self.maxes, base, self.increments)
        if closed is None:
            self.lot = base
        else:
            leader, price = closed
            top = dict(self.maxes)[leader]
            others = [m for b, m in self.maxes if b != leader]
            self.lot = replace(
                base, leader=leader, leader_max=top, runner_up_max=max(others, default=0),
                price=price,
            )  # fmt: skip
        return ""

    @property
    def bids(self) -> int:
        return sum(1 for e in self.log if not e.get("voided"))


class AuctionMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.client = aioredis.Redis.from_url(VALKEY.url)
        self.run(self.client.flushall())
        self.engine = AuctionStore(self.client, stream_max_len=1000)
        self.now = START
        self.serial = 0
        self.model: Model

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        self.run(self.client.aclose())
        self.loop.close()

    @initialize(
        currency=st.sampled_from(["EUR", "JPY", "KWD"]),
        increments=st.sampled_from(INCREMENTS),
        starting_bid=st.one_of(st.integers(1, 6000), st.just(AMOUNT_MAX - 7)),
        reserve_over=st.one_of(st.none(), st.integers(0, 8000)),
        mode=st.sampled_from(list(Mode)),
        duration_s=st.integers(5, 30),
        extend_s=st.integers(1, 15),
        started=st.booleans(),
    )
    def a_lot_is_queued(
        self,
        currency: str,
        increments: Increments,
        starting_bid: int,
        reserve_over: int | None,
        mode: Mode,
        duration_s: int,
        extend_s: int,
        started: bool,
    ) -> None:
        reserve = 0 if reserve_over is None else min(AMOUNT_MAX, starting_bid + reserve_over)
        room = keys.room(ROOM)
        self.run(
            self.client.hset(
                room, mapping={"state": "live", "host_id": HOST, "moderators": f"{MODERATOR},m2"}
            )
        )
        auction = Auction(
            id=LOT, room_id=ROOM, host_id=HOST, product_id="p_model", title="A first pressing",
            image_url="", currency=currency, starting_bid=starting_bid, reserve=reserve,
            duration_s=duration_s, mode=mode, extend_s=extend_s, state=AuctionState.QUEUED,
            queued_at=self.now,
        )  # fmt: skip
        assert self.run(self.engine.queue(auction, increments)) == 1
        self.model = Model(
            lot=auction.lot(),
            increments=increments,
            mode=mode,
            duration_ms=duration_s * 1000,
            extend_s=extend_s,
            seq=1,
        )
        if started:
            self.host_starts_the_lot()

    # Bids --------------------------------------------------------------------------------

    def _bidder(self, data: st.DataObject) -> str:
        people = (*BIDDERS, *BIDDERS, "the leader", "the leader", HOST, MODERATOR)
        who = data.draw(st.sampled_from(people), label="who")
        if who == "the leader":
            return self.model.lot.leader or BIDDERS[0]
        return who

    def _amount(self, data: st.DataObject) -> int:
        lot = self.model.lot
        nb = self.model.next_bid()
        step = self.model.increments.step(lot.price, lot.currency)
        kind = data.draw(st.sampled_from(AMOUNT_KINDS), label="amount kind")
        amount = {
            "next": nb,
            "below": nb - data.draw(st.integers(1, 2 * step), label="under by"),
            "over": nb + data.draw(st.integers(0, 6 * step), label="over by"),
            "leader_max": lot.leader_max,
            "runner_up_max": lot.runner_up_max,
            "above_leader": lot.leader_max + data.draw(st.integers(1, 3 * step), label="above"),
            "huge": AMOUNT_MAX - data.draw(st.integers(0, 1), label="under the cap by"),
        }[kind]
        return max(1, min(AMOUNT_MAX, amount))

    def _key(self, data: st.DataObject) -> str:
        chosen = data.draw(st.sampled_from(["k1", "k2", "fresh", "fresh", "fresh"]), label="key")
        if chosen == "fresh":
            self.serial += 1
            return f"fresh{self.serial}"
        return chosen

    def _send(self, requests: list[BidRequest]) -> None:
        """Send a batch; each answer must be what the model says, as if sent one by one."""
        answers = self.run(
            self.engine.bid_many(ROOM, LOT, requests, self.now, self.model.increments)
        )
        expected = [self.model.bid(r.bidder, r.amount, r.key, self.now) for r in requests]
        if any(a.status == 1 for a in expected):
            self.model.seq += 1
            expected = [replace(a, seq=self.model.seq) if a.status == 1 else a for a in expected]
        assert answers == expected
        if any(a.status == 1 for a in expected):
            event = self._last_event()
            lot = self.model.lot
            assert event == {
                "type": "auction.bid", "auction_id": LOT, "amount": lot.price,
                "bidder": {"id": lot.leader, "name": name_of(lot.leader or "")},
                "next_bid": self.model.next_bid(), "ends_at": self.model.ends_at,
                "bids": self.model.bids,
            }  # fmt: skip

    @rule(data=st.data())
    def someone_bids(self, data: st.DataObject) -> None:
        who = self._bidder(data)
        self._send([BidRequest(who, name_of(who), self._amount(data), self._key(data))])

    @rule(data=st.data(), size=st.integers(2, 8))
    def bids_arrive_together(self, data: st.DataObject, size: int) -> None:
        """Bids that share one script call get what they would have got one by one; the
        amounts are drawn against the lot as it was before the batch, as a rush sees it."""
        requests = []
        for _ in range(size):
            who = self._bidder(data)
            requests.append(BidRequest(who, name_of(who), self._amount(data), self._key(data)))
        self._send(requests)

    @precondition(lambda self: bool(self.model.answers))
    @rule(data=st.data())
    def a_bid_is_retried(self, data: st.DataObject) -> None:
        """The same key again, whenever: the first answer; with another amount, refused."""
        bidder, key = data.draw(st.sampled_from(sorted(self.model.answers)), label="retried")
        same = data.draw(st.sampled_from([True, True, False]), label="same amount")
        amount = self.model.answers[(bidder, key)].max if same else self._amount(data)
        self._send([BidRequest(bidder, name_of(bidder), amount, key)])

    # Time, start, void and the end --------------------------------------------------------

    @rule(ms=st.sampled_from([1, 250, 999, 1000, 2000, 4000]))
    def time_passes(self, ms: int) -> None:
        self.now += ms

    @precondition(lambda self: self.model.state is AuctionState.ACTIVE and len(self.model.log) >= 2)
    @rule(offset=st.sampled_from([-1, 0, 1]))
    def the_clock_reaches_the_end(self, offset: int) -> None:
        self.now = max(self.now, self.model.ends_at + offset)

    @rule()
    def host_starts_the_lot(self) -> None:
        started, value, ends_at = self.run(
            self.engine.start(ROOM, LOT, self.now, self.model.increments)
        )
        if self.model.show_over:
            assert (started, value, ends_at) == (False, "room_not_live", 0)
            return
        if self.model.state is not AuctionState.QUEUED:
            assert (started, value, ends_at) == (False, "auction_not_active", 0)
            return
        self.model.state = AuctionState.ACTIVE
        self.model.ends_at = self.now + self.model.duration_ms
        self.model.seq += 1
        assert (started, value, ends_at) == (True, str(self.model.seq), self.model.ends_at)
        event = self._last_event()
        assert event["type"] == "auction.started"
        assert event["auction"]["ends_at"] == self.model.ends_at
        assert event["auction"]["next_bid"] == self.model.next_bid()

    @precondition(lambda self: not self.model.banned)
    @rule(who=st.sampled_from(BIDDERS))
    def a_moderator_bans_a_bidder(self, who: str) -> None:
        """Banned from the room: no further bid of theirs counts; the ones made still do."""
        self.run(self.client.sadd(keys.room_bans(ROOM), who))
        self.model.banned.add(who)

    @precondition(lambda self: not self.model.show_over and len(self.model.log) >= 6)
    @rule()
    def the_show_ends(self) -> None:
        """The room's state alone (the service also cancels the lots): no bid is taken."""
        self.run(self.client.hset(keys.room(ROOM), "state", "ended"))
        self.model.show_over = True

    @rule(who=st.sampled_from((*BIDDERS, HOST)))
    def a_moderator_voids_a_bidder(self, who: str) -> None:
        done, value = self.run(self.engine.void(ROOM, LOT, who, self.model.increments))
        why = self.model.void(who)
        if why:
            assert (done, value) == (False, why)
            return
        self.model.seq += 1
        assert (done, value) == (True, str(self.model.seq))
        event = self._last_event()
        lot = self.model.lot
        assert (event["type"], event["user_id"], event["amount"], event["bids"]) == (
            "auction.voided", who, lot.price, self.model.bids
        )  # fmt: skip
        assert event["bidder"] == (
            {"id": lot.leader, "name": name_of(lot.leader)} if lot.leader else None
        )

    @rule()
    def the_ticker_closes_due_lots(self) -> None:
        self._end("time_up")

    @precondition(lambda self: len(self.model.log) >= 5)
    @rule()
    def the_host_cancels(self) -> None:
        self._end("cancelled")

    def _end(self, reason: str) -> None:
        self.serial += 1
        order_id = f"o_model{self.serial}"
        closing: Closing = self.run(self.engine.end(ROOM, LOT, reason, self.now, order_id, PAY_MS))
        m = self.model
        if m.state is AuctionState.ENDED:
            assert closing == Closing(
                False, "already_ended", outcome=m.outcome, order_id=m.order_id
            )
            return
        if reason == "time_up" and (m.state is not AuctionState.ACTIVE or self.now < m.ends_at):
            assert closing == Closing(False, "not_due", ends_at=m.ends_at)
            return
        m.state = AuctionState.ENDED
        m.outcome = "cancelled" if reason == "cancelled" else str(m.lot.outcome())
        m.seq += 1
        assert (closing.closed, closing.seq, closing.outcome) == (True, m.seq, m.outcome)
        event = self._last_event()
        assert (event["type"], event["reason"]) == ("auction.ended", m.outcome)
        if m.outcome != "sold":
            assert closing.order is None
            assert "winner" not in event
            return
        m.order_id = order_id
        winner = m.lot.leader or ""
        assert (event["winner"], event["amount"]) == (
            {"id": winner, "name": name_of(winner)}, m.lot.price
        )  # fmt: skip
        assert closing.order is not None
        order = closing.order
        assert (order["id"], order["state"], order["buyer"]["id"], order["amount"]) == (
            order_id, "awaiting_payment", winner, m.lot.price
        )  # fmt: skip
        assert order["lines"][0]["amount"] == m.lot.price
        assert (order["created_at"], order["pay_by"]) == (self.now, self.now + PAY_MS)
        closed_form = winning_price(m.maxes, m.lot, m.increments)
        assert closed_form == (winner, m.lot.price)

    # After every step ---------------------------------------------------------------------

    def _last_event(self) -> dict[str, Any]:
        rows = self.run(self.client.xrevrange(keys.room_events(ROOM), count=1))
        entry_id, fields = rows[0]
        assert entry_id.decode() == f"{self.model.seq}-1"
        event: dict[str, Any] = msgpack.unpackb(fields[b"d"])
        return event

    @invariant()
    def the_stored_lot_is_the_models(self) -> None:
        stored = self.run(self.engine.auction(ROOM, LOT))
        m = self.model
        assert stored.lot() == m.lot
        assert (stored.state, stored.ends_at, stored.bids) == (m.state, m.ends_at, m.bids)
        if m.lot.leader:
            assert stored.leader_name == name_of(m.lot.leader)
        if m.state is AuctionState.ENDED:
            assert (stored.end_reason, stored.order_id) == (m.outcome, m.order_id)
            if m.outcome == "sold":
                assert (stored.winner, stored.amount) == (m.lot.leader, m.lot.price)

    @invariant()
    def the_price_is_the_closed_form_of_everyones_latest_max(self) -> None:
        raw = self.run(self.client.hgetall(keys.auction(ROOM, LOT)[2]))
        assert {k.decode(): int(v) for k, v in raw.items()} == dict(self.model.maxes)
        m = self.model
        closed = winning_price(m.maxes, m.lot, m.increments)
        if closed is None:
            assert (m.lot.leader, m.lot.price) == (None, 0)
        else:
            assert closed == (m.lot.leader, m.lot.price)

    @invariant()
    def the_bid_log_is_every_bid_taken(self) -> None:
        stored = self.run(self.engine.bids(ROOM, LOT))
        assert [(e["bidder"], e["max"], e["amount"], e["leader"]) for e in stored] == [
            (e["bidder"], e["max"], e["amount"], e["leader"]) for e in self.model.log
        ]
        assert [e["voided"] for e in stored] == [bool(e.get("voided")) for e in self.model.log]
        assert [e["n"] for e in stored] == list(range(1, len(stored) + 1))

    @invariant()
    def a_lot_ends_once_with_at_most_one_order(self) -> None:
        raw = self.run(self.client.xrange(keys.room_events(ROOM)))
        kinds = [msgpack.unpackb(fields[b"d"])["type"] for _, fields in raw]
        assert len(kinds) == self.model.seq
        assert kinds.count("auction.ended") == (self.model.state is AuctionState.ENDED)
        orders = self.run(self.client.zrange(keys.room_orders(ROOM), 0, -1))
        written = [self.model.order_id] if self.model.order_id else []
        assert [o.decode() for o in orders] == written
        if self.model.order_id:
            order = json.loads(self.run(self.client.get(keys.order(ROOM, self.model.order_id))))
            assert (order["buyer"]["id"], order["amount"]) == (
                self.model.lot.leader, self.model.lot.price
            )  # fmt: skip


VALKEY: EmbeddedValkey
EXAMPLES = 200


def test_the_auction_engine_is_the_rules_and_the_closed_form(valkey: EmbeddedValkey) -> None:
    global VALKEY
    VALKEY = valkey
    run_state_machine_as_test(
        AuctionMachine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=35,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
