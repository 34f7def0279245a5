"""Every message the server sends: room events, private events and replies, as typed dicts.

One type per message, named for it, so a misspelt field or a forgotten ``seq`` is a type error
where the message is made rather than a broken page. They are plain dicts at run time (the
codec and the bus pack them as they are), and this module is a leaf: the concepts that make
events (rooms, chat, selling, moderation, media) and the realtime plane that carries them
both import it. ``docs/protocol.md`` says what each means.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

Json = dict[str, Any]
"""A nested shape the protocol documents (a room, sale, hold, order, report, audit entry)."""


class Person(TypedDict):
    id: str
    name: str


# --- room events: in the room's order, each with its seq -------------------------------


class ChatMessage(TypedDict):
    type: Literal["chat.message"]
    seq: NotRequired[int]
    id: str
    user: Person
    text: str
    at: int


class ChatDeleted(TypedDict):
    type: Literal["chat.deleted"]
    seq: NotRequired[int]
    id: str


class ChatPinned(TypedDict):
    type: Literal["chat.pinned"]
    seq: NotRequired[int]
    message: Json
    at: int


class ChatUnpinned(TypedDict):
    type: Literal["chat.unpinned"]
    seq: NotRequired[int]
    at: int


class RoomState(TypedDict):
    type: Literal["room.state"]
    seq: NotRequired[int]
    state: str
    at: int


class RoomSlow(TypedDict):
    type: Literal["room.slow"]
    seq: NotRequired[int]
    seconds: int
    at: int


class RoomModerators(TypedDict):
    type: Literal["room.moderators"]
    seq: NotRequired[int]
    moderators: list[str]


class RoomDisclosure(TypedDict):
    type: Literal["room.disclosure"]
    seq: NotRequired[int]
    paid_partnership: bool


class StreamState(TypedDict):
    type: Literal["stream.state"]
    seq: NotRequired[int]
    state: str
    at: int


class ReplayReady(TypedDict):
    type: Literal["replay.ready"]
    seq: NotRequired[int]
    recording: Json


class ProductPinned(TypedDict):
    type: Literal["product.pinned"]
    seq: NotRequired[int]
    product: Json
    at: int


class ProductUnpinned(TypedDict):
    type: Literal["product.unpinned"]
    seq: NotRequired[int]
    at: int


class SaleStarted(TypedDict):
    type: Literal["sale.started"]
    seq: NotRequired[int]
    sale: Json


class SaleEnded(TypedDict):
    type: Literal["sale.ended"]
    seq: NotRequired[int]
    sale_id: str
    reason: str


class AuctionQueued(TypedDict):
    type: Literal["auction.queued"]
    seq: NotRequired[int]
    auction: Json


class AuctionStarted(TypedDict):
    type: Literal["auction.started"]
    seq: NotRequired[int]
    auction: Json


class AuctionBid(TypedDict):
    """Made in ``auction_bid.lua``: one per batch of bids, with the price after its last."""

    type: Literal["auction.bid"]
    seq: NotRequired[int]
    auction_id: str
    amount: int
    bidder: Person | None
    next_bid: int
    ends_at: int
    bids: int


class AuctionVoided(TypedDict):
    type: Literal["auction.voided"]
    seq: NotRequired[int]
    auction_id: str
    user_id: str
    amount: int
    bidder: Person | None
    next_bid: int
    ends_at: int
    bids: int


class AuctionEnded(TypedDict):
    type: Literal["auction.ended"]
    seq: NotRequired[int]
    auction_id: str
    reason: str
    winner: NotRequired[Person]
    amount: NotRequired[int]


class PollStarted(TypedDict):
    """A quiz's answer is never in it: it comes with ``poll.ended``."""

    type: Literal["poll.started"]
    seq: NotRequired[int]
    poll: Json


class PollEnded(TypedDict):
    type: Literal["poll.ended"]
    seq: NotRequired[int]
    poll_id: str
    votes: list[int]
    total: int
    percentages: list[int]
    reason: str
    answer: NotRequired[int]  # a quiz's right option
    leaderboard: NotRequired[list[Json]]  # a quiz's fastest right answers: {user, ms}


class GroupBuyStarted(TypedDict):
    """Made in ``groupbuy_start.lua``; ``group`` as ``GroupBuy.to_public`` shows it."""

    type: Literal["groupbuy.started"]
    seq: NotRequired[int]
    group: Json


class GroupBuyFilled(TypedDict):
    """Made in ``groupbuy_authorised.lua`` by the ``min_buyers``-th authorisation, once."""

    type: Literal["groupbuy.filled"]
    seq: NotRequired[int]
    group_id: str


class GroupBuyEnded(TypedDict):
    """Made in ``groupbuy_end.lua``, once: ``reason`` filled, sold_out, expired or stopped."""

    type: Literal["groupbuy.ended"]
    seq: NotRequired[int]
    group_id: str
    reason: str
    joined: int


# --- ephemeral and private events -------------------------------------------------------


class GiveawayStarted(TypedDict):
    type: Literal["giveaway.started"]
    seq: NotRequired[int]
    giveaway: Json


class GiveawayEnded(TypedDict):
    """The draw (or why none): ``seed`` is revealed here, never before."""

    type: Literal["giveaway.ended"]
    seq: NotRequired[int]
    giveaway_id: str
    winner: Person | None
    seed: str
    entrants: int
    reason: str


class GiveawayEntered(TypedDict):
    """Ephemeral: the latest entrant count, a few times a second at most."""

    type: Literal["giveaway.entered"]
    giveaway_id: str
    count: int


class PollTally(TypedDict):
    """A running poll's counts so far; coalesced to a few a second, like ``sale.stock``."""

    type: Literal["poll.tally"]
    poll_id: str
    votes: list[int]
    total: int
    percentages: list[int]


class SaleStock(TypedDict):
    type: Literal["sale.stock"]
    sale_id: str
    available: int
    held: int
    sold: int


class GroupBuyProgress(TypedDict):
    """A group buy's progress, latest state only, coalesced per group and process."""

    type: Literal["groupbuy.progress"]
    group_id: str
    state: str
    joined: int
    min_buyers: int
    units_left: int
    ends_at: int


class GroupBuyPayment(TypedDict):
    """Private: how a joiner's payment for a group buy ended (captured, voided, ...)."""

    type: Literal["groupbuy.payment"]
    to: NotRequired[str]
    group_id: str
    join: Json


class Viewers(TypedDict):
    type: Literal["viewers"]
    count: int


class Reactions(TypedDict):
    type: Literal["reactions"]
    counts: dict[str, int]


class Reservation(TypedDict):
    """A buyer's answer to ``reserve``, or (with ``to``) a hold offered from the waitlist."""

    type: Literal["reservation"]
    to: NotRequired[str]
    reservation: Json
    repeated: NotRequired[bool]
    ref: NotRequired[Any]


# A private event carries ``to`` on the bus: the one person whose sockets it is written to
# (without ``to``).


class OrderCreated(TypedDict):
    type: Literal["order.created"]
    to: NotRequired[str]
    order: Json


class Outbid(TypedDict):
    type: Literal["outbid"]
    to: NotRequired[str]
    auction_id: str
    amount: int
    next_bid: int


class AuctionWon(TypedDict):
    type: Literal["auction.won"]
    to: NotRequired[str]
    auction_id: str
    order: Json
    second_chance: bool


class GiveawayWon(TypedDict):
    type: Literal["giveaway.won"]
    to: NotRequired[str]
    giveaway_id: str
    order: Json


class OrderLapsed(TypedDict):
    type: Literal["order.lapsed"]
    to: NotRequired[str]
    order: Json


class Moderated(TypedDict):
    type: Literal["moderated"]
    to: NotRequired[str]
    action: str
    until: NotRequired[int]
    reason: NotRequired[str]


class ReportCreated(TypedDict):
    type: Literal["report.created"]
    to: NotRequired[str]
    report: Json


class ModAction(TypedDict):
    type: Literal["mod.action"]
    to: NotRequired[str]
    entry: Json


# --- replies and connection messages ----------------------------------------------------


class Welcome(TypedDict):
    type: Literal["welcome"]
    seq: int
    epoch: str
    room: Json
    you: Json
    viewers: int
    chat: list[Json]
    pinned: Json | None
    pinned_chat: Json | None
    sales: list[Json]
    auctions: list[Json]
    giveaway: NotRequired[Json | None]  # running now, or the last result
    polls: Json  # {live, last}: the running poll (with its counts) and the last result
    group_buys: NotRequired[list[Json]]  # open group buys, and the latest that closed
    server_time: int


class Ack(TypedDict):
    """A command's success, with the fields of that command's answer (see each command)."""

    type: Literal["ack"]
    ref: NotRequired[Any]
    id: NotRequired[str]  # chat.send: the line's id, and the seq its chat.message carries
    seq: NotRequired[int]  # chat.send, pin, unpin, mod.* with a room event
    # chat.send: its key had posted the line; giveaway.enter: entered before
    repeated: NotRequired[bool]
    action: NotRequired[str]  # mod.*
    until: NotRequired[int]  # mod.timeout
    report_id: NotRequired[str]  # report
    reservation: NotRequired[Json]  # release
    sale: NotRequired[Json]  # sale.start
    auction: NotRequired[Json]  # auction.*
    group: NotRequired[Json]  # groupbuy.*
    sale_id: NotRequired[str]  # sale.stop, waitlist.*
    waitlist_position: NotRequired[int]  # waitlist.*
    giveaway: NotRequired[Json]  # giveaway.start, giveaway.cancel
    giveaway_id: NotRequired[str]  # giveaway.enter
    entered: NotRequired[bool]  # giveaway.enter: true now and on a repeat
    count: NotRequired[int]  # giveaway.enter: entrants so far
    method: NotRequired[str]  # giveaway.enter: viewer, follower, buyer or free
    poll: NotRequired[Json]  # poll.start, poll.end
    poll_id: NotRequired[str]  # poll.vote
    option: NotRequired[int]  # poll.vote: the option counted


class BidAccepted(TypedDict):
    type: Literal["bid.accepted"]
    ref: NotRequired[Any]
    auction_id: str
    amount: int
    max: int
    leading: bool


class Pong(TypedDict):
    type: Literal["pong"]
    ref: NotRequired[Any]
    server_time: int


class Error(TypedDict):
    """A refusal; past ``code`` and ``message``, the error's own details (``errors.py``)."""

    type: Literal["error"]
    code: str
    message: str
    ref: NotRequired[Any]
    retry_after: NotRequired[float]  # rate_limited, muted, unavailable, overloaded
    until: NotRequired[int]  # muted
    index: NotRequired[int]  # bad_request of mod.words: which word
    next_bid: NotRequired[int]  # bid_too_low
    option: NotRequired[int]  # already_voted: the option chosen before
    poll_id: NotRequired[str]  # poll_running: the poll still running


class Unavailable(TypedDict):
    type: Literal["unavailable"]
    retry_after: float


class Reconnect(TypedDict):
    type: Literal["reconnect"]
    reason: str
    retry_after_ms: int


RoomEvent = (
    ChatMessage
    | ChatDeleted
    | ChatPinned
    | ChatUnpinned
    | RoomState
    | RoomSlow
    | RoomModerators
    | RoomDisclosure
    | StreamState
    | ReplayReady
    | ProductPinned
    | ProductUnpinned
    | SaleStarted
    | SaleEnded
    | AuctionQueued
    | AuctionStarted
    | AuctionBid
    | AuctionVoided
    | AuctionEnded
    | GiveawayStarted
    | GiveawayEnded
    | PollStarted
    | PollEnded
    | GroupBuyStarted
    | GroupBuyFilled
    | GroupBuyEnded
)
"""An event in a room's order: it gets the room's next seq and is kept for resumes."""

Outgoing = (
    RoomEvent
    | SaleStock
    | PollTally
    | GroupBuyProgress
    | GroupBuyPayment
    | Viewers
    | Reactions
    | Reservation
    | OrderCreated
    | Outbid
    | AuctionWon
    | GiveawayEntered
    | GiveawayWon
    | OrderLapsed
    | Moderated
    | ReportCreated
    | ModAction
    | Welcome
    | Ack
    | BidAccepted
    | Pong
    | Error
    | Unavailable
    | Reconnect
)
"""Anything a socket may be sent."""

Event = dict[str, Any]
"""A message as the codec, the bus and the stream carry it (one of ``Outgoing``, once read back)."""
