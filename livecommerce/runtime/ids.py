"""Unguessable ids for things made by the thousand a second, without a syscall each.

``secrets.token_urlsafe`` asks the kernel for randomness on every call; in a rush that was
4 % of the server's time (one ``getrandom`` per hold). The same kernel randomness is drawn
here a page at a time and cut into tokens.
"""

from __future__ import annotations

import base64
import os

_POOL_BYTES = 4096
_pool = bytearray()


def token(nbytes: int = 9) -> str:
    """``nbytes`` of kernel randomness, URL-safe base64 without padding."""
    global _pool
    if len(_pool) < nbytes:
        _pool = bytearray(os.urandom(max(_POOL_BYTES, nbytes)))
    chunk = bytes(_pool[-nbytes:])
    del _pool[-nbytes:]
    return base64.urlsafe_b64encode(chunk).rstrip(b"=").decode()


def _forget_pool() -> None:
    _pool.clear()  # a forked child must not hand out its parent's next tokens


os.register_at_fork(after_in_child=_forget_pool)
