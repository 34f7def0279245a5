"""Fan-out benchmark: one room, N viewers, M chat messages a second, delivery latency and CPU.

For each target (livecommerce, then the python-socketio peer in loadtests/socketio_server.py)
the driver starts the server, opens ``--viewers`` sockets spread over ``--procs`` client
processes (uvloop and the lean client in benchlib.py), opens the sender sockets in one more
process, then sends ``--rate`` chat messages a second room-wide: ``--warmup`` seconds that do
not count, then ``--duration`` seconds that do. Every chat text embeds time.time_ns() at
sending; every viewer takes its receive time for each message sent inside the window. Server
CPU (user+sys of the server's whole process tree, the embedded Valkey included) is read with
psutil at the start and end of the window.

    python loadtests/fanout.py                       # both targets, the defaults
    python loadtests/fanout.py --viewers 500 --duration 10 --targets socketio
    python loadtests/fanout.py --url http://127.0.0.1:8000 --server-pid 1234 --targets livecommerce
    python loadtests/fanout.py --analytics-ab 3 --wait-quiet 120   # show analytics' CPU cost

``--analytics-ab N`` runs livecommerce alone, 2N times, each on a fresh server: counting off,
on, off, on, ... The show has a pinned product and the viewers send ``--clicks`` product
clicks a second, so what is counted per event (chat lines, clicks) and per member (joins,
impressions, watch time) all runs; after each run the host reads the show's results, to show
the counting ran (and counted nothing when off). It reports every pair's server CPU and the
median overhead, on/off - 1.

Every loop has a deadline and only loopback addresses are accepted.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import json
import math
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib
import psutil
from benchlib import MARK, WSConn

SIO_ROOM = benchlib.SIO_ROOM
SIO_DEPLOYMENTS = {
    "aiohttp": 'async_mode="aiohttp" on aiohttp.web',
    "asgi": 'async_mode="asgi" under uvicorn (ws="auto")',
    "asgi-sansio": 'async_mode="asgi" under uvicorn (ws="websockets-sansio")',
    "asgi-wsproto": 'async_mode="asgi" under uvicorn (ws="wsproto")',
}


# Client processes ---------------------------------------------------------------------------

# Per process state, read by the hot callbacks (module globals are the cheapest lookups).
_T0 = 1 << 62  # window start and end in ns; nothing counts before "go"
_T1 = 0
_LAT = array.array("q")  # latencies in microseconds
_RECV = 0  # chat messages of any send time received inside the window: the throughput


def _count(conn: WSConn, payload: bytes) -> None:
    global _RECV
    now = time.time_ns()
    k = 0
    for m in MARK.finditer(payload):
        k += 1
        sent = int(m.group(1))
        if _T0 <= sent < _T1:
            _LAT.append((now - sent) // 1000)
            conn.count += 1
    if k and _T0 <= now < _T1:
        _RECV += k


def on_lc_viewer(conn: WSConn, payload: bytes) -> None:
    if not conn.ready.done():
        benchlib.lc_ready(conn, payload)
    _count(conn, payload)


def on_sio_viewer(conn: WSConn, payload: bytes) -> None:
    kind = payload[:2]
    if kind == b"42":
        _count(conn, payload)
    elif kind[:1] == b"2":
        conn.send_text(b"3")  # engine.io v4: the server pings, the client pongs
    elif kind == b"40":
        if not conn.ready.done():
            conn.ready.set_result(None)
    elif kind[:1] == b"0":
        conn.send_text(b'40{"room":"%s"}' % SIO_ROOM.encode())
    elif kind[:1] == b"1" or kind == b"41" or kind == b"44":
        conn.close()


def on_lc_sender(conn: WSConn, payload: bytes) -> None:
    import orjson

    if not conn.ready.done():
        benchlib.lc_ready(conn, payload)
    if b'"ack"' not in payload and b'"error"' not in payload:
        return
    value = orjson.loads(payload)
    for msg in value if isinstance(value, list) else [value]:
        kind = msg.get("type")
        if kind == "ack":
            conn.state["acks"].add(msg.get("ref"))
        elif kind == "error":
            code = str(msg.get("code"))
            conn.state["errors"][code] = conn.state["errors"].get(code, 0) + 1


def on_sio_sender(conn: WSConn, payload: bytes) -> None:
    on_sio_viewer(conn, payload)
    if payload.startswith(b'42["error"'):
        conn.state["errors"]["error"] = conn.state["errors"].get("error", 0) + 1


async def _recv(pipe: Connection, wait_s: float) -> Any:
    loop = asyncio.get_running_loop()
    ok = await loop.run_in_executor(None, pipe.poll, wait_s)
    if not ok:
        raise TimeoutError("the driver went quiet")
    return pipe.recv()


async def _sleep_until(t: float) -> None:
    delay = t - time.time()
    if delay > 0:
        await asyncio.sleep(delay)


async def _click(conns: list[WSConn], cfg: dict[str, Any], t_end: float) -> int:
    """``cfg["clicks"]`` product clicks a second (``track``), paced, from one socket after
    another, until ``t_end``; how many were sent."""
    click = {"type": "track", "kind": "product_click", "product_id": cfg["product_id"]}
    binary = cfg["subprotocol"] == "livecommerce.msgpack"
    if binary:
        import msgpack

        body: bytes = msgpack.packb(click)
    else:
        body = json.dumps(click).encode()
    interval = 1.0 / cfg["clicks"]
    start = time.time() + interval * cfg["offset"]  # the processes take turns
    i = 0
    while True:
        t_next = start + i * interval
        if t_next >= t_end:
            return i
        await _sleep_until(t_next)
        conn = conns[i % len(conns)]
        if binary:
            conn.send_binary(body)
        else:
            conn.send_text(body)
        i += 1


async def viewer_main(pipe: Connection, cfg: dict[str, Any]) -> None:
    global _T0, _T1
    handler = on_sio_viewer if cfg["kind"] == "socketio" else on_lc_viewer
    conns, errors = await benchlib.open_many(
        cfg["urls"], handler, cfg["subprotocol"], concurrency=cfg["concurrency"]
    )
    pipe.send(("connected", len(conns), errors))
    try:
        msg = await _recv(pipe, cfg["timeout"])
    except TimeoutError:
        msg = ("stop",)
    clicks = 0
    if msg[0] == "go":
        _, t0, t1, t_stop = msg
        _T0, _T1 = int(t0 * 1e9), int(t1 * 1e9)
        if cfg.get("clicks") and cfg.get("product_id") and conns:
            clicks = await _click(conns, cfg, t1)
        await _sleep_until(t_stop)
    codes: dict[str, int] = {}
    for c in conns:
        if c.closed.done():
            key = str(c.close_code)
            codes[key] = codes.get(key, 0) + 1
    pipe.send(
        (
            "result",
            {
                "viewers": len(conns),
                "per_conn": [c.count for c in conns],
                "closed": codes,
                "received_in_window": _RECV,
                "clicks_sent": clicks,
                "lat": _LAT.tobytes(),
            },
        )
    )
    for c in conns:
        c.close()
    await asyncio.sleep(0.2)


async def sender_main(pipe: Connection, cfg: dict[str, Any]) -> None:
    socketio = cfg["kind"] == "socketio"
    state: dict[str, Any] = {"acks": set(), "errors": {}}
    base = on_sio_sender if socketio else on_lc_sender

    def handler(conn: WSConn, payload: bytes) -> None:
        conn.state = state  # before the first reply can arrive
        base(conn, payload)

    conns, errors = await benchlib.open_many(
        cfg["urls"], handler, "livecommerce.json" if not socketio else None
    )
    pipe.send(("connected", len(conns), errors))
    try:
        msg = await _recv(pipe, cfg["timeout"])
    except TimeoutError:
        msg = ("stop",)
    result: dict[str, Any] = {"senders": len(conns), "sent": 0, "sent_window": 0}
    if msg[0] == "go" and conns:
        _, t_warm, t0, t1, t_stop, rate = msg
        t0_ns, t1_ns = int(t0 * 1e9), int(t1 * 1e9)
        interval = 1.0 / rate
        window_refs: set[int] = set()
        i = 0
        late = 0.0
        while True:
            t_next = t_warm + i * interval
            if t_next >= t1:
                break
            now = time.time()
            if t_next > now:
                await asyncio.sleep(t_next - now)
            else:
                late = max(late, now - t_next)
            conn = conns[i % len(conns)]
            text = benchlib.mark_text(i, i % len(conns))
            sent_ns = int(text[3 : text.index(" ")])
            if socketio:
                conn.send_text(b'42["chat",%s]' % json.dumps({"text": text}).encode())
            else:
                conn.send_text(json.dumps({"type": "chat.send", "text": text, "ref": i}))
            if t0_ns <= sent_ns < t1_ns:
                window_refs.add(i)
            i += 1
        await _sleep_until(t_stop)
        result["sent"] = i
        result["sent_window"] = len(window_refs)
        result["max_late_ms"] = round(late * 1000, 1)
        if not socketio:
            result["acked_window"] = len(window_refs & state["acks"])
            result["acked"] = len(state["acks"])
        result["errors"] = state["errors"]
    pipe.send(("result", result))
    for c in conns:
        c.close()
    await asyncio.sleep(0.2)


def worker(role: str, pipe: Connection, cfg: dict[str, Any]) -> None:
    benchlib.raise_nofile()
    benchlib.install_uvloop()
    main = viewer_main if role == "viewer" else sender_main
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(pipe, cfg))


# The driver -----------------------------------------------------------------------------------


@dataclass
class Setup:
    viewer_urls: list[str]
    sender_urls: list[str]
    subprotocol: str | None
    notes: list[str] = field(default_factory=list)
    room_id: str = ""
    host_token: str = ""
    product_id: str = ""  # pinned, for the viewers' clicks


def start_livecommerce(
    args: argparse.Namespace, work: Path, analytics: bool | None = None
) -> benchlib.Server:
    if args.url:
        return benchlib.attach_livecommerce(args.url, args.server_pid)
    extra = list(args.server_arg)
    if args.chat_rate:
        extra += ["--chat-rate", str(args.chat_rate), "--chat-burst", str(args.chat_burst)]
    if analytics is not None:
        extra.append("--analytics" if analytics else "--no-analytics")
    return benchlib.start_livecommerce(work, args.redis_url, extra)


def setup_livecommerce(server: benchlib.Server, args: argparse.Namespace) -> Setup:
    room_id, host, tokens = benchlib.livecommerce_show(server, args.senders)
    base = f"{server.ws_url}/ws/rooms/{room_id}"
    sub = f"livecommerce.{args.subprotocol}"
    if args.analytics_ab:
        # a guest page sends its own random visitor id: the show counts unique viewers by it
        viewers = [f"{base}?visitor={os.urandom(8).hex()}" for _ in range(args.viewers)]
    else:
        viewers = [base] * args.viewers  # guests: watching needs no token
    notes = [f"room {room_id}, viewers are guests on {sub}, {len(tokens)} signed-in senders"]
    product_id = ""
    if args.clicks:
        product = benchlib.api(server, "POST", "/products", host, {
            "sku": f"FAN-{os.urandom(3).hex()}", "title": "Fan-out jumper", "price": 4900,
            "currency": "EUR", "stock": 100,
        })  # fmt: skip
        product_id = str(product["id"])
        benchlib.api(server, "PUT", f"/rooms/{room_id}/pin", host, {"product_id": product_id})
        notes.append(f"product {product_id} pinned; viewers click it {args.clicks:g} times/s")
    return Setup(
        viewers,
        [f"{base}?token={t}" for t in tokens],
        sub,
        notes,
        room_id=room_id,
        host_token=host,
        product_id=product_id,
    )


COUNTED = ("chat_lines", "chatters", "unique_viewers", "views", "peak_viewers", "clicks",
           "impressions", "watch_time_s")  # fmt: skip


def show_counts(server: benchlib.Server, setup: Setup) -> dict[str, Any]:
    """What the server counted of the show: its results as the host reads them, and this
    process's Prometheus counter of chat lines (0 when nothing was counted)."""
    assert server.http_url is not None
    status, answer = benchlib.http_json(
        "GET", f"{server.http_url}/api/v1/rooms/{setup.room_id}/results", token=setup.host_token
    )
    out: dict[str, Any] = {"results_status": status}
    if status == 200:
        out.update({k: answer["summary"].get(k) for k in COUNTED})
    else:
        out["results_error"] = str(answer)[:200]
    metric = 'livecommerce_show_counts_total{figure="chat_lines"}'
    try:
        out["metric_chat_lines"] = benchlib.server_metrics(server, [metric])[metric]
    except OSError as exc:
        out["metric_chat_lines"] = None
        out["metric_error"] = str(exc)[:200]
    return out


def start_socketio(args: argparse.Namespace, work: Path) -> benchlib.Server:
    return benchlib.start_socketio(work, args.socketio_mode)


def setup_socketio(server: benchlib.Server, args: argparse.Namespace) -> Setup:
    url = benchlib.socketio_url(server)
    return Setup(
        [url] * args.viewers,
        [url] * args.senders,
        None,
        [
            f"python-socketio {benchlib.version('python-socketio')} AsyncServer, "
            f"{SIO_DEPLOYMENTS[args.socketio_mode]}; clients: raw engine.io v4 over WebSocket"
        ],
    )


def run_target(
    name: str, args: argparse.Namespace, work: Path, analytics: bool | None = None, pair: int = 0
) -> dict[str, Any]:
    """One run against a fresh server; ``analytics`` True or False starts livecommerce with
    ``--analytics`` or ``--no-analytics`` (None: its default), ``pair`` numbers an A/B pair."""
    label = name if analytics is None else f"{name}, analytics {'on' if analytics else 'off'}"
    if pair:
        label += f", pair {pair}"
    print(f"\n== {label}: starting", flush=True)
    busy_before = None
    if args.wait_quiet:
        busy_before = benchlib.wait_quiet(args.wait_quiet)
        print(f"   machine busy before this target: {busy_before:.0f} %", flush=True)
    if pair:  # a fresh data directory too: no run inherits another's Valkey data
        work = work / f"{'on' if analytics else 'off'}{pair}"
        work.mkdir()
    server = (
        start_livecommerce(args, work, analytics)
        if name == "livecommerce"
        else start_socketio(args, work)
    )
    ctx = mp.get_context("spawn")
    procs: list[Any] = []
    try:
        setup = (
            setup_livecommerce(server, args)
            if name == "livecommerce"
            else setup_socketio(server, args)
        )
        for note in setup.notes:
            print(f"   {note}", flush=True)
        timeout = 120.0 + args.warmup + args.duration + args.drain
        pipes: list[Connection] = []
        shares = [
            args.viewers // args.procs + (i < args.viewers % args.procs) for i in range(args.procs)
        ]
        start = 0
        for share in shares:
            urls = setup.viewer_urls[start : start + share]
            start += share
            mine, theirs = ctx.Pipe()
            cfg = {
                "kind": name,
                "urls": urls,
                "subprotocol": setup.subprotocol,
                "concurrency": args.concurrency,
                "timeout": timeout,
                "clicks": args.clicks / args.procs,
                "product_id": setup.product_id,
                "offset": len(pipes) / args.procs,
            }
            p = ctx.Process(target=worker, args=("viewer", theirs, cfg), daemon=True)
            p.start()
            procs.append(p)
            pipes.append(mine)
        mine, theirs = ctx.Pipe()
        scfg = {"kind": name, "urls": setup.sender_urls, "timeout": timeout}
        sp = ctx.Process(target=worker, args=("sender", theirs, scfg), daemon=True)
        sp.start()
        procs.append(sp)
        pipes.append(mine)

        t_conn = time.time()
        hello = benchlib.collect(pipes, "connected", time.time() + 60 + args.viewers / 20)
        connected = sum(h[1] for h in hello[:-1])
        errors: dict[str, int] = {}
        for h in hello:
            for k, v in h[2].items():
                errors[k] = errors.get(k, 0) + v
        print(
            f"   viewers connected {connected}/{args.viewers} in {time.time() - t_conn:.1f} s, "
            f"senders {hello[-1][1]}/{len(setup.sender_urls)}",
            flush=True,
        )
        for k, v in sorted(errors.items(), key=lambda kv: -kv[1])[:5]:
            print(f"   connect failures x{v}: {k}", flush=True)

        time.sleep(1.0)  # let the joins settle (viewer counts, welcome snapshots)
        rss_before = benchlib.rss_tree(server.pid) if server.pid else None
        t_warm = time.time() + 0.5
        t0 = t_warm + args.warmup
        t1 = t0 + args.duration
        t_stop = t1 + args.drain
        for pipe in pipes[:-1]:
            pipe.send(("go", t0, t1, t_stop))
        pipes[-1].send(("go", t_warm, t0, t1, t_stop, args.rate))
        client_pids = [p.pid for p in procs if p.pid]
        print(
            f"   sending {args.rate}/s: {args.warmup:g} s warm-up, {args.duration:g} s measured",
            flush=True,
        )
        time.sleep(max(0.0, t0 - time.time()))
        spy = None
        if args.py_spy and server.pid:
            ext = {"flamegraph": "svg", "raw": "txt", "speedscope": "json"}[args.py_spy_format]
            tag = name if analytics is None else f"{name}-{'on' if analytics else 'off'}{pair}"
            spy_out = Path(f"{args.py_spy}-{tag}.{ext}").resolve()
            spy = subprocess.Popen(
                ["py-spy", "record", "-p", str(server.pid), "-d", str(int(args.duration)),
                 "-r", "100", "-f", args.py_spy_format, "-o", str(spy_out), "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            print(f"   py-spy records the server into {spy_out} (its sampling adds noise)")
        srv0 = benchlib.cpu_snapshot(server.pid) if server.pid else {}
        cli0 = {pid: sum(psutil.Process(pid).cpu_times()[:2]) for pid in client_pids}
        sys0 = psutil.cpu_times()
        all0 = benchlib.all_cpu()
        time.sleep(max(0.0, t1 - time.time()))
        srv1 = benchlib.cpu_snapshot(server.pid) if server.pid else {}
        cli1 = {pid: sum(psutil.Process(pid).cpu_times()[:2]) for pid in client_pids}
        sys1 = psutil.cpu_times()
        all1 = benchlib.all_cpu()
        rss = benchlib.rss_tree(server.pid) if server.pid else None
        names = {}
        if server.pid:
            for proc in benchlib.tree(server.pid):
                with contextlib.suppress(psutil.Error):
                    names[proc.pid] = proc.name()
        results = benchlib.collect(pipes, "result", t_stop + 60)
        counted = show_counts(server, setup) if setup.host_token else None
        if spy is not None:
            try:
                spy.wait(timeout=30)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait(timeout=5)
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
        server.stop()

    viewers = [r[1] for r in results[:-1]]
    sender = results[-1][1]
    lat: list[int] = []
    for v in viewers:
        a = array.array("q")
        a.frombytes(v["lat"])
        lat.extend(a)
    lat.sort()
    per_conn = [c for v in viewers for c in v["per_conn"]]
    closed: dict[str, int] = {}
    for v in viewers:
        for k, n in v["closed"].items():
            closed[k] = closed.get(k, 0) + n
    busy0 = sys0.user + sys0.system + getattr(sys0, "softirq", 0) + getattr(sys0, "irq", 0)
    busy1 = sys1.user + sys1.system + getattr(sys1, "softirq", 0) + getattr(sys1, "irq", 0)
    cpu = benchlib.cpu_between(srv0, srv1) if server.pid else None
    by_name: dict[str, float] = {}
    for pid, v in srv1.items():
        key = names.get(pid, str(pid))
        by_name[key] = by_name.get(key, 0.0) + v - srv0.get(pid, 0.0)
    deliveries = len(lat)
    received = sum(v["received_in_window"] for v in viewers)
    accepted = sender.get("acked_window", sender.get("sent_window", 0))
    out = {
        "target": name,
        "label": label,
        "analytics": None if analytics is None else ("on" if analytics else "off"),
        "pair": pair,
        "busy_before_pct": busy_before,
        "counted": counted,
        "clicks_sent": sum(v.get("clicks_sent", 0) for v in viewers),
        "sent_total": sender.get("sent", 0),
        "acked_total": sender.get("acked"),
        "notes": setup.notes,
        "viewers_requested": args.viewers,
        "viewers": sum(v["viewers"] for v in viewers),
        "senders": sender.get("senders", 0),
        "rate": args.rate,
        "duration_s": args.duration,
        "drain_s": args.drain,
        "sent": sender.get("sent_window", 0),
        "accepted": accepted,
        "sender_errors": sender.get("errors", {}),
        "sender_max_late_ms": sender.get("max_late_ms"),
        "deliveries": deliveries,
        "expected": accepted * sum(v["viewers"] for v in viewers),
        "per_viewer_min": min(per_conn) if per_conn else 0,
        "per_viewer_max": max(per_conn) if per_conn else 0,
        "closed_during_run": closed,
        "received_in_window": received,
        "deliveries_per_s": received / args.duration,
        "p50_ms": benchlib.percentile(lat, 0.50) / 1000,
        "p90_ms": benchlib.percentile(lat, 0.90) / 1000,
        "p99_ms": benchlib.percentile(lat, 0.99) / 1000,
        "max_ms": (lat[-1] / 1000) if lat else float("nan"),
        "server_cpu_s": cpu,
        "server_cpu_by_process": {k: round(v, 2) for k, v in by_name.items()},
        "server_cores": (cpu / args.duration) if cpu is not None else None,
        "cpu_s_per_100k": (cpu / received * 1e5) if cpu and received else None,
        "deliveries_per_cpu_s": (received / cpu) if cpu else None,
        "rss_before_mib": rss_before["main"] / 2**20 if rss_before else None,
        "rss_mib": rss["main"] / 2**20 if rss else None,
        "rss_tree_mib": rss["tree"] / 2**20 if rss else None,
        "client_cpu_s": sum(cli1[p] - cli0[p] for p in client_pids),
        "machine_busy_pct": 100 * (busy1 - busy0) / (args.duration * (os.cpu_count() or 1)),
    }
    # CPU neither the server nor the clients used: the kernel's share of loopback traffic,
    # this driver, and whatever else runs on a shared machine (the noise to report)
    out["other_cores"] = (busy1 - busy0 - (cpu or 0.0) - out["client_cpu_s"]) / args.duration
    ours = {os.getpid(), *client_pids, *srv1}
    out["other_top"] = [
        (n, round(c, 2)) for n, c in benchlib.top_others(all0, all1, ours) if c >= 0.2
    ]
    out["kept_up"] = bool(out["expected"]) and deliveries >= 0.99 * out["expected"]
    report(out)
    return out


def _f(v: Any, fmt: str = ".1f") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return format(v, fmt)


def report(r: dict[str, Any]) -> None:
    print(f"-- {r['label']} --")
    lines = [
        ("viewers connected", f"{r['viewers']} of {r['viewers_requested']}"),
        ("senders", str(r["senders"])),
        ("messages sent (window)", f"{r['sent']} (accepted {r['accepted']})"),
        ("sender errors", json.dumps(r["sender_errors"]) if r["sender_errors"] else "none"),
        ("deliveries of window messages", f"{r['deliveries']} of {r['expected']} expected"),
        ("deliveries received in window", str(r["received_in_window"])),
        ("per viewer min/max", f"{r['per_viewer_min']} / {r['per_viewer_max']}"),
        ("sockets closed during run", json.dumps(r["closed_during_run"]) or "none"),
        ("deliveries per second", _f(r["deliveries_per_s"], ".0f")),
        (
            "latency p50 / p90 / p99 / max ms",
            " / ".join(_f(r[k]) for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms")),
        ),
        (
            "server CPU s (window)",
            f"{_f(r['server_cpu_s'], '.2f')} = {_f(r['server_cores'], '.2f')}"
            f" cores {json.dumps(r['server_cpu_by_process'])}",
        ),
        ("server CPU s per 100k deliveries", _f(r["cpu_s_per_100k"], ".3f")),
        ("deliveries per server CPU s", _f(r["deliveries_per_cpu_s"], ".0f")),
        (
            "server RSS MiB (main / tree)",
            f"{_f(r['rss_mib'])} / {_f(r['rss_tree_mib'])} (before load {_f(r['rss_before_mib'])})",
        ),
        ("client CPU s (window)", _f(r["client_cpu_s"], ".2f")),
        ("machine busy %", _f(r["machine_busy_pct"], ".0f")),
        ("other CPU (kernel, driver, others)", _f(r["other_cores"], ".2f") + " cores"),
    ]
    for name, cpu_s in r["other_top"]:
        lines.append(("  of which (CPU s)", f"{cpu_s:.2f} {name}"))
    if r["counted"] is not None:
        lines.append(("show counted (results, whole run)", counted_line(r)))
    for k, v in lines:
        print(f"   {k:<34} {v}")
    if not r["kept_up"]:
        share = r["deliveries"] / r["expected"] if r["expected"] else 0.0
        print(
            f"   NOT KEEPING UP: {100 * share:.1f} % of the window's messages reached the viewers "
            f"within {r['drain_s']:g} s after it; the server is saturated and its backlog grows, "
            "so its latency is unbounded; deliveries per CPU second is then its ceiling"
        )
    sys.stdout.flush()


def counted_line(r: dict[str, Any]) -> str:
    c = r["counted"]
    if c.get("results_status") != 200:
        return f"results answered {c.get('results_status')}: {c.get('results_error')}"
    return (
        f"chat lines {c['chat_lines']} of {r['acked_total']} acked "
        f"(metric {_f(c['metric_chat_lines'], '.0f')}), chatters {c['chatters']}, "
        f"unique viewers {c['unique_viewers']}, views {c['views']}, peak {c['peak_viewers']}, "
        f"clicks {c['clicks']} of {r['clicks_sent']} sent, impressions {c['impressions']}, "
        f"watch {c['watch_time_s']} s"
    )


def _median(values: list[float]) -> float:
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:+.1f} %"


def report_ab(runs: list[dict[str, Any]], target_pct: float = 5.0) -> dict[str, Any]:
    """Every off/on pair's server CPU and the overhead of counting, on/off - 1; the median."""
    print("\n== show analytics: server CPU with the counting off and on, fresh server each ==")
    pairs: dict[int, dict[str, dict[str, Any]]] = {}
    for r in runs:
        pairs.setdefault(r["pair"], {})[r["analytics"]] = r
    head = (
        f"   {'pair':<5}{'CPU s/100k off':>15}{'on':>8}{'overhead':>10}"
        f"{'cores off':>11}{'on':>6}{'p99 ms off':>12}{'on':>8}"
        f"{'other cores off':>17}{'on':>6}{'busy % off':>12}{'on':>5}"
    )
    print(head)
    overheads: list[float] = []
    rows = []
    for n in sorted(pairs):
        off, on = pairs[n].get("off"), pairs[n].get("on")
        if off is None or on is None:
            print(f"   {n:<5}incomplete (a run failed)")
            continue
        a, b = off["cpu_s_per_100k"], on["cpu_s_per_100k"]
        overhead = (b / a - 1) if a and b else None
        if overhead is not None:
            overheads.append(overhead)
        rows.append({"pair": n, "off": a, "on": b, "overhead": overhead})

        def p99(r: dict[str, Any]) -> str:
            return _f(r["p99_ms"]) if r["kept_up"] else "satur."

        print(
            f"   {n:<5}{_f(a, '.3f'):>15}{_f(b, '.3f'):>8}{_pct(overhead):>10}"
            f"{_f(off['server_cores'], '.2f'):>11}{_f(on['server_cores'], '.2f'):>6}"
            f"{p99(off):>12}{p99(on):>8}"
            f"{_f(off['other_cores'], '.2f'):>17}{_f(on['other_cores'], '.2f'):>6}"
            f"{_f(off['busy_before_pct'], '.0f'):>12}{_f(on['busy_before_pct'], '.0f'):>5}"
        )
    summary: dict[str, Any] = {"pairs": rows}
    if overheads:
        med = _median(overheads)
        offs = [r["off"] for r in rows if r["overhead"] is not None]
        ons = [r["on"] for r in rows if r["overhead"] is not None]
        pooled = sum(ons) / sum(offs) - 1
        summary.update(median=med, pooled=pooled, low=min(overheads), high=max(overheads))
        verdict = "met" if med < target_pct / 100 else "NOT MET"
        print(
            f"   median overhead {_pct(med)} (target < {target_pct:g} %: {verdict}); "
            f"pairs from {_pct(min(overheads))} to {_pct(max(overheads))}; "
            f"pooled (sum on / sum off - 1) {_pct(pooled)}"
        )
        p99s = {k: [r["p99_ms"] for r in runs if r["analytics"] == k and r["kept_up"]]
                for k in ("off", "on")}  # fmt: skip
        print(
            "   median p99 ms off / on: "
            + " / ".join(_f(_median(v) if v else None) for v in p99s.values())
        )
    for r in runs:
        if r["counted"] is not None:
            print(f"   counted, {r['label']}: {counted_line(r)}")
    sys.stdout.flush()
    return summary


def compare(a: dict[str, Any], b: dict[str, Any]) -> None:
    print("\n== comparison (same load, one after the other) ==")
    rows = [
        ("viewers", "viewers", "d"),
        ("deliveries/s", "deliveries_per_s", ".0f"),
        ("p50 ms", "p50_ms", ".1f"),
        ("p99 ms", "p99_ms", ".1f"),
        ("server CPU cores", "server_cores", ".2f"),
        ("CPU s / 100k deliveries", "cpu_s_per_100k", ".3f"),
        ("deliveries / CPU s", "deliveries_per_cpu_s", ".0f"),
        ("server RSS MiB", "rss_mib", ".1f"),
    ]
    print(f"   {'':<26}{a['target']:>14}{b['target']:>14}")
    for label, key, fmt in rows:
        cells = []
        for r in (a, b):
            if key in ("p50_ms", "p99_ms") and not r["kept_up"]:
                cells.append("saturated")
            else:
                cells.append(_f(r[key], fmt))
        print(f"   {label:<26}{cells[0]:>14}{cells[1]:>14}")
    if a["deliveries_per_cpu_s"] and b["deliveries_per_cpu_s"]:
        ratio = a["deliveries_per_cpu_s"] / b["deliveries_per_cpu_s"]
        print(
            f"   deliveries per CPU second, {a['target']} / {b['target']}: {ratio:.2f}x"
            " (target >= 5x at 2,000 viewers and 100 msgs/s)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Fan-out benchmark: livecommerce against python-socketio.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--viewers", type=int, default=2000)
    parser.add_argument("--procs", type=int, default=4, help="viewer client processes")
    parser.add_argument("--rate", type=float, default=100.0, help="chat messages/s room-wide")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of load before")
    parser.add_argument("--drain", type=float, default=3.0, help="seconds to wait for stragglers")
    parser.add_argument(
        "--senders",
        type=int,
        default=0,
        help="sender accounts (0: 10 with --chat-rate, else enough for 5/10 s)",
    )
    parser.add_argument("--targets", default="livecommerce,socketio")
    parser.add_argument("--subprotocol", choices=("json", "msgpack"), default="json")
    parser.add_argument(
        "--socketio-mode", choices=tuple(benchlib.SOCKETIO_MODES), default="aiohttp"
    )
    parser.add_argument("--concurrency", type=int, default=32, help="handshakes at a time/proc")
    parser.add_argument("--url", help="use a running livecommerce (http URL) instead")
    parser.add_argument("--server-pid", type=int, help="its pid, for CPU and RSS")
    parser.add_argument("--redis-url", help="passed to livecommerce serve")
    parser.add_argument(
        "--chat-rate",
        type=float,
        default=None,
        help="passed to livecommerce serve (default: auto when supported)",
    )
    parser.add_argument("--chat-burst", type=int, default=None)
    parser.add_argument(
        "--server-arg",
        action="append",
        default=[],
        help="extra argument for livecommerce serve (repeatable)",
    )
    parser.add_argument("--json-out", help="write the results as JSON here")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="S",
        help="before each target, wait up to S seconds for the machine to be < 20%% busy",
    )
    parser.add_argument(
        "--py-spy",
        metavar="PREFIX",
        help="profile each server over the window into PREFIX-<target>.<ext> (pip install py-spy)",
    )
    parser.add_argument(
        "--py-spy-format", choices=("flamegraph", "raw", "speedscope"), default="flamegraph"
    )
    parser.add_argument(
        "--analytics-ab",
        type=int,
        default=0,
        metavar="N",
        help="livecommerce alone, N pairs of fresh servers with show analytics off then on",
    )
    parser.add_argument(
        "--clicks",
        type=float,
        default=None,
        help="product clicks/s room-wide on a pinned product (default: 10 with --analytics-ab)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory and logs")
    args = parser.parse_args()
    if args.clicks is None:
        args.clicks = 10.0 if args.analytics_ab else 0.0
    if args.analytics_ab:
        if args.url:
            parser.error("--analytics-ab starts its own servers: no --url")
        if not 1 <= args.analytics_ab <= 10:
            parser.error("--analytics-ab: 1 to 10 pairs")
        args.targets = "livecommerce"
        if not benchlib.lc_supports("--no-analytics"):
            parser.error("this livecommerce has no --no-analytics")
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    for t in targets:
        if t not in ("livecommerce", "socketio"):
            parser.error(f"unknown target {t!r}")
    if args.duration > 120 or args.warmup > 60:
        parser.error("keep runs short: --duration <= 120, --warmup <= 60")

    auto = "livecommerce" in targets and not args.url and args.chat_rate is None
    if auto and benchlib.lc_supports("--chat-rate"):
        args.senders = args.senders or 10
        args.chat_rate = math.ceil(2 * args.rate / args.senders)
        args.chat_burst = args.chat_burst or max(10, args.chat_rate)
    if args.senders <= 0 and "livecommerce" not in targets:
        args.senders = 10
    if args.senders <= 0:
        # the default limit is 5 messages per 10 s per user: stay under 80 % of it
        args.senders = math.ceil(args.rate / (0.5 * 0.8))
    if args.chat_rate is not None and args.chat_burst is None:
        args.chat_burst = max(10, math.ceil(args.chat_rate))

    nofile = benchlib.raise_nofile()
    need = args.viewers // max(1, args.procs) + args.senders + 100
    if nofile < need:
        sys.exit(f"RLIMIT_NOFILE is {nofile}; raise it (ulimit -n {need * 2})")
    print(f"fan-out benchmark {time.strftime('%Y-%m-%d %H:%M:%S %z')}")
    print(f"machine: {benchlib.machine()}")
    idle = psutil.cpu_percent(interval=1.0)
    print(f"machine busy before the run: {idle:.0f} % of all cores (over 1 s)")
    if idle > 15:
        print("   WARNING: the machine is busy; latency and CPU figures will be noisy")
    print(
        f"load: {args.viewers} viewers in {args.procs} client processes, {args.rate:g} msgs/s "
        f"from {args.senders} senders, {args.warmup:g} s warm-up + {args.duration:g} s measured; "
        f"client: raw RFC 6455 on uvloop (loadtests/benchlib.py)"
    )
    if args.chat_rate:
        print(
            f"livecommerce chat limit raised: --chat-rate {args.chat_rate} --chat-burst "
            f"{args.chat_burst}"
        )
    work = Path(tempfile.mkdtemp(prefix="lc-fanout-"))
    results = []
    runs: list[tuple[str, bool | None, int]] = [(t, None, 0) for t in targets]
    if args.analytics_ab:
        print(f"show analytics A/B: {args.analytics_ab} pairs, off then on, a fresh server each")
        runs = [
            ("livecommerce", on, n) for n in range(1, args.analytics_ab + 1) for on in (False, True)
        ]
    try:
        for t, analytics, pair in runs:
            try:
                results.append(run_target(t, args, work, analytics, pair))
            except (RuntimeError, TimeoutError, OSError) as exc:
                print(f"!! {t} failed: {exc}", flush=True)
                for log in work.rglob("*.log"):
                    if t in log.name:
                        print(f"   last lines of {log}:\n{log.read_text(errors='replace')[-2000:]}")
    finally:
        if not args.keep:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work directory kept: {work}")
    ab = report_ab(results) if args.analytics_ab else None
    if len(results) == 2 and not args.analytics_ab:
        compare(results[0], results[1])
    if args.json_out:
        Path(args.json_out).write_text(
            json.dumps(
                {
                    "args": vars(args),
                    "machine": benchlib.machine(),
                    "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
                    "results": results,
                    "analytics_ab": ab,
                },
                indent=2,
            )
        )
    if len(results) != len(runs):
        sys.exit(1)


if __name__ == "__main__":
    main()
