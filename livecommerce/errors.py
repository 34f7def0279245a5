"""The one error hierarchy of livecommerce.

Every refusal the server gives has a stable string ``code``. The same code becomes the
``code`` of a wire ``error`` event and of an ``application/problem+json`` body, so clients
handle one vocabulary whatever channel they use. A socket refused with an error is closed
with the error's ``close_code``: 4000-4399 ask the client to come back, 4400-4999 tell it
not to, and a refusal it should not repeat mirrors its HTTP status (401 -> 4401)::

    LiveCommerceError                 internal      500   4002
    ├── BadRequest                    bad_request   400   4400
    │   ├── BadFrame                  bad_frame     400   4400
    │   ├── UnknownType               unknown_type  400   4400
    │   ├── BlockedWord               blocked_word  400   4400
    │   ├── BadRating                 bad_rating    400   4400
    │   ├── ReviewTooLong             review_too_long 400 4400
    │   ├── BadCharacters             bad_characters 400  4400
    │   ├── PollOptionsCount          poll_options_count 400 4400
    │   ├── PollTextInvalid           poll_text_invalid 400 4400  (field)
    │   ├── PollDurationOutOfRange    poll_duration_out_of_range 400 4400
    │   ├── PollAnswerOutOfRange      poll_answer_out_of_range 400 4400
    │   ├── OptionOutOfRange          option_out_of_range 400 4400
    │   └── PriceNotBelowList         price_not_below_list 400 4400
    ├── RequestTimeout                request_timeout 408 4002
    ├── TooLarge                      too_large     413   4002
    ├── UnsupportedImage              unsupported_image 415 4002
    ├── Unauthorized                  unauthorized  401   4401
    ├── Forbidden                     forbidden     403   4403
    │   ├── Banned                    banned        403   4403
    │   ├── Muted                     muted         403   4403  (retry_after)
    │   ├── GiveawayStaff             giveaway_staff 403  4403
    │   ├── NotAFollower              not_a_follower 403  4403
    │   └── NotABuyer                 not_a_buyer   403   4403
    ├── NotFound                      not_found     404   4404
    │   ├── ProductNotInOrder         product_not_in_order 404 4404
    │   └── ReviewNotFound            review_not_found 404 4404
    ├── Conflict                      conflict      409   4002
    │   ├── RoomNotLive               room_not_live 409   4002
    │   ├── SaleNotActive             sale_not_active 409 4002
    │   ├── SoldOut                   sold_out      409   4002
    │   ├── LimitExceeded             limit_exceeded 409  4002
    │   ├── TooManyHolds              too_many_holds 409  4002
    │   ├── HoldExpired               hold_expired  409   4002
    │   ├── HoldReleased              hold_released 409   4002
    │   ├── IdempotencyKeyReused      idempotency_key_reused 409 4002
    │   ├── ProductOnSale             product_on_sale 409 4002
    │   ├── BidTooLow                 bid_too_low   409   4002  (next_bid)
    │   ├── AuctionNotActive          auction_not_active 409 4002
    │   ├── OrderLapsed               order_lapsed  409   4002
    │   ├── NotReviewable             not_reviewable 409  4002  (state)
    │   ├── GiveawayNotActive         giveaway_not_active 409 4002
    │   ├── GiveawayRunning           giveaway_running 409 4002
    │   ├── PollNotActive             poll_not_active 409 4002
    │   ├── PollRunning               poll_running  409   4002  (poll_id)
    │   ├── AlreadyVoted              already_voted 409   4002  (option)
    │   ├── GroupBuyNotOpen           group_buy_not_open 409 4002
    │   ├── AlreadyJoined             already_joined 409  4002
    │   └── OutOfStock                out_of_stock  409   4002
    ├── RateLimited                   rate_limited  429   4029  (retry_after)
    ├── Unavailable                   unavailable   503   4002  (retry_after)
    └── Overloaded                    overloaded    503   4003  (retry_after)

Only the errors a join can meet today (unauthorized, not_found, rate_limited, unavailable,
overloaded) close sockets; the others keep 4002, "come back later", which is what any other
failure of a join has always been answered with.
"""

from __future__ import annotations

from typing import Any, ClassVar, cast

from livecommerce.events import Error


class CloseCode:
    """WebSocket close codes: 4000-4399 ask the client to reconnect, 4400-4999 do not."""

    GOING_AWAY = 1001
    TOO_BIG = 1009
    SERVICE_RESTART = 1012
    RECONNECT = 4000
    SLOW_CONSUMER = 4001
    UNAVAILABLE = 4002
    OVERLOADED = 4003
    RATE_LIMITED = 4029
    IDLE_TIMEOUT = 4004
    BAD_FRAMES = 4400
    UNAUTHORIZED = 4401
    FORBIDDEN = 4403
    NOT_FOUND = 4404
    ROOM_ENDED = 4410

    @staticmethod
    def should_reconnect(code: int) -> bool:
        return code in (1001, 1006, 1011, 1012, 1013) or 4000 <= code < 4400


class LiveCommerceError(Exception):
    code: ClassVar[str] = "internal"
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"
    # How a socket refused with this error is closed: "come back later" unless it says more.
    close_code: ClassVar[int] = CloseCode.UNAVAILABLE

    def __init__(self, message: str = "", **extra: Any) -> None:
        super().__init__(message or self.title)
        self.message = message or self.title
        self.extra = extra

    def to_wire(self, ref: object = None) -> Error:
        event = Error(type="error", code=self.code, message=self.message)
        if ref is not None:
            event["ref"] = ref
        return cast(Error, {**event, **self.extra})  # the extras are details Error names

    def to_problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://livecommerce.dev/problems/{self.code}",
            "title": self.title,
            "status": self.status,
            "code": self.code,
            "detail": self.message,
        }
        body.update(self.extra)
        return body


class BadRequest(LiveCommerceError):
    code = "bad_request"
    status = 400
    title = "Bad request"
    close_code = CloseCode.BAD_FRAMES


class BadFrame(BadRequest):
    code = "bad_frame"
    title = "Unreadable frame"


class BlockedWord(BadRequest):
    code = "blocked_word"
    title = "Blocked word"


class BadRating(BadRequest):
    code = "bad_rating"
    title = "A rating is a whole number from 1 to 5"


class ReviewTooLong(BadRequest):
    code = "review_too_long"
    title = "The review text is too long"


class BadCharacters(BadRequest):
    code = "bad_characters"
    title = "The text holds control characters"


class PriceNotBelowList(BadRequest):
    """A group buy's price must undercut the product's list price: that is the deal."""

    code = "price_not_below_list"
    title = "The group price is not below the list price"


class UnknownType(BadRequest):
    code = "unknown_type"
    title = "Unknown message type"


class PollOptionsCount(BadRequest):
    code = "poll_options_count"
    title = "A poll has 2 to 4 options"


class PollTextInvalid(BadRequest):
    code = "poll_text_invalid"
    title = "A question or option is empty, too long or holds control characters"


class PollDurationOutOfRange(BadRequest):
    code = "poll_duration_out_of_range"
    title = "Poll duration out of range"


class PollAnswerOutOfRange(BadRequest):
    code = "poll_answer_out_of_range"
    title = "The quiz's answer is not one of its options"


class OptionOutOfRange(BadRequest):
    code = "option_out_of_range"
    title = "No such option"


class RequestTimeout(LiveCommerceError):
    """A body that arrives too slowly: a client may not hold a connection by trickling it."""

    code = "request_timeout"
    status = 408
    title = "Request body too slow"


class TooLarge(LiveCommerceError):
    code = "too_large"
    status = 413
    title = "Too large"


class UnsupportedImage(LiveCommerceError):
    code = "unsupported_image"
    status = 415
    title = "Unsupported image"


class Unauthorized(LiveCommerceError):
    code = "unauthorized"
    status = 401
    title = "Unauthorized"
    close_code = CloseCode.UNAUTHORIZED


class Forbidden(LiveCommerceError):
    code = "forbidden"
    status = 403
    title = "Forbidden"
    close_code = CloseCode.FORBIDDEN


class Banned(Forbidden):
    code = "banned"
    title = "Banned from this room"


class Muted(Forbidden):
    code = "muted"
    title = "Timed out in this room"


class GiveawayStaff(Forbidden):
    """The host and the room's moderators run a giveaway; they never enter it."""

    code = "giveaway_staff"
    title = "The room's staff cannot enter its giveaways"


class NotAFollower(Forbidden):
    code = "not_a_follower"
    title = "This giveaway is for the host's followers"


class NotABuyer(Forbidden):
    """A buyers-only giveaway: buy in this show, or enter with ``free_entry`` (no purchase
    necessary)."""

    code = "not_a_buyer"
    title = "This giveaway is for this show's buyers"


class NotFound(LiveCommerceError):
    code = "not_found"
    status = 404
    title = "Not found"
    close_code = CloseCode.NOT_FOUND


class ProductNotInOrder(NotFound):
    code = "product_not_in_order"
    title = "The product is not in that order"


class ReviewNotFound(NotFound):
    code = "review_not_found"
    title = "No such review"


class Conflict(LiveCommerceError):
    code = "conflict"
    status = 409
    title = "Conflict"


class RoomNotLive(Conflict):
    code = "room_not_live"
    title = "Room is not live"


class SaleNotActive(Conflict):
    code = "sale_not_active"
    title = "The sale is not active"


class SoldOut(Conflict):
    code = "sold_out"
    title = "Sold out"


class LimitExceeded(Conflict):
    code = "limit_exceeded"
    title = "Over the per-buyer limit"


class TooManyHolds(Conflict):
    code = "too_many_holds"
    title = "Too many reservations at once"


class HoldExpired(Conflict):
    code = "hold_expired"
    title = "The hold has expired"


class HoldReleased(Conflict):
    code = "hold_released"
    title = "The hold was released"


class IdempotencyKeyReused(Conflict):
    """A key names one request: sending it with another (another hold, another amount) is
    refused, never answered with what the first request got."""

    code = "idempotency_key_reused"
    title = "Idempotency key already used for another request"


class ProductOnSale(Conflict):
    code = "product_on_sale"
    title = "Product is in a flash sale"


class BidTooLow(Conflict):
    """Comes with ``next_bid``: the least the lot takes now, so one tap can try again."""

    code = "bid_too_low"
    title = "The bid is below the next bid"


class AuctionNotActive(Conflict):
    code = "auction_not_active"
    title = "The auction is not taking bids"


class OrderLapsed(Conflict):
    code = "order_lapsed"
    title = "The order was not paid in time"


class NotReviewable(Conflict):
    code = "not_reviewable"
    title = "The order cannot be reviewed (not paid, or refunded)"


class GiveawayNotActive(Conflict):
    code = "giveaway_not_active"
    title = "The giveaway is not taking entries"


class GiveawayRunning(Conflict):
    code = "giveaway_running"
    title = "A giveaway is running in this room already"


class PollNotActive(Conflict):
    code = "poll_not_active"
    title = "Poll not active"


class PollRunning(Conflict):
    code = "poll_running"
    title = "A poll is running already; one at a time"


class AlreadyVoted(Conflict):
    code = "already_voted"
    title = "Already voted"


class GroupBuyNotOpen(Conflict):
    code = "group_buy_not_open"
    title = "The group buy is not taking joins"


class AlreadyJoined(Conflict):
    """One join per account and group buy; a retry with the same key gets that join."""

    code = "already_joined"
    title = "Already joined this group buy"


class OutOfStock(Conflict):
    """The product has fewer units in stock than asked for (comes with ``stock``)."""

    code = "out_of_stock"
    title = "Not enough stock"


class _RetryLater(LiveCommerceError):
    """An error the client should retry after ``retry_after`` seconds."""

    def __init__(self, message: str = "", *, retry_after: float, **extra: Any) -> None:
        super().__init__(message, retry_after=round(retry_after, 3), **extra)
        self.retry_after = retry_after


class RateLimited(_RetryLater):
    code = "rate_limited"
    status = 429
    title = "Too many requests"
    close_code = CloseCode.RATE_LIMITED


class Unavailable(_RetryLater):
    code = "unavailable"
    status = 503
    title = "Service unavailable"
    close_code = CloseCode.UNAVAILABLE


class Overloaded(_RetryLater):
    code = "overloaded"
    status = 503
    title = "Overloaded"
    close_code = CloseCode.OVERLOADED
