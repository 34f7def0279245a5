"""Ids: each kind with its prefix and length, from pooled kernel randomness (unique, URL-safe,
never shared by a fork) or from a source a test hands in."""

from __future__ import annotations

import os
import re

from livecommerce.catalog.images import WEBP, type_of_name
from livecommerce.runtime.ids import Ids, token
from livecommerce.selling.rules import sale_id_of_hold


def test_tokens_are_url_safe_and_do_not_repeat() -> None:
    seen = {token() for _ in range(20_000)}
    assert len(seen) == 20_000
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{12}", t) for t in seen)
    assert len(token(16)) == 22
    assert len(token(5000)) > 6000  # larger than the pool: drawn in one go


def test_a_forked_child_does_not_hand_out_its_parents_next_tokens() -> None:
    token()  # the pool is filled
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, token().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 100).decode()
    os.close(read)
    assert child
    assert child != token()


def test_each_kind_of_id_says_what_it_names_and_is_as_long_as_ever() -> None:
    ids = Ids()
    shapes = {
        ids.room(): r"r_[A-Za-z0-9_-]{12}",
        ids.user(): r"u_[A-Za-z0-9_-]{12}",
        ids.product(): r"p_[A-Za-z0-9_-]{12}",
        ids.sale(): r"s_[A-Za-z0-9_-]{12}",
        ids.order(): r"o_[A-Za-z0-9_-]{16}",
        ids.message(): r"m_[A-Za-z0-9_-]{12}",
        ids.report(): r"rp_[A-Za-z0-9_-]{12}",
        ids.endpoint(): r"we_[A-Za-z0-9_-]{12}",
        ids.session(): r"[A-Za-z0-9_-]{16}",
        ids.publication(): r"wp_[A-Za-z0-9_-]{16}",
        ids.playback(): r"wv_[A-Za-z0-9_-]{16}",
        ids.epoch(): r"[0-9a-f]{8}",
        ids.webhook_event(): r"evt_[0-9a-f]{24}",
        ids.delivery(): r"dlv_[0-9a-f]{24}",
    }
    for made, shape in shapes.items():
        assert re.fullmatch(shape, made), (made, shape)


def test_an_uploaded_images_name_is_one_the_server_serves() -> None:
    name = Ids().image("webp")
    assert type_of_name(name) is WEBP


def test_a_hold_names_its_sale() -> None:
    ids = Ids()
    sale = ids.sale()
    hold = ids.hold(sale)
    assert hold.startswith(sale + ".")
    assert sale_id_of_hold(hold) == sale


def test_an_injected_source_makes_every_id_predictable() -> None:
    asked: list[int] = []

    def counter(nbytes: int) -> str:
        asked.append(nbytes)
        return f"t{len(asked)}"

    ids = Ids(source=counter)
    assert [ids.room(), ids.epoch(), ids.user()] == ["r_t1", "t2", "u_t3"]
    sale = ids.sale()
    assert [sale, ids.hold(sale), ids.order()] == ["s_t4", "s_t4.t5", "o_t6"]
    assert [ids.webhook_event(), ids.delivery(), ids.image("png")] == [
        "evt_t7", "dlv_t8", "img_t9.png",
    ]  # fmt: skip
    assert asked == [9, 4, 9, 9, 9, 12, 12, 12, 16]  # as much randomness as the real ids
