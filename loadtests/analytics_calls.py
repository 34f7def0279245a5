"""What each counting call of show analytics costs, in microseconds, with no I/O.

The fan-out A/B (``fanout.py --analytics-ab``) measures the counting's share of a whole
server, which a shared 2-core machine blurs by more than the share itself. This times the
calls the sockets make (``Analytics.chatted``, ``count``, ``clicked``, ``room_event``,
``left`` + ``admitted``) and a second's ``rules.take`` in a room of ``--viewers`` present
guests, so calls a second x cost per call bounds the counting's CPU whatever the noise.

    python loadtests/analytics_calls.py
"""

from __future__ import annotations

import argparse
import hashlib
import timeit
from types import SimpleNamespace
from typing import Any

from livecommerce.analytics import rules
from livecommerce.analytics.service import Analytics


class _Store:
    """The one store method the socket-side calls use (the keyed hash of a chatter)."""

    def __init__(self) -> None:
        self._secret = hashlib.sha256(b"bench").digest()

    def sketch_id(self, user_id: str) -> str:
        return hashlib.blake2b(user_id.encode(), key=self._secret, digest_size=12).hexdigest()


async def _never_admin(_who: str) -> bool:
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--viewers", type=int, default=2000)
    parser.add_argument("--number", type=int, default=20000, help="calls per timing")
    args = parser.parse_args()
    a: Any = Analytics(_Store(), None, None, None, None, process_id="p", is_admin=_never_admin)  # type: ignore[arg-type]
    members = [SimpleNamespace(viewer=f"g:{i:016x}", audience=True) for i in range(args.viewers)]
    for m in members:
        a.admitted("r", m, None)
    tally = a.tallies["r"]
    tally.window(0, None, a.now_ms())
    tally.pin("prod")
    rules.take(tally, a.now_ms())
    tally.counted_live = True  # as after the first flush of a live show
    event = {"type": "chat.message", "seq": 1}
    m = members[0]
    calls = {
        "chatted (a chat line)": lambda: a.chatted("r", "u_123"),
        "count (a reaction)": lambda: a.count("r", "reactions"),
        "clicked (a product click)": lambda: a.clicked("r", "prod"),
        "room_event (any event)": lambda: a.room_event("r", event),
        "left + admitted (a rejoin)": lambda: (a.left("r", m), a.admitted("r", m, None)),
        f"rules.take ({args.viewers} present)": lambda: rules.take(tally, a.now_ms()),
    }
    for label, call in calls.items():
        best = min(timeit.repeat(call, number=args.number, repeat=5)) / args.number
        print(f"{label:<32} {best * 1e6:8.2f} us")


if __name__ == "__main__":
    main()
