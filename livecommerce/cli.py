"""The ``livecommerce`` command: ``serve`` and ``demo``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Coroutine, Sequence
from typing import Any

from livecommerce import admin
from livecommerce.config import Settings, add_arguments, from_arguments
from livecommerce.demo import SaleKeeper, create_demo
from livecommerce.media.demo_camera import CameraState, DemoCamera
from livecommerce.runtime import logs
from livecommerce.runtime.collector import Collector
from livecommerce.server import Server

log = logging.getLogger("livecommerce")

READY_WAIT_S = 60.0  # the demo's links are printed again by then, test card or not


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="livecommerce", description="Live-stream shopping server: rooms, chat, flash sales."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve", help="run the server (embedded Valkey without --redis-url)"
    )
    add_arguments(serve)
    demo = commands.add_parser(
        "demo", help="run the server with a demo creator, moderator, viewer and a live room"
    )
    add_arguments(demo)
    admin_parser = commands.add_parser(
        "admin", help="grant, revoke or list operators, who may moderate every room"
    )
    admin.add_arguments(admin_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.command == "admin":
        sys.exit(admin.run(args))
    settings = from_arguments(args, demo=args.command == "demo")
    logs.configure(settings.log_level, settings.log_format)
    with contextlib.suppress(KeyboardInterrupt):
        run(_serve(settings))


def run(main: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop where it is installed (it is a dependency wherever it builds)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        asyncio.run(main)
        return
    uvloop.run(main)


async def _serve(settings: Settings) -> None:
    server = Server(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    assert server.reservations is not None
    assert server.auctions is not None
    reservations, auctions = server.reservations, server.auctions
    collector = Collector(lambda: reservations.selling() or auctions.bidding())
    collector.start()
    lines = [
        f"livecommerce is running (Redis: {'embedded Valkey' if server.embedded else 'external'})",
        f"  home:     {server.http_url}/",
        f"  studio:   {server.http_url}/studio",
        f"  api:      {server.http_url}/api/v1/config",
        f"  sockets:  {server.ws_url}/ws/rooms/{{room_id}}",
        f"  metrics:  {server.http_url}/metrics",
    ]
    camera, keeper = None, None
    ready: asyncio.Task[None] | None = None
    if settings.demo:
        camera, keeper, demo_lines = await _demo(server)
        server.shedding.warm_up()  # seeding ran the loop late; the first visitors are welcome
        lines += demo_lines
        ready = asyncio.create_task(_when_ready(camera, demo_lines), name="demo-links")
    print("\n".join(lines), flush=True)
    await stop.wait()
    log.info("shutting down")
    if ready is not None:
        ready.cancel()
    if keeper is not None:
        await keeper.stop()
    if camera is not None:
        await camera.stop()  # DELETEs its WHIP session while the server still answers
    await server.stop()
    await collector.stop()


async def _when_ready(camera: DemoCamera, demo_lines: list[str]) -> None:
    """Print the sign-in links again once the test card is on (or will not come): the
    start-up logs that follow the first print must not leave them off screen."""
    settled = (CameraState.LIVE, CameraState.GAVE_UP, CameraState.STOPPED)
    waits = [asyncio.create_task(camera.reached[state].wait()) for state in settled]
    try:
        await asyncio.wait(waits, timeout=READY_WAIT_S, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
    print("\n".join(["", "livecommerce demo is ready.", *demo_lines[1:]]), flush=True)


async def _demo(server: Server) -> tuple[DemoCamera, SaleKeeper, list[str]]:
    """A ready show: three people, each with a sign-in link that logs them straight in, a
    flash sale that starts again whenever it ends, and a test card on the stream whenever
    the creator is not live from the studio."""
    people, room_id = await create_demo(server)
    keeper = SaleKeeper(server, room_id)
    keeper.start()
    camera = DemoCamera(server.http_url, room_id, people["creator"])
    await camera.start()
    base = server.http_url
    lines = [
        "",
        f"Demo room {room_id} is live, a product pinned and a flash sale running.",
        "It streams a test card over WHIP whenever the creator is not live from the studio.",
        "Open each link in its own browser window:",
    ]
    lines.append(f"  creator:   {base}/studio#token={people['creator']}")
    lines.append(f"  moderator: {base}/rooms/{room_id}/console#token={people['moderator']}")
    lines.append(f"  viewer:    {base}/rooms/{room_id}#token={people['viewer']}")
    lines.append(f"  guest:     {base}/rooms/{room_id}")
    lines.append("  (accounts demo-creator, demo-moderator, demo-viewer; password: livecommerce)")
    return camera, keeper, lines


if __name__ == "__main__":  # pragma: no cover
    with contextlib.suppress(KeyboardInterrupt):
        main(sys.argv[1:])
