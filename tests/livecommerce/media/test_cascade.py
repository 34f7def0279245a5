"""One room's stream on several server processes: viewers on any process are served from
one pull of the stream (or, with --no-cascade, sent to the process that has it), and only
the process that holds the stream speaks for it."""

from __future__ import annotations

import asyncio
import time

import httpx

from livecommerce.server import Server
from livecommerce.store import keys
from tests.conftest import timeout
from tests.helpers import join, open_room, sign_up
from tests.livecommerce.conftest import ServerFactory
from tests.livecommerce.media.peers import go_live, offer_to_watch, watch


async def test_a_viewer_who_reaches_another_process_is_sent_to_the_one_streaming(
    start_server: ServerFactory,
) -> None:
    streaming = await start_server()
    other = await start_server(redis_url=streaming.redis_url, cascade=False)
    async with (
        httpx.AsyncClient(base_url=streaming.http_url, timeout=10) as here,
        httpx.AsyncClient(base_url=other.http_url, timeout=10, follow_redirects=True) as there,
    ):
        ada = await sign_up(here, "Ada")
        room = await open_room(here, ada)
        people = await join(streaming.ws_url, room["id"])
        publisher, _, _ = await go_live(here, room["id"], ada.headers)
        try:
            assert (await people.expect("stream.state", wait=15))["state"] == "live"
            viewer, answer = await offer_to_watch(there, room["id"])
            assert answer.status_code == 201, answer.text
            assert [r.status_code for r in answer.history] == [307]
            assert answer.history[0].headers["location"].startswith(streaming.http_url)
            await viewer.close()
        finally:
            await publisher.close()
            await people.close()


async def test_a_viewer_is_not_sent_to_a_process_that_stopped_saying_it_streams(
    server: Server, http: httpx.AsyncClient
) -> None:
    ada = await sign_up(http, "Ada")
    room = await open_room(http, ada)
    assert server.store is not None
    # What a process that was killed while streaming leaves behind: its last word, long ago.
    long_ago = int(time.time() * 1000) - 60_000
    await server.store.client.hset(
        keys.room(room["id"]),
        mapping={"stream": "live", "stream_origin": "http://127.0.0.1:9", "stream_seen": long_ago},
    )
    _, answer = await offer_to_watch(http, room["id"])
    assert answer.status_code == 409
    assert answer.json()["code"] == "room_not_live"


async def test_a_process_that_stops_streaming_leaves_another_process_s_claim_alone(
    start_server: ServerFactory,
) -> None:
    first = await start_server(cascade=False)
    second = await start_server(redis_url=first.redis_url)
    async with (
        httpx.AsyncClient(base_url=first.http_url, timeout=10) as on_first,
        httpx.AsyncClient(base_url=second.http_url, timeout=10) as on_second,
    ):
        ada = await sign_up(on_first, "Ada")
        room = await open_room(on_first, ada)
        old, _, old_session = await go_live(on_first, room["id"], ada.headers)
        new, _, _ = await go_live(on_second, room["id"], ada.headers)  # the studio moved
        try:
            stopped = await on_first.delete(old_session, headers=ada.headers)
            assert stopped.status_code == 200
            assert first.hubs.live(room["id"]) is None
            _, sent = await offer_to_watch(on_first, room["id"])
            assert sent.status_code == 307  # to the second, whose claim the first left alone
            assert sent.headers["location"].startswith(second.http_url)
        finally:
            await old.close()
            await new.close()


async def test_viewers_on_another_process_are_fed_from_one_pull_of_the_stream(
    start_server: ServerFactory,
) -> None:
    origin = await start_server()
    edge = await start_server(redis_url=origin.redis_url)
    async with (
        httpx.AsyncClient(base_url=origin.http_url, timeout=10) as on_origin,
        httpx.AsyncClient(base_url=edge.http_url, timeout=10) as on_edge,
    ):
        ada = await sign_up(on_origin, "Ada")
        room = await open_room(on_origin, ada)
        people = await join(edge.ws_url, room["id"])
        publisher, camera, _ = await go_live(on_origin, room["id"], ada.headers)
        viewers = []
        try:
            viewers = list(await asyncio.gather(*(watch(on_edge, room["id"]) for _ in range(3))))
            async with asyncio.timeout(timeout(15)):
                seen = await asyncio.gather(*(v.frames(20) for v in viewers))
            for counters in seen:
                assert counters == sorted(set(counters))
            # The origin sends the edge one copy, whatever the number of viewers there.
            assert len(origin.playbacks.by_id) == 1
            assert len(edge.playbacks.by_id) == 3
            pulled = edge.hubs.live(room["id"])
            assert pulled is not None
            assert pulled.edge
            assert edge.publications.by_room == {}
            latency = [
                v.arrived[i] - camera.sent_at[c]
                for v in viewers
                for i, c in enumerate(v.counters)
                if c in camera.sent_at
            ]
            assert sorted(latency)[len(latency) // 2] < 0.3
            # Only the origin speaks for the room's stream.
            assert (await people.expect("stream.state", wait=15))["state"] == "live"
            # The show ends on the origin: the edge's viewers end with it.
            await on_origin.post(f"/api/v1/rooms/{room['id']}/end", headers=ada.headers)
            async with asyncio.timeout(timeout(15)):
                await asyncio.gather(*(v.gone.wait() for v in viewers))
                await pulled.stopped.wait()
        finally:
            for viewer in viewers:
                await viewer.close()
            await publisher.close()
            await people.close()


async def test_an_edge_closes_its_pull_a_while_after_its_last_viewer_leaves(
    start_server: ServerFactory,
) -> None:
    origin = await start_server()
    edge = await start_server(redis_url=origin.redis_url)
    assert edge.edges is not None
    edge.edges.linger_s = 0.2
    async with (
        httpx.AsyncClient(base_url=origin.http_url, timeout=10) as on_origin,
        httpx.AsyncClient(base_url=edge.http_url, timeout=10) as on_edge,
    ):
        ada = await sign_up(on_origin, "Ada")
        room = await open_room(on_origin, ada)
        publisher, _, _ = await go_live(on_origin, room["id"], ada.headers)
        try:
            viewer = await watch(on_edge, room["id"])
            async with asyncio.timeout(timeout(15)):
                await viewer.frames(5)
            pulled = edge.hubs.live(room["id"])
            assert pulled is not None
            assert (await on_edge.delete(viewer.location)).status_code == 200
            await viewer.close()
            async with asyncio.timeout(timeout(10)):
                await pulled.stopped.wait()
                [pull] = origin.playbacks.by_id.values()
                await pull.ended.wait()  # the edge DELETEd its session on the origin
        finally:
            await publisher.close()


async def test_an_edge_whose_origin_cannot_give_the_stream_says_why(
    start_server: ServerFactory,
) -> None:
    origin = await start_server()
    edge = await start_server(redis_url=origin.redis_url)
    assert edge.store is not None
    async with httpx.AsyncClient(base_url=edge.http_url, timeout=10) as http:
        ada = await sign_up(http, "Ada")
        room = await open_room(http, ada)
        now = int(time.time() * 1000)
        claims = [
            # a process that holds no stream for the room (it ended a moment ago)
            (origin.http_url, origin.http_url, 409, "room_not_live"),
            # a process that cannot be reached at all
            ("http://127.0.0.1:9", "http://127.0.0.1:9", 503, "unavailable"),
        ]
        for public, internal, status, code in claims:
            await edge.store.client.hset(
                keys.room(room["id"]),
                mapping={"stream_origin": public, "stream_internal": internal, "stream_seen": now},
            )
            _, answer = await offer_to_watch(http, room["id"])
            assert (answer.status_code, answer.json()["code"]) == (status, code)
            assert edge.hubs.live(room["id"]) is None  # no edge left behind
