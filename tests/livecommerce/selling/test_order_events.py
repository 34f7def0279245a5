"""Who hears of an order, and who sees an audit entry no tool wrote."""

from __future__ import annotations

from livecommerce.rooms.rules import Room
from livecommerce.runtime.ids import RoomId
from livecommerce.selling.order_events import audit_audience, order_audience


def a_room() -> Room:
    return Room(
        id=RoomId("r_1"), title="Drop", host_id="u_host", host_name="Ada", currency="EUR",
        locale="en", created_at=1_000, epoch="e1", moderators=("u_mod",),
    )  # fmt: skip


def test_the_studio_and_the_buyer_on_every_device_hear_of_an_order() -> None:
    order = {"id": "o_1", "buyer": {"id": "u_buyer"}}
    assert order_audience(a_room(), order) == {"u_host", "u_mod", "u_buyer"}


def test_a_host_buying_in_their_own_show_hears_of_it_once() -> None:
    order = {"id": "o_1", "buyer": {"id": "u_host"}}
    assert order_audience(a_room(), order) == {"u_host", "u_mod"}


def test_an_audit_entry_goes_to_every_console_but_the_actors_own() -> None:
    entry = {"action": "refund_refused", "actor": {"id": "u_mod"}}
    assert audit_audience(a_room(), entry) == {"u_host"}
