"""Checkout: a hold, an address and a card become a paid order, exactly once.

The order is written in the same atomic step that turns the hold into a sale
(``sale_confirm.lua``), and the buyer hears of it only after Redis has written it to its
append-only file (``WAITAOF``). A declined card keeps the hold so the buyer can retry; a hold
that expired while the card was being charged gets its payment refunded.
"""

from __future__ import annotations

import logging
import re
import time
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from livecommerce.accounts.auth import Identity
from livecommerce.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    HoldExpired,
    HoldReleased,
    IdempotencyKeyReused,
    NotFound,
)
from livecommerce.events import Event, SaleEnded
from livecommerce.rooms.rules import Role, Room
from livecommerce.rooms.store import RoomStore
from livecommerce.runtime import metrics
from livecommerce.runtime.ids import Ids
from livecommerce.selling.ledger import ChargeLedger, OpenCharge
from livecommerce.selling.payments import (
    IDEMPOTENCY_TTL_S,
    PaymentProvider,
    PaymentResult,
    parse_card,
)
from livecommerce.selling.reservations import Reservations
from livecommerce.selling.rules import HoldState, refusal, sale_id_of_hold
from livecommerce.selling.store import SalesStore
from livecommerce.store import keys
from livecommerce.store.connection import as_text, guarded
from livecommerce.store.durability import Durability
from livecommerce.store.history import Store

log = logging.getLogger("livecommerce.checkout")

IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_.:-]{8,128}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
VOID_KEY = "void|{}"  # the refund key of a charge no order uses: one refund, whoever asks
SWEEP_GRACE_MS = 2000  # after a hold's expiry, before the sweeper looks at its charge
KEY_KEPT_S = IDEMPOTENCY_TTL_S  # a checkout key binds its hold as long as the charge's key lasts
_ADDRESS_LIMITS = {"name": 100, "line1": 200, "line2": 200, "postal_code": 20, "city": 100}

Notify = Callable[[str, Event], Any]


@dataclass(frozen=True, slots=True)
class Address:
    name: str
    line1: str
    line2: str
    postal_code: str
    city: str
    country: str

    def to_public(self) -> dict[str, str]:
        return {
            "name": self.name,
            "line1": self.line1,
            "line2": self.line2,
            "postal_code": self.postal_code,
            "city": self.city,
            "country": self.country,
        }


def parse_address(body: object) -> Address:
    if not isinstance(body, dict):
        raise BadRequest("'address' must be an object")
    values: dict[str, str] = {}
    for name, limit in _ADDRESS_LIMITS.items():
        value = body.get(name, "" if name == "line2" else None)
        if not isinstance(value, str):
            raise BadRequest(f"'address.{name}' must be a string")
        value = unicodedata.normalize("NFC", value).strip()
        if (not value and name != "line2") or len(value) > limit:
            raise BadRequest(f"'address.{name}' must be 1 to {limit} characters")
        if any(unicodedata.category(c) in ("Cc", "Cf") for c in value):
            raise BadRequest(f"'address.{name}' holds control characters")
        values[name] = value
    country = body.get("country")
    if not isinstance(country, str) or not _COUNTRY.match(country.upper()):
        raise BadRequest("'address.country' must be an ISO 3166 two-letter code")
    return Address(country=country.upper(), **values)


def may_refund(room: Room, user_id: str, *, admin: bool) -> bool:
    """Refunds move the creator's money: the creator's call, or an operator's; a moderator
    keeps the chat, not the till (and must never refund their own order)."""
    return admin or user_id == room.host_id


def parse_idempotency_key(header: str | None) -> str:
    if header is None or not IDEMPOTENCY_KEY.match(header):
        raise BadRequest("an Idempotency-Key header of 8 to 128 of A-Z a-z 0-9 _ . : - is required")
    return header


class Checkout:
    def __init__(
        self,
        store: Store,
        sales: SalesStore,
        payments: PaymentProvider,
        *,
        rooms: RoomStore,
        is_admin: Callable[[str], Awaitable[bool]] | None = None,
        on_order: Callable[[Room, Event], Any] | None = None,
        on_refund: Callable[[Room, Event], Any] | None = None,
        reservations: Reservations | None = None,
        audit: Callable[[str, Event], Awaitable[Any]] | None = None,
        clock: Callable[[], float] = time.time,
        require_durable: bool = True,
        durability: Durability | None = None,
        sweep_grace_ms: int = SWEEP_GRACE_MS,
        ids: Ids | None = None,
    ) -> None:
        self.ids = ids or Ids()
        self.store = store
        self.rooms = rooms
        self._is_admin = is_admin
        self.sales = sales
        self.payments = payments
        self.on_order = on_order
        self.on_refund = on_refund
        self.reservations = reservations
        self.audit = audit
        self.clock = clock
        self.sweep_grace_ms = sweep_grace_ms
        self.ledger = ChargeLedger(store.client)
        self.durability = durability or Durability(store.client, require_disk=require_durable)
        # The show's figures (analytics), set by the wiring: (room, order, "order" | "refund").
        self.count: Callable[[Room, Event, str], Awaitable[None]] | None = None

    async def tally(self, room_id: str, order: Event, kind: str) -> None:
        """The order in its show's figures. Every path that returns a paid or refunded order
        calls this, so a crash before it is made good by the buyer's retry; counting is
        idempotent by order id, and a failure to count is never the buyer's problem."""
        if self.count is None:
            return
        try:
            await self.count(await self.rooms.room(room_id), order, kind)
        except Exception:
            log.exception("order %s is missing from its show's figures", order.get("id"))

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def checkout(
        self, who: Identity, hold_id: str, body: object, key: str
    ) -> tuple[Event, bool]:
        """The order, and whether this call created it (False: a retry got the same order)."""
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        address = parse_address(body.get("address"))
        # A giveaway (price 0) needs no card; whatever card comes with one is not charged.
        raw_card = body.get("payment")
        card = None if raw_card is None else parse_card(raw_card, now=self.clock())
        sale_id = sale_id_of_hold(hold_id)
        room_id = await self.sales.room_of(sale_id)
        hold = await self.sales.hold(room_id, sale_id, hold_id)
        if hold.user_id != who.id:
            raise Forbidden("that reservation is someone else's")
        await self.bind_key(who.id, key, hold_id)
        if hold.state is HoldState.CONFIRMED:
            existing = await self.order(room_id, hold.order_id)
            # A retry may follow a crash between the confirm and the indexes: write them again.
            await self.durable(room_id, who.id)
            await self.index_order(room_id, who.id, hold.order_id, int(existing["created_at"]))
            await self.tally(room_id, existing, "order")
            return existing, False
        if hold.state is HoldState.RELEASED:
            raise HoldReleased("the reservation was released")
        if hold.state is HoldState.EXPIRED or hold.expires_at <= self.now_ms():
            if hold.state is HoldState.HELD:  # its time is up; give its units back now
                if self.reservations is not None:
                    await self.reservations.reap(room_id, sale_id)
                else:
                    await self.sales.reap(room_id, sale_id, self.now_ms())
            raise HoldExpired("the reservation has expired")
        sale = await self.sales.sale(room_id, sale_id)
        amount = sale.price * hold.quantity
        charge_key = f"{who.id}|{key}"  # the provider's key: the buyer's own key space
        payment: PaymentResult | None = None
        paid_with: dict[str, Any] = {"ref": None}  # free: confirmed with no payment at all
        if amount > 0:
            if card is None:
                raise BadRequest("'payment' must be a JSON object")
            # Noted before the charge: if this process dies before the order is written,
            # the sweeper (charges.py) gives the money back.
            charge = OpenCharge(
                charge_key, room_id, sale_id, hold_id, who.id, amount, sale.currency
            )
            await self.ledger.open(charge, hold.expires_at + self.sweep_grace_ms)
            payment = await self.payments.charge(
                amount=amount,
                currency=sale.currency,
                card=card,
                idempotency_key=charge.key,
                description=f"{sale.title} x{hold.quantity}",
            )
            if not payment.paid:
                await self.ledger.close(charge.key)
            payment.require_paid()
            paid_with = {"ref": payment.payment_ref, **card.to_public()}
        now = self.now_ms()
        order_id = self.ids.order()
        order: Event = {
            "id": order_id,
            "state": "paid",
            "room_id": room_id,
            "sale_id": sale_id,
            "reservation_id": hold_id,
            "buyer": {"id": who.id, "name": who.name},
            "lines": [
                {
                    "product_id": sale.product_id,
                    "title": sale.title,
                    "quantity": hold.quantity,
                    "unit_price": sale.price,
                    "amount": amount,
                }
            ],
            "amount": amount,
            "currency": sale.currency,
            "shipping": address.to_public(),
            "payment": paid_with,
            "created_at": now,
        }
        ended = SaleEnded(type="sale.ended", sale_id=sale_id, reason="sold_out")
        result = await self.sales.confirm(
            room_id, sale_id, hold_id, who.id, now, order_id, orjson.dumps(order).decode(), ended
        )
        if result.status == 0:
            await self._void(payment, amount, charge_key)
            raise refusal(result.reason)
        await self.durable(room_id, who.id)
        await self.index_order(room_id, who.id, result.order_id, now)
        if result.status == 2:  # a concurrent retry confirmed the hold first
            existing = await self.order(room_id, result.order_id)
            if payment is not None and existing["payment"]["ref"] != payment.payment_ref:
                await self._void(payment, amount, charge_key)
            elif payment is not None:
                await self.ledger.close(charge_key)
            await self.tally(room_id, existing, "order")
            return existing, False
        if payment is not None:
            await self.ledger.close(charge_key)
        metrics.ORDERS.inc()
        await self.tally(room_id, order, "order")
        if self.reservations is not None:
            self.reservations.stock_changed(room_id, sale_id, result.stock)
            if result.sale_ended:
                await self.reservations.tell(
                    room_id, "sale.ended", {"sale_id": sale_id, "reason": "sold_out"}
                )
        if self.on_order is not None:
            room = await self.rooms.room(room_id)
            await self.on_order(room, order)
        return order, True

    async def _void(self, payment: PaymentResult | None, amount: int, charge_key: str) -> None:
        """Give back a charge no order uses; by its own key, so every caller refunds once."""
        if payment is None:
            return
        await self.payments.refund(
            payment_ref=payment.payment_ref,
            amount=amount,
            idempotency_key=VOID_KEY.format(payment.payment_ref),
        )
        await self.ledger.close(charge_key)

    @guarded
    async def bind_key(self, buyer_id: str, key: str, hold_id: str) -> None:
        """Tie the key to this hold, or refuse a key already tied to another: one payment
        must never stand for two holds. One ``SET NX GET``, so of two processes racing with
        one key on two holds exactly one wins."""
        bound = await self.store.client.set(
            keys.checkout_key(buyer_id, key), hold_id, nx=True, get=True, ex=KEY_KEPT_S
        )
        if bound is not None and as_text(bound) != hold_id:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was used to check out another reservation; use a new one"
            )

    async def index_order(self, room_id: str, buyer_id: str, order_id: str, at: int) -> None:
        """Where to find an order by id and by buyer; idempotent, so retries may repeat it."""
        await self.store.client.hset(keys.order_rooms(), order_id, room_id)
        await self.store.client.zadd(keys.buyer_orders(buyer_id), {order_id: at})

    async def durable(self, room_id: str, buyer_id: str | None = None) -> None:
        """Block until the room's orders (and the buyer's index) are safe: on disk and, on a
        cluster, on a replica (store/durability.py)."""
        written = [keys.room_orders(room_id)]
        if buyer_id is not None:
            written.append(keys.buyer_orders(buyer_id))
        await self.durability.settle(*written)

    async def order(self, room_id: str, order_id: str) -> Event:
        raw = await self.store.client.get(keys.order(room_id, order_id))
        if raw is None:
            raise NotFound(f"order {order_id[:80]} does not exist")
        order: Event = orjson.loads(raw)
        refund = await self.store.client.get(keys.order_refund(room_id, order_id))
        if refund is not None:
            order["state"] = "refunded"
            order["refund"] = orjson.loads(refund)
        return order

    async def room_of_order(self, order_id: str) -> str:
        raw = await self.store.client.hget(keys.order_rooms(), order_id)
        if raw is None:
            raise NotFound(f"order {order_id[:80]} does not exist")
        return as_text(raw)

    async def orders_of_buyer(self, buyer_id: str, limit: int = 50) -> list[Event]:
        ids = await self.store.client.zrevrange(keys.buyer_orders(buyer_id), 0, limit - 1)
        orders = []
        for raw_id in ids:
            order_id = as_text(raw_id)
            orders.append(await self.order(await self.room_of_order(order_id), order_id))
        return orders

    async def orders_of_room(self, room_id: str, limit: int = 500) -> list[Event]:
        ids = await self.store.client.zrevrange(keys.room_orders(room_id), 0, limit - 1)
        return [await self.order(room_id, as_text(i)) for i in ids]

    async def is_admin(self, user_id: str) -> bool:
        return self._is_admin is not None and await self._is_admin(user_id)

    async def refund(self, who: Identity, order_id: str) -> Event:
        room_id = await self.room_of_order(order_id)
        room = await self.rooms.room(room_id)
        if not may_refund(room, who.id, admin=await self.is_admin(who.id)):
            if room.role_of(who.id) is Role.MODERATOR and self.audit is not None:
                # A moderator reaching for the money is worth the host's notice.
                actor = {"id": who.id, "name": who.name}
                entry = {"at": self.now_ms(), "actor": actor, "action": "order.refund_refused",
                         "target": {"order_id": order_id}}  # fmt: skip
                await self.audit(room_id, entry)
            raise Forbidden("only the room's creator or an operator can refund")
        order = await self.order(room_id, order_id)
        if order["state"] == "refunded":
            await self.tally(room_id, order, "refund")
            return order
        if order["state"] != "paid":  # an auction's order awaiting payment, or lapsed
            raise Conflict(f"a {order['state']} order has nothing to refund")
        record: Event = {"by": who.id, "at": self.now_ms(), "ref": None, "status": "refunded"}
        if order["payment"].get("ref"):  # a giveaway took no money: nothing to give back
            result = await self.payments.refund(
                payment_ref=order["payment"]["ref"],
                amount=order["amount"],
                idempotency_key=f"refund|{order_id}",
            )
            record.update(ref=result.refund_ref, status=result.status)
        first = await self.store.client.set(
            keys.order_refund(room_id, order_id), orjson.dumps(record), nx=True
        )
        await self.durable(room_id)
        refunded = await self.order(room_id, order_id)
        await self.tally(room_id, refunded, "refund")
        if first and self.on_refund is not None:
            await self.on_refund(room, refunded)
        return refunded
