"""Unguessable ids for things made by the thousand a second, without a syscall each.

``secrets.token_urlsafe`` asks the kernel for randomness on every call; in a rush that was
4 % of the server's time (one ``getrandom`` per hold). The same kernel randomness is drawn
here a page at a time and cut into tokens.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from typing import NewType

_POOL_BYTES = 4096
_pool = bytearray()


def _draw(nbytes: int) -> bytes:
    global _pool
    if len(_pool) < nbytes:
        _pool = bytearray(os.urandom(max(_POOL_BYTES, nbytes)))
    chunk = bytes(_pool[-nbytes:])
    del _pool[-nbytes:]
    return chunk


def token(nbytes: int = 9) -> str:
    """``nbytes`` of kernel randomness, URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(_draw(nbytes)).rstrip(b"=").decode()


def token_hex(nbytes: int) -> str:
    """``nbytes`` of kernel randomness as lowercase hex, for the ids that have always been hex."""
    return _draw(nbytes).hex()


def _forget_pool() -> None:
    _pool.clear()  # a forked child must not hand out its parent's next tokens


os.register_at_fork(after_in_child=_forget_pool)


RoomId = NewType("RoomId", str)
UserId = NewType("UserId", str)
ProductId = NewType("ProductId", str)
SaleId = NewType("SaleId", str)
AuctionId = NewType("AuctionId", str)
HoldId = NewType("HoldId", str)
OrderId = NewType("OrderId", str)
MessageId = NewType("MessageId", str)
ReportId = NewType("ReportId", str)
EndpointId = NewType("EndpointId", str)
DeliveryId = NewType("DeliveryId", str)
ImageName = NewType("ImageName", str)
PollId = NewType("PollId", str)
SessionId = NewType("SessionId", str)


class Ids:
    """The one place ids are made, handed to whatever makes things.

    Each kind has its prefix, so an id in a log or a URL says what it names, and its length
    of randomness, so ids cannot be guessed or walked. A test hands in its own ``source`` to
    get ids it can predict; it then makes every kind, hex ones too (a room's epoch, webhook
    event and delivery ids keep the hex they have always had, since merchants store them).
    """

    def __init__(
        self,
        source: Callable[[int], str] | None = None,
        *,
        hex_source: Callable[[int], str] | None = None,
    ) -> None:
        self._token = source or token
        self._hex = hex_source or source or token_hex

    def room(self) -> RoomId:
        return RoomId("r_" + self._token(9))

    def epoch(self) -> str:
        """A room's incarnation: resumes across a reset of the room's history must not match."""
        return self._hex(4)

    def user(self) -> UserId:
        return UserId("u_" + self._token(9))

    def product(self) -> ProductId:
        return ProductId("p_" + self._token(9))

    def sale(self) -> SaleId:
        return SaleId("s_" + self._token(9).replace(".", "_"))

    def auction(self) -> AuctionId:
        return AuctionId("a_" + self._token(9).replace(".", "_"))

    def poll(self) -> PollId:
        return PollId("pl_" + self._token(9).replace(".", "_"))

    def group_buy(self) -> str:
        return "g_" + self._token(9).replace(".", "_")

    def group_join(self) -> str:
        return "gj_" + self._token(9)

    def hold(self, sale: SaleId) -> HoldId:
        """A hold names its sale: the sale's keys are found from the hold id alone."""
        return HoldId(f"{sale}.{self._token(9)}")

    def order(self) -> OrderId:
        return OrderId("o_" + self._token(12))

    def message(self) -> MessageId:
        return MessageId("m_" + self._token(9))

    def report(self) -> ReportId:
        return ReportId("rp_" + self._token(9))

    def review(self) -> str:
        return "rv_" + self._token(9)

    def endpoint(self) -> EndpointId:
        return EndpointId("we_" + self._token(9))

    def webhook_event(self) -> str:
        return "evt_" + self._hex(12)

    def delivery(self) -> DeliveryId:
        return DeliveryId("dlv_" + self._hex(12))

    def session(self) -> SessionId:
        return SessionId(self._token(12))

    def publication(self) -> str:
        """A WHIP session, named in the ``Location`` its publisher deletes to stop."""
        return "wp_" + self._token(12)

    def playback(self) -> str:
        """A WHEP session, named in the ``Location`` its viewer deletes to leave."""
        return "wv_" + self._token(12)

    def image(self, extension: str) -> ImageName:
        return ImageName(f"img_{self._token(16)}.{extension}")
