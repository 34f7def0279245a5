"""The room desk on its own, against a real Valkey: the rules the studio, OBS (WHIP) and the
demo share when a show is made, goes live, ends, discloses a partnership or counts viewers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from livecommerce.accounts.auth import Identity
from livecommerce.errors import Conflict, Forbidden, RoomNotLive
from livecommerce.events import Event
from livecommerce.rooms.rules import RoomDraft, RoomState
from livecommerce.rooms.service import Rooms
from livecommerce.rooms.store import RoomStore
from livecommerce.runtime.ids import SaleId
from livecommerce.selling.rules import Sale, SaleState
from livecommerce.selling.store import SalesStore
from livecommerce.store.history import Store

NOW_S = 1_700_000_000.0
NOW_MS = int(NOW_S * 1000)
ADA = Identity("u_ada", "Ada", "account")
VIV = Identity("u_viv", "Viv", "account")


@dataclass
class Desk:
    rooms: Rooms
    store: Store
    sales: SalesStore
    told: list[tuple[str, str, Event]] = field(default_factory=list)

    async def history(self, room_id: str) -> list[Event]:
        events = await self.store.events_after(room_id, 0)
        assert events is not None
        return events


@pytest.fixture
async def desk(redis_url: str) -> AsyncIterator[Desk]:
    store = Store.from_url(redis_url, stream_max_len=1000)
    told: list[tuple[str, str, Event]] = []

    async def on_sale_event(room_id: str, kind: str, data: Event) -> None:
        told.append((room_id, kind, data))

    room_store = RoomStore(store.client, store.scripts, stream_max_len=1000)
    rooms = Rooms(store, room_store, clock=lambda: NOW_S, on_sale_event=on_sale_event)
    yield Desk(rooms, store, SalesStore(store.client, store.scripts, stream_max_len=1000), told)
    await store.close()


def draft(title: str = "Autumn knitwear", scheduled_at: int | None = None) -> RoomDraft:
    return RoomDraft(title, "EUR", "en", "", scheduled_at)


async def test_a_new_show_is_upcoming_hosted_by_its_creator_soonest_first(desk: Desk) -> None:
    later = await desk.rooms.create(ADA, draft("Later", scheduled_at=NOW_MS + 7_200_000))
    sooner = await desk.rooms.create(ADA, draft("Sooner", scheduled_at=NOW_MS + 3_600_000))
    assert (later.state, later.host_id, later.created_at) == (RoomState.SCHEDULED, ADA.id, NOW_MS)
    assert await desk.rooms.room(later.id) == later
    upcoming = await desk.rooms.listing(RoomState.SCHEDULED, None, 10)
    assert [r.title for r in upcoming] == ["Sooner", "Later"]
    assert {r.id for r in await desk.rooms.listing(None, ADA.id, 10)} == {later.id, sooner.id}
    assert await desk.rooms.listing(RoomState.LIVE, None, 10) == []


async def test_the_host_takes_the_show_live_and_the_room_hears_it_once(desk: Desk) -> None:
    room = await desk.rooms.create(ADA, draft())
    live = await desk.rooms.transition(ADA, room, RoomState.LIVE)
    assert (live.state, live.started_at) == (RoomState.LIVE, NOW_MS)
    assert await desk.rooms.room(room.id) == live
    assert [r.id for r in await desk.rooms.listing(RoomState.LIVE, None, 10)] == [room.id]
    assert await desk.rooms.listing(RoomState.SCHEDULED, None, 10) == []
    assert await desk.rooms.for_publishing(ADA, room.id) == live  # OBS may stream to it
    with pytest.raises(Conflict):
        await desk.rooms.transition(ADA, live, RoomState.LIVE)
    history = await desk.history(room.id)
    assert [(e["type"], e["state"], e["at"]) for e in history] == [("room.state", "live", NOW_MS)]


async def test_nobody_but_the_host_takes_a_show_live_ends_it_or_streams_to_it(desk: Desk) -> None:
    room = await desk.rooms.create(ADA, draft())
    with pytest.raises(Forbidden):
        await desk.rooms.hosted(VIV, room.id)
    with pytest.raises(Forbidden):
        await desk.rooms.for_publishing(VIV, room.id)
    for to in (RoomState.LIVE, RoomState.ENDED):
        with pytest.raises(Forbidden):
            await desk.rooms.transition(VIV, room, to)
    with pytest.raises(Forbidden):
        await desk.rooms.disclose(VIV, room, True)
    assert await desk.rooms.room(room.id) == room
    assert await desk.history(room.id) == []


async def test_a_tab_that_read_the_room_before_it_changed_cannot_change_it_again(
    desk: Desk,
) -> None:
    stale = await desk.rooms.create(ADA, draft())
    live = await desk.rooms.transition(ADA, stale, RoomState.LIVE)  # from the studio
    with pytest.raises(Conflict, match="the room is live"):  # OBS, with what it read before
        await desk.rooms.transition(ADA, stale, RoomState.LIVE)
    with pytest.raises(Conflict, match="the room is live"):  # cancelling a show already on
        await desk.rooms.transition(ADA, stale, RoomState.ENDED)
    assert (await desk.rooms.room(live.id)).state is RoomState.LIVE
    assert len(await desk.history(live.id)) == 1


async def test_ending_the_show_stops_its_running_sale_and_nothing_starts_after(
    desk: Desk,
) -> None:
    room = await desk.rooms.transition(ADA, await desk.rooms.create(ADA, draft()), RoomState.LIVE)
    sale = Sale(
        id=SaleId("s_1"), room_id=room.id, product_id="p_1", title="Jumper", image_url="",
        price=2900, currency="EUR", units=5, per_user_limit=1, hold_ms=120_000, starts_at=NOW_MS,
        ends_at=NOW_MS + 600_000, state=SaleState.ACTIVE, available=5, held=0, sold=0,
    )  # fmt: skip
    await desk.sales.start(sale, {"type": "sale.started", "sale": sale.to_public()})
    ended = await desk.rooms.transition(ADA, room, RoomState.ENDED)
    assert (ended.state, ended.ended_at) == (RoomState.ENDED, NOW_MS)
    stopped = {"sale_id": "s_1", "reason": "stopped"}
    assert desk.told == [(room.id, "sale.ended", stopped)]  # the merchant's webhook
    assert (await desk.sales.sale(room.id, "s_1")).state is SaleState.ENDED
    kinds = [e["type"] for e in await desk.history(room.id)]
    assert kinds == ["room.state", "sale.started", "sale.ended", "room.state"]
    with pytest.raises(RoomNotLive, match="the show has ended"):
        await desk.rooms.for_publishing(ADA, room.id)
    with pytest.raises(Conflict):
        await desk.rooms.transition(ADA, ended, RoomState.LIVE)


async def test_a_paid_partnership_is_stored_and_told_to_everyone_in_the_room(desk: Desk) -> None:
    room = await desk.rooms.create(ADA, draft())
    disclosed = await desk.rooms.disclose(ADA, room, True)
    assert disclosed.paid_partnership is True
    assert (await desk.rooms.room(room.id)).paid_partnership is True
    withdrawn = await desk.rooms.disclose(ADA, disclosed, False)
    assert withdrawn.paid_partnership is False
    told = [(e["type"], e["paid_partnership"]) for e in await desk.history(room.id)]
    assert told == [("room.disclosure", True), ("room.disclosure", False)]


async def test_viewers_are_counted_across_processes_until_a_process_goes_quiet(
    desk: Desk,
) -> None:
    room = await desk.rooms.create(ADA, draft())
    report = desk.rooms.report_viewers
    assert await report(room.id, "one", 3, NOW_MS, 5_000) == 3
    assert await report(room.id, "two", 2, NOW_MS, 5_000) == 5
    assert await report(room.id, "one", 0, NOW_MS, 5_000) == 2  # its last viewer left
    assert await report(room.id, "one", 4, NOW_MS + 6_000, 5_000) == 4  # "two" died
