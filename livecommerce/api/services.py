"""What every HTTP route needs, carried on ``app.state.services``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import HTTPConnection, Request

from livecommerce.accounts.auth import Authenticator, Identity
from livecommerce.accounts.service import Accounts
from livecommerce.analytics.service import Analytics
from livecommerce.auctions.service import Auctions
from livecommerce.chat.service import Chat
from livecommerce.config import Settings
from livecommerce.errors import BadRequest, RequestTimeout, TooLarge, Unauthorized
from livecommerce.follows.service import Follows
from livecommerce.giveaways.service import Giveaways
from livecommerce.groupbuys.service import GroupBuys
from livecommerce.moderation.service import Moderators
from livecommerce.numbers import digits
from livecommerce.polls.service import Polls
from livecommerce.reviews.service import Reviews
from livecommerce.rooms.service import Rooms
from livecommerce.runtime.ids import Ids
from livecommerce.runtime.shedding import Shedding
from livecommerce.selling.checkout import Checkout
from livecommerce.selling.reservations import Reservations
from livecommerce.store import limits
from livecommerce.store.history import Store
from livecommerce.store.limits import Limiter
from livecommerce.webhooks.store import WebhookStore

BODY_MAX_BYTES = 64 * 1024
BODY_MIN_RATE = 16 * 1024  # bytes a second, on average, past the grace (a slow phone does 100k)


@dataclass(slots=True)
class Services:
    settings: Settings
    store: Store
    auth: Authenticator
    reservations: Reservations
    checkout: Checkout
    webhooks: WebhookStore
    moderators: Moderators
    limiter: Limiter
    chat: Chat
    rooms: Rooms
    accounts: Accounts
    auctions: Auctions
    ws_port: int = 0
    clock: Callable[[], float] = field(default=time.time)
    ids: Ids = field(default_factory=Ids)
    analytics: Analytics | None = None
    follows: Follows | None = None
    reviews: Reviews | None = None
    giveaways: Giveaways | None = None
    polls: Polls | None = None
    groupbuys: GroupBuys | None = None
    shedding: Shedding | None = None

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def admit_viewer(self, what: str, who: Identity | None, host_id: str) -> None:
        """A new viewing session (``what``: room, watch) on a process that is shedding load is
        refused with ``overloaded`` (503, Retry-After), unless it is the show's own host."""
        if self.shedding is not None and (who is None or who.id != host_id):
            self.shedding.admit(what)


def services(conn: HTTPConnection) -> Services:
    found: Services = conn.app.state.services
    return found


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def identity(request: Request, *, required: bool = True) -> Identity | None:
    token = bearer(request)
    if token is None:
        if required:
            raise Unauthorized("this needs 'Authorization: Bearer <token>'")
        return None
    verified: Identity | None = request.scope.get("identity")  # set by guards.DeletedAccounts
    return verified if verified is not None else services(request).auth.verify(token)


def require_identity(request: Request) -> Identity:
    found = identity(request, required=True)
    assert found is not None
    return found


async def read_body(request: Request, limit: int = BODY_MAX_BYTES) -> bytes:
    """The raw body, refused with ``TooLarge`` as soon as it passes ``limit`` bytes, and with
    ``RequestTimeout`` when it comes too slowly: the head deadline (``--http-head-timeout-s``)
    again, plus the time the declared length (or the limit) takes at ``BODY_MIN_RATE``. A
    client that trickles a body would otherwise hold its connection for as long as it
    likes, as a trickled head would."""
    declared = request.headers.get("content-length")
    size = digits(declared) if declared is not None else 0
    if size is None or size > limit:
        raise TooLarge(f"the body is over {limit} bytes")
    expected = size if declared is not None else limit
    grace = services(request).settings.http_head_timeout_s
    deadline = asyncio.get_running_loop().time() + grace + expected / BODY_MIN_RATE
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout_at(deadline):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise TooLarge(f"the body is over {limit} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise RequestTimeout("the request body took too long to arrive") from None
    return b"".join(chunks)


async def json_body(request: Request, limit: int = BODY_MAX_BYTES) -> object:
    raw = await read_body(request, limit)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc.msg}") from None


async def json_object(request: Request, limit: int = BODY_MAX_BYTES) -> dict[str, Any]:
    """A body that must be a JSON object: anything else is ``bad_request``."""
    body = await json_body(request, limit)
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def client_address(request: Request) -> str:
    return limits.client_address(
        request.client.host if request.client else "",
        request.headers.get("x-forwarded-for"),
        trust_forwarded=services(request).settings.trust_forwarded,
    )
