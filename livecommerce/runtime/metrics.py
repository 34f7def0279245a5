"""Prometheus metrics of one process, served at /metrics."""

from __future__ import annotations

import functools
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

CONNECTIONS = Gauge("livecommerce_connections", "Open WebSocket connections")
ROOM_MEMBERS = Gauge("livecommerce_room_members", "Sockets joined to a room on this process")
ROOMS = Gauge("livecommerce_rooms", "Rooms with a channel on this process")
CONNECTIONS_REFUSED = Counter(
    "livecommerce_connections_refused", "Connections refused before joining", ["reason"]
)
EVENTS_PUBLISHED = Counter("livecommerce_events_published", "Room events published", ["type"])
EVENTS_DELIVERED = Counter("livecommerce_events_delivered", "Events written to sockets")
FRAMES_SENT = Counter("livecommerce_frames_sent", "Frames written to sockets by broadcasts")
BATCHES = Counter("livecommerce_batches", "Batches flushed by room channels")
FLUSH_SECONDS = Histogram(
    "livecommerce_flush_seconds",
    "Time to encode and write one batch to every socket of a room",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25),
)
SLOW_CONSUMERS = Counter("livecommerce_slow_consumers", "Sockets closed for falling behind")
GAPS_FILLED = Counter("livecommerce_gaps_filled", "Pub/sub gaps read back from room streams")
BAD_FRAMES = Counter("livecommerce_bad_frames", "Client frames refused", ["code"])
COMMANDS = Counter("livecommerce_commands", "Client commands handled", ["type", "outcome"])


@functools.cache
def command(kind: str, outcome: str) -> Any:
    """The counter child for one command and outcome, looked up once: both sets are closed,
    and ``labels`` (a lock and a dict per call) showed in the rush's profile."""
    return COMMANDS.labels(kind, outcome)


STREAM_VIEWERS = Gauge("livecommerce_stream_viewers", "WHEP viewers on this process")
STREAM_PUBLISHERS = Gauge("livecommerce_stream_publishers", "WHIP publishers on this process")
MEDIA_FRAMES_IN = Counter(
    "livecommerce_media_frames_received", "Encoded frames received from publishers", ["kind"]
)
MEDIA_PACKETS_OUT = Counter(
    "livecommerce_media_packets_forwarded", "RTP payloads handed to viewers' senders", ["kind"]
)
SLOW_VIEWERS = Counter(
    "livecommerce_media_slow_viewers",
    "Times a viewer fell behind, dropped its backlog and resynced",
)
KEYFRAME_REQUESTS = Counter(
    "livecommerce_keyframe_requests", "PLIs sent to publishers (viewers' requests, merged)"
)

RATE_LIMITED = Counter("livecommerce_rate_limited", "Requests refused by a rate limit", ["limit"])
STORE_UNAVAILABLE = Counter(
    "livecommerce_store_unavailable", "Times the store could not be reached"
)
HTTP_REQUESTS = Counter("livecommerce_http_requests", "HTTP requests", ["method", "status"])
ORDERS = Counter("livecommerce_orders", "Orders paid and written")
CHARGES_GIVEN_BACK = Counter(
    "livecommerce_charges_given_back",
    "Charges refunded by the sweeper because no order uses them (a process died mid-checkout)",
)
RESERVE_BATCH = Histogram(
    "livecommerce_reserve_batch_size",
    "Reserve requests sent to the store in one script call (one sale, one process)",
    buckets=(1, 2, 5, 10, 25, 50, 100, 256),
)
BID_BATCH = Histogram(
    "livecommerce_bid_batch_size",
    "Auction bids sent to the store in one script call (one lot, one process)",
    buckets=(1, 2, 5, 10, 25, 50, 100, 256),
)
GC_PAUSE = Histogram(
    "livecommerce_gc_pause_seconds",
    "Garbage collection pauses by generation (2 includes the collector's sweeps)",
    ["generation"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
MOD_ACTIONS = Counter(
    "livecommerce_moderation_actions", "Moderation tools used, by tool", ["action"]
)
REPORTS = Counter("livecommerce_reports", "Chat lines reported by viewers, by reason", ["reason"])
BLOCKED_MESSAGES = Counter("livecommerce_blocked_messages", "Chat lines refused for a blocked word")
SHOW_COUNTS = Counter(
    "livecommerce_show_counts",
    "What this process counted of live shows (all rooms together: no room label)",
    ["figure"],
)
ANALYTICS_FLUSHES = Counter(
    "livecommerce_analytics_flushes", "Show count flushes sent to the store", ["outcome"]
)
ORDERS_UNDER_REPLICATED = Counter(
    "livecommerce_orders_under_replicated",
    "Orders acknowledged while their primary had fewer replicas than --wait-replicas",
)

PRESSURE_LEVEL = Gauge(
    "livecommerce_pressure_level", "Load shedding level: 0 normal, 1 busy, 2 shedding"
)
LOOP_LAG = Gauge("livecommerce_loop_lag_seconds", "Event-loop lag of this process, smoothed")
SHED = Counter(
    "livecommerce_shed",
    "Joins, viewing sessions and chat lines turned away by load shedding",
    ["what"],
)
