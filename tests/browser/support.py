"""Helpers shared by the browser tests: settings, the running server's HTTP API, locales."""

from __future__ import annotations

import json
import os
import struct
import urllib.error
import urllib.request
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Page
from websockets.sync.client import connect

TIMEOUT_SCALE = float(os.environ.get("LIVECOMMERCE_TEST_TIMEOUT_SCALE", "1"))
CHROMIUM = os.environ.get("LIVECOMMERCE_CHROMIUM", "/usr/bin/chromium")
# The module run as `python -m <module> serve ...`; another build of the server can stand in.
SERVER_MODULE = os.environ.get("LIVECOMMERCE_TEST_SERVER_MODULE", "livecommerce")
SCREENSHOTS = Path(os.environ.get("LIVECOMMERCE_SCREENSHOT_DIR", "/tmp/lc-shots"))
REPO = Path(__file__).resolve().parents[2]
LOCALES = REPO / "static" / "locales"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    # The studio goes live with the camera: a synthetic one (a test pattern and a beep),
    # allowed without a prompt.
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    # Host candidates as addresses, not mDNS names: the server resolves no .local names.
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


def scaled(seconds: float) -> float:
    return seconds * TIMEOUT_SCALE


def expect_timeout_ms(seconds: float = 10) -> float:
    return scaled(seconds) * 1000


def signed_in(page: Page, user: User) -> None:
    """Every load of this page starts signed in as `user` (the token kept as a sign-in would)."""
    stored = json.dumps(
        {"id": user.id, "username": user.username, "display_name": user.display_name}
    )
    page.add_init_script(
        f"localStorage.setItem('lc.token', {json.dumps(user.token)});"
        f"localStorage.setItem('lc.user', {json.dumps(stored)});"
    )


def locale_strings(lang: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((LOCALES / f"{lang}.json").read_text(encoding="utf-8"))
    return data


@dataclass(frozen=True)
class User:
    id: str
    username: str
    password: str
    display_name: str
    token: str


class ApiFailure(AssertionError):
    def __init__(self, method: str, url: str, status: int, body: Any) -> None:
        super().__init__(f"{method} {url} -> {status} {body!r}")
        self.status = status
        self.body = body


@dataclass(frozen=True)
class Server:
    http_url: str
    ws_url: str
    log_path: Path
    redis_url: str = ""  # the Redis (here the embedded Valkey) the process uses
    data_dir: Path | None = None  # its --data-dir (the generated secret is kept there)

    def url(self, path: str) -> str:
        return self.http_url.rstrip("/") + path

    def api(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        """Calls the HTTP API and returns the decoded JSON answer; raises ApiFailure on 4xx/5xx."""
        url = self.url(path)
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=scaled(10)) as response:
                raw = response.read()
        except urllib.error.HTTPError as err:
            raw = err.read()
            err.close()
            try:
                detail: Any = json.loads(raw)
            except ValueError:
                detail = raw.decode(errors="replace")
            raise ApiFailure(method, url, err.code, detail) from None
        return json.loads(raw) if raw else None

    def register(self, prefix: str = "user") -> tuple[str, str, str]:
        """Creates an account; returns (username, password, display_name) without signing in."""
        username = f"{prefix}_{uuid.uuid4().hex[:10]}"
        password = "correct horse battery"
        display_name = f"{prefix.capitalize()} {username[-4:]}"
        self.api(
            "POST",
            "/api/v1/accounts",
            {"username": username, "password": password, "display_name": display_name},
        )
        return username, password, display_name

    def sign_in(self, username: str, password: str, display_name: str) -> User:
        session = self.api("POST", "/api/v1/sessions", {"username": username, "password": password})
        return User(
            id=str(session["user"]["id"]),
            username=username,
            password=password,
            display_name=display_name,
            token=str(session["token"]),
        )

    def create_user(self, prefix: str = "user") -> User:
        return self.sign_in(*self.register(prefix))

    def create_room(self, host: User, title: str, currency: str = "EUR") -> dict[str, Any]:
        room: dict[str, Any] = self.api(
            "POST",
            "/api/v1/rooms",
            {"title": title, "currency": currency, "locale": "en"},
            token=host.token,
        )
        return room

    def start_room(self, host: User, room_id: str) -> dict[str, Any]:
        room: dict[str, Any] = self.api("POST", f"/api/v1/rooms/{room_id}/start", token=host.token)
        return room


NewPage = Callable[..., Page]


def on_socket(server: Server, user: User, room_id: object, commands: list[dict[str, Any]]) -> None:
    """`user` sends each command from a socket of their own, as another person's phone or
    the host's studio would; returns when the server has acknowledged every one."""
    url = f"{server.ws_url}/ws/rooms/{room_id}?token={user.token}"
    with connect(url, subprotocols=["livecommerce.json"], open_timeout=scaled(10)) as ws:  # type: ignore[list-item]
        for i, command in enumerate(commands):
            ref = f"cmd-{i}"
            ws.send(json.dumps({**command, "ref": ref}))
            while True:
                frame = json.loads(ws.recv(timeout=scaled(10)))
                replies = frame if isinstance(frame, list) else [frame]
                reply = next((r for r in replies if r.get("ref") == ref), None)
                if reply is not None:
                    assert reply["type"] == "ack", reply
                    break


def say_in_chat(server: Server, user: User, room_id: object, texts: list[str]) -> None:
    on_socket(server, user, room_id, [{"type": "chat.send", "text": text} for text in texts])


@dataclass(frozen=True)
class Picture:
    """A screenshot's pixels (PNG, 8 bits per channel), to tell what a person sees."""

    width: int
    height: int
    channels: int
    rows: list[bytes]

    def pixel(self, x: int, y: int) -> tuple[int, ...]:
        at = x * self.channels
        return tuple(self.rows[y][at : at + 3])

    def dark_row(self, y: int, limit: int = 12) -> bool:
        """Every pixel of row `y` is (near) black."""
        return all(max(self.pixel(x, y)) <= limit for x in range(self.width))


def read_png(data: bytes) -> Picture:
    """Decodes the PNGs Chromium writes (8-bit RGB or RGBA, not interlaced)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    at, idat, header = 8, b"", b""
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        at += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8, depth
    assert colour in (2, 6), colour  # RGB or RGBA
    assert interlace == 0
    channels = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                guess = left + up - corner
                pa, pb, pc = abs(guess - left), abs(guess - up), abs(guess - corner)
                best = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + best) & 0xFF
        rows.append(bytes(line))
        previous = line
    return Picture(width, height, channels, rows)
