"""The media plane as one object: what the HTTP routes, the stream keeper and shutdown hold.

Built once per process by the server, it holds this process's hubs, WHIP publications, WHEP
playbacks and edges, and says how other processes reach this one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from livecommerce.media.cascade import Edges
from livecommerce.media.hub import Hubs
from livecommerce.media.ingest import Publications
from livecommerce.media.playback import Playbacks
from livecommerce.media.store import MediaStore


@dataclass
class Media:
    """The media plane, as the routes see it."""

    hubs: Hubs
    publications: Publications
    playbacks: Playbacks
    origin: str  # this process's URL, for redirects from others
    internal: str = ""  # this process's URL for other processes (edges pull from it)
    edges: Edges | None = None  # None: viewers of another process's stream are redirected
    recordings: Path | None = None
    store: MediaStore | None = None

    async def close(self) -> None:
        """End every session here: viewers first, then the edges and the publishers they
        watch, then the hubs, whose last state and recordings still reach the store."""
        await self.playbacks.close()
        if self.edges is not None:
            await self.edges.close()
        await self.publications.close()
        await self.hubs.close()
