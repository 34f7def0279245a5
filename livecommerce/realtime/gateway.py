"""The room gateway: WebSocket sockets in, room channels and the store out.

This is an edge: it reads frames, turns them into commands with ``wire`` and hands each to
its handler in a table (command type -> handler), which asks the service that owns the rule
(``chat``, ``moderation``, ``selling``) and returns the reply. Every failure a client causes
becomes an ``error`` event to that client only; a client that keeps sending garbage is
closed, and nobody else in the room notices. A join that is refused is closed with the close
code its error carries (``errors.py``), in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.connection import broadcast
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from livecommerce.accounts.auth import Authenticator, Identity
from livecommerce.accounts.service import Accounts
from livecommerce.analytics.rules import visitor_of
from livecommerce.analytics.service import Analytics
from livecommerce.auctions.service import Auctions
from livecommerce.chat.reactions import FLUSH_EVERY_S, ReactionTally
from livecommerce.chat.rules import TokenBucket
from livecommerce.chat.service import Chat
from livecommerce.errors import (
    BadRequest,
    CloseCode,
    LiveCommerceError,
    NotFound,
    Overloaded,
    RateLimited,
    TooLarge,
    Unauthorized,
)
from livecommerce.events import (
    Ack,
    BidAccepted,
    Outgoing,
    Pong,
    Reactions,
    Reconnect,
    Reservation,
    Welcome,
)
from livecommerce.giveaways.service import Giveaways
from livecommerce.groupbuys.service import GroupBuys
from livecommerce.moderation.service import Moderators
from livecommerce.numbers import digits
from livecommerce.polls.service import Polls
from livecommerce.realtime.channels import Channels, Member
from livecommerce.realtime.snapshots import Snapshot
from livecommerce.realtime.wire import (
    AuctionCancel,
    AuctionQueue,
    AuctionStart,
    AuctionVoid,
    Bid,
    ChatSend,
    Command,
    GiveawayCancel,
    GiveawayEnter,
    GiveawayStart,
    GroupBuyStart,
    GroupBuyStop,
    Moderate,
    Pin,
    Ping,
    PollEnd,
    PollStart,
    PollVote,
    React,
    Release,
    Report,
    Reserve,
    SaleStart,
    SaleStop,
    SecondChance,
    Subprotocol,
    Track,
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
from livecommerce.runtime.shedding import Shedding
from livecommerce.selling.reservations import Reservations
from livecommerce.store.history import Store
from livecommerce.store.limits import Limit, Limiter, client_address

log = logging.getLogger("livecommerce.gateway")
_ABSENT = object()  # a read this process does not make (a feature it runs without)

_PATH = re.compile(r"^/ws/rooms/([A-Za-z0-9_-]{1,64})$")
HARD_FRAME_LIMIT = 1024 * 1024
BAD_FRAMES_ALLOWED = 10
BAD_FRAMES_WINDOW_S = 10.0
WELCOME_CHAT = 50
HEARD_REVOCATIONS_S = 60.0  # longer than any join takes from its check to its first frame

Clock = Callable[[], float]
# A command's handler: its reply (``ref`` is added), or None when the command has none.
Handler = Callable[["Session", Any], Awaitable[Ack | BidAccepted | Pong | Reservation | None]]


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
    clicks: TokenBucket = field(default_factory=lambda: TokenBucket(rate=2.0, burst=10.0))
    # Entering a giveaway and voting are taps a person makes once or twice: a socket that
    # sends them in a stream gets ``rate_limited`` before each reaches the store.
    taps: TokenBucket = field(default_factory=lambda: TokenBucket(rate=1.0, burst=5.0))
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
        chat: Chat,
        *,
        rooms: Rooms,
        accounts: Accounts,
        auctions: Auctions,
        analytics: Analytics | None = None,
        giveaways: Giveaways | None = None,
        polls: Polls | None = None,
        groupbuys: GroupBuys | None = None,
        guest_limit: Limit,
        trust_forwarded: bool = False,
        max_connections: int,
        ping_interval_s: float,
        ping_timeout_s: float,
        open_timeout_s: float = 10.0,
        shedding: Shedding | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.store = store
        self.rooms = rooms
        self.accounts = accounts
        self.auctions = auctions
        self.groupbuys = groupbuys
        self.analytics = analytics
        self.giveaways = giveaways
        self.polls = polls
        self.reservations = reservations
        self.moderators = moderators
        self.limiter = limiter
        self.guest_limit = guest_limit
        self.trust_forwarded = trust_forwarded
        self.channels = channels
        self.auth = authenticator
        self.chat = chat
        self.max_connections = max_connections
        self.ping_interval_s = ping_interval_s
        self.ping_timeout_s = ping_timeout_s
        self.open_timeout_s = open_timeout_s
        self.shedding = shedding
        if shedding is not None:  # accepted, not yet welcomed: a queue of joins (pressure.py)
            shedding.pending = lambda: self._count - len(self.sessions)
        # Each room's host, as last read: a host is not shut out of their own show.
        self._hosts: dict[str, str] = {}
        self._reactions_flushed = 0.0
        self.clock = clock
        self.tally = ReactionTally()
        self.sessions: set[Session] = set()
        self._by_token: dict[str, set[Session]] = {}
        self._heard: dict[str, float] = {}  # sign-outs heard lately, for joins under way
        self._closing: set[asyncio.Task[None]] = set()
        self.server: Server | None = None
        self._count = 0
        self._handlers: dict[type[Command], Handler] = {
            ChatSend: self._chat,
            React: self._react,
            Track: self._track,
            Moderate: self._moderate,
            Report: self._report,
            Ping: self._ping,
            Reserve: self._reserve,
            Release: self._release,
            Waitlist: self._waitlist,
            Pin: self._pin,
            Unpin: self._unpin,
            SaleStart: self._sale_start,
            SaleStop: self._sale_stop,
            Bid: self._bid,
            AuctionQueue: self._auction_queue,
            AuctionStart: self._auction_start,
            AuctionCancel: self._auction_cancel,
            AuctionVoid: self._auction_void,
            SecondChance: self._second_chance,
            GiveawayStart: self._giveaway_start,
            GiveawayCancel: self._giveaway_cancel,
            GiveawayEnter: self._giveaway_enter,
            PollStart: self._poll_start,
            PollEnd: self._poll_end,
            PollVote: self._poll_vote,
            GroupBuyStart: self._groupbuy_start,
            GroupBuyStop: self._groupbuy_stop,
        }

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
        except LiveCommerceError as error:
            await self._refuse(conn, error)
        except ConnectionClosed:
            pass
        finally:
            self._count -= 1
            metrics.CONNECTIONS.dec()

    async def _refuse(self, conn: ServerConnection, error: LiveCommerceError) -> None:
        """The one way a join is refused: the error event, then the error's close code."""
        metrics.CONNECTIONS_REFUSED.labels(error.code).inc()
        protocol = Subprotocol(conn.subprotocol or Subprotocol.JSON)
        with contextlib.suppress(ConnectionClosed):
            await conn.send(encode(protocol, error.to_wire()), text=protocol is Subprotocol.JSON)
            await conn.close(error.close_code, error.code)

    async def _serve(self, conn: ServerConnection) -> None:
        """Join the socket to its room, then read its frames until it goes.

        Whatever refuses the join is raised, and ``_handler`` answers it with its close code.
        """
        protocol = Subprotocol(conn.subprotocol or Subprotocol.JSON)
        assert conn.request is not None
        room_id, query = _query(conn.request.path)
        assert room_id is not None
        if self._count > self.max_connections:
            retry = 1.0 + secrets.randbelow(4000) / 1000
            raise Overloaded("too many viewers here", retry_after=retry)
        identity: Identity | None = None
        token = query.get("token")
        if token:
            identity = self.auth.verify(token)
        host = identity is not None and self._hosts.get(room_id) == identity.id
        if self.shedding is not None and not host:
            self.shedding.admit("join")  # before the store is asked anything
        if identity is not None:
            refusal = await self.accounts.refusal(identity.id, identity.session)
            if refusal is not None:
                raise Unauthorized(refusal)
        if identity is None:
            await self.limiter.check(self.guest_limit, self._address(conn))
        room = await self.rooms.room(room_id)
        self._hosts[room_id] = room.host_id
        channel = await self.channels.get(room_id)
        session = Session(conn, room, identity, protocol)
        since = _since(query) if query.get("epoch") == room.epoch else None
        if identity is not None and since is None:
            session.buying = await self._buying(identity, room_id)
        member = Member(
            conn,
            protocol,
            welcome=lambda snapshot: dict(  # a channel takes a plain Event
                self._welcome(
                    session, snapshot, max(channel.viewers_reported, len(channel.members) + 1)
                )
            ),
            user_id=identity.id if identity else None,
            viewer=_viewer(identity, query.get("visitor")),
            audience=identity is None or identity.id != room.host_id,
        )
        try:
            await channel.join(member, since)
        except LiveCommerceError:
            channel.leave(conn)
            raise
        self._add(session)
        try:
            async for frame in conn:
                await self._on_frame(session, frame)
        finally:
            self._discard(session)
            channel.leave(conn)

    async def _buying(self, identity: Identity, room_id: str) -> dict[str, Any]:
        """What a signed-in viewer's welcome says of their own buying: holds, bids, entries,
        votes, group buys. The reads are independent, so a join waits for the slowest one,
        not for each in turn (a spike of joins is many of these at once)."""

        async def bids() -> Any:
            lots = await self.auctions.welcome_lots(room_id)
            return await self.auctions.bidder_maxes(room_id, identity.id, lots)

        async def giveaway_entered() -> Any:
            if self.giveaways is None:
                return None
            running = await self.giveaways.welcome(room_id)
            if running is None:
                return None
            return await self.giveaways.entered(room_id, identity.id, running)

        async def poll_vote() -> Any:
            if self.polls is None:
                return _ABSENT
            return await self.polls.your_vote(room_id, identity.id)

        async def group_joins() -> Any:
            return await self.groupbuys.joined(identity, room_id) if self.groupbuys else {}

        buying, lot_bids, entered, vote, joins = await asyncio.gather(
            self.reservations.buyer_state(identity, room_id),
            bids(),
            giveaway_entered(),
            poll_vote(),
            group_joins(),
        )
        buying["bids"] = lot_bids
        if entered is not None:
            buying["giveaway_entered"] = entered
        if vote is not _ABSENT:
            buying["poll_vote"] = vote
        if joins:  # only for someone who joined one of the room's group buys
            buying["group_joins"] = joins
        return dict(buying)

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
        for token in await self.accounts.revoked_among(set(self._by_token)):
            self.revoke(token)

    def _sign_out(self, session: Session) -> None:
        """Tell the socket why, then close it with 4401: do not come back with this token."""
        error = Unauthorized("this token was signed out; sign in again")
        broadcast(
            [session.conn],
            encode(session.subprotocol, error.to_wire()),
            text=session.subprotocol is Subprotocol.JSON,
        )
        task = asyncio.ensure_future(session.conn.close(error.close_code, "signed out"))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def _address(self, conn: ServerConnection) -> str:
        """The guest's address, or the one the operator's proxy saw (``--trust-forwarded``)."""
        remote = conn.remote_address
        forwarded = conn.request.headers.get("X-Forwarded-For") if conn.request else None
        return client_address(
            str(remote[0]) if remote else "", forwarded, trust_forwarded=self.trust_forwarded
        )

    def _welcome(self, session: Session, snapshot: Snapshot, viewers: int) -> Welcome:
        room, recent = snapshot.room, snapshot.recent
        session.room = room
        deleted = {e["id"] for e in recent if e["type"] == "chat.deleted"}
        chat = [e for e in recent if e["type"] == "chat.message" and e["id"] not in deleted]
        return Welcome(
            type="welcome",
            seq=snapshot.seq,
            epoch=room.epoch,
            room=room.to_public(),
            you=session.you(),
            viewers=max(viewers, 0),
            chat=chat[-WELCOME_CHAT:],
            pinned=snapshot.pinned,
            pinned_chat=snapshot.pinned_chat,
            sales=snapshot.sales,
            auctions=snapshot.auctions,
            giveaway=snapshot.giveaway,
            polls=snapshot.polls,
            group_buys=snapshot.group_buys,
            server_time=self.now_ms(),
        )

    async def _reply(self, session: Session, event: Outgoing) -> None:
        """Written at once, as the fan-out writes: a reply is small, and a socket that stops
        reading is the fan-out's slow consumer to cut, not a reason to park this task."""
        broadcast(
            [session.conn],
            encode(session.subprotocol, event),
            text=session.subprotocol is Subprotocol.JSON,
        )

    async def _on_frame(self, session: Session, frame: str | bytes) -> None:
        """Decode, hand the command to its handler, reply: every refusal the same way."""
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
            reply = await self._handlers[type(command)](session, command)
            if reply is not None:
                reply["ref"] = command.ref
                await self._reply(session, reply)
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

    def _too_many_bad_frames(self, session: Session) -> bool:
        now = self.clock()
        window = session.bad_frames
        window.append(now)
        while window and window[0] < now - BAD_FRAMES_WINDOW_S:
            window.popleft()
        return len(window) >= BAD_FRAMES_ALLOWED

    # Handlers: (session, command) -> reply ---------------------------------------------

    async def _chat(self, session: Session, command: ChatSend) -> Ack:
        if self.shedding is not None and session.role is not Role.HOST:
            self.shedding.admit_chat()  # reserves, checkouts and bids never wait on it
        posted = await self.chat.post(session.identity, session.room.id, command.text, command.key)
        if posted.repeated:
            return Ack(type="ack", id=posted.id, seq=posted.seq, repeated=True)
        if self.analytics is not None:
            self.analytics.chatted(session.room.id, posted.user_id)
        if not session.chatted:  # once per socket: what the data export looks for
            session.chatted = True
            await self.chat.note_chatted_in(posted.user_id, session.room.id)
        return Ack(type="ack", id=posted.id, seq=posted.seq)

    async def _react(self, session: Session, command: React) -> None:
        if session.reactions.take(self.clock()):
            self.tally.add(session.room.id, command.kind)
            if self.analytics is not None:
                self.analytics.count(session.room.id, "reactions")

    async def _track(self, session: Session, command: Track) -> None:
        """Counted if the page may have shown it; too many, or the host's own, are dropped."""
        if (
            self.analytics is not None
            and session.role is not Role.HOST
            and session.clicks.take(self.clock())
        ):
            self.analytics.clicked(session.room.id, command.product_id)

    async def _moderate(self, session: Session, command: Moderate) -> Ack:
        acted = await self.moderators.act(session.identity, session.room.id, command.request)
        ack = Ack(type="ack", action=acted["action"])
        if "seq" in acted:
            ack["seq"] = acted["seq"]
        if "until" in acted:
            ack["until"] = acted["until"]
        return ack

    async def _report(self, session: Session, command: Report) -> Ack:
        report = await self.moderators.report(session.identity, session.room.id, command.request)
        if self.analytics is not None:
            self.analytics.count(session.room.id, "reports")
        return Ack(type="ack", report_id=report["id"])

    async def _ping(self, session: Session, command: Ping) -> Pong:
        return Pong(type="pong", server_time=self.now_ms())

    # Pins, sales and holds: the rules live in ``reservations``.

    async def _reserve(self, session: Session, command: Reserve) -> Reservation:
        hold, repeated = await self.reservations.reserve(
            session.identity, command.sale_id, command.quantity, command.key
        )
        return Reservation(type="reservation", reservation=hold.to_public(), repeated=repeated)

    async def _release(self, session: Session, command: Release) -> Ack:
        hold = await self.reservations.release(session.identity, command.reservation_id)
        return Ack(type="ack", reservation=hold.to_public())

    async def _waitlist(self, session: Session, command: Waitlist) -> Ack:
        position = await self.reservations.waitlist(
            session.identity, command.sale_id, command.quantity
        )
        return Ack(type="ack", sale_id=command.sale_id, waitlist_position=position)

    async def _hosting(self, session: Session) -> tuple[Identity, Room]:
        """Who sends a host command, and their room as stored now (rights change live)."""
        if session.identity is None:
            raise Unauthorized("sign in first")
        room = await self.rooms.room(session.room.id)  # host commands need today's room
        session.room = room
        return session.identity, room

    async def _pin(self, session: Session, command: Pin) -> Ack:
        who, room = await self._hosting(session)
        return Ack(type="ack", seq=await self.reservations.pin(who, room, command.product_id))

    async def _unpin(self, session: Session, command: Unpin) -> Ack:
        who, room = await self._hosting(session)
        return Ack(type="ack", seq=await self.reservations.unpin(who, room))

    async def _sale_start(self, session: Session, command: SaleStart) -> Ack:
        who, room = await self._hosting(session)
        sale = await self.reservations.start_sale(who, room, command.draft)
        return Ack(type="ack", sale=sale.to_public())

    async def _sale_stop(self, session: Session, command: SaleStop) -> Ack:
        who, room = await self._hosting(session)
        await self.reservations.stop_sale(who, room, command.sale_id)
        return Ack(type="ack", sale_id=command.sale_id)

    # Group buys: the rules live in ``groupbuys``; joining is over HTTP (it takes a card).

    def _groups(self) -> GroupBuys:
        if self.groupbuys is None:
            raise NotFound("group buys are not available here")
        return self.groupbuys

    async def _groupbuy_start(self, session: Session, command: GroupBuyStart) -> Ack:
        who, room = await self._hosting(session)
        group = await self._groups().start(who, room, command.draft)
        return Ack(type="ack", group=group.to_public())

    async def _groupbuy_stop(self, session: Session, command: GroupBuyStop) -> Ack:
        who, room = await self._hosting(session)
        group = await self._groups().stop(who, room, command.group_id)
        return Ack(type="ack", group=group.to_public())

    # Auctions: the rules live in ``auctions``.

    async def _bid(self, session: Session, command: Bid) -> BidAccepted:
        if await self.auctions.auctions.room_of(command.auction_id) != session.room.id:
            raise NotFound("no such auction in this room")
        answer = await self.auctions.bid(
            session.identity, command.auction_id, command.amount, command.key
        )
        return BidAccepted(
            type="bid.accepted",
            auction_id=command.auction_id,
            amount=answer.amount,
            max=answer.max,
            leading=answer.leading,
        )

    async def _auction_queue(self, session: Session, command: AuctionQueue) -> Ack:
        who, room = await self._hosting(session)
        auction = await self.auctions.queue(who, room, command.draft)
        return Ack(type="ack", auction=self.auctions.public(auction))

    async def _auction_start(self, session: Session, command: AuctionStart) -> Ack:
        who, room = await self._hosting(session)
        if command.auction_id is not None:
            auction = await self.auctions.start(who, room, command.auction_id)
        else:
            assert command.draft is not None
            auction = await self.auctions.run(who, room, command.draft)
        return Ack(type="ack", auction=self.auctions.public(auction))

    async def _auction_cancel(self, session: Session, command: AuctionCancel) -> Ack:
        who, room = await self._hosting(session)
        auction = await self.auctions.cancel(who, room, command.auction_id)
        return Ack(type="ack", auction=self.auctions.public(auction))

    async def _auction_void(self, session: Session, command: AuctionVoid) -> Ack:
        who, room = await self._hosting(session)
        auction = await self.auctions.void(
            who, room, command.auction_id, command.user_id, command.reason
        )
        return Ack(type="ack", auction=self.auctions.public(auction))

    async def _second_chance(self, session: Session, command: SecondChance) -> Ack:
        who, room = await self._hosting(session)
        await self.auctions.second_chance(who, room, command.auction_id)
        auction = await self.auctions.auction(command.auction_id)
        return Ack(type="ack", auction=self.auctions.public(auction))

    # Giveaways: the rules live in ``giveaways``.

    def _giveaway_service(self) -> Giveaways:
        if self.giveaways is None:
            raise NotFound("giveaways are not served here")
        return self.giveaways

    async def _giveaway_start(self, session: Session, command: GiveawayStart) -> Ack:
        service = self._giveaway_service()
        who, room = await self._hosting(session)
        giveaway = await service.start(who, room, command.draft)
        return Ack(type="ack", giveaway=await service.public(giveaway))

    async def _giveaway_cancel(self, session: Session, command: GiveawayCancel) -> Ack:
        service = self._giveaway_service()
        who, room = await self._hosting(session)
        giveaway = await service.cancel(who, room, command.giveaway_id)
        return Ack(type="ack", giveaway=await service.public(giveaway))

    async def _giveaway_enter(self, session: Session, command: GiveawayEnter) -> Ack:
        """Rights change live (a new moderator may no longer enter): today's room."""
        service = self._giveaway_service()
        self._paced(session)
        room = await self.rooms.room(session.room.id)
        session.room = room
        now, count, method = await service.enter(
            session.identity, room, command.giveaway_id, command.free_entry
        )
        return Ack(
            type="ack",
            giveaway_id=command.giveaway_id,
            entered=True,
            repeated=not now,
            count=count,
            method=str(method),
        )

    # Polls: the rules live in ``polls``.

    def _polling(self) -> Polls:
        if self.polls is None:
            raise NotFound("polls are not served here")
        return self.polls

    async def _poll_start(self, session: Session, command: PollStart) -> Ack:
        who, room = await self._hosting(session)
        poll = await self._polling().start(who, room, command.draft)
        shown = poll.to_public()
        if poll.answer is not None:  # the host's own ack: the room sees it only at the end
            shown["answer"] = poll.answer
        return Ack(type="ack", poll=shown)

    async def _poll_end(self, session: Session, command: PollEnd) -> Ack:
        who, room = await self._hosting(session)
        poll = await self._polling().end(who, room, command.poll_id)
        return Ack(type="ack", poll=poll.to_record())

    async def _poll_vote(self, session: Session, command: PollVote) -> Ack:
        self._paced(session)
        option = await self._polling().vote(
            session.identity, session.room.id, command.poll_id, command.option
        )
        return Ack(type="ack", poll_id=command.poll_id, option=option)

    def _paced(self, session: Session) -> None:
        if not session.taps.take(self.clock()):
            raise RateLimited("one tap a second at most", retry_after=1.0)

    # Ticks -----------------------------------------------------------------------------

    async def flush_reactions(self) -> None:
        """Every tick, or fewer under pressure: the taps add up meanwhile, none is lost."""
        if self.shedding is not None and self.shedding.pace() > 1:
            now = self.shedding.clock()
            if now - self._reactions_flushed < FLUSH_EVERY_S * (self.shedding.pace() - 0.5):
                return
            self._reactions_flushed = now
        for room_id, counts in self.tally.drain().items():
            await self.store.publish_ephemeral(room_id, Reactions(type="reactions", counts=counts))

    async def shutdown(self, retry_after_ms: int = 1000) -> None:
        """Tell every client to reconnect elsewhere, then close with 1012."""
        if self.server is None:
            return
        self.server.close(close_connections=False)
        notice = Reconnect(type="reconnect", reason="shutdown", retry_after_ms=retry_after_ms)
        for channel in list(self.channels.rooms.values()):
            channel.send_all(dict(notice))  # a channel takes a plain Event
        closing = [
            s.conn.close(CloseCode.SERVICE_RESTART, "server restart") for s in list(self.sessions)
        ]
        await asyncio.gather(*closing, return_exceptions=True)
        await self.server.wait_closed()


def _viewer(identity: Identity | None, visitor: str | None) -> str:
    """Who a socket is for the show's unique viewers: an account, a guest page's own random
    id, or else the socket itself."""
    if identity is not None:
        return "u:" + identity.id
    known = visitor_of(visitor)
    return "g:" + known if known is not None else "s:" + secrets.token_hex(8)
