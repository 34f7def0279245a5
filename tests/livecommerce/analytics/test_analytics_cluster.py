"""A show on two server processes, counted: the figures add up exactly whichever process saw
what, and a process killed mid-show costs at most its last second of watch time.

The processes run on the real clock, so watch time is bracketed rather than known: every
join and close is timed by the test before the step and after it, and the server's own
moment lies between (``Seat``). Every other figure is a count, asserted exactly. A story
waits for the figures on a known condition, never for a time: live, until the results show
what both processes must have flushed; at the end, until every process has flushed the show
with no audience left (its field is gone from the show's presence hash), after which nothing
more can arrive.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from livecommerce.analytics.rules import minute_of
from livecommerce.analytics.service import FLUSH_EVERY_S
from livecommerce.analytics.store import PRESENCE_TTL_MS
from livecommerce.store import keys
from tests.conftest import timeout
from tests.helpers import (
    PAID,
    RoomSocket,
    User,
    add_product,
    join,
    minted,
    open_room,
    pay,
    reply_to,
    say,
    sign_up,
    start_sale,
)
from tests.livecommerce.analytics.test_results import click, reserve, settled
from tests.processes import ServerProcess, start_process

pytestmark = pytest.mark.multiprocess

SECRET = "analytics-secret-of-the-cluster-32"
# How far past the test's bracket the server may be on an edge it learns of late: a close it
# notices a turn of its loop after the client's close returned, or Go live / End show heard
# over pub/sub after a flush went by (a hop of a few milliseconds; a tenth of a second on a
# loaded two-core machine). Joins need none: the welcome is sent as the socket is counted.
EDGE_S = 0.1


@pytest.fixture
async def two_processes(redis_url: str, tmp_path: Path) -> AsyncIterator[list[ServerProcess]]:
    args = ["--redis-url", redis_url, "--secret", SECRET]
    pair = await asyncio.gather(
        start_process(tmp_path / "a", *args), start_process(tmp_path / "b", *args)
    )
    yield list(pair)
    await asyncio.gather(*(p.stop() for p in pair), return_exceptions=True)


@dataclass
class Seat:
    """One audience socket on one process, and when it came and went as the test saw it."""

    who: User | None
    visitor: str | None
    on: ServerProcess
    socket: RoomSocket
    came: tuple[float, float]  # before connecting, after the welcome (admitted in between)
    went: tuple[float, float] | None = None  # before closing, after the close (or the kill)


@dataclass
class Show:
    """Ada's show, watched on two processes; the test's record of every audience socket."""

    http: httpx.AsyncClient
    store: Redis
    host: User
    room: dict[str, Any]
    seats: list[Seat] = field(default_factory=list)

    @property
    def id(self) -> str:
        return str(self.room["id"])

    async def watch(
        self, on: ServerProcess, who: User | None, *, visitor: str | None = None
    ) -> Seat:
        came = time.time()
        socket = await join(on.ws_url, self.id, who, visitor=visitor)
        seat = Seat(who, visitor, on, socket, (came, time.time()))
        self.seats.append(seat)
        return seat

    async def leave(self, seat: Seat) -> None:
        going = time.time()
        await seat.socket.close()
        seat.went = (going, time.time())

    async def resume(self, seat: Seat, on: ServerProcess) -> Seat:
        """The page reconnects with the last seq it saw: the same viewing session."""
        await self.leave(seat)
        came = time.time()
        epoch = seat.socket.seen[0]["epoch"]
        socket = await join(
            on.ws_url, self.id, seat.who, visitor=seat.visitor,
            since=seat.socket.last_seq, epoch=epoch, welcome=False,
        )  # fmt: skip
        await settled(socket)  # answered once the socket is in the room
        assert all(e["type"] != "welcome" for e in socket.seen), "a resume is no fresh join"
        moved = Seat(seat.who, seat.visitor, on, socket, (came, time.time()))
        self.seats.append(moved)
        return moved

    async def results(self) -> dict[str, Any]:
        answer = await self.http.get(f"/api/v1/rooms/{self.id}/results", headers=self.host.headers)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    async def until(self, check: Callable[[dict[str, Any]], bool], wait: float = 10) -> None:
        """The live results come to show ``check``: both processes flushed what it needs."""
        async with asyncio.timeout(timeout(wait)):
            while not check((await self.results())["summary"]):  # noqa: ASYNC110 - no event
                await asyncio.sleep(0.05)  # polling a condition, under the deadline above

    async def until_flushed(self, *processes: ServerProcess, wait: float = 10) -> None:
        """Each process has flushed the show with no audience left, so all it counted is in:
        a flush that finds no audience socket takes the process out of the presence hash."""
        pids = {str(p.process.pid) for p in processes}
        async with asyncio.timeout(timeout(wait)):
            while pids & await self.present_on():  # noqa: ASYNC110 - state in Redis, no event
                await asyncio.sleep(0.05)  # polling a condition, under the deadline above

    async def last_flush(self, process: ServerProcess) -> float:
        """When the process last flushed the show with an audience (epoch seconds): its
        presence entry says until when it counts, one TTL after that flush."""
        entries = await self.store.hgetall(keys.room_stats_presence(self.id))
        for name, value in entries.items():
            text = name.decode() if isinstance(name, bytes) else name
            if text.split(":")[-2] == str(process.process.pid):
                raw = value.decode() if isinstance(value, bytes) else value
                return (int(raw.split(":")[1]) - PRESENCE_TTL_MS) / 1000
        raise AssertionError("the process has no presence entry for the show")

    async def present_on(self) -> set[str]:
        """The processes (pids) whose last flush of the show had audience sockets."""
        fields = await self.store.hkeys(keys.room_stats_presence(self.id))
        names = [f.decode() if isinstance(f, bytes) else f for f in fields]
        return {name.split(":")[-2] for name in names}  # "<host>:<pid>:<random>"

    def watch_bounds(self) -> tuple[float, float]:
        """The seconds of watch time the server can have counted, least and most: presence
        inside the live window, a person on a process once however many of their sockets."""
        started, ended = self.room["started_at"] / 1000, self.room["ended_at"] / 1000
        spans: dict[tuple[str, int], list[tuple[float, float, float, float]]] = {}
        for seat in self.seats:
            assert seat.went is not None, "a socket the test never closed"
            person = seat.who.id if seat.who is not None else f"guest {seat.visitor}"
            key = (person, seat.on.process.pid)
            spans.setdefault(key, []).append((*seat.came, *seat.went))
        least = sum(
            covered([(c1, w0) for _, c1, w0, _ in s], started, ended) for s in spans.values()
        )
        most = sum(
            covered([(c0, w1) for c0, _, _, w1 in s], started, ended) for s in spans.values()
        )
        return least, most


def covered(spans: list[tuple[float, float]], lo: float, hi: float) -> float:
    """The length of the union of ``spans`` inside ``lo``..``hi``."""
    total, reach = 0.0, lo
    for start, end in sorted(spans):
        start, end = max(start, reach), min(end, hi)
        if end > start:
            total += end - start
            reach = end
    return total


@pytest.fixture
async def show(
    two_processes: list[ServerProcess], redis_url: str
) -> AsyncIterator[tuple[Show, ServerProcess, ServerProcess]]:
    a, b = two_processes
    store = Redis.from_url(redis_url)
    async with httpx.AsyncClient(base_url=a.http_url, timeout=timeout(10)) as http:
        host = await sign_up(http, "Ada")
        room = await open_room(http, host, live=False, title="Vinyl night")
        yield Show(http, store, host, room), a, b
    await store.aclose()


async def go_live(show: Show) -> None:
    started = await show.http.post(f"/api/v1/rooms/{show.id}/start", headers=show.host.headers)
    assert started.status_code == 200, started.text
    show.room = started.json()


async def end(show: Show) -> None:
    ended = await show.http.post(f"/api/v1/rooms/{show.id}/end", headers=show.host.headers)
    assert ended.status_code == 200, ended.text
    show.room = ended.json()


async def pin(studio: RoomSocket, product: dict[str, Any], seats: list[Seat]) -> None:
    """Ada pins a product, and every viewer on both processes sees it pinned."""
    await studio.send({"type": "pin", "product_id": product["id"], "ref": "pin"})
    assert (await reply_to(studio, "pin"))["type"] == "ack"
    for seat in seats:
        await seat.socket.expect("product.pinned", lambda e: e["product"]["id"] == product["id"])


async def react(socket: RoomSocket, times: int) -> None:
    for _ in range(times):
        await socket.send({"type": "react", "kind": "heart"})
    await settled(socket)


async def report(socket: RoomSocket, message: dict[str, Any], ref: str) -> None:
    await socket.send({"type": "report", "reason": "spam", "message_id": message["id"], "ref": ref})
    assert (await reply_to(socket, ref))["type"] == "ack"


async def test_a_show_on_two_processes_adds_up_to_exactly_what_happened_on_both(
    show: tuple[Show, ServerProcess, ServerProcess],
) -> None:
    s, a, b = show
    first = await add_product(s.http, s.host, sku="LP-1", title="First pressing", price=2900)
    second = await add_product(s.http, s.host, sku="LP-2", title="Test pressing", price=4900)
    kari, lars, mia = minted("kari", SECRET), minted("lars", SECRET), minted("mia", SECRET)

    # Ada's studio is on a; a guest on a and Kari's phone on b wait for the show.
    studio = await join(a.ws_url, s.id, s.host)  # the host's own socket is not audience
    guest = await s.watch(a, None, visitor="guest-visitor-0001")
    kari_phone = await s.watch(b, kari)
    await go_live(s)

    # Lars joins on a; Mia and Kari's laptop on b: five sockets, four people, five views.
    lars_a = await s.watch(a, lars)
    mia_b = await s.watch(b, mia)
    kari_laptop = await s.watch(b, kari)
    await s.until(lambda f: f["peak_viewers"] == 5)
    audience = [guest, kari_phone, lars_a, mia_b, kari_laptop]

    # The first pressing is pinned before five sockets; they click, chat, react, report.
    await pin(studio, first, audience)
    await click(kari_phone.socket, first["id"])
    await click(lars_a.socket, first["id"], times=2)
    await click(guest.socket, "p_never_shown_here")  # never shown in this room: not counted
    await click(studio, first["id"])  # the host's own: not counted
    question = await say(kari_phone.socket, "Is it the first pressing?", "c1")
    await say(kari_laptop.socket, "I'll take it", "c2")
    answer = await say(lars_a.socket, "Me too", "c3")
    await say(mia_b.socket, "Lovely sleeve", "c4")
    await react(guest.socket, 3)
    await react(mia_b.socket, 2)
    await report(lars_a.socket, question, "r1")
    await report(mia_b.socket, answer, "r2")

    # A flash sale: Kari holds on b (her retry is the same hold), Lars on a; both pay, Kari
    # twice with one key; Lars's order is refunded, pressed twice.
    sale = await start_sale(studio, first["id"], price=2900, units=3)
    kari_hold = await reserve(kari_phone.socket, sale["id"], "k")
    assert (await reserve(kari_phone.socket, sale["id"], "k"))["id"] == kari_hold["id"]
    lars_hold = await reserve(lars_a.socket, sale["id"], "l")
    async with httpx.AsyncClient(base_url=b.http_url, timeout=timeout(10)) as on_b:
        paid = await pay(on_b, kari, kari_hold["id"], PAID, "pay-kari-1")
        assert paid.status_code == 201, paid.text
        again = await pay(on_b, kari, kari_hold["id"], PAID, "pay-kari-1")
        assert again.json()["order"]["id"] == paid.json()["order"]["id"]
        lars_paid = await pay(s.http, lars, lars_hold["id"], PAID, "pay-lars-1")
        assert lars_paid.status_code == 201, lars_paid.text
        for http in (on_b, s.http):
            refund = await http.post(
                f"/api/v1/orders/{lars_paid.json()['order']['id']}/refund", headers=s.host.headers
            )
            assert refund.status_code == 200, refund.text

    # The test pressing replaces it before the same five; Mia (b) and the guest (a) click it.
    await pin(studio, second, audience)
    await click(mia_b.socket, second["id"])
    await click(guest.socket, second["id"])
    # While live, the results already show both processes' counts; the show goes on until
    # they show a dozen seconds watched (four people on their processes: three seconds more).
    await s.until(lambda f: (f["chat_lines"], f["clicks"], f["holds"]) == (4, 5, 2))
    await s.until(lambda f: f["watch_time_s"] >= 12)

    # The guest leaves a, Kari closes her laptop (still here on her phone), Lars's page
    # reconnects to b where it left off (the same view), Mia's opens afresh on a (a new
    # view of the same viewer). Each joins while the test pressing is pinned.
    await s.leave(guest)
    await s.leave(kari_laptop)
    lars_b = await s.resume(lars_a, b)
    await s.leave(mia_b)
    mia_a = await s.watch(a, mia)
    await end(s)
    for seat in (kari_phone, lars_b, mia_a):  # lingering after the end counts for nothing
        await s.leave(seat)
    await studio.close()
    await s.until_flushed(a, b)

    found = await s.results()
    f = found["summary"]
    assert found["status"] == "final"
    started, ended = s.room["started_at"], s.room["ended_at"]
    assert found["duration_s"] == (ended - started) // 1000
    # Four people; six views: two waiting, three joins, Mia's new page (Lars's resume is the
    # same view); at most five sockets at once, whatever moved between processes later.
    assert (f["unique_viewers"], f["views"], f["peak_viewers"]) == (4, 6, 5)
    assert (f["chat_lines"], f["chatters"], f["reactions"], f["reports"]) == (4, 3, 5, 2)
    # Five sockets at each pin, and two that joined while the test pressing was pinned.
    assert (f["impressions"], f["clicks"], f["holds"]) == (12, 5, 2)
    assert (f["orders"], f["units"], f["buyers"], f["first_time_buyers"]) == (2, 2, 2, 2)
    assert (f["gmv"], f["refunds"], f["refunded"], f["net_revenue"]) == (5800, 1, 2900, 2900)
    assert (f["ctr"], f["click_to_order"], f["conversion"]) == (0.4167, 0.4, 0.5)
    assert (f["aov"], f["gpm"]) == (2900, 966_667)

    # Late edges: two waiting sockets hear of Go live (less), four sockets closed during the
    # show and three people on a process at the end (more); the figure is in whole seconds.
    least, most = s.watch_bounds()
    low, high = least - 1 - 2 * EDGE_S, most + (4 + 3) * EDGE_S
    print(f"\nwatch time {f['watch_time_s']} s, the test's bracket {least:.2f}..{most:.2f} s")
    assert low <= f["watch_time_s"] <= high
    assert f["average_watch_s"] == min(round(f["watch_time_s"] / 4), found["duration_s"])

    assert [(p["product_id"], p["title"]) for p in found["products"]] == [
        (first["id"], "First pressing"),
        (second["id"], "Test pressing"),
    ]
    figures = ("impressions", "clicks", "holds", "orders", "units", "gmv", "refunds", "refunded")
    assert [tuple(p[n] for n in figures) for p in found["products"]] == [
        (5, 3, 2, 2, 2, 5800, 1, 2900),
        (7, 2, 0, 0, 0, 0, 0, 0),
    ]
    assert [(m["kind"], m["product_id"]) for m in found["markers"]] == [
        ("pin", first["id"]),
        ("sale", first["id"]),
        ("pin", second["id"]),
    ]
    timeline = found["timeline"]
    assert len(timeline) == minute_of(ended - 1) - minute_of(started) + 1
    assert max(m["viewers"] for m in timeline) == 5
    added = {n: sum(m[n] for m in timeline) for n in ("chat_lines", "clicks", "orders", "gmv")}
    assert added == {"chat_lines": 4, "clicks": 5, "orders": 2, "gmv": 5800}


async def test_a_process_killed_mid_show_loses_at_most_its_last_second_and_no_order(
    show: tuple[Show, ServerProcess, ServerProcess],
) -> None:
    s, a, b = show
    product = await add_product(s.http, s.host, sku="LP-1", title="First pressing", price=2900)
    per, ola, kari = minted("per", SECRET), minted("ola", SECRET), minted("kari", SECRET)
    studio = await join(a.ws_url, s.id, s.host)
    await go_live(s)

    # Per and a guest watch on a; Ola and Kari on b.
    per_a = await s.watch(a, per)
    guest = await s.watch(a, None, visitor="guest-visitor-0002")
    ola_b = await s.watch(b, ola)
    kari_b = await s.watch(b, kari)
    await s.until(lambda f: f["peak_viewers"] == 4)

    # On b, Ola chats and Kari buys; b flushes them (the results show them). Per and the
    # guest leave a, which then has only Ada's studio; b is killed mid-show.
    await say(ola_b.socket, "Which label?", "c1")
    sale = await start_sale(studio, product["id"], price=2900, units=2)
    hold = await reserve(kari_b.socket, sale["id"], "k")
    async with httpx.AsyncClient(base_url=b.http_url, timeout=timeout(10)) as on_b:
        paid = await pay(on_b, kari, hold["id"], PAID, "pay-kari-1")
    assert paid.status_code == 201, paid.text  # acknowledged by b: it must be in the figures
    await s.until(lambda f: (f["chat_lines"], f["holds"]) == (1, 1))
    await s.until(lambda f: f["watch_time_s"] >= 12)  # b's two have watched some seconds
    await s.leave(guest)
    await s.leave(per_a)
    await s.until_flushed(a)
    killed_at = time.time()
    os.kill(b.process.pid, signal.SIGKILL)
    assert await b.process.wait() == -signal.SIGKILL
    # What b had not flushed: the time since its last flush, about a second (its ticker's
    # period; more only when a loaded machine runs its loop late).
    unflushed = killed_at - await s.last_flush(b)
    assert 0 <= unflushed <= timeout(2 * FLUSH_EVERY_S), unflushed
    for seat in (ola_b, kari_b):
        seat.went = (killed_at, killed_at)
    watched = (await s.results())["summary"]["watch_time_s"]  # b's part is all in by now

    # Ola's and Kari's pages come back on a where they left off: the same views, new to a,
    # and a counts them on (b's last presence lingers until it expires, so a's count may
    # include them twice for a few seconds: with Per and the guest gone, still no more than
    # the peak).
    ola_a = await s.resume(ola_b, a)
    kari_a = await s.resume(kari_b, a)
    await s.until(lambda f: f["watch_time_s"] >= watched + 2)
    await end(s)
    for seat in (ola_a, kari_a):
        await s.leave(seat)
    await studio.close()
    await s.until_flushed(a)

    found = await s.results()
    f = found["summary"]
    assert found["status"] == "final"
    assert (f["unique_viewers"], f["views"], f["peak_viewers"]) == (4, 4, 4)
    assert (f["chat_lines"], f["chatters"], f["holds"]) == (1, 1, 1)
    assert (f["orders"], f["units"], f["buyers"], f["first_time_buyers"]) == (1, 1, 1, 1)
    assert (f["gmv"], f["net_revenue"]) == (2900, 2900)
    (row,) = found["products"]
    assert (row["product_id"], row["holds"], row["orders"], row["gmv"]) == (
        product["id"], 1, 1, 2900
    )  # fmt: skip

    # b's two viewers' watch time is in up to b's last flush, ``unflushed`` before the kill;
    # a has two closes during the show and two people at the end.
    least, most = s.watch_bounds()
    low, high = least - 1 - 2 * (unflushed + EDGE_S), most + (2 + 2) * EDGE_S
    print(f"\nwatch time {f['watch_time_s']} s, the test's bracket {least:.2f}..{most:.2f} s")
    assert low <= f["watch_time_s"] <= high
