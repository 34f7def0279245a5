"""Server CPU per delivered frame: websockets.broadcast() against Starlette/uvicorn sockets.

One question, measured on loopback: fanning a room's event batches out to C WebSocket clients,
how many microseconds of server CPU does each delivered frame cost

* ``broadcast``: the ``websockets`` library's own asyncio server (``websockets.asyncio.server
  .serve``, ``compression=None``), each batch written with ``websockets.asyncio.server
  .broadcast(connections, frame)``: one UTF-8 encode, then a synchronous frame-and-write to
  every transport, no await per socket;
* ``asgi-<ws>``: a Starlette WebSocket endpoint under uvicorn (uvloop, ``ws=<ws>``,
  permessage-deflate off), the server looping over its sockets with
  ``await ws.send_text(frame)`` one socket after another; ``asgi-<ws>-gather`` sends the same
  frame with ``asyncio.gather`` over all sockets instead. ``<ws>`` is one of uvicorn's
  WebSocket protocol implementations: ``websockets`` (the legacy one, deprecated by uvicorn),
  ``websockets-sansio`` or ``wsproto``.

Each run starts the server variant as a subprocess on 127.0.0.1 (a port the server picks
itself), connects ``--clients`` clients spread over ``--client-procs`` processes (the
``websockets`` asyncio client on uvloop, no compression, no pings), and each client sends
"ready" as its first message. Once the server holds all of them it waits ``--settle`` seconds
and then, on its own timer, sends ``--rate`` frames a second (each a ~1 KB JSON batch) to every
client for ``--duration`` seconds. The server reads its own user+sys CPU seconds with psutil
at the first send and one send period after the last; it then sends "END", the clients report
how many frames they received and close. Both servers build the frame the same way; the only
difference is how it reaches the sockets.

    python loadtests/broadcast_vs_asgi.py                      # defaults, every variant twice
    python loadtests/broadcast_vs_asgi.py --clients 500 --duration 10 --repeats 1
    python loadtests/broadcast_vs_asgi.py --variants broadcast,asgi-wsproto,asgi-wsproto-gather

Only loopback is used; every wait has a deadline and every process stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import select
import socket
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

HOST = "127.0.0.1"
DEFAULT_VARIANTS = "broadcast,asgi-websockets,asgi-wsproto"
ASGI_WS = ("websockets", "websockets-sansio", "wsproto")
END = "END"


def raise_nofile(want: int = 65536) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if target > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def install_uvloop() -> None:
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def listening_socket() -> socket.socket:
    """127.0.0.1, a port chosen by the kernel, a backlog large enough for the connect burst."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    sock.listen(4096)
    sock.setblocking(False)
    return sock


def make_batch(seq: int) -> str:
    """A room event batch of about 1 KB of JSON: eight chat lines and a stock update."""
    import orjson

    events: list[dict[str, Any]] = [
        {
            "type": "chat",
            "id": seq * 10 + i,
            "user": f"viewer-{(seq * 7 + i) % 997:04d}",
            "name": "Viewer Name",
            "text": f"message {i} in batch {seq}: is this available in blue and in size M?",
        }
        for i in range(8)
    ]
    events.append({"type": "stock", "sku": "SKU-123456", "left": max(0, 5000 - seq)})
    return orjson.dumps({"type": "batch", "room": "room-1", "seq": seq, "events": events}).decode()


# Server side --------------------------------------------------------------------------------


class Room:
    """What both servers share: the ready count, the timed send window, the measurement."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.expected: int = args.clients
        self.ready = 0
        self.all_ready = asyncio.Event()
        self.closed = asyncio.Event()
        self.open = 0

    def on_ready(self) -> None:
        self.ready += 1
        self.open += 1
        if self.ready >= self.expected:
            self.all_ready.set()

    def on_close(self) -> None:
        self.open -= 1
        if self.open <= 0 and self.all_ready.is_set():
            self.closed.set()

    async def run(self, fanout: Callable[[str], Awaitable[None]]) -> dict[str, Any]:
        import psutil

        args = self.args
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.all_ready.wait(), args.connect_timeout)
        clients = self.ready
        self.all_ready.set()
        if clients == 0:
            return {"error": "no client connected"}
        await asyncio.sleep(args.settle)

        proc = psutil.Process()
        n_frames = int(args.rate * args.duration)
        period = 1.0 / args.rate
        frames = [make_batch(k) for k in range(n_frames)]  # built outside the window
        walls: list[float] = []
        lag_max = 0.0
        clock = time.perf_counter
        c0 = proc.cpu_times()
        t0 = clock()
        for k, frame in enumerate(frames):
            delay = t0 + k * period - clock()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                lag_max = max(lag_max, -delay)
            s = clock()
            await fanout(frame)
            walls.append(clock() - s)
        # One more period so the last batch's queued writes get flushed inside the window.
        delay = t0 + n_frames * period - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            lag_max = max(lag_max, -delay)
        t1 = clock()
        c1 = proc.cpu_times()
        cpu = (c1.user + c1.system) - (c0.user + c0.system)

        await fanout(END)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closed.wait(), args.close_timeout)
        walls.sort()
        return {
            "clients": clients,
            "frames_sent": n_frames,
            "window_s": t1 - t0,
            "cpu_s": cpu,
            "cpu_user_s": c1.user - c0.user,
            "cpu_sys_s": c1.system - c0.system,
            "fanout_ms_p50": 1e3 * walls[len(walls) // 2],
            "fanout_ms_max": 1e3 * walls[-1],
            "lag_max_ms": 1e3 * lag_max,
            "still_open": self.open,
        }


def announce(sock: socket.socket) -> None:
    print(f"PORT {sock.getsockname()[1]}", flush=True)


async def serve_broadcast(args: argparse.Namespace) -> dict[str, Any]:
    from websockets.asyncio.server import ServerConnection, broadcast, serve

    room = Room(args)
    conns: set[ServerConnection] = set()

    async def handler(conn: ServerConnection) -> None:
        try:
            await conn.recv()  # "ready"
        except Exception:
            return
        conns.add(conn)
        room.on_ready()
        try:
            await conn.wait_closed()
        finally:
            conns.discard(conn)
            room.on_close()

    async def fanout(frame: str) -> None:
        broadcast(conns, frame)

    sock = listening_socket()
    async with serve(
        handler,
        sock=sock,
        compression=None,
        ping_interval=None,
        max_size=2**16,
        open_timeout=args.connect_timeout,
        close_timeout=2,
    ):
        announce(sock)
        return await room.run(fanout)


async def serve_asgi(args: argparse.Namespace, ws_impl: str, gather: bool) -> dict[str, Any]:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    room = Room(args)
    sockets: dict[int, WebSocket] = {}

    async def endpoint(ws: WebSocket) -> None:
        await ws.accept()
        try:
            await ws.receive_text()  # "ready"
        except WebSocketDisconnect:
            return
        sockets[id(ws)] = ws
        room.on_ready()
        try:
            while (await ws.receive())["type"] != "websocket.disconnect":
                pass
        except Exception:
            pass
        finally:
            sockets.pop(id(ws), None)
            room.on_close()

    async def send_one(ws: WebSocket, frame: str) -> None:
        with contextlib.suppress(Exception):
            await ws.send_text(frame)

    async def fanout_seq(frame: str) -> None:
        for ws in list(sockets.values()):
            try:
                await ws.send_text(frame)
            except Exception:
                sockets.pop(id(ws), None)

    async def fanout_gather(frame: str) -> None:
        await asyncio.gather(*(send_one(ws, frame) for ws in list(sockets.values())))

    app = Starlette(routes=[WebSocketRoute("/", endpoint)])
    config = uvicorn.Config(
        app,
        loop="none",  # this process already runs uvloop
        ws=ws_impl,
        ws_per_message_deflate=False,
        ws_ping_interval=None,
        ws_ping_timeout=None,
        lifespan="off",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=3,
        backlog=4096,
    )
    server = uvicorn.Server(config)
    sock = listening_socket()
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(1000):  # up to 20 s
        if server.started or serving.done():
            break
        await asyncio.sleep(0.02)
    if not server.started:
        return {"error": "uvicorn did not start"}
    announce(sock)
    try:
        return await room.run(fanout_gather if gather else fanout_seq)
    finally:
        server.should_exit = True
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(serving, 10)


def server_main(args: argparse.Namespace) -> None:
    raise_nofile()
    install_uvloop()
    warnings.simplefilter("ignore")  # uvicorn's ws="websockets" deprecation notice
    variant: str = args.variant
    if variant == "broadcast":
        coro = serve_broadcast(args)
    else:
        impl = variant.removeprefix("asgi-")
        gather = impl.endswith("-gather")
        impl = impl.removesuffix("-gather")
        coro = serve_asgi(args, impl, gather)
    result = asyncio.run(asyncio.wait_for(coro, args.server_timeout))
    print("RESULT " + json.dumps(result), flush=True)


# Client side --------------------------------------------------------------------------------


async def client_run(url: str, n: int, deadline: float) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    sem = asyncio.Semaphore(64)
    received = [0] * n
    state = {"connected": 0, "errors": 0, "ended": 0}

    async def one(i: int) -> None:
        try:
            async with sem:
                ws = await connect(
                    url, compression=None, ping_interval=None, open_timeout=30, max_size=2**20
                )
            state["connected"] += 1
            async with ws:
                await ws.send("ready")
                count = 0
                async for msg in ws:
                    if msg == END:
                        state["ended"] += 1
                        break
                    count += 1
                received[i] = count
        except Exception:
            state["errors"] += 1

    tasks = [asyncio.create_task(one(i)) for i in range(n)]
    _, pending = await asyncio.wait(tasks, timeout=max(1.0, deadline - time.time()))
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return {"received": sum(received), "timed_out": len(pending), **state}


def client_main(args: argparse.Namespace) -> None:
    raise_nofile()
    install_uvloop()
    result = asyncio.run(client_run(args.url, args.n, args.deadline))
    print("CLIENT " + json.dumps(result), flush=True)


# Driver -------------------------------------------------------------------------------------


def read_line(proc: subprocess.Popen[str], prefix: str, timeout: float) -> str | None:
    """The first stdout line starting with ``prefix``, or None after ``timeout`` seconds."""
    assert proc.stdout is not None
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, end - time.monotonic()))
        if not ready:
            break
        line = proc.stdout.readline()
        if not line:
            return None
        if line.startswith(prefix):
            return line[len(prefix) :].strip()
    return None


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def run_variant(args: argparse.Namespace, variant: str) -> dict[str, Any]:
    me = os.path.abspath(__file__)
    common = [
        f"--clients={args.clients}",
        f"--rate={args.rate}",
        f"--duration={args.duration}",
        f"--settle={args.settle}",
        f"--connect-timeout={args.connect_timeout}",
    ]
    started = time.monotonic()
    server = subprocess.Popen(
        [sys.executable, me, "--role=server", f"--variant={variant}", *common],
        stdout=subprocess.PIPE,
        text=True,
    )
    clients: list[subprocess.Popen[str]] = []
    try:
        port = read_line(server, "PORT ", 30)
        if port is None:
            return {"variant": variant, "error": "server did not start"}
        url = f"ws://{HOST}:{int(port)}/"
        # Every client process gives up by itself after this wall-clock deadline.
        deadline = time.time() + args.connect_timeout + args.settle + args.duration + 30
        per = [args.clients // args.client_procs] * args.client_procs
        for i in range(args.clients % args.client_procs):
            per[i] += 1
        dl = f"--deadline={deadline}"
        for n in per:
            clients.append(
                subprocess.Popen(
                    [sys.executable, me, "--role=client", f"--url={url}", f"--n={n}", dl],
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        budget = args.connect_timeout + args.settle + args.duration + 20
        line = read_line(server, "RESULT ", budget)
        result: dict[str, Any] = json.loads(line) if line else {"error": "no server result"}
        got = [read_line(c, "CLIENT ", 20) for c in clients]
        reports = [json.loads(g) for g in got if g]
        result["delivered"] = sum(r["received"] for r in reports)
        result["client_errors"] = sum(r["errors"] + r["timed_out"] for r in reports)
        result["client_reports"] = len(reports)
    finally:
        for c in clients:
            stop(c)
        stop(server)
    result["variant"] = variant
    result["run_s"] = time.monotonic() - started
    return result


HEADER = (
    f"{'variant':<26}{'run':>4}{'clients':>8}{'delivered':>11}{'deliv/s':>10}"
    f"{'cpu s':>8}{'us/frame':>10}{'vs bcast':>9}{'fanout p50 ms':>15}{'lag max ms':>12}"
)


def us_per_frame(r: dict[str, Any]) -> float:
    d = r.get("delivered", 0)
    return 1e6 * r["cpu_s"] / d if d and "cpu_s" in r else float("nan")


def row(r: dict[str, Any], run: int, base: float) -> str:
    if "error" in r:
        return f"{r['variant']:<26}{run:>4}  ERROR {r['error']}"
    us = us_per_frame(r)
    return (
        f"{r['variant']:<26}{run:>4}{r['clients']:>8}{r['delivered']:>11}"
        f"{r['delivered'] / r['window_s']:>10.0f}{r['cpu_s']:>8.2f}{us:>10.2f}"
        f"{us / base:>9.2f}{r['fanout_ms_p50']:>15.2f}{r['lag_max_ms']:>12.1f}"
    )


def driver(args: argparse.Namespace) -> None:
    raise_nofile()
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for v in variants:
        impl = v.removeprefix("asgi-").removesuffix("-gather")
        if v != "broadcast" and (not v.startswith("asgi-") or impl not in ASGI_WS):
            sys.exit(f"unknown variant {v!r}")
    import starlette
    import uvicorn
    import websockets

    print(
        f"python {sys.version.split()[0]}, websockets {websockets.__version__}, "
        f"starlette {starlette.__version__}, uvicorn {uvicorn.__version__}, "
        f"{os.cpu_count()} CPUs, load avg {os.getloadavg()[0]:.2f}"
    )
    print(
        f"{args.clients} clients in {args.client_procs} processes, {args.rate} frames/s "
        f"of {len(make_batch(0).encode())} B for {args.duration} s, repeats {args.repeats}"
    )
    t_start = time.monotonic()
    results: list[tuple[int, dict[str, Any]]] = []
    print(HEADER, flush=True)
    for rep in range(1, args.repeats + 1):
        base = float("nan")
        for v in variants:
            r = run_variant(args, v)
            results.append((rep, r))
            if v == "broadcast" and "error" not in r:
                base = us_per_frame(r)
            print(row(r, rep, base), flush=True)
            extra = {
                k: r.get(k)
                for k in ("cpu_user_s", "cpu_sys_s", "client_errors", "still_open", "run_s")
            }
            print("    " + json.dumps(extra, default=lambda x: round(x, 2)), flush=True)

    print("\nmean over runs:")
    means: dict[str, float] = {}
    for v in variants:
        vals = [us_per_frame(r) for _, r in results if r["variant"] == v and "error" not in r]
        if vals:
            means[v] = statistics.fmean(vals)
    base = means.get("broadcast", float("nan"))
    for v, m in means.items():
        print(f"  {v:<26}{m:>8.2f} us of server CPU per delivered frame  ({m / base:.2f}x)")
    print(f"total {time.monotonic() - t_start:.0f} s, load avg now {os.getloadavg()[0]:.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--role", choices=("driver", "server", "client"), default="driver")
    p.add_argument("--variants", default=DEFAULT_VARIANTS)
    p.add_argument("--variant", default="broadcast", help=argparse.SUPPRESS)
    p.add_argument("--clients", type=int, default=1000)
    p.add_argument("--client-procs", type=int, default=2, choices=(2, 3, 4))
    p.add_argument("--rate", type=float, default=20.0, help="frames a second")
    p.add_argument("--duration", type=float, default=15.0, help="seconds of sending")
    p.add_argument("--settle", type=float, default=1.0, help="pause after the last connect")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--connect-timeout", type=float, default=40.0)
    p.add_argument("--close-timeout", type=float, default=10.0, help=argparse.SUPPRESS)
    p.add_argument("--server-timeout", type=float, default=150.0, help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    p.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.role == "server":
        server_main(args)
    elif args.role == "client":
        if not args.url.startswith(f"ws://{HOST}:"):
            sys.exit("clients only connect to 127.0.0.1")
        client_main(args)
    else:
        driver(args)


if __name__ == "__main__":
    main()
