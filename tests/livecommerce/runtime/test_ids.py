"""Hold ids drawn from pooled kernel randomness: unique, URL-safe, and never shared by a fork."""

from __future__ import annotations

import os
import re

from livecommerce.runtime.ids import token


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
