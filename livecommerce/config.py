"""Settings: every knob has a flag and a LIVECOMMERCE_* environment variable.

Flags win over the environment, the environment over defaults. The secret that signs the
server's tokens is generated into the data directory on first start so that a restart does
not sign everyone out.
"""

from __future__ import annotations

import argparse
import os
import secrets
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from aiortc import RTCIceServer

from livecommerce.accounts.auth import MerchantKeys
from livecommerce.auctions.rules import Increments
from livecommerce.errors import BadRequest
from livecommerce.runtime.pressure import Thresholds
from livecommerce.store.limits import Limit


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    ws_port: int | None = None
    public_url: str | None = None
    public_ws_url: str | None = None
    data_dir: Path = Path(".livecommerce")
    redis_url: str | None = None
    redis_cluster: bool = False
    wait_replicas: int = 1
    wait_timeout_ms: int = 5000
    appendfsync: str = "everysec"
    secret: str | None = None
    jwt_secret: str | None = None
    jwt_public_key: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_max_ttl_s: int = 86400
    tick_ms: int = 25
    write_slice: int = 1000
    max_buffer_bytes: int = 512 * 1024
    max_connections: int = 20_000
    chat_rate: float = 0.5
    chat_burst: int = 3
    stream_max_len: int = 10_000
    ping_interval_s: float = 20.0
    ping_timeout_s: float = 20.0
    http_head_timeout_s: float = 10.0
    http_keep_alive_s: float = 75.0
    ws_open_timeout_s: float = 10.0
    log_level: str = "info"
    log_format: str = "json"
    ready_file: Path | None = None
    allow_private_webhooks: bool = False
    limit_signup: str = "12/30"
    limit_signin: str = "120/60"
    limit_signin_failures: str = "10/10"
    limit_signin_account: str = "30/30"
    limit_guest_join: str = "600/300"
    limit_reserve: str = "60/10"
    limit_reports: str = "5/5"
    limit_watch: str = "600/300"
    limit_publish: str = "30/10"
    limit_images: str = "30/10"
    max_holds: int = 10
    limit_bid: str = "120/20"
    limit_follow: str = "30/10"
    show_reminder_lead_s: int = 900
    auction_increments: str = "30:1,50:2,100:3,300:5,1000:10,2000:20,*:50"
    auction_pay_s: int = 600
    auction_strikes: int = 3
    giveaway_claim_s: int = 7 * 24 * 3600
    analytics: bool = True
    trust_forwarded: bool = False
    ice_servers: str = ""
    max_stream_viewers: int = 2000
    cascade: bool = True
    internal_url: str | None = None
    record: bool = True
    stream_claim_s: float = 15.0
    stream_idle_s: float = 2.0
    stream_grace_s: float = 30.0
    shedding: bool = True
    shed_busy_lag_ms: float = 20.0
    shed_lag_ms: float = 60.0
    shed_hold_s: float = 2.0
    shed_pending_joins: int = 400
    shed_chat_per_s: float = 50.0
    demo: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def ice_server_list(self) -> list[RTCIceServer]:
        """``stun:host:port`` or ``turn:user:password@host:port``, comma-separated."""
        servers = []
        for entry in filter(None, (e.strip() for e in str(self.ice_servers).split(","))):
            scheme, _, rest = entry.partition(":")
            if scheme not in ("stun", "turn", "turns"):
                raise SystemExit(f"livecommerce: --ice-servers: {entry!r} is not stun: or turn:")
            if "@" in rest and scheme != "stun":
                credentials, _, where = rest.rpartition("@")
                username, _, password = credentials.partition(":")
                servers.append(RTCIceServer(f"{scheme}:{where}", username, password))
            else:
                servers.append(RTCIceServer(entry))
        return servers

    def increments(self) -> Increments:
        return Increments.parse(self.auction_increments)

    def shed_thresholds(self) -> Thresholds:
        return Thresholds(
            busy_lag_s=self.shed_busy_lag_ms / 1000,
            shed_lag_s=self.shed_lag_ms / 1000,
            hold_s=self.shed_hold_s,
            pending_joins=self.shed_pending_joins,
        )

    def limit(self, name: str) -> Limit:
        return Limit.parse(name, str(getattr(self, f"limit_{name}")))

    @property
    def gateway_port(self) -> int:
        if self.ws_port is not None:
            return self.ws_port
        return self.port + 1 if self.port else 0

    def merchant_keys(self) -> MerchantKeys:
        public_key = self.jwt_public_key
        if public_key and not public_key.lstrip().startswith("-----BEGIN"):
            public_key = Path(public_key).read_text(encoding="utf-8")
        return MerchantKeys(
            hs256_secret=self.jwt_secret or None,
            rs256_public_key=public_key or None,
            issuer=self.jwt_issuer or None,
            audience=self.jwt_audience or None,
            max_ttl_s=self.jwt_max_ttl_s,
        )

    def server_secret(self) -> str:
        """The configured secret, or one kept in the data directory (made on first use)."""
        if self.secret:
            return self.secret
        path = self.data_dir / "secret"
        if path.exists():
            return path.read_text(encoding="utf-8").strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(value)
        return value


_HELP = {
    "host": "address to listen on",
    "port": "HTTP port (0 picks a free one)",
    "ws_port": "WebSocket gateway port (default: HTTP port + 1; 0 picks a free one)",
    "public_url": "the HTTP URL clients use, when behind a proxy",
    "public_ws_url": "the WebSocket URL clients use, when behind a proxy (ws:// or wss://)",
    "data_dir": "directory for the embedded Valkey's data and the generated secret",
    "redis_url": "an external Redis 7+ or Valkey; without it an embedded Valkey is started",
    "redis_cluster": (
        "--redis-url names a node of a Redis or Valkey Cluster: use the whole cluster"
    ),
    "wait_replicas": (
        "on a cluster, replicas that must have an order before it is acknowledged (0: none)"
    ),
    "wait_timeout_ms": (
        "how long an order waits to be on disk (and on a cluster on a replica) before the"
        " buyer is asked to retry with the same key"
    ),
    "appendfsync": "embedded Valkey fsync policy: everysec or always",
    "secret": "secret that signs the server's tokens (default: generated into the data dir)",
    "jwt_secret": "HS256 secret for merchant-issued JWTs",
    "jwt_public_key": "RS256 public key (PEM text or a file path) for merchant-issued JWTs",
    "jwt_issuer": "required 'iss' of merchant JWTs",
    "jwt_audience": "required 'aud' of merchant JWTs",
    "jwt_max_ttl_s": (
        "merchant JWTs whose 'exp' is further ahead than this many seconds are refused (0: any)"
    ),
    "tick_ms": "fan-out batching tick in milliseconds",
    "write_slice": "sockets a broadcast writes before letting the loop serve others",
    "max_buffer_bytes": "a socket's write buffer limit before it is closed as a slow consumer",
    "max_connections": "WebSocket connections this process accepts before shedding load",
    "chat_rate": "chat messages per second one user may send in a room (sustained)",
    "chat_burst": "chat messages one user may send at once",
    "stream_max_len": "events kept per room for resume (approximate)",
    "ping_interval_s": "seconds between keepalive pings",
    "ping_timeout_s": "seconds to wait for a pong before closing the socket",
    "log_level": "debug, info, warning or error",
    "log_format": "json or text",
    "limit_signup": "new accounts per address: '<per minute>/<burst>' ('0' turns it off)",
    "limit_signin": "sign-in attempts per address: '<per minute>/<burst>'",
    "limit_signin_failures": (
        "wrong passwords per username from one address: '<per minute>/<burst>'"
    ),
    "limit_signin_account": (
        "wrong passwords per username from anywhere before every address loses its burst"
        " (it slows guessing, never locks the owner out): '<per minute>/<burst>'"
    ),
    "limit_guest_join": "guest socket joins per address: '<per minute>/<burst>'",
    "limit_reserve": "reserves per account and room: '<per minute>/<burst>'",
    "limit_reports": "chat reports per account and room: '<per minute>/<burst>'",
    "limit_watch": "WHEP offers (each a WebRTC session) per address: '<per minute>/<burst>'",
    "limit_publish": "WHIP offers per account: '<per minute>/<burst>'",
    "limit_images": "product image uploads per account: '<per minute>/<burst>'",
    "max_holds": "most reservations one account may hold at once across a room's sales (0: no cap)",
    "limit_bid": "auction bids per account and room: '<per minute>/<burst>'",
    "limit_follow": ("follow, unfollow and remind-me toggles per account: '<per minute>/<burst>'"),
    "show_reminder_lead_s": (
        "seconds before a show's scheduled start that its show.reminder webhook is sent"
    ),
    "auction_increments": (
        "auction bid increments by price band in major units: '<below>:<step>,...,*:<step>'"
    ),
    "auction_pay_s": "seconds an auction's winner has to pay before the order lapses",
    "auction_strikes": "unpaid auction orders after which an account may no longer bid (0: never)",
    "giveaway_claim_s": (
        "seconds a giveaway's winner has to give a shipping address before the prize lapses"
    ),
    "analytics": (
        "count each show's audience, engagement and sales for its results"
        " (--no-analytics: count nothing; the results page shows zeros)"
    ),
    "ice_servers": "WebRTC STUN/TURN servers, comma-separated: stun:host:port, turn:u:p@host:port",
    "max_stream_viewers": "WHEP viewers this process serves before it answers 503",
    "record": "record every stream to <data-dir>/recordings for replays (--no-record: none)",
    "stream_claim_s": (
        "seconds after a streaming process last said so that others take its streams for dead"
    ),
    "cascade": (
        "serve viewers of a stream another process carries by pulling it from there once"
        " (--no-cascade: redirect them there)"
    ),
    "internal_url": "the HTTP URL other processes pull streams from (default: the listening one)",
    "stream_idle_s": "seconds without video before viewers see the stream as reconnecting",
    "stream_grace_s": "seconds viewers wait for a publisher that dropped before the stream ends",
    "trust_forwarded": "take the client address from X-Forwarded-For (behind your own proxy)",
    "ready_file": "write {http_url, ws_url, pid} as JSON here once listening",
    "http_head_timeout_s": (
        "seconds an HTTP client has to send a request's line and headers (then 408 and close)"
    ),
    "http_keep_alive_s": "seconds an idle HTTP keep-alive connection stays open",
    "ws_open_timeout_s": "seconds a WebSocket client has to finish its opening handshake",
    "allow_private_webhooks": (
        "send webhooks to loopback, private and link-local addresses too (local development"
        " and tests only: it lets creators reach the server's own network)"
    ),
    "shedding": (
        "when the event loop lags, turn new joins away with a retry hint, pace ambient updates"
        " slower and meter chat (--no-shedding: admit up to --max-connections)"
    ),
    "shed_busy_lag_ms": (
        "smoothed event-loop lag at which a process is busy: ambient updates slow, chat is metered"
    ),
    "shed_lag_ms": (
        "smoothed event-loop lag at which new joins and viewing sessions are turned away"
        " (close 4003 or 503 with a retry hint)"
    ),
    "shed_hold_s": "seconds the lag must stay lower before a process steps down a level",
    "shed_pending_joins": (
        "joins under way at once (accepted, not yet welcomed) beyond which new ones are turned"
        " away (0: the lag alone decides)"
    ),
    "shed_chat_per_s": (
        "chat lines a second a busy process takes across its rooms (more: overloaded)"
    ),
}

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for f in fields(Settings):
        if f.name in ("extra", "demo"):
            continue
        env = f"LIVECOMMERCE_{f.name.upper()}"
        flag = "--" + f.name.replace("_", "-")
        text = f"{_HELP[f.name]} [env {env}]"
        if isinstance(f.default, bool):
            # --x and --no-x; None when neither is given, so the environment still counts.
            action = argparse.BooleanOptionalAction
            parser.add_argument(flag, dest=f.name, default=None, action=action, help=text)
        else:
            parser.add_argument(flag, dest=f.name, default=None, help=text)


def from_arguments(args: argparse.Namespace, *, demo: bool = False) -> Settings:
    values: dict[str, Any] = {}
    for f in fields(Settings):
        if f.name in ("extra", "demo"):
            continue
        raw = getattr(args, f.name, None)
        if raw is None:
            raw = os.environ.get(f"LIVECOMMERCE_{f.name.upper()}")
        if raw is None or raw == "":
            continue
        values[f.name] = _convert(f.name, raw)
    settings = Settings(demo=demo, **values)
    try:
        settings.shed_thresholds()
    except ValueError as exc:
        raise SystemExit(f"livecommerce: --shed-*: {exc}") from None
    return settings


def _convert(name: str, raw: str | bool) -> Any:
    default = getattr(Settings(), name)
    if isinstance(default, bool):  # before int: a bool is an int
        if isinstance(raw, bool):
            return raw
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise SystemExit(
            f"livecommerce: LIVECOMMERCE_{name.upper()} takes true or false, not {raw!r}"
        )
    assert isinstance(raw, str)
    try:
        if name in ("data_dir", "ready_file"):
            return Path(raw)
        if name == "jwt_max_ttl_s" and int(raw) < 0:
            raise ValueError(raw)
        if name in ("port", "ws_port") or isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError:
        raise SystemExit(
            f"livecommerce: --{name.replace('_', '-')} takes a number, not {raw!r}"
        ) from None
    if name.startswith("limit_"):
        try:
            Limit.parse(name, raw)
        except BadRequest as exc:
            raise SystemExit(f"livecommerce: --{name.replace('_', '-')}: {exc.message}") from None
    if name == "auction_increments":
        try:
            Increments.parse(raw)
        except ValueError as exc:
            raise SystemExit(f"livecommerce: --auction-increments: {exc}") from None
    if name == "appendfsync" and raw not in ("everysec", "always"):
        raise SystemExit("livecommerce: --appendfsync takes everysec or always")
    return raw
