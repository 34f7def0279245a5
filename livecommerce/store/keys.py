"""Key names: every Redis key and channel of the package is built here, and only here.

Every key of a room shares the hash tag ``{r:<id>}`` so each room's scripts touch one slot
and run unchanged on a Redis Cluster. The strings are stored data: a change here strands
what a running deployment has written (tests/livecommerce/store/test_keys.py pins them).
"""

from __future__ import annotations

import hashlib
import re

PREFIX = "lc"


def room(room_id: str) -> str:
    return f"{PREFIX}:{{r:{room_id}}}:room"


def room_seq(room_id: str) -> str:
    return f"{PREFIX}:{{r:{room_id}}}:seq"


def room_events(room_id: str) -> str:
    return f"{PREFIX}:{{r:{room_id}}}:events"


def room_viewers(room_id: str) -> str:
    return f"{PREFIX}:{{r:{room_id}}}:viewers"


def room_chat_rate(room_id: str, user_id: str) -> str:
    return f"{PREFIX}:{{r:{room_id}}}:rate:chat:{user_id}"


def room_bans(room_id: str) -> str:
    return f"{PREFIX}:{{r:{room_id}}}:bans"


def room_timeouts(room_id: str) -> str:
    return f"{PREFIX}:{{r:{room_id}}}:timeouts"


def room_slow(room_id: str, user_id: str) -> str:
    return f"{PREFIX}:{{r:{room_id}}}:slow:{user_id}"


def room_chat(room_id: str) -> str:
    """Recent chat lines by message id, for moderators' tools and reports."""
    return f"{PREFIX}:{{r:{room_id}}}:chat"


def room_chat_order(room_id: str) -> str:
    return f"{PREFIX}:{{r:{room_id}}}:chat:order"


def room_chat_key(room_id: str, user_id: str, key: str) -> str:
    """The line a sender's ``chat.send`` key posted, so a resend after a lost reply is no
    second line."""
    return f"{PREFIX}:{{r:{room_id}}}:chat:key:{user_id}:{key}"


def room_audit(room_id: str) -> str:
    return f"{PREFIX}:{{r:{room_id}}}:audit"


def room_words(room_id: str) -> str:
    return f"{PREFIX}:{{r:{room_id}}}:words"


def room_reports(room_id: str) -> str:
    return f"{PREFIX}:{{r:{room_id}}}:reports"


def room_reports_open(room_id: str) -> str:
    return f"{PREFIX}:{{r:{room_id}}}:reports:open"


def room_reports_resolved(room_id: str) -> str:
    return f"{PREFIX}:{{r:{room_id}}}:reports:resolved"


def room_reserve_rate(room_id: str, user_id: str) -> str:
    return f"{PREFIX}:{{r:{room_id}}}:rate:reserve:{user_id}"


def room_pins(room_id: str) -> str:
    return f"{PREFIX}:{{r:{room_id}}}:pins"


def room_stats(room_id: str) -> str:
    """The show's analytics counters (analytics/rules.py names the fields)."""
    return f"{PREFIX}:{{r:{room_id}}}:stats"


def room_stats_presence(room_id: str) -> str:
    return f"{PREFIX}:{{r:{room_id}}}:stats:presence"


def room_stats_viewers(room_id: str) -> str:
    return f"{PREFIX}:{{r:{room_id}}}:stats:viewers"


def room_stats_chatters(room_id: str) -> str:
    return f"{PREFIX}:{{r:{room_id}}}:stats:chatters"


def room_stats_buyers(room_id: str) -> str:
    return f"{PREFIX}:{{r:{room_id}}}:stats:buyers"


def room_stats_counted(room_id: str) -> str:
    return f"{PREFIX}:{{r:{room_id}}}:stats:counted"


def room_recordings(room_id: str) -> str:
    return f"{PREFIX}:{{r:{room_id}}}:recordings"


def stream_claims() -> str:
    """Rooms some process streams, scored by when it last said so (ms)."""
    return f"{PREFIX}:streams"


def room_channel(room_id: str) -> str:
    """The room's shard channel: in the room's slot, so the script that writes an event to
    the room's stream publishes it in the same step (``SPUBLISH``), on a cluster too."""
    return f"{PREFIX}:{{r:{room_id}}}:bus"


def fence_of(key: str) -> str:
    """A key in ``key``'s slot that store/durability.py writes to before it waits."""
    start = key.find("{")
    end = key.find("}", start + 1)
    if start < 0 or end <= start + 1:
        raise ValueError(f"{key!r} has no hash tag")
    return f"{PREFIX}:{key[start : end + 1]}:fence"


def room_of_channel(channel: str) -> str:
    return channel[len(f"{PREFIX}:{{r:") : -len("}:bus")]


def rooms_index(state: str) -> str:
    return f"{PREFIX}:rooms:{state}"


def rooms_by_host(host_id: str) -> str:
    return f"{PREFIX}:rooms:host:{host_id}"


# Accounts spread over the slots: an account and its deleted flag carry its user's tag (the
# one their other keys carry), a username claim its own, a signed-out session its own. So no
# one primary serves every sign-in, name lookup and token check. Signing up claims the name
# first, then writes the account (accounts/store.py); the legacy names below are read only by
# the upgrade that moves what a deployment wrote before (accounts/upgrade.py).
def account(account_id: str) -> str:
    return f"{PREFIX}:{{u:{account_id}}}:account"


def username_claim(username: str) -> str:
    """username -> its account id; ``<id> <ms>`` while a sign-up is still writing it."""
    return f"{PREFIX}:{{n:{username}}}:username"


def account_deleted(account_id: str) -> str:
    """Set for good when an account is deleted: its tokens are refused, its lines nameless."""
    return f"{PREFIX}:{{u:{account_id}}}:deleted"


def admins() -> str:
    """Operators: people who may moderate every room, granted from the command line."""
    return f"{PREFIX}:{{acct}}:admins"


def revoked_session(session: str) -> str:
    """A signed-out token's session (auth.py), kept until the token would have expired."""
    return f"{PREFIX}:{{s:{session}}}:revoked"


def legacy_account(account_id: str) -> str:
    return f"{PREFIX}:{{acct}}:account:{account_id}"


def legacy_accounts_by_username() -> str:
    return f"{PREFIX}:{{acct}}:by_username"


def legacy_deleted_accounts() -> str:
    return f"{PREFIX}:{{acct}}:deleted"


def legacy_revoked_sessions() -> str:
    """The pattern (SCAN MATCH) of the legacy revoked-session keys."""
    return f"{PREFIX}:{{revoked}}:*"


def legacy_revoked_session(session: str) -> str:
    return f"{PREFIX}:{{revoked}}:{session}"


def upgraded(step: str) -> str:
    """Set once an upgrade step that must walk the whole keyspace has walked it."""
    return f"{PREFIX}:upgraded:{step}"


def revocations_channel() -> str:
    """Every process hears sign-outs here and closes the sockets that hold the token."""
    return f"{PREFIX}:revocations"


def user_rooms(user_id: str) -> str:
    """Rooms a person has chatted in, for their data export."""
    return f"{PREFIX}:user:{user_id}:rooms"


# A sale's keys carry its room's tag: the engine's scripts can announce a sale's end in the
# room's ordered history in the same atomic step, and a room's sales live in one slot.
def sale(room_id: str, sale_id: str) -> list[str]:
    """The seven keys every sale script takes, in the order ``_sale.lua`` names them.

    The last is the room's, not the sale's: how many holds each person has in any of the
    room's sales, which is what caps one account's concurrent holds.
    """
    base = sale_hash(room_id, sale_id)
    return [
        base,
        f"{base}:expiry",
        sale_holds(room_id, sale_id),
        sale_users(room_id, sale_id),
        f"{base}:waitlist",
        f"{base}:wanted",
        f"{PREFIX}:{{r:{room_id}}}:holds_by_user",
    ]


def sale_hash(room_id: str, sale_id: str) -> str:
    return f"{PREFIX}:{{r:{room_id}}}:sale:{sale_id}"


def sale_holds(room_id: str, sale_id: str) -> str:
    """hold id -> the hold (JSON)."""
    return f"{sale_hash(room_id, sale_id)}:holds"


def sale_users(room_id: str, sale_id: str) -> str:
    """Per buyer: "<user>:h" held, "<user>:b" bought, "<user>:o" their open holds' ids."""
    return f"{sale_hash(room_id, sale_id)}:users"


def sale_idempotency(room_id: str, sale_id: str) -> str:
    return f"{PREFIX}:{{r:{room_id}}}:sale:{sale_id}:idem"


def room_sales(room_id: str) -> str:
    return f"{PREFIX}:{{r:{room_id}}}:sales"


def order(room_id: str, order_id: str) -> str:
    return f"{PREFIX}:{{r:{room_id}}}:order:{order_id}"


def order_refund(room_id: str, order_id: str) -> str:
    """The refund of an order, written once (SET NX)."""
    return f"{order(room_id, order_id)}:refund"


def room_orders(room_id: str) -> str:
    return f"{PREFIX}:{{r:{room_id}}}:orders"


def sale_rooms() -> str:
    """sale id -> room id; written once when a sale starts, never changed."""
    return f"{PREFIX}:sale_room"


def active_sales() -> str:
    """'<room id> <sale id>' scored by the sale's end: what the enders and reapers visit."""
    return f"{PREFIX}:sales:active"


# An auction's keys carry its room's tag too: a bid, its price and its room event are one step.
def auction(room_id: str, auction_id: str) -> list[str]:
    """The four keys every auction script takes first, in the order ``_auction.lua`` names
    them: the lot, its bid log, each bidder's latest max, and its idempotency keys."""
    base = auction_hash(room_id, auction_id)
    return [base, f"{base}:bids", f"{base}:maxes", f"{base}:idem"]


def auction_hash(room_id: str, auction_id: str) -> str:
    return f"{PREFIX}:{{r:{room_id}}}:auction:{auction_id}"


def room_auctions(room_id: str) -> str:
    """The room's lots by their place on its run sheet (1, 2, ...)."""
    return f"{PREFIX}:{{r:{room_id}}}:auctions"


def room_open_auctions(room_id: str) -> str:
    """The room's lots not yet ended (queued or active), by their place on the run sheet."""
    return f"{PREFIX}:{{r:{room_id}}}:auctions:open"


def room_last_auction(room_id: str) -> str:
    """The id of the room's lot that ended last, whose result a joiner sees."""
    return f"{PREFIX}:{{r:{room_id}}}:auctions:last"


def room_live_auction(room_id: str) -> str:
    """The id of the room's lot taking bids now, if any: one at a time."""
    return f"{PREFIX}:{{r:{room_id}}}:auctions:live"


def room_bid_rate(room_id: str, user_id: str) -> str:
    return f"{PREFIX}:{{r:{room_id}}}:rate:bid:{user_id}"


def auction_rooms() -> str:
    """auction id -> room id; written once when a lot is queued, never changed."""
    return f"{PREFIX}:auction_room"


def active_auctions() -> str:
    """'<room id> <auction id>' of lots not yet closed, scored by their end as last known."""
    return f"{PREFIX}:auctions:active"


def unpaid_orders() -> str:
    """'<room id> <order id>' of auction orders awaiting payment, scored by their pay-by."""
    return f"{PREFIX}:orders:unpaid"


def user_bids(user_id: str) -> str:
    """'<room id> <auction id>' of the lots a person bid on, for their data export."""
    return f"{PREFIX}:{{u:{user_id}}}:bids"


def user_votes(user_id: str) -> str:
    """'<room id> <poll id>' of the polls a person voted in, for their data export."""
    return f"{PREFIX}:{{u:{user_id}}}:votes"


def auction_strikes() -> str:
    """account id -> auction orders they left unpaid."""
    return f"{PREFIX}:auction_strikes"


# A giveaway's keys carry its room's tag: an entry, the count and the draw are one slot.
def giveaway(room_id: str, giveaway_id: str) -> list[str]:
    """The giveaway's hash, its entries (user id -> method) and its secret seed (hex), which
    is kept apart so nothing that reads the giveaway can show it before the draw."""
    base = f"{PREFIX}:{{r:{room_id}}}:giveaway:{giveaway_id}"
    return [base, f"{base}:entries", f"{base}:seed"]


def room_giveaways(room_id: str) -> str:
    """The room's giveaways by their start (ms)."""
    return f"{PREFIX}:{{r:{room_id}}}:giveaways"


def room_live_giveaway(room_id: str) -> str:
    """The id of the room's giveaway that has not ended yet, if any: one at a time."""
    return f"{PREFIX}:{{r:{room_id}}}:giveaways:live"


def room_last_giveaway(room_id: str) -> str:
    """The id of the room's giveaway that ended last, whose result a joiner sees."""
    return f"{PREFIX}:{{r:{room_id}}}:giveaways:last"


def giveaway_rooms() -> str:
    """giveaway id -> room id; written once when a giveaway starts, never changed."""
    return f"{PREFIX}:giveaway_room"


def active_giveaways() -> str:
    """'<room id> <giveaway id>' of giveaways not yet drawn, scored by their end."""
    return f"{PREFIX}:giveaways:active"


def unclaimed_prizes() -> str:
    """'<room id> <order id>' of prize orders awaiting the winner's address, by claim-by."""
    return f"{PREFIX}:giveaways:unclaimed"


# A poll's keys carry its room's tag: a vote, its count and the poll's end are one step each.
def poll(room_id: str, poll_id: str) -> list[str]:
    """The four keys every poll script takes first: the poll, each voter's option, the right
    answers of a quiz by how fast they came (ms), and the names of those who gave them."""
    base = f"{PREFIX}:{{r:{room_id}}}:poll:{poll_id}"
    return [base, f"{base}:votes", f"{base}:right", f"{base}:names"]


def room_polls(room_id: str) -> str:
    """The room's polls by their start (ms)."""
    return f"{PREFIX}:{{r:{room_id}}}:polls"


def room_live_poll(room_id: str) -> str:
    """The id of the room's running poll, if any: one at a time."""
    return f"{PREFIX}:{{r:{room_id}}}:polls:live"


def room_last_poll(room_id: str) -> str:
    """The id of the room's poll that ended last, whose result a joiner sees."""
    return f"{PREFIX}:{{r:{room_id}}}:polls:last"


def active_polls() -> str:
    """'<room id> <poll id>' of polls not yet ended, scored by their end."""
    return f"{PREFIX}:polls:active"


# Charges made but not yet settled by an order (or given back), for the sweeper: one tag, so
# the ledger's two keys change together in one transaction.
def open_charges() -> str:
    return f"{PREFIX}:{{charges}}:open"


def open_charge_info() -> str:
    return f"{PREFIX}:{{charges}}:info"


def order_rooms() -> str:
    """order id -> room id; written once after the order, never changed."""
    return f"{PREFIX}:order_room"


def buyer_orders(user_id: str) -> str:
    return f"{PREFIX}:{{u:{user_id}}}:orders"


def checkout_key(user_id: str, key: str) -> str:
    """The hold a buyer's checkout Idempotency-Key was first used on (the buyer's own space:
    one person's key never meets another's)."""
    return f"{PREFIX}:{{u:{user_id}}}:checkout:{key}"


# A creator's products share the tag {c:<creator>}: creating one and claiming its sku is atomic.
def product_key(creator_id: str, product_id: str) -> str:
    return f"{PREFIX}:{{c:{creator_id}}}:product:{product_id}"


def products_key(creator_id: str) -> str:
    return f"{PREFIX}:{{c:{creator_id}}}:products"


def creator_buyers(creator_id: str) -> str:
    """Keyed hashes of everyone who ever bought from the creator: first-time buyers."""
    return f"{PREFIX}:{{c:{creator_id}}}:buyers"


def followers(creator_id: str) -> str:
    """Who follows a creator (a set of user ids): follower counts, followers-only giveaways."""
    return f"{PREFIX}:{{c:{creator_id}}}:followers"


def following(user_id: str) -> str:
    """The creators a person follows (a set of creator ids): their own list and data export."""
    return f"{PREFIX}:{{u:{user_id}}}:following"


def room_reminders(room_id: str) -> str:
    """Who asked to be reminded of a show (a set of user ids): its audience with followers."""
    return f"{PREFIX}:{{r:{room_id}}}:reminders"


def user_reminders(user_id: str) -> str:
    """The shows a person asked to be reminded of (a set of room ids): export and erasure."""
    return f"{PREFIX}:{{u:{user_id}}}:reminders"


def show_notices() -> str:
    """'<room id> <reminder|live>' scored by when the show's webhook is due (ms): what the
    notice ticker claims (follows/service.py), leased like webhooks_due."""
    return f"{PREFIX}:shows:notices"


# A seller's reviews and ratings carry the creator's tag too: a review and the two aggregates
# it moves (the product's and the seller's) change in one script (reviews/review_put.lua).
def reviews(creator_id: str) -> str:
    """review id -> the review (JSON)."""
    return f"{PREFIX}:{{c:{creator_id}}}:reviews"


def review_pairs(creator_id: str) -> str:
    """'<order id> <product id>' -> its review's id: one review per product of an order."""
    return f"{PREFIX}:{{c:{creator_id}}}:reviews:pairs"


def seller_reviews(creator_id: str) -> str:
    """The seller's review ids, scored by when they were written."""
    return f"{PREFIX}:{{c:{creator_id}}}:reviews:all"


def reviews_reported(creator_id: str) -> str:
    """Ids of the seller's reviews someone reported and nobody has yet judged, by report time."""
    return f"{PREFIX}:{{c:{creator_id}}}:reviews:reported"


def reviews_audit(creator_id: str) -> str:
    """What the seller and operators did to the seller's reviews (a list, newest first)."""
    return f"{PREFIX}:{{c:{creator_id}}}:reviews:audit"


def seller_rating(creator_id: str) -> str:
    """The seller's rating: fields sum, count and 1 .. 5 (how many gave that many stars)."""
    return f"{PREFIX}:{{c:{creator_id}}}:rating"


def product_rating(creator_id: str, product_id: str) -> str:
    return f"{PREFIX}:{{c:{creator_id}}}:product:{product_id}:rating"


def product_reviews(creator_id: str, product_id: str) -> str:
    """A product's review ids, scored by when they were written."""
    return f"{PREFIX}:{{c:{creator_id}}}:product:{product_id}:reviews"


def review_sellers() -> str:
    """review id -> the seller (creator) id, so a review can be found by id alone."""
    return f"{PREFIX}:review_seller"


def user_reviews(user_id: str) -> str:
    """'<seller id> <review id>' of a person's reviews, for their export and erasure."""
    return f"{PREFIX}:{{u:{user_id}}}:reviews"


def skus_key(creator_id: str) -> str:
    return f"{PREFIX}:{{c:{creator_id}}}:sku"


def product_sales_key(creator_id: str, product_id: str) -> str:
    """The sales that hold a product's units right now; while any does, it stays."""
    return f"{PREFIX}:{{c:{creator_id}}}:product:{product_id}:sales"


def stock_move_key(creator_id: str, sale_id: str, direction: str) -> str:
    """Marks that a sale took (or gave back) its units, so it happens once."""
    return f"{PREFIX}:{{c:{creator_id}}}:stockmove:{sale_id}:{direction}"


def owners_key() -> str:
    """product id -> creator id, so a product can be found by id alone."""
    return f"{PREFIX}:product_owner"


# A group buy's keys carry its room's tag: a join, the fill and its room event are one step.
def groupbuy(room_id: str, group_id: str) -> list[str]:
    """The five keys every group buy script takes first, in the order ``_groupbuy.lua``
    names them: the group, its joins, each joiner's join, the retry keys, the work list."""
    base = groupbuy_hash(room_id, group_id)
    return [base, f"{base}:joins", f"{base}:users", f"{base}:keys", f"{base}:todo"]


def groupbuy_hash(room_id: str, group_id: str) -> str:
    return f"{PREFIX}:{{r:{room_id}}}:gb:{group_id}"


def groupbuy_lease(room_id: str, group_id: str) -> str:
    """Who settles the group now (captures, voids, tells): one process at a time."""
    return f"{groupbuy_hash(room_id, group_id)}:lease"


def room_groupbuys(room_id: str) -> str:
    """The room's group buys, scored by start (ms)."""
    return f"{PREFIX}:{{r:{room_id}}}:groupbuys"


def groupbuy_rooms() -> str:
    """group buy id -> room id; written once when it starts, never changed."""
    return f"{PREFIX}:groupbuy_room"


def groupbuys_due() -> str:
    """'<room id> <group id>' of group buys with work left, scored by when to look (ms)."""
    return f"{PREFIX}:groupbuys:due"


# The test payment provider (selling/payments.py): a charge is claimed under its idempotency
# key before it is made; a payment's state lives under its reference. A claim and the payment
# it makes are written in one transaction, so they share a tag: the reference carries the
# claim's shard (``pay_<shard>_<id>``). References made before the shard (``pay_<id>``) keep
# their untagged key.
def payment_shard(idempotency_key: str) -> str:
    return hashlib.sha1(idempotency_key.encode(), usedforsecurity=False).hexdigest()[:4]


def payment_claim(idempotency_key: str) -> str:
    return f"{PREFIX}:{{pay:{payment_shard(idempotency_key)}}}:claim:{idempotency_key}"


def payment(payment_ref: str) -> str:
    shard = _PAYMENT_SHARD.match(payment_ref)
    if shard is None:
        return f"{PREFIX}:payment:{payment_ref}"
    return f"{PREFIX}:{{pay:{shard.group(1)}}}:payment:{payment_ref}"


_PAYMENT_SHARD = re.compile(r"^[a-z]+_([0-9a-f]{4})_")


# Webhooks: a creator's endpoints and delivery log share the tag {w:<creator>}; the due set
# and each delivery stand alone (every step touches one creator's keys or one delivery's).
def webhook_endpoints(creator_id: str) -> str:
    return f"{PREFIX}:{{w:{creator_id}}}:endpoints"


def webhook_log(creator_id: str) -> str:
    return f"{PREFIX}:{{w:{creator_id}}}:log"


def webhooks_due() -> str:
    return f"{PREFIX}:webhooks:due"


def webhook_delivery(delivery_id: str) -> str:
    return f"{PREFIX}:webhooks:delivery:{delivery_id}"


# Abuse limits (store/limits.py): one GCRA key per limit and subject. Subjects are digests,
# never addresses or usernames. A sign-in's two keys share the username's tag, so that one
# script reads both.
def limit(name: str, subject: str) -> str:
    return f"{PREFIX}:limit:{name}:{subject}"


def limit_for_user(name: str, user: str) -> str:
    return f"{PREFIX}:limit:{name}:{{{user}}}"


def limit_for_user_at(name: str, user: str, address: str) -> str:
    return f"{PREFIX}:limit:{name}:{{{user}}}:{address}"
