"""The room gateway: WebSocket sockets in, room channels and the store out.

This is an edge: it reads frames, turns them into commands with ``wire``, applies the rules
of ``chat`` and ``rooms`` and hands results to the store and the channels. Every failure a
client causes becomes an ``error`` event to that client only; a client that keeps sending
garbage is closed, and nobody else in the room notices.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.connection import broadcast
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from livecommerce.accounts.auth import Authenticator, Identity
from livecommerce.chat.reactions import ReactionTally
from livecommerce.chat.rules import ChatPolicy, TokenBucket, clean_text
from livecommerce.errors import (
    BadRequest,
    CloseCode,
    LiveCommerceError,
    NotFound,
    Overloaded,
    RateLimited,
    TooLarge,
    Unauthorized,
    UnknownType,
)
from livecommerce.moderation.service import Moderators
from livecommerce.numbers import digits
from livecommerce.realtime.channels import Channels, Member
from livecommerce.realtime.wire import (
    ChatSend,
    Command,
    Event,
    Moderate,
    Pin,
    Ping,
    React,
    Release,
    Report,
    Reserve,
    SaleStart,
    SaleStop,
    Subprotocol,
    Unpin,
    Waitlist,
    decode_frame,
    encode,
    parse_command,
    read_ref,
)
from livecommerce.rooms.rules import Role, Room
from livecommerce.rooms.service import Rooms
from livecommerce.runtime import metrics
from livecommerce.selling.reservations import Reservations
from livecommerce.store.limits import Limit, Limiter, client_address
from livecommerce.store.redis_store import Snapshot, Store

log = logging.getLogger("livecommerce.gateway")

_PATH = re.compile(r"^/ws/rooms/([A-Za-z0-9_-]{1,64})$")
HARD_FRAME_LIMIT = 1024 * 1024
BAD_FRAMES_ALLOWED = 10
BAD_FRAMES_WINDOW_S = 10.0
WELCOME_CHAT = 50
HEARD_REVOCATIONS_S = 60.0  # longer than any join takes from its check to its first frame

Clock = Callable[[], float]


@dataclass(slots=True, eq=False)
class Session:
    """One socket's view of who it is and what it has been doing."""

    conn: ServerConnection
    room: Room
    identity: Identity | None
    subprotocol: Subprotocol
    # Their own open holds and units bought, read before a fresh join: for their welcome only.
    buying: dict[str, Any] = field(default_factory=dict)
    reactions: TokenBucket = field(default_factory=lambda: TokenBucket(rate=20.0, burst=20.0))
    bad_frames: deque[float] = field(default_factory=deque)
    chatted: bool = False

    @property
    def user_id(self) -> str | None:
        return self.identity.id if self.identity else None

    @property
    def role(self) -> Role:
        return self.room.role_of(self.user_id)

    def you(self) -> dict[str, Any]:
        role = self.role
        return {
            "id": self.user_id,
            "name": self.identity.name if self.identity else None,
            "role": str(role),
            "can_chat": role is not Role.GUEST,
            **self.buying,
        }


def _query(request_path: str) -> tuple[str | None, dict[str, str]]:
    parts = urlsplit(request_path)
    match = _PATH.match(parts.path)
    query = {k: v[0] for k, v in parse_qs(parts.query, max_num_fields=8).items()}
    return (match.group(1) if match else None), query


def _since(query: dict[str, str]) -> int | None:
    raw = query.get("since")
    return digits(raw, 15) if raw is not None else None


class Gateway:
    def __init__(
        self,
        store: Store,
        channels: Channels,
        authenticator: Authenticator,
        reservations: Reservations,
        moderators: Moderators,
        limiter: Limiter,
        *,
        rooms: Rooms,
        guest_limit: Limit,
        trust_forwarded: bool = False,
        chat_policy: ChatPolicy,
        max_connections: int,
        ping_interval_s: float,
        ping_timeout_s: float,
        open_timeout_s: float = 10.0,
        clock: Clock = time.time,
    ) -> None:
        self.store = store
        self.rooms = rooms
        self.reservations = reservations
        self.moderators = moderators
        self.limiter = limiter
        self.guest_limit = guest_limit
        self.trust_forwarded = trust_forwarded
        self.channels = channels
        self.auth = authenticator
        self.chat_policy = chat_policy
        self.max_connections = max_connections
        self.ping_interval_s = ping_interval_s
        self.ping_timeout_s = ping_timeout_s
        self.open_timeout_s = open_timeout_s
        self.clock = clock
        self.tally = ReactionTally()
        self.sessions: set[Session] = set()
        self._by_token: dict[str, set[Session]] = {}
        self._heard: dict[str, float] = {}  # sign-outs heard lately, for joins under way
        self._closing: set[asyncio.Task[None]] = set()
        self.server: Server | None = None
        self._count = 0

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def start(self, host: str, port: int) -> int:
        self.server = await serve(
            self._handler,
            host,
            port,
            subprotocols=[Subprotocol.JSON, Subprotocol.MSGPACK],  # type: ignore[list-item]
            process_request=self._process_request,
            compression=None,
            max_size=HARD_FRAME_LIMIT,
            max_queue=16,
            ping_interval=self.ping_interval_s,
            ping_timeout=self.ping_timeout_s,
            close_timeout=5,
            open_timeout=self.open_timeout_s,  # also bounds a handshake sent a byte at a time
            server_header=None,
        )
        sockets = list(self.server.sockets)
        return int(sockets[0].getsockname()[1])

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        room_id, _ = _query(request.path)
        if room_id is None:
            return conn.respond(HTTPStatus.NOT_FOUND, "no such socket; use /ws/rooms/{room_id}\n")
        return None

    async def _handler(self, conn: ServerConnection) -> None:
        self._count += 1
        metrics.CONNECTIONS.inc()
        try:
            await self._serve(conn)
        except ConnectionClosed:
            pass
        finally:
            self._count -= 1
            metrics.CONNECTIONS.dec()

    async def _refuse(self, conn: ServerConnection, error: LiveCommerceError, code: int) -> None:
        metrics.CONNECTIONS_REFUSED.labels(error.code).inc()
        protocol = Subprotocol(conn.subprotocol or Subprotocol.JSON)
        await conn.send(encode(protocol, error.to_wire()), text=protocol is Subprotocol.JSON)
        await conn.close(code, error.code)

    async def _serve(self, conn: ServerConnection) -> None:
        protocol = Subprotocol(conn.subprotocol or Subprotocol.JSON)
        assert conn.request is not None
        room_id, query = _query(conn.request.path)
        assert room_id is not None
        if self._count > self.max_connections:
            retry = 1.0 + secrets.randbelow(4000) / 1000
            await self._refuse(
                conn, Overloaded("too many viewers here", retry_after=retry), CloseCode.OVERLOADED
            )
            return
        identity: Identity | None = None
        token = query.get("token")
        if token:
            try:
                identity = self.auth.verify(token)
                refusal = await self.store.refusal(identity.id, identity.session)
                if refusal is not None:
                    raise Unauthorized(refusal)
            except Unauthorized as exc:
                await self._refuse(conn, exc, CloseCode.UNAUTHORIZED)
                return
            except LiveCommerceError as exc:
                await self._refuse(conn, exc, CloseCode.UNAVAILABLE)
                return
        if identity is None:
            try:
                await self.limiter.check(self.guest_limit, self._address(conn))
            except RateLimited as exc:
                await self._refuse(conn, exc, CloseCode.RATE_LIMITED)
                return
            except LiveCommerceError as exc:
                await self._refuse(conn, exc, CloseCode.UNAVAILABLE)
                return
        try:
            room = await self.rooms.room(room_id)
            channel = await self.channels.get(room_id)
        except NotFound as exc:
            await self._refuse(conn, exc, CloseCode.NOT_FOUND)
            return
        except LiveCommerceError as exc:
            await self._refuse(conn, exc, CloseCode.UNAVAILABLE)
            return
        session = Session(conn, room, identity, protocol)
        since = _since(query) if query.get("epoch") == room.epoch else None
        if identity is not None and since is None:
            try:
                session.buying = await self.reservations.buyer_state(identity, room_id)
            except LiveCommerceError as exc:
                await self._refuse(conn, exc, CloseCode.UNAVAILABLE)
                return
        member = Member(
            conn,
            protocol,
            welcome=lambda snapshot: self._welcome(
                session, snapshot, max(channel.viewers_reported, len(channel.members) + 1)
            ),
            user_id=identity.id if identity else None,
        )
        try:
            await channel.join(member, since)
        except LiveCommerceError as exc:
            channel.leave(conn)
            await self._refuse(conn, exc, CloseCode.UNAVAILABLE)
            return
        self._add(session)
        try:
            async for frame in conn:
                await self._on_frame(session, frame)
        finally:
            self._discard(session)
            channel.leave(conn)

    def _add(self, session: Session) -> None:
        self.sessions.add(session)
        token = session.identity.session if session.identity else None
        if token is not None:
            self._by_token.setdefault(token, set()).add(session)
            if token in self._heard:  # signed out while this join was under way
                self._sign_out(session)

    def _discard(self, session: Session) -> None:
        self.sessions.discard(session)
        token = session.identity.session if session.identity else None
        holders = self._by_token.get(token) if token is not None else None
        if token is not None and holders is not None:
            holders.discard(session)
            if not holders:
                del self._by_token[token]

    # Sign-outs -------------------------------------------------------------------------

    def revoke(self, token: str) -> None:
        """A token was signed out (on any process): close this process's sockets holding it."""
        now = self.clock()
        self._heard = {t: at for t, at in self._heard.items() if at > now - HEARD_REVOCATIONS_S}
        self._heard[token] = now
        for session in list(self._by_token.get(token, ())):
            self._sign_out(session)

    async def recheck_revocations(self) -> None:
        """After the bus was down, sign-outs may have gone unheard: ask the store."""
        if not self._by_token:
            return
        for token in await self.store.revoked_among(set(self._by_token)):
            self.revoke(token)

    def _sign_out(self, session: Session) -> None:
        """Tell the socket why, then close it with 4401: do not come back with this token."""
        error = Unauthorized("this token was signed out; sign in again")
        broadcast(
            [session.conn],
            encode(session.subprotocol, error.to_wire()),
            text=session.subprotocol is Subprotocol.JSON,
        )
        task = asyncio.ensure_future(session.conn.close(CloseCode.UNAUTHORIZED, "signed out"))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def _address(self, conn: ServerConnection) -> str:
        """The guest's address, or the one the operator's proxy saw (``--trust-forwarded``)."""
        remote = conn.remote_address
        forwarded = conn.request.headers.get("X-Forwarded-For") if conn.request else None
        return client_address(
            str(remote[0]) if remote else "", forwarded, trust_forwarded=self.trust_forwarded
        )

    def _welcome(self, session: Session, snapshot: Snapshot, viewers: int) -> Event:
        room, recent = snapshot.room, snapshot.recent
        session.room = room
        deleted = {e["id"] for e in recent if e["type"] == "chat.deleted"}
        chat = [e for e in recent if e["type"] == "chat.message" and e["id"] not in deleted]
        return {
            "type": "welcome",
            "seq": snapshot.seq,
            "epoch": room.epoch,
            "room": room.to_public(),
            "you": session.you(),
            "viewers": max(viewers, 0),
            "chat": chat[-WELCOME_CHAT:],
            "pinned": snapshot.pinned,
            "pinned_chat": snapshot.pinned_chat,
            "sales": snapshot.sales,
            "server_time": self.now_ms(),
        }

    async def _reply(self, session: Session, event: Event) -> None:
        """Written at once, as the fan-out writes: a reply is small, and a socket that stops
        reading is the fan-out's slow consumer to cut, not a reason to park this task."""
        broadcast(
            [session.conn],
            encode(session.subprotocol, event),
            text=session.subprotocol is Subprotocol.JSON,
        )

    async def _on_frame(self, session: Session, frame: str | bytes) -> None:
        ref = None
        try:
            message = decode_frame(session.subprotocol, frame)
            ref = read_ref(message)
            command = parse_command(message)
        except (BadRequest, TooLarge) as exc:
            metrics.BAD_FRAMES.labels(exc.code).inc()
            await self._reply(session, exc.to_wire(ref))
            if self._too_many_bad_frames(session):
                await session.conn.close(CloseCode.BAD_FRAMES, "too many bad frames")
            return
        kind = type(command).__name__
        try:
            if isinstance(command, ChatSend):
                await self._chat(session, command)
            elif isinstance(command, React):
                if session.reactions.take(self.clock()):
                    self.tally.add(session.room.id, command.kind)
            elif isinstance(command, Moderate):
                ack = await self.moderators.act(session.identity, session.room.id, command.request)
                await self._reply(session, {"type": "ack", "ref": command.ref, **ack})
            elif isinstance(command, Report):
                report = await self.moderators.report(
                    session.identity, session.room.id, command.request
                )
                await self._reply(
                    session, {"type": "ack", "ref": command.ref, "report_id": report["id"]}
                )
            elif isinstance(command, Ping):
                await self._reply(
                    session, {"type": "pong", "ref": command.ref, "server_time": self.now_ms()}
                )
            else:
                await self._sell(session, command)
            metrics.command(kind, "ok").inc()
        except LiveCommerceError as exc:
            metrics.command(kind, exc.code).inc()
            if exc.code == "rate_limited":
                metrics.RATE_LIMITED.labels("chat").inc()
            await self._reply(session, exc.to_wire(command.ref))
        except ConnectionClosed:
            raise
        except Exception:
            log.exception("command %s failed", kind)
            metrics.command(kind, "internal").inc()
            await self._reply(session, LiveCommerceError().to_wire(command.ref))

    async def _sell(self, session: Session, command: Command) -> None:
        """Pins, sales and holds: the rules live in ``reservations``; replies carry ``ref``."""
        who = session.identity
        desk = self.reservations
        reply: Event
        if isinstance(command, Reserve):
            hold, repeated = await desk.reserve(who, command.sale_id, command.quantity, command.key)
            reply = {"type": "reservation", "reservation": hold.to_public(), "repeated": repeated}
        elif isinstance(command, Release):
            hold = await desk.release(who, command.reservation_id)
            reply = {"type": "ack", "reservation": hold.to_public()}
        elif isinstance(command, Waitlist):
            position = await desk.waitlist(who, command.sale_id, command.quantity)
            reply = {"type": "ack", "sale_id": command.sale_id, "waitlist_position": position}
        else:
            if who is None:
                raise Unauthorized("sign in first")
            room = await self.rooms.room(session.room.id)  # host commands need today's room
            session.room = room
            if isinstance(command, Pin):
                reply = {"type": "ack", "seq": await desk.pin(who, room, command.product_id)}
            elif isinstance(command, Unpin):
                reply = {"type": "ack", "seq": await desk.unpin(who, room)}
            elif isinstance(command, SaleStart):
                sale = await desk.start_sale(who, room, command.draft)
                reply = {"type": "ack", "sale": sale.to_public()}
            elif isinstance(command, SaleStop):
                await desk.stop_sale(who, room, command.sale_id)
                reply = {"type": "ack", "sale_id": command.sale_id}
            else:  # pragma: no cover - parse_command makes no other kind
                raise UnknownType("unknown command")
        reply["ref"] = command.ref
        await self._reply(session, reply)

    def _too_many_bad_frames(self, session: Session) -> bool:
        now = self.clock()
        window = session.bad_frames
        window.append(now)
        while window and window[0] < now - BAD_FRAMES_WINDOW_S:
            window.popleft()
        return len(window) >= BAD_FRAMES_ALLOWED

    async def _chat(self, session: Session, command: ChatSend) -> None:
        if session.identity is None:
            raise Unauthorized("sign in to chat")
        text = clean_text(command.text, self.chat_policy)
        await self.moderators.screen(session.room.id, text)
        now = self.now_ms()
        event: Event = {
            "type": "chat.message",
            "id": "m_" + secrets.token_urlsafe(9),
            "user": {"id": session.identity.id, "name": session.identity.name},
            "text": text,
            "at": now,
        }
        seq = await self.store.post_chat(
            session.room.id,
            session.identity.id,
            event,
            now,
            max(1, int(1000 / self.chat_policy.rate)),
            self.chat_policy.burst,
        )
        metrics.EVENTS_PUBLISHED.labels("chat.message").inc()
        if not session.chatted:  # once per socket: what the data export looks for
            session.chatted = True
            await self.store.note_chatted_in(session.identity.id, session.room.id)
        await self._reply(
            session, {"type": "ack", "ref": command.ref, "id": event["id"], "seq": seq}
        )

    # Ticks -----------------------------------------------------------------------------

    async def flush_reactions(self) -> None:
        for room_id, counts in self.tally.drain().items():
            await self.store.publish_ephemeral(room_id, {"type": "reactions", "counts": counts})

    async def shutdown(self, retry_after_ms: int = 1000) -> None:
        """Tell every client to reconnect elsewhere, then close with 1012."""
        if self.server is None:
            return
        self.server.close(close_connections=False)
        notice = {"type": "reconnect", "reason": "shutdown", "retry_after_ms": retry_after_ms}
        for channel in list(self.channels.rooms.values()):
            channel.send_all(notice)
        closing = [
            s.conn.close(CloseCode.SERVICE_RESTART, "server restart") for s in list(self.sessions)
        ]
        await asyncio.gather(*closing, return_exceptions=True)
        await self.server.wait_closed()
