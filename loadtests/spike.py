"""A 3x join spike on one process: do buyers' reserves stay fast, and is anyone admitted dropped?

One ``livecommerce serve`` process (its embedded Valkey, ``--secret`` of the script's so tokens
are minted here) runs a live room with a sale. ``--viewers`` (N) guest sockets sit in the room
(one client process); ``--buyers`` signed-in sockets (another) reserve one unit and release it
again at ``--rate`` reserves a second in all, and one chatter sends ``--chat-rate`` lines a
second; ``--baseline`` seconds of that, then the spike: 2N more guests join as fast as
``--concurrency`` handshakes at a time allow (a third client process). A joiner turned away
(close 4003 with ``retry_after``) waits the hint plus up to half again (jitter, as the viewer
page does) and tries again, until ``--deadline`` seconds after the spike began.

Reported per run: reserve latency (send to answer) p50 / p99 / max before the spike and during
its first ``--window`` seconds; joins admitted at once, turned away, admitted after a retry and
never admitted; the chat lines refused; admitted sockets the server dropped (the target is 0:
every baseline viewer, buyer and admitted joiner is still open at the end, none closed by the
server). The same run is made with shedding on and then with ``--no-shedding`` on a fresh
server, and the ratio of the two reserve p99s during the spike is printed.

    python loadtests/spike.py                       # N = 1500: 3,000 joins in the spike
    python loadtests/spike.py --viewers 500 --only on

Only loopback addresses are used; every wait has a deadline and the script stops itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import multiprocessing as mp
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib
from benchlib import WSConn, WSError

SUBPROTOCOL = "livecommerce.json"


def _dropped(conns: list[WSConn]) -> Counter[str]:
    """Sockets the server closed (or that were lost) while the run went on, by close code."""
    return Counter(str(c.close_code) for c in conns if c.closed.done())


# Baseline viewers -------------------------------------------------------------------------


def _viewer_message(conn: WSConn, payload: bytes) -> None:
    if not conn.ready.done():
        benchlib.lc_ready(conn, payload)
    conn.count += 1


async def _viewers(pipe: Connection, cfg: dict[str, Any]) -> None:
    url = f"{cfg['ws_url']}/ws/rooms/{cfg['room_id']}"
    conns, errors = await benchlib.open_many(
        [url] * cfg["viewers"], _viewer_message, SUBPROTOCOL, concurrency=64
    )
    pipe.send(("ready", len(conns), errors))
    await _recv(pipe, cfg["limit_s"])
    pipe.send(("done", {"dropped": dict(_dropped(conns)), "frames": sum(c.count for c in conns)}))
    for c in conns:
        c.close()


# Buyers and the chatter -------------------------------------------------------------------


class Buyer:
    def __init__(self, conn: WSConn) -> None:
        self.conn = conn
        self.sent_ns = 0
        self.ref = 0
        self.samples: list[tuple[float, int, str]] = []  # (sent at, latency ns, answer)


def _buyer_message(conn: WSConn, payload: bytes) -> None:
    if not conn.ready.done():
        benchlib.lc_ready(conn, payload)
        return
    buyer: Buyer | None = conn.state
    if buyer is None or b'"ref"' not in payload:
        return
    decoded = json.loads(payload)
    for event in decoded if isinstance(decoded, list) else [decoded]:
        ref = event.get("ref")
        if not isinstance(ref, str):
            continue
        if ref.startswith("r") and ref == f"r{buyer.ref}" and buyer.sent_ns:
            latency = time.time_ns() - buyer.sent_ns
            kind = event["type"] if event["type"] != "error" else event["code"]
            buyer.samples.append((buyer.sent_ns / 1e9, latency, kind))
            buyer.sent_ns = 0
            if event["type"] == "reservation":
                hold = event["reservation"]["id"]
                conn.send_text(json.dumps({"type": "release", "reservation_id": hold, "ref": "x"}))
        elif ref.startswith("c") and event["type"] == "error":
            conn.state.samples.append((time.time(), 0, "chat:" + event["code"]))


async def _buyers(pipe: Connection, cfg: dict[str, Any]) -> None:
    url = f"{cfg['ws_url']}/ws/rooms/{cfg['room_id']}?token="
    urls = [url + token for token in cfg["tokens"]]
    conns, errors = await benchlib.open_many(urls, _buyer_message, SUBPROTOCOL, concurrency=16)
    buyers = [Buyer(c) for c in conns]
    for b in buyers:
        b.conn.state = b
    *shoppers, chatter = buyers
    pipe.send(("ready", len(conns), errors))
    _, start, end = await _recv(pipe, cfg["limit_s"])
    await _sleep_until(start)
    every = 1.0 / cfg["rate"]
    chat_every = 1.0 / cfg["chat_rate"] if cfg["chat_rate"] else float("inf")
    next_chat = start
    turn = 0
    tick = start
    while time.time() < end:
        now = time.time()
        if now >= next_chat:
            chatter.ref += 1
            text = f"hello from the bench {chatter.ref}"
            chatter.conn.send_text(
                json.dumps({"type": "chat.send", "text": text, "ref": f"c{chatter.ref}"})
            )
            next_chat += chat_every
        buyer = shoppers[turn % len(shoppers)]
        turn += 1
        if not buyer.sent_ns:  # one reserve at a time per buyer; a slow answer skips a turn
            buyer.ref += 1
            buyer.sent_ns = time.time_ns()
            message = {
                "type": "reserve",
                "sale_id": cfg["sale_id"],
                "quantity": 1,
                "key": f"k{os.getpid()}-{id(buyer)}-{buyer.ref}",
                "ref": f"r{buyer.ref}",
            }
            buyer.conn.send_text(json.dumps(message))
        tick += every
        await asyncio.sleep(max(0.0, tick - time.time()))
    await asyncio.sleep(2.0)  # the last answers
    samples = [s for b in buyers for s in b.samples]
    pipe.send(("done", {"samples": samples, "dropped": dict(_dropped(conns))}))
    for c in conns:
        c.close()


# The spike --------------------------------------------------------------------------------


class Joiner:
    def __init__(self) -> None:
        self.refusals = 0
        self.refused_at: float | None = None
        self.hint: float | None = None
        self.admitted_at: float | None = None
        self.failures: Counter[str] = Counter()


def _spike_message(joiner: Joiner, conn: WSConn, payload: bytes) -> None:
    if conn.ready.done():
        conn.count += 1
        return
    if b"welcome" in payload:
        conn.ready.set_result(None)
        return
    with contextlib.suppress(ValueError, KeyError, TypeError):
        event = json.loads(payload)
        if event.get("code") == "overloaded":
            joiner.hint = float(event["retry_after"])
    conn.ready.set_exception(WSError(f"refused: {payload[:80]!r}"))


async def _spike(pipe: Connection, cfg: dict[str, Any]) -> None:
    url = f"{cfg['ws_url']}/ws/rooms/{cfg['room_id']}"
    sem = asyncio.Semaphore(cfg["concurrency"])
    admitted: list[WSConn] = []
    tokens = cfg["tokens"]
    joiners = [Joiner() for _ in tokens]
    pipe.send(("ready", 0, {}))
    _, start, deadline = await _recv(pipe, cfg["limit_s"])
    await _sleep_until(start)

    async def one(joiner: Joiner, token: str | None) -> None:
        where = f"{url}?token={token}" if token else url
        on_message = functools.partial(_spike_message, joiner)
        while time.time() < deadline:
            joiner.hint = None
            conn = None
            try:
                async with sem:
                    conn = await benchlib.ws_connect(where, on_message, SUBPROTOCOL, limit_s=10)
                    async with asyncio.timeout(10):
                        await conn.ready
                joiner.admitted_at = time.time()
                admitted.append(conn)
                return
            except (OSError, WSError, TimeoutError) as exc:
                if conn is not None:
                    benchlib._quiet(conn.ready)
                    conn.close()
                if joiner.hint is not None:
                    joiner.refusals += 1
                    joiner.refused_at = joiner.refused_at or time.time()
                    wait = joiner.hint * (1 + 0.5 * random.random())
                else:
                    joiner.failures[type(exc).__name__] += 1
                    wait = 0.5 + random.random()
                await asyncio.sleep(min(wait, max(0.0, deadline - time.time())))

    async with asyncio.TaskGroup() as tg:
        for joiner, token in zip(joiners, tokens, strict=True):
            tg.create_task(one(joiner, token))
    await _recv(pipe, cfg["limit_s"])
    failures: Counter[str] = Counter()
    for j in joiners:
        failures.update(j.failures)
    pipe.send(
        (
            "done",
            {
                "first_try": sum(1 for j in joiners if j.admitted_at and not j.refusals),
                "after_retry": sum(1 for j in joiners if j.admitted_at and j.refusals),
                "never": sum(1 for j in joiners if j.admitted_at is None),
                "refused": sum(1 for j in joiners if j.refusals),
                "refusals": sum(j.refusals for j in joiners),
                "failures": dict(failures),
                "refused_s": sorted(j.refused_at - start for j in joiners if j.refused_at),
                "admit_s": sorted(j.admitted_at - start for j in joiners if j.admitted_at),
                "dropped": dict(_dropped(admitted)),
            },
        )
    )
    for c in admitted:
        c.close()


# Plumbing ---------------------------------------------------------------------------------


async def _recv(pipe: Connection, wait_s: float) -> Any:
    deadline = time.monotonic() + wait_s
    while not pipe.poll():
        if time.monotonic() > deadline:
            raise TimeoutError("the benchmark's main process went quiet")
        await asyncio.sleep(0.05)
    return pipe.recv()


async def _sleep_until(t: float) -> None:
    await asyncio.sleep(max(0.0, t - time.time()))


def _entry(role: str, pipe: Connection, cfg: dict[str, Any]) -> None:
    benchlib.install_uvloop()
    benchlib.raise_nofile()
    main = {"viewers": _viewers, "buyers": _buyers, "spike": _spike}[role]
    asyncio.run(main(pipe, cfg))


def _spawn(role: str, cfg: dict[str, Any]) -> tuple[Connection, Any]:
    ctx = mp.get_context("spawn")
    ours, theirs = ctx.Pipe()
    proc = ctx.Process(target=_entry, args=(role, theirs, cfg), daemon=True)
    proc.start()
    return ours, proc


def _ready(pipe: Connection, what: str, wait_s: float) -> int:
    if not pipe.poll(wait_s):
        raise RuntimeError(f"the {what} did not connect in {wait_s:.0f} s")
    _, n, errors = pipe.recv()
    if errors:
        kinds: Counter[str] = Counter()
        for why, count in errors.items():
            kinds["overloaded" if "overloaded" in why else why[:60]] += count
        print(f"   {what}: joins that failed three times {dict(kinds)}")
    return int(n)


def _done(pipe: Connection, what: str, wait_s: float) -> dict[str, Any]:
    if not pipe.poll(wait_s):
        raise RuntimeError(f"the {what} did not report in {wait_s:.0f} s")
    result: dict[str, Any] = pipe.recv()[1]
    return result


PRESSURE_EVERY_S = 0.25


def _watch_pressure(server: benchlib.Server, until: float) -> tuple[list[float], list[float]]:
    """The server's smoothed loop lag, read from /metrics until ``until``, and the seconds it
    spent at each level (a saturated server answers /metrics late: readings are timed)."""
    names = ["livecommerce_loop_lag_seconds", "livecommerce_pressure_level"]
    lags: list[float] = []
    at_level = [0.0, 0.0, 0.0]
    last: tuple[float, int] | None = None
    while time.time() < until:
        with contextlib.suppress(OSError):
            read = benchlib.server_metrics(server, names)
            now = time.time()
            lags.append(read[names[0]])
            level = int(read[names[1]])
            if last is not None:
                at_level[max(last[1], level)] += now - last[0]
            last = (now, level)
        time.sleep(PRESSURE_EVERY_S)
    return lags, at_level


def _ms(latencies: list[int]) -> str:
    if not latencies:
        return "no samples"
    values = sorted(latencies)
    p50, p99 = benchlib.percentile(values, 0.5), benchlib.percentile(values, 0.99)
    return (
        f"p50 {p50 / 1e6:6.1f} ms  p99 {p99 / 1e6:6.1f} ms  max {values[-1] / 1e6:6.1f} ms"
        f"  ({len(values)} reserves)"
    )


def run(args: argparse.Namespace, shedding: bool) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="lc-spike-"))
    secret = "spike-bench-secret-" + os.urandom(8).hex()
    extra = [
        # Limits that run but never refuse ('0' for --limit-reserve divides by zero).
        "--secret", secret, "--log-level", "error", "--limit-reserve", "60000/10000",
        "--max-holds", "0", "--chat-rate", "1000", "--chat-burst", "1000",
        "--shedding" if shedding else "--no-shedding", *args.server_arg,
    ]  # fmt: skip
    server = benchlib.start_livecommerce(work, extra=extra)
    procs: list[Any] = []
    try:
        tag = os.urandom(3).hex()
        host = benchlib.mint(secret, f"u_spike_host_{tag}", "Spike host")
        body = {"title": "spike", "currency": "EUR", "locale": "en"}
        room = benchlib.api(server, "POST", "/rooms", host, body)
        benchlib.api(server, "POST", f"/rooms/{room['id']}/start", host)
        product = benchlib.api(server, "POST", "/products", host, {
            "sku": f"SPIKE-{tag}", "title": "Spike jumper", "price": 4900, "currency": "EUR",
            "stock": 100_000,
        })  # fmt: skip
        sale = benchlib.api(server, "POST", f"/rooms/{room['id']}/sales", host, {
            "product_id": product["id"], "price": 2900, "units": 100_000,
            "per_user_limit": 1, "duration_s": 600, "hold_s": 600,
        })  # fmt: skip
        tokens = [
            benchlib.mint(secret, f"u_spike_{tag}_{i}", f"Buyer {i}")
            for i in range(args.buyers + 1)
        ]
        limit_s = args.baseline + args.deadline + 120
        common = {"ws_url": server.ws_url, "room_id": room["id"], "limit_s": limit_s}
        viewers, p = _spawn("viewers", {**common, "viewers": args.viewers})
        procs.append(p)
        n_viewers = _ready(viewers, "viewers", 180)
        buyers, p = _spawn("buyers", {
            **common, "tokens": tokens, "sale_id": sale["id"], "rate": args.rate,
            "chat_rate": args.chat_rate,
        })  # fmt: skip
        procs.append(p)
        n_buyers = _ready(buyers, "buyers", 60)
        joiners = [
            benchlib.mint(secret, f"u_spike_{tag}_j{i}", f"Joiner {i}") if args.signed_in else None
            for i in range(2 * args.viewers)
        ]
        spike, p = _spawn("spike", {**common, "tokens": joiners, "concurrency": args.concurrency})
        procs.append(p)
        _ready(spike, "spike", 60)
        start = time.time() + 1.0
        spike_at = start + args.baseline
        end = spike_at + args.deadline
        buyers.send(("go", start, end))
        spike.send(("go", spike_at, end))
        cpu_before = benchlib.cpu_snapshot(server.pid) if server.pid else None
        lags, levels = _watch_pressure(server, end)
        spike.send(("stop",))
        viewers.send(("stop",))
        bought = _done(buyers, "buyers", 60)
        joined = _done(spike, "spike", 60)
        watched = _done(viewers, "viewers", 60)
        cpu = None
        if server.pid and cpu_before is not None:
            seconds = end - start
            cpu = benchlib.cpu_between(cpu_before, benchlib.cpu_snapshot(server.pid)) / seconds
        shed = benchlib.server_metrics(
            server,
            ['livecommerce_shed_total{what="join"}', 'livecommerce_shed_total{what="chat"}'],
        )
    finally:
        for p in procs:
            p.join(5)
            if p.is_alive():
                p.kill()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    samples = bought["samples"]
    reserves = [s for s in samples if not s[2].startswith("chat:")]
    before = [lat for at, lat, _ in reserves if at < spike_at]
    during = [lat for at, lat, _ in reserves if spike_at <= at < spike_at + args.window]
    answers = Counter(kind for _, _, kind in reserves)
    chat_refused = sum(1 for s in samples if s[2].startswith("chat:"))
    dropped = Counter(watched["dropped"]) + Counter(bought["dropped"]) + Counter(joined["dropped"])
    return {
        "shedding": shedding,
        "viewers": n_viewers,
        "buyers": n_buyers,
        "before": before,
        "during": during,
        "answers": dict(answers),
        "chat_refused": chat_refused,
        "joined": joined,
        "dropped": dict(dropped),
        "frames": watched["frames"],
        "cpu": cpu,
        "shed_joins": shed['livecommerce_shed_total{what="join"}'],
        "lag_max": max(lags, default=0.0),
        "shedding_s": levels[2],
        "busy_s": levels[1],
    }


def report(r: dict[str, Any], args: argparse.Namespace) -> None:
    j = r["joined"]
    admit = j["admit_s"]
    last = f"{admit[-1]:.1f} s" if admit else "-"
    half = f"{benchlib.percentile(admit, 0.5):.1f} s" if admit else "-"
    print(f"shedding {'on' if r['shedding'] else 'off'}: {r['viewers']:,} viewers,"
          f" {r['buyers'] - 1} buyers at {args.rate:g} reserves/s, 1 chatter at"
          f" {args.chat_rate:g} lines/s; spike of {2 * args.viewers:,} joins"
          f" ({args.concurrency} handshakes at a time)")  # fmt: skip
    print(f"   reserve before the spike:  {_ms(r['before'])}")
    print(f"   reserve during the spike:  {_ms(r['during'])}  (first {args.window:g} s)")
    print(f"   reserve answers: {r['answers']}")
    print(f"   joins: {j['first_try']:,} admitted at once, {j['refused']:,} turned away"
          f" ({j['refusals']:,} refusals, {r['shed_joins']:.0f} counted by the server),"
          f" {j['after_retry']:,} admitted after a retry, {j['never']:,} never admitted;"
          f" half in by {half}, the last at {last}")  # fmt: skip
    if j["refused_s"]:
        refused = j["refused_s"]
        print(f"   turned away between {refused[0]:.1f} s and {refused[-1]:.1f} s into the spike")
    if j["failures"]:
        print(f"   joins failed otherwise: {j['failures']}")
    print(f"   chat lines refused: {r['chat_refused']}")
    print(f"   loop lag (smoothed) at most {r['lag_max'] * 1000:.0f} ms; about"
          f" {r['busy_s']:.1f} s busy and {r['shedding_s']:.1f} s shedding")  # fmt: skip
    dropped = sum(r["dropped"].values())
    print(f"   admitted sockets dropped: {dropped} {r['dropped'] or ''}")
    if r["cpu"] is not None:
        print(f"   server CPU: {r['cpu']:.2f} cores over the run")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--viewers", type=int, default=1500, help="N: sockets in the room")
    parser.add_argument("--buyers", type=int, default=20, help="signed-in buyers reserving")
    parser.add_argument("--rate", type=float, default=20.0, help="reserves a second, in all")
    parser.add_argument("--chat-rate", type=float, default=5.0, help="chat lines a second")
    parser.add_argument("--baseline", type=float, default=5.0, help="seconds before the spike")
    parser.add_argument("--window", type=float, default=10.0, help="seconds measured as 'during'")
    parser.add_argument("--deadline", type=float, default=25.0, help="seconds joiners keep trying")
    parser.add_argument("--concurrency", type=int, default=512, help="spike handshakes at once")
    parser.add_argument(
        "--signed-in",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the spike's joiners are signed in (a join then reads their holds and bids)",
    )
    parser.add_argument("--rounds", type=int, default=1, help="on/off pairs, taking turns")
    parser.add_argument("--only", choices=("on", "off"), help="one run: shedding on or off")
    parser.add_argument(
        "--server-arg", action="append", default=[], help="for the server (repeatable)"
    )
    parser.add_argument(
        "--wait-quiet", type=float, default=0, help="wait (at most S s) for < 20 %% busy first"
    )
    args = parser.parse_args()
    benchlib.raise_nofile()
    if args.wait_quiet:
        print(f"machine busy before the run: {benchlib.wait_quiet(args.wait_quiet):.0f} %")
    print(benchlib.machine())
    p99s: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(args.rounds):  # on and off take turns: the machine's noise falls on both
        for shedding in (True, False):
            if args.only and args.only != ("on" if shedding else "off"):
                continue
            result = run(args, shedding)
            report(result, args)
            if result["during"]:
                p99s[shedding].append(benchlib.percentile(sorted(result["during"]), 0.99))
    if p99s[True] and p99s[False]:
        on, off = statistics.median(p99s[True]), statistics.median(p99s[False])
        print(f"reserve p99 during the spike (median of {args.rounds}): shedding on"
              f" {on / 1e6:.1f} ms, off {off / 1e6:.1f} ms; off / on {off / on:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
