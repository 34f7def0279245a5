"""Fan-out of one room over 1, 2 and 4 server processes: does another process cost CPU?

Issue 16 claims that a room's viewers can be spread over several ``livecommerce serve``
processes without paying more CPU per delivery (within 10 %). For each N in ``--servers``
(1, 2, 4) this starts N server processes on one store, makes a live room through the first,
and opens ``--viewers`` (1,200) guest sockets spread evenly over the N processes from
``--procs`` (2) client processes (the lean client and the viewer and sender loops of
``fanout.py``). One signed-in publisher on the first process posts ``--rate`` (50) chat
lines a second, evenly paced, for ``--warmup`` (4) seconds that do not count, then
``--duration`` (15) seconds that do. Each line is published once to the store (the
``chat_post`` script) and every process that has viewers in the room takes it off the room's
channel and writes it to its own sockets.

Printed for each N: viewers connected (per process), chat lines sent and acknowledged,
deliveries of the window's lines (messages received by all viewers, against lines x
viewers), delivery latency, the server processes' CPU over the window (user+sys from
/proc through psutil, summed over the N processes), deliveries per server CPU second, and
its ratio to N = 1; and the store's CPU over the window (the Valkey process, or every node of
the cluster), which the claim leaves out but which grows with the subscribers.

The servers run with ``--no-shedding``, so a process starved by other work on the machine
does not meter the chat and every N carries the same lines. ``--store`` picks what the
servers share: ``single`` (an ``EmbeddedValkey``, ``--redis-url``),
``cluster`` (an ``EmbeddedCluster`` of 3 primaries without replicas, ``--redis-url`` a node and
``--redis-cluster``: room events over sharded pub/sub) or ``both`` (the default; single
first). Every configuration starts fresh servers; the store is started once per kind.

    python loadtests/fanout_processes.py                        # single and cluster, ~3.5 min
    python loadtests/fanout_processes.py --store single --servers 1,4 --duration 10
    python loadtests/fanout_processes.py --viewers 2000 --rate 100 --procs 3
    python loadtests/fanout_processes.py --viewers 4000 --rounds 3   # the figures in the docs

``--rounds`` runs each N that many times, taking turns, and sums up each N by its median
round: this machine is shared, and the same N has measured 20 % apart from one run to the
next. The servers and the store run pinned to the machine's last CPU and the clients to the
others (``--pin``, the default), so no server takes turns on a core with a Python client.
The servers' kernel time is printed too: the sockets' writes, the same for every N.

Only loopback addresses are used; every wait has a deadline, every loop stops itself.
"""

from __future__ import annotations

import argparse
import array
import multiprocessing as mp
import os
import re
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
from fanout import worker

from livecommerce.store.embedded import EmbeddedValkey
from livecommerce.store.embedded_cluster import EmbeddedCluster

SUBPROTOCOL = "livecommerce.json"
IDLE_S = 2.0  # the servers' upkeep, every viewer in and no chat yet


def _sys(pids: list[int]) -> float:
    """The kernel's share (sys seconds) of these processes so far: the sockets' writes."""
    return sum(psutil.Process(pid).cpu_times().system for pid in pids)


def _cpu(pids: list[int]) -> float:
    """user+sys seconds of these processes so far."""
    total = 0.0
    for pid in pids:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


def start_servers(
    n: int, store_url: str, cluster: bool, secret: str, work: Path, args: argparse.Namespace
) -> list[benchlib.Server]:
    extra = [
        "--secret", secret, "--log-level", "error",
        "--chat-rate", "1000", "--chat-burst", "1000",
        # The same load for every N: a process starved by the shared machine would
        # otherwise meter the chat (load shedding) and measure fewer lines.
        "--no-shedding",
    ]  # fmt: skip
    if cluster:
        extra.append("--redis-cluster")
    extra += args.server_arg
    servers: list[benchlib.Server] = []
    try:
        for i in range(n):
            home = Path(tempfile.mkdtemp(prefix=f"server-{n}-{i}-", dir=work))
            servers.append(benchlib.start_livecommerce(home, store_url, extra))
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return servers


def pin(servers: list[int], clients: list[int | None]) -> None:
    """The servers and the store on one CPU, the clients on the others (``split_cpus``):
    otherwise the more server processes, the more finely they interleave with the clients,
    and the clients' share would be charged to the processes' count."""
    measured, rest = benchlib.split_cpus(True)
    for pid in servers if measured else []:
        os.sched_setaffinity(pid, measured)
    for pid in clients if rest else []:
        if pid:
            os.sched_setaffinity(pid, rest)


def run_config(
    n: int,
    store_url: str,
    cluster: bool,
    store_pids: list[int],
    work: Path,
    args: argparse.Namespace,
) -> dict[str, Any]:
    secret = "fanout-procs-secret-" + os.urandom(8).hex()
    servers = start_servers(n, store_url, cluster, secret, work, args)
    ctx = mp.get_context("spawn")
    procs: list[Any] = []
    try:
        tag = os.urandom(3).hex()
        host = benchlib.mint(secret, f"u_fp_host_{tag}", "Fan-out host")
        room = benchlib.api(servers[0], "POST", "/rooms", host, {
            "title": "fan-out over processes", "currency": "EUR", "locale": "en",
        })  # fmt: skip
        benchlib.api(servers[0], "POST", f"/rooms/{room['id']}/start", host)
        urls = [f"{servers[i % n].ws_url}/ws/rooms/{room['id']}" for i in range(args.viewers)]
        sender_token = benchlib.mint(secret, f"u_fp_sender_{tag}", "Publisher")
        timeout = 120.0 + args.warmup + args.duration + args.drain
        pipes: list[Connection] = []
        for k in range(args.procs):
            mine, theirs = ctx.Pipe()
            cfg = {
                "kind": "livecommerce", "urls": urls[k :: args.procs], "subprotocol": SUBPROTOCOL,
                "concurrency": args.concurrency, "timeout": timeout, "clicks": 0,
                "product_id": "", "offset": 0,
            }  # fmt: skip
            p = ctx.Process(target=worker, args=("viewer", theirs, cfg), daemon=True)
            p.start()
            procs.append(p)
            pipes.append(mine)
        mine, theirs = ctx.Pipe()
        scfg = {
            "kind": "livecommerce",
            "urls": [f"{servers[0].ws_url}/ws/rooms/{room['id']}?token={sender_token}"],
            "timeout": timeout,
        }
        sp = ctx.Process(target=worker, args=("sender", theirs, scfg), daemon=True)
        sp.start()
        procs.append(sp)
        pipes.append(mine)
        if args.pin:
            pin([s.pid for s in servers if s.pid] + store_pids, [p.pid for p in procs])
        hello = benchlib.collect(pipes, "connected", time.time() + 60 + args.viewers / 20)
        connected = sum(h[1] for h in hello[:-1])
        errors: dict[str, int] = {}
        for h in hello:
            for key, v in h[2].items():
                errors[key] = errors.get(key, 0) + v
        time.sleep(1.0)  # the joins settle (welcomes, viewer counts)
        server_pids = [s.pid for s in servers if s.pid]
        idle0 = _cpu(server_pids)
        time.sleep(IDLE_S)
        idle = (_cpu(server_pids) - idle0) / IDLE_S
        t_warm = time.time() + 0.5
        t0 = t_warm + args.warmup
        t1 = t0 + args.duration
        t_stop = t1 + args.drain
        for pipe in pipes[:-1]:
            pipe.send(("go", t0, t1, t_stop))
        pipes[-1].send(("go", t_warm, t0, t1, t_stop, args.rate))
        client_pids = [p.pid for p in procs if p.pid]
        time.sleep(max(0.0, t0 - time.time()))
        per0 = [_cpu([pid]) for pid in server_pids]
        kernel0 = _sys(server_pids)
        store0, cli0, sys0 = _cpu(store_pids), _cpu(client_pids), psutil.cpu_times()
        time.sleep(max(0.0, t1 - time.time()))
        per1 = [_cpu([pid]) for pid in server_pids]
        kernel1 = _sys(server_pids)
        store1, cli1, sys1 = _cpu(store_pids), _cpu(client_pids), psutil.cpu_times()
        results = benchlib.collect(pipes, "result", t_stop + 60)
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
        for server in servers:
            server.stop()
    viewers = [r[1] for r in results[:-1]]
    sender = results[-1][1]
    lat: list[int] = []
    for v in viewers:
        a = array.array("q")
        a.frombytes(v["lat"])
        lat.extend(a)
    lat.sort()
    closed: dict[str, int] = {}
    for v in viewers:
        for key, c in v["closed"].items():
            closed[key] = closed.get(key, 0) + c
    deliveries = len(lat)
    server_cpu = [b - a for a, b in zip(per0, per1, strict=True)]
    busy = sum(sys1) - sum(sys0)
    spare = (sys1.idle + sys1.iowait) - (sys0.idle + sys0.iowait)
    return {
        "n": n,
        "viewers": connected,
        "per_server": [args.viewers // n + (i < args.viewers % n) for i in range(n)],
        "connect_errors": errors,
        "sent": sender.get("sent_window", 0),
        "acked": sender.get("acked_window", 0),
        "send_errors": sender.get("errors", {}),
        "deliveries": deliveries,
        "expected": sender.get("sent_window", 0) * connected,
        "closed": closed,
        "p50_ms": benchlib.percentile(lat, 0.5) / 1000,
        "p99_ms": benchlib.percentile(lat, 0.99) / 1000,
        "server_cpu": server_cpu,
        "server_sys": kernel1 - kernel0,
        "store_cpu": store1 - store0,
        "client_cpu": cli1 - cli0,
        "machine_busy": 1 - spare / busy if busy else 0.0,
        "per_cpu_s": deliveries / sum(server_cpu) if sum(server_cpu) else 0.0,
        "idle_cores": idle,
        # what the chat cost on top of the processes' own upkeep (timers, collections)
        "per_busy_cpu_s": deliveries / max(1e-9, sum(server_cpu) - idle * args.duration),
    }


def report(r: dict[str, Any], base: dict[str, Any] | None, args: argparse.Namespace) -> None:
    cpu = sum(r["server_cpu"])
    split = " + ".join(f"{c:.2f}" for c in r["server_cpu"])
    print(
        f"  N={r['n']}: {r['viewers']:,} viewers ({'/'.join(map(str, r['per_server']))} per"
        f" process); {r['sent']:,} lines in the window ({r['acked']:,} acknowledged);"
        f" deliveries {r['deliveries']:,} of {r['expected']:,}; latency p50"
        f" {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms"
    )
    ratio = f" ({r['per_cpu_s'] / base['per_cpu_s']:.3f}x of N=1)" if base else ""
    net = f" ({r['per_busy_cpu_s'] / base['per_busy_cpu_s']:.3f}x)" if base else ""
    print(
        f"        server CPU {cpu:.2f} s ({split}; {r['server_sys']:.2f} s of it in the"
        f" kernel) = {cpu / args.duration:.2f} cores;"
        f" {r['per_cpu_s']:,.0f} deliveries per server CPU second{ratio}; idle before the"
        f" chat {r['idle_cores']:.3f} cores, so {r['per_busy_cpu_s']:,.0f} per CPU second"
        f" above idle{net}"
    )
    print(
        f"        store CPU {r['store_cpu']:.2f} s ({r['store_cpu'] / args.duration:.2f} cores);"
        f" clients {r['client_cpu']:.2f} s; machine {r['machine_busy'] * 100:.0f} % busy"
    )
    found = [*r["connect_errors"].items(), *((f"send {k}", v) for k, v in r["send_errors"].items())]
    found += [(f"closed {k}", v) for k, v in r["closed"].items()]
    problems: dict[str, int] = {}
    for key, v in found:  # one line per kind: the retry hints and such vary
        key = re.sub(r"\d+(\.\d+)?", "#", key)
        problems[key] = problems.get(key, 0) + v
    if problems:
        print(f"        problems: {problems}")


def _median(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The round whose deliveries per CPU second are the median (the lower one of two)."""
    ordered = sorted(rounds, key=lambda r: r["per_cpu_s"])
    return ordered[(len(ordered) - 1) // 2]


def run_store(kind: str, args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    data = work / f"store-{kind}"
    cluster = kind == "cluster"
    valkey: EmbeddedValkey | None = None
    nodes: EmbeddedCluster | None = None
    if cluster:
        nodes = EmbeddedCluster(data, primaries=3, replicas=0)
        nodes.start(timeout=60)
        url = nodes.url
        pids = [node.process.pid for node in nodes.nodes if node.process is not None]
        label = "a Valkey Cluster of 3 primaries (no replicas), --redis-cluster"
    else:
        valkey = EmbeddedValkey(data)
        valkey.start()
        url = valkey.url
        pids = [valkey.process.pid] if valkey.process is not None else []
        label = "one Valkey"
    benchlib.check_loopback(url)
    print(f"\n== {label}: {args.viewers:,} viewers, {args.rate:g} lines/s", flush=True)
    runs: list[dict[str, Any]] = []
    by_n: dict[int, list[dict[str, Any]]] = {n: [] for n in args.servers}
    try:
        for k in range(args.rounds):
            # Rounds take turns (1, 2, 4, then 4, 2, 1): a machine getting busier or quieter
            # over the run weighs on every N alike.
            for n in args.servers if k % 2 == 0 else args.servers[::-1]:
                if args.wait_quiet:
                    busy = benchlib.wait_quiet(args.wait_quiet)
                    print(f"  machine busy before N={n}: {busy:.0f} %")
                r = run_config(n, url, cluster, pids, work, args)
                base = by_n[args.servers[0]]
                report(r, base[-1] if base else None, args)
                by_n[n].append(r)
        for n in args.servers:
            runs.append(_median(by_n[n]))
    finally:
        if nodes is not None:
            nodes.stop()
        if valkey is not None:
            valkey.stop()
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=["single", "cluster", "both"], default="both")
    parser.add_argument(
        "--servers",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1, 2, 4],
        help="server process counts, comma-separated (the first is the baseline)",
    )
    parser.add_argument("--viewers", type=int, default=1200, help="total, split evenly")
    parser.add_argument("--rate", type=float, default=50.0, help="chat lines a second")
    parser.add_argument("--procs", type=int, default=2, help="viewer client processes")
    parser.add_argument("--rounds", type=int, default=1, help="each N this often, taking turns")
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--drain", type=float, default=2.0, help="s after the window to wait")
    parser.add_argument("--concurrency", type=int, default=64, help="handshakes at a time")
    parser.add_argument(
        "--wait-quiet", type=float, default=0, help="wait (at most S s) for < 20 %% busy first"
    )
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the servers and the store on the last CPU, the clients on the others",
    )
    parser.add_argument(
        "--server-arg", action="append", default=[], help="one more argument for every server"
    )
    args = parser.parse_args()
    if (
        not 1 <= args.duration <= 60
        or max(args.servers) > 8
        or args.viewers > 5000
        or not 1 <= args.rounds <= 5
    ):
        sys.exit("--duration 1..60 s, 8 servers, 5,000 viewers, 5 rounds keep the run bounded")
    benchlib.raise_nofile()
    print(f"machine: {benchlib.machine()}")
    work = Path(tempfile.mkdtemp(prefix="lc-fanout-procs-"))
    stores = ["single", "cluster"] if args.store == "both" else [args.store]
    summary = []
    try:
        for kind in stores:
            summary.append((kind, run_store(kind, args, work)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    for kind, runs in summary:
        base = runs[0]["per_cpu_s"]
        figures = ", ".join(
            f"N={r['n']} {r['per_cpu_s']:,.0f} ({r['per_cpu_s'] / base:.2f}x)" for r in runs
        )
        worst = min(r["per_cpu_s"] / base for r in runs)
        verdict = "met" if worst >= 0.9 else "NOT met"
        net = ", ".join(
            f"N={r['n']} {r['per_busy_cpu_s'] / runs[0]['per_busy_cpu_s']:.2f}x" for r in runs
        )
        median = f"the median of {args.rounds} rounds: " if args.rounds > 1 else ""
        print(
            f"{kind}: {median}deliveries per server CPU second {figures}; within 10 % of N=1:"
            f" {verdict}; above idle: {net}"
        )


if __name__ == "__main__":
    main()
