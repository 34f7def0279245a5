"""The MediaRelay baseline that loadtests/video.py measures livecommerce's forwarding against.

A minimal WHIP/WHEP server built the way aiortc's examples relay a stream: the publisher's
tracks are decoded (aiortc's receiver always decodes), ``aiortc.contrib.media.MediaRelay``
hands every viewer a proxy of the decoded track, and each viewer's ``RTCRtpSender`` encodes
its own copy (libx264 or libvpx, aiortc's encoder settings) and Opus for the audio. That is
the per-viewer encoding cost the forwarding hub exists to avoid.

Proxies are unbuffered (``buffered=False``): a viewer whose encoder cannot keep up skips to
the newest frame instead of queueing without bound, as a live relay must; the skipped frames
are the drops the benchmark counts. One more unbuffered proxy per kind drains the source from
the moment the publisher connects, so frames decoded before the first viewer do not pile up.

    python loadtests/video_relay.py --port 0 --ready-file /tmp/relay.json --codec H264
    POST /whip  (application/sdp offer)  -> 201 answer
    POST /whep  (application/sdp offer)  -> 201 answer, or 409 while nobody publishes

Loopback only; the driver stops it with SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
from pathlib import Path

from aiohttp import web
from aiortc import (
    MediaStreamTrack,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib
from video_peers import codec_preferences

SDP = "application/sdp"


class Relay:
    """One publisher's decoded tracks, re-encoded for every viewer."""

    def __init__(self, codec: str) -> None:
        self.codec = codec
        self.relay = MediaRelay()
        self.sources: dict[str, MediaStreamTrack] = {}
        self.pcs: set[RTCPeerConnection] = set()
        self.tasks: set[asyncio.Task[None]] = set()

    async def _drain(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                await track.recv()

    def _watch(self, pc: RTCPeerConnection) -> None:
        self.pcs.add(pc)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                self.pcs.discard(pc)
                await pc.close()

    async def whip(self, request: web.Request) -> web.Response:
        offer = await request.text()
        pc = RTCPeerConnection()
        self._watch(pc)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self.sources[track.kind] = track
            task = asyncio.ensure_future(self._drain(self.relay.subscribe(track, buffered=False)))
            self.tasks.add(task)

        await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        return web.Response(
            status=201, text=pc.localDescription.sdp, content_type=SDP, headers={"Location": "/"}
        )

    async def whep(self, request: web.Request) -> web.Response:
        if "video" not in self.sources:
            return web.Response(status=409, text="nobody is publishing")
        offer = await request.text()
        pc = RTCPeerConnection()
        self._watch(pc)
        for kind in ("video", "audio"):
            source = self.sources.get(kind)
            if source is None:
                continue
            sender = pc.addTrack(self.relay.subscribe(source, buffered=False))
            transceiver = next(t for t in pc.getTransceivers() if t.sender is sender)
            codec = self.codec if kind == "video" else "opus"
            transceiver.setCodecPreferences(codec_preferences(kind, codec))
        await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        return web.Response(
            status=201, text=pc.localDescription.sdp, content_type=SDP, headers={"Location": "/"}
        )

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*(pc.close() for pc in list(self.pcs)), return_exceptions=True)


def _write_ready(path: Path, info: dict[str, object]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info))
    tmp.replace(path)


async def serve(args: argparse.Namespace) -> None:
    relay = Relay(args.codec)
    app = web.Application(client_max_size=64 * 1024)
    app.router.add_post("/whip", relay.whip)
    app.router.add_post("/whep", relay.whep)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    site = web.SockSite(runner, sock)
    await site.start()
    port = sock.getsockname()[1]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    info = {"url": f"http://127.0.0.1:{port}", "pid": os.getpid()}
    await asyncio.to_thread(_write_ready, Path(args.ready_file), info)
    # The driver kills it after this long at the latest, should it vanish without SIGTERM.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(args.max_seconds):
            await stop.wait()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(10):
            await relay.close()
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready-file", required=True)
    parser.add_argument("--codec", choices=("H264", "VP8"), default="H264")
    parser.add_argument("--max-seconds", type=float, default=900.0)
    args = parser.parse_args()
    benchlib.install_uvloop()
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
