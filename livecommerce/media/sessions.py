"""What a WHIP publication and a WHEP playback share: one peer connection, answered once and
watched until it ends, whichever way it ends.

A session ends once: by DELETE, by its connection failing or closing, by never connecting
within the timeout (the peer got its answer and vanished), or with the room's stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.exceptions import InternalError, InvalidAccessError, InvalidStateError, OperationError

from livecommerce.media.hub import Hub
from livecommerce.media.offers import UnsupportedCodec

CONNECT_TIMEOUT_S = 30.0
_CANNOT_ANSWER = (InternalError, InvalidAccessError, InvalidStateError, OperationError)

End = Callable[[str], Awaitable[None]]


@dataclass(eq=False, kw_only=True)
class Session:
    id: str
    room_id: str
    pc: RTCPeerConnection
    started_at: float = field(default_factory=time.time)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def finish(self) -> bool:
        """Mark the session ended and stop its watchers; False if it had ended already."""
        if self.ended.is_set():
            return False
        self.ended.set()
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        return True


def peer(ice_servers: list[RTCIceServer]) -> RTCPeerConnection:
    # An empty list, not None: with None aiortc asks Google's STUN server and can wait 5 s.
    return RTCPeerConnection(RTCConfiguration(iceServers=ice_servers))


async def answer(pc: RTCPeerConnection, offer_sdp: str, hint: str) -> str:
    """The answer SDP (every candidate in it), or the peer closed and the error to send."""
    try:
        await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
    except _CANNOT_ANSWER as exc:
        # The offer passed our checks but aiortc cannot answer it: a codec profile it does
        # not do (H.264 High only, say) is the usual reason.
        await pc.close()
        raise UnsupportedCodec(f"{hint} ({exc})") from None
    except BaseException:
        await pc.close()
        raise
    return str(pc.localDescription.sdp)


def watch(session: Session, hub: Hub, end: End, connect_timeout_s: float) -> None:
    """End the session when its connection goes, when it never comes, or with the stream."""
    pc = session.pc

    @pc.on("connectionstatechange")
    async def on_state() -> None:
        if pc.connectionState == "connected":
            session.connected.set()
        elif pc.connectionState in ("failed", "closed"):
            await end(pc.connectionState)

    async def connect_or_end() -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(connect_timeout_s):
                await session.connected.wait()
                return
        await end("timeout")

    async def end_with_stream() -> None:
        await hub.stopped.wait()
        await end("stream_ended")

    session.spawn(connect_or_end())
    session.spawn(end_with_stream())
