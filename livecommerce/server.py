"""One livecommerce process: build its parts, start them in order, stop them in reverse.

What each part does lives in its concept (ticks in ``runtime.ticker``, viewer counts in
``rooms.viewers``, stream claims in ``media.streams``, order side effects in
``selling.order_events``, what the bus hears in ``realtime.listener``); here they are only
connected. Start-up order matters: the store (embedded Valkey if no URL), then the bus, then
the services and their ticks, then the sockets. Shutdown is the reverse: the media plane
ends its streams while the store still takes their last state, the gateway tells clients to
reconnect before its sockets close and before HTTP drains, so that a rolling restart loses no
viewer, and the store goes last.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import uvicorn

from livecommerce.accounts.auth import Authenticator
from livecommerce.accounts.service import AccountLimits, Accounts, Footprint
from livecommerce.accounts.store import AccountStore
from livecommerce.accounts.upgrade import upgrade_accounts, upgrade_when_up
from livecommerce.analytics import service as analytics_service
from livecommerce.analytics.service import Analytics
from livecommerce.analytics.store import AnalyticsStore
from livecommerce.api.app import create_app
from livecommerce.api.deadlines import with_head_timeout
from livecommerce.api.services import Services
from livecommerce.api.serving import HttpServer, listen
from livecommerce.auctions.orders import HammerOrders
from livecommerce.auctions.service import Auctions
from livecommerce.auctions.store import AuctionStore
from livecommerce.catalog.store import CatalogStore
from livecommerce.chat import reactions
from livecommerce.chat.rules import ChatPolicy
from livecommerce.chat.service import Chat
from livecommerce.chat.store import ChatStore
from livecommerce.config import Settings
from livecommerce.errors import Unavailable
from livecommerce.follows import service as follows_service
from livecommerce.follows.service import Follows
from livecommerce.follows.store import FollowStore
from livecommerce.giveaways.service import Giveaways
from livecommerce.giveaways.store import GiveawayStore
from livecommerce.groupbuys.service import GroupBuys
from livecommerce.groupbuys.store import GroupBuyStore
from livecommerce.media.cascade import Edges
from livecommerce.media.hub import Hubs
from livecommerce.media.ingest import Publications
from livecommerce.media.plane import Media
from livecommerce.media.playback import Playbacks
from livecommerce.media.store import MediaStore
from livecommerce.media.streams import Streams
from livecommerce.moderation.service import Moderators
from livecommerce.moderation.store import ModerationStore
from livecommerce.polls.service import Polls
from livecommerce.polls.store import PollStore
from livecommerce.realtime.bus import Bus
from livecommerce.realtime.channels import Channels
from livecommerce.realtime.gateway import Gateway
from livecommerce.realtime.listener import BusListener
from livecommerce.realtime.snapshots import RoomReader
from livecommerce.reviews.service import Reviews
from livecommerce.reviews.store import ReviewStore
from livecommerce.rooms import viewers
from livecommerce.rooms.rules import Room
from livecommerce.rooms.service import Rooms
from livecommerce.rooms.store import RoomStore
from livecommerce.rooms.viewers import ViewerCounts
from livecommerce.runtime.ids import Ids
from livecommerce.runtime.pressure import Pressure
from livecommerce.runtime.shedding import Shedding
from livecommerce.runtime.ticker import Ticker
from livecommerce.selling.charges import ChargeSweeper
from livecommerce.selling.checkout import Checkout
from livecommerce.selling.order_events import OrderEvents
from livecommerce.selling.payments import TestPaymentProvider
from livecommerce.selling.reservations import Reservations
from livecommerce.selling.store import SalesStore
from livecommerce.store.durability import Durability
from livecommerce.store.embedded import EmbeddedValkey
from livecommerce.store.history import Store
from livecommerce.store.limits import Limiter
from livecommerce.webhooks.dispatcher import WebhookDispatcher
from livecommerce.webhooks.store import WebhookStore

log = logging.getLogger("livecommerce.server")

Stop = Callable[[], Awaitable[object]]


class Server:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        ids: Ids | None = None,
    ) -> None:
        self.ids = ids or Ids()
        self.settings = settings
        self.clock = clock
        self.process_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.embedded: EmbeddedValkey | None = None
        self.store: Store | None = None
        self.account_store: AccountStore | None = None
        self.accounts: Accounts | None = None
        self.bus: Bus | None = None
        self.channels: Channels | None = None
        self.gateway: Gateway | None = None
        self.reservations: Reservations | None = None
        self.auctions: Auctions | None = None
        self.giveaways: Giveaways | None = None
        self.polls: Polls | None = None
        self.groupbuys: GroupBuys | None = None
        self.moderation: ModerationStore | None = None
        self.room_store: RoomStore | None = None
        self.rooms: Rooms | None = None
        self.chat: Chat | None = None
        self.media_store: MediaStore | None = None
        self.moderators: Moderators | None = None
        self.checkout: Checkout | None = None
        self.sweeper: ChargeSweeper | None = None
        self.webhooks: WebhookDispatcher | None = None
        self.webhook_store: WebhookStore | None = None
        self.sales: SalesStore | None = None
        self.catalog: CatalogStore | None = None
        self.reviews: Reviews | None = None
        self.limiter: Limiter | None = None
        self.media: Media | None = None
        self.follows: Follows | None = None
        self.http_port = 0
        self.ws_port = 0
        # The media plane holds no connection until a stream starts, which needs the HTTP
        # routes: it is built here, and its listener is connected to the store at start.
        self.streams = Streams(claim_s=settings.stream_claim_s, clock=clock)
        self.hubs = Hubs(
            recordings=settings.data_dir / "recordings" if settings.record else None,
            on_state=self.streams.announce,
            on_recording=self.streams.recorded,
            idle_s=settings.stream_idle_s,
            grace_s=settings.stream_grace_s,
            on_open=self.streams.watch,
            on_close=self.streams.unwatch,
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
        self._started: list[tuple[str, Stop]] = []
        self.shedding = Shedding(
            Pressure(settings.shed_thresholds(), random=random.random),
            enabled=settings.shedding,
            chat_per_s=settings.shed_chat_per_s,
        )

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

    async def stop(self) -> None:
        """Stop what was started, in reverse; safe on a half-started server and when called
        twice."""
        while self._started:
            name, stop = self._started.pop()
            log.debug("stopping %s", name)
            await stop()

    def _up(self, name: str, stop: Stop) -> None:
        self._started.append((name, stop))

    async def _start(self) -> None:
        s = self.settings
        if not s.redis_url:
            embedded = self.embedded = EmbeddedValkey(
                s.data_dir / "valkey", appendfsync=s.appendfsync
            )
            # Started from the loop's own thread: Valkey's parent-death signal follows the
            # thread that forked it, and a pool thread may exit before we do.
            embedded.start()
            self._up("valkey", lambda: asyncio.to_thread(embedded.stop))
            log.info(
                "embedded valkey started", extra={"port": embedded.port, "dir": str(s.data_dir)}
            )
        store = self.store = Store.from_url(
            self.redis_url, cluster=s.redis_cluster, stream_max_len=s.stream_max_len
        )
        self._up("store", store.close)
        account_store = self.account_store = AccountStore(store.client, store.scripts)
        try:
            await upgrade_accounts(store.client, store.scripts)  # before anyone signs in
        except Unavailable:
            log.warning("the store is down: accounts are upgraded once it answers")
            upgrading = asyncio.create_task(upgrade_when_up(store.client, store.scripts))
            self._up("accounts upgrade", lambda: _cancelled(upgrading))
        auth = Authenticator(s.server_secret(), s.merchant_keys(), clock=self.clock, ids=self.ids)

        listener = BusListener(self.streams.heard)
        bus = self.bus = Bus(
            store.client,
            listener.event,
            listener.down,
            listener.up,
            on_revoked=listener.revoked,
            on_revocations_up=listener.revocations_up,
        )
        reader = RoomReader(store)
        channels = self.channels = listener.channels = Channels(
            reader,
            tick_s=s.tick_ms / 1000,
            max_buffer_bytes=s.max_buffer_bytes,
            write_slice=s.write_slice,
            subscribe=bus.subscribe,
            unsubscribe=bus.unsubscribe,
            pace=self.shedding.pace,
        )
        self._up("channels", _sync(channels.close))
        bus.start()
        self._up("bus", bus.stop)

        sales = self.sales = SalesStore(
            store.client, store.scripts, stream_max_len=s.stream_max_len
        )
        self.catalog = CatalogStore(store.client)
        media_store = self.media_store = MediaStore(store.client, stream_max_len=s.stream_max_len)
        webhook_store = self.webhook_store = WebhookStore(store.client, ids=self.ids)
        moderation = self.moderation = ModerationStore(
            store.client, store.scripts, stream_max_len=s.stream_max_len
        )
        room_store = self.room_store = RoomStore(
            store.client, store.scripts, stream_max_len=s.stream_max_len
        )
        # A transport of our own keeps HTTP(S)_PROXY out (httpx reads it only without
        # one): the dispatcher connects to the address it checked (netguard.py), and a
        # proxy would resolve the name again, and check the certificate against the address.
        outbound = httpx.AsyncClient(
            timeout=10, follow_redirects=False, transport=httpx.AsyncHTTPTransport()
        )
        self._up("outbound", outbound.aclose)
        webhooks = self.webhooks = WebhookDispatcher(
            webhook_store,
            outbound,
            clock=self.clock,
            allow_private=s.allow_private_webhooks,
            ids=self.ids,
        )
        await webhooks.start()
        self._up("webhooks", webhooks.stop)

        order_events = OrderEvents(store, room_store, moderation, webhooks.notify)
        reservations = self.reservations = Reservations(
            store,
            sales,
            self.catalog,
            rooms=room_store,
            clock=self.clock,
            on_sale_event=order_events.sale_changed,
            reserve_limit=s.limit("reserve"),
            hold_cap=s.max_holds,
            ids=self.ids,
        )
        reservations.start()
        self._up("reservations", reservations.stop)
        rooms = self.rooms = Rooms(
            store, room_store, clock=self.clock, on_sale_event=reservations.tell, ids=self.ids
        )
        checkout = self.checkout = Checkout(
            store,
            sales,
            TestPaymentProvider(store.client, clock=self.clock),
            rooms=room_store,
            is_admin=account_store.is_admin,
            on_order=order_events.order_created,
            on_refund=order_events.order_refunded,
            reservations=reservations,
            audit=order_events.audited,
            clock=self.clock,
            ids=self.ids,
            durability=Durability(
                store.client,
                replicas=s.wait_replicas if s.redis_cluster else 0,
                timeout_ms=s.wait_timeout_ms,
            ),
        )
        sweeper = self.sweeper = ChargeSweeper(checkout)
        sweeper.start()
        self._up("charges", sweeper.stop)

        limiter = self.limiter = Limiter(store, clock=self.clock)
        moderators = self.moderators = Moderators(
            store,
            moderation,
            limiter,
            rooms=room_store,
            accounts=account_store,
            clock=self.clock,
            report_limit=s.limit("reports"),
            ids=self.ids,
        )
        chat = self.chat = Chat(
            ChatStore(store.client, store.scripts, stream_max_len=s.stream_max_len),
            moderators.screen,
            policy=ChatPolicy(rate=s.chat_rate, burst=s.chat_burst),
            clock=self.clock,
            ids=self.ids,
        )
        auction_store = AuctionStore(store.client, stream_max_len=s.stream_max_len)
        hammer = HammerOrders(
            store,
            auction_store,
            checkout,
            self.catalog,
            rooms=room_store,
            notify=webhooks.notify,
            pay_window_s=s.auction_pay_s,
            clock=self.clock,
            ids=self.ids,
        )
        auctions = self.auctions = Auctions(
            store,
            auction_store,
            self.catalog,
            hammer,
            rooms=room_store,
            increments=s.increments(),
            bid_limit=s.limit("bid"),
            strike_limit=s.auction_strikes,
            audit=order_events.audited,
            deleted_among=reader.deleted_among,
            clock=self.clock,
            ids=self.ids,
        )
        giveaway_store = GiveawayStore(store.client, stream_max_len=s.stream_max_len)
        poll_store = PollStore(store.client, stream_max_len=s.stream_max_len)
        analytics = self.analytics = Analytics(
            AnalyticsStore(store.client, secret=s.server_secret().encode()),
            room_store,
            self.catalog,
            sales,
            auction_store,
            process_id=self.process_id,
            is_admin=account_store.is_admin,
            clock=self.clock,
            enabled=s.analytics,
            giveaways=giveaway_store,
            polls=poll_store,
        )
        channels.observer = analytics
        self._up("analytics", analytics.last_flush)  # on the way down: the last second
        reservations.on_holds = analytics.held
        checkout.count = analytics.count_order
        reader.lots = auctions.welcome_lots
        groupbuys = self.groupbuys = GroupBuys(
            store,
            GroupBuyStore(store.client, stream_max_len=s.stream_max_len),
            self.catalog,
            checkout,
            clock=self.clock,
            ids=self.ids,
        )
        reader.group_buys = groupbuys.welcome_groups
        analytics.groupbuys = groupbuys.groups
        groupbuys.start_ticking()
        self._up("groupbuys", groupbuys.stop_ticking)
        auctions.start_ticking()
        self._up("auctions", auctions.stop)
        follows = self.follows = Follows(
            FollowStore(store.client),
            room_store,
            account_store,
            webhook_store,
            limiter,
            toggle_limit=s.limit("follow"),
            reminder_lead_s=s.show_reminder_lead_s,
            on_new_follower=lambda room_id: analytics.count(room_id, "new_followers"),
            on_queued=webhooks.nudge,
            clock=self.clock,
        )
        rooms.on_changed = follows.room_changed
        reviews = self.reviews = Reviews(
            ReviewStore(store.client),
            checkout,
            self.catalog,
            rooms=room_store,
            screen=moderators.screen,
            limiter=limiter,
            is_admin=account_store.is_admin,
            is_deleted=account_store.is_deleted,
            clock=self.clock,
            ids=self.ids,
        )
        giveaways = self.giveaways = Giveaways(
            store,
            giveaway_store,
            self.catalog,
            checkout,
            rooms=room_store,
            notify=webhooks.notify,
            claim_window_s=s.giveaway_claim_s,
            deleted_among=reader.deleted_among,
            clock=self.clock,
            ids=self.ids,
        )
        reader.giveaway = giveaways.welcome
        giveaways.start_ticking()
        self._up("giveaways", giveaways.stop)
        polls = self.polls = Polls(
            store,
            poll_store,
            deleted_among=reader.deleted_among,
            clock=self.clock,
            ids=self.ids,
        )
        reader.polls = polls.welcome
        rooms.on_ended = _each(
            auctions.room_ended, giveaways.room_ended, polls.room_ended, groupbuys.room_ended
        )
        polls.start_ticking()
        self._up("polls", polls.stop)
        accounts = self.accounts = Accounts(
            account_store,
            auth,
            limiter,
            limits=AccountLimits.named(s.limit),
            footprint=Footprint(
                checkout.orders_of_buyer,
                chat.rooms_of,
                moderation.messages_of,
                auctions.bids_of,
                follows_of=follows.export,
                reviews_of=reviews.of_user,
                votes_of=polls.votes_of,
                forget=_in_order_for(follows.forget, reviews.forget),
            ),
            clock=self.clock,
            ids=self.ids,
        )
        gateway = self.gateway = Gateway(
            store,
            channels,
            auth,
            reservations,
            moderators,
            limiter,
            chat,
            rooms=rooms,
            accounts=accounts,
            auctions=auctions,
            analytics=analytics,
            giveaways=giveaways,
            polls=polls,
            groupbuys=groupbuys,
            guest_limit=s.limit("guest_join"),
            trust_forwarded=s.trust_forwarded,
            max_connections=s.max_connections,
            ping_interval_s=s.ping_interval_s,
            ping_timeout_s=s.ping_timeout_s,
            open_timeout_s=s.ws_open_timeout_s,
            shedding=self.shedding,
            clock=self.clock,
        )
        listener.gateway = gateway

        # The gateway and HTTP are one part: HTTP needs the gateway's port (clients ask
        # for it), and on the way down the gateway tells its sockets to reconnect before
        # HTTP drains.
        self.ws_port = await gateway.start(s.host, s.gateway_port)
        try:
            services = Services(
                s,
                store,
                auth,
                reservations,
                checkout,
                webhook_store,
                moderators,
                limiter,
                chat,
                rooms,
                accounts,
                auctions,
                ws_port=self.ws_port,
                clock=self.clock,
                ids=self.ids,
                analytics=analytics,
                follows=follows,
                reviews=reviews,
                giveaways=giveaways,
                polls=polls,
                groupbuys=groupbuys,
                shedding=self.shedding,
            )
            media, http = await self._serve(services, media_store, bus)
            follows.base_url = s.public_url or self.http_url
        except BaseException:
            await gateway.shutdown()
            raise
        self._up("sockets", lambda: _in_order(gateway.shutdown, http.stop))

        counts = ViewerCounts(
            channels.rooms, room_store.report_viewers, process_id=self.process_id, clock=self.clock
        )
        for ticker in (
            Ticker("viewers", viewers.EVERY_S, counts.tick, unavailable=logging.DEBUG),
            Ticker(
                "reactions",
                reactions.FLUSH_EVERY_S,
                gateway.flush_reactions,
                unavailable=logging.DEBUG,
            ),
            Ticker("streams", self.streams.every_s, self.streams.keep_claims),
            Ticker("show notices", follows_service.TICK_S, follows.tick),
            Ticker(
                "analytics",
                analytics_service.FLUSH_EVERY_S,
                analytics.flush,
                unavailable=logging.DEBUG,
            ),
        ):
            ticker.start()
            self._up(ticker.name, ticker.stop)
        self._up("media", media.close)
        self.shedding.start()
        self._up("shedding", self.shedding.stop)

        if s.ready_file is not None:
            self._write_ready(s.ready_file)

    async def _serve(
        self, services: Services, media_store: MediaStore, bus: Bus
    ) -> tuple[Media, HttpServer]:
        """HTTP on its port, with the media plane that knows this process by that port."""
        s = services.settings
        sock = listen(s.host, s.port)
        self.http_port = int(sock.getsockname()[1])
        media = self.media = Media(
            self.hubs,
            self.publications,
            self.playbacks,
            origin=s.public_url or self.http_url,
            internal=s.internal_url or self.http_url,
            edges=self.edges,
            recordings=self.hubs.recordings,
            store=media_store,
        )
        self.streams.connect(
            media,
            services.store,
            media_store,
            subscribe=bus.subscribe,
            unsubscribe=bus.unsubscribe,
        )
        config = uvicorn.Config(
            create_app(services, media),
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
        http = HttpServer(config, sock)
        await http.start()
        return media, http

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


def _each(*steps: Callable[[Room], Awaitable[None]]) -> Callable[[Room], Awaitable[None]]:
    """What ends with a show (its lots, its giveaway, its poll), one after the other."""

    async def ended(room: Room) -> None:
        failed: BaseException | None = None
        for step in steps:  # one that fails does not keep the others from ending theirs
            try:
                await step(room)
            except Exception as exc:
                failed = failed or exc
        if failed is not None:
            raise failed

    return ended


async def _cancelled(task: asyncio.Task[object]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _sync(stop: Callable[[], object]) -> Stop:
    async def stopped() -> None:
        stop()

    return stopped


async def _in_order(*stops: Stop) -> None:
    for stop in stops:
        await stop()


def _in_order_for(*steps: Callable[[str], Awaitable[None]]) -> Callable[[str], Awaitable[None]]:
    """One erasure hook made of each concept's own, run one after the other."""

    async def run(user_id: str) -> None:
        for step in steps:
            await step(user_id)

    return run
