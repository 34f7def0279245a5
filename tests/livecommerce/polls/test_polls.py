"""A host asks the room; each account answers once; the result, and a quiz's fastest, show."""

from __future__ import annotations

from typing import Any

import httpx

from tests.helpers import FakeClock, RoomSocket, User, join, open_room, reply_to, sign_up, tool
from tests.livecommerce.conftest import ServerFactory

QUIZ = {"question": "Which yarn is warmest?", "options": ["Cotton", "Wool", "Linen"]}


async def send(socket: RoomSocket, ref: str, **command: Any) -> dict[str, Any]:
    await socket.send({**command, "ref": ref})
    return await reply_to(socket, ref)


async def refused(socket: RoomSocket, ref: str, **command: Any) -> str:
    answer = await send(socket, ref, **command)
    assert answer["type"] == "error", answer
    return str(answer["code"])


async def vote(socket: RoomSocket, poll_id: str, option: Any, ref: str) -> dict[str, Any]:
    return await send(socket, ref, type="poll.vote", poll_id=poll_id, option=option)


async def test_a_quiz_counts_each_account_once_and_ends_with_the_answer_and_the_fastest(
    start_server: ServerFactory,
) -> None:
    clock = FakeClock()
    server = await start_server(clock=clock)
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
        host, kari, ola, troll = [await sign_up(http, n) for n in ("Ada", "Kari", "Ola", "Troll")]
        room = await open_room(http, host)
        studio = await join(server.ws_url, room["id"], host)
        kari_ws = await join(server.ws_url, room["id"], kari)
        ola_ws = await join(server.ws_url, room["id"], ola)
        troll_ws = await join(server.ws_url, room["id"], troll)
        guest = await join(server.ws_url, room["id"])
        assert kari_ws.seen[0]["polls"] == {"live": None, "last": None}

        # Bad drafts each have their own code; a viewer may not start a poll.
        start = {"type": "poll.start", **QUIZ, "duration_s": 30}
        assert await refused(studio, "b1", **{**start, "options": ["One"]}) == "poll_options_count"
        assert await refused(studio, "b2", **{**start, "question": ""}) == "poll_text_invalid"
        assert (
            await refused(studio, "b3", **{**start, "duration_s": 5})
            == "poll_duration_out_of_range"
        )
        assert await refused(studio, "b4", **{**start, "answer": 3}) == "poll_answer_out_of_range"
        assert await refused(kari_ws, "b5", **start) == "forbidden"

        # The host starts a quiz: everyone sees the question, nobody sees the answer.
        started = await send(studio, "q1", **start, answer=1)
        assert started["type"] == "ack", started
        poll = started["poll"]
        assert (poll["kind"], poll["state"], poll.pop("answer")) == ("quiz", "active", 1)
        seen = await kari_ws.expect("poll.started")
        assert seen["poll"] == poll  # the room's copy: everything but the answer
        assert seen["poll"]["ends_at"] == clock.now_ms() + 30_000
        assert await refused(studio, "q2", **start) == "poll_running"

        # Kari answers right after 2 s, Ola wrong after 3 s; each account votes once.
        clock.advance(2)
        assert await vote(kari_ws, poll["id"], 1, "k1") == {
            "type": "ack", "ref": "k1", "poll_id": poll["id"], "option": 1
        }  # fmt: skip
        kari_again = await join(server.ws_url, room["id"], kari)
        assert kari_again.seen[0]["you"]["poll_vote"] == {"poll_id": poll["id"], "option": 1}
        assert kari_again.seen[0]["polls"]["live"]["id"] == poll["id"]
        again = await vote(kari_again, poll["id"], 0, "k2")
        assert (again["code"], again["option"]) == ("already_voted", 1)
        clock.advance(1)
        assert (await vote(ola_ws, poll["id"], 2, "o1"))["option"] == 2

        # Those who may not vote, and votes that name nothing.
        assert (await vote(guest, poll["id"], 1, "g1"))["code"] == "unauthorized"
        assert (await vote(studio, poll["id"], 1, "h1"))["code"] == "forbidden"
        assert (await vote(troll_ws, poll["id"], 3, "t1"))["code"] == "option_out_of_range"
        assert (await vote(troll_ws, poll["id"], 9, "t2"))["code"] == "option_out_of_range"
        assert (await vote(troll_ws, poll["id"], "1", "t3"))["code"] == "option_out_of_range"
        assert (await vote(troll_ws, "pl_nope", 1, "t4"))["code"] == "not_found"
        banned = await tool(studio, "ban", type="mod.ban", user_id=troll.id)
        assert banned["type"] == "ack", banned
        assert (await vote(troll_ws, poll["id"], 1, "t5"))["code"] == "banned"

        tally = await kari_ws.expect("poll.tally", lambda e: e["total"] == 2)
        assert tally == {
            "type": "poll.tally", "poll_id": poll["id"], "votes": [0, 1, 1], "total": 2,
            "percentages": [0, 50, 50],
        }  # fmt: skip

        # Time is up: the result, the answer and the board of right answers by speed.
        clock.advance(28)
        ended = await ola_ws.expect("poll.ended")
        assert ended == {
            "type": "poll.ended", "seq": ended["seq"], "poll_id": poll["id"], "votes": [0, 1, 1],
            "total": 2, "percentages": [0, 50, 50], "reason": "time_up", "answer": 1,
            "leaderboard": [{"user": {"id": kari.id, "name": "Kari"}, "ms": 2000}],
        }  # fmt: skip
        assert (await vote(ola_ws, poll["id"], 1, "o2"))["code"] == "poll_not_active"
        late = await send(studio, "e0", type="poll.end", poll_id=poll["id"])
        assert late["code"] == "poll_not_active"
        joined = await join(server.ws_url, room["id"], ola)
        assert joined.seen[0]["polls"]["live"] is None
        assert joined.seen[0]["polls"]["last"]["leaderboard"] == ended["leaderboard"]

        # A plain poll, ended early by the host.
        started = await send(studio, "p1", **{**start, "question": "Next colour?"})
        second = started["poll"]
        assert second["kind"] == "poll"
        clock.advance(1)
        await vote(ola_ws, second["id"], 0, "o3")
        await vote(kari_ws, second["id"], 0, "k3")
        await vote(kari_again, second["id"], 2, "k4")  # already voted: not counted
        done = await send(studio, "e1", type="poll.end", poll_id=second["id"])
        assert (done["poll"]["state"], done["poll"]["votes"]) == ("ended", [2, 0, 0])
        early = await kari_ws.expect("poll.ended", lambda e: e["poll_id"] == second["id"])
        assert (early["reason"], early["percentages"], "answer" in early) == (
            "ended_early", [100, 0, 0], False
        )  # fmt: skip

        await show_results_and_forget_the_deleted(http, room, host, kari, poll, second)


async def show_results_and_forget_the_deleted(
    http: httpx.AsyncClient,
    room: dict[str, Any],
    host: User,
    kari: User,
    quiz: dict[str, Any],
    poll: dict[str, Any],
) -> None:
    listed = await http.get(f"/api/v1/rooms/{room['id']}/polls")
    assert listed.status_code == 200, listed.text
    polls = listed.json()["polls"]
    assert [p["id"] for p in polls] == [quiz["id"], poll["id"]]
    assert (polls[0]["answer"], polls[0]["total"], polls[0]["end_reason"]) == (1, 2, "time_up")
    assert polls[0]["leaderboard"][0]["user"]["name"] == "Kari"
    assert "answer" not in polls[1]
    results = await http.get(f"/api/v1/rooms/{room['id']}/results", headers=host.headers)
    assert results.status_code == 200, results.text
    moments = [(m["kind"], m["title"]) for m in results.json()["markers"] if m["kind"] == "poll"]
    assert moments == [("poll", QUIZ["question"]), ("poll", "Next colour?")]
    table = results.json()["polls"]
    assert [(p["id"], p["votes"], "leaderboard" in p) for p in table] == [
        (quiz["id"], [0, 1, 1], False), (poll["id"], [2, 0, 0], False)
    ]  # fmt: skip

    gone = await http.request(
        "DELETE", "/api/v1/me", json={"password": "correct horse battery"}, headers=kari.headers
    )
    assert gone.status_code == 204, gone.text
    polls = (await http.get(f"/api/v1/rooms/{room['id']}/polls")).json()["polls"]
    assert polls[0]["leaderboard"] == [{"user": {"id": "deleted", "name": ""}, "ms": 2000}]
    assert (await http.get("/api/v1/rooms/r_none/polls")).status_code == 404
    schema = (await http.get("/api/v1/openapi.json")).json()
    assert "get" in schema["paths"]["/api/v1/rooms/{room_id}/polls"]


async def test_a_poll_needs_a_live_show_and_ends_with_it(start_server: ServerFactory) -> None:
    server = await start_server()
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
        host = await sign_up(http, "Ada")
        room = await open_room(http, host, live=False)
        studio = await join(server.ws_url, room["id"], host)
        start = {"type": "poll.start", **QUIZ, "duration_s": 600, "answer": 0}
        assert await refused(studio, "s1", **start) == "room_not_live"
        await http.post(f"/api/v1/rooms/{room['id']}/start", headers=host.headers)
        assert (await send(studio, "s2", **start))["type"] == "ack"
        ended = await http.post(f"/api/v1/rooms/{room['id']}/end", headers=host.headers)
        assert ended.status_code == 200, ended.text
        result = await studio.expect("poll.ended")
        assert (result["reason"], result["total"], result["leaderboard"]) == ("ended_early", 0, [])


async def test_a_voter_finds_their_votes_in_their_data_export(start_server: ServerFactory) -> None:
    server = await start_server()
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
        host, kari = [await sign_up(http, n) for n in ("Ada", "Kari")]
        room = await open_room(http, host)
        studio = await join(server.ws_url, room["id"], host)
        kari_ws = await join(server.ws_url, room["id"], kari)
        started = await send(studio, "q1", type="poll.start", **QUIZ, duration_s=60, answer=1)
        poll = started["poll"]
        assert (await vote(kari_ws, poll["id"], 1, "k1"))["type"] == "ack"

        async def exported(who: User) -> list[dict[str, Any]]:
            answer = await http.get("/api/v1/me/export", headers=who.headers)
            assert answer.status_code == 200, answer.text
            return list(answer.json()["poll_votes"])

        # While the quiz runs her export does not give its answer away.
        assert await exported(kari) == [
            {"poll_id": poll["id"], "room_id": room["id"], "question": QUIZ["question"],
             "option": 1, "choice": "Wool", "kind": "quiz", "state": "active", "correct": None}
        ]  # fmt: skip
        ended = await send(studio, "e1", type="poll.end", poll_id=poll["id"])
        assert ended["type"] == "ack", ended
        [vote_then] = await exported(kari)
        assert (vote_then["state"], vote_then["correct"]) == ("ended", True)
        assert await exported(host) == []  # the host asked; she did not vote
