"""HTTP inside a process that runs more than HTTP: uvicorn serves on a socket of ours, leaves
the process's signal handlers alone (the process orders its own shutdown), and drains on stop.
A real uvicorn on loopback."""

from __future__ import annotations

import signal

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from livecommerce.api.serving import HttpServer, listen


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


def config() -> uvicorn.Config:
    app = Starlette(routes=[Route("/", hello)])
    return uvicorn.Config(app, lifespan="off", log_config=None, access_log=False)


async def test_it_serves_once_started_and_leaves_sigterm_to_the_process() -> None:
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    server = HttpServer(config(), listen("127.0.0.1", 0))
    await server.start()
    try:
        assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
        async with httpx.AsyncClient(timeout=10) as http:
            answer = await http.get(f"http://127.0.0.1:{server.port}/")
        assert answer.text == "hello"
    finally:
        await server.stop()
    assert server.sock.fileno() == -1  # closed: the port is free again
    await server.stop()  # twice is harmless
