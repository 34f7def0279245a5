"""Live video benchmark (issue 4): WHEP viewers per core, forwarding against MediaRelay.

One publisher sends 1280x720 at 30 fps (about 1.5 Mbit/s) plus Opus to a real livecommerce
server over WHIP; WHEP viewers are added in steps until frames drop. For every step it prints
the viewers, the server's CPU (user+sys of its process tree over the window, as a share of
one core), the RTP packets the server handed to senders (its /metrics) and the viewers got,
the frames each viewer got against the 30 the publisher sent, and glass-to-glass latency.
Then the same publisher goes to loadtests/video_relay.py, aiortc's MediaRelay with one
encoder per viewer, ramped the same way, for the ratio the issue asks about.

The parts, one concept each:

- loadtests/video_clip.py: the publisher's clip, encoded once, each frame carrying its index
  as a counter a decoding viewer reads back.
- loadtests/video_peers.py: the publisher and viewer processes (cheap viewers that count RTP
  headers, a few decoding ones for glass-to-glass) and the driver's handles on them.
- loadtests/video_measure.py: what a step reads during its window and when it dropped.
- this file: the command line, the processes' placement, the ramp and the summary.

Why this way: the server (and later the relay) is pinned to one core, and the publisher, the
viewers and this driver to the other, so "frames drop" means the server's core ran out, and
CPU per core needs no guessing.

A step drops when more than 5 % of the viewers got under 95 % of the frames, or when the
server used 95 % of its core. The ramp stops at the first drop, at ``--max-viewers``, or
when its share of ``--budget-s`` is spent. The machine is shared: a step that dropped while
other processes took a fifth of the server's core or more is measured again (``--retries``),
and each row shows the share of the server's core that went to others.

    python loadtests/video.py
    python loadtests/video.py --codec vp8 --max-viewers 150 --step-seconds 5
    python loadtests/video.py --skip-relay --steps 0,50,100,150

Loopback only; every loop has a deadline.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib
from video_clip import BITS, FPS, HEIGHT, WIDTH
from video_measure import Phase, Reading, Step, py_spy
from video_peers import Worker

# The ramp ---------------------------------------------------------------------------------


@contextlib.contextmanager
def pinned(cores: set[int] | None) -> Any:
    """Children started inside inherit these cores (and so do all their threads)."""
    if not cores:
        yield
        return
    mine = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores)
    try:
        yield
    finally:
        os.sched_setaffinity(0, mine)


class Bench:
    """One run: the client processes, then a phase per server, each a ramp of steps."""

    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        ncpu = os.cpu_count() or 1
        self.pin = not args.no_pin and ncpu >= 2
        self.server_core = args.server_core
        self.server_cores = {self.server_core} if self.pin else None
        self.client_cores = (set(range(ncpu)) - {self.server_core}) if self.pin else None
        self.client_core = min(self.client_cores) if self.client_cores else 0
        self.ctx = mp.get_context("spawn")
        self.started = time.monotonic()
        self.clip_frames = args.clip_seconds * FPS
        if self.client_cores:
            os.sched_setaffinity(0, self.client_cores)  # the driver stays off the server's core
        self.publisher: Worker | None = None
        self.cheap: list[Worker] = []
        self.decoder: Worker | None = None

    # the processes
    def start_clients(self) -> None:
        timeout = self.args.budget_s + 300
        cfg = {
            "codec": self.args.codec.upper(),
            "frames": self.clip_frames,
            "kbps": self.args.kbps,
            "keyint": self.args.keyint,
            "timeout": timeout,
            "cores": sorted(self.client_cores) if self.client_cores else [],
        }
        with pinned(self.client_cores):
            self.publisher = Worker(self.ctx, "publisher", cfg)
            vcfg = {"timeout": timeout, "concurrency": self.args.concurrency}
            self.cheap = [
                Worker(self.ctx, "viewers", {**vcfg, "decode": False})
                for _ in range(self.args.procs)
            ]
            self.decoder = Worker(self.ctx, "viewers", {**vcfg, "decode": True})

    def viewer_workers(self) -> list[Worker]:
        return [*self.cheap, *([self.decoder] if self.decoder else [])]

    def client_pids(self) -> list[int]:
        workers = [*self.viewer_workers(), *([self.publisher] if self.publisher else [])]
        return [w.proc.pid for w in workers if w.proc.pid]

    # the phases
    def run_phase(
        self,
        phase: Phase,
        pid: int,
        whep_url: str,
        steps: list[int],
        deadline: float,
        http_url: str | None,
    ) -> None:
        assert self.decoder is not None
        print(_HEADER, flush=True)
        have = 0
        decoding = False
        errors: list[str] = []
        for n in steps:
            if time.monotonic() > deadline:
                phase.stopped_by = f"time budget, before {n} viewers"
                break
            want = n - have
            if want > 0:
                t_add = time.monotonic()
                # the decoders join once a step has more viewers than them: every step with
                # viewers has cheap ones, whose counts decide drops
                decoders = 0 if decoding or n <= phase.decoders else phase.decoders
                if decoders:
                    got = self.decoder.ask(("add", whep_url, decoders), "added", 120)
                    errors += got[2]
                    decoding = True
                shares = _split(want - decoders, len(self.cheap), have)
                for w, share in zip(self.cheap, shares, strict=True):
                    if share:
                        w.pipe.send(("add", whep_url, share))
                for w, share in zip(self.cheap, shares, strict=True):
                    if share:
                        errors += w.wait("added", 60 + share)[2]
                have = n
                print(f"      +{want} viewers joined in {time.monotonic() - t_add:.1f} s",
                      flush=True)  # fmt: skip
                # a new viewer waits for a keyframe (one a second) before frames flow
                time.sleep(self.args.settle)
            spy = self.args.profile if http_url and n == self.args.profile_at else None
            step = self.measure(pid, n, http_url, errors, spy)
            for _ in range(self.args.retries):
                if step.limit != "starved":
                    break
                print(_row(step) + ": measuring again", flush=True)
                time.sleep(2.0)
                step = self.measure(pid, n, http_url, errors)
            errors = []
            phase.steps.append(step)
            print(_row(step), flush=True)
            for e in sorted(set(step.join_errors))[:3]:
                print(f"      join failed x{step.join_errors.count(e)}: {e}", flush=True)
            if step.dropped:
                phase.stopped_by = f"frames dropped at {n} viewers ({step.limit} side)"
                break
        else:
            phase.stopped_by = phase.stopped_by or f"the last step ({steps[-1]} viewers)"
        for w in self.viewer_workers():
            w.pipe.send(("close",))
        for w in self.viewer_workers():
            w.wait("closed", 60)

    def measure(
        self,
        pid: int,
        asked: int,
        http_url: str | None,
        errors: list[str],
        profile: str | None = None,
    ) -> Step:
        assert self.publisher is not None
        window = self.args.step_seconds
        t0 = time.monotonic() + 0.3
        t1 = t0 + window
        workers = self.viewer_workers()
        for w in workers:
            w.pipe.send(("measure", t0, t1))
        client_pids = self.client_pids()
        time.sleep(max(0.0, t0 - time.monotonic()))
        spy = py_spy(pid, profile, window) if profile else None
        before = Reading.take(pid, client_pids, http_url)
        time.sleep(max(0.0, t1 - time.monotonic()))
        after = Reading.take(pid, client_pids, http_url)
        replies = [w.wait("measured", window + 30) for w in workers]
        if spy is not None:
            try:
                spy.wait(timeout=30)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait(timeout=5)
            print(f"      py-spy recorded the server into {profile} (it adds noise)", flush=True)
        _, numbers, times = self.publisher.ask(("sent", t0 - 5.0), "sent", 30)
        return Step.from_window(
            asked=asked,
            pid=pid,
            t0=t0,
            window=window,
            before=before,
            after=after,
            cheap=replies[:-1],  # viewer_workers() puts the decoder process last
            decoders=replies[-1],
            sent=(numbers, times),
            loop=self.clip_frames,
            server_core=self.server_core if self.pin else None,
            client_core=self.client_core if self.pin else None,
            join_errors=errors,
        )

    def publish(self, url: str, token: str | None) -> None:
        assert self.publisher is not None
        got = self.publisher.ask(("publish", url, token), "published", 60)
        if got[1]:
            raise RuntimeError(f"publishing to {url} failed: {got[1]}")
        time.sleep(1.5)  # frames flowing, the stream's codec known, before the first viewer

    def forwarding(self, deadline: float) -> Phase:
        phase = Phase("forwarding (livecommerce)", decoders=self.args.decoders)
        print("\n== forwarding: livecommerce serve, WHIP in, WHEP out, no re-encoding", flush=True)
        with pinned(self.server_cores):
            server = benchlib.start_livecommerce(self.work)
        try:
            assert server.pid is not None
            assert server.http_url is not None
            room_id, token = host_room(server)
            print(f"   server pid {server.pid} on core {self._cores(self.server_cores)}, "
                  f"room {room_id}", flush=True)  # fmt: skip
            self.publish(f"{server.http_url}/whip/rooms/{room_id}", token)
            steps = [n for n in self.args.steps if n <= self.args.max_viewers]
            whep = f"{server.http_url}/whep/rooms/{room_id}"
            self.run_phase(phase, server.pid, whep, steps, deadline, server.http_url)
        finally:
            server.stop()
        return phase

    def relay(self, deadline: float) -> Phase:
        phase = Phase("MediaRelay (aiortc, one encoder per viewer)", decoders=1)
        print("\n== MediaRelay: loadtests/video_relay.py, decode once, encode per viewer",
              flush=True)  # fmt: skip
        ready = self.work / "relay-ready.json"
        argv = [
            sys.executable, str(Path(__file__).resolve().parent / "video_relay.py"),
            "--port", "0", "--ready-file", str(ready), "--codec", self.args.codec.upper(),
        ]  # fmt: skip
        with pinned(self.server_cores):
            proc, info = benchlib.start_process("relay", argv, ready, self.work / "relay.log")
        server = benchlib.Server("relay", int(info["pid"]), info["url"], "", proc)
        try:
            print(f"   relay pid {server.pid} on core {self._cores(self.server_cores)}",
                  flush=True)  # fmt: skip
            self.publish(f"{info['url']}/whip", None)
            steps = [n for n in self.args.relay_steps if n <= self.args.relay_max]
            self.run_phase(phase, int(info["pid"]), f"{info['url']}/whep", steps, deadline, None)
        finally:
            server.stop()
        return phase

    def _cores(self, cores: set[int] | None) -> str:
        return ",".join(map(str, sorted(cores))) if cores else "any (not pinned)"

    def stop(self) -> None:
        for w in [*self.viewer_workers(), *([self.publisher] if self.publisher else [])]:
            w.stop()


def _split(n: int, parts: int, offset: int) -> list[int]:
    shares = [n // parts] * parts
    for i in range(n % parts):
        shares[(offset + i) % parts] += 1
    return shares


def host_room(server: benchlib.Server) -> tuple[str, str]:
    """A scheduled room and its host's token (the WHIP publish takes it live)."""
    api = f"{server.http_url}/api/v1"
    name = f"video_host_{os.urandom(3).hex()}"
    body = {"username": name, "password": benchlib.PASSWORD, "display_name": name}
    status, answer = benchlib.http_json("POST", f"{api}/accounts", body)
    if status != 201:
        raise RuntimeError(f"POST /api/v1/accounts answered {status}: {answer}")
    body = {"username": name, "password": benchlib.PASSWORD}
    status, answer = benchlib.http_json("POST", f"{api}/sessions", body)
    if status != 200:
        raise RuntimeError(f"POST /api/v1/sessions answered {status}: {answer}")
    token = str(answer["token"])
    body = {"title": "video benchmark", "currency": "EUR", "locale": "en"}
    status, room = benchlib.http_json("POST", f"{api}/rooms", body, token=token)
    if status != 201:
        raise RuntimeError(f"POST /api/v1/rooms answered {status}: {room}")
    return str(room["id"]), token


# The report -------------------------------------------------------------------------------


_HEADER = (
    "   viewers | server CPU  per viewer | pkts/s fwd / recv | fps/viewer min p5 med (pub)"
    " dec | loss | g2g ms p50 p95 | client core | server core (softirq, others)"
)


def _pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, round(q * (len(values) - 1)))] if values else float("nan")


def _row(s: Step) -> str:
    per = f"{s.server_cores / s.viewers * 100:5.2f} %" if s.viewers else "    -  "
    fwd = f"{s.fwd_pps:7.0f}" if s.fwd_pps is not None else "      -"
    why = "frames short" if s.short else "core saturated"
    flag = f"  DROP ({s.limit} side: {why})" if s.dropped else ""
    viewers = f"{s.viewers:4d}" + (f"/{s.asked}" if s.viewers != s.asked else "")
    return (
        f"   {viewers:>7} | {s.server_cores * 100:6.1f} %  {per} | {fwd} / {s.rx_pps:7.0f} |"
        f" {s.fps_min:4.1f} {s.fps_p5:4.1f} {s.fps_median:4.1f} ({s.publisher_fps:4.1f})"
        f" {s.fps_decoded:4.1f} | {s.loss_pct:4.2f}% | {_pct(s.g2g, 0.5):5.0f}"
        f" {_pct(s.g2g, 0.95):5.0f} | {s.client_core_busy * 100:5.0f} %   |"
        f" {s.server_core_busy * 100:5.0f} % ({s.server_core_softirq * 100:2.0f} %,"
        f" {s.others * 100:2.0f} %){flag}"
        + (f"  [udp rcvbuf drops {s.rcvbuf_errors}]" if s.rcvbuf_errors else "")
        + (f"  [{s.unmatched} frames over 5 s late or misread]" if s.unmatched else "")
    )


def commit() -> str:
    def git(*argv: str) -> str:
        out = subprocess.run(
            ["git", *argv], cwd=benchlib.REPO, capture_output=True, text=True, check=False
        )
        return out.stdout.strip()

    dirty = git("status", "--porcelain", "--", "livecommerce")
    return git("rev-parse", "--short", "HEAD") + (" (server code modified)" if dirty else "")


def summary(fwd: Phase | None, relay: Phase | None, kbps: float, rev: str) -> None:
    print("\n== summary", flush=True)
    fwd_per = relay_per = float("nan")
    if fwd is not None:
        fwd_per, how = fwd.per_core()
        print(f"   forwarding: {fwd_per:.0f} viewers per core ({how})")
        top = fwd.best() or (fwd.steps[-1] if fwd.steps else None)
        if top is not None and top.viewers:
            marginal = _marginal(fwd)
            print(
                f"   forwarding at {top.viewers} viewers: {top.server_cores * 100:.0f} % of a core,"
                f" {top.server_cores / top.viewers * 100:.2f} % per viewer"
                + (f" ({marginal * 100:.2f} % marginal)" if marginal else "")
                + f"; {top.rx_pps:.0f} RTP packets/s received"
                + (f", {top.fwd_pps:.0f}/s handed to senders" if top.fwd_pps else "")
                + f" ({top.rx_pps / top.viewers:.0f} per viewer)"
            )
        _latency("forwarding", fwd)
    if relay is not None:
        relay_per, how = relay.per_core()
        print(f"   MediaRelay: {relay_per:.1f} viewers per core ({how})")
        _latency("MediaRelay", relay)
    for phase in (fwd, relay):
        if phase is not None and phase.steps:
            noisy = max(st.others for st in phase.steps)
            print(
                f"   {phase.name.split(' ')[0]}: other processes took up to {noisy * 100:.0f} % of"
                " the server's core during a step"
                + (" (a noisy machine: run again when it is quieter)" if noisy > 0.15 else "")
            )
    if fwd is not None and relay is not None and relay_per > 0:
        print(f"   ratio: {fwd_per / relay_per:.0f}x (target >= 10x)")
    if fwd is not None:
        print(f"   target: >= 50 viewers per core: {'met' if fwd_per >= 50 else 'NOT met'}")
    print(f"   publisher clip: {kbps:.0f} kbit/s; commit {rev}")


def _latency(name: str, phase: Phase) -> None:
    good = [s for s in phase.steps if s.viewers and not s.dropped and s.g2g]
    if not good:
        return
    pooled = sorted(v for s in good for v in s.g2g)
    first, top = good[0], good[-1]
    text = f"   glass-to-glass ({name}): p50 {_pct(first.g2g, 0.5):.0f} / p95 "
    text += f"{_pct(first.g2g, 0.95):.0f} ms at {first.viewers} viewers"
    if top is not first:
        text += f", p50 {_pct(top.g2g, 0.5):.0f} / p95 {_pct(top.g2g, 0.95):.0f} ms at "
        text += f"{top.viewers}; p50 {_pct(pooled, 0.5):.0f} / p95 {_pct(pooled, 0.95):.0f} ms"
        text += f" over the {len(good)} steps without drops"
    print(text + f" ({len(pooled)} decoded frames)")


def _marginal(phase: Phase) -> float | None:
    base = next((s for s in phase.steps if not s.viewers), None)
    top = phase.best()
    if base is None or top is None:
        return None
    return (top.server_cores - base.server_cores) / top.viewers


# The command line -------------------------------------------------------------------------


def _ints(text: str) -> list[int]:
    return sorted({int(x) for x in text.split(",") if x.strip()})


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--codec", choices=("h264", "vp8"), default="h264")
    parser.add_argument("--max-viewers", type=int, default=200)
    parser.add_argument(
        "--steps", type=_ints, default=_ints("0,10,25,50,60,70,80,90,100,110,120,135,150,175,200"),
        help="forwarding: viewer counts to measure at (0: the publisher alone)",
    )  # fmt: skip
    parser.add_argument("--relay-max", type=int, default=8)
    parser.add_argument("--relay-steps", type=_ints, default=_ints("0,1,2,3,4,6,8"))
    parser.add_argument("--skip-relay", action="store_true")
    parser.add_argument("--skip-forwarding", action="store_true")
    parser.add_argument("--step-seconds", type=float, default=6.0, help="measured per step")
    parser.add_argument("--settle", type=float, default=2.5, help="seconds after adding viewers")
    parser.add_argument("--decoders", type=int, default=2, help="decoding viewers (forwarding)")
    parser.add_argument("--procs", type=int, default=2, help="processes of cheap viewers")
    parser.add_argument("--concurrency", type=int, default=8, help="WHEP joins at a time/proc")
    parser.add_argument("--kbps", type=int, default=1500)
    parser.add_argument("--keyint", type=int, default=30, help="frames between keyframes")
    parser.add_argument("--clip-seconds", type=int, default=10)
    parser.add_argument("--budget-s", type=float, default=300.0, help="the whole run, about")
    parser.add_argument(
        "--retries", type=int, default=2,
        help="measure a step again when it dropped while other processes took its core",
    )  # fmt: skip
    parser.add_argument(
        "--profile", metavar="FILE",
        help="py-spy record the livecommerce server during one step (.svg flamegraph, "
        ".json speedscope, else raw collapsed stacks)",
    )  # fmt: skip
    parser.add_argument("--profile-at", type=int, default=75, help="the step (viewers)")
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    parser.add_argument("--wait-quiet", type=float, default=20.0, help="max s to wait for calm")
    args = parser.parse_args()
    if (args.clip_seconds * FPS) % args.keyint:
        parser.error("--clip-seconds x 30 must be a multiple of --keyint")
    if args.clip_seconds * FPS >= 1 << BITS:
        parser.error(f"the counter has {BITS} bits")

    benchlib.raise_nofile()
    rev = commit()
    print("video benchmark: viewers per core, forwarding vs MediaRelay", flush=True)
    print(f"   {benchlib.machine()}")
    print(
        f"   aiortc {benchlib.version('aiortc')}, av {benchlib.version('av')}, "
        f"aioice {benchlib.version('aioice')}, uvloop {benchlib.version('uvloop')}; commit {rev}"
    )
    if args.wait_quiet:
        busy = benchlib.wait_quiet(args.wait_quiet)
        print(f"   machine busy before the run: {busy:.0f} %", flush=True)
    with tempfile.TemporaryDirectory(prefix="lc-video-") as tmp:
        bench = Bench(args, Path(tmp))
        fwd = relay = None
        try:
            bench.start_clients()
            assert bench.publisher is not None
            got = bench.publisher.wait("ready", 180)
            _, kbps, encode_s, key_kbps = got
            print(
                f"   publisher: {WIDTH}x{HEIGHT} {FPS} fps {args.codec.upper()}, "
                f"{args.clip_seconds} s clip encoded once in {encode_s:.1f} s, {kbps:.0f} kbit/s "
                f"({key_kbps:.0f} of it in keyframes, one every {args.keyint} frames), "
                f"plus Opus 20 ms; server on core {bench._cores(bench.server_cores)}, clients "
                f"on {bench._cores(bench.client_cores)}; {args.procs} cheap-viewer processes",
                flush=True,
            )
            share = 0.55 if not args.skip_relay else 1.0
            if not args.skip_forwarding:
                fwd = bench.forwarding(bench.started + args.budget_s * share)
            if not args.skip_relay:
                relay = bench.relay(bench.started + args.budget_s)
        finally:
            bench.stop()
        summary(fwd, relay, kbps, rev)
        print(f"   run took {time.monotonic() - bench.started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
