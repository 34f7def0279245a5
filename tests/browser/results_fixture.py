"""A show's results as the server answers them (docs/analytics.md), made up for the browser
tests that need figures a real show in a test cannot make: half an hour of minutes, three
kinds of moments, earlier shows to compare with."""

from __future__ import annotations

from typing import Any

STARTED_AT = 1796317701189
MINUTE = 60_000


def minute(i: int, viewers: int, gmv: int = 0, orders: int = 0) -> dict[str, Any]:
    return {
        "minute": i,
        "at": STARTED_AT + i * MINUTE,
        "viewers": viewers,
        "chat_lines": i % 7,
        "reactions": 3 * i,
        "clicks": i % 4,
        "orders": orders,
        "units": orders,
        "gmv": gmv,
    }


def results(
    room_id: str,
    *,
    status: str = "final",
    minutes: int = 30,
    title: str = "Vinyl night: first pressings",
    currency: str = "EUR",
    last_viewers: int | None = None,
) -> dict[str, Any]:
    """`minutes` of a show; while `status` is live the last minute is the one running."""
    timeline = []
    for i in range(minutes):
        viewers = min(188, 12 + i * 9) if i < 20 else 188 - (i - 20) * 6
        sold = i in (6, 7, 13, 14, 21)
        timeline.append(
            minute(i, viewers, gmv=12000 * (i % 3 + 1) if sold else 0, orders=3 if sold else 0)
        )
    if last_viewers is not None:
        timeline[-1]["viewers"] = last_viewers
    duration = minutes * 60
    return {
        "room": {
            "id": room_id,
            "title": title,
            "currency": currency,
            "state": "live" if status == "live" else "ended",
            "started_at": STARTED_AT,
            "ended_at": None if status == "live" else STARTED_AT + duration * 1000,
        },
        "status": status,
        "generated_at": STARTED_AT + duration * 1000 + 8000,
        "duration_s": duration,
        "summary": {
            "unique_viewers": 412,
            "views": 530,
            "peak_viewers": 188,
            "watch_time_s": 61020,
            "average_watch_s": 148,
            "chat_lines": 950,
            "chatters": 120,
            "reactions": 4100,
            "new_followers": 37,
            "reports": 2,
            "impressions": 2210,
            "clicks": 301,
            "holds": 96,
            "orders": 71,
            "units": 80,
            "buyers": 64,
            "first_time_buyers": 40,
            "gmv": 284000,
            "refunds": 1,
            "refunded": 4000,
            "net_revenue": 280000,
            "ctr": 0.136,
            "click_to_order": 0.236,
            "conversion": 0.155,
            "aov": 4000,
            "gpm": 535849,
        },
        "products": [
            {
                "product_id": "p_1",
                "title": "First pressing, 180 g, numbered sleeve",
                "impressions": 900,
                "clicks": 120,
                "holds": 40,
                "orders": 30,
                "units": 31,
                "gmv": 124000,
                "refunds": 0,
                "refunded": 0,
                "ctr": 0.133,
                "click_to_order": 0.25,
            },
            {
                "product_id": "p_2",
                "title": "Tour poster",
                "impressions": 700,
                "clicks": 100,
                "holds": 30,
                "orders": 25,
                "units": 30,
                "gmv": 100000,
                "refunds": 1,
                "refunded": 4000,
                "ctr": 0.143,
                "click_to_order": 0.25,
            },
            {
                "product_id": "p_3",
                "title": "Slipmat",
                "impressions": 610,
                "clicks": 81,
                "holds": 26,
                "orders": 16,
                "units": 19,
                "gmv": 60000,
                "refunds": 0,
                "refunded": 0,
                "ctr": 0.133,
                "click_to_order": 0.198,
            },
        ],
        "timeline": timeline,
        "markers": [
            {
                "at": STARTED_AT + 2 * MINUTE + 20_000,
                "minute": 2,
                "kind": "pin",
                "product_id": "p_1",
                "title": "First pressing, 180 g, numbered sleeve",
            },
            {
                "at": STARTED_AT + 5 * MINUTE + 40_000,
                "minute": 5,
                "kind": "sale",
                "product_id": "p_1",
                "title": "First pressing, 180 g, numbered sleeve",
            },
            {
                "at": STARTED_AT + 12 * MINUTE,
                "minute": 12,
                "kind": "pin",
                "product_id": "p_2",
                "title": "Tour poster",
            },
            {
                "at": STARTED_AT + 19 * MINUTE + 30_000,
                "minute": 19,
                "kind": "auction",
                "product_id": "p_3",
                "title": "Slipmat",
            },
        ][: 4 if minutes > 20 else 2],
        "previous": [
            {
                "room_id": "r_prev1",
                "title": "Crate digging, part 2",
                "started_at": STARTED_AT - 7 * 86_400_000,
                "ended_at": STARTED_AT - 7 * 86_400_000 + 1_800_000,
                "unique_viewers": 300,
                "peak_viewers": 120,
                "orders": 40,
                "gmv": 150000,
                "net_revenue": 150000,
                "conversion": 0.12,
            },
            {
                "room_id": "r_prev2",
                "title": "Crate digging",
                "started_at": STARTED_AT - 14 * 86_400_000,
                "ended_at": STARTED_AT - 14 * 86_400_000 + 1_800_000,
                "unique_viewers": 450,
                "peak_viewers": 200,
                "orders": 71,
                "gmv": 300000,
                "net_revenue": 290000,
                "conversion": 0.18,
            },
        ],
    }
