"""Webhooks: the event envelope, its signature, endpoint rules and the retry schedule.

Pure: no I/O and no clock of its own (``now`` is passed in). The store keeps endpoints and
deliveries (``store/webhooks_store.py``); the dispatcher sends them
(``webhook_dispatcher.py``).

Every delivery is an HTTP POST of one JSON event::

    {"id": "evt_...", "type": "order.created", "created_at": 1767225600000, "data": {...}}

``id`` is the same on every attempt and for every endpoint: delivery is at least once, so
a receiver that must not act twice keeps the ids it has handled and skips repeats.

Signature, as Stripe does it. Each request carries::

    Livecommerce-Signature: t=1767225600,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e...

``t`` is the Unix time in seconds when the request was signed and ``v1`` the HMAC-SHA256
(64 lowercase hex digits), keyed with the endpoint's secret (``whsec_...``, the whole
string), of the bytes ``"<t>." + <raw request body>``. To verify: take the raw body
exactly as received (before any JSON parsing), compute the HMAC, compare it in constant
time with each ``v1`` in the header (there may be several while a secret is rolled over),
and refuse a ``t`` more than five minutes from your clock, which stops an old request from
being replayed. ``verify_signature`` does all of that.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

import orjson

from livecommerce.errors import BadRequest, Unauthorized
from livecommerce.numbers import digits
from livecommerce.runtime.ids import Ids

SIGNATURE_HEADER = "Livecommerce-Signature"
SIGNATURE_TOLERANCE_S = 300
URL_MAX = 2048
DESCRIPTION_MAX = 200
MAX_ENDPOINTS = 16
SECRET_PREFIX = "whsec_"

# Delay before attempt n + 1 after attempt n failed; after the last, the delivery is given
# up. Eight attempts over about 19.5 hours, so a receiver down overnight still gets it.
RETRY_DELAYS_S: tuple[float, ...] = (10, 30, 120, 600, 3600, 6 * 3600, 12 * 3600)
RETRY_JITTER = 0.2


class EventType(enum.StrEnum):
    ORDER_CREATED = "order.created"
    ORDER_REFUNDED = "order.refunded"
    SALE_STARTED = "sale.started"
    SALE_ENDED = "sale.ended"
    AUCTION_WON = "auction.won"
    ORDER_LAPSED = "order.lapsed"
    SHOW_REMINDER = "show.reminder"
    SHOW_LIVE = "show.live"


class BadSignature(Unauthorized):
    """A webhook request whose signature is missing, malformed, wrong or too old."""

    code: ClassVar[str] = "bad_signature"
    title: ClassVar[str] = "Bad webhook signature"


# Events ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    id: str
    type: EventType
    created_at: int
    data: Mapping[str, Any]

    def to_json(self) -> bytes:
        """The body every endpoint gets, byte for byte; the signature is over these bytes."""
        return orjson.dumps(
            {
                "id": self.id,
                "type": str(self.type),
                "created_at": self.created_at,
                "data": self.data,
            }
        )

    @classmethod
    def from_json(cls, body: bytes) -> WebhookEvent:
        raw = orjson.loads(body)
        return cls(raw["id"], EventType(raw["type"]), raw["created_at"], raw["data"])


def new_event(
    type: EventType | str,
    data: Mapping[str, Any],
    *,
    now_ms: int,
    ids: Ids | None = None,
) -> WebhookEvent:
    """A fresh event with a unique id from ``ids``; ``now_ms`` is Unix time in milliseconds."""
    try:
        kind = EventType(type)
    except ValueError:
        raise BadRequest(f"unknown webhook event type {type!r}") from None
    return WebhookEvent((ids or Ids()).webhook_event(), kind, now_ms, dict(data))


# Signatures --------------------------------------------------------------------------


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, *, now: float) -> str:
    """The ``Livecommerce-Signature`` header value for ``body`` sent at ``now`` (seconds)."""
    timestamp = int(now)
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def verify_signature(
    secret: str,
    header: str | None,
    body: bytes,
    now: float,
    tolerance_s: float = SIGNATURE_TOLERANCE_S,
) -> int:
    """Check a received request; its signing time (seconds) or ``BadSignature``.

    ``body`` must be the raw bytes received; ``now`` is the receiver's Unix time in seconds.
    """
    if not header:
        raise BadSignature(f"no {SIGNATURE_HEADER} header")
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if name == "t":
            timestamp = digits(value, 12)
            if timestamp is None:
                raise BadSignature("the signature's timestamp is not a number")
        elif name == "v1":
            candidates.append(value)
    if timestamp is None:
        raise BadSignature("the signature has no timestamp")
    if not candidates:
        raise BadSignature("the signature has no v1 value")
    if abs(now - timestamp) > tolerance_s:
        raise BadSignature("the signature's timestamp is outside the tolerance")
    expected = _mac(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise BadSignature("the signature does not match the body")
    return timestamp


# Endpoints ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: str
    url: str
    secret: str = field(repr=False)
    events: tuple[EventType, ...]  # empty: every event type
    created_at: int
    description: str = ""

    def wants(self, event_type: EventType) -> bool:
        return not self.events or event_type in self.events

    def to_public(self, *, with_secret: bool = False) -> dict[str, Any]:
        """For the API: the secret only when asked (on creation, as Stripe shows it once)."""
        data: dict[str, Any] = {
            "id": self.id,
            "url": self.url,
            "events": [str(e) for e in self.events],
            "description": self.description,
            "created_at": self.created_at,
        }
        if with_secret:
            data["secret"] = self.secret
        return data

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_public(with_secret=True))

    @classmethod
    def from_json(cls, raw: bytes | str) -> Endpoint:
        data = orjson.loads(raw)
        return cls(
            id=data["id"],
            url=data["url"],
            secret=data["secret"],
            events=tuple(EventType(e) for e in data["events"]),
            created_at=data["created_at"],
            description=data.get("description", ""),
        )


def new_secret(token: Callable[[int], str] = secrets.token_urlsafe) -> str:
    return SECRET_PREFIX + token(32)


def validate_url(url: object) -> str:
    """An http(s) URL a webhook may be sent to, or ``BadRequest`` saying why not."""
    if not isinstance(url, str) or not url:
        raise BadRequest("'url' must be a non-empty string")
    if len(url) > URL_MAX:
        raise BadRequest(f"'url' must be at most {URL_MAX} characters")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise BadRequest("'url' may not hold spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BadRequest(f"'url' is not a valid URL: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise BadRequest("'url' must be an http or https URL")
    if "@" in parts.netloc:
        raise BadRequest("'url' may not hold a user name or password")
    if not parts.hostname:
        raise BadRequest("'url' has no host")
    if parts.fragment:
        raise BadRequest("'url' may not have a fragment ('#...')")
    if port == 0:
        raise BadRequest("'url' may not use port 0")
    host = parts.hostname
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not all(0 < len(label) <= 63 for label in host.rstrip(".").split(".")):
            raise BadRequest("'url' has an invalid host name") from None
    return url


def parse_endpoint(
    body: object,
    *,
    endpoint_id: str,
    now_ms: int,
    secret: Callable[[], str] = new_secret,
) -> Endpoint:
    """A new endpoint from an API body ``{url, events?, description?}``."""
    if not isinstance(body, Mapping):
        raise BadRequest("the body must be a JSON object")
    url = validate_url(body.get("url"))
    raw_events = body.get("events", [])
    if not isinstance(raw_events, list) or not all(isinstance(e, str) for e in raw_events):
        raise BadRequest("'events' must be a list of event types")
    known = {str(e) for e in EventType}
    unknown = [e for e in raw_events if e not in known]
    if unknown:
        raise BadRequest(
            f"unknown event types {unknown}; known are {sorted(known)}", unknown=unknown
        )
    description = body.get("description", "")
    if not isinstance(description, str) or len(description) > DESCRIPTION_MAX:
        raise BadRequest(f"'description' must be a string of at most {DESCRIPTION_MAX}")
    events = tuple(dict.fromkeys(EventType(e) for e in raw_events))
    return Endpoint(endpoint_id, url, secret(), events, now_ms, description)


# Retries -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    """When to try again after a failed attempt: backoff from ``delays`` with jitter.

    Jitter spreads the retries of many deliveries that failed together (a receiver that
    was down) so they do not all come back at the same second.
    """

    delays_s: tuple[float, ...] = RETRY_DELAYS_S
    jitter: float = RETRY_JITTER

    @property
    def max_attempts(self) -> int:
        return len(self.delays_s) + 1

    def next_delay(self, attempts: int, random: Callable[[], float]) -> float | None:
        """Seconds to wait after ``attempts`` failed attempts, or None to give up.

        ``random`` returns a float in [0, 1); the delay is scaled by 1 +/- ``jitter``.
        """
        if attempts < 1 or attempts > len(self.delays_s):
            return None
        base = self.delays_s[attempts - 1]
        return base * (1 - self.jitter + 2 * self.jitter * random())
