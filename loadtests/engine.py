"""The reservation engine under load: the Lua scripts alone, then the whole server in a rush.

``engine`` (the default) drives ``SalesStore.reserve`` and ``SalesStore.confirm`` directly
from one process: asyncio (uvloop), ``--callers`` concurrent callers, each call one EVALSHA
on the redis-py connection pool exactly as the server makes it (``Store.from_url``), against
a Valkey it starts (``EmbeddedValkey``, append-only on, fsync every second, as the server
runs it) or ``--redis-url``. It prints reservations per second and the p50 / p99 latency of
reserve and of confirm. Then, in the same run and against the same Valkey, ``redis-benchmark``
runs the same ``sale_reserve`` script by EVALSHA with as many clients as there were callers,
and the script prints its requests per second and the ratio engine / redis-benchmark: how
close one Python process gets to what the Valkey itself can take for that script.

The redis-benchmark sale: redis-benchmark sends one fixed command and can only vary it by
replacing ``__rand_int__`` with a random number, so its sale has effectively unlimited units
(10^12) and per-user limit (10^12): no call can be refused for stock or limit. The buyer,
the idempotency key and the hold id carry ``__rand_int__`` (``-r 10^9``), so, as in the
engine phase, practically every call is a new buyer with a new key making a new hold: the
script's full path (reap check, sale checks, counts, hold JSON, idempotency write). A
repeated random number would take the cheaper retry path; the script reads the sale back
afterwards and prints how many calls made holds, so repeats are visible (there are ~0). The
engine phase uses the same shape of sale and arguments, so both time the same Lua work.

``rush`` starts a livecommerce server (``benchlib.start_livecommerce``, embedded Valkey, a
secret of its own so buyers' tokens can be minted here without password hashing) or
attaches to one (``--url`` with its ``--secret``), makes a live room and a sale of
``--units`` (1,000), and opens ``--buyers`` (10,000) signed-in sockets from ``--procs``
client processes (the raw client in benchlib.py, niced by ``--client-nice`` so the buyers'
stand-in phones yield the shared CPU to the server). When all are in, each buyer presses
Buy once at a random instant within ``--spread`` seconds (2: thousands of presses in each
second; 0: all in one instant). It prints the time to settle (the last buyer answered, from
the first press), the p50 / p99 reserve latency (press to reply, per buyer) overall and by
press time, the answers by kind, the CPU the server, its Valkey and the clients used, and
the server's own counters (broadcasts, reserve script calls, GC pauses).
``--retry-unavailable`` makes buyers that get ``unavailable`` retry with the same key after
the ``retry_after`` the server gives (jittered), as the protocol asks; latency is then
press to final answer.

    python loadtests/engine.py                        # engine vs redis-benchmark
    python loadtests/engine.py --pipelined --wait-quiet 120   # + an auto-pipelined client
    python loadtests/engine.py --callers 100 --reservations 100000
    python loadtests/engine.py rush                   # 10,000 buyers, 1,000 units, 2 s
    python loadtests/engine.py rush --spread 1        # 10,000 presses in one second
    python loadtests/engine.py rush --retry-unavailable
    python loadtests/engine.py rush --url http://127.0.0.1:8000 --secret S

Only loopback addresses are accepted; every wait has a deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import multiprocessing as mp
import os
import random
import shutil
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import benchlib
from benchlib import WSConn, percentile

from livecommerce.selling.rules import Sale, SaleState
from livecommerce.selling.store import SalesStore
from livecommerce.store import keys
from livecommerce.store.connection import pack_event
from livecommerce.store.embedded import EmbeddedValkey
from livecommerce.store.history import Store
from livecommerce.store.scripts import source

UNLIMITED = 10**12


# The engine phase -------------------------------------------------------------------------


def _ms() -> int:
    return int(time.time() * 1000)


async def _open_sale(store: Store, sales: SalesStore, room_id: str, sale_id: str) -> Sale:
    """A live room and an active sale with effectively no stock or per-buyer bound."""
    await store.client.hset(keys.room(room_id), mapping={"id": room_id, "state": "live"})
    now = _ms()
    sale = Sale(
        id=sale_id, room_id=room_id, product_id="p_bench", title="Bench jumper", image_url="",
        price=2900, currency="EUR", units=UNLIMITED, per_user_limit=UNLIMITED,
        hold_ms=3_600_000, starts_at=now - 1000, ends_at=now + 86_400_000,
        state=SaleState.ACTIVE, available=UNLIMITED, held=0, sold=0,
    )  # fmt: skip
    await sales.start(sale, {"type": "sale.started", "sale": sale.to_public()})
    return sale


async def _drive(callers: int, total: int, call: Any) -> tuple[float, list[int]]:
    """Run ``call(n)`` for n in 0..total-1 from ``callers`` tasks; (seconds, latencies in us)."""
    latencies: list[int] = []
    counter = iter(range(total))

    async def caller() -> None:
        for n in counter:
            t0 = time.perf_counter_ns()
            await call(n)
            latencies.append((time.perf_counter_ns() - t0) // 1000)

    started = time.perf_counter()
    async with asyncio.timeout(600):
        await asyncio.gather(*(caller() for _ in range(callers)))
    return time.perf_counter() - started, sorted(latencies)


def _line(name: str, seconds: float, lat: list[int]) -> str:
    return (
        f"{name:8} {len(lat):>8,} calls in {seconds:6.2f} s = {len(lat) / seconds:>9,.0f}/s;"
        f" latency p50 {percentile(lat, 0.5) / 1000:.2f} ms,"
        f" p99 {percentile(lat, 0.99) / 1000:.2f} ms, max {lat[-1] / 1000:.2f} ms"
    )


async def engine_phase(url: str, args: argparse.Namespace) -> dict[str, Any]:
    store = Store.from_url(url, stream_max_len=1000)
    if store.client.connection_pool.max_connections < args.callers:
        sys.exit(f"--callers {args.callers} is over the server's pool of "
                 f"{store.client.connection_pool.max_connections} connections")  # fmt: skip
    sales = SalesStore(store.client, store.scripts, stream_max_len=1000)
    room_id, sale_id = "r_engine", f"s_engine{os.urandom(3).hex()}"
    await _open_sale(store, sales, room_id, sale_id)
    ended = {"type": "sale.ended", "sale_id": sale_id, "reason": "sold_out"}
    refused: dict[str, int] = {}

    async def reserve(n: int) -> None:
        answer = await sales.reserve(
            room_id, sale_id, f"u{n}", 1, f"k{n}", f"{sale_id}.h{n}", _ms()
        )
        if not answer.ok:
            refused[answer.reason] = refused.get(answer.reason, 0) + 1

    async def confirm(n: int) -> None:
        order_id = f"o_{sale_id}_{n}"
        order = {
            "id": order_id, "state": "paid", "room_id": room_id, "sale_id": sale_id,
            "reservation_id": f"{sale_id}.h{n}", "buyer": {"id": f"u{n}", "name": f"u{n}"},
            "amount": 2900, "currency": "EUR", "created_at": _ms(),
        }  # fmt: skip
        done = await sales.confirm(
            room_id, sale_id, f"{sale_id}.h{n}", f"u{n}", _ms(), order_id,
            json.dumps(order), ended,
        )  # fmt: skip
        if done.status != 1:
            why = "confirm " + (done.reason or "repeat")
            refused[why] = refused.get(why, 0) + 1

    warm = min(2000, args.reservations // 10)
    await _drive(args.callers, warm, lambda n: reserve(10**9 + n))  # scripts loaded, pool full
    r_s, r_lat = await _drive(args.callers, args.reservations, reserve)
    c_s, c_lat = await _drive(args.callers, args.reservations, confirm)
    sale = await sales.sale(room_id, sale_id)
    await store.close()
    print(_line("reserve", r_s, r_lat))
    print(_line("confirm", c_s, c_lat))
    print(f"         sale after: held {sale.held:,}, sold {sale.sold:,}; refused {refused or 0}")
    return {"reserve_rate": len(r_lat) / r_s, "confirm_rate": len(c_lat) / c_s}


class AutoPipeline:
    """Concurrent calls made in one event-loop turn leave as one pipeline (still one EVALSHA
    per call, each its own answer): what the server could do, not what it does today."""

    def __init__(self, store: Store) -> None:
        self.client = store.client
        self.pending: list[tuple[str, list[str], list[Any], asyncio.Future[Any]]] = []
        self.tasks: set[asyncio.Future[None]] = set()

    async def evalsha(self, sha: str, keys_: list[str], args: list[Any]) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if not self.pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self.pending.append((sha, keys_, args, future))
        return await future

    def _flush(self) -> None:
        batch, self.pending = self.pending, []
        task = asyncio.ensure_future(self._send(batch))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _send(
        self, batch: list[tuple[str, list[str], list[Any], asyncio.Future[Any]]]
    ) -> None:
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for sha, keys_, args, _ in batch:
                    pipe.evalsha(sha, len(keys_), *keys_, *args)
                results = await pipe.execute(raise_on_error=False)
        except Exception as exc:  # every caller hears of it
            for *_, future in batch:
                future.set_exception(exc)
            return
        for (*_, future), result in zip(batch, results, strict=True):
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)


async def pipelined_phase(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """The same calls as ``engine_phase``, auto-pipelined per loop turn."""
    store = Store.from_url(url, stream_max_len=1000)
    sales = SalesStore(store.client, store.scripts, stream_max_len=1000)
    room_id, sale_id = "r_pipe", f"s_pipe{os.urandom(3).hex()}"
    await _open_sale(store, sales, room_id, sale_id)
    reserve_sha = str(await store.client.script_load(source("sale_reserve")))
    confirm_sha = str(await store.client.script_load(source("sale_confirm")))
    auto = AutoPipeline(store)
    sale_keys = keys.sale(room_id, sale_id)
    idem = keys.sale_idempotency(room_id, sale_id)
    ended = pack_event({"type": "sale.ended", "sale_id": sale_id, "reason": "sold_out"})
    refused: dict[str, int] = {}

    async def reserve(n: int) -> None:
        raw = await auto.evalsha(
            reserve_sha,
            [*sale_keys, idem, keys.room_reserve_rate(room_id, f"u{n}")],
            [_ms(), 0, 1, 0, f"u{n}", 1, f"k{n}", f"{sale_id}.h{n}"],
        )
        status, reason = raw[4][0], raw[4][1]
        if int(status) == 0:
            why = reason.decode() if isinstance(reason, bytes) else str(reason)
            refused[why] = refused.get(why, 0) + 1

    async def confirm(n: int) -> None:
        order_id = f"o_{sale_id}_{n}"
        order = {"id": order_id, "state": "paid", "reservation_id": f"{sale_id}.h{n}"}
        raw = await auto.evalsha(
            confirm_sha,
            [*sale_keys, keys.order(room_id, order_id), keys.room_orders(room_id),
             keys.room_seq(room_id), keys.room_events(room_id)],
            [f"{sale_id}.h{n}", f"u{n}", _ms(), order_id, json.dumps(order),
             keys.room_channel(room_id), 1000, ended],
        )  # fmt: skip
        if int(raw[0]) != 1:
            refused["confirm"] = refused.get("confirm", 0) + 1

    r_s, r_lat = await _drive(args.callers, args.reservations, reserve)
    c_s, c_lat = await _drive(args.callers, args.reservations, confirm)
    await store.close()
    print(_line("reserve", r_s, r_lat))
    print(_line("confirm", c_s, c_lat))
    print(f"         refused {refused or 0}")
    return {"reserve_rate": len(r_lat) / r_s, "confirm_rate": len(c_lat) / c_s}


async def bench_sale(url: str) -> tuple[list[str], str, str, str]:
    """A fresh sale for redis-benchmark: its keys, the room and sale ids, and the SHA."""
    store = Store.from_url(url, stream_max_len=1000)
    sales = SalesStore(store.client, store.scripts, stream_max_len=1000)
    room_id, sale_id = "r_rb", f"s_rb{os.urandom(3).hex()}"
    await _open_sale(store, sales, room_id, sale_id)
    sha = str(await store.client.script_load(source("sale_reserve")))
    await store.close()
    return (
        [
            *keys.sale(room_id, sale_id),
            keys.sale_idempotency(room_id, sale_id),
            keys.room_reserve_rate(room_id, "u__rand_int__"),
        ],
        room_id,
        sale_id,
        sha,
    )


async def held_of(url: str, room_id: str, sale_id: str) -> int:
    store = Store.from_url(url, stream_max_len=1000)
    raw = await store.client.hget(keys.sale(room_id, sale_id)[0], "held")
    await store.close()
    return int(raw or 0)


def redis_benchmark(url: str, args: argparse.Namespace) -> float | None:
    sale_keys, room_id, sale_id, sha = asyncio.run(bench_sale(url))
    ceiling = benchlib.redis_benchmark_evalsha(
        url, sha, sale_keys,
        [str(_ms()), "0", "1", "0", "u__rand_int__", "1", "k__rand_int__",
         f"{sale_id}.h__rand_int__"],
        args.bench_requests, args.callers,
    )  # fmt: skip
    if ceiling is None:
        return None
    held = asyncio.run(held_of(url, room_id, sale_id))
    print(
        f"redis-benchmark EVALSHA sale_reserve: {args.bench_requests:,} calls, -c {args.callers}"
        f" -P 1: {ceiling.rate:,.0f}/s; latency p50 {ceiling.p50_ms} ms, p99 {ceiling.p99_ms} ms;"
        f" holds made {held:,} of {args.bench_requests:,}"
    )
    return ceiling.rate


def engine_main(args: argparse.Namespace) -> None:
    benchlib.install_uvloop()
    print(f"machine: {benchlib.machine()}; redis-py {benchlib.version('redis')},"
          f" hiredis {benchlib.version('hiredis')}")  # fmt: skip
    valkey = None
    url = args.redis_url
    if url is None:
        valkey = EmbeddedValkey(Path(tempfile.mkdtemp(prefix="lc-engine-")))
        valkey.start()
        url = valkey.url
    benchlib.check_loopback(url)
    try:
        print(f"engine: one process, {args.callers} callers, {args.reservations:,} reservations")
        engine = asyncio.run(engine_phase(url, args))
        piped = None
        if args.pipelined:
            print("auto-pipelined (the calls of one loop turn in one pipeline; not the server):")
            piped = asyncio.run(pipelined_phase(url, args))
        rate = redis_benchmark(url, args)
        if rate:
            ratio = engine["reserve_rate"] / rate
            verdict = "met" if ratio >= 0.5 else "NOT met"
            print(
                f"ratio engine reserve / redis-benchmark: {ratio:.0%} (target >= 50 %: {verdict})"
            )
            if piped:
                print(f"ratio auto-pipelined / redis-benchmark: {piped['reserve_rate'] / rate:.0%}")
    finally:
        if valkey is not None:
            valkey.stop()
            shutil.rmtree(valkey.data_dir, ignore_errors=True)


# The rush ---------------------------------------------------------------------------------


def _on_buyer(conn: WSConn, payload: bytes) -> None:
    """Mark the welcome; keep the reply to the latest press (``ref`` b<attempt>)."""
    if not conn.ready.done():
        benchlib.lc_ready(conn, payload)
        return
    if b'"ref"' not in payload:
        return
    now = time.time()
    decoded = json.loads(payload)
    for event in decoded if isinstance(decoded, list) else [decoded]:
        if event.get("ref") == conn.state["ref"]:
            conn.state["answer"] = event
            conn.state["answered_at"] = now
            conn.state["replies"] += 1
            conn.state["done"].set()


async def _buyers_main(pipe: Connection, cfg: dict[str, Any]) -> None:
    benchlib.raise_nofile()
    urls = [
        f"{cfg['ws_url']}/ws/rooms/{cfg['room_id']}?token={benchlib.mint(cfg['secret'], u, u)}"
        for u in cfg["users"]
    ]
    conns, errors = await benchlib.open_many(urls, _on_buyer, "livecommerce.json", concurrency=64)
    for c in conns:
        c.state = {"ref": "b0", "answer": None, "replies": 0, "done": asyncio.Event(),
                   "pressed_at": 0.0, "answered_at": 0.0, "retries": 0}  # fmt: skip
    pipe.send(("connected", len(conns), errors))
    loop = asyncio.get_running_loop()
    if not await loop.run_in_executor(None, pipe.poll, 120):
        return
    msg = pipe.recv()
    if msg[0] != "go":
        return
    delay = msg[1] - time.time()
    if delay > 0:
        await asyncio.sleep(delay)  # every process presses at the same instant
    cpu_before = time.process_time()
    # The load generator must not pause on its own: its garbage collector would stall a
    # quarter of the buyers for a hundred milliseconds and charge it to the server.
    gc.collect()
    gc.freeze()
    gc.disable()
    command = {"type": "reserve", "sale_id": cfg["sale_id"], "quantity": 1}
    start = time.time()
    spread = cfg["spread"]
    presses = sorted((random.uniform(0, spread) if spread else 0.0, i) for i in range(len(conns)))
    for at, i in presses:
        wait = start + at - time.time()
        if wait > 0.001:
            await asyncio.sleep(wait)
        c = conns[i]
        c.state["pressed_at"] = time.time()
        c.send_text(json.dumps({**command, "key": f"k{i}", "ref": "b0"}))

    async def settle(i: int, c: WSConn) -> None:
        state = c.state
        while True:
            done = asyncio.ensure_future(state["done"].wait())
            await asyncio.wait([done, c.closed], return_when=asyncio.FIRST_COMPLETED)
            done.cancel()
            answer = state["answer"]
            if answer is None or not cfg["retry"] or answer.get("code") != "unavailable":
                return
            state["retries"] += 1
            state["done"].clear()
            state["answer"] = None
            state["ref"] = f"b{state['retries']}"
            await asyncio.sleep(float(answer.get("retry_after") or 1) * random.uniform(0.2, 1.0))
            c.send_text(json.dumps({**command, "key": f"k{i}", "ref": state["ref"]}))

    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(cfg["deadline"]):
            await asyncio.gather(*(settle(i, c) for i, c in enumerate(conns)))
    cpu = time.process_time() - cpu_before
    gc.enable()
    kinds: dict[str, int] = {}
    latencies: list[int] = []
    last = 0.0
    for c in conns:
        answer = c.state["answer"]
        kind = "silent" if answer is None else answer.get("code") or answer["type"]
        kinds[kind] = kinds.get(kind, 0) + 1
        if answer is not None:
            latencies.append(int((c.state["answered_at"] - c.state["pressed_at"]) * 1e6))
            last = max(last, c.state["answered_at"])
    pipe.send(("result", {
        "kinds": kinds, "lat": latencies, "last": last, "cpu": cpu,
        "pairs": [(c.state["pressed_at"], c.state["answered_at"]) for c in conns
                  if c.state["answer"] is not None],
        "retries": sum(c.state["retries"] for c in conns),
        "first_press": min((c.state["pressed_at"] for c in conns), default=0.0),
    }))  # fmt: skip
    for c in conns:
        c.close()
    await asyncio.sleep(0.2)


def _buyers_entry(pipe: Connection, cfg: dict[str, Any]) -> None:
    # Buyers' phones are not on the server's machine: here they share its two cores, so
    # they yield to it rather than take its turn on the CPU (--client-nice).
    os.nice(cfg["nice"])
    benchlib.install_uvloop()
    asyncio.run(_buyers_main(pipe, cfg))


WATCHED = (
    "livecommerce_flush_seconds_sum",
    "livecommerce_flush_seconds_count",
    "livecommerce_frames_sent_total",
    "livecommerce_reserve_batch_size_sum",
    "livecommerce_reserve_batch_size_count",
    'livecommerce_gc_pause_seconds_sum{generation="0"}',
    'livecommerce_gc_pause_seconds_sum{generation="1"}',
    'livecommerce_gc_pause_seconds_sum{generation="2"}',
)


def rush_main(args: argparse.Namespace) -> None:
    benchlib.raise_nofile()
    work = Path(tempfile.mkdtemp(prefix="lc-rush-"))
    secret = args.secret or f"rush-bench-secret-{os.urandom(8).hex()}"
    if args.url:
        if not args.secret:
            sys.exit("--url needs the server's --secret to mint buyers' tokens")
        server = benchlib.attach_livecommerce(args.url, None)
    else:
        server = benchlib.start_livecommerce(
            work, extra=["--secret", secret, "--log-level", "warning"]
        )
    tag = os.urandom(3).hex()
    try:
        host = benchlib.mint(secret, f"u_rush_host_{tag}", "Rush host")
        room = benchlib.api(
            server, "POST", "/rooms", host, {"title": "rush", "currency": "EUR", "locale": "en"}
        )
        benchlib.api(server, "POST", f"/rooms/{room['id']}/start", host)
        product = benchlib.api(server, "POST", "/products", host, {
            "sku": f"RUSH-{tag}", "title": "Rush jumper", "price": 4900, "currency": "EUR",
            "stock": args.units,
        })  # fmt: skip
        sale = benchlib.api(server, "POST", f"/rooms/{room['id']}/sales", host, {
            "product_id": product["id"], "price": 2900, "units": args.units,
            "per_user_limit": 1, "duration_s": 600, "hold_s": 600,
        })  # fmt: skip
        users = [f"u_rush_{tag}_{i}" for i in range(args.buyers)]
        ctx = mp.get_context("spawn")
        pipes, procs = [], []
        for k in range(args.procs):
            cfg = {
                "ws_url": server.ws_url, "room_id": room["id"], "sale_id": sale["id"],
                "secret": secret, "users": users[k :: args.procs], "retry": args.retry_unavailable,
                "deadline": args.deadline, "spread": args.spread, "nice": args.client_nice,
            }  # fmt: skip
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(target=_buyers_entry, args=(theirs, cfg), daemon=True)
            proc.start()
            pipes.append(ours)
            procs.append(proc)
        connected = 0
        for pipe in pipes:
            if not pipe.poll(180):
                raise RuntimeError("a client process did not connect its buyers in 180 s")
            _, n, errors = pipe.recv()
            connected += n
            if errors:
                print(f"join errors: {errors}")
        print(f"rush: {connected:,} of {args.buyers:,} buyers in the room from {args.procs}"
              f" processes; sale of {args.units:,} units")  # fmt: skip
        if server.pid:
            idle_before = benchlib.cpu_snapshot(server.pid)
            time.sleep(2.0)
            idle = benchlib.cpu_between(idle_before, benchlib.cpu_snapshot(server.pid))
            print(f"server CPU with every buyer in and nobody pressing: {idle / 2:.2f} cores")
        go = time.time() + 0.5
        for pipe in pipes:
            pipe.send(("go", go))
        metrics_before = benchlib.server_metrics(server, WATCHED)
        time.sleep(max(0.0, go - time.time()))
        cpu_before = benchlib.cpu_snapshot(server.pid) if server.pid else None
        results = []
        for pipe in pipes:
            if not pipe.poll(args.deadline + 30):
                raise RuntimeError("a client process did not report")
            results.append(pipe.recv()[1])
        server_cpu = valkey_cpu = None
        if server.pid and cpu_before is not None:
            cpu_after = benchlib.cpu_snapshot(server.pid)
            server_cpu = cpu_after[server.pid] - cpu_before.get(server.pid, 0.0)
            valkey_cpu = benchlib.cpu_between(cpu_before, cpu_after) - server_cpu
        for proc in procs:
            proc.join(10)
        kinds: dict[str, int] = {}
        for r in results:
            for k, v in r["kinds"].items():
                kinds[k] = kinds.get(k, 0) + v
        lat = sorted(x for r in results for x in r["lat"])
        first = min(r["first_press"] for r in results)
        clients_cpu = sum(r["cpu"] for r in results)
        m = benchlib.server_metrics(server, WATCHED)
        d = {k: m[k] - metrics_before[k] for k in WATCHED}
        frames = d["livecommerce_frames_sent_total"]
        batches = d["livecommerce_reserve_batch_size_count"]
        gc_ms = " / ".join(f"{d[k] * 1000:.0f}" for k in WATCHED[5:])
        sum_key = "livecommerce_reserve_batch_size_sum"
        print(
            f"server during the rush: {d['livecommerce_flush_seconds_count']:.0f} room"
            f" broadcasts, {frames:,.0f} frames; {batches:.0f} reserve script calls for"
            f" {d[sum_key]:,.0f} reserves; GC pauses gen0/1/2 {gc_ms} ms"
        )
        cpu = "?" if server_cpu is None else f"{server_cpu:.2f}"
        vcpu = "?" if valkey_cpu is None else f"{valkey_cpu:.2f}"
        wall = max(r["last"] for r in results) - first
        print(
            f"CPU from the press to the last answer: server {cpu} s, its Valkey {vcpu} s,"
            f" clients {clients_cpu:.2f} s, in {wall:.2f} s"
        )
        settle = max(r["last"] for r in results) - first
        state = benchlib.api(server, "GET", f"/sales/{sale['id']}", host)
        print(f"answers: {dict(sorted(kinds.items()))}; retries after 'unavailable':"
              f" {sum(r['retries'] for r in results):,}")  # fmt: skip
        clear = set(kinds) <= {"reservation", "sold_out"}
        verdict = "met" if settle <= 5 and clear else "NOT met"
        print(
            f"settled (last buyer answered) {settle:.2f} s after the first press"
            f" (target 5 s, every answer a reservation or sold_out: {verdict})"
        )
        print(
            f"reserve latency p50 {percentile(lat, 0.5) / 1000:.1f} ms,"
            f" p99 {percentile(lat, 0.99) / 1000:.1f} ms, max {lat[-1] / 1000:.1f} ms"
            f" (target p99 < 100 ms: {'met' if percentile(lat, 0.99) < 100_000 else 'NOT met'})"
        )
        pairs = sorted(p for r in results for p in r["pairs"])
        if pairs:
            print("latency by press time (first press +s: p50 / max ms):")
            for k in range(10):
                part = pairs[k * len(pairs) // 10 : (k + 1) * len(pairs) // 10]
                lats = sorted(int((b - a) * 1e6) for a, b in part)
                print(f"  +{part[0][0] - first:.2f}s: {percentile(lats, 0.5) / 1000:.0f}"
                      f" / {lats[-1] / 1000:.0f}")  # fmt: skip
        print(f"sale after: available {state['available']}, held {state['held']},"
              f" sold {state['sold']} of {state['units']}")  # fmt: skip
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", nargs="?", choices=["engine", "rush"], default="engine")
    parser.add_argument(
        "--redis-url", help="engine: a Valkey/Redis on loopback (default: start one)"
    )
    parser.add_argument(
        "--callers", type=int, default=50, help="engine: concurrent callers, and redis-benchmark -c"
    )
    parser.add_argument(
        "--reservations", type=int, default=50_000, help="engine: reserve (then confirm) calls"
    )
    parser.add_argument(
        "--pipelined", action="store_true", help="engine: also time an auto-pipelined client"
    )
    parser.add_argument(
        "--wait-quiet", type=float, default=0, help="wait (at most S s) for < 20 %% busy first"
    )
    parser.add_argument("--bench-requests", type=int, default=200_000, help="redis-benchmark -n")
    parser.add_argument("--url", help="rush: a running livecommerce server (default: start one)")
    parser.add_argument("--secret", help="rush: the server's --secret (needed with --url)")
    parser.add_argument("--buyers", type=int, default=10_000)
    parser.add_argument("--units", type=int, default=1_000)
    parser.add_argument("--procs", type=int, default=4, help="rush: client processes")
    parser.add_argument(
        "--deadline", type=float, default=60.0, help="rush: seconds to wait for answers"
    )
    parser.add_argument(
        "--spread",
        type=float,
        default=2.0,
        help="rush: buyers press at random instants within this many seconds (0: all at once)",
    )
    parser.add_argument(
        "--client-nice",
        type=int,
        default=10,
        help="rush: niceness of the client processes, so they yield the CPU to the server",
    )
    parser.add_argument(
        "--retry-unavailable",
        action="store_true",
        help="rush: buyers told 'unavailable' retry after retry_after, same key",
    )
    args = parser.parse_args()
    if args.wait_quiet:
        print(f"machine busy before the run: {benchlib.wait_quiet(args.wait_quiet):.0f} %")
    if args.mode == "engine":
        engine_main(args)
    else:
        rush_main(args)


if __name__ == "__main__":
    main()
