"""Shared pieces of the load tests: a lean WebSocket client, process plumbing, measurements.

Why a hand-written client: on a 2-core machine the load generator shares the CPU with the
server under test. 2,000 viewers at 100 messages a second are 200,000 deliveries a second;
a full client library (websockets, python-socketio's AsyncClient) spends tens of
microseconds per frame and would measure itself instead of the server. This client is an
``asyncio.Protocol`` on uvloop that parses RFC 6455 frames by hand, answers pings, and hands
each payload to a callback; the callbacks look for the send-time markers with one regex and
never decode JSON. Both servers are read by exactly the same code, so the comparison is fair.

It never offers permessage-deflate, so neither server compresses.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psutil

LOOPBACK = ("127.0.0.1", "localhost", "::1")

# A chat text carries ``LCB`` and the sender's time.time_ns(); every server keeps the text
# verbatim in JSON, socket.io JSON and MessagePack, so one byte regex finds it in all three.
MARK = re.compile(rb"LCB(\d{16,20})")


def mark_text(i: int, sender: int) -> str:
    """A chat line of a realistic length (about 60 characters) with the send time inside."""
    return f"LCB{time.time_ns()} hello from bench sender {sender}, line {i}"


def raise_nofile(want: int = 65536) -> int:
    """Raise the soft RLIMIT_NOFILE as far as the hard limit allows; return the new soft."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if target > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def split_cpus(pin: bool) -> tuple[set[int], set[int]]:
    """(the store's and servers' CPUs, the clients' CPUs): with ``pin`` the last CPU is the
    measured side's and the others the clients', so what is measured never takes turns on a
    core with a Python client (it would run the same code slower on cold caches, and the
    more finely it interleaves, the slower); without, or on one CPU, both are empty (no
    pinning)."""
    every = os.sched_getaffinity(0)
    if not pin or len(every) < 2:
        return set(), set()
    last = max(every)
    return {last}, every - {last}


def check_loopback(url: str) -> None:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host not in LOOPBACK:
        sys.exit(f"refusing {url!r}: load tests only talk to loopback addresses")


def install_uvloop() -> str:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is in the bench extra
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


# The WebSocket client -------------------------------------------------------------------


def _mask(payload: bytes, key: bytes) -> bytes:
    n = len(payload)
    if n == 0:
        return b""
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


def frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (clients must mask, RFC 6455 section 5.3)."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    key = os.urandom(4)
    return head + key + _mask(payload, key)


class WSError(Exception):
    pass


class WSConn(asyncio.Protocol):
    """One client WebSocket. ``on_message(conn, payload)`` gets each complete message."""

    def __init__(
        self,
        host: str,
        path: str,
        subprotocol: str | None,
        on_message: Callable[[WSConn, bytes], None],
    ) -> None:
        self.host = host
        self.path = path
        self.subprotocol = subprotocol
        self.on_message = on_message
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.upgraded = False
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        # set by the on_message callback once the application says hello (welcome, 40...)
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.close_code: int | None = None
        self.fragments: list[bytes] = []
        self.count = 0  # for the callbacks: deliveries counted on this connection
        self.state: Any = None  # for the callbacks

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {self.path} HTTP/1.1",
            f"Host: {self.host}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if self.subprotocol:
            lines.append(f"Sec-WebSocket-Protocol: {self.subprotocol}")
        transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(WSError(f"connection lost during handshake: {exc}"))
        if not self.ready.done():
            self.ready.set_exception(WSError(f"closed before ready, close code {self.close_code}"))
        if not self.closed.done():
            self.closed.set_result(self.close_code)

    def data_received(self, data: bytes) -> None:
        if self.upgraded:
            if self.buf:
                self.buf += data
                rest = self._parse(self.buf)
                del self.buf[: len(self.buf) - rest]
            else:
                # the common case: whole frames in one chunk, parsed without copying
                rest = self._parse(data)
                if rest:
                    self.buf += data[len(data) - rest :]
            return
        buf = self.buf
        buf += data
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > 65536:
                self._fail("handshake answer too long")
            return
        head = bytes(buf[:end]).decode("latin-1")
        del buf[: end + 4]
        status = head.split("\r\n", 1)[0]
        if " 101 " not in status + " ":
            self._fail(f"handshake refused: {status}")
            return
        self.upgraded = True
        self.opened.set_result(None)
        if buf:
            rest = self._parse(buf)
            del buf[: len(buf) - rest]

    # internals
    def _fail(self, why: str) -> None:
        if not self.opened.done():
            self.opened.set_exception(WSError(why))
        if self.transport is not None:
            self.transport.close()

    def _parse(self, buf: bytes | bytearray) -> int:
        """Handle the complete frames in ``buf``; return how many bytes are left over."""
        n = len(buf)
        pos = 0
        on_message = self.on_message
        while n - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            length = b1 & 0x7F
            hdr = 2
            if length == 126:
                if n - pos < 4:
                    break
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                hdr = 4
            elif length == 127:
                if n - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                hdr = 10
            key = None
            if b1 & 0x80:  # servers must not mask, but be lenient
                key = bytes(buf[pos + hdr : pos + hdr + 4])
                hdr += 4
            end = pos + hdr + length
            if end > n:
                break
            payload = bytes(buf[pos + hdr : end])
            pos = end
            if key is not None:
                payload = _mask(payload, key)
            opcode = b0 & 0x0F
            if opcode == 1 or opcode == 2:
                if b0 & 0x80:
                    on_message(self, payload)
                else:
                    self.fragments = [payload]
            elif opcode == 0:
                self.fragments.append(payload)
                if b0 & 0x80:
                    on_message(self, b"".join(self.fragments))
                    self.fragments = []
            elif opcode == 9:
                self.send_raw(frame(0xA, payload))
            elif opcode == 8:
                self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                self.send_raw(frame(0x8, payload[:2]))
                if self.transport is not None:
                    self.transport.close()
                return 0
        return n - pos

    # sending
    def send_raw(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def send_text(self, text: str | bytes) -> None:
        self.send_raw(frame(1, text.encode() if isinstance(text, str) else text))

    def send_binary(self, data: bytes) -> None:
        self.send_raw(frame(2, data))

    def close(self, code: int = 1000) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.send_raw(frame(0x8, code.to_bytes(2, "big")))
            self.transport.close()


async def ws_connect(
    url: str,
    on_message: Callable[[WSConn, bytes], None],
    subprotocol: str | None = None,
    limit_s: float = 15.0,
) -> WSConn:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "ws":
        raise WSError(f"only ws:// URLs: {url}")
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 80
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(limit_s):
        _, proto = await loop.create_connection(
            lambda: WSConn(f"{host}:{port}", path, subprotocol, on_message), host, port
        )
        try:
            await proto.opened
        except BaseException:
            _quiet(proto.ready)
            if proto.transport is not None:
                proto.transport.close()
            raise
    return proto


def _quiet(fut: asyncio.Future[Any]) -> None:
    """Mark a future's exception as seen, so asyncio does not log it at collection."""
    if fut.done() and not fut.cancelled():
        fut.exception()
    elif not fut.done():
        fut.cancel()


async def open_many(
    urls: list[str],
    on_message: Callable[[WSConn, bytes], None],
    subprotocol: str | None,
    concurrency: int = 64,
    ready_timeout: float = 20.0,
    retries: int = 2,
) -> tuple[list[WSConn], dict[str, int]]:
    """Open all sockets and wait until each is ready (``conn.ready``, set by ``on_message``).

    At most ``concurrency`` handshakes run at a time; a failure is retried ``retries`` times
    after a short pause; what still fails is counted by reason.
    """
    sem = asyncio.Semaphore(concurrency)
    errors: dict[str, int] = {}
    conns: list[WSConn] = []

    async def one(url: str) -> None:
        why = ""
        for attempt in range(retries + 1):
            if attempt:
                await asyncio.sleep(0.5 * attempt)
            async with sem:
                conn = None
                try:
                    conn = await ws_connect(url, on_message, subprotocol, limit_s=ready_timeout)
                    async with asyncio.timeout(ready_timeout):
                        await conn.ready
                except (OSError, WSError, TimeoutError) as exc:
                    why = f"{type(exc).__name__}: {exc}"[:160]
                    if conn is not None:
                        _quiet(conn.ready)
                        conn.close()
                    continue
                conns.append(conn)
                return
        errors[why] = errors.get(why, 0) + 1

    async with asyncio.TaskGroup() as tg:
        for url in urls:
            tg.create_task(one(url))
    return conns, errors


# Servers and HTTP -------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    pid: int | None
    http_url: str | None
    ws_url: str
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def start_process(
    name: str, argv: list[str], ready_file: Path, log: Path, timeout: float = 60.0
) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """Start a server that writes JSON to ``ready_file`` once it listens; wait for it."""
    ready_file.unlink(missing_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{name} exited with {proc.returncode} before it was ready:\n{tail}")
        if ready_file.exists():
            try:
                info = json.loads(ready_file.read_text())
            except json.JSONDecodeError:
                info = None  # half written; read again
            if isinstance(info, dict):
                return proc, info
        time.sleep(0.1)
    proc.kill()
    proc.wait(timeout=10)
    raise RuntimeError(f"{name} did not write {ready_file} within {timeout:.0f} s")


def http_json(
    method: str, url: str, body: Any = None, token: str | None = None, timeout: float = 30.0
) -> tuple[int, Any]:
    check_loopback(url)
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            status = resp.status
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        status = exc.code
    try:
        return status, json.loads(raw) if raw else None
    except json.JSONDecodeError:
        return status, raw.decode(errors="replace")


def mint(secret: str, user_id: str, name: str) -> str:
    """A token for the server's ``--secret``: thousands of signed-in clients without sign-ups
    (password hashing would take the benchmark's CPU and time)."""
    import jwt

    now = int(time.time())
    claims = {"iss": "livecommerce", "sub": user_id, "name": name, "iat": now, "exp": now + 7200}
    return jwt.encode(claims, secret, algorithm="HS256")


def api(server: Server, method: str, path: str, token: str, body: Any = None) -> Any:
    """One call to ``/api/v1``; anything but 200 or 201 ends the benchmark."""
    assert server.http_url is not None
    status, answer = http_json(method, f"{server.http_url}/api/v1{path}", body, token)
    if status not in (200, 201):
        raise RuntimeError(f"{method} {path} answered {status}: {answer}")
    return answer


def server_metrics(server: Server, names: Sequence[str]) -> dict[str, float]:
    """These samples of the server's /metrics (0 when absent), by their full name."""
    with urllib.request.urlopen(f"{server.http_url}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    values = dict.fromkeys(names, 0.0)
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name in values:
            values[name] = float(value)
    return values


def collect(pipes: list[Connection], kind: str, deadline: float) -> list[Any]:
    """The next message of ``kind`` from every client process, by ``deadline`` (time.time)."""
    out: list[Any] = [None] * len(pipes)
    pending = set(range(len(pipes)))
    while pending and time.time() < deadline:
        for i in list(pending):
            if pipes[i].poll(0.05):
                msg = pipes[i].recv()
                if msg[0] == kind:
                    out[i] = msg
                    pending.discard(i)
    if pending:
        raise TimeoutError(f"{len(pending)} client processes did not report {kind!r}")
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# The servers under test -------------------------------------------------------------------

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "bench-account-pw"  # throwaway accounts on a throwaway server


def version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as _version

    try:
        return _version(dist)
    except PackageNotFoundError:
        return "?"


def lc_supports(flag: str) -> bool:
    """Whether ``livecommerce serve`` knows ``flag`` (the CLI grows while we benchmark it)."""
    out = subprocess.run(
        [sys.executable, "-m", "livecommerce", "serve", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return flag in out.stdout


def attach_livecommerce(url: str, pid: int | None) -> Server:
    """A livecommerce server someone else started; without its pid, no CPU or RSS."""
    check_loopback(url)
    url = url.rstrip("/")
    status, config = http_json("GET", url + "/api/v1/config")
    if status != 200:
        raise RuntimeError(f"GET /api/v1/config answered {status}: {config}")
    check_loopback(config["ws_url"])
    return Server("livecommerce", pid, url, config["ws_url"].rstrip("/"))


def start_livecommerce(
    work: Path, redis_url: str | None = None, extra: list[str] | None = None
) -> Server:
    ready = work / "lc-ready.json"
    log = work / "livecommerce.log"
    argv = [
        sys.executable, "-m", "livecommerce", "serve",
        "--host", "127.0.0.1", "--port", "0", "--ws-port", "0",
        "--data-dir", str(work / "lc-data"), "--ready-file", str(ready),
        # Thousands of load clients share 127.0.0.1: per-address limits would meter the
        # benchmark, not the server (real crowds come from many addresses).
        "--limit-guest-join", "0", "--limit-signup", "0", "--limit-signin", "0",
        "--limit-watch", "0",
    ]  # fmt: skip
    if redis_url:
        check_loopback(redis_url)
        argv += ["--redis-url", redis_url]
    argv += extra or []
    proc, info = start_process("livecommerce", argv, ready, log)
    for key in ("http_url", "ws_url"):
        check_loopback(info[key])
    return Server(
        "livecommerce",
        int(info.get("pid") or proc.pid),
        info["http_url"].rstrip("/"),
        info["ws_url"].rstrip("/"),
        proc,
        log,
        info,
    )


def livecommerce_room(server: Server, senders: int = 0) -> tuple[str, list[str]]:
    """A live room made over HTTP, and session tokens for ``senders`` fresh accounts."""
    room_id, _host, tokens = livecommerce_show(server, senders)
    return room_id, tokens


def livecommerce_show(server: Server, senders: int = 0) -> tuple[str, str, list[str]]:
    """A live room made over HTTP, its host's session token, and tokens for ``senders``
    fresh accounts (the host's token reads the show's results, pins, sells)."""
    from concurrent.futures import ThreadPoolExecutor

    api = f"{server.http_url}/api/v1"
    tag = os.urandom(3).hex()

    def account(name: str) -> str:
        body = {"username": name, "password": PASSWORD, "display_name": name[:40]}
        status, answer = http_json("POST", f"{api}/accounts", body)
        if status != 201:
            raise RuntimeError(f"POST /api/v1/accounts ({name}) answered {status}: {answer}")
        status, answer = http_json(
            "POST", f"{api}/sessions", {"username": name, "password": PASSWORD}
        )
        if status != 200:
            raise RuntimeError(f"POST /api/v1/sessions answered {status}: {answer}")
        return str(answer["token"])

    host = account(f"bench_host_{tag}")
    body = {"title": "benchmark room", "currency": "EUR", "locale": "en"}
    status, room = http_json("POST", f"{api}/rooms", body, token=host)
    if status != 201:
        raise RuntimeError(f"POST /api/v1/rooms answered {status}: {room}")
    room_id = str(room["id"])
    status, answer = http_json("POST", f"{api}/rooms/{room_id}/start", token=host)
    if status != 200:
        raise RuntimeError(f"POST /api/v1/rooms/{room_id}/start answered {status}: {answer}")
    with ThreadPoolExecutor(4) as pool:
        tokens = list(pool.map(account, [f"bench_s{i}_{tag}" for i in range(senders)]))
    return room_id, host, tokens


SOCKETIO_MODES = {
    "aiohttp": [],
    "asgi": ["--asgi-ws", "auto"],
    "asgi-sansio": ["--asgi-ws", "websockets-sansio"],
    "asgi-wsproto": ["--asgi-ws", "wsproto"],
}


def start_socketio(work: Path, mode: str = "aiohttp") -> Server:
    """The python-socketio peer; ``mode`` is aiohttp or asgi[-sansio|-wsproto] (uvicorn)."""
    ready = work / "sio-ready.json"
    log = work / "socketio.log"
    argv = [
        sys.executable, str(REPO / "loadtests" / "socketio_server.py"),
        "--mode", mode.split("-")[0], *SOCKETIO_MODES[mode],
        "--port", "0", "--ready-file", str(ready),
    ]  # fmt: skip
    proc, info = start_process("socketio", argv, ready, log)
    return Server("socketio", int(info["pid"]), info["url"], info["ws_url"], proc, log, info)


SIO_ROOM = "bench"


def lc_ready(conn: WSConn, payload: bytes) -> None:
    """A livecommerce socket is in the room once its ``welcome`` arrives; anything else first
    (an ``error`` before a close: overloaded, unavailable, not found) is a failed join."""
    if b"welcome" in payload:
        conn.ready.set_result(None)
    else:
        conn.ready.set_exception(WSError(f"refused: {payload[:120]!r}"))


def socketio_url(server: Server) -> str:
    return f"{server.ws_url}/socket.io/?EIO=4&transport=websocket"


# Measurements -----------------------------------------------------------------------------


def tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def cpu_snapshot(pid: int) -> dict[int, float]:
    """user+sys seconds of every process in the tree, by pid."""
    out: dict[int, float] = {}
    for p in tree(pid):
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            out[p.pid] = t.user + t.system
    return out


def cpu_between(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(v - before.get(pid, 0.0) for pid, v in after.items())


def rss_tree(pid: int) -> dict[str, int]:
    """RSS in bytes: the root process, and the whole tree (the embedded Valkey included)."""
    procs = tree(pid)
    out = {"main": 0, "tree": 0}
    for p in procs:
        with contextlib.suppress(psutil.Error):
            rss = p.memory_info().rss
            out["tree"] += rss
            if p.pid == pid:
                out["main"] = rss
    return out


def all_cpu() -> dict[int, tuple[str, float]]:
    """user+sys seconds of every process on the machine, with a short name."""
    out: dict[int, tuple[str, float]] = {}
    for p in psutil.process_iter(["name", "cmdline", "cpu_times"]):
        times = p.info["cpu_times"]
        if times is None:
            continue
        cmd = " ".join(p.info["cmdline"] or [p.info["name"] or "?"])
        out[p.pid] = (cmd[:90], times.user + times.system)
    return out


def top_others(
    before: dict[int, tuple[str, float]],
    after: dict[int, tuple[str, float]],
    exclude: set[int],
    n: int = 3,
) -> list[tuple[str, float]]:
    """The processes that used the most CPU between two ``all_cpu`` readings."""
    used = [
        (name, cpu - before.get(pid, (name, 0.0))[1])
        for pid, (name, cpu) in after.items()
        if pid not in exclude
    ]
    return sorted(used, key=lambda x: -x[1])[:n]


def wait_quiet(max_wait_s: float, busy_pct: float = 20.0) -> float:
    """Wait (at most ``max_wait_s``) until the machine is under ``busy_pct`` busy for 2 s.

    A shared machine runs test suites and browsers; a benchmark that starts in the middle
    of them measures them. Returns the last reading, so the report can say how quiet it was.
    """
    deadline = time.monotonic() + max_wait_s
    last = float(psutil.cpu_percent(interval=1.0))
    while time.monotonic() < deadline:
        if last < busy_pct:
            last = max(last, float(psutil.cpu_percent(interval=1.0)))
            if last < busy_pct:
                return last
        last = float(psutil.cpu_percent(interval=1.0))
    return last


def percentile(sorted_values: list[int], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return float(sorted_values[k])


def py_spy(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    """Sample a process for ``seconds`` into ``out`` (py-spy's raw collapsed stacks, 100 Hz;
    the sampling itself costs the machine some CPU); None when py-spy is not installed."""
    exe = shutil.which("py-spy")
    if exe is None:
        print("py-spy: not installed (pip install py-spy); no profile")
        return None
    argv = [exe, "record", "-p", str(pid), "-d", str(max(1, round(seconds))), "-r", "100",
            "-f", "raw", "-o", str(out), "--nonblocking"]  # fmt: skip
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def machine() -> str:
    import platform

    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = psutil.virtual_memory().total / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu or platform.machine()}), {mem:.0f} GiB, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


# The Valkey ceiling -----------------------------------------------------------------------

RAND_RANGE = 10**9  # redis-benchmark -r: it reads an int; 10^12 silently disables it


@dataclass
class Ceiling:
    """What redis-benchmark measured: calls a second and its latency percentiles in ms."""

    rate: float
    p50_ms: str
    p99_ms: str


def redis_benchmark_evalsha(
    url: str, sha: str, keys: Sequence[str], args: Sequence[str], requests: int, clients: int
) -> Ceiling | None:
    """One script, loaded already, by EVALSHA from redis-benchmark (``-P 1``); None when the
    tool is missing or fails (it says why). ``__rand_int__`` in keys or args varies per call."""
    exe = shutil.which("redis-benchmark") or shutil.which("valkey-benchmark")
    if exe is None:
        print("redis-benchmark: not installed (apt-get install redis-tools); skipped")
        return None
    check_loopback(url)
    parts = urllib.parse.urlsplit(url)
    argv = [
        exe, "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 6379),
        "-n", str(requests), "-c", str(clients), "-r", str(RAND_RANGE), "-P", "1", "--csv",
        "EVALSHA", sha, str(len(keys)), *keys, *args,
    ]  # fmt: skip
    if parts.password:
        argv[1:1] = ["-a", urllib.parse.unquote(parts.password)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    rows = [line for line in out.stdout.splitlines() if line.startswith('"EVALSHA')]
    if out.returncode != 0 or not rows:
        print(f"redis-benchmark failed ({out.returncode}): {out.stdout[-500:]} {out.stderr[-500:]}")
        return None
    # --csv: test, rps, avg, min, p50, p95, p99, max (ms)
    cells = [c.strip('"') for c in rows[-1].split('","')]
    return Ceiling(float(cells[1]), cells[4], cells[6])
