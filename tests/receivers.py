"""A merchant's webhook endpoint, for tests: a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livecommerce.api.serving import HttpServer, listen
from tests.conftest import timeout

HANG = -1  # an answer that never comes (until the receiver stops)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    answer: int


@dataclass
class Receiver:
    """A merchant's webhook endpoint that answers from a script: 500, 500, 200, ..."""

    answers: list[int]
    requests: list[Received] = field(default_factory=list)
    url: str = ""
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        answer = self.answers.pop(0) if self.answers else 200
        async with self.arrived:
            self.requests.append(Received(dict(request.headers), body, answer))
            self.arrived.notify_all()
        if answer == HANG:
            await self.release.wait()
            answer = 200
        return Response(status_code=answer)

    async def wait_for(self, count: int, wait: float = 5.0) -> list[Received]:
        async with asyncio.timeout(timeout(wait)), self.arrived:
            await self.arrived.wait_for(lambda: len(self.requests) >= count)
        return self.requests


StartReceiver = Callable[..., Awaitable[Receiver]]


async def running_receivers() -> AsyncIterator[StartReceiver]:
    running: list[tuple[Receiver, HttpServer]] = []

    async def start(
        *answers: int, name: str = "127.0.0.1", tls: tuple[Path, Path] | None = None
    ) -> Receiver:
        """A receiver on 127.0.0.1, named ``name`` in its URL; https with ``tls``, a
        (certificate chain, key) pair of PEM files."""
        receiver = Receiver(list(answers))
        app = Starlette(routes=[Route("/hook", receiver.handle, methods=["POST"])])
        sock = listen("127.0.0.1", 0)
        scheme = "https" if tls else "http"
        receiver.url = f"{scheme}://{name}:{sock.getsockname()[1]}/hook"
        config = uvicorn.Config(
            app,
            lifespan="off",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=1,
            ssl_certfile=tls[0] if tls else None,
            ssl_keyfile=tls[1] if tls else None,
        )
        server = HttpServer(config, sock)
        await server.start()
        running.append((receiver, server))
        return receiver

    yield start
    for receiver, server in running:
        receiver.release.set()
        await server.stop()
