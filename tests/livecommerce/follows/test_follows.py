"""Following creators and being reminded of shows, over HTTP against a real server."""

from __future__ import annotations

import time
from typing import Any

import httpx
import orjson
from icalendar import Calendar
from redis.asyncio import Redis

from livecommerce.store import keys
from livecommerce.webhooks.rules import verify_signature
from tests.conftest import timeout
from tests.helpers import FakeClock, User, open_room, sign_up
from tests.livecommerce.conftest import ServerFactory
from tests.receivers import StartReceiver


def _code(answer: httpx.Response) -> tuple[int, str]:
    return answer.status_code, answer.json().get("code", "")


async def _follow(http: httpx.AsyncClient, who: User, creator: str, **params: str) -> Any:
    answer = await http.put(
        f"/api/v1/creators/{creator}/follow", headers=who.headers, params=params
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_a_viewer_follows_a_creator_and_asks_to_be_reminded_of_a_show(
    http: httpx.AsyncClient, redis_url: str
) -> None:
    kari, ola, per = [await sign_up(http, n) for n in ("Kari", "Ola", "Per")]
    at = int(time.time() * 1000) + 3_600_000
    room = await open_room(http, kari, live=False, scheduled_at=at, title="Knit; night, live")

    # A guest sees the creator's page: nobody follows yet, the show is upcoming.
    page = (await http.get(f"/api/v1/creators/{kari.id}")).json()
    assert (page["name"], page["followers"], page["you"]) == ("Kari", 0, None)
    assert [s["id"] for s in page["shows"]["upcoming"]] == [room["id"]]

    # Following twice is following once; the count is exact.
    assert await _follow(http, ola, kari.id) == {"following": True, "followers": 1}
    assert await _follow(http, ola, kari.id) == {"following": True, "followers": 1}
    assert await _follow(http, per, kari.id) == {"following": True, "followers": 2}
    page = (await http.get(f"/api/v1/creators/{kari.id}", headers=ola.headers)).json()
    assert (page["followers"], page["you"]) == (2, {"following": True})
    mine = (await http.get("/api/v1/me/following", headers=ola.headers)).json()
    assert mine == {"creators": [{"id": kari.id, "name": "Kari"}], "next_cursor": None}

    # Refusals: oneself, nobody signed in, nobody to follow, hostile ids.
    assert _code(await http.put(f"/api/v1/creators/{kari.id}/follow", headers=kari.headers)) == (
        400,
        "cannot_follow_self",
    )
    assert (await http.put(f"/api/v1/creators/{kari.id}/follow")).status_code == 401
    for nobody in ("u_nobody", "x%7Dy", "a" * 200):
        assert (await http.get(f"/api/v1/creators/{nobody}")).status_code == 404
        answer = await http.put(f"/api/v1/creators/{nobody}/follow", headers=ola.headers)
        assert answer.status_code == 404
    assert (await http.get("/api/v1/rooms/r_nothing/calendar.ics")).status_code == 404

    # Remind me, twice, is once; a guest sees the count, Ola sees that she asked.
    remind = f"/api/v1/rooms/{room['id']}/reminder"
    assert (await http.put(remind)).status_code == 401
    for _ in range(2):
        answer = await http.put(remind, headers=ola.headers)
        assert answer.json() == {"reminded": True, "reminders": 1}
    other = await sign_up(http, "Liv")
    assert (await http.put(remind, headers=other.headers)).json()["reminders"] == 2
    seen = (await http.get(remind, headers=ola.headers)).json()
    assert seen == {"reminded": True, "reminders": 2, "followers": 2, "following": True}
    assert (await http.get(remind)).json()["reminded"] is None

    # The calendar file: one event, the room's UID, the title escaped, the show's link.
    ics = await http.get(f"/api/v1/rooms/{room['id']}/calendar.ics")
    assert ics.headers["content-type"].startswith("text/calendar")
    assert ics.headers["content-disposition"] == 'attachment; filename="Knit-night-live.ics"'
    assert b"SUMMARY:Knit\\; night\\, live" in ics.content
    (event,) = Calendar.from_ical(ics.content).walk("VEVENT")
    assert str(event["uid"]) == f"{room['id']}@livecommerce"
    assert str(event["url"]).endswith(f"/rooms/{room['id']}")

    # The audience: the followers, then who asked to be reminded and does not follow; each
    # once, page by page, with names. Only the host reads it.
    audience = f"/api/v1/rooms/{room['id']}/audience"
    assert (await http.get(audience, headers=ola.headers)).status_code == 403
    assert (
        await http.get(audience, params={"cursor": "zz"}, headers=kari.headers)
    ).status_code == 400
    people: list[dict[str, Any]] = []
    cursor: str | None = ""
    while cursor is not None:
        page = (
            await http.get(audience, params={"cursor": cursor, "limit": 1}, headers=kari.headers)
        ).json()
        people += page["people"]
        cursor = page["next_cursor"]
    assert sorted(p["id"] for p in people) == sorted([ola.id, per.id, other.id])
    assert {p["name"] for p in people} == {"Ola", "Per", "Liv"}
    assert (page["followers"], page["reminders"]) == (2, 2)

    # Unfollowing twice is unfollowing once.
    for _ in range(2):
        answer = await http.delete(f"/api/v1/creators/{kari.id}/follow", headers=per.headers)
        assert answer.json() == {"following": False, "followers": 1}

    # Ola's export says whom she follows and what she asked to be reminded of; deleting her
    # account takes her out of Kari's followers and the show's reminders.
    export = (await http.get("/api/v1/me/export", headers=ola.headers)).json()
    assert (export["following"], export["reminders"]) == ([kari.id], [room["id"]])
    gone = await http.request(
        "DELETE", "/api/v1/me", headers=ola.headers, json={"password": "correct horse battery"}
    )
    assert gone.status_code == 204
    assert (await http.get(f"/api/v1/creators/{kari.id}")).json()["followers"] == 0
    assert (await http.get(remind)).json()["reminders"] == 1
    client = Redis.from_url(redis_url)
    try:
        assert not await client.exists(keys.following(ola.id), keys.user_reminders(ola.id))
    finally:
        await client.aclose()

    # An ended show takes no reminders; a deleted creator has no page.
    await http.post(f"/api/v1/rooms/{room['id']}/end", headers=kari.headers)
    assert _code(await http.put(remind, headers=per.headers)) == (409, "show_ended")

    # Toggling without end is slowed down, so nobody can flood a creator's webhooks.
    for _ in range(12):
        answer = await http.put(f"/api/v1/creators/{kari.id}/follow", headers=other.headers)
        if answer.status_code == 429:
            break
    assert _code(answer) == (429, "rate_limited")


async def test_show_reminder_and_show_live_reach_the_merchant_once_each_even_after_a_restart(
    start_server: ServerFactory, start_receiver: StartReceiver, redis_url: str
) -> None:
    clock = FakeClock()
    first = await start_server(clock=clock)
    receiver = await start_receiver()
    async with httpx.AsyncClient(base_url=first.http_url, timeout=timeout(10)) as http:
        kari, ola, per = [await sign_up(http, n) for n in ("Kari", "Ola", "Per")]
        hook = await http.post(
            "/api/v1/webhooks",
            json={"url": receiver.url, "events": ["show.reminder", "show.live"]},
            headers=kari.headers,
        )
        secret = hook.json()["secret"]
        start = clock.now_ms() + 2 * 3_600_000
        room = await open_room(http, kari, live=False, scheduled_at=start)
        called_off = await open_room(http, kari, live=False, scheduled_at=start, title="Off")
        await http.post(f"/api/v1/rooms/{called_off['id']}/end", headers=kari.headers)
        await _follow(http, ola, kari.id)
        await http.put(f"/api/v1/rooms/{room['id']}/reminder", headers=ola.headers)
    await first.stop()

    # The server that queued the reminders is gone; another, later, sends the one of the show
    # still scheduled, and drops the one of the show called off (claimed in the same round).
    clock.advance(2 * 3600 - 15 * 60)
    second = await start_server(clock=clock)
    (reminder,) = await receiver.wait_for(1)
    verify_signature(secret, reminder.headers["livecommerce-signature"], reminder.body, clock())
    body = orjson.loads(reminder.body)
    assert body["type"] == "show.reminder"
    assert body["data"]["room"]["url"] == f"{second.http_url}/rooms/{room['id']}"
    assert (body["data"]["followers"], body["data"]["reminders"]) == (1, 1)
    assert body["data"]["creator"]["id"] == kari.id

    async with httpx.AsyncClient(base_url=second.http_url, timeout=timeout(10)) as http:
        await http.post(f"/api/v1/rooms/{room['id']}/start", headers=kari.headers)
        requests = await receiver.wait_for(2)
        live = orjson.loads(requests[1].body)
        assert (live["type"], live["data"]["room"]["state"]) == ("show.live", "live")

        # A new follower pressed in the live show counts in its results.
        await _follow(http, per, kari.id, room=room["id"])
        await _follow(http, ola, kari.id, room=room["id"])  # already followed: not new
        assert second.analytics is not None
        await second.analytics.flush()
        results = (
            await http.get(f"/api/v1/rooms/{room['id']}/results", headers=kari.headers)
        ).json()
        assert results["summary"]["new_followers"] == 1
        assert sum(m["new_followers"] for m in results["timeline"]) == 1
        csv = await http.get(
            f"/api/v1/rooms/{room['id']}/results.csv",
            params={"table": "timeline"},
            headers=kari.headers,
        )
        assert "new_followers" in csv.text.splitlines()[0]
    assert second.follows is not None
    pending = await second.follows.store.pending()
    assert not [m for m in pending if m.startswith((room["id"], called_off["id"]))]
    assert len(receiver.requests) == 2
