"""Group buys in a room: who may start, stop and join, and the settling of every join.

The rules are ``rules.py``'s, the atomic steps ``groupbuy_*.lua``'s. Money moves here:

- A join holds its unit (``groupbuy_join``), then its card is authorised under a key of
  its own (``gb|<join id>``), then the answer is recorded (``groupbuy_authorised``, which
  fills the group with the ``min_buyers``-th). The joiner hears "you're in" only after
  Redis has it on disk (``Checkout.durable``): an acknowledged join is never lost.
- Settling a group (captures once it has filled, voids once it has closed without filling,
  telling each joiner) is a pass over its work list, run by whoever holds the group's lease:
  the process whose join filled it, at once, and the ticker of every process each second.
  Each step is idempotent twice over: the provider captures or voids an authorisation
  once whoever asks (its state decides), and ``groupbuy_settle`` records each join's end
  once (its state decides). So a process killed mid-fill or mid-void leaves work on the
  list that the next pass, on any process, finishes: every capture or every void, once.
- A join whose process died between holding its unit and recording its card's answer is
  found by the ticker after ``PENDING_LEASE_MS``: the provider is asked what it did under
  the join's key, and the join finishes as if its process had lived (or lets its unit go
  if nothing was authorised). A join cancelled by the group's closing while its card was
  being authorised has any authorisation it made voided, by whichever side gets there.
- A capture declined (the card held, then refused the charge) lets that joiner's unit go
  and tells them; the group stays filled for the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson

from livecommerce.accounts.auth import Identity
from livecommerce.catalog.store import CatalogStore
from livecommerce.errors import (
    AlreadyJoined,
    BadRequest,
    Conflict,
    Forbidden,
    GroupBuyNotOpen,
    IdempotencyKeyReused,
    LiveCommerceError,
    NotFound,
    OutOfStock,
    RoomNotLive,
    SoldOut,
    Unauthorized,
    Unavailable,
)
from livecommerce.events import Event, GroupBuyPayment, GroupBuyProgress
from livecommerce.groupbuys.rules import (
    Fate,
    GroupBuy,
    GroupBuyDraft,
    GroupState,
    Join,
    JoinState,
    check_price,
    fate,
)
from livecommerce.groupbuys.store import GroupBuyStore
from livecommerce.rooms.rules import Room, RoomState
from livecommerce.runtime import metrics
from livecommerce.runtime.ids import Ids
from livecommerce.runtime.ticker import Ticker
from livecommerce.selling.checkout import Checkout, parse_address
from livecommerce.selling.payments import (
    AuthorisationSettled,
    PaymentDeclined,
    PaymentFailed,
    PaymentProvider,
    parse_card,
)
from livecommerce.store.history import Store

log = logging.getLogger("livecommerce.groupbuys")

TICK_EVERY_S = 0.25
LOOK_EVERY_MS = 1000  # how soon any process notices work a dead one left on an open group
PENDING_LEASE_MS = 90_000  # a join's own process has this long to record its card's answer
SETTLE_LEASE_MS = 3_000  # a pass takes well under a second; a second settler is safe anyway
WELCOME_GROUPS = 10  # the newest group buys a welcome looks through
SETTLE_TRIES = 20
SETTLE_RETRY_S = 0.05


def _refusal(reason: str) -> LiveCommerceError:
    if reason == "group_buy_not_open":
        return GroupBuyNotOpen("this group buy is not taking joins")
    if reason == "sold_out":
        return SoldOut("every unit of this group buy is taken")
    if reason == "already_joined":
        return AlreadyJoined("you have joined this group buy already")
    if reason == "idempotency_key_reused":
        return IdempotencyKeyReused("this Idempotency-Key was used for another join; use a new one")
    if reason == "forbidden":
        return Forbidden("the host does not join their own group buy")
    if reason == "not_found":
        return NotFound("no such group buy")
    if reason == "room_not_live":
        return RoomNotLive("go live before starting a group buy")
    return Conflict(reason)


def fingerprint(*parts: object) -> str:
    """What a retry with the same Idempotency-Key must repeat (never the card number)."""
    return hashlib.sha256(orjson.dumps(parts)).hexdigest()[:32]


class GroupBuys:
    def __init__(
        self,
        store: Store,
        groups: GroupBuyStore,
        catalog: CatalogStore,
        checkout: Checkout,
        *,
        payments: PaymentProvider | None = None,
        clock: Callable[[], float] = time.time,
        ids: Ids | None = None,
        pending_lease_ms: int = PENDING_LEASE_MS,
    ) -> None:
        self.store = store
        self.groups = groups
        self.catalog = catalog
        self.checkout = checkout
        self.payments = payments or checkout.payments
        self.clock = clock
        self.ids = ids or Ids()
        self.pending_lease_ms = pending_lease_ms
        self._dirty: dict[tuple[str, str], GroupBuy] = {}
        self._ticker = Ticker("groupbuys", TICK_EVERY_S, self.tick, unavailable=logging.DEBUG)

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def start_ticking(self) -> None:
        self._ticker.start()

    async def stop_ticking(self) -> None:
        await self._ticker.stop()

    # The host ------------------------------------------------------------------------

    async def start(self, who: Identity, room: Room, draft: GroupBuyDraft) -> GroupBuy:
        """Open a group buy; its units leave the product's stock until sold or given back."""
        room.require_host(who.id)
        if room.state is not RoomState.LIVE:
            raise RoomNotLive("go live before starting a group buy")
        product = await self.catalog.product(draft.product_id)
        product.require_sellable(who.id, room.currency, "sell")
        check_price(draft.price, product.price)
        now = self.now_ms()
        group = GroupBuy(
            id=self.ids.group_buy(),
            room_id=room.id,
            host_id=room.host_id,
            product_id=product.id,
            title=product.title,
            image_url=product.image_url,
            currency=room.currency,
            price=draft.price,
            list_price=product.price,
            min_buyers=draft.min_buyers,
            units=draft.units,
            duration_s=draft.duration_s,
            state=GroupState.OPEN,
            starts_at=now,
            ends_at=now + draft.duration_s * 1000,
            available=draft.units,
        )
        taken, stock = await self.catalog.move_stock(
            who.id, product.id, group.id, draft.units, "take", now
        )
        if not taken:
            raise OutOfStock(
                f"only {stock} in stock; the group buy needs {draft.units}", stock=stock
            )
        # On the closers' list before it exists: a process dying right after the start
        # must not leave a group that never closes (nor units that never come back).
        await self.groups.look_at(room.id, group.id, now + LOOK_EVERY_MS)
        try:
            seq = await self.groups.start(group)
        except BaseException:
            await self.catalog.move_stock(who.id, product.id, group.id, draft.units, "give", now)
            raise
        if seq < 0:
            await self.catalog.move_stock(who.id, product.id, group.id, draft.units, "give", now)
            await self.groups.done(room.id, group.id)
            raise _refusal("not_found" if seq == -1 else "room_not_live")
        metrics.EVENTS_PUBLISHED.labels("groupbuy.started").inc()
        return group

    async def stop(self, who: Identity, room: Room, group_id: str) -> GroupBuy:
        """Close it now: before it filled every authorisation is voided, after it the joins
        made are captured all the same (they were promised the price)."""
        room.require_host(who.id)
        if await self.groups.room_of(group_id) != room.id:
            raise NotFound("no such group buy in this room")
        closed = await self.groups.end(room.id, group_id, "stopped", self.now_ms())
        if not closed.closed:
            raise GroupBuyNotOpen("this group buy has ended already")
        await self.groups.look_at(room.id, group_id, self.now_ms())
        await self.settle(room.id, group_id)
        return await self.groups.group(room.id, group_id)

    async def room_ended(self, room: Room) -> None:
        """A show that ends stops its open group buys."""
        for group in await self.groups.room_groups(room.id):
            if group.state.joinable:
                await self.groups.end(room.id, group.id, "stopped", self.now_ms())
                await self.groups.look_at(room.id, group.id, self.now_ms())

    async def group(self, group_id: str) -> GroupBuy:
        return await self.groups.group(await self.groups.room_of(group_id), group_id)

    async def room_groups(self, room_id: str) -> list[GroupBuy]:
        return await self.groups.room_groups(room_id)

    async def _shown(self, room_id: str) -> list[GroupBuy]:
        found = await self.groups.room_groups(room_id, limit=WELCOME_GROUPS)
        shown = [g for g in found if g.state.joinable]
        closed = [g for g in found if not g.state.joinable]
        return shown + closed[:1]

    async def welcome_groups(self, room_id: str) -> list[Event]:
        """What a joiner sees: the room's open group buys, and the latest that closed."""
        return [g.to_public() for g in await self._shown(room_id)]

    # Joiners -------------------------------------------------------------------------

    async def join(
        self, who: Identity | None, group_id: str, body: object, key: str
    ) -> tuple[Join, GroupBuy, bool]:
        """The join, the group after it, and whether this call made it (False: a retry)."""
        if who is None:
            raise Unauthorized("sign in to join")
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        address = parse_address(body.get("address"))
        card = parse_card(body.get("payment"), now=self.clock())
        room_id = await self.groups.room_of(group_id)
        group = await self.groups.group(room_id, group_id)
        now = self.now_ms()
        join_id = self.ids.group_join()
        draft: dict[str, Any] = {
            "id": join_id,
            "group_id": group_id,
            "user_id": who.id,
            "name": who.name,
            "state": "pending",
            "amount": group.price,
            "currency": group.currency,
            "created_at": now,
            "auth_key": f"gb|{join_id}",
            "fp": fingerprint(address.to_public(), card.to_public()),
            "shipping": address.to_public(),
            "card": card.to_public(),
            "told": 0,
        }
        made = await self.groups.join(room_id, group_id, who.id, key, draft, now)
        if made.status == 0:
            raise _refusal(made.reason)
        join = made.join
        assert join is not None
        if join.state is JoinState.PENDING:
            self._changed(group)
            join = await self._authorise(room_id, group, join, card)
        elif join.state is JoinState.DECLINED:
            raise PaymentDeclined("the card was declined", decline_code=join.decline_code or None)
        await self.checkout.durable(room_id, who.id)
        if fate(*await self._outcome(room_id, group_id)) is Fate.CAPTURE:
            # Charge now, so the joiner hears "captured"; if another process is settling the
            # group this moment, its pass is short: wait for it rather than answer stale.
            for _ in range(SETTLE_TRIES):
                if await self.settle(room_id, group_id) is not None:
                    break
                await asyncio.sleep(SETTLE_RETRY_S)
            join = await self._join(room_id, group_id, join.id)
        group = await self.groups.group(room_id, group_id)
        self._changed(group)
        return join, group, made.status == 1

    async def _outcome(self, room_id: str, group_id: str) -> tuple[GroupState, int]:
        group = await self.groups.group(room_id, group_id)
        return group.state, group.filled_at

    async def _join(self, room_id: str, group_id: str, join_id: str) -> Join:
        for join in await self.groups.joins(room_id, group_id):
            if join.id == join_id:
                return join
        raise NotFound("no such join")

    async def _authorise(self, room_id: str, group: GroupBuy, join: Join, card: Any) -> Join:
        try:
            result = await self.payments.authorise(
                amount=join.amount,
                currency=join.currency,
                card=card,
                idempotency_key=join.auth_key,
            )
        except (PaymentFailed, Unavailable):
            raise  # still pending: the ticker asks the provider later and finishes it
        now = self.now_ms()
        if not result.authorised:
            await self.groups.authorised(
                room_id, group.id, join.id, "declined", result.decline_code or "", now
            )
            self._changed(group)
            result.require_authorised()
        recorded = await self.groups.authorised(
            room_id, group.id, join.id, "authorised", result.authorisation_ref, now
        )
        if recorded.status == 0:
            if recorded.reason == "cancelled":  # the group closed while the card was asked
                await self._void_orphan(room_id, group.id, join)
                raise GroupBuyNotOpen("the group buy closed before your card was checked")
            raise _refusal(recorded.reason)
        if recorded.filled:
            metrics.EVENTS_PUBLISHED.labels("groupbuy.filled").inc()
        assert recorded.join is not None
        return recorded.join

    async def leave(self, who: Identity, group_id: str) -> tuple[Join, GroupBuy]:
        """Leave a group buy before it fills: the unit goes back and the card is released.
        The join is voided in the store first, so no fill can capture it meanwhile."""
        room_id = await self.groups.room_of(group_id)
        join = await self.groups.join_of(room_id, group_id, who.id)
        if join is None or not join.state.holds_unit:
            raise NotFound("you have not joined this group buy")
        if join.state is JoinState.PENDING:
            raise Conflict("your card is still being checked; try again in a moment")
        if join.state is JoinState.AUTHORISED:
            recorded = await self.groups.settle(room_id, group_id, join.id, "left", self.now_ms())
            if recorded.status == 0:
                raise _refusal(recorded.reason)
            assert recorded.join is not None
            join = recorded.join
            group = await self.groups.group(room_id, group_id)
            self._changed(group)
            await self._tell(room_id, group, join)
        if join.state is JoinState.CAPTURED:
            raise GroupBuyNotOpen("the group has filled and your card was charged")
        return await self._join(room_id, group_id, join.id), await self.groups.group(
            room_id, group_id
        )

    async def my_join(self, who: Identity, group_id: str) -> Join:
        room_id = await self.groups.room_of(group_id)
        join = await self.groups.join_of(room_id, group_id, who.id)
        if join is None:
            raise NotFound("you have not joined this group buy")
        return join

    async def joined(self, who: Identity, room_id: str) -> Event:
        """A viewer's own joins in the room's open group buys, for their welcome only."""
        mine: Event = {}
        for group in await self._shown(room_id):  # a room without group buys: one call
            join = await self.groups.join_of(room_id, group.id, who.id)
            if join is not None:
                mine[group.id] = join.to_public()
        return mine

    # Settling ------------------------------------------------------------------------

    async def tick(self) -> None:
        now = self.now_ms()
        for room_id, group_id in await self.groups.due(now):
            try:
                await self.settle(room_id, group_id)
            except LiveCommerceError as exc:
                log.warning("settling group buy %s: %s", group_id, exc.code)
        await self.flush_progress()

    async def settle(self, room_id: str, group_id: str) -> bool | None:
        """One pass over a group's work: whether it is done, or None if another process is
        on it now (its pass, or the ticker's next, does the work)."""
        token = await self.groups.lease(room_id, group_id, SETTLE_LEASE_MS)
        if token is None:
            return None
        try:
            return await self._settle(room_id, group_id)
        finally:
            with contextlib.suppress(LiveCommerceError):
                await self.groups.unlease(room_id, group_id, token)

    async def _settle(self, room_id: str, group_id: str) -> bool:
        try:
            group = await self.groups.group(room_id, group_id)
        except NotFound:
            await self.groups.done(room_id, group_id)
            return True
        now = self.now_ms()
        if group.state.joinable and now >= group.ends_at:
            closed = await self.groups.end(room_id, group_id, "expired", now)
            if closed.closed:
                metrics.EVENTS_PUBLISHED.labels("groupbuy.ended").inc()
            group = await self.groups.group(room_id, group_id)
        for join in await self.groups.todo(room_id, group_id):
            try:
                await self._settle_join(room_id, group, join, now)
            except LiveCommerceError as exc:  # the next pass tries again
                log.warning("join %s of group buy %s: %s", join.id, group_id, exc.code)
        group = await self.groups.group(room_id, group_id)
        sold = group.available == group.pending == group.authorised == 0
        if group.state is GroupState.FILLED and sold:
            await self.groups.end(room_id, group_id, "sold_out", now)
            group = await self.groups.group(room_id, group_id)
        self._changed(group)
        if group.state.joinable:
            await self.groups.look_at(room_id, group_id, min(group.ends_at, now + LOOK_EVERY_MS))
            return False
        if await self.groups.todo(room_id, group_id):
            await self.groups.look_at(room_id, group_id, now + LOOK_EVERY_MS)
            return False
        await self._give_back(group, now)
        await self.groups.done(room_id, group_id)
        return True

    async def _settle_join(self, room_id: str, group: GroupBuy, join: Join, now: int) -> None:
        if join.state is JoinState.PENDING:
            if now - join.created_at >= self.pending_lease_ms:
                await self._finish_pending(room_id, group, join)
            return
        if join.state is JoinState.AUTHORISED:
            what = fate(group.state, group.filled_at)
            if what is Fate.CAPTURE:
                await self._capture(room_id, group, join)
            elif what is Fate.VOID:
                await self._void(room_id, group, join)
            return
        if join.state is JoinState.CANCELLED:
            await self._void_orphan(room_id, group.id, join)
            return
        await self._tell(room_id, group, join)

    async def _finish_pending(self, room_id: str, group: GroupBuy, join: Join) -> None:
        """A join whose process died before recording its card's answer: ask the provider."""
        result = await self.payments.authorisation_of(join.auth_key)  # Unavailable: later
        now = self.now_ms()
        if result is None:
            await self.groups.authorised(room_id, group.id, join.id, "cancel", "", now)
        elif not result.authorised:
            await self.groups.authorised(
                room_id, group.id, join.id, "declined", result.decline_code or "", now
            )
        else:
            recorded = await self.groups.authorised(
                room_id, group.id, join.id, "authorised", result.authorisation_ref, now
            )
            if recorded.status == 0 and recorded.reason == "cancelled":
                await self._void_orphan(room_id, group.id, join)
        self._changed(group)

    async def _void_orphan(self, room_id: str, group_id: str, join: Join) -> None:
        """A cancelled join may have an authorisation its process made: void it, once."""
        result = await self.payments.authorisation_of(join.auth_key)  # Unavailable: later
        if result is not None and result.authorised:
            with contextlib.suppress(AuthorisationSettled):
                await self.payments.void(
                    authorisation_ref=result.authorisation_ref,
                    idempotency_key=f"void|{join.id}",
                )
        await self.groups.settle(room_id, group_id, join.id, "told", self.now_ms())

    async def _capture(self, room_id: str, group: GroupBuy, join: Join) -> None:
        try:
            paid = await self.payments.capture(
                authorisation_ref=join.auth_ref, idempotency_key=f"capture|{join.id}"
            )
        except AuthorisationSettled:
            log.error("join %s: its authorisation was voided before its capture", join.id)
            recorded = await self.groups.settle(room_id, group.id, join.id, "voided", self.now_ms())
        else:
            now = self.now_ms()
            if paid.paid:
                order_id = self.ids.order()
                order = self._order(room_id, group, join, order_id, paid.payment_ref, now)
                recorded = await self.groups.settle(
                    room_id, group.id, join.id, "captured", now, order_id, orjson.dumps(order)
                )
            else:
                recorded = await self.groups.settle(
                    room_id, group.id, join.id, "capture_failed", now
                )
        self._changed(group)
        if recorded.join is not None:
            await self._tell(room_id, group, recorded.join)

    async def _void(self, room_id: str, group: GroupBuy, join: Join) -> None:
        try:
            await self.payments.void(
                authorisation_ref=join.auth_ref, idempotency_key=f"void|{join.id}"
            )
        except AuthorisationSettled:  # captured: the group had filled after all
            log.error("join %s: its authorisation was captured, not voided", join.id)
            return
        recorded = await self.groups.settle(room_id, group.id, join.id, "voided", self.now_ms())
        self._changed(group)
        if recorded.join is not None:
            await self._tell(room_id, group, recorded.join)

    def _order(
        self, room_id: str, group: GroupBuy, join: Join, order_id: str, ref: str, now: int
    ) -> Event:
        return {
            "id": order_id,
            "kind": "group_buy",
            "state": "paid",
            "room_id": room_id,
            "group_buy_id": group.id,
            "join_id": join.id,
            "buyer": {"id": join.user_id, "name": join.name},
            "lines": [
                {
                    "product_id": group.product_id,
                    "title": group.title,
                    "quantity": 1,
                    "unit_price": group.price,
                    "amount": join.amount,
                }
            ],
            "amount": join.amount,
            "currency": join.currency,
            "shipping": join.shipping,
            "payment": {"ref": ref, **(join.card or {})},
            "created_at": now,
        }

    async def _tell(self, room_id: str, group: GroupBuy, join: Join) -> None:
        """A settled join's side effects, then the joiner; each may repeat after a crash
        (the order's indexes and figures are idempotent, webhooks carry ids to dedupe)."""
        if join.told:
            return
        if join.state is JoinState.CAPTURED:
            order = await self.checkout.order(room_id, join.order_id)
            await self.checkout.durable(room_id, join.user_id)
            await self.checkout.index_order(
                room_id, join.user_id, join.order_id, order["created_at"]
            )
            metrics.ORDERS.inc()
            await self.checkout.tally(room_id, order, "order")
            if self.checkout.on_order is not None:
                room = await self.checkout.rooms.room(room_id)
                await self.checkout.on_order(room, order)
        if join.state is JoinState.VOIDED and join.auth_ref:
            # A join that left (or whose group closed) may not have had its card released
            # yet if a process died after the store step: voiding again is harmless.
            with contextlib.suppress(AuthorisationSettled):
                await self.payments.void(
                    authorisation_ref=join.auth_ref, idempotency_key=f"void|{join.id}"
                )
        event = GroupBuyPayment(
            type="groupbuy.payment", to=join.user_id, group_id=group.id, join=join.to_public()
        )
        with contextlib.suppress(LiveCommerceError):
            await self.store.publish_ephemeral(room_id, event)
        await self.groups.settle(room_id, group.id, join.id, "told", self.now_ms())

    async def _give_back(self, group: GroupBuy, now: int) -> None:
        """A closed group with nothing left to settle: its unsold units go back, once."""
        if group.returned:
            return
        try:
            await self.catalog.move_stock(
                group.host_id, group.product_id, group.id, group.available, "give", now
            )
        except NotFound:
            log.info("group buy %s: its product is gone; unsold units dropped", group.id)
        await self.groups.mark_returned(group.room_id, group.id)

    # Progress, coalesced ---------------------------------------------------------------

    def _changed(self, group: GroupBuy) -> None:
        self._dirty[(group.room_id, group.id)] = group

    async def flush_progress(self) -> None:
        dirty, self._dirty = self._dirty, {}
        for (room_id, group_id), _ in dirty.items():
            with contextlib.suppress(LiveCommerceError):
                group = await self.groups.group(room_id, group_id)
                event = GroupBuyProgress(
                    type="groupbuy.progress",
                    group_id=group_id,
                    state=str(group.state),
                    joined=group.joined,
                    min_buyers=group.min_buyers,
                    units_left=group.available,
                    ends_at=group.ends_at,
                )
                await self.store.publish_ephemeral(room_id, event)
