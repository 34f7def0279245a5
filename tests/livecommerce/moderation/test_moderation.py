"""Moderators keep a room clean: they delete, time out, ban, slow down, and answer reports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from livecommerce.events import Event
from livecommerce.server import Server
from tests.conftest import SharedStore
from tests.helpers import (
    FakeClock,
    add_product,
    appoint,
    hosted_room,
    join,
    open_room,
    reply_to,
    say,
    sign_up,
    start_sale,
    tool,
)
from tests.livecommerce.conftest import ServerFactory
from tests.processes import ServerProcess, start_process


async def test_a_moderator_deletes_a_line_for_everyone_and_for_those_who_resume_later(
    server: Server, http: httpx.AsyncClient
) -> None:
    room, (_, kari, ola, mo) = await hosted_room(
        http, "Ada", "Kari", "Ola", "Mo", moderators=("Mo",)
    )
    watching = await join(server.ws_url, room["id"], ola)
    before = watching.last_seq
    epoch = watching.seen[0]["epoch"]
    away = await join(server.ws_url, room["id"], max_queue=None)
    away_seq = away.last_seq
    await away.ws.close()  # this viewer's phone goes into a tunnel

    talking = await join(server.ws_url, room["id"], kari)
    posted = await say(talking, "cheap followers at spam.example", "m1")
    moderating = await join(server.ws_url, room["id"], mo)
    gone = await tool(moderating, "d1", type="mod.delete", message_id=posted["id"])
    assert gone["type"] == "ack"
    assert gone["seq"] > posted["seq"]

    line = await watching.expect("chat.message")
    assert line["id"] == posted["id"]
    deleted = await watching.expect("chat.deleted")
    assert deleted["id"] == posted["id"]

    back = await join(server.ws_url, room["id"], since=away_seq, epoch=epoch, welcome=False)
    await back.expect("chat.deleted", lambda e: e["id"] == posted["id"])
    catch_up = [e for e in back.seen if e.get("seq", 0) > before]
    assert posted["id"] not in [e.get("id") for e in catch_up if e["type"] == "chat.message"]
    fresh = await join(server.ws_url, room["id"])
    assert posted["id"] not in [m["id"] for m in fresh.seen[0]["chat"]]

    audit = await http.get(f"/api/v1/rooms/{room['id']}/audit", headers=mo.headers)
    entry = audit.json()["entries"][0]
    assert entry["action"] == "mod.delete"
    assert entry["actor"]["id"] == mo.id
    assert entry["target"] == {"message_id": posted["id"]}
    assert entry["message"]["text"] == "cheap followers at spam.example"
    assert entry["message"]["user"]["id"] == kari.id


async def test_a_timed_out_viewer_is_refused_until_the_time_is_up(
    start_server: ServerFactory,
) -> None:
    clock = FakeClock()
    server = await start_server(clock=clock)
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        room, (ada, kari) = await hosted_room(http, "Ada", "Kari")
    hosting = await join(server.ws_url, room["id"], ada)
    talking = await join(server.ws_url, room["id"], kari)
    timed = await tool(hosting, "t", type="mod.timeout", user_id=kari.id, seconds=60,
                       reason="shouting")  # fmt: skip
    assert timed["until"] == int(clock.now * 1000) + 60_000
    note = await talking.expect("moderated")
    assert (note["action"], note["until"]) == ("timeout", timed["until"])

    refused = await say(talking, "why?", "a")
    assert refused["code"] == "muted"
    assert 59 <= refused["retry_after"] <= 60
    clock.now += 59
    assert (await say(talking, "still?", "b"))["code"] == "muted"
    clock.now += 2
    assert (await say(talking, "sorry", "c"))["type"] == "ack"


async def test_a_moderator_lifts_a_time_out_and_the_viewer_chats_again_at_once(
    server: Server, http: httpx.AsyncClient
) -> None:
    room, (ada, kari, mo) = await hosted_room(http, "Ada", "Kari", "Mo", moderators=("Mo",))
    moderating = await join(server.ws_url, room["id"], mo)
    talking = await join(server.ws_url, room["id"], kari)
    await tool(moderating, "t", type="mod.timeout", user_id=kari.id, seconds=3600)
    await talking.expect("moderated", lambda e: e["action"] == "timeout")
    assert (await say(talking, "hello?", "a"))["code"] == "muted"

    lifted = await tool(moderating, "l", type="mod.untimeout", user_id=kari.id,
                        reason="sorted out")  # fmt: skip
    assert (lifted["type"], lifted["action"]) == ("ack", "mod.untimeout")
    note = await talking.expect("moderated", lambda e: e["action"] == "untimeout")
    assert note["reason"] == "sorted out"
    assert (await say(talking, "thanks!", "b"))["type"] == "ack"

    person = await http.get(f"/api/v1/rooms/{room['id']}/people/{kari.id}", headers=mo.headers)
    assert not person.json()["banned"]
    assert not person.json().get("timed_out_until")
    audit = await http.get(f"/api/v1/rooms/{room['id']}/audit", headers=ada.headers)
    entry = audit.json()["entries"][0]
    assert (entry["action"], entry["actor"]["id"]) == ("mod.untimeout", mo.id)
    assert entry["target"] == {"user_id": kari.id, "name": "Kari"}
    assert entry["reason"] == "sorted out"


async def test_slow_mode_slows_viewers_but_not_the_host(
    server: Server, http: httpx.AsyncClient
) -> None:
    room, (ada, kari) = await hosted_room(http, "Ada", "Kari")
    hosting = await join(server.ws_url, room["id"], ada)
    talking = await join(server.ws_url, room["id"], kari)
    assert (await tool(hosting, "s", type="mod.slow", seconds=30))["type"] == "ack"
    slow = await talking.expect("room.slow")
    assert slow["seconds"] == 30

    assert (await say(talking, "first", "1"))["type"] == "ack"
    second = await say(talking, "second", "2")
    assert second["code"] == "rate_limited"
    assert 25 < second["retry_after"] <= 30
    assert (await say(hosting, "host one", "h1"))["type"] == "ack"
    assert (await say(hosting, "host two", "h2"))["type"] == "ack"
    fresh = await join(server.ws_url, room["id"])
    assert fresh.seen[0]["room"]["slow_s"] == 30

    await tool(hosting, "off", type="mod.slow", seconds=0)
    assert (await say(talking, "third", "3"))["type"] == "ack"


async def test_blocked_words_are_refused_whatever_their_disguise(
    server: Server, http: httpx.AsyncClient
) -> None:
    room, (ada, kari) = await hosted_room(http, "Ada", "Kari")
    hosting = await join(server.ws_url, room["id"], ada)
    set_words = await tool(hosting, "w", type="mod.words", words=["scam", "buy followers"])
    assert set_words["type"] == "ack"
    talking = await join(server.ws_url, room["id"], kari)
    disguises = ("SCAM!", "ｓｃａｍ", "𝐬𝐜𝐚𝐦", "ŝçàm", "buy-followers now", "total s c a m")  # noqa: RUF001 - look-alikes are the point
    for disguise in disguises:
        refused = await say(talking, disguise, disguise)
        assert refused["code"] == "blocked_word", disguise
    assert (await say(talking, "scampi for dinner", "ok"))["type"] == "ack"
    hidden = await say(talking, "s\u200bcam", "zw")  # invisible characters never get this far
    assert hidden["code"] == "bad_request"
    state = await http.get(f"/api/v1/rooms/{room['id']}/moderation", headers=ada.headers)
    assert state.json()["words"] == ["scam", "buy followers"]


async def test_a_viewer_reports_a_line_and_the_moderators_hear_of_it_at_once(
    server: Server, http: httpx.AsyncClient
) -> None:
    room, (_, kari, ola, mo) = await hosted_room(
        http, "Ada", "Kari", "Ola", "Mo", moderators=("Mo",)
    )
    moderating = await join(server.ws_url, room["id"], mo)
    talking = await join(server.ws_url, room["id"], kari)
    reporting = await join(server.ws_url, room["id"], ola)
    posted = await say(talking, "send me your card number", "m")

    filed = await tool(reporting, "r", type="report", message_id=posted["id"], reason="scam",
                       note="phishing")  # fmt: skip
    assert filed["type"] == "ack"
    heard = await moderating.expect("report.created")
    assert heard["report"]["message"]["text"] == "send me your card number"
    assert heard["report"]["reporter"]["id"] == ola.id
    queue = await http.get(f"/api/v1/rooms/{room['id']}/reports", headers=mo.headers)
    assert [r["id"] for r in queue.json()["reports"]] == [filed["report_id"]]

    resolved = await tool(moderating, "x", type="mod.resolve", report_id=filed["report_id"],
                          reason="banned the author")  # fmt: skip
    assert resolved["type"] == "ack"
    queue = await http.get(f"/api/v1/rooms/{room['id']}/reports", headers=mo.headers)
    assert queue.json()["reports"] == []
    # A viewer cannot read the queue.
    assert (
        await http.get(f"/api/v1/rooms/{room['id']}/reports", headers=ola.headers)
    ).status_code == 403


async def test_a_report_flood_is_rate_limited(server: Server, http: httpx.AsyncClient) -> None:
    room, (_, kari, ola) = await hosted_room(http, "Ada", "Kari", "Ola")
    talking = await join(server.ws_url, room["id"], kari)
    posted = await say(talking, "hello", "m")
    reporting = await join(server.ws_url, room["id"], ola)
    answers = [
        await tool(reporting, f"r{i}", type="report", message_id=posted["id"], reason="spam")
        for i in range(7)
    ]
    assert [a["type"] for a in answers[:5]] == ["ack"] * 5
    assert answers[5]["code"] == "rate_limited"
    assert answers[5]["retry_after"] >= 1


async def test_a_pinned_chat_line_shows_to_everyone_and_to_newcomers(
    server: Server, http: httpx.AsyncClient
) -> None:
    room, (ada, kari) = await hosted_room(http, "Ada", "Kari")
    hosting = await join(server.ws_url, room["id"], ada)
    watching = await join(server.ws_url, room["id"], kari)
    posted = await say(hosting, "Free shipping over 50 EUR tonight", "m")
    await tool(hosting, "p", type="mod.pin_chat", message_id=posted["id"])
    pinned = await watching.expect("chat.pinned")
    assert pinned["message"]["text"] == "Free shipping over 50 EUR tonight"
    fresh = await join(server.ws_url, room["id"])
    assert fresh.seen[0]["pinned_chat"]["id"] == posted["id"]
    await tool(hosting, "u", type="mod.unpin_chat")
    await watching.expect("chat.unpinned")
    assert (await join(server.ws_url, room["id"])).seen[0]["pinned_chat"] is None


MOD_COMMANDS: list[Event] = [
    {"type": "mod.delete", "message_id": "m_x"},
    {"type": "mod.timeout", "user_id": "u_x", "seconds": 60},
    {"type": "mod.ban", "user_id": "u_x"},
    {"type": "mod.unban", "user_id": "u_x"},
    {"type": "mod.untimeout", "user_id": "u_x"},
    {"type": "mod.slow", "seconds": 10},
    {"type": "mod.pin_chat", "message_id": "m_x"},
    {"type": "mod.unpin_chat"},
    {"type": "mod.words", "words": ["x"]},
    {"type": "mod.resolve", "report_id": "rp_x"},
]


@pytest.mark.parametrize("command", MOD_COMMANDS, ids=[c["type"] for c in MOD_COMMANDS])
async def test_every_tool_is_forbidden_to_a_viewer(
    server: Server, http: httpx.AsyncClient, command: Event
) -> None:
    room, (_, kari) = await hosted_room(http, "Ada", "Kari")
    viewer = await join(server.ws_url, room["id"], kari)
    assert (await tool(viewer, "v", **command))["code"] == "forbidden"
    guest = await join(server.ws_url, room["id"])
    assert (await tool(guest, "g", **command))["code"] == "unauthorized"
    over_http = await http.post(
        f"/api/v1/rooms/{room['id']}/moderation", json=command, headers=kari.headers
    )
    assert over_http.status_code == 403
    assert over_http.json()["code"] == "forbidden"


@pytest.mark.parametrize(
    ("command", "problem"),
    [
        ({"type": "mod.timeout", "user_id": "u_x", "seconds": 0}, "between 1 and 604800"),
        ({"type": "mod.timeout", "user_id": "u_x", "seconds": 10**9}, "between 1 and 604800"),
        ({"type": "mod.timeout", "user_id": "u_x", "seconds": "60"}, "must be an integer"),
        ({"type": "mod.timeout", "seconds": 60}, "'user_id' is missing"),
        ({"type": "mod.ban", "user_id": ""}, "must not be empty"),
        ({"type": "mod.untimeout"}, "'user_id' is missing"),
        ({"type": "mod.ban", "user_id": "x" * 65}, "longer than 64"),
        ({"type": "mod.slow", "seconds": -1}, "between 0 and 600"),
        ({"type": "mod.delete"}, "'message_id' is missing"),
        ({"type": "mod.words", "words": "scam"}, "list of strings"),
        ({"type": "mod.words", "words": [1]}, "list of strings"),
        ({"type": "report", "message_id": "m_x", "reason": "ugly"}, "must be one of"),
        ({"type": "report", "reason": "spam"}, "'message_id' is missing"),
    ],
)
async def test_bad_tool_commands_get_a_clear_error(
    server: Server, http: httpx.AsyncClient, command: Event, problem: str
) -> None:
    room, (ada,) = await hosted_room(http, "Ada")
    hosting = await join(server.ws_url, room["id"], ada)
    answer = await tool(hosting, "bad", **command)
    assert answer["code"] == "bad_request"
    assert problem in answer["message"]
    unknown = await tool(hosting, "u", type="mod.nonsense")
    assert unknown["code"] == "unknown_type"


async def test_a_moderator_has_no_rights_in_another_room_nor_over_the_host_or_peers(
    server: Server, http: httpx.AsyncClient
) -> None:
    ada, bea, mo, max_ = [await sign_up(http, n) for n in ("Ada", "Bea", "Mo", "Max")]
    ours = await open_room(http, ada)
    theirs = await open_room(http, bea)
    await appoint(http, ada, ours["id"], mo)
    await appoint(http, ada, ours["id"], max_)
    moderating = await join(server.ws_url, ours["id"], mo)

    elsewhere = await http.post(
        f"/api/v1/rooms/{theirs['id']}/moderation",
        json={"type": "mod.slow", "seconds": 5},
        headers=mo.headers,
    )
    assert elsewhere.status_code == 403
    on_host = await tool(moderating, "h", type="mod.ban", user_id=ada.id)
    assert on_host["code"] == "forbidden"
    on_peer = await tool(moderating, "p", type="mod.timeout", user_id=max_.id, seconds=60)
    assert on_peer["code"] == "forbidden"
    on_self = await tool(moderating, "s", type="mod.ban", user_id=mo.id)
    assert on_self["code"] == "forbidden"
    appointing = await http.put(
        f"/api/v1/rooms/{ours['id']}/moderators/{bea.id}", headers=mo.headers
    )
    assert appointing.status_code == 403


# Two processes -------------------------------------------------------------------------

SECRET = "shared-secret-of-the-cluster-32b"


@pytest.fixture
async def two_servers(
    shared_store: SharedStore, tmp_path: Path
) -> AsyncIterator[list[ServerProcess]]:
    servers = await asyncio.gather(
        start_process(tmp_path / "a", *shared_store.args, "--secret", SECRET),
        start_process(tmp_path / "b", *shared_store.args, "--secret", SECRET),
    )
    yield list(servers)
    await asyncio.gather(*(s.stop() for s in servers))


@pytest.mark.multiprocess
async def test_a_ban_and_a_removal_hold_on_both_processes_at_once(
    two_servers: list[ServerProcess],
) -> None:
    a, b = two_servers
    async with httpx.AsyncClient(base_url=a.http_url) as http:
        room, (ada, kari, mo) = await hosted_room(http, "Ada", "Kari", "Mo", moderators=("Mo",))
        on_a = await join(a.ws_url, room["id"], kari)
        on_b = await join(b.ws_url, room["id"], kari)  # the same person on a second phone
        moderating = await join(b.ws_url, room["id"], mo)
        assert (await say(on_a, "hi from a", "1"))["type"] == "ack"

        hosting = await join(a.ws_url, room["id"], ada)
        banned = await tool(moderating, "ban", type="mod.ban", user_id=kari.id, reason="spam")
        assert banned["type"] == "ack"
        heard = await hosting.expect("mod.action")  # the host's console, on the other process
        assert heard["entry"]["action"] == "mod.ban"
        assert heard["entry"]["target"] == {"user_id": kari.id, "name": kari.name}
        assert (await say(on_a, "still here?", "2"))["code"] == "banned"
        assert (await say(on_b, "and here?", "3"))["code"] == "banned"

        removed = await http.delete(
            f"/api/v1/rooms/{room['id']}/moderators/{mo.id}", headers=ada.headers
        )
        assert removed.status_code == 200
        assert mo.id not in removed.json()["moderators"]
        after = await tool(moderating, "unban", type="mod.unban", user_id=kari.id)
        assert after["code"] == "forbidden"  # on process b, at once

        hosting_b = await join(b.ws_url, room["id"], ada)
        assert (await tool(hosting_b, "u", type="mod.unban", user_id=kari.id))["type"] == "ack"
        assert (await say(on_a, "back", "4"))["type"] == "ack"


async def test_a_paid_partnership_is_disclosed_to_every_viewer_at_once(
    server: Server, http: httpx.AsyncClient
) -> None:
    ada, kari = await sign_up(http, "Ada"), await sign_up(http, "Kari")
    room = await open_room(http, ada, paid_partnership=True)
    assert room["paid_partnership"] is True
    watching = await join(server.ws_url, room["id"], kari)
    assert watching.seen[0]["room"]["paid_partnership"] is True

    changed = await http.patch(
        f"/api/v1/rooms/{room['id']}", json={"paid_partnership": False}, headers=ada.headers
    )
    assert changed.status_code == 200
    assert changed.json()["paid_partnership"] is False
    told = await watching.expect("room.disclosure")
    assert told["paid_partnership"] is False

    by_viewer = await http.patch(
        f"/api/v1/rooms/{room['id']}", json={"paid_partnership": True}, headers=kari.headers
    )
    assert by_viewer.status_code == 403
    for body in ({"paid_partnership": "yes"}, {}, ["x"]):
        bad = await http.patch(f"/api/v1/rooms/{room['id']}", json=body, headers=ada.headers)
        assert bad.status_code == 400


async def test_the_user_panel_shows_a_persons_lines_holds_orders_and_standing(
    server: Server, http: httpx.AsyncClient
) -> None:
    room, (ada, kari, mo) = await hosted_room(http, "Ada", "Kari", "Mo", moderators=("Mo",))
    product = await add_product(http, ada, stock=3)
    hosting = await join(server.ws_url, room["id"], ada)
    sale = await start_sale(hosting, product["id"], units=3)
    talking = await join(server.ws_url, room["id"], kari)
    await say(talking, "is it wool?", "1")
    await talking.send({"type": "reserve", "sale_id": sale["id"], "key": "k", "ref": "r"})
    hold = (await reply_to(talking, "r"))["reservation"]
    moderating = await join(server.ws_url, room["id"], mo)
    await tool(moderating, "t", type="mod.timeout", user_id=kari.id, seconds=300)

    panel = await http.get(f"/api/v1/rooms/{room['id']}/people/{kari.id}", headers=mo.headers)
    assert panel.status_code == 200
    person = panel.json()
    assert [m["text"] for m in person["messages"]] == ["is it wool?"]
    assert [h["id"] for h in person["holds"]] == [hold["id"]]
    assert person["orders"] == []
    assert person["timed_out_until"] > 0
    assert person["banned"] is False
    nosy = await http.get(f"/api/v1/rooms/{room['id']}/people/{mo.id}", headers=kari.headers)
    assert nosy.status_code == 403


async def test_resolved_reports_are_kept_for_a_while_not_for_ever(
    server: Server, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from livecommerce.moderation import store as moderation_store

    monkeypatch.setattr(moderation_store, "RESOLVED_KEPT", 2)
    room, (ada, kari) = await hosted_room(http, "Ada", "Kari")
    talking = await join(server.ws_url, room["id"], kari)
    hosting = await join(server.ws_url, room["id"], ada)
    posted = await say(talking, "spam spam spam", "m")
    filed = [
        await tool(hosting, f"r{i}", type="report", message_id=posted["id"], reason="spam")
        for i in range(4)
    ]
    for i, answer in enumerate(filed):
        await tool(hosting, f"x{i}", type="mod.resolve", report_id=answer["report_id"])
    assert server.store is not None
    kept = await server.store.client.hkeys(f"lc:{{r:{room['id']}}}:reports")
    names = sorted(k.decode() if isinstance(k, bytes) else k for k in kept)
    assert names == sorted(a["report_id"] for a in filed[2:])
