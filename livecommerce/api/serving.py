"""HTTP served by uvicorn inside a process that has more to run, through uvicorn's public API.

``uvicorn.Server.serve`` takes over SIGINT and SIGTERM while it runs, so a signal would make
uvicorn drain and stop on its own, before the gateway has told its sockets to reconnect; the
process decides the order of its shutdown, so here ``capture_signals`` (the hook ``serve``
wraps itself in) leaves the signals to it. ``startup`` is extended to say when the socket
serves, so starting waits on an event rather than polling ``started``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import uvicorn

BACKLOG = 2048


def listen(host: str, port: int) -> socket.socket:
    """A listening socket, bound before uvicorn runs so its port is known at once (port 0)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(BACKLOG)
    sock.setblocking(False)
    return sock


class _Embedded(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.serving = asyncio.Event()
        self.exit_requested = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.serving.set()

    async def main_loop(self) -> None:
        """uvicorn's loop, woken by ``exit_requested`` rather than polling ten times a
        second: a stop begins at once. ``on_tick`` still runs each second (the Date header)."""
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 10) % 864000  # a multiple of 10: the headers are refreshed
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self.exit_requested.wait()


class HttpServer:
    """uvicorn on a socket of ours: ``start`` returns once it serves, ``stop`` drains it."""

    def __init__(self, config: uvicorn.Config, sock: socket.socket) -> None:
        self.sock = sock
        self._server = _Embedded(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    async def start(self) -> None:
        """Serve, or raise why uvicorn could not."""
        task = asyncio.create_task(self._server.serve(sockets=[self.sock]), name="http")
        self._task = task
        serving = asyncio.create_task(self._server.serving.wait())
        try:
            await asyncio.wait([task, serving], return_when=asyncio.FIRST_COMPLETED)
            if not self._server.serving.is_set():
                task.result()  # uvicorn's own error, if it raised one
                raise RuntimeError("uvicorn stopped before it served")
        except BaseException:
            await self.stop()
            raise
        finally:
            serving.cancel()

    async def stop(self) -> None:
        """Stop accepting, let requests under way finish (within the config's graceful
        shutdown timeout), then close."""
        task, self._task = self._task, None
        if task is None:
            return
        self._server.should_exit = True
        self._server.exit_requested.set()
        await asyncio.gather(task, return_exceptions=True)
