"""Group buys step by random step: joins, crashes, fills, captures, voids and deadlines.

Hypothesis drives the real service (``GroupBuys``) with the real scripts and the real sandbox
provider on a real Valkey. Some steps stop half-way, as a process killed at that point
would: a join that held its unit but never asked the card, one whose card was authorised
but never recorded, a capture the provider made that was never recorded. After every step
the units add up; at the end, after the deadline and the settling passes, the group is all
or nothing: every authorisation captured if it filled, every one voided if not, one paid
order per captured join, and the unsold units back in the product's stock.
"""

from __future__ import annotations

import asyncio
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

from livecommerce.accounts.auth import Identity
from livecommerce.catalog.rules import Product
from livecommerce.catalog.store import CatalogStore
from livecommerce.errors import LiveCommerceError
from livecommerce.groupbuys.rules import GroupBuy, GroupState, JoinState
from livecommerce.groupbuys.service import PENDING_LEASE_MS, GroupBuys, fingerprint
from livecommerce.groupbuys.store import GroupBuyStore
from livecommerce.rooms.store import RoomStore
from livecommerce.runtime.ids import ProductId
from livecommerce.selling.checkout import Checkout, parse_address
from livecommerce.selling.payments import TestPaymentProvider, as_text, parse_card
from livecommerce.selling.store import SalesStore
from livecommerce.store import keys
from livecommerce.store.embedded import EmbeddedValkey
from livecommerce.store.history import Store
from tests.helpers import ADDRESS, PAID

ROOM = "r_model"
HOST = "u_host"
USERS = ("u1", "u2", "u3", "u4", "u5")
CARDS = {
    "paid": PAID,
    "declined": {**PAID, "card_number": "4000000000000002"},
    "capture_declines": {**PAID, "card_number": "4000000000000341"},
}
STOCK = 10


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


class GroupBuyMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.client = aioredis.Redis.from_url(VALKEY.url)
        self.run(self.client.flushall())
        base = Store(self.client)
        self.clock = Clock()
        self.payments = TestPaymentProvider(self.client, clock=self.clock)
        self.catalog = CatalogStore(self.client)
        rooms = RoomStore(self.client, base.scripts, stream_max_len=1000)
        sales = SalesStore(self.client, base.scripts, stream_max_len=1000)
        checkout = Checkout(
            base, sales, self.payments, rooms=rooms, clock=self.clock, require_durable=False
        )
        self.groups = GroupBuyStore(self.client, stream_max_len=1000)
        self.service = GroupBuys(base, self.groups, self.catalog, checkout, clock=self.clock)
        self.group_id = "g_model"
        self.serial = 0
        self.keys_used: dict[str, tuple[str, str]] = {}  # key -> (user, card)

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        self.run(self.client.aclose())
        self.loop.close()

    def now_ms(self) -> int:
        return int(self.clock.now * 1000)

    @initialize(min_buyers=st.integers(2, 4), extra=st.integers(0, 2))
    def start(self, min_buyers: int, extra: int) -> None:
        self.units = min_buyers + extra
        now = self.now_ms()
        product = Product(
            id=ProductId("p_model"), creator_id=HOST, sku="TEA", title="Teapot", description="",
            image_url="", price=4900, currency="EUR", stock=STOCK, created_at=now, updated_at=now,
        )  # fmt: skip
        self.run(self.catalog.create_product(product))
        self.run(self.client.hset(keys.room(ROOM), mapping={"state": "live"}))
        group = GroupBuy(
            id=self.group_id, room_id=ROOM, host_id=HOST, product_id="p_model", title="Teapot",
            image_url="", currency="EUR", price=2900, list_price=4900, min_buyers=min_buyers,
            units=self.units, duration_s=600, state=GroupState.OPEN, starts_at=now,
            ends_at=now + 600_000, available=self.units,
        )  # fmt: skip
        taken, _ = self.run(
            self.catalog.move_stock(HOST, "p_model", group.id, self.units, "take", now)
        )
        assert taken
        assert self.run(self.groups.start(group)) > 0
        self.run(self.groups.look_at(ROOM, group.id, now))

    def group(self) -> GroupBuy:
        result: GroupBuy = self.run(self.groups.group(ROOM, self.group_id))
        return result

    # Steps ---------------------------------------------------------------------------

    @rule(
        user=st.sampled_from(USERS),
        card=st.sampled_from(sorted(CARDS)),
        key=st.sampled_from(["k1", "k2"]),
    )
    def join(self, user: str, card: str, key: str) -> None:
        """A whole join, as the HTTP route makes it; a refusal is fine, a wrong one is not."""
        body = {"address": ADDRESS, "payment": CARDS[card]}
        who = Identity(user, user, "account")
        try:
            self.run(self.service.join(who, self.group_id, body, f"{user}-{key}"))
        except LiveCommerceError as exc:
            refused = exc.code
        else:
            refused = ""
        assert refused in {
            "", "payment_declined", "already_joined", "sold_out", "group_buy_not_open",
            "idempotency_key_reused",
        }, refused  # fmt: skip

    @rule(user=st.sampled_from(USERS))
    def leave(self, user: str) -> None:
        """A joiner leaves; only an authorised join of a group not yet filled may."""
        try:
            self.run(self.service.leave(Identity(user, user, "account"), self.group_id))
        except LiveCommerceError as exc:
            refused = exc.code
        else:
            refused = ""
        assert refused in {"", "not_found", "conflict", "group_buy_not_open"}, refused

    @rule(users=st.lists(st.sampled_from(USERS), min_size=2, max_size=4, unique=True))
    def friends_join(self, users: list[str]) -> None:
        """A few friends join with good cards one after another (a group that may fill)."""
        for user in users:
            self.join(user, "paid", "k3")

    @rule(user=st.sampled_from(USERS), authorised=st.booleans())
    def join_then_crash(self, user: str, authorised: bool) -> None:
        """A process dies after holding the unit (and, maybe, after the card said yes)."""
        self.serial += 1
        join_id = f"gj_crash{self.serial}"
        address = parse_address(ADDRESS)
        card = parse_card(PAID, now=self.clock())
        draft = {
            "id": join_id, "group_id": self.group_id, "user_id": user, "name": user,
            "state": "pending", "amount": 2900, "currency": "EUR", "created_at": self.now_ms(),
            "auth_key": f"gb|{join_id}", "fp": fingerprint(address.to_public(), card.to_public()),
            "shipping": address.to_public(), "card": card.to_public(), "told": 0,
        }  # fmt: skip
        made = self.run(
            self.groups.join(ROOM, self.group_id, user, f"crash{self.serial}", draft, self.now_ms())
        )
        if made.status == 1 and authorised:
            self.run(
                self.payments.authorise(
                    amount=2900, currency="EUR", card=card, idempotency_key=f"gb|{join_id}"
                )
            )

    @rule()
    def capture_then_crash(self) -> None:
        """A settler dies after the provider captured one join, before recording it."""
        group = self.group()
        if not group.filled_at:
            return
        for join in self.run(self.groups.todo(ROOM, self.group_id)):
            if join.state is JoinState.AUTHORISED:
                self.run(
                    self.payments.capture(
                        authorisation_ref=join.auth_ref, idempotency_key=f"capture|{join.id}"
                    )
                )
                return

    @rule()
    def settle(self) -> None:
        self.run(self.service.settle(ROOM, self.group_id))

    @rule(seconds=st.sampled_from([1, 30, 100, 250]))
    def time_passes(self, seconds: int) -> None:
        self.clock.now += seconds

    @precondition(lambda self: self.group().state.joinable and self.group().joined > 0)
    @rule()
    def host_stops(self) -> None:
        self.run(self.groups.end(ROOM, self.group_id, "stopped", self.now_ms()))

    # What must always hold -----------------------------------------------------------

    @invariant()
    def units_add_up(self) -> None:
        group = self.group()
        parts = (group.available, group.pending, group.authorised, group.captured)
        assert min(parts) >= 0, parts
        assert sum(parts) == group.units, parts
        joins = self.run(self.groups.joins(ROOM, self.group_id))
        by_state = {s: sum(1 for j in joins if j.state is s) for s in JoinState}
        assert by_state[JoinState.PENDING] == group.pending
        assert by_state[JoinState.AUTHORISED] == group.authorised
        assert by_state[JoinState.CAPTURED] == group.captured
        live = [j.user_id for j in joins if j.state.holds_unit]
        assert len(live) == len(set(live)), "one live join per person"
        if group.filled_at == 0:
            assert group.captured == 0, "nobody pays before the group fills"
        else:
            voided = [j for j in joins if j.state is JoinState.VOIDED]
            assert all(j.left for j in voided), "a filled group voids nobody who stayed"

    def teardown_check(self) -> None:
        """After the deadline and long enough for every crash to be found: all or nothing."""
        self.clock.now += 700 + PENDING_LEASE_MS / 1000
        for _ in range(6):
            if self.run(self.service.settle(ROOM, self.group_id)):
                break
        group = self.group()
        assert group.state.final
        assert group.pending == group.authorised == 0
        joins = self.run(self.groups.joins(ROOM, self.group_id))
        for join in joins:
            if not join.auth_ref:
                continue
            record = self.run(self.client.hget(keys.payment(join.auth_ref), "status"))
            status = as_text(record)
            if join.left:
                assert (join.state, status) == (JoinState.VOIDED, "voided"), (join, status)
            elif group.filled_at:
                assert (join.state, status) in {
                    (JoinState.CAPTURED, "paid"),
                    (JoinState.CAPTURE_FAILED, "capture_declined"),
                }, (join, status)
            else:
                assert (join.state, status) == (JoinState.VOIDED, "voided"), (join, status)
        for join in joins:  # a cancelled join's own authorisation, if it made one, is voided
            if join.state is JoinState.CANCELLED:
                found = self.run(self.payments.authorisation_of(join.auth_key))
                if found is not None and found.authorised:
                    status = as_text(
                        self.run(self.client.hget(keys.payment(found.authorisation_ref), "status"))
                    )
                    assert status == "voided", join
        orders = self.run(self.client.zrange(keys.room_orders(ROOM), 0, -1))
        assert len(orders) == group.captured
        assert all(j.told for j in joins)
        product = self.run(self.catalog.product("p_model"))
        assert product.stock == STOCK - group.captured
        assert group.returned == 1


VALKEY: EmbeddedValkey


class CheckedMachine(GroupBuyMachine):
    def teardown(self) -> None:
        try:
            self.teardown_check()
        finally:
            super().teardown()


def test_a_group_buy_is_all_or_nothing_whatever_crashes(valkey: EmbeddedValkey) -> None:
    global VALKEY
    VALKEY = valkey
    run_state_machine_as_test(
        CheckedMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
