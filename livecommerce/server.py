"""One livecommerce process: the HTTP API, the room gateway and their background ticks.

Start-up order matters: the store (embedded Valkey if no URL), then the bus, then the
sockets; shutdown is the reverse, telling clients to reconnect before the sockets close so
that a rolling restart loses no viewer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from livecommerce.accounts.auth import Authenticator
from livecommerce.api.app import create_app
from livecommerce.api.deadlines import with_head_timeout
from livecommerce.api.services import Services
from livecommerce.catalog.store import CatalogStore
from livecommerce.chat.rules import ChatPolicy
from livecommerce.chat.service import Chat
from livecommerce.chat.store import ChatStore
from livecommerce.config import Settings
from livecommerce.errors import LiveCommerceError
from livecommerce.media.cascade import Edges
from livecommerce.media.http import Media
from livecommerce.media.hub import Hubs, StreamState
from livecommerce.media.ingest import Publications
from livecommerce.media.playback import Playbacks
from livecommerce.media.recording import Recording
from livecommerce.media.store import MediaStore
from livecommerce.moderation.service import Moderators
from livecommerce.moderation.store import ModerationStore
from livecommerce.realtime.bus import Bus
from livecommerce.realtime.channels import Channels
from livecommerce.realtime.gateway import Gateway
from livecommerce.rooms.rules import Room
from livecommerce.rooms.service import Rooms
from livecommerce.rooms.store import RoomStore
from livecommerce.runtime import metrics
from livecommerce.runtime.ids import Ids
from livecommerce.runtime.lifecycle import stop_task
from livecommerce.selling.charges import ChargeSweeper
from livecommerce.selling.checkout import Checkout
from livecommerce.selling.payments import TestPaymentProvider
from livecommerce.selling.reservations import Reservations
from livecommerce.selling.store import SalesStore
from livecommerce.store.embedded import EmbeddedValkey
from livecommerce.store.limits import Limiter
from livecommerce.store.redis_store import Store
from livecommerce.webhooks.dispatcher import WebhookDispatcher
from livecommerce.webhooks.rules import new_event
from livecommerce.webhooks.store import WebhookStore

log = logging.getLogger("livecommerce.server")

VIEWERS_EVERY_S = 1.0
VIEWERS_TTL_MS = 5000
REACTIONS_EVERY_S = 0.2


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


class Server:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        ids: Ids | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.ids = ids or Ids()
        self.process_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.embedded: EmbeddedValkey | None = None
        self.store: Store | None = None
        self.bus: Bus | None = None
        self.channels: Channels | None = None
        self.gateway: Gateway | None = None
        self.reservations: Reservations | None = None
        self.moderation: ModerationStore | None = None
        self.room_store: RoomStore | None = None
        self.rooms: Rooms | None = None
        self.hubs = Hubs(
            recordings=settings.data_dir / "recordings" if settings.record else None,
            on_state=self._on_stream_state,
            on_recording=self._on_recording,
            idle_s=settings.stream_idle_s,
            grace_s=settings.stream_grace_s,
            on_open=self._watch_room,
            on_close=self._unwatch_room,
        )
        ice_servers = settings.ice_server_list()
        self.publications = Publications(self.hubs, ice_servers, ids=self.ids)
        self.edges = Edges(self.hubs, ice_servers) if settings.cascade else None
        self.playbacks = Playbacks(
            self.hubs,
            ice_servers,
            max_viewers=settings.max_stream_viewers,
            on_left=self.edges.viewer_left if self.edges is not None else None,
            ids=self.ids,
        )
        self.media_store: MediaStore | None = None
        self.moderators: Moderators | None = None
        self.chat: Chat | None = None
        self.checkout: Checkout | None = None
        self.sweeper: ChargeSweeper | None = None
        self.webhooks: WebhookDispatcher | None = None
        self.webhook_store: WebhookStore | None = None
        self._outbound: httpx.AsyncClient | None = None
        self.sales: SalesStore | None = None
        self.catalog: CatalogStore | None = None
        self.http_port = 0
        self.ws_port = 0
        self._uvicorn: uvicorn.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._media: Media | None = None
        self._media_tasks: set[asyncio.Task[None]] = set()

    @property
    def redis_url(self) -> str:
        if self.settings.redis_url:
            return self.settings.redis_url
        assert self.embedded is not None
        return self.embedded.url

    @property
    def http_url(self) -> str:
        return f"http://{self._display_host()}:{self.http_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self._display_host()}:{self.ws_port}"

    def _display_host(self) -> str:
        host = self.settings.host
        if host in ("0.0.0.0", "::", ""):
            return "127.0.0.1"
        return f"[{host}]" if ":" in host else host

    async def start(self) -> None:
        """Start everything, or undo what was started and raise."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        s = self.settings
        if not s.redis_url:
            self.embedded = EmbeddedValkey(s.data_dir / "valkey", appendfsync=s.appendfsync)
            # Started from the loop's own thread: Valkey's parent-death signal follows the
            # thread that forked it, and a pool thread may exit before we do.
            self.embedded.start()
            log.info(
                "embedded valkey started",
                extra={"port": self.embedded.port, "dir": str(s.data_dir)},
            )
        self.store = Store.from_url(self.redis_url, stream_max_len=s.stream_max_len)
        auth = Authenticator(s.server_secret(), s.merchant_keys(), clock=self.clock, ids=self.ids)
        self.bus = Bus(
            self.store.client,
            self._on_bus_event,
            self._on_bus_down,
            self._on_bus_up,
            on_revoked=self._on_revoked,
        )
        self.channels = Channels(
            self.store,
            tick_s=s.tick_ms / 1000,
            max_buffer_bytes=s.max_buffer_bytes,
            write_slice=s.write_slice,
            subscribe=self.bus.subscribe,
            unsubscribe=self.bus.unsubscribe,
        )
        self.bus.start()
        self.sales = SalesStore(
            self.store.client, self.store.scripts, stream_max_len=s.stream_max_len
        )
        self.room_store = RoomStore(
            self.store.client, self.store.scripts, stream_max_len=s.stream_max_len
        )
        self.catalog = CatalogStore(self.store.client)
        self.media_store = MediaStore(self.store.client, stream_max_len=s.stream_max_len)
        self.webhook_store = WebhookStore(self.store.client, ids=self.ids)
        # A transport of our own keeps HTTP(S)_PROXY out (httpx reads it only without
        # one): the dispatcher connects to the address it checked (netguard.py), and a
        # proxy would resolve the name again, and check the certificate against the address.
        self._outbound = httpx.AsyncClient(
            timeout=10, follow_redirects=False, transport=httpx.AsyncHTTPTransport()
        )
        self.webhooks = WebhookDispatcher(
            self.webhook_store,
            self._outbound,
            clock=self.clock,
            allow_private=s.allow_private_webhooks,
        )
        await self.webhooks.start()
        self.reservations = Reservations(
            self.store,
            self.sales,
            self.catalog,
            rooms=self.room_store,
            clock=self.clock,
            on_sale_event=self._sale_webhook,
            reserve_limit=s.limit("reserve"),
            hold_cap=s.max_holds,
            ids=self.ids,
        )
        self.reservations.start()
        self.rooms = Rooms(
            self.store,
            self.room_store,
            clock=self.clock,
            on_sale_event=self.reservations.tell,
            ids=self.ids,
        )
        self.moderation = ModerationStore(
            self.store.client, self.store.scripts, stream_max_len=s.stream_max_len
        )
        self.checkout = Checkout(
            self.store,
            self.sales,
            TestPaymentProvider(self.store.client, clock=self.clock),
            rooms=self.room_store,
            on_order=self._on_order,
            on_refund=self._on_refund,
            reservations=self.reservations,
            audit=self._audit,
            clock=self.clock,
            ids=self.ids,
        )
        self.sweeper = ChargeSweeper(self.checkout)
        self.sweeper.start()
        self.limiter = Limiter(self.store, clock=self.clock)
        self.moderators = Moderators(
            self.store,
            self.moderation,
            self.limiter,
            rooms=self.room_store,
            clock=self.clock,
            is_admin=self.store.is_admin,
            report_limit=s.limit("reports"),
            ids=self.ids,
        )
        self.chat = Chat(
            ChatStore(self.store.client, self.store.scripts, stream_max_len=s.stream_max_len),
            self.moderators.screen,
            policy=ChatPolicy(rate=s.chat_rate, burst=s.chat_burst),
            clock=self.clock,
            ids=self.ids,
        )
        self.gateway = Gateway(
            self.store,
            self.channels,
            auth,
            self.reservations,
            self.moderators,
            self.limiter,
            self.chat,
            rooms=self.rooms,
            guest_limit=s.limit("guest_join"),
            trust_forwarded=s.trust_forwarded,
            max_connections=s.max_connections,
            ping_interval_s=s.ping_interval_s,
            ping_timeout_s=s.ping_timeout_s,
            open_timeout_s=s.ws_open_timeout_s,
            clock=self.clock,
        )
        self.ws_port = await self.gateway.start(s.host, s.gateway_port)
        http_socket = _bind(s.host, s.port)
        self.http_port = int(http_socket.getsockname()[1])
        services = Services(
            s,
            self.store,
            auth,
            self.reservations,
            self.checkout,
            self.webhook_store,
            self.moderators,
            self.limiter,
            self.chat,
            self.rooms,
            ws_port=self.ws_port,
            clock=self.clock,
            ids=self.ids,
        )
        config = uvicorn.Config(
            create_app(services, self.media),
            lifespan="off",
            log_config=None,
            access_log=False,
            ws="none",
            timeout_graceful_shutdown=5,
            http=with_head_timeout(s.http_head_timeout_s),
            timeout_keep_alive=s.http_keep_alive_s,  # type: ignore[arg-type]
            server_header=False,
            proxy_headers=False,  # whose X-Forwarded-For to believe is --trust-forwarded's call
        )
        self.media.origin = self.settings.public_url or self.http_url
        self.media.internal = self.settings.internal_url or self.http_url
        self._uvicorn = uvicorn.Server(config)
        self._tasks.append(asyncio.create_task(self._uvicorn._serve([http_socket]), name="http"))
        while not self._uvicorn.started:
            if self._tasks[-1].done():
                self._tasks[-1].result()
            await asyncio.sleep(0.01)
        self._tasks.append(asyncio.create_task(self._tick_viewers(), name="viewers"))
        self._tasks.append(asyncio.create_task(self._tick_reactions(), name="reactions"))
        self._tasks.append(asyncio.create_task(self._tick_streams(), name="streams"))
        if s.ready_file is not None:
            self._write_ready(s.ready_file)

    def _write_ready(self, path: Path) -> None:
        temporary = path.with_suffix(".tmp")
        temporary.unlink(missing_ok=True)
        # 0600: the Redis URL carries its password.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(
                {
                    "http_url": self.http_url,
                    "ws_url": self.ws_url,
                    "pid": os.getpid(),
                    "redis_url": self.redis_url,
                },
                out,
            )
        temporary.replace(path)

    async def stop(self) -> None:
        """Undo ``start`` in reverse; safe on a half-started server and when called twice."""
        await self.playbacks.close()
        if self.edges is not None:
            await self.edges.close()
        await self.publications.close()
        await self.hubs.close()
        gateway, self.gateway = self.gateway, None
        if gateway is not None:
            await gateway.shutdown()
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        for task in self._tasks:
            if task.get_name() != "http":
                await stop_task(task)
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        sweeper, self.sweeper = self.sweeper, None
        if sweeper is not None:
            await sweeper.stop()
        reservations, self.reservations = self.reservations, None
        if reservations is not None:
            await reservations.stop()
        webhooks, self.webhooks = self.webhooks, None
        if webhooks is not None:
            await webhooks.stop()
        outbound, self._outbound = self._outbound, None
        if outbound is not None:
            await outbound.aclose()
        bus, self.bus = self.bus, None
        if bus is not None:
            await bus.stop()
        channels, self.channels = self.channels, None
        if channels is not None:
            channels.close()
        store, self.store = self.store, None
        if store is not None:
            await store.close()
        embedded, self.embedded = self.embedded, None
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)

    # Commerce callbacks ----------------------------------------------------------------

    async def _on_order(self, room: Room, order: dict[str, Any]) -> None:
        """The studio hears of an order at once, and so do the buyer's other devices (the
        phone that held while the laptop paid); the merchant's backend by webhook."""
        assert self.store is not None
        private = {"type": "order.created", "order": order}
        for person in {room.host_id, *room.moderators, order["buyer"]["id"]}:
            await self.store.publish_ephemeral(room.id, {**private, "to": person})
        await self._webhook(room.host_id, "order.created", order)

    async def _audit(self, room_id: str, entry: dict[str, Any]) -> None:
        """An entry no tool wrote (a refused refund): kept, and shown on the consoles at once."""
        assert self.moderation is not None
        assert self.store is not None
        assert self.room_store is not None
        await self.moderation.record(room_id, entry)
        room = await self.room_store.room(room_id)
        for person in {room.host_id, *room.moderators} - {entry["actor"]["id"]}:
            await self.store.publish_ephemeral(
                room_id, {"type": "mod.action", "to": person, "entry": entry}
            )

    async def _on_refund(self, room: Room, order: dict[str, Any]) -> None:
        await self._webhook(room.host_id, "order.refunded", order)

    async def _sale_webhook(self, room_id: str, kind: str, data: dict[str, Any]) -> None:
        assert self.room_store is not None
        room = await self.room_store.room(room_id)
        await self._webhook(room.host_id, kind, data)

    async def _webhook(self, creator_id: str, kind: str, data: dict[str, Any]) -> None:
        if self.webhooks is None:
            return
        try:
            await self.webhooks.enqueue(
                creator_id, new_event(kind, data, now_ms=int(self.clock() * 1000))
            )
        except LiveCommerceError as exc:
            log.warning("webhook %s not queued: %s", kind, exc.code)

    # Media callbacks -------------------------------------------------------------------

    @property
    def media(self) -> Media:
        if self._media is None:
            self._media = Media(
                self.hubs,
                self.publications,
                self.playbacks,
                origin="",
                edges=self.edges,
                recordings=self.hubs.recordings,
                store=self.media_store,
            )
        return self._media

    async def _watch_room(self, room_id: str, edge: bool) -> None:
        """A process with a room's stream hears its events, so the show's end ends it; the
        one it is published to says so, so WHEP offers on other processes find it."""
        if self.bus is not None:
            await self.bus.subscribe(room_id)
        if self.media_store is not None and not edge:
            await self.media_store.claim_stream(
                room_id, self.media.origin, self.media.internal, self._now_ms()
            )

    async def _unwatch_room(self, room_id: str, edge: bool) -> None:
        if self.bus is not None:
            await self.bus.unsubscribe(room_id)
        if self.media_store is not None and not edge:
            await self.media_store.release_stream(room_id, self.media.origin)

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def _on_stream_state(self, room_id: str, state: StreamState) -> None:
        """The room hears that its stream is live, reconnecting or offline."""
        if self.store is None or self.media_store is None:
            return
        origin, internal = self.media.origin, self.media.internal
        if await self.media_store.announce_stream(
            room_id, str(state), origin, internal, self._now_ms()
        ):
            metrics.EVENTS_PUBLISHED.labels("stream.state").inc()

    async def _on_recording(self, room_id: str, recording: Recording) -> None:
        if self.store is None or self.media_store is None:
            return
        entry = {
            "url": f"/recordings/{recording.path.name}",
            "media_type": recording.media_type,
            "started_at": recording.started_at_ms,
            "ended_at": recording.ended_at_ms,
        }
        await self.media_store.add_recording(room_id, entry)
        await self.store.publish(room_id, {"type": "replay.ready", "recording": entry})

    # Bus callbacks ---------------------------------------------------------------------

    def _on_bus_event(self, room_id: str, seq: int | None, event: dict[str, object]) -> None:
        ended = event.get("type") == "room.state" and event.get("state") == "ended"
        if ended and (room_id in self.hubs.by_room or room_id in self.publications.by_room):
            task = asyncio.ensure_future(self.publications.end_room(room_id, "show_ended"))
            self._media_tasks.add(task)
            task.add_done_callback(self._media_tasks.discard)
        if self.channels is not None:
            self.channels.dispatch(room_id, seq, event)

    def _on_bus_down(self) -> None:
        if self.channels is None:
            return
        log.warning("store unreachable; rooms told")
        for channel in self.channels.rooms.values():
            channel.deliver_local({"type": "unavailable", "retry_after": 2})

    def _on_bus_up(self) -> None:
        if self.channels is not None:
            for channel in self.channels.rooms.values():
                channel.resync()
        if self.gateway is not None:
            self._background(self.gateway.recheck_revocations())

    def _on_revoked(self, session: str) -> None:
        if self.gateway is not None:
            self.gateway.revoke(session)

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._media_tasks.add(task)
        task.add_done_callback(self._media_tasks.discard)
        task.add_done_callback(_log_failure)

    # Ticks -----------------------------------------------------------------------------

    async def _tick_streams(self) -> None:
        """Say which streams this process still serves (WHEP offers on other processes are
        sent here), and take offline the streams of processes that stopped saying so."""
        assert self.media_store is not None
        claim_s = self.settings.stream_claim_s
        while True:
            await asyncio.sleep(claim_s / 3)
            now = self._now_ms()
            live = [
                room_id
                for room_id, hub in self.hubs.by_room.items()
                if not hub.edge and self.hubs.live(room_id)
            ]
            try:
                if live:
                    await self.media_store.touch_streams(live, now)
                for _room in await self.media_store.reap_streams(now, int(claim_s * 1000)):
                    metrics.EVENTS_PUBLISHED.labels("stream.state").inc()
            except LiveCommerceError:
                log.warning("stream claims not kept: the store is unavailable")

    async def _tick_viewers(self) -> None:
        channels, rooms = self.channels, self.rooms
        assert channels is not None
        assert rooms is not None
        while True:
            await asyncio.sleep(VIEWERS_EVERY_S)
            now = int(self.clock() * 1000)
            for channel in list(channels.rooms.values()):
                try:
                    total = await rooms.report_viewers(
                        channel.room_id, self.process_id, len(channel.members), now, VIEWERS_TTL_MS
                    )
                except LiveCommerceError:
                    break
                if total != channel.viewers_reported:
                    channel.viewers_reported = total
                    channel.deliver_local({"type": "viewers", "count": total})

    async def _tick_reactions(self) -> None:
        gateway = self.gateway
        assert gateway is not None
        while True:
            await asyncio.sleep(REACTIONS_EVERY_S)
            with contextlib.suppress(LiveCommerceError):
                await gateway.flush_reactions()


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("background work failed: %r", task.exception())
