"""Slow clients cannot hold connections (slowloris): an attacker opens hundreds of sockets and
sends each request head a byte at a time, or nothing at all. Each is cut off within the
deadline while everyone else is served. A real server and real sockets on loopback."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx

from livecommerce.api.deadlines import TIMED_OUT
from livecommerce.server import Server
from tests.conftest import timeout
from tests.livecommerce.conftest import ServerFactory

HEAD_S = 1.0
KEEP_ALIVE_S = 1.0
ATTACKERS = 200


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    return parts.hostname, parts.port


async def trickle(writer: asyncio.StreamWriter, head: bytes) -> None:
    """Send ``head``, then one more byte of a header every 100 ms, never finishing it."""
    writer.write(head)
    with contextlib.suppress(ConnectionError):
        while not writer.is_closing():
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.1)  # the attacker's pace, not a wait for the server


@contextlib.asynccontextmanager
async def attackers(
    host: str, port: int, count: int, head: bytes
) -> AsyncIterator[list[asyncio.StreamReader]]:
    """``count`` connections trickling ``head`` until the block ends; what each one reads."""
    connections = [await asyncio.open_connection(host, port) for _ in range(count)]
    attack = [asyncio.create_task(trickle(writer, head)) for _, writer in connections]
    try:
        yield [reader for reader, _ in connections]
    finally:
        for task in attack:
            task.cancel()
        await asyncio.gather(*attack, return_exceptions=True)
        for _, writer in connections:
            writer.close()


async def cut_off_after(reader: asyncio.StreamReader, bound_s: float) -> tuple[bytes, float]:
    """What the server said before it closed the connection, and after how long."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    said = b""
    async with asyncio.timeout(timeout(bound_s + 2)):
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(4096):
                said += chunk
    return said, loop.time() - started


async def slow_server(start_server: ServerFactory) -> Server:
    return await start_server(
        http_head_timeout_s=HEAD_S, http_keep_alive_s=KEEP_ALIVE_S, ws_open_timeout_s=HEAD_S
    )


async def test_two_hundred_trickling_request_heads_are_cut_off_while_others_are_served(
    start_server: ServerFactory,
) -> None:
    server = await slow_server(start_server)
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "
    async with attackers(*address(server.http_url), ATTACKERS, head) as readers:
        async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
            assert (await http.get("/healthz")).status_code == 200  # the site stays up

        ends = await asyncio.gather(*(cut_off_after(r, HEAD_S) for r in readers))
    assert max(after for _, after in ends) < timeout(HEAD_S + 2)
    # Each is told why, unless its next byte met the closed socket first: the reset that
    # answers it can discard the 408 on the way in.
    answers = {said.split(b"\r\n", 1)[0] for said, _ in ends} - {b""}
    assert answers == {b"HTTP/1.1 408 Request Timeout"}


async def test_a_connection_that_never_says_anything_is_closed(
    start_server: ServerFactory,
) -> None:
    server = await slow_server(start_server)
    reader, writer = await asyncio.open_connection(*address(server.http_url))
    try:
        said, _ = await cut_off_after(reader, HEAD_S)
    finally:
        writer.close()
    assert said.startswith(b"HTTP/1.1 408 ")


async def answered(reader: asyncio.StreamReader) -> bytes:
    """One whole response to a request on a kept-alive connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    return head + await reader.readexactly(length)


async def test_an_idle_keep_alive_connection_is_closed_and_a_slow_next_request_too(
    start_server: ServerFactory,
) -> None:
    server = await slow_server(start_server)
    host, port = address(server.http_url)
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"

    idle_reader, idle = await asyncio.open_connection(host, port)
    idle.write(request)
    assert (await answered(idle_reader)).startswith(b"HTTP/1.1 200 ")
    said, _ = await cut_off_after(idle_reader, KEEP_ALIVE_S)
    idle.close()
    assert said == b""  # nothing more to say: the keep-alive simply ended

    slow_reader, slow = await asyncio.open_connection(host, port)
    slow.write(request)  # a first request, answered, then a second one that trickles
    assert (await answered(slow_reader)).startswith(b"HTTP/1.1 200 ")
    attack = asyncio.create_task(trickle(slow, b"GET /healthz HTTP/1.1\r\nX-Slow: "))
    try:
        said, after = await cut_off_after(slow_reader, HEAD_S)
    finally:
        attack.cancel()
        await asyncio.gather(attack, return_exceptions=True)
        slow.close()
    assert after < timeout(HEAD_S + 2)
    assert said in (b"", TIMED_OUT)  # the 408, unless a reset overtook it


async def test_a_websocket_handshake_sent_a_byte_at_a_time_is_cut_off(
    start_server: ServerFactory,
) -> None:
    server = await slow_server(start_server)
    host, port = address(server.ws_url)
    head = b"GET /ws/rooms/r1 HTTP/1.1\r\nHost: x\r\nX-Slow: "
    async with attackers(host, port, 20, head) as readers:
        silent_reader, silent = await asyncio.open_connection(host, port)
        try:
            ends = await asyncio.gather(
                cut_off_after(silent_reader, HEAD_S),
                *(cut_off_after(r, HEAD_S) for r in readers),
            )
        finally:
            silent.close()
    assert max(after for _, after in ends) < timeout(HEAD_S + 2)


async def test_request_bodies_trickled_a_byte_at_a_time_are_cut_off_while_others_are_served(
    start_server: ServerFactory,
) -> None:
    """The same attack one step later: a whole head, then a body that never finishes."""
    server = await slow_server(start_server)
    head = (
        b"POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n{"
    )
    async with attackers(*address(server.http_url), ATTACKERS // 4, head) as readers:
        async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
            honest = await http.post("/api/v1/sessions", json={"username": "x", "password": "y"})
            assert honest.status_code == 401  # read whole and answered

        ends = await asyncio.gather(*(cut_off_after(r, HEAD_S) for r in readers))
    assert max(after for _, after in ends) < timeout(HEAD_S + 2)
    told = [said for said, _ in ends if said]
    assert told, "some were told why before the connection closed"
    for said in told:
        assert said.startswith(b"HTTP/1.1 408 "), said[:80]
        assert b'"code":"request_timeout"' in said


async def test_a_kept_alive_connection_idle_past_the_head_deadline_still_serves_its_client(
    start_server: ServerFactory,
) -> None:
    """A browser or a client pool reuses a connection after a pause: only a request that has
    begun is on the clock, or the server would close (or answer 408) just as it is reused."""
    server = await start_server(http_head_timeout_s=HEAD_S, http_keep_alive_s=HEAD_S * 4)
    host, port = address(server.http_url)
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        assert (await answered(reader)).startswith(b"HTTP/1.1 200 ")
        await asyncio.sleep(HEAD_S * 2)  # the client's pause: what is under test, not a wait
        writer.write(request)
        assert (await answered(reader)).startswith(b"HTTP/1.1 200 ")
    finally:
        writer.close()
