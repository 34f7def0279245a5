"""What an operator and a page see before any room: config, health, metrics, schema."""

from __future__ import annotations

import httpx

from livecommerce.server import Server
from tests.helpers import join, open_room, sign_up
from tests.livecommerce.conftest import ServerFactory


async def test_config_tells_pages_where_the_sockets_are(
    server: Server, http: httpx.AsyncClient
) -> None:
    config = (await http.get("/api/v1/config")).json()
    assert config["ws_url"] == server.ws_url
    assert config["api_url"] == server.http_url + "/api/v1"
    assert config["locales"] == ["en", "nb", "sv", "nl", "lv"]
    assert config["limits"]["chat_max_length"] == 500
    assert "heart" in config["reactions"]
    assert config["ice_servers"] == []


async def test_config_gives_browsers_the_ice_servers_before_they_offer(
    start_server: ServerFactory,
) -> None:
    server = await start_server(
        ice_servers="stun:stun.example.org:3478,turn:ada:s3cret@turn.example.org:3478"
    )
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        config = (await http.get("/api/v1/config")).json()
    assert config["ice_servers"] == [
        {"urls": "stun:stun.example.org:3478"},
        {"urls": "turn:turn.example.org:3478", "username": "ada", "credential": "s3cret"},
    ]


async def test_health_and_readiness(http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    assert (await http.get("/readyz")).json() == {"status": "ready"}


async def test_metrics_count_connections_and_events(
    server: Server, http: httpx.AsyncClient
) -> None:
    host = await sign_up(http, "Ada")
    room = await open_room(http, host)
    socket = await join(server.ws_url, room["id"], host)
    await socket.send({"type": "chat.send", "text": "count me"})
    await socket.expect("chat.message")
    text = (await http.get("/metrics")).text
    for name in (
        "livecommerce_connections",
        "livecommerce_rooms",
        "livecommerce_events_published_total",
        "livecommerce_batches_total",
        "livecommerce_slow_consumers_total",
        "livecommerce_events_delivered_total",
    ):
        assert f"\n{name}" in text, name
    line = next(x for x in text.splitlines() if x.startswith("livecommerce_connections "))
    assert float(line.split()[1]) >= 1


async def test_the_openapi_document_lists_the_api(http: httpx.AsyncClient) -> None:
    schema = (await http.get("/api/v1/openapi.json")).json()
    assert schema["openapi"].startswith("3.")
    for path in (
        "/api/v1/accounts",
        "/api/v1/sessions",
        "/api/v1/rooms",
        "/api/v1/rooms/{room_id}",
    ):
        assert path in schema["paths"], path
    assert "post" in schema["paths"]["/api/v1/rooms"]


async def test_pages_are_served(server: Server, http: httpx.AsyncClient) -> None:
    for path in (
        "/",
        "/studio",
        "/studio/results?room=r_any",
        "/rooms/r_any",
        "/rooms/r_any/console",
    ):
        page = await http.get(path)
        assert page.status_code == 200, path
        assert page.headers["content-type"].startswith("text/html")
        assert "content-security-policy" in page.headers
