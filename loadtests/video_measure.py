"""What one step of loadtests/video.py reads during its window, and what that says.

A step is a window of ``--step-seconds`` at a fixed number of viewers. At each end the driver
takes a ``Reading``: CPU of the server's process tree, of every core, and of the client
processes, the kernel's UDP receive-buffer drops, and the server's count of RTP packets
handed to senders (its /metrics). ``Step.from_window`` turns two readings and the workers'
counts into a table row's worth of numbers; its properties decide whether the step dropped.

Why this way:

- The server has a core of its own (loadtests/video.py pins it), so its core's busy time
  beside the server's own CPU tells how much a shared machine took from it.
- Losses are told apart: a server that cannot keep up sends fewer frames with no sequence
  gaps (senders number what they send); a client core that cannot keep up loses packets in
  its socket buffers, which shows as gaps (and as kernel RcvbufErrors).
- A step drops when more than 5 % of the viewers got under 95 % of the frames, or when the
  server used 95 % of its core. One that dropped while other processes took a fifth of the
  server's core or more (``Step.others``) says nothing of the server (``limit == "starved"``).
"""

from __future__ import annotations

import array
import bisect
import contextlib
import itertools
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import benchlib
import psutil

# Reading the counters ---------------------------------------------------------------------


def udp_rcvbuf_errors() -> int:
    """The kernel's count of UDP datagrams dropped for a full socket buffer, machine-wide."""
    lines = [ln.split() for ln in Path("/proc/net/snmp").read_text().splitlines()]
    for head, values in itertools.pairwise(lines):
        if head[0] == "Udp:" and values[0] == "Udp:" and "RcvbufErrors" in head:
            return int(values[head.index("RcvbufErrors")])
    return 0


def forwarded_packets(http_url: str | None) -> float | None:
    """livecommerce's count of RTP payloads handed to viewers' senders, if it has one."""
    if not http_url:
        return None
    try:
        text = _get_text(http_url + "/metrics")
    except (OSError, urllib.error.URLError):
        return None
    total = None
    for line in text.splitlines():
        if line.startswith("livecommerce_media_packets_forwarded_total"):
            total = (total or 0.0) + float(line.rsplit(" ", 1)[1])
    return total


def _get_text(url: str) -> str:
    benchlib.check_loopback(url)
    with urllib.request.urlopen(url, timeout=10) as resp:
        return str(resp.read().decode())


def _cpu_of(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            t = psutil.Process(pid).cpu_times()
            out[pid] = t.user + t.system
    return out


@dataclass
class Reading:
    """The counters at one end of a step's window."""

    server: dict[int, float]  # user+sys seconds of the server's process tree, by pid
    cores: list[Any]  # psutil.cpu_times(percpu=True)
    clients: dict[int, float]  # user+sys seconds of the client processes, by pid
    rcvbuf_errors: int
    forwarded: float | None
    at: float  # time.monotonic() once all of the above were read

    @classmethod
    def take(cls, pid: int, client_pids: list[int], http_url: str | None) -> Reading:
        server = benchlib.cpu_snapshot(pid)
        cores = psutil.cpu_times(percpu=True)
        clients = _cpu_of(client_pids)
        rcvbuf_errors = udp_rcvbuf_errors()
        forwarded = forwarded_packets(http_url)
        return cls(server, cores, clients, rcvbuf_errors, forwarded, time.monotonic())


# Profiling one window ---------------------------------------------------------------------


def py_spy(pid: int, out: str, seconds: float) -> subprocess.Popen[bytes]:
    """py-spy sampling the server (from the driver's core) for one window."""
    fmt = {".svg": "flamegraph", ".json": "speedscope"}.get(Path(out).suffix, "raw")
    argv = [
        shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy",
        "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))),
        "--rate", "100", "--format", fmt, "--output", out, "--nonblocking",
    ]  # fmt: skip
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# What they say ----------------------------------------------------------------------------


def core_busy(before: Any, after: Any, core: int) -> tuple[float, float]:
    """How busy one core was, and the part of it spent in softirq, as shares of its time.

    On loopback, delivering a datagram to the receiving socket mostly runs as softirq in the
    sender's syscall: the server's ``sendto`` costs show there, and in its system time too.
    """
    a, b = before[core], after[core]
    total = sum(b) - sum(a)
    if total <= 0:
        return float("nan"), float("nan")
    idle = (b.idle - a.idle) + (getattr(b, "iowait", 0.0) - getattr(a, "iowait", 0.0))
    softirq = getattr(b, "softirq", 0.0) - getattr(a, "softirq", 0.0)
    return (total - idle) / total, softirq / total


def glass_to_glass(
    seen: list[tuple[int, float]], numbers: list[int], times: list[float], loop: int
) -> tuple[list[float], int]:
    """Latencies: each decoded counter against the last time that frame of the loop was sent.

    Returns the sorted latencies in ms and how many frames matched no send within 5 s
    (a misread counter, or a viewer that far behind).
    """
    out: list[float] = []
    bad = 0
    for counter, when in seen:
        j = bisect.bisect_right(times, when) - 1
        k = j
        while k >= 0 and j - k < loop and numbers[k] % loop != counter:
            k -= 1
        if counter >= loop or k < 0 or j - k >= loop or when - times[k] > 5.0:
            bad += 1
            continue
        out.append((when - times[k]) * 1000)
    return sorted(out), bad


@dataclass
class Step:
    """One step's numbers, as its table row shows them; the properties say if and why it dropped."""

    viewers: int
    asked: int
    server_cores: float
    main_cores: float
    fwd_pps: float | None  # the server's count of packets handed to senders, per second
    rx_pps: float  # RTP packets the viewers received, per second, all viewers
    fps_min: float
    fps_p5: float
    fps_median: float
    fps_decoded: float  # the slowest decoding viewer's
    publisher_fps: float
    loss_pct: float
    rcvbuf_errors: int
    g2g: list[float]
    unmatched: int
    server_core_busy: float
    server_core_softirq: float
    client_core_busy: float
    client_cores: float
    join_errors: list[str]

    @classmethod
    def from_window(
        cls,
        *,
        asked: int,
        pid: int,
        t0: float,
        window: float,
        before: Reading,
        after: Reading,
        cheap: list[tuple[Any, ...]],
        decoders: tuple[Any, ...],
        sent: tuple[bytes, bytes],
        loop: int,
        server_core: int | None,
        client_core: int | None,
        join_errors: list[str],
    ) -> Step:
        """One step from its readings and what the workers said about ``[t0, t0 + window)``.

        ``cheap`` and ``decoders`` are the viewer processes' ``measured`` replies, ``sent``
        the publisher's (numbers, times) since before ``t0``; ``loop`` is the clip's length
        in frames; the cores are None when nothing was pinned.
        """
        t1 = t0 + window
        m0, m1 = before.at, after.at
        numbers = array.array("q")
        numbers.frombytes(sent[0])
        times = array.array("d")
        times.frombytes(sent[1])
        sent_in_window = sum(1 for t in times if t0 <= t < t1)
        publisher_fps = sent_in_window / window
        # the decoders' viewers count decoded frames, not packets
        rows = [r for reply in cheap for r in reply[1]]
        decoded = sorted(r[0] / window for r in decoders[1])
        seen = decoders[2]
        viewers = sum(reply[4] for reply in [*cheap, decoders])
        fps = sorted(r[0] / window for r in rows)
        video = sum(r[1] for r in rows)
        lost = sum(r[4] for r in rows)
        # a decoder's packets are not counted: take them to be the median cheap viewer's
        median_pkts = sorted(r[1] + r[2] for r in rows)[len(rows) // 2] if rows else 0
        rx = sum(r[1] + r[2] for r in rows) + median_pkts * len(decoded)
        server_busy, server_softirq = (
            core_busy(before.cores, after.cores, server_core)
            if server_core is not None
            else (0.0, 0.0)
        )
        client_busy = (
            core_busy(before.cores, after.cores, client_core)[0] if client_core is not None else 0.0
        )
        g2g, unmatched = glass_to_glass(seen, list(numbers), list(times), loop)
        main_cpu = after.server.get(pid, 0.0) - before.server.get(pid, 0.0)
        fwd0, fwd1 = before.forwarded, after.forwarded
        cli0, cli1 = before.clients, after.clients
        return cls(
            viewers=viewers,
            asked=asked,
            server_cores=benchlib.cpu_between(before.server, after.server) / (m1 - m0),
            main_cores=main_cpu / (m1 - m0),
            fwd_pps=(fwd1 - fwd0) / (m1 - m0) if fwd0 is not None and fwd1 is not None else None,
            rx_pps=rx / window,
            fps_min=fps[0] if fps else 0.0,
            fps_p5=fps[int(0.05 * (len(fps) - 1))] if fps else 0.0,
            fps_median=fps[len(fps) // 2] if fps else 0.0,
            fps_decoded=decoded[0] if decoded else float("nan"),
            publisher_fps=publisher_fps,
            loss_pct=100 * lost / (video + lost) if video + lost else 0.0,
            rcvbuf_errors=after.rcvbuf_errors - before.rcvbuf_errors,
            g2g=g2g,
            unmatched=unmatched,
            server_core_busy=server_busy,
            server_core_softirq=server_softirq,
            client_core_busy=client_busy,
            client_cores=sum(cli1.get(p, 0.0) - cli0.get(p, 0.0) for p in cli1) / (m1 - m0),
            join_errors=join_errors,
        )

    @property
    def others(self) -> float:
        """The share of the server's core that went to other processes (a noisy machine).

        Softirq work done while the server runs (loopback delivery of what it sends) is
        charged to the server's system time as well as to the core's softirq time.
        """
        return max(0.0, self.server_core_busy - self.server_cores)

    @property
    def short(self) -> bool:
        """More than 5 % of the viewers got under 95 % of the frames."""
        return self.fps_p5 < 0.95 * self.publisher_fps

    @property
    def saturated(self) -> bool:
        """The server used its core up (unless others did)."""
        return self.server_cores >= 0.95 or (self.server_core_busy >= 0.97 and self.others < 0.20)

    @property
    def dropped(self) -> bool:
        return bool(self.viewers) and (self.short or self.saturated)

    @property
    def limit(self) -> str:
        """Which side ran out, when this step dropped."""
        if not self.dropped:
            return ""
        if self.others >= 0.20 and self.server_core_busy >= 0.95:
            return "starved"  # other processes took the server's core: says nothing of it
        if self.saturated:
            return "server"
        if self.loss_pct >= 0.5 or self.client_core_busy >= 0.95:
            return "client"
        return "server"


@dataclass
class Phase:
    name: str
    steps: list[Step] = field(default_factory=list)
    stopped_by: str = ""
    decoders: int = 0

    def best(self) -> Step | None:
        good = [s for s in self.steps if s.viewers and not s.dropped]
        return good[-1] if good else None

    def per_core(self) -> tuple[float, str]:
        """Viewers per core, and how it was found."""
        best = self.best()
        drop = next((s for s in self.steps if s.dropped), None)
        if best is None:
            if drop is None or not drop.server_cores:
                return float("nan"), "no step with viewers"
            share = drop.fps_median / drop.publisher_fps if drop.publisher_fps else 0.0
            return drop.viewers * share / drop.server_cores, (
                f"even {drop.viewers} dropped frames ({drop.limit} side): the frames "
                f"delivered ({share * 100:.0f} %) per server core"
            )
        scaled = best.viewers / best.server_cores
        if drop is not None and drop.limit == "server":
            return float(best.viewers), (
                f"measured: {best.viewers} held on one core ({best.server_cores * 100:.0f} %), "
                f"{drop.viewers} dropped ({'frames short' if drop.short else 'core saturated'}:"
                f" server {drop.server_cores * 100:.0f} %, its core"
                f" {drop.server_core_busy * 100:.0f} % busy); "
                f"{scaled:.0f} scaled from the last good step"
            )
        why = {
            None: f"the ramp stopped ({self.stopped_by}) before frames dropped",
            "client": "the client side dropped first",
            "starved": "other processes took the server's core when frames dropped",
        }[drop.limit if drop is not None else None]
        return scaled, (
            f"scaled: {best.viewers} viewers on {best.server_cores * 100:.0f} % of a core; {why}"
        )
