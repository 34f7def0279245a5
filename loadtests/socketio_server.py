"""The peer for the fan-out benchmark: a chat room server written the plain python-socketio way.

Clients connect to the default namespace and join a room, either with the connect ``auth``
payload ``{"room": name}`` or with a ``join`` event; a ``chat`` event ``{"text": ...}`` is
checked (a string of 1 to 500 characters), stamped with an id, the user and the time, and
broadcast with ``sio.emit("chat", ..., room=room)``. No persistence, no history, no ordering
guarantees across processes: what a typical python-socketio chat does.

Two deployments, both common in production:

- ``--mode aiohttp`` (default): ``socketio.AsyncServer(async_mode="aiohttp")`` attached to an
  aiohttp ``web.Application``, on uvloop;
- ``--mode asgi``: ``socketio.ASGIApp`` under uvicorn (uvloop, its websockets protocol).

Both run one process, logging off, on a socket bound here so ``--port 0`` works; once it
listens the server writes ``{"url", "ws_url", "pid", "mode"}`` to ``--ready-file``.

    python loadtests/socketio_server.py --port 0 --ready-file /tmp/sio.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

import socketio

MAX_TEXT = 500


def make_server(async_mode: str) -> socketio.AsyncServer:
    sio = socketio.AsyncServer(
        async_mode=async_mode,
        cors_allowed_origins="*",
        logger=False,
        engineio_logger=False,
    )
    ids = itertools.count(1)

    @sio.event
    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        room = auth.get("room") if isinstance(auth, dict) else None
        name = auth.get("name") if isinstance(auth, dict) else None
        await sio.save_session(sid, {"room": room, "name": name or f"guest-{sid[:6]}"})
        if isinstance(room, str):
            await sio.enter_room(sid, room)

    @sio.event
    async def join(sid: str, room: Any) -> None:
        if isinstance(room, str):
            session = await sio.get_session(sid)
            session["room"] = room
            await sio.enter_room(sid, room)

    @sio.event
    async def chat(sid: str, data: Any) -> None:
        session = await sio.get_session(sid)
        room = session.get("room")
        text = data.get("text") if isinstance(data, dict) else None
        if room is None or not isinstance(text, str) or not 0 < len(text.strip()) <= MAX_TEXT:
            await sio.emit("error", {"code": "bad_request"}, to=sid)
            return
        message = {
            "id": next(ids),
            "user": {"id": sid, "name": session["name"]},
            "text": text,
            "at": int(time.time() * 1000),
        }
        await sio.emit("chat", message, room=room)

    return sio


def bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(4096)
    sock.set_inheritable(True)
    return sock


def write_ready(path: str | None, sock: socket.socket, mode: str) -> None:
    host, port = sock.getsockname()[:2]
    info = {
        "url": f"http://{host}:{port}",
        "ws_url": f"ws://{host}:{port}",
        "pid": os.getpid(),
        "mode": mode,
    }
    print(json.dumps(info), flush=True)
    if path:
        tmp = Path(path + ".tmp")
        tmp.write_text(json.dumps(info))
        tmp.replace(path)


async def run_aiohttp(sock: socket.socket, ready_file: str | None) -> None:
    from aiohttp import web

    sio = make_server("aiohttp")
    app = web.Application()
    sio.attach(app)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.SockSite(runner, sock, shutdown_timeout=1.0)
    await site.start()
    write_ready(ready_file, sock, "aiohttp")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(runner.cleanup(), 5)


async def run_asgi(sock: socket.socket, ready_file: str | None, ws: str = "auto") -> None:
    import uvicorn

    sio = make_server("asgi")
    app = socketio.ASGIApp(sio)
    config = uvicorn.Config(
        app,
        loop="none",
        http="auto",  # httptools when installed, else h11: only handshakes use it
        ws=ws,  # "auto" is what uvicorn[standard] picks: its websockets-based protocol
        lifespan="off",
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=2,
        backlog=4096,
    )

    class Announcing(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            write_ready(ready_file, sock, "asgi")

    await Announcing(config).serve(sockets=[sock])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--mode", choices=("aiohttp", "asgi"), default="aiohttp")
    parser.add_argument(
        "--asgi-ws",
        choices=("auto", "websockets", "websockets-sansio", "wsproto"),
        default="auto",
        help="uvicorn's WebSocket implementation, with --mode asgi",
    )
    parser.add_argument("--ready-file", help="write {url, ws_url, pid, mode} here once listening")
    args = parser.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the benchmark peer only listens on loopback")

    import uvloop

    sock = bind(args.host, args.port)
    if args.mode == "aiohttp":
        uvloop.run(run_aiohttp(sock, args.ready_file))
    else:
        uvloop.run(run_asgi(sock, args.ready_file, args.asgi_ws))


if __name__ == "__main__":
    main()
