"""A creator makes shows over HTTP; viewers find them."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.helpers import open_room, sign_up


async def test_a_creator_schedules_starts_and_ends_a_show(http: httpx.AsyncClient) -> None:
    ada = await sign_up(http, "Ada")
    soon = int(time.time() * 1000) + 3_600_000
    created = await http.post(
        "/api/v1/rooms",
        json={
            "title": " Knitwear drop ",
            "currency": "NOK",
            "locale": "nb-NO",
            "scheduled_at": soon,
        },
        headers=ada.headers,
    )
    assert created.status_code == 201
    room = created.json()
    assert room["title"] == "Knitwear drop"
    assert (room["state"], room["currency"], room["locale"]) == ("scheduled", "NOK", "nb-NO")
    assert room["host"] == {"id": ada.id, "name": ada.name}
    assert room["scheduled_at"] == soon

    upcoming = (await http.get("/api/v1/rooms", params={"state": "upcoming"})).json()["rooms"]
    assert [r["id"] for r in upcoming] == [room["id"]]

    started = await http.post(f"/api/v1/rooms/{room['id']}/start", headers=ada.headers)
    assert started.json()["state"] == "live"
    assert started.json()["started_at"] is not None
    live = (await http.get("/api/v1/rooms", params={"state": "live"})).json()["rooms"]
    assert [r["id"] for r in live] == [room["id"]]
    assert (await http.get("/api/v1/rooms", params={"state": "upcoming"})).json()["rooms"] == []

    ended = await http.post(f"/api/v1/rooms/{room['id']}/end", headers=ada.headers)
    assert ended.json()["state"] == "ended"
    again = await http.post(f"/api/v1/rooms/{room['id']}/end", headers=ada.headers)
    assert (again.status_code, again.json()["code"]) == (409, "conflict")
    restart = await http.post(f"/api/v1/rooms/{room['id']}/start", headers=ada.headers)
    assert restart.status_code == 409

    fetched = await http.get(f"/api/v1/rooms/{room['id']}")
    assert fetched.json()["state"] == "ended"
    mine = (await http.get("/api/v1/rooms", params={"host": "me"}, headers=ada.headers)).json()[
        "rooms"
    ]
    assert [r["id"] for r in mine] == [room["id"]]


async def test_only_the_host_starts_or_ends_a_show(http: httpx.AsyncClient) -> None:
    ada = await sign_up(http, "Ada")
    mallory = await sign_up(http, "Mallory")
    room = await open_room(http, ada, live=False)
    for action in ("start", "end"):
        answer = await http.post(f"/api/v1/rooms/{room['id']}/{action}", headers=mallory.headers)
        assert (answer.status_code, answer.json()["code"]) == (403, "forbidden")
        anonymous = await http.post(f"/api/v1/rooms/{room['id']}/{action}")
        assert anonymous.status_code == 401


async def test_a_room_that_does_not_exist_is_404(http: httpx.AsyncClient) -> None:
    ada = await sign_up(http, "Ada")
    answer = await http.get("/api/v1/rooms/r_missing")
    assert (answer.status_code, answer.json()["code"]) == (404, "not_found")
    start = await http.post("/api/v1/rooms/r_missing/start", headers=ada.headers)
    assert start.status_code == 404
    unknown_path = await http.get("/api/v1/nothing-here")
    assert (unknown_path.status_code, unknown_path.json()["code"]) == (404, "not_found")


@pytest.mark.parametrize(
    "body",
    [
        {"currency": "EUR"},
        {"title": "", "currency": "EUR"},
        {"title": "x" * 121, "currency": "EUR"},
        {"title": "Show", "currency": "XXX"},
        {"title": "Show", "currency": "eur"},
        {"title": "Show"},
        {"title": "Show", "currency": "EUR", "locale": "not a locale"},
        {"title": "Show", "currency": "EUR", "scheduled_at": "tomorrow"},
        {"title": "Show", "currency": "EUR", "scheduled_at": -5},
        {"title": "Show", "currency": "EUR", "scheduled_at": 1.5},
        {"title": 7, "currency": "EUR"},
    ],
)
async def test_bad_rooms_are_refused(http: httpx.AsyncClient, body: dict[str, object]) -> None:
    ada = await sign_up(http, "Ada")
    answer = await http.post("/api/v1/rooms", json=body, headers=ada.headers)
    assert (answer.status_code, answer.json()["code"]) == (400, "bad_request")


async def test_creating_a_room_needs_sign_in(http: httpx.AsyncClient) -> None:
    answer = await http.post("/api/v1/rooms", json={"title": "Show", "currency": "EUR"})
    assert answer.status_code == 401


@pytest.mark.parametrize(
    "params",
    [{"state": "paused"}, {"host": "someone"}, {"limit": "0"}, {"limit": "1000"}, {"limit": "x"}],
)
async def test_bad_listing_queries_are_400(http: httpx.AsyncClient, params: dict[str, str]) -> None:
    answer = await http.get("/api/v1/rooms", params=params)
    assert answer.status_code == 400


@pytest.mark.parametrize("limit", ["1" * 5000, "²", "٣"])
async def test_a_limit_of_thousands_of_digits_or_foreign_digits_is_400_naming_it(
    http: httpx.AsyncClient, limit: str
) -> None:
    ada = await sign_up(http, "Ada")
    room = await open_room(http, ada)
    for path in ("/api/v1/rooms", "/api/v1/products", f"/api/v1/rooms/{room['id']}/audit"):
        answer = await http.get(path, params={"limit": limit}, headers=ada.headers)
        assert answer.status_code == 400, (path, answer.text)
        assert "'limit'" in answer.json()["detail"]
    before = await http.get(
        f"/api/v1/rooms/{room['id']}/audit", params={"before": "²-1"}, headers=ada.headers
    )
    assert before.status_code == 400, before.text
