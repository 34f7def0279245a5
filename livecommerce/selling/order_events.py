"""Who hears of orders, refunds and sales besides the buyer's own reply.

Checkout and the sale ticker decide what happened; this says who is told: the studio and
the buyer's other devices at once (a private event on the room channel, one per person),
the merchant's backend by webhook, and the room's consoles when an audit entry was written
that no moderation tool wrote (a refused refund).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from livecommerce.moderation.store import ModerationStore
from livecommerce.rooms.rules import Room
from livecommerce.rooms.store import RoomStore
from livecommerce.store.history import Store

Notify = Callable[[str, str, dict[str, Any]], Awaitable[None]]
"""(creator id, event type, data): a webhook to the creator's endpoints."""


def order_audience(room: Room, order: dict[str, Any]) -> set[str]:
    """The studio (host and moderators) and the buyer, on every device."""
    return {room.host_id, *room.moderators, order["buyer"]["id"]}


def audit_audience(room: Room, entry: dict[str, Any]) -> set[str]:
    """The room's consoles, except the one whose action the entry records."""
    return {room.host_id, *room.moderators} - {entry["actor"]["id"]}


class OrderEvents:
    """The side effects of orders and sales, given to ``Checkout`` and ``Reservations``."""

    def __init__(
        self, store: Store, rooms: RoomStore, moderation: ModerationStore, notify: Notify
    ) -> None:
        self.store = store
        self.rooms = rooms
        self.moderation = moderation
        self.notify = notify

    async def order_created(self, room: Room, order: dict[str, Any]) -> None:
        """The studio hears of an order at once, and so do the buyer's other devices (the
        phone that held while the laptop paid); the merchant's backend by webhook."""
        private = {"type": "order.created", "order": order}
        for person in order_audience(room, order):
            await self.store.publish_ephemeral(room.id, {**private, "to": person})
        await self.notify(room.host_id, "order.created", order)

    async def order_refunded(self, room: Room, order: dict[str, Any]) -> None:
        await self.notify(room.host_id, "order.refunded", order)

    async def sale_changed(self, room_id: str, kind: str, data: dict[str, Any]) -> None:
        room = await self.rooms.room(room_id)
        await self.notify(room.host_id, kind, data)

    async def audited(self, room_id: str, entry: dict[str, Any]) -> None:
        """An entry no tool wrote (a refused refund): kept, and shown on the consoles at once."""
        await self.moderation.record(room_id, entry)
        room = await self.rooms.room(room_id)
        for person in audit_audience(room, entry):
            await self.store.publish_ephemeral(
                room_id, {"type": "mod.action", "to": person, "entry": entry}
            )
