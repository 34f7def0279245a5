"""The wire format: the only module that knows JSON and MessagePack.

Both subprotocols carry the same messages. Decoding is strict because every frame is
hostile: size first, then syntax, then shape; each failure is a distinct error code. Commands
come out as small frozen dataclasses so the rest of the server never touches raw maps.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import msgpack
import orjson

from livecommerce.auctions.rules import (
    AuctionDraft,
    bid_key,
    parse_auction_draft,
    parse_bid_amount,
)
from livecommerce.errors import BadFrame, BadRequest, TooLarge, UnknownType
from livecommerce.events import Event, Outgoing
from livecommerce.giveaways.rules import GiveawayDraft, parse_free_entry, parse_giveaway_draft
from livecommerce.groupbuys.rules import GroupBuyDraft, parse_group_buy_draft
from livecommerce.moderation.rules import (
    ModAction,
    ModRequest,
    ReportRequest,
    parse_mod_request,
    parse_report,
)
from livecommerce.polls.rules import PollDraft, parse_option, parse_poll_draft
from livecommerce.selling.rules import (
    SaleDraft,
    parse_idempotency_key,
    parse_quantity,
    parse_sale_draft,
)

FRAME_MAX_BYTES: Final = 64 * 1024
REF_MAX_LENGTH: Final = 64
REACTION_KINDS: Final = ("heart", "fire", "clap", "laugh", "wow")

# Appointing moderators is an HTTP call of the host's; every other tool is also a command.
MOD_TOOLS: Final = frozenset(a.value for a in ModAction) - {"mod.appoint", "mod.remove"}


class Subprotocol(enum.StrEnum):
    JSON = "livecommerce.json"
    MSGPACK = "livecommerce.msgpack"


def encode(
    subprotocol: Subprotocol, payload: Outgoing | Event | Sequence[Outgoing | Event]
) -> bytes:
    """One message or a batch, ready for one frame; JSON comes out as UTF-8 bytes."""
    if subprotocol is Subprotocol.JSON:
        return orjson.dumps(payload)
    return msgpack.packb(payload, use_bin_type=True)  # type: ignore[no-any-return]


def encode_batch(subprotocol: Subprotocol, events: Sequence[Outgoing | Event]) -> bytes:
    return encode(subprotocol, events[0] if len(events) == 1 else events)


def decode_frame(subprotocol: Subprotocol, frame: str | bytes) -> dict[str, Any]:
    if len(frame) > FRAME_MAX_BYTES:
        raise TooLarge(f"frame is {len(frame)} bytes; the limit is {FRAME_MAX_BYTES}")
    value: object
    if subprotocol is Subprotocol.JSON:
        if not isinstance(frame, str):
            raise BadFrame("livecommerce.json takes text frames")
        try:
            value = orjson.loads(frame)
        except orjson.JSONDecodeError as exc:
            raise BadFrame(f"invalid JSON: {exc.msg}") from None
    else:
        if not isinstance(frame, bytes):
            raise BadFrame("livecommerce.msgpack takes binary frames")
        try:
            value = msgpack.unpackb(frame, raw=False, strict_map_key=True)
        except (ValueError, TypeError, msgpack.UnpackException, msgpack.ExtraData):
            raise BadFrame("invalid MessagePack") from None
    if not isinstance(value, dict):
        raise BadFrame("a message must be a map")
    return value


# Commands ---------------------------------------------------------------------------------

Ref = str | int | None


@dataclass(frozen=True, slots=True)
class ChatSend:
    text: str
    ref: Ref = None
    key: str = ""


@dataclass(frozen=True, slots=True)
class React:
    kind: str
    ref: Ref = None


@dataclass(frozen=True, slots=True)
class Track:
    """Something the page saw the viewer do that the show's results count (a card opened)."""

    kind: str
    product_id: str
    ref: Ref = None


TRACK_KINDS = frozenset({"product_click"})


@dataclass(frozen=True, slots=True)
class Ping:
    ref: Ref = None


@dataclass(frozen=True, slots=True)
class Pin:
    product_id: str
    ref: Ref = None


@dataclass(frozen=True, slots=True)
class Unpin:
    ref: Ref = None


@dataclass(frozen=True, slots=True)
class SaleStart:
    draft: SaleDraft
    ref: Ref = None


@dataclass(frozen=True, slots=True)
class SaleStop:
    sale_id: str
    ref: Ref = None


@dataclass(frozen=True, slots=True)
class Reserve:
    sale_id: str
    quantity: int
    key: str
    ref: Ref = None


@dataclass(frozen=True, slots=True)
class Release:
    reservation_id: str
    ref: Ref = None


@dataclass(frozen=True, slots=True)
class Waitlist:
    sale_id: str
    quantity: int
    ref: Ref = None


@dataclass(frozen=True, slots=True)
class AuctionQueue:
    draft: AuctionDraft
    ref: Ref = None


@dataclass(frozen=True, slots=True)
class AuctionStart:
    """Starts the queued lot ``auction_id``, or queues ``draft`` and starts it at once."""

    auction_id: str | None
    draft: AuctionDraft | None
    ref: Ref = None


@dataclass(frozen=True, slots=True)
class AuctionCancel:
    auction_id: str
    ref: Ref = None


@dataclass(frozen=True, slots=True)
class AuctionVoid:
    auction_id: str
    user_id: str
    reason: str
    ref: Ref = None


@dataclass(frozen=True, slots=True)
class SecondChance:
    auction_id: str
    ref: Ref = None


@dataclass(frozen=True, slots=True)
class Bid:
    auction_id: str
    amount: int
    key: str
    ref: Ref = None


@dataclass(frozen=True, slots=True)
class GiveawayStart:
    draft: GiveawayDraft
    ref: Ref = None


@dataclass(frozen=True, slots=True)
class GroupBuyStart:
    draft: GroupBuyDraft
    ref: Ref = None


@dataclass(frozen=True, slots=True)
class PollStart:
    draft: PollDraft
    ref: Ref = None


@dataclass(frozen=True, slots=True)
class GiveawayCancel:
    giveaway_id: str
    ref: Ref = None


@dataclass(frozen=True, slots=True)
class PollEnd:
    poll_id: str
    ref: Ref = None


@dataclass(frozen=True, slots=True)
class GiveawayEnter:
    """An entry: only through a socket in the room, which is what being present means."""

    giveaway_id: str
    free_entry: bool
    ref: Ref = None


@dataclass(frozen=True, slots=True)
class PollVote:
    poll_id: str
    option: int
    ref: Ref = None


@dataclass(frozen=True, slots=True)
class GroupBuyStop:
    group_id: str
    ref: Ref = None


@dataclass(frozen=True, slots=True)
class Moderate:
    request: ModRequest
    ref: Ref = None


@dataclass(frozen=True, slots=True)
class Report:
    request: ReportRequest
    ref: Ref = None


Command = (
    ChatSend
    | React
    | Track
    | Ping
    | Pin
    | Unpin
    | SaleStart
    | SaleStop
    | Reserve
    | Release
    | Waitlist
    | AuctionQueue
    | AuctionStart
    | AuctionCancel
    | AuctionVoid
    | SecondChance
    | Bid
    | GiveawayStart
    | GiveawayCancel
    | GiveawayEnter
    | PollStart
    | PollEnd
    | PollVote
    | GroupBuyStart
    | GroupBuyStop
    | Moderate
    | Report
)


def read_ref(message: dict[str, Any]) -> Ref:
    """The ``ref`` to echo, or None when it is absent or unusable (never echo junk)."""
    ref = message.get("ref")
    if isinstance(ref, bool):
        return None
    if isinstance(ref, int) and -(2**53) < ref < 2**53:
        return ref
    if isinstance(ref, str) and len(ref) <= REF_MAX_LENGTH:
        return ref
    return None


def _field(message: dict[str, Any], name: str, kind: type, limit: int) -> Any:
    if name not in message:
        raise BadRequest(f"field {name!r} is missing")
    value = message[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BadRequest(f"field {name!r} must be a {kind.__name__}")
    if isinstance(value, str) and len(value) > limit:
        raise BadRequest(f"field {name!r} is longer than {limit}")
    return value


def parse_command(message: dict[str, Any]) -> Command:
    ref = read_ref(message)
    kind = message.get("type")
    if not isinstance(kind, str):
        raise UnknownType("field 'type' is missing or not a string")
    if kind == "chat.send":
        return ChatSend(
            text=_field(message, "text", str, 4096),
            key=parse_idempotency_key(message.get("key")),
            ref=ref,
        )
    if kind == "react":
        reaction = _field(message, "kind", str, 32)
        if reaction not in REACTION_KINDS:
            raise BadRequest(f"unknown reaction {reaction!r}")
        return React(kind=reaction, ref=ref)
    if kind == "track":
        tracked = _field(message, "kind", str, 32)
        if tracked not in TRACK_KINDS:
            raise BadRequest(f"unknown track kind {tracked!r}")
        return Track(tracked, _field(message, "product_id", str, 64), ref=ref)
    if kind == "ping":
        return Ping(ref=ref)
    if kind == "pin":
        return Pin(_field(message, "product_id", str, 64), ref=ref)
    if kind == "unpin":
        return Unpin(ref=ref)
    if kind == "sale.start":
        return SaleStart(parse_sale_draft(message), ref=ref)
    if kind == "sale.stop":
        return SaleStop(_field(message, "sale_id", str, 64), ref=ref)
    if kind == "reserve":
        return Reserve(
            sale_id=_field(message, "sale_id", str, 64),
            quantity=parse_quantity(message.get("quantity", 1)),
            key=parse_idempotency_key(message.get("key")),
            ref=ref,
        )
    if kind == "release":
        return Release(_field(message, "reservation_id", str, 160), ref=ref)
    if kind in ("waitlist.join", "waitlist.leave"):
        quantity = parse_quantity(message.get("quantity", 1)) if kind == "waitlist.join" else 0
        return Waitlist(_field(message, "sale_id", str, 64), quantity, ref=ref)
    if kind == "bid":
        return Bid(
            auction_id=_field(message, "auction_id", str, 64),
            amount=parse_bid_amount(message.get("amount")),
            key=bid_key(message.get("key")),
            ref=ref,
        )
    if kind == "auction.queue":
        return AuctionQueue(parse_auction_draft(message), ref=ref)
    if kind == "auction.start":
        if "auction_id" in message:
            return AuctionStart(_field(message, "auction_id", str, 64), None, ref=ref)
        return AuctionStart(None, parse_auction_draft(message), ref=ref)
    if kind == "auction.cancel":
        return AuctionCancel(_field(message, "auction_id", str, 64), ref=ref)
    if kind == "auction.second_chance":
        return SecondChance(_field(message, "auction_id", str, 64), ref=ref)
    if kind == "auction.void":
        reason = message.get("reason", "")
        if not isinstance(reason, str) or len(reason) > 200:
            raise BadRequest("field 'reason' must be at most 200 characters")
        return AuctionVoid(
            _field(message, "auction_id", str, 64),
            _field(message, "user_id", str, 64),
            reason,
            ref=ref,
        )
    if kind == "giveaway.start":
        return GiveawayStart(parse_giveaway_draft(message), ref=ref)
    if kind == "giveaway.cancel":
        return GiveawayCancel(_field(message, "giveaway_id", str, 64), ref=ref)
    if kind == "giveaway.enter":
        return GiveawayEnter(
            _field(message, "giveaway_id", str, 64),
            parse_free_entry(message.get("free_entry")),
            ref=ref,
        )
    if kind == "poll.start":
        return PollStart(parse_poll_draft(message), ref=ref)
    if kind == "poll.end":
        return PollEnd(_field(message, "poll_id", str, 64), ref=ref)
    if kind == "poll.vote":
        if "option" not in message:
            raise BadRequest("field 'option' is missing")
        return PollVote(
            _field(message, "poll_id", str, 64), parse_option(message["option"]), ref=ref
        )
    if kind == "groupbuy.start":
        return GroupBuyStart(parse_group_buy_draft(message), ref=ref)
    if kind == "groupbuy.stop":
        return GroupBuyStop(_field(message, "group_id", str, 64), ref=ref)
    if kind.startswith("mod.") and kind in MOD_TOOLS:
        return Moderate(parse_mod_request(message), ref=ref)
    if kind == "report":
        return Report(parse_report(message), ref=ref)
    raise UnknownType(f"unknown message type {kind[:40]!r}")
