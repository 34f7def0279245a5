"""Idle connection memory: the server's RSS growth per open, silent WebSocket (KiB).

Starts the server (unless ``--url``), makes a live room, opens ``--baseline`` viewer sockets
so that lazily built state (imports, the room, the first buffers) is paid for, waits for the
RSS to settle and reads it; then opens the rest up to ``--connections``, waits again and reads
it again. Growth / (connections - baseline) is the cost of one idle connection. The sockets
answer pings but send nothing. RSS is read with psutil for the server process itself and for
its whole tree (the embedded Valkey keeps per-room presence, not per-socket buffers).

    ulimit -n 20000   # the client processes raise their own soft limit; the server inherits
                      # this shell's, and needs one descriptor per connection plus ~100
    python loadtests/idle_memory.py                       # 5,000 guests in one room
    python loadtests/idle_memory.py --target socketio     # the same against the peer

Target: under 40 KiB per idle connection at 5,000 connections.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import shutil
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib
from benchlib import WSConn

TARGET_KIB = 40.0


def on_lc(conn: WSConn, payload: bytes) -> None:
    if not conn.ready.done():
        benchlib.lc_ready(conn, payload)


def on_sio(conn: WSConn, payload: bytes) -> None:
    kind = payload[:2]
    if kind[:1] == b"2":
        conn.send_text(b"3")
    elif kind == b"40":
        if not conn.ready.done():
            conn.ready.set_result(None)
    elif kind[:1] == b"0":
        conn.send_text(b'40{"room":"%s"}' % benchlib.SIO_ROOM.encode())


async def holder_main(pipe: Connection, cfg: dict[str, Any]) -> None:
    """Open sockets when told, keep them open, report; every wait has a deadline."""
    handler = on_sio if cfg["kind"] == "socketio" else on_lc
    loop = asyncio.get_running_loop()
    conns: list[WSConn] = []
    deadline = time.monotonic() + cfg["lifetime_s"]
    while time.monotonic() < deadline:
        ready = await loop.run_in_executor(None, pipe.poll, 1.0)
        if not ready:
            continue
        msg = pipe.recv()
        if msg[0] == "open":
            opened, errors = await benchlib.open_many(
                [cfg["url"]] * msg[1], handler, cfg["subprotocol"], concurrency=64
            )
            conns += opened
            pipe.send(("opened", len(opened), errors))
        elif msg[0] == "count":
            codes: dict[str, int] = {}
            for c in conns:
                if c.closed.done():
                    codes[str(c.close_code)] = codes.get(str(c.close_code), 0) + 1
            pipe.send(("count", sum(1 for c in conns if not c.closed.done()), codes))
        else:
            break
    for c in conns:
        c.close()
    await asyncio.sleep(0.5)


def holder(pipe: Connection, cfg: dict[str, Any]) -> None:
    benchlib.raise_nofile()
    benchlib.install_uvloop()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(holder_main(pipe, cfg))


def settle(pid: int, wait_s: float) -> tuple[int, int]:
    """Wait ``wait_s``, then read the RSS a few times and keep the highest (no flattering).

    Returns the server process's RSS and its whole tree's (with the embedded Valkey).
    """
    time.sleep(wait_s)
    best, best_tree = 0, 0
    for _ in range(5):
        rss = benchlib.rss_tree(pid)
        best, best_tree = max(best, rss["main"]), max(best_tree, rss["tree"])
        time.sleep(0.2)
    return best, best_tree


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Server RSS growth per idle WebSocket connection.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument(
        "--baseline", type=int, default=200, help="sockets open before the 1st read"
    )
    parser.add_argument("--procs", type=int, default=2, help="client processes")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds before reading RSS")
    parser.add_argument("--target", choices=("livecommerce", "socketio"), default="livecommerce")
    parser.add_argument("--subprotocol", choices=("json", "msgpack"), default="json")
    parser.add_argument(
        "--socketio-mode", choices=tuple(benchlib.SOCKETIO_MODES), default="aiohttp"
    )
    parser.add_argument("--url", help="a running livecommerce (http URL) instead of starting one")
    parser.add_argument("--server-pid", type=int, help="its pid (required with --url)")
    parser.add_argument("--redis-url", help="passed to livecommerce serve")
    parser.add_argument("--keep", action="store_true", help="keep the work directory and logs")
    args = parser.parse_args()
    if args.url and not args.server_pid:
        parser.error("--url needs --server-pid: RSS is read from the server process")
    if not 0 < args.baseline < args.connections:
        parser.error("need 0 < --baseline < --connections")

    nofile = benchlib.raise_nofile()
    if nofile < args.connections + 200:
        sys.exit(f"RLIMIT_NOFILE is {nofile}; run `ulimit -n {args.connections * 2 + 1000}` first")

    print(f"idle memory benchmark {time.strftime('%Y-%m-%d %H:%M:%S %z')}")
    print(f"machine: {benchlib.machine()}; client soft RLIMIT_NOFILE {nofile}")
    work = Path(tempfile.mkdtemp(prefix="lc-idle-"))
    server: benchlib.Server | None = None
    ctx = mp.get_context("spawn")
    procs: list[Any] = []
    pipes: list[Connection] = []
    try:
        if args.target == "socketio":
            server = benchlib.start_socketio(work, args.socketio_mode)
            url, sub = benchlib.socketio_url(server), None
            print(
                f"target: python-socketio {benchlib.version('python-socketio')} "
                f"({args.socketio_mode}), guests joined to one room"
            )
        else:
            if args.url:
                server = benchlib.attach_livecommerce(args.url, args.server_pid)
            else:
                server = benchlib.start_livecommerce(work, args.redis_url)
            room_id, _ = benchlib.livecommerce_room(server)
            url, sub = f"{server.ws_url}/ws/rooms/{room_id}", f"livecommerce.{args.subprotocol}"
            print(f"target: livecommerce, guests in live room {room_id} on {sub}")
        assert server.pid is not None
        for _ in range(args.procs):
            mine, theirs = ctx.Pipe()
            cfg = {"kind": args.target, "url": url, "subprotocol": sub, "lifetime_s": 600}
            p = ctx.Process(target=holder, args=(theirs, cfg), daemon=True)
            p.start()
            procs.append(p)
            pipes.append(mine)

        def open_total(n: int) -> tuple[int, dict[str, int]]:
            shares = [n // args.procs + (i < n % args.procs) for i in range(args.procs)]
            for pipe, share in zip(pipes, shares, strict=True):
                pipe.send(("open", share))
            got = 0
            errors: dict[str, int] = {}
            for pipe in pipes:
                if not pipe.poll(60 + n / 20):
                    raise TimeoutError("a client process did not finish opening its sockets")
                _, k, errs = pipe.recv()
                got += k
                for why, m in errs.items():
                    errors[why] = errors.get(why, 0) + m
            return got, errors

        closed: dict[str, int] = {}

        def still_open() -> int:
            for pipe in pipes:
                pipe.send(("count",))
            total = 0
            for pipe in pipes:
                if not pipe.poll(30):
                    raise TimeoutError("a client process went quiet")
                _, n, codes = pipe.recv()
                total += n
                for code, m in codes.items():
                    closed[code] = closed.get(code, 0) + m
            return total

        rss_empty, _ = settle(server.pid, 1.0)
        base_open, errors = open_total(args.baseline)
        rss_base, tree_base = settle(server.pid, args.settle)
        t = time.monotonic()
        cpu0 = benchlib.cpu_snapshot(server.pid)
        more, errs2 = open_total(args.connections - args.baseline)
        join_cpu = benchlib.cpu_between(cpu0, benchlib.cpu_snapshot(server.pid))
        took = time.monotonic() - t
        for why, m in errs2.items():
            errors[why] = errors.get(why, 0) + m
        rss_full, tree_full = settle(server.pid, args.settle)
        total_open = still_open()
    finally:
        for pipe in pipes:
            with contextlib.suppress(OSError):
                pipe.send(("stop",))
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
        if server is not None:
            server.stop()
        if args.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    added = total_open - base_open
    per_conn = (rss_full - rss_base) / added / 1024 if added > 0 else float("nan")
    per_conn_tree = (tree_full - tree_base) / added / 1024 if added > 0 else float("nan")
    mib = 1024 * 1024
    print(
        f"   connections open                 {total_open} of {args.connections} "
        f"(baseline {base_open}, opened {more} more in {took:.1f} s)"
    )
    if more:
        print(
            f"   server CPU while opening them    {join_cpu:.2f} s, "
            f"{1000 * join_cpu / more:.2f} ms per join (process tree)"
        )
    for why, m in sorted(errors.items(), key=lambda kv: -kv[1])[:5]:
        print(f"   connect failures x{m}: {why}")
    for code, m in sorted(closed.items()):
        print(f"   closed by the server after opening x{m}: close code {code}")
    rows = [
        ("server RSS, no sockets", f"{rss_empty / mib:.1f} MiB"),
        (f"server RSS, {base_open} sockets", f"{rss_base / mib:.1f} MiB"),
        (
            f"server RSS, {total_open} sockets",
            f"{rss_full / mib:.1f} MiB (process tree {tree_full / mib:.1f} MiB)",
        ),
    ]
    for label, value in rows:
        print(f"   {label:<33}{value}")
    verdict = "meets" if per_conn < TARGET_KIB else "MISSES"
    print(
        f"   RSS growth per idle connection   {per_conn:.1f} KiB "
        f"({verdict} the {TARGET_KIB:.0f} KiB target)"
    )
    print(f"   the same, process tree           {per_conn_tree:.1f} KiB")
    if total_open < args.connections:
        sys.exit(1)


if __name__ == "__main__":
    main()
