"""A server given one id source makes every id of a show from it: people, their sign-ins, the
room, its products, chat lines, reports, sales, holds, orders, webhook endpoints and
deliveries. Nothing mints an id of its own on the side."""

from __future__ import annotations

import httpx
import jwt

from livecommerce.runtime.ids import Ids
from livecommerce.store.embedded import EmbeddedValkey
from livecommerce.webhooks.store import delivery_for
from tests.helpers import (
    PAID,
    add_product,
    hold_for,
    join,
    open_room,
    pay,
    reply_to,
    sign_up,
    start_sale,
)
from tests.livecommerce.conftest import ServerFactory
from tests.receivers import StartReceiver


class Counter:
    """Tokens 1, 2, 3... zero-padded to the length real randomness of that size has."""

    def __init__(self) -> None:
        self.made: list[str] = []

    def __call__(self, nbytes: int) -> str:
        made = str(len(self.made) + 1).zfill(-(-nbytes * 4 // 3))
        self.made.append(made)
        return made

    def made_id(self, found: str, prefix: str = "") -> bool:
        return found.startswith(prefix) and found.removeprefix(prefix) in self.made


async def test_every_id_of_a_show_comes_from_the_servers_one_source(
    private_valkey: EmbeddedValkey,  # first: it outlives the server
    start_server: ServerFactory,
    start_receiver: StartReceiver,
) -> None:
    counter = Counter()
    server = await start_server(ids=Ids(source=counter), redis_url=private_valkey.url)
    receiver = await start_receiver()
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
        ada = await sign_up(http, "Ada")
        assert ada.id == "u_" + counter.made[0]
        assert counter.made_id(jwt.decode(ada.token, options={"verify_signature": False})["jti"])

        added = await http.post("/api/v1/webhooks", json={"url": receiver.url}, headers=ada.headers)
        assert counter.made_id(added.json()["id"], "we_")
        room = await open_room(http, ada)
        assert counter.made_id(room["id"], "r_")
        product = await add_product(http, ada)
        assert counter.made_id(product["id"], "p_")

        studio = await join(server.ws_url, room["id"], ada)
        assert counter.made_id(studio.seen[0]["epoch"])
        sale = await start_sale(studio, product["id"], units=1)
        assert counter.made_id(sale["id"], "s_")

        kari = await sign_up(http, "Kari")
        assert counter.made_id(kari.id, "u_")
        watching = await join(server.ws_url, room["id"], kari)
        await watching.send({"type": "chat.send", "text": "Is it warm?", "ref": "c"})
        line = await reply_to(watching, "c")
        assert counter.made_id(line["id"], "m_")
        await studio.send(
            {"type": "report", "message_id": line["id"], "reason": "spam", "ref": "r"}
        )
        assert counter.made_id((await reply_to(studio, "r"))["report_id"], "rp_")

        hold = await hold_for(server, room, sale, kari)
        assert hold["id"].startswith(sale["id"] + ".")
        assert counter.made_id(hold["id"], sale["id"] + ".")
        paid = await pay(http, kari, hold["id"], PAID, "served-ids-1")
        assert counter.made_id(paid.json()["order"]["id"], "o_")

        await receiver.wait_for(3)  # sale.started, sale.ended (sold out), order.created
        log = (await http.get("/api/v1/webhooks/deliveries", headers=ada.headers)).json()
        assert log["deliveries"]
        for delivery in log["deliveries"]:
            # A show notice's delivery is named by its event and endpoint, so any process
            # that queues it again after a crash names it the same (webhooks/store.py).
            derived = delivery_for(delivery["event_id"], delivery["endpoint_id"])
            assert counter.made_id(delivery["delivery_id"], "dlv_") or (
                delivery["delivery_id"] == derived and delivery["event_type"] == "show.live"
            )
        assert len(set(counter.made)) == len(counter.made)
        for socket in (studio, watching):
            await socket.close()
