"""A flash-sale rush in locust: viewers join a room, wait for the sale, press Buy, pay.

Each locust user is one signed-in viewer: it opens the room's WebSocket (JSON subprotocol,
websocket-client under locust's gevent), waits for the sale (already active in ``welcome``,
or a ``sale.started`` event), sends ``reserve`` once, and with a hold checks out over HTTP
with the sandbox's paying card and an Idempotency-Key of its own. Then it stays in the room
as a quiet viewer. Tokens are minted here with the server's secret (``LIVECOMMERCE_SECRET``
of the server, ``--secret``), so ten thousand buyers cost no sign-ups.

Locust reports, by name: ``ws join``, ``reserve -> reservation``, ``reserve -> sold_out``
(both successes: a clear answer), any other answer as a failure (``reserve -> unavailable``,
``reserve -> timeout``...), and ``/api/v1/reservations/[id]/checkout``.

Environment:

    LC_SECRET        the server's --secret (required)
    LC_ROOM_ID       the live room (required)
    LC_SALE_ID       the sale to buy from (default: the first active sale, or the next
                     sale.started in the room)
    LC_WS_URL        the WebSocket base URL (default: ws_url from GET /api/v1/config)
    LC_SALE_WAIT_S   how long a viewer waits for a sale (default 120)

A run against a server of your own:

    python -m livecommerce serve --port 8000 --secret rush-secret-0123456789abcdef-0123456 &
    eval "$(python loadtests/locustfile.py setup --url http://127.0.0.1:8000 \\
        --secret rush-secret-0123456789abcdef-0123456 --units 100)"        # prints export lines
    locust -f loadtests/locustfile.py --headless -u 200 -r 50 -t 30s \\
        --host http://127.0.0.1:8000 &
    python loadtests/locustfile.py start-sale --url http://127.0.0.1:8000 --units 100
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import jwt

ADDRESS = {"name": "Rush Buyer", "line1": "Storgata 1", "postal_code": "0155", "city": "Oslo",
           "country": "NO"}  # fmt: skip
CARD = {"card_number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "123"}


def mint(secret: str, user_id: str, name: str) -> str:
    now = int(time.time())
    claims = {"iss": "livecommerce", "sub": user_id, "name": name, "iat": now, "exp": now + 7200}
    return jwt.encode(claims, secret, algorithm="HS256")


if __name__ != "__main__":
    import websocket
    from locust import HttpUser, constant, events, task

    @events.init_command_line_parser.add_listener
    def _check_env(parser: Any) -> None:
        for name in ("LC_SECRET", "LC_ROOM_ID"):
            if not os.environ.get(name):
                sys.exit(f"set {name} (see loadtests/locustfile.py)")

    class RushBuyer(HttpUser):
        wait_time = constant(1)

        def on_start(self) -> None:
            self.user_id = f"u_locust_{uuid.uuid4().hex[:12]}"
            self.token = mint(os.environ["LC_SECRET"], self.user_id, self.user_id[-8:])
            self.room_id = os.environ["LC_ROOM_ID"]
            self.sale_id = os.environ.get("LC_SALE_ID") or None
            self.done = False
            ws_base = os.environ.get("LC_WS_URL")
            if not ws_base:
                ws_base = self.client.get("/api/v1/config", name="/api/v1/config").json()["ws_url"]
            started = time.perf_counter()
            self.ws = websocket.create_connection(
                f"{ws_base.rstrip('/')}/ws/rooms/{self.room_id}?token={self.token}",
                subprotocols=["livecommerce.json"],
                timeout=30,
            )
            welcome = self._next()
            self._report("ws join", started, welcome.get("type") == "welcome", str(welcome)[:200])
            for sale in welcome.get("sales") or []:
                if sale.get("state") == "active" and self.sale_id in (None, sale["id"]):
                    self.sale_id = sale["id"]
                    break
            else:
                if os.environ.get("LC_SALE_ID") is None:
                    self.sale_id = None

        def on_stop(self) -> None:
            self.ws.close()

        def _next(self) -> dict[str, Any]:
            """The next message (a batch is read one message at a time)."""
            pending: list[dict[str, Any]] = getattr(self, "_pending", [])
            while not pending:
                decoded = json.loads(self.ws.recv())
                pending = decoded if isinstance(decoded, list) else [decoded]
            self._pending = pending[1:]
            return pending[0]

        def _report(self, name: str, started: float, ok: bool, why: str = "") -> None:
            events.request.fire(
                request_type="WS",
                name=name,
                response_time=(time.perf_counter() - started) * 1000,
                response_length=0,
                exception=None if ok else Exception(why),
                context={},
            )

        def _wait_for_sale(self) -> bool:
            deadline = time.monotonic() + float(os.environ.get("LC_SALE_WAIT_S", "120"))
            while self.sale_id is None and time.monotonic() < deadline:
                self.ws.settimeout(max(0.1, deadline - time.monotonic()))
                try:
                    event = self._next()
                except websocket.WebSocketTimeoutException:
                    break
                if event.get("type") == "sale.started":
                    self.sale_id = event["sale"]["id"]
            return self.sale_id is not None

        @task
        def buy_once(self) -> None:
            if self.done:
                return  # a quiet viewer now; the socket stays open
            self.done = True
            if not self._wait_for_sale():
                self._report("wait for sale", time.perf_counter(), False, "no sale started")
                return
            ref = f"buy-{self.user_id}"
            command = {"type": "reserve", "sale_id": self.sale_id, "key": ref, "ref": ref}
            started = time.perf_counter()
            self.ws.settimeout(30)
            self.ws.send(json.dumps(command))
            try:
                while (answer := self._next()).get("ref") != ref:
                    pass
            except websocket.WebSocketTimeoutException:
                self._report("reserve -> timeout", started, False, "no answer in 30 s")
                return
            kind = answer.get("code") or answer["type"]
            self._report(f"reserve -> {kind}", started, kind in ("reservation", "sold_out"), kind)
            if kind != "reservation":
                return
            hold_id = answer["reservation"]["id"]
            self.client.post(
                f"/api/v1/reservations/{hold_id}/checkout",
                json={"address": ADDRESS, "payment": CARD},
                headers={
                    "Authorization": f"Bearer {self.token}",
                    "Idempotency-Key": f"pay-{self.user_id}",
                },
                name="/api/v1/reservations/[id]/checkout",
            )


# Setting up a run (python loadtests/locustfile.py setup | start-sale) ----------------------


def _main() -> None:
    import argparse

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from benchlib import check_loopback, http_json

    parser = argparse.ArgumentParser(description="prepare a room for the locust rush")
    parser.add_argument("step", choices=["setup", "start-sale"])
    parser.add_argument("--url", required=True, help="the server's HTTP URL (loopback)")
    parser.add_argument("--secret", default=os.environ.get("LC_SECRET"))
    parser.add_argument("--room", default=os.environ.get("LC_ROOM_ID"))
    parser.add_argument("--units", type=int, default=100)
    parser.add_argument("--hold-s", type=int, default=120)
    args = parser.parse_args()
    check_loopback(args.url)
    if not args.secret:
        sys.exit("--secret (or LC_SECRET) is the server's --secret")
    api = args.url.rstrip("/") + "/api/v1"
    host = mint(args.secret, "u_locust_host", "Locust host")

    def call(method: str, path: str, body: Any = None) -> Any:
        status, answer = http_json(method, api + path, body, token=host)
        if status not in (200, 201):
            sys.exit(f"{method} {path}: {status} {answer}")
        return answer

    if args.step == "setup":
        room = call("POST", "/rooms", {"title": "locust rush", "currency": "EUR", "locale": "en"})
        call("POST", f"/rooms/{room['id']}/start")
        print(f"export LC_SECRET={args.secret}\nexport LC_ROOM_ID={room['id']}")
        return
    if not args.room:
        sys.exit("--room (or LC_ROOM_ID)")
    product = call("POST", "/products", {
        "sku": f"LOCUST-{uuid.uuid4().hex[:6]}", "title": "Locust jumper", "price": 4900,
        "currency": "EUR", "stock": args.units,
    })  # fmt: skip
    sale = call("POST", f"/rooms/{args.room}/sales", {
        "product_id": product["id"], "price": 2900, "units": args.units, "per_user_limit": 1,
        "duration_s": 600, "hold_s": args.hold_s,
    })  # fmt: skip
    print(f"sale {sale['id']}: {sale['units']} units")


if __name__ == "__main__":
    _main()
