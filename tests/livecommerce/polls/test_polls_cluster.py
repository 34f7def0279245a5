"""Polls on two server processes: the same accounts vote from both at once, and one dies.

Voters are signed in with server tokens minted here (the servers' secret is the test's). Each
account has a socket on each process and votes from both in the same instant, for different
options: exactly one of the two is counted, and the other is told which option was. Both
processes' tickers try to end every poll; one ends it, and a poll whose starting process is
killed with SIGKILL still ends, on the other.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import msgpack
import pytest
import redis.asyncio as aioredis

from livecommerce.events import Event
from livecommerce.polls.rules import percentages
from livecommerce.store import keys
from tests.helpers import RoomSocket, join, minted, open_room, reply_to, sign_up
from tests.processes import ServerProcess, start_process

pytestmark = pytest.mark.multiprocess

SECRET = "polls-secret-of-the-cluster-32byt"
VOTERS = 40
QUIZ = {"question": "Which needle size for chunky yarn?", "options": ["3 mm", "6 mm", "12 mm"]}


@pytest.fixture
async def two_servers(redis_url: str, tmp_path: Path) -> AsyncIterator[list[ServerProcess]]:
    args = ["--redis-url", redis_url, "--secret", SECRET]
    pair = await asyncio.gather(
        start_process(tmp_path / "a", *args), start_process(tmp_path / "b", *args)
    )
    yield list(pair)
    await asyncio.gather(*(s.stop() for s in pair))


async def vote(socket: RoomSocket, poll_id: str, option: int, ref: str) -> Event:
    await socket.send({"type": "poll.vote", "poll_id": poll_id, "option": option, "ref": ref})
    return await reply_to(socket, ref)


async def ended_in_stream(client: aioredis.Redis, room_id: str) -> list[Event]:
    entries: Any = await client.xrange(keys.room_events(room_id))
    found = [msgpack.unpackb(fields[b"d"]) for _, fields in entries]
    return [e for e in found if e["type"] == "poll.ended"]


async def test_accounts_voting_from_both_processes_at_once_count_once_and_polls_end_once(
    two_servers: list[ServerProcess], redis_url: str
) -> None:
    a, b = two_servers
    store = aioredis.Redis.from_url(redis_url)
    async with httpx.AsyncClient(base_url=a.http_url, timeout=30) as http:
        host = await sign_up(http, "Ada")
        room = await open_room(http, host)
        other = await open_room(http, host, title="Second room")
        studio = await join(a.ws_url, room["id"], host)
        watchers = [await join(s.ws_url, room["id"], max_queue=None) for s in (a, b)]
        voters = [minted(f"voter{i:02d}", SECRET) for i in range(VOTERS)]
        sockets = await asyncio.gather(
            *(join(s.ws_url, room["id"], v, max_queue=None) for v in voters for s in (a, b))
        )

        await studio.send({"type": "poll.start", **QUIZ, "duration_s": 10, "answer": 1, "ref": "q"})
        quiz = (await reply_to(studio, "q"))["poll"]

        # Every account votes from its socket on A and its socket on B in the same instant.
        answers = await asyncio.gather(
            *(
                vote(socket, quiz["id"], (i + j) % 3, f"v{i}-{j}")
                for i in range(VOTERS)
                for j, socket in enumerate(sockets[2 * i : 2 * i + 2])
            )
        )
        counted: list[int] = []
        for i in range(VOTERS):
            pair = answers[2 * i : 2 * i + 2]
            acks = [x for x in pair if x["type"] == "ack"]
            refusals = [x for x in pair if x["type"] == "error"]
            assert len(acks) == 1, pair
            assert [r["code"] for r in refusals] == ["already_voted"], pair
            assert refusals[0]["option"] == acks[0]["option"]  # told which vote counted
            counted.append(acks[0]["option"])
        from_a = sum(1 for i in range(VOTERS) if answers[2 * i]["type"] == "ack")
        print(f"\n{from_a} of {VOTERS} counted votes came through A, the rest through B")

        # While the quiz runs, a second room's poll starts on A; A will die before its end.
        await studio.send({"type": "poll.start", **QUIZ, "duration_s": 10, "ref": "busy"})
        assert (await reply_to(studio, "busy"))["code"] == "poll_running"
        other_studio = await join(a.ws_url, other["id"], host)
        other_watcher = await join(b.ws_url, other["id"], max_queue=None)
        await other_studio.send({"type": "poll.start", **QUIZ, "duration_s": 10, "ref": "p"})
        doomed = (await reply_to(other_studio, "p"))["poll"]
        late_voter = await join(b.ws_url, other["id"], voters[0])
        assert (await vote(late_voter, doomed["id"], 2, "late"))["type"] == "ack"

        # Both processes are up when the quiz's time is up: one ending, seen on both.
        ends = [await w.expect("poll.ended", wait=30) for w in watchers]
        assert ends[0] == ends[1]
        votes = [counted.count(k) for k in range(3)]
        assert (ends[0]["votes"], ends[0]["total"]) == (votes, VOTERS)
        assert ends[0]["percentages"] == percentages(votes)
        board = ends[0]["leaderboard"]
        right = {voters[i].id for i in range(VOTERS) if counted[i] == 1}
        assert len(board) == min(10, len(right))
        assert {e["user"]["id"] for e in board} <= right
        order = [(e["ms"], e["user"]["id"]) for e in board]
        assert order == sorted(order)  # by the server's time from the start, then by id
        assert all(0 <= e["ms"] <= 10_000 for e in board)
        assert len(await ended_in_stream(store, room["id"])) == 1

        # A dies (SIGKILL) with the second poll running; B's ticker ends it, once.
        a.kill()
        await a.process.wait()
        ended = await other_watcher.expect("poll.ended", wait=30)
        assert (ended["poll_id"], ended["votes"], ended["reason"]) == (
            doomed["id"], [0, 0, 1], "time_up"
        )  # fmt: skip
        assert len(await ended_in_stream(store, other["id"])) == 1
        assert await store.zcard(keys.active_polls()) == 0
        listed = await http.get(f"{b.http_url}/api/v1/rooms/{room['id']}/polls")
        assert listed.json()["polls"][0]["votes"] == votes
    await store.aclose()
