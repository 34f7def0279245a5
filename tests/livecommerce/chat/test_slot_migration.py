"""A room's hash slot moves to another primary while its chat is busy: nothing is lost or
repeated.

Two server processes share a 3-primary, 3-replica cluster. Two people chat, one on each
process, while an operator reshards the room's slot (the classic steps: keys move in
batches, the slot is handed over, every node agrees). Half way, with some keys moved and some
not, the move waits until both have tried to post: a script whose keys are split between two
nodes is refused (TRYAGAIN) until the slot is whole again, so those lines hear 'unavailable'
and are sent again with their key, as the pages do. The viewers on both processes must see
every line exactly once, in order.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from redis.crc import key_slot

from livecommerce.events import Event
from livecommerce.store import keys
from livecommerce.store.embedded_cluster import EmbeddedCluster
from tests.conftest import timeout
from tests.helpers import RoomSocket, join, open_room, reply_to, sign_up
from tests.processes import ServerProcess, start_process

pytestmark = pytest.mark.multiprocess

LINES = 60
MID_MOVE_ANSWERS = 3  # answers each chatter gets while the slot is half moved


@pytest.fixture
async def two_on_a_cluster(
    private_cluster: EmbeddedCluster, tmp_path: Path
) -> AsyncIterator[list[ServerProcess]]:
    args = ["--redis-url", private_cluster.url, "--redis-cluster", "--secret", "s" * 40]
    fast = ["--chat-rate", "1000", "--chat-burst", "1000"]
    pair = await asyncio.gather(
        start_process(tmp_path / "a", *args, *fast), start_process(tmp_path / "b", *args, *fast)
    )
    yield list(pair)
    codes = await asyncio.gather(*(p.stop() for p in pair))
    assert codes == [0, 0]


async def post(
    socket: RoomSocket, text: str, key: str, heard: Callable[[int], None]
) -> tuple[Event, int]:
    """Post a line, sending it again with its key while the store asks to retry."""
    who = int(key[1])
    retries = 0
    while True:
        ref = f"{key}.{retries}"
        await socket.send({"type": "chat.send", "text": text, "key": key, "ref": ref})
        answer = await reply_to(socket, ref)
        heard(who)
        if answer.get("code") != "unavailable":
            return answer, retries
        retries += 1
        await asyncio.sleep(float(answer.get("retry_after", 0.5)))  # the client's own pause


async def test_a_slot_moved_mid_chat_loses_no_line_and_repeats_none(
    private_cluster: EmbeddedCluster, two_on_a_cluster: list[ServerProcess]
) -> None:
    a, b = two_on_a_cluster
    async with httpx.AsyncClient(base_url=a.http_url, timeout=timeout(10)) as http:
        host = await sign_up(http, "Ada")
        room = await open_room(http, host)
        kari, ola = await sign_up(http, "Kari"), await sign_up(http, "Ola")
    watching = [await join(p.ws_url, room["id"], max_queue=None) for p in (a, b)]
    first_seq = max(w.seen[0]["seq"] for w in watching)
    chatters = [
        await join(a.ws_url, room["id"], kari, max_queue=None),
        await join(b.ws_url, room["id"], ola, max_queue=None),
    ]

    slot = key_slot(keys.room(room["id"]).encode())
    source = private_cluster.primary_for_slot(slot)
    target = next(p for p in private_cluster.primaries() if p is not source)
    loop = asyncio.get_running_loop()
    started = [asyncio.Event(), asyncio.Event()]
    halfway = asyncio.Event()
    resume = threading.Event()
    answered_mid_move = [0, 0]
    both_tried_mid_move = asyncio.Event()

    def pause() -> None:
        loop.call_soon_threadsafe(halfway.set)
        resume.wait(timeout(30))

    async def chat(who: int) -> int:
        retried = 0
        for n in range(LINES):
            if n == LINES // 3:
                started[who].set()
                await halfway.wait()  # the rest go while the slot is half moved, and after
            answer, retries = await post(chatters[who], f"{who}:{n}", f"k{who}-{n}", mid_move)
            assert answer["type"] == "ack", answer
            retried += retries
        return retried

    def mid_move(who: int) -> None:
        if halfway.is_set() and not resume.is_set():
            answered_mid_move[who] += 1
            if min(answered_mid_move) >= MID_MOVE_ANSWERS:
                both_tried_mid_move.set()

    async def move() -> None:
        await asyncio.gather(*(e.wait() for e in started))
        moving = asyncio.to_thread(
            private_cluster.migrate_slot, slot, target, pause=pause, batch_size=2
        )
        task = asyncio.ensure_future(moving)
        try:
            async with asyncio.timeout(timeout(30)):
                await both_tried_mid_move.wait()
        finally:
            resume.set()
        await task

    async with asyncio.timeout(timeout(90)):
        retried, _ = await asyncio.gather(asyncio.gather(chat(0), chat(1)), move())
    assert private_cluster.primary_for_slot(slot) is target

    total = 2 * LINES
    for viewer in watching:
        lines: list[Event] = []
        while len(lines) < total:
            lines.append(await viewer.expect("chat.message", wait=30))
        seqs = [line["seq"] for line in lines]
        assert seqs == sorted(seqs), "a line out of order"
        assert len(set(seqs)) == total, "a line twice"
        assert sorted(line["text"] for line in lines) == sorted(
            f"{who}:{n}" for who in (0, 1) for n in range(LINES)
        )
        for who in (0, 1):  # each person's lines in the order they were sent
            mine = [line["text"] for line in lines if line["text"].startswith(f"{who}:")]
            assert mine == [f"{who}:{n}" for n in range(LINES)]
        assert seqs[0] > first_seq
    print(f"\n{total} lines across a slot move; {sum(retried)} sent again after 'unavailable'")
    for socket in (*watching, *chatters):
        await socket.close()
