"""Deadlines on HTTP connections, so a slow client cannot hold one open for ever (slowloris).

uvicorn times out a keep-alive connection only after a response, and any byte that arrives
cancels that timer: a client that opens connections and sends its request head a byte at a
time, or nothing at all, keeps each one for as long as it likes, and a few hundred of them
hold the process's descriptors and memory. Here every request head (the request line and the
headers) must be complete within ``head_timeout_s`` of the connection opening, or of the first
byte of a later request on a kept-alive connection, however it trickles in; past that the
client gets ``408`` and the connection is closed.

A kept-alive connection with nothing of a next request on it is left to uvicorn's own idle
timer (``timeout_keep_alive``), which closes it silently: a 408 or a close that races a
client reusing the connection would fail that client's request.

Request bodies are bounded where they are read (``services.read_body``): a deadline from their
declared size, so a slow upload on a phone still gets through.

This is the one module that knows uvicorn's h11 protocol from the inside, as ``media/taps.py``
is for aiortc. uvicorn takes the protocol class through its public ``Config(http=...)``, but
it has no public hook for a head deadline: ``timeout_keep_alive`` starts only after a
response and any byte cancels it, ``h11_max_incomplete_event_size`` bounds a head's size, not
its time, and the ASGI app is called only once the head is whole. Only the parser knows
whether a head has begun and whether it is complete (h11's public ``their_state`` and
``trailing_data``, on the protocol's ``conn``), and only the protocol knows when a response
has ended (``on_response_complete``) and the next pipelined head is due. No underscore name
of uvicorn's is used; ``tests/livecommerce/api/test_deadlines.py`` fails if a release moves
any of these.
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

TIMED_OUT = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"connection: close\r\n"
    b"content-length: 42\r\n"
    b"\r\n"
    b"the request head took too long to arrive.\n"
)


class HeadDeadline(H11Protocol):
    """uvicorn's h11 protocol with a deadline on each request head."""

    head_timeout_s: float = 10.0
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._head_timer is None and self._head_begun():
            self._arm()  # a later request on a kept-alive connection has begun
        self._disarm_once_the_head_is_in()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self._head_begun():
            self._arm()  # the next request's head was pipelined, and is not whole yet

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_begun(self) -> bool:
        """Part of a request head is here, not yet all of it."""
        return self.conn.their_state is h11.IDLE and bool(self.conn.trailing_data[0])

    def _disarm_once_the_head_is_in(self) -> None:
        # h11 leaves IDLE for the client once a whole request head has been parsed.
        if self.conn.their_state is not h11.IDLE:
            self._disarm()

    def _timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self.conn.our_state is h11.IDLE:
            self.transport.write(TIMED_OUT)
        self.transport.close()


def with_head_timeout(seconds: float) -> type[H11Protocol]:
    """The protocol class to give uvicorn (``Config(http=...)``), with this deadline."""
    return type("HeadDeadline", (HeadDeadline,), {"head_timeout_s": seconds})
