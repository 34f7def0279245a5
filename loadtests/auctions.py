"""Live auctions under load: a bidding frenzy on two processes, and a bid's way to every viewer.

Both parts run against two ``livecommerce serve`` processes on one Valkey that the script
starts (``EmbeddedValkey``: append-only, fsync every second, as the server runs it), each
server with a ``--secret`` of the script's so bidders' tokens are minted here (no sign-ups),
and ``--limit-bid`` raised so the per-account limit runs in the script but never refuses (the
default, 120 a minute with bursts of 20, caps a bidder at 30 bids in a 5 s frenzy and would
measure the limit, not the engine).

``frenzy``: first the ceiling: ``redis-benchmark`` runs ``auction_bid.lua`` by EVALSHA on the
same Valkey (one bid per call, ``-c`` 50, no pipelining, as engine.py measures
``sale_reserve``) on a lot of its own where every call is a new bidder whose max (10^12, the
largest amount) ties the leader's: every call is taken as the runner-up's bid and takes the
script's full path (rate step, idempotency, price, bid log, maxes, the lot written back, the
room event appended and published). Then ``--bidders`` (1,000) signed-in sockets, half on
each process, from ``--bidder-procs`` client processes (niced, as the rush's buyers), wait in
a room until its host starts a lot of ``--lot-s`` seconds (5, sudden death: its last 5 s).
Every bidder who is not leading bids the ``next_bid`` they last saw (from ``auction.bid``,
``outbid`` or a ``bid_too_low`` refusal), at once, and again whenever they see a higher one;
``--max-share`` of them (10 %) bid a max one to five steps above it instead of one tap. Reported:
bid attempts and accepted bids a second over the lot's life, the answers by kind, what went
through the script (the servers' ``livecommerce_bid_batch_size``: bids, script calls, bids
per call), that against the ceiling (target: >= 50 %), bid reply latency (send to answer)
p50 / p99 / max, and CPU per server process, Valkey and clients over the lot's life.

``watch``: ``--viewers`` (2,000) guest sockets, half on each process, in ``--viewer-procs``
(4) client processes; ``--watchers`` (4) signed-in bidders in one more process take turns to
bid the lot's ``next_bid`` at ``--rate`` bids a second (10): ``--warmup`` seconds (5) that do
not count, then ``--duration`` (20) that do. A one-tap bid of ``next_bid`` that is taken
makes the price exactly its amount, so each viewer's first ``auction.bid`` whose ``amount``
is at least the bid's carries it (a batch of bids is told as one event with the price after
its last). Reported: bid-to-viewer latency p50 / p99 / max over every (bid, viewer) pair,
from the instant the bidder sent it to the instant the viewer's client read it (target: p99
< 150 ms), deliveries missing, where the time goes (the bidder's own answer; each bid's
first and last viewer), and CPU per server process.

    python loadtests/auctions.py                  # the ceiling, the frenzy, then watch
    python loadtests/auctions.py frenzy --wait-quiet 60
    python loadtests/auctions.py watch --viewers 500 --duration 10

Only loopback addresses are used; every wait has a deadline and the script stops itself.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import gc
import multiprocessing as mp
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import benchlib
import orjson
import psutil
import redis
from benchlib import Server, WSConn, percentile

from livecommerce.auctions.rules import Increments
from livecommerce.config import Settings
from livecommerce.currencies import AMOUNT_MAX
from livecommerce.store import keys
from livecommerce.store.embedded import EmbeddedValkey
from livecommerce.store.limits import Limit
from livecommerce.store.scripts import source

BATCH = ("livecommerce_bid_batch_size_count", "livecommerce_bid_batch_size_sum")


# Clients: a bidder in the frenzy ----------------------------------------------------------


@dataclass(slots=True)
class Bidder:
    """One person's view of the lot and their one bid in flight (a page sends one at a time)."""

    id: str
    jumps: bool  # bids a max a few steps above next_bid instead of one tap
    next: int = 0  # the least they have seen the lot take
    step: int = 0  # the increment they last saw (next_bid over the price, one event)
    last: int = 0  # what they bid last: they bid again once they see more than it
    leading: bool = False
    ref: int = 0
    sent_at: int = 0  # ns, 0: nothing in flight
    resume_at: int = 0  # ns, after a rate_limited
    done: bool = False


@dataclass
class FrenzyCounts:
    """Per client process: attempts, answers and latencies of bids sent in the lot's life."""

    t0: int = 1 << 62  # the lot's start and end, ns
    t1: int = 0
    auction_id: str = ""
    running: bool = False
    sent: int = 0
    sent_window: int = 0
    answers: dict[str, int] = field(default_factory=dict)
    answers_window: dict[str, int] = field(default_factory=dict)
    lat: array.array[int] = field(default_factory=lambda: array.array("q"))


_F = FrenzyCounts()


def _send_bid(conn: WSConn, b: Bidder) -> None:
    now = time.time_ns()
    amount = b.next
    if b.jumps:  # one to five steps more
        amount += (b.step or max(1, b.next // 20)) * random.randint(1, 5)
    b.ref += 1
    b.last = amount
    b.sent_at = now
    conn.send_text(
        f'{{"type":"bid","auction_id":"{_F.auction_id}","amount":{amount},'
        f'"key":"k{b.ref}","ref":{b.ref}}}'
    )
    _F.sent += 1
    if _F.t0 <= now < _F.t1:
        _F.sent_window += 1


def _maybe_bid(conn: WSConn, b: Bidder) -> None:
    """Bid when not leading, nothing in flight, and a price above their last bid is shown."""
    if not _F.running or b.done or b.leading or b.sent_at or b.next <= b.last:
        return
    wait_ns = b.resume_at - time.time_ns()
    if wait_ns > 0:
        asyncio.get_running_loop().call_later(wait_ns / 1e9, _maybe_bid, conn, b)
        return
    _send_bid(conn, b)


def _answered(b: Bidder, event: dict[str, Any], now: int) -> None:
    kind = event["type"]
    if kind == "bid.accepted":
        b.leading = bool(event["leading"])
    else:
        kind = str(event.get("code"))
        if kind == "bid_too_low":
            b.next = max(b.next, int(event.get("next_bid") or 0))
        elif kind == "auction_not_active":
            b.done = True
        elif kind == "rate_limited":
            b.resume_at = now + int(float(event.get("retry_after") or 1) * 1e9)
            b.last = 0
    _F.answers[kind] = _F.answers.get(kind, 0) + 1
    if _F.t0 <= b.sent_at < _F.t1:
        _F.answers_window[kind] = _F.answers_window.get(kind, 0) + 1
        _F.lat.append((now - b.sent_at) // 1000)
    b.sent_at = 0


def on_bidder(conn: WSConn, payload: bytes) -> None:
    if not conn.ready.done():
        benchlib.lc_ready(conn, payload)
        return
    b: Bidder | None = conn.state
    if b is None or (b"auction.bid" not in payload and b'"ref"' not in payload
                     and b"outbid" not in payload):  # fmt: skip
        return
    now = time.time_ns()
    value = orjson.loads(payload)
    for event in value if isinstance(value, list) else [value]:
        kind = event.get("type")
        if kind == "auction.bid":
            b.next = max(b.next, int(event["next_bid"]))
            b.step = int(event["next_bid"]) - int(event["amount"])
            if b.leading and (event.get("bidder") or {}).get("id") != b.id:
                b.leading = False
        elif kind == "outbid":
            b.leading = False
            b.next = max(b.next, int(event["next_bid"]))
        elif b.sent_at and event.get("ref") == b.ref:
            _answered(b, event, now)
    _maybe_bid(conn, b)


async def _frenzy_client(pipe: Connection, cfg: dict[str, Any]) -> None:
    benchlib.raise_nofile()
    users: dict[str, str] = {}  # token -> bidder id: sockets open in no particular order
    urls = []
    for user, ws in cfg["bidders"]:
        token = benchlib.mint(cfg["secret"], user, user[-12:])
        users[token] = user
        urls.append(f"{ws}/ws/rooms/{cfg['room_id']}?token={token}")
    conns, errors = await benchlib.open_many(urls, on_bidder, "livecommerce.json", concurrency=32)
    pipe.send(("connected", len(conns), errors))
    loop = asyncio.get_running_loop()
    if not await loop.run_in_executor(None, pipe.poll, 300):
        return
    msg = pipe.recv()
    if msg[0] != "go":
        return
    _, auction_id, next_bid, starts_at, ends_at, stop_at = msg
    _F.auction_id = auction_id
    _F.t0, _F.t1 = starts_at * 1_000_000, ends_at * 1_000_000
    rng = random.Random(cfg["seed"])
    for c in conns:
        user = users[c.path.rpartition("token=")[2]]
        c.state = Bidder(user, jumps=rng.random() < cfg["max_share"], next=next_bid)
    cpu0 = time.process_time()
    gc.collect()
    gc.freeze()
    gc.disable()  # its pauses would be charged to the server (see engine.py's rush)
    _F.running = True
    for c in conns:
        loop.call_later(rng.uniform(0, cfg["ramp_s"]), _maybe_bid, c, c.state)
    await asyncio.sleep(max(0.0, stop_at - time.time()))
    _F.running = False
    cpu = time.process_time() - cpu0
    gc.enable()
    pipe.send(("result", {
        "bidders": len(conns), "jumpers": sum(c.state.jumps for c in conns),
        "sent": _F.sent, "sent_window": _F.sent_window, "answers": _F.answers,
        "answers_window": _F.answers_window, "lat": _F.lat.tobytes(), "cpu": cpu,
        "in_flight": sum(1 for c in conns if c.state.sent_at),
        "closed": sum(1 for c in conns if c.closed.done()),
    }))  # fmt: skip
    for c in conns:
        c.close()
    await asyncio.sleep(0.2)


def _frenzy_entry(pipe: Connection, cfg: dict[str, Any]) -> None:
    # The bidders' phones are not on the server's machine: here they yield it the CPU.
    os.nice(cfg["nice"])
    benchlib.install_uvloop()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_frenzy_client(pipe, cfg))


# Clients: viewers and steady bidders ------------------------------------------------------


def on_viewer(conn: WSConn, payload: bytes) -> None:
    """Note each ``auction.bid``'s price and when it was read; matched with the bids later."""
    if not conn.ready.done():
        benchlib.lc_ready(conn, payload)
        return
    if b"auction.bid" not in payload:
        return
    now = time.time_ns()
    value = orjson.loads(payload)
    amounts, seen = conn.state
    for event in value if isinstance(value, list) else [value]:
        if event.get("type") == "auction.bid":
            amounts.append(int(event["amount"]))
            seen.append(now)


def match(amounts: array.array[int], seen: array.array[int], bids: list[tuple[int, int]]) -> Any:
    """Latency (us) of each bid (amount, sent ns; amounts rising) at one viewer, -1 where it
    never saw it: a bid reached it with the first event whose price is at least its amount
    (a batch of bids is told once, with the price after its last)."""
    lat = array.array("q")
    j = 0
    for amount, sent in bids:
        while j < len(amounts) and amounts[j] < amount:
            j += 1
        lat.append(-1 if j == len(amounts) else (seen[j] - sent) // 1000)
    return lat


async def _viewer_client(pipe: Connection, cfg: dict[str, Any]) -> None:
    benchlib.raise_nofile()

    def ready(conn: WSConn, payload: bytes) -> None:
        if conn.state is None:
            conn.state = (array.array("q"), array.array("q"))
        on_viewer(conn, payload)

    conns, errors = await benchlib.open_many(
        cfg["urls"], ready, "livecommerce.json", concurrency=32
    )
    pipe.send(("connected", len(conns), errors))
    loop = asyncio.get_running_loop()
    if not await loop.run_in_executor(None, pipe.poll, cfg["timeout"]):
        return
    msg = pipe.recv()
    if msg[0] != "match":
        return
    bids: list[tuple[int, int]] = msg[1]
    lat = array.array("q")
    first = [1 << 62] * len(bids)  # per bid, its first and last viewer in this process
    last = [-1] * len(bids)
    for c in conns:
        amounts, seen = c.state
        for k, us in enumerate(match(amounts, seen, bids)):
            if us >= 0:
                lat.append(us)
                first[k] = min(first[k], us)
                last[k] = max(last[k], us)
    closed = sum(1 for c in conns if c.closed.done())
    pipe.send(("result", {"viewers": len(conns), "lat": lat.tobytes(), "first": first,
                          "last": last, "closed": closed}))  # fmt: skip
    for c in conns:
        c.close()
    await asyncio.sleep(0.2)


@dataclass
class Steady:
    """The steady bidders' shared view: they take turns, each bidding what the room shows."""

    next: int = 0
    leader: str = ""
    refs: dict[int, tuple[int, int, str]] = field(default_factory=dict)  # ref -> amount, ns, who
    taken: list[tuple[int, int]] = field(default_factory=list)  # amount, sent ns
    replies: list[int] = field(default_factory=list)  # us from sending to bid.accepted
    refused: dict[str, int] = field(default_factory=dict)


_S = Steady()


def on_steady(conn: WSConn, payload: bytes) -> None:
    if not conn.ready.done():
        benchlib.lc_ready(conn, payload)
        return
    if b"auction.bid" not in payload and b'"ref"' not in payload:
        return
    value = orjson.loads(payload)
    for event in value if isinstance(value, list) else [value]:
        kind = event.get("type")
        if kind == "auction.bid":
            _S.next = max(_S.next, int(event["next_bid"]))
            _S.leader = (event.get("bidder") or {}).get("id", "")
            continue
        sent = _S.refs.pop(event.get("ref", -1), None)
        if sent is None:
            continue
        amount, sent_ns, who = sent
        if kind == "bid.accepted":
            _S.taken.append((amount, sent_ns))
            _S.replies.append((time.time_ns() - sent_ns) // 1000)
            if event["leading"]:
                _S.leader = who
        else:
            code = str(event.get("code"))
            _S.refused[code] = _S.refused.get(code, 0) + 1
            if code == "bid_too_low":  # the next turn bids what it says
                _S.next = max(_S.next, int(event.get("next_bid") or 0))


async def _steady_client(pipe: Connection, cfg: dict[str, Any]) -> None:
    benchlib.raise_nofile()
    conns, errors = await benchlib.open_many(cfg["urls"], on_steady, "livecommerce.json")
    ids = {}
    for c in conns:
        token = c.path.rpartition("token=")[2]
        ids[id(c)] = cfg["ids"][token]
    pipe.send(("connected", len(conns), errors))
    loop = asyncio.get_running_loop()
    if not await loop.run_in_executor(None, pipe.poll, cfg["timeout"]):
        return
    msg = pipe.recv()
    if msg[0] != "go" or not conns:
        return
    _, auction_id, next_bid, t_start, t0, t1, rate = msg
    _S.next = next_bid
    ref = 0

    def send(conn: WSConn) -> None:
        nonlocal ref
        ref += 1
        now = time.time_ns()
        _S.refs[ref] = (_S.next, now, ids[id(conn)])
        conn.send_text(
            f'{{"type":"bid","auction_id":"{auction_id}","amount":{_S.next},'
            f'"key":"w{ref}","ref":{ref}}}'
        )

    i = 0
    sent_window = 0
    while True:
        at = t_start + i / rate
        if at >= t1:
            break
        await asyncio.sleep(max(0.0, at - time.time()))
        turn = [c for c in conns if ids[id(c)] != _S.leader]
        send(turn[i % len(turn)])
        if t0 <= time.time() < t1:
            sent_window += 1
        i += 1
    await asyncio.sleep(max(0.0, t1 + 1.0 - time.time()))  # the last answers
    t0_ns, t1_ns = int(t0 * 1e9), int(t1 * 1e9)
    taken = sorted((a, t) for a, t in _S.taken if t0_ns <= t < t1_ns)
    pipe.send(("result", {"bidders": len(conns), "sent": ref, "sent_window": sent_window,
                          "taken": taken, "refused": _S.refused,
                          "replies": sorted(_S.replies)}))  # fmt: skip
    for c in conns:
        c.close()
    await asyncio.sleep(0.2)


def _watch_entry(role: str, pipe: Connection, cfg: dict[str, Any]) -> None:
    os.nice(cfg.get("nice", 0))
    benchlib.install_uvloop()
    main = _viewer_client if role == "viewer" else _steady_client
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(pipe, cfg))


# The driver: servers and lots -------------------------------------------------------------


@dataclass
class Cluster:
    """Two server processes on one Valkey, and a host's token for the lots."""

    valkey: EmbeddedValkey
    servers: list[Server]
    secret: str
    tag: str
    host: str

    def pids(self) -> dict[str, int]:
        """The processes whose CPU is reported, by name."""
        out = {f"server {s.name}": s.pid for s in self.servers if s.pid}
        if self.valkey.process is not None:
            out["valkey"] = self.valkey.process.pid
        return out

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        self.valkey.stop()


def start_cluster(work: Path, args: argparse.Namespace) -> Cluster:
    valkey = EmbeddedValkey(work / "valkey")
    valkey.start()
    secret = f"auction-bench-{os.urandom(16).hex()}"
    extra = ["--secret", secret, "--log-level", "warning", "--limit-bid", args.limit_bid]
    extra += args.server_arg
    servers: list[Server] = []
    try:
        for name in ("a", "b"):
            (work / name).mkdir()
            server = benchlib.start_livecommerce(work / name, valkey.url, extra)
            server.name = name
            servers.append(server)
    except BaseException:
        for server in servers:
            server.stop()
        valkey.stop()
        raise
    tag = os.urandom(3).hex()
    host = benchlib.mint(secret, f"u_host_{tag}", "Auction host")
    return Cluster(valkey, servers, secret, tag, host)


def lot_room(cluster: Cluster, title: str) -> tuple[str, str]:
    """A live room of the host's and a product with the one unit a lot takes."""
    a = cluster.servers[0]
    body = {"title": title, "currency": "EUR", "locale": "en"}
    room = benchlib.api(a, "POST", "/rooms", cluster.host, body)
    benchlib.api(a, "POST", f"/rooms/{room['id']}/start", cluster.host)
    product = benchlib.api(a, "POST", "/products", cluster.host, {
        "sku": f"LOT-{title}-{cluster.tag}", "title": f"{title} lot", "price": 4900,
        "currency": "EUR", "stock": 1,
    })  # fmt: skip
    return str(room["id"]), str(product["id"])


def start_lot(
    cluster: Cluster, room_id: str, product_id: str, duration_s: int, mode: str, starting: int
) -> dict[str, Any]:
    return dict(benchlib.api(cluster.servers[0], "POST", f"/rooms/{room_id}/auctions",
                             cluster.host, {
        "product_id": product_id, "starting_bid": starting, "duration_s": duration_s,
        "mode": mode, "start": True,
    }))  # fmt: skip


def ceiling(cluster: Cluster, args: argparse.Namespace) -> benchlib.Ceiling | None:
    """redis-benchmark on ``auction_bid.lua``: every call one bid, each taken (see the top)."""
    room_id, product_id = lot_room(cluster, "ceiling")
    lot = start_lot(cluster, room_id, product_id, 300, "standard", args.starting_bid)
    settings = Settings()
    limit = Limit.parse("bid", args.limit_bid)
    rate = (limit.interval_ms, limit.burst) if limit.per_minute else (0, 1)
    lot_keys = [  # as AuctionStore.bid_many sends them, for a batch of one
        *keys.auction(room_id, lot["id"]), keys.room(room_id), keys.room_seq(room_id),
        keys.room_events(room_id), keys.room_bans(room_id),
        keys.room_bid_rate(room_id, "u__rand_int__"),
    ]  # fmt: skip
    argv = [
        str(int(time.time() * 1000)), Increments.parse(settings.auction_increments).spec(),
        keys.room_channel(room_id), str(settings.stream_max_len), str(rate[0]), str(rate[1]),
        "u__rand_int__", "Bench bidder", str(AMOUNT_MAX), "k__rand_int__",
    ]  # fmt: skip
    client = redis.Redis.from_url(cluster.valkey.url)
    try:
        sha = str(client.script_load(source("auction_bid")))
        found = benchlib.redis_benchmark_evalsha(
            cluster.valkey.url, sha, lot_keys, argv, args.bench_requests, args.bench_clients
        )
        taken = int(client.hget(keys.auction_hash(room_id, lot["id"]), "bids") or 0)
    finally:
        client.close()
    if found is not None:
        print(
            f"ceiling: redis-benchmark EVALSHA auction_bid, {args.bench_requests:,} calls of one"
            f" bid, -c {args.bench_clients} -P 1: {found.rate:,.0f} calls/s; latency p50"
            f" {found.p50_ms} ms, p99 {found.p99_ms} ms; bids taken {taken:,}"
        )
    return found


def evalsha_calls(cluster: Cluster) -> int:
    client = redis.Redis.from_url(cluster.valkey.url)
    try:
        stats: dict[str, Any] = client.info("commandstats")
    finally:
        client.close()
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


@dataclass
class Reading:
    """CPU seconds by process name, the servers' batch counters and Valkey's EVALSHA calls."""

    at: float
    cpu: dict[str, float]
    batches: dict[str, dict[str, float]]
    evalsha: int

    @classmethod
    def take(cls, cluster: Cluster) -> Reading:
        cpu = {
            name: sum(benchlib.cpu_snapshot(pid).values()) for name, pid in cluster.pids().items()
        }
        batches = {s.name: benchlib.server_metrics(s, BATCH) for s in cluster.servers}
        return cls(time.time(), cpu, batches, evalsha_calls(cluster))

    def since(self, before: Reading) -> tuple[float, dict[str, float], list[tuple[float, float]]]:
        """Seconds between, CPU used by name, (script calls, bids) by server."""
        cpu = {k: v - before.cpu.get(k, 0.0) for k, v in self.cpu.items()}
        batches = [
            tuple(self.batches[s][k] - before.batches[s][k] for k in BATCH)
            for s in sorted(self.batches)
        ]
        return self.at - before.at, cpu, [(b[0], b[1]) for b in batches]


def _spawn(target: Any, *args: Any) -> tuple[Connection, Any]:
    ours, theirs = mp.get_context("spawn").Pipe()
    proc = mp.get_context("spawn").Process(target=target, args=(*args[:-1], theirs, args[-1]),
                                           daemon=True)  # fmt: skip
    proc.start()
    return ours, proc


def _connected(pipes: list[Connection], wanted: int, what: str) -> int:
    hello = benchlib.collect(pipes, "connected", time.time() + 120 + wanted / 20)
    errors: dict[str, int] = {}
    for h in hello:
        for k, v in h[2].items():
            errors[k] = errors.get(k, 0) + v
    for k, v in sorted(errors.items(), key=lambda kv: -kv[1])[:5]:
        print(f"   {what} join failures x{v}: {k}")
    return sum(h[1] for h in hello)


def _cores(cpu: dict[str, float], seconds: float) -> str:
    return ", ".join(f"{k} {v:.2f} s = {v / seconds:.2f} cores" for k, v in sorted(cpu.items()))


def _ms(lat: list[int]) -> str:
    if not lat:
        return "n/a"
    return (
        f"p50 {percentile(lat, 0.5) / 1000:.1f} ms, p99 {percentile(lat, 0.99) / 1000:.1f} ms,"
        f" max {lat[-1] / 1000:.1f} ms"
    )


# The driver: the two parts ----------------------------------------------------------------


def frenzy(cluster: Cluster, args: argparse.Namespace, found: benchlib.Ceiling | None) -> None:
    room_id, product_id = lot_room(cluster, "frenzy")
    users = [
        (f"u_bid_{cluster.tag}_{i}", cluster.servers[i % 2].ws_url) for i in range(args.bidders)
    ]
    n = args.bidder_procs
    clients = [
        _spawn(_frenzy_entry, {
            "room_id": room_id, "secret": cluster.secret, "seed": k,
            "bidders": users[k * len(users) // n : (k + 1) * len(users) // n],
            "max_share": args.max_share, "ramp_s": args.ramp, "nice": args.client_nice,
        })
        for k in range(n)
    ]  # fmt: skip
    pipes = [pipe for pipe, _ in clients]
    try:
        connected = _connected(pipes, args.bidders, "bidder")
        print(f"frenzy: {connected:,} of {args.bidders:,} bidders in the room, alternating"
              f" between the two processes, from {n} client processes")  # fmt: skip
        time.sleep(1.0)
        spy = None
        if args.py_spy and cluster.servers[0].pid:
            out = Path(f"{args.py_spy}-frenzy-a.txt").resolve()
            spy = benchlib.py_spy(cluster.servers[0].pid, args.lot_s, out)
            print(f"   py-spy records server a into {out}")
        before = Reading.take(cluster)
        lot = start_lot(cluster, room_id, product_id, args.lot_s, "sudden_death",
                        args.starting_bid)  # fmt: skip
        stop_at = lot["ends_at"] / 1000 + args.drain
        for pipe in pipes:
            pipe.send(("go", lot["id"], lot["next_bid"], lot["starts_at"], lot["ends_at"], stop_at))
        time.sleep(max(0.0, lot["ends_at"] / 1000 - time.time()))
        after = Reading.take(cluster)
        results = [r[1] for r in benchlib.collect(pipes, "result", stop_at + 60)]
        if spy is not None:
            spy.wait(30)
    finally:
        for _, proc in clients:
            proc.join(10)
            if proc.is_alive():
                proc.terminate()
    deadline = time.time() + 10
    final = benchlib.api(cluster.servers[1], "GET", f"/auctions/{lot['id']}", cluster.host)
    while final["state"] != "ended" and time.time() < deadline:
        time.sleep(0.2)
        final = benchlib.api(cluster.servers[1], "GET", f"/auctions/{lot['id']}", cluster.host)

    window = (lot["ends_at"] - lot["starts_at"]) / 1000
    seconds, cpu, batches = after.since(before)
    answers: dict[str, int] = {}
    answers_window: dict[str, int] = {}
    for r in results:
        for k, v in r["answers"].items():
            answers[k] = answers.get(k, 0) + v
        for k, v in r["answers_window"].items():
            answers_window[k] = answers_window.get(k, 0) + v
    lat: list[int] = []
    for r in results:
        a = array.array("q")
        a.frombytes(r["lat"])
        lat.extend(a)
    lat.sort()
    sent = sum(r["sent_window"] for r in results)
    accepted = answers_window.get("bid.accepted", 0)
    calls = sum(c for c, _ in batches)
    bids = sum(b for _, b in batches)
    print(
        f"   lot of {window:g} s (sudden death), starting bid {args.starting_bid};"
        f" {sum(r['jumpers'] for r in results)} bidders bid a max, the rest one tap"
    )
    print(
        f"   bid attempts in the lot's life: {sent:,} = {sent / window:,.0f}/s;"
        f" accepted {accepted:,} = {accepted / window:,.0f}/s"
    )
    print(f"   answers to those: {dict(sorted(answers_window.items()))};"
          f" all answers {dict(sorted(answers.items()))}")  # fmt: skip
    per = "; ".join(
        f"process {s.name}: {b:,.0f} bids in {c:,.0f} calls"
        for s, (c, b) in zip(cluster.servers, batches, strict=True)
    )
    print(f"   through the script (livecommerce_bid_batch_size): {bids:,.0f} bids = "
          f"{bids / seconds:,.0f}/s in {calls:,.0f} calls = {bids / max(calls, 1):.1f} bids"
          f" per call ({per}); Valkey EVALSHA calls, every script:"
          f" {after.evalsha - before.evalsha:,}")  # fmt: skip
    if found is not None:
        ratio = bids / seconds / found.rate
        print(f"   bids through the script / ceiling: {ratio:.0%} (target >= 50 %:"
              f" {'met' if ratio >= 0.5 else 'NOT met'}); script calls / ceiling:"
              f" {calls / seconds / found.rate:.0%}")  # fmt: skip
    print(f"   bid reply latency (send to answer): {_ms(lat)}")
    print(
        f"   CPU over {seconds:.2f} s: {_cores(cpu, seconds)};"
        f" clients {sum(r['cpu'] for r in results):.2f} s"
    )
    result = final.get("result") or {}
    print(f"   lot after: {final['state']}, {final['bids']:,} bids (accepted answers"
          f" {answers.get('bid.accepted', 0):,}), price {final['current_bid']:,},"
          f" {result.get('reason')} to {(result.get('winner') or {}).get('name')};"
          f" bidders still waiting for an answer {sum(r['in_flight'] for r in results)},"
          f" sockets closed {sum(r['closed'] for r in results)}")  # fmt: skip


def watch(cluster: Cluster, args: argparse.Namespace) -> None:
    room_id, product_id = lot_room(cluster, "watch")
    servers = cluster.servers
    viewers = [f"{servers[i % 2].ws_url}/ws/rooms/{room_id}" for i in range(args.viewers)]
    ids: dict[str, str] = {}
    bidder_urls = []
    for i in range(args.watchers):
        user = f"u_watch_{cluster.tag}_{i}"
        token = benchlib.mint(cluster.secret, user, f"Bidder {i}")
        ids[token] = user
        bidder_urls.append(f"{servers[i % 2].ws_url}/ws/rooms/{room_id}?token={token}")
    timeout = 120 + args.warmup + args.duration + args.drain
    n = args.viewer_procs
    clients = [
        _spawn(_watch_entry, "viewer", {
            "urls": viewers[k * len(viewers) // n : (k + 1) * len(viewers) // n],
            "timeout": timeout, "nice": args.viewer_nice,
        })
        for k in range(n)
    ]  # fmt: skip
    clients.append(
        _spawn(_watch_entry, "steady", {"urls": bidder_urls, "ids": ids, "timeout": timeout})
    )
    pipes = [pipe for pipe, _ in clients]
    try:
        connected = _connected(pipes[:-1], args.viewers, "viewer")
        bidders = _connected(pipes[-1:], args.watchers, "bidder")
        print(f"watch: {connected:,} of {args.viewers:,} viewers (guests, alternating between"
              f" the processes) in {n} client processes; {bidders} bidders take turns at"
              f" {args.rate:g} bids/s; {args.warmup:g} s warm-up, {args.duration:g} s"
              " measured")  # fmt: skip
        time.sleep(1.0)
        lot_s = min(300, int(args.warmup + args.duration + args.drain + 15))
        lot = start_lot(cluster, room_id, product_id, lot_s, "sudden_death", args.starting_bid)
        t_start = time.time() + 0.2
        t0 = t_start + args.warmup
        t1 = t0 + args.duration
        pipes[-1].send(("go", lot["id"], lot["next_bid"], t_start, t0, t1, args.rate))
        time.sleep(max(0.0, t0 - time.time()))
        spy = None
        if args.py_spy and servers[0].pid:
            out = Path(f"{args.py_spy}-watch-a.txt").resolve()
            spy = benchlib.py_spy(servers[0].pid, args.duration, out)
            print(f"   py-spy records server a into {out}")
        before = Reading.take(cluster)
        time.sleep(max(0.0, t1 - time.time()))
        after = Reading.take(cluster)
        steady = benchlib.collect(pipes[-1:], "result", t1 + 30)[0][1]
        time.sleep(args.drain)
        taken = steady["taken"]
        for pipe in pipes[:-1]:
            pipe.send(("match", taken))
        results = [r[1] for r in benchlib.collect(pipes[:-1], "result", time.time() + 120)]
        if spy is not None:
            spy.wait(30)
    finally:
        for _, proc in clients:
            proc.join(10)
            if proc.is_alive():
                proc.terminate()
    seconds, cpu, batches = after.since(before)
    lat: list[int] = []
    for r in results:
        a = array.array("q")
        a.frombytes(r["lat"])
        lat.extend(a)
    lat.sort()
    watching = sum(r["viewers"] for r in results)
    missing = len(taken) * watching - len(lat)
    seen_by = [
        (min(r["first"][k] for r in results), max(r["last"][k] for r in results))
        for k in range(len(taken))
    ]
    first = sorted(f for f, _ in seen_by if f < 1 << 62)
    last = sorted(t for _, t in seen_by if t >= 0)
    p99 = percentile(lat, 0.99) / 1000
    print(f"   bids sent in the window {steady['sent_window']:,}, taken {len(taken):,};"
          f" refused over the run {steady['refused'] or 'none'}")  # fmt: skip
    print(
        f"   bid to every viewer: {len(lat):,} deliveries of {len(taken) * watching:,}"
        f" expected, missing {missing:,}; {_ms(lat)}"
        f" (target p99 < 150 ms: {'met' if lat and p99 < 150 else 'NOT met'})"
    )
    print(
        f"   where the time goes: the bidder's answer {_ms(steady['replies'])}; each bid's"
        f" first viewer {_ms(first)}; its last viewer {_ms(last)}"
    )
    calls = sum(c for c, _ in batches)
    print(
        f"   script calls {calls:,.0f} for {sum(b for _, b in batches):,.0f} bids;"
        f" sockets closed during the run {sum(r['closed'] for r in results)}"
    )
    print(f"   CPU over {seconds:.2f} s: {_cores(cpu, seconds)}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("part", nargs="?", choices=("all", "frenzy", "watch"), default="all")
    parser.add_argument("--bidders", type=int, default=1000, help="frenzy: bidder sockets")
    parser.add_argument("--bidder-procs", type=int, default=2, help="frenzy: client processes")
    parser.add_argument("--lot-s", type=int, default=5, help="frenzy: the lot's length (5-300)")
    parser.add_argument("--max-share", type=float, default=0.1, help="frenzy: bidders with a max")
    parser.add_argument("--ramp", type=float, default=0.2, help="frenzy: first bids within S s")
    parser.add_argument("--client-nice", type=int, default=10, help="frenzy: client niceness")
    parser.add_argument("--bench-requests", type=int, default=100_000, help="redis-benchmark -n")
    parser.add_argument("--bench-clients", type=int, default=50, help="redis-benchmark -c")
    parser.add_argument("--viewers", type=int, default=2000, help="watch: guest sockets")
    parser.add_argument("--viewer-procs", type=int, default=4, help="watch: client processes")
    parser.add_argument(
        "--viewer-nice", type=int, default=0, help="watch: niceness of the viewers' processes"
    )
    parser.add_argument("--watchers", type=int, default=4, help="watch: bidders taking turns")
    parser.add_argument("--rate", type=float, default=10.0, help="watch: bids a second")
    parser.add_argument("--warmup", type=float, default=5.0, help="watch: seconds not counted")
    parser.add_argument("--duration", type=float, default=20.0, help="watch: seconds measured")
    parser.add_argument("--drain", type=float, default=2.0, help="seconds for the last answers")
    parser.add_argument("--starting-bid", type=int, default=100, help="minor units (EUR)")
    parser.add_argument(
        "--limit-bid", default="60000/10000", help="the servers' --limit-bid (runs, never refuses)"
    )
    parser.add_argument(
        "--server-arg", action="append", default=[], help="for both servers (repeatable)"
    )
    parser.add_argument(
        "--py-spy", metavar="PREFIX", help="profile server a into PREFIX-<part>-a.txt"
    )
    parser.add_argument(
        "--wait-quiet", type=float, default=0, help="wait (at most S s) for < 20 %% busy first"
    )
    args = parser.parse_args()
    if not 5 <= args.lot_s <= 300:
        parser.error("--lot-s is 5 to 300, as a lot's duration_s")
    if args.bidders > 5000 or args.viewers > 10_000 or args.duration > 120 or args.warmup > 60:
        parser.error("keep it bounded: --bidders <= 5000, --viewers <= 10000, --duration <= 120")
    if min(args.bidder_procs, args.viewer_procs, args.watchers) < 1 or args.watchers < 2:
        parser.error("at least one client process of each kind and two --watchers")
    nofile = benchlib.raise_nofile()
    need = 2 * max(args.bidders, args.viewers) + 200  # both ends of each socket: the servers
    if nofile < need:  # inherit this limit, the clients raise their own
        sys.exit(f"RLIMIT_NOFILE is {nofile}; raise it (ulimit -n {need})")
    print(f"auction benchmark {time.strftime('%Y-%m-%d %H:%M:%S %z')}")
    print(f"machine: {benchlib.machine()}")
    if args.wait_quiet:
        print(f"machine busy before the run: {benchlib.wait_quiet(args.wait_quiet):.0f} %")
    else:
        print(f"machine busy before the run: {psutil.cpu_percent(interval=1.0):.0f} %")
    work = Path(tempfile.mkdtemp(prefix="lc-auctions-"))
    cluster = start_cluster(work, args)
    print(f"two servers (pids {', '.join(str(s.pid) for s in cluster.servers)}) on one Valkey;"
          f" --limit-bid {args.limit_bid} {' '.join(args.server_arg)}")  # fmt: skip
    try:
        if args.part in ("all", "frenzy"):
            frenzy(cluster, args, ceiling(cluster, args))
        if args.part in ("all", "watch"):
            watch(cluster, args)
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
