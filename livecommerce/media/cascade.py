"""Edges: a process serves viewers of a stream another process carries, by pulling it once.

A room's publisher reaches one process; its viewers reach every process. Sending each viewer
to the publisher's process (a 307) caps a show at what one process serves. Instead, the
first viewer on another process makes that process pull the stream from the origin over WHEP,
once, into an *edge* hub, and every later viewer there is fed from it: the origin sends one
copy per process, not per viewer. An edge asks the origin for keyframes as viewers need them
(the origin's merged PLIs reach the publisher), follows the origin's stream until it ends,
and closes a while after its last viewer leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import httpx
from aiortc import RTCIceServer, RTCSessionDescription
from aiortc.sdp import SessionDescription

from livecommerce.errors import RoomNotLive, Unavailable
from livecommerce.media.hub import Hub, Hubs
from livecommerce.media.offers import CONTENT_TYPE, preferences
from livecommerce.media.sessions import peer

log = logging.getLogger("livecommerce.streams")

LINGER_S = 10.0  # an edge with no viewers stays this long, for the next one
PULL_TIMEOUT_S = 10.0


class Edges:
    """This process's pulled streams, one per room at most."""

    def __init__(
        self,
        hubs: Hubs,
        ice_servers: list[RTCIceServer] | None = None,
        *,
        linger_s: float = LINGER_S,
    ) -> None:
        self.hubs = hubs
        self.ice_servers = ice_servers or []
        self.linger_s = linger_s
        self._pulls: dict[str, asyncio.Task[Hub]] = {}
        self._lingering: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._http = httpx.AsyncClient(timeout=PULL_TIMEOUT_S, transport=httpx.AsyncHTTPTransport())

    async def pull(self, room_id: str, origin: str) -> Hub:
        """The room's hub on this process, pulled from ``origin`` (internal URL) if need be."""
        self._keep(room_id)
        pulling = self._pulls.get(room_id)
        if pulling is None:
            hub = self.hubs.live(room_id)
            if hub is not None:
                return hub
            # Viewers arriving together share one pull.
            pulling = self._pulls[room_id] = asyncio.ensure_future(self._pull(room_id, origin))
            pulling.add_done_callback(lambda _: self._pulls.pop(room_id, None))
        # Viewers arriving while a pull is under way wait for it: its hub has no codec yet.
        return await asyncio.shield(pulling)

    async def settled(self, room_id: str) -> None:
        """Wait out a pull under way for the room: until it is done its hub has no codec."""
        pulling = self._pulls.get(room_id)
        if pulling is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(pulling)

    async def _pull(self, room_id: str, origin: str) -> Hub:
        hub = await self.hubs.open(room_id, edge=True)
        pc = peer(self.ice_servers)
        for kind in ("video", "audio"):
            transceiver = pc.addTransceiver(kind, direction="recvonly")
            names = ("VP8", "H264") if kind == "video" else ("opus",)
            transceiver.setCodecPreferences([c for name in names for c in preferences(kind, name)])
        try:
            await pc.setLocalDescription(await pc.createOffer())
            try:
                answer = await self._http.post(
                    f"{origin}/whep/rooms/{room_id}",
                    content=pc.localDescription.sdp,
                    headers={"Content-Type": CONTENT_TYPE},
                )
            except httpx.HTTPError as exc:
                raise Unavailable(
                    f"the stream's process cannot be reached ({exc})", retry_after=2.0
                ) from None
            if answer.status_code == 409:
                raise RoomNotLive("the room is not streaming now")
            if answer.status_code != 201:
                raise Unavailable(
                    f"the stream's process answered {answer.status_code}", retry_after=2.0
                )
            await pc.setRemoteDescription(RTCSessionDescription(answer.text, "answer"))
        except BaseException:
            await pc.close()
            await hub.stop("pull_failed")
            raise
        # Attached before the connection task runs (it was only scheduled): aiortc must
        # not start its decoder on the receivers the taps replace.
        codecs = _answered_codecs(answer.text)
        for transceiver in pc.getTransceivers():
            codec = codecs.get(transceiver.kind)
            if codec is not None:
                hub.attach(transceiver.kind, transceiver.receiver, codec)
        session = answer.headers.get("location", "")

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                # The origin ended the stream, or died: this edge's viewers end with it;
                # they come back with a new offer if the show goes on somewhere.
                await hub.stop("origin_gone")

        async def close_with_hub() -> None:
            await hub.stopped.wait()
            await pc.close()
            if session:
                with contextlib.suppress(httpx.HTTPError):
                    await self._http.delete(f"{origin}{session}")

        self._spawn(close_with_hub())
        return hub

    def viewer_left(self, room_id: str, viewers_left: int) -> None:
        """The last viewer of an edge gone: close it after a while, unless one comes."""
        hub = self.hubs.live(room_id)
        if hub is None or not hub.edge or viewers_left:
            return
        self._keep(room_id)
        self._lingering[room_id] = asyncio.ensure_future(self._linger(hub))

    def _keep(self, room_id: str) -> None:
        lingering = self._lingering.pop(room_id, None)
        if lingering is not None:
            lingering.cancel()

    async def _linger(self, hub: Hub) -> None:
        await asyncio.sleep(self.linger_s)
        self._lingering.pop(hub.room_id, None)
        await hub.stop("no_viewers")

    def _spawn(self, work: object) -> None:
        task = asyncio.ensure_future(work)  # type: ignore[call-overload]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in [*self._lingering.values(), *self._pulls.values()]:
            task.cancel()
        for room_id, hub in list(self.hubs.by_room.items()):
            if hub.edge:
                await self.hubs.stop(room_id, "shutdown")
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._http.aclose()


def _answered_codecs(sdp: str) -> dict[str, str]:
    """The codec the origin answered for each kind (it answers exactly one)."""
    found: dict[str, str] = {}
    for media in SessionDescription.parse(sdp).media:
        for codec in media.rtp.codecs:
            name = codec.mimeType.split("/")[-1]
            if name.lower() != "rtx":
                found.setdefault(media.kind, "opus" if name.lower() == "opus" else name)
                break
    return found
