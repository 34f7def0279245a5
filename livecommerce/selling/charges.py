"""The charge sweeper: money taken with no order to show for it goes back.

A process can die after the provider charged a card and before the order was written; if
the buyer never retries, nothing else would notice. Checkout keeps an entry in the ledger of
open charges (``store/charges_store.py``) from just before each charge until its order is
written, and every process sweeps that ledger once a second. An entry is looked at when its
hold's time is up: if the hold became an order paid by this charge, the entry is closed and
the money stays; if the hold expired, was released or was paid by another charge, the charge
is refunded.

Exactly once, on every process at once: entries are leased to one sweeper at a time
(``charge_claim.lua``); the decision rests on the hold's final state (a hold still held waits
until it is reaped, and the reaper and ``sale_confirm.lua`` are atomic steps on the same hold,
so no order can take the charge afterwards); and the refund's idempotency key is the one
checkout itself uses to give a charge back (``void|<payment ref>``), so however many callers
get there, the provider refunds once.
"""

from __future__ import annotations

import logging

from livecommerce.errors import Conflict, LiveCommerceError, NotFound
from livecommerce.runtime import metrics
from livecommerce.runtime.ticker import Ticker
from livecommerce.selling.checkout import VOID_KEY, Checkout
from livecommerce.selling.ledger import OpenCharge
from livecommerce.selling.rules import HoldState

log = logging.getLogger("livecommerce.charges")

SWEEP_EVERY_S = 1.0
ORDER_CHARGE = "order:"  # the hold_id of a charge for an order paid without a hold
LEASE_MS = 30_000


class ChargeSweeper:
    def __init__(self, checkout: Checkout, *, every_s: float = SWEEP_EVERY_S) -> None:
        self.checkout = checkout
        self.ledger = checkout.ledger
        self.every_s = every_s
        self._ticker = Ticker("charges", every_s, self.sweep)

    def start(self) -> None:
        self._ticker.start()

    async def stop(self) -> None:
        await self._ticker.stop()

    async def sweep(self) -> int:
        """Look at every due entry once; how many charges were given back."""
        refunded = 0
        for charge in await self.ledger.claim(self.checkout.now_ms(), LEASE_MS):
            try:
                refunded += await self._settle(charge)
            except LiveCommerceError as exc:  # the lease brings it back
                log.warning("open charge of hold %s: %s", charge.hold_id, exc.code)
        return refunded

    async def _settle(self, charge: OpenCharge) -> int:
        checkout = self.checkout
        payment = await checkout.payments.charge_of(charge.key)
        if payment is None or not payment.paid:  # no money was taken
            await self.ledger.close(charge.key)
            return 0
        final = await self._final_state(charge)
        if final is None:
            return 0  # still held and in time: the buyer may yet retry
        state, order_id = final
        if state is HoldState.CONFIRMED:
            order = await checkout.order(charge.room_id, order_id)
            if order["payment"].get("ref") == payment.payment_ref:
                await self.ledger.close(charge.key)
                return 0
        try:
            await checkout.payments.refund(
                payment_ref=payment.payment_ref,
                amount=charge.amount,
                idempotency_key=VOID_KEY.format(payment.payment_ref),
            )
        except Conflict as exc:  # refunded already by other means; nothing left to give
            log.error("charge %s not given back: %s", payment.payment_ref, exc.message)
            await self.ledger.close(charge.key)
            return 0
        metrics.CHARGES_GIVEN_BACK.inc()
        context = {"payment_ref": payment.payment_ref, "hold": charge.hold_id,
                   "buyer": charge.buyer_id, "amount": charge.amount}  # fmt: skip
        log.warning("gave back a charge no order uses", extra=context)
        await self.ledger.close(charge.key)
        return 1

    async def _final_state(self, charge: OpenCharge) -> tuple[HoldState, str] | None:
        """The state of the charge's hold (and its order) once no checkout can change it;
        None while it is still held and in time (look again later)."""
        checkout = self.checkout
        if charge.hold_id.startswith(ORDER_CHARGE):
            return await self._order_state(charge, charge.hold_id.removeprefix(ORDER_CHARGE))
        sales = checkout.sales
        try:
            hold = await sales.hold(charge.room_id, charge.sale_id, charge.hold_id)
        except NotFound:  # nothing left that an order could be for
            return HoldState.EXPIRED, ""
        if hold.state is HoldState.HELD:
            now = checkout.now_ms()
            if hold.expires_at > now:
                await self.ledger.postpone(charge.key, hold.expires_at + checkout.sweep_grace_ms)
                return None
            if checkout.reservations is not None:
                await checkout.reservations.reap(charge.room_id, charge.sale_id)
            else:
                await sales.reap(charge.room_id, charge.sale_id, now)
            hold = await sales.hold(charge.room_id, charge.sale_id, charge.hold_id)
            if hold.state is HoldState.HELD:
                return None
        return hold.state, hold.order_id

    async def _order_state(self, charge: OpenCharge, order_id: str) -> tuple[HoldState, str] | None:
        """A charge for an order paid without a hold (an auction's): final once the order is
        paid (by this charge or another) or lapsed; None while it may still be paid."""
        checkout = self.checkout
        try:
            order = await checkout.order(charge.room_id, order_id)
        except NotFound:
            return HoldState.EXPIRED, ""
        if order["state"] == "awaiting_payment":
            look_at = max(int(order["pay_by"]), checkout.now_ms()) + checkout.sweep_grace_ms
            await self.ledger.postpone(charge.key, look_at)
            return None
        if order["state"] in ("paid", "refunded"):
            return HoldState.CONFIRMED, order_id
        return HoldState.EXPIRED, ""
