"""Signing up and signing in over HTTP, and the ways it is refused."""

from __future__ import annotations

import asyncio
import statistics
import time

import httpx
import jwt
import pytest

from livecommerce.accounts.credentials import hash_password, verify_password
from livecommerce.server import Server
from tests.helpers import User, join, open_room, sign_up
from tests.livecommerce.conftest import ServerFactory

_hasher_sample = hash_password("correct horse battery")


async def test_a_newcomer_registers_signs_in_and_is_known(http: httpx.AsyncClient) -> None:
    created = await http.post(
        "/api/v1/accounts",
        json={"username": "Ada_L", "password": "analytical engine", "display_name": " Ada "},
    )
    assert created.status_code == 201
    account = created.json()
    assert account == {"id": account["id"], "username": "ada_l", "display_name": "Ada"}
    assert "password" not in created.text

    session = await http.post(
        "/api/v1/sessions", json={"username": "ada_l", "password": "analytical engine"}
    )
    assert session.status_code == 200
    body = session.json()
    assert body["user"] == account
    assert body["expires_at"] > time.time() * 1000

    me = await http.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.json() == {"id": account["id"], "name": "Ada", "kind": "account"}


async def test_a_taken_username_is_a_conflict(http: httpx.AsyncClient) -> None:
    body = {"username": "twin", "password": "long enough", "display_name": "Twin"}
    assert (await http.post("/api/v1/accounts", json=body)).status_code == 201
    again = await http.post("/api/v1/accounts", json=body)
    assert again.status_code == 409
    assert again.json()["code"] == "conflict"


@pytest.mark.parametrize(
    "body",
    [
        {"username": "ab", "password": "long enough"},
        {"username": "has space", "password": "long enough"},
        {"username": "fine", "password": "short"},
        {"username": "fine", "password": "x" * 257},
        {"username": "fine", "password": 12345678},
        {"username": "fine", "password": "long enough", "display_name": ""},
        {"username": "fine", "password": "long enough", "display_name": "x" * 41},
        {"username": "fine", "password": "long enough", "display_name": "zero\u200bwidth"},
        {"password": "long enough"},
        ["not", "an", "object"],
    ],
)
async def test_bad_sign_ups_are_refused_with_400(http: httpx.AsyncClient, body: object) -> None:
    answer = await http.post("/api/v1/accounts", json=body)
    assert answer.status_code == 400
    problem = answer.json()
    assert answer.headers["content-type"] == "application/problem+json"
    assert problem["code"] == "bad_request"
    assert problem["status"] == 400
    assert problem["detail"]


async def test_invalid_json_and_oversized_bodies(http: httpx.AsyncClient) -> None:
    broken = await http.post(
        "/api/v1/accounts", content=b"{oops", headers={"content-type": "application/json"}
    )
    assert (broken.status_code, broken.json()["code"]) == (400, "bad_request")
    huge = await http.post("/api/v1/accounts", content=b"x" * (65 * 1024))
    assert (huge.status_code, huge.json()["code"]) == (413, "too_large")


async def test_wrong_password_and_unknown_user_look_the_same(http: httpx.AsyncClient) -> None:
    await http.post("/api/v1/accounts", json={"username": "real", "password": "the right one"})
    wrong = await http.post(
        "/api/v1/sessions", json={"username": "real", "password": "the wrong one"}
    )
    nobody = await http.post(
        "/api/v1/sessions", json={"username": "ghost", "password": "the wrong one"}
    )
    assert wrong.status_code == nobody.status_code == 401
    assert wrong.json() == nobody.json()


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer not.a.jwt",
        "Bearer " + "x" * 5000,
    ],
)
async def test_missing_or_malformed_tokens_are_401(
    http: httpx.AsyncClient, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    answer = await http.get("/api/v1/me", headers=headers)
    assert answer.status_code == 401
    assert answer.json()["code"] == "unauthorized"


async def test_forged_and_expired_server_tokens_are_401(
    server: Server, http: httpx.AsyncClient
) -> None:
    forged = jwt.encode(
        {"iss": "livecommerce", "sub": "u_1", "name": "x", "exp": int(time.time()) + 60},
        "somebody-else's-secret-long-enough-to-sign",
        algorithm="HS256",
    )
    assert server.gateway is not None
    expired, _ = server.gateway.auth.issue("u_1", "x", int(time.time()) - 30 * 86400)
    none_alg = jwt.encode(
        {"iss": "livecommerce", "sub": "u_1", "exp": int(time.time()) + 60}, "", algorithm="none"
    )
    for token in (forged, expired, none_alg):
        answer = await http.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401, token


async def test_a_merchant_s_own_users_sign_in_with_its_jwts(start_server: ServerFactory) -> None:
    secret = "merchant-shared-secret-long-enough-to-sign"
    server = await start_server(jwt_secret=secret, jwt_issuer="shop", jwt_audience="live")
    token = jwt.encode(
        {
            "sub": "cust-9",
            "name": "Kari",
            "exp": int(time.time()) + 60,
            "iss": "shop",
            "aud": "live",
        },
        secret,
        algorithm="HS256",
    )
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        me = await http.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json() == {"id": "m:cust-9", "name": "Kari", "kind": "merchant"}
        kari = User("m:cust-9", "cust-9", "Kari", token)
        room = await open_room(http, kari)
    socket = await join(server.ws_url, room["id"], kari)
    assert socket.seen[0]["you"]["role"] == "host"
    await socket.send({"type": "chat.send", "text": "welcome to my shop"})
    message = await socket.expect("chat.message")
    assert message["user"] == {"id": "m:cust-9", "name": "Kari"}


async def test_a_signed_out_token_stays_signed_out_after_a_restart(
    start_server: ServerFactory,
) -> None:
    first = await start_server()
    async with httpx.AsyncClient(base_url=first.http_url) as http:
        ada = await sign_up(http, "Ada")
        assert (
            await http.delete("/api/v1/sessions/current", headers=ada.headers)
        ).status_code == 204
        assert (
            await http.delete("/api/v1/sessions/current", headers=ada.headers)
        ).status_code == 401
    await first.stop()
    second = await start_server()
    async with httpx.AsyncClient(base_url=second.http_url) as http:
        assert (await http.get("/api/v1/me", headers=ada.headers)).status_code == 401


def merchant_jwt(secret: str, **claims: object) -> str:
    body = {"sub": "cust-9", "name": "Kari", "exp": int(time.time()) + 600, **claims}
    return jwt.encode(body, secret, algorithm="HS256")


async def test_a_merchant_s_user_signs_out_and_long_lived_merchant_tokens_are_refused(
    start_server: ServerFactory,
) -> None:
    secret = "merchant-shared-secret-long-enough-to-sign"
    server = await start_server(jwt_secret=secret, jwt_max_ttl_s=3600)

    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async with httpx.AsyncClient(base_url=server.http_url) as http:
        with_jti = merchant_jwt(secret, jti="session-1")
        assert (await http.get("/api/v1/me", headers=bearer(with_jti))).status_code == 200
        out = await http.delete("/api/v1/sessions/current", headers=bearer(with_jti))
        assert out.status_code == 204
        assert (await http.get("/api/v1/me", headers=bearer(with_jti))).status_code == 401
        other = merchant_jwt(secret, jti="session-2")  # the same person, another session
        assert (await http.get("/api/v1/me", headers=bearer(other))).status_code == 200

        bare = merchant_jwt(secret)  # neither jti nor iat: it can only run out
        cannot = await http.delete("/api/v1/sessions/current", headers=bearer(bare))
        assert (cannot.status_code, cannot.json()["code"]) == (400, "bad_request")
        assert "'jti'" in cannot.json()["detail"]
        by_iat = merchant_jwt(secret, iat=int(time.time()))
        assert (
            await http.delete("/api/v1/sessions/current", headers=bearer(by_iat))
        ).status_code == 204
        assert (await http.get("/api/v1/me", headers=bearer(by_iat))).status_code == 401

        too_long = merchant_jwt(secret, exp=int(time.time()) + 2 * 3600)
        refused = await http.get("/api/v1/me", headers=bearer(too_long))
        assert refused.status_code == 401
        assert "more than 3600 s ahead" in refused.json()["detail"]


async def test_a_burst_of_sign_ins_does_not_freeze_the_process(http: httpx.AsyncClient) -> None:
    """A password check costs a fifth of a second of CPU: done on the event loop, every
    socket of the process would wait out each one. Measured against what one check costs on
    this machine in the same run: during a burst of sign-ins, the loop may be starved now and
    then (the checks take the cores), but it must not be stalled for most of the burst."""
    user = await sign_up(http, "Burst")
    costs = []
    for _ in range(3):
        started = time.perf_counter()
        verify_password(_hasher_sample, "correct horse battery")
        costs.append(time.perf_counter() - started)
    one_check = statistics.median(costs)

    stalls: list[float] = []
    done = asyncio.Event()

    async def watch_the_loop() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.002)
            now = time.perf_counter()
            stalls.append(now - last)
            last = now

    watcher = asyncio.create_task(watch_the_loop())
    body = {"username": user.username, "password": "correct horse battery"}
    answers = await asyncio.gather(*(http.post("/api/v1/sessions", json=body) for _ in range(6)))
    done.set()
    await watcher
    assert [a.status_code for a in answers] == [200] * 6
    stalled = sum(stall for stall in stalls if stall > one_check / 4)
    assert stalled < sum(stalls) / 2, (stalled, sum(stalls), one_check)
