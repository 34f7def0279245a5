"""The verification snippet in docs/giveaways.md recomputes the draws rules.py makes."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from livecommerce.giveaways.rules import commitment, draw, sorted_entrants

DOC = Path(__file__).parents[3] / "docs" / "giveaways.md"


def snippet() -> Callable[[dict[str, Any]], str | None]:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    (code,) = [b for b in blocks if "def verify_draw" in b]
    scope: dict[str, Any] = {"__name__": "docs"}
    exec(compile(code, str(DOC), "exec"), scope)
    verify: Callable[[dict[str, Any]], str | None] = scope["verify_draw"]
    return verify


def published(seed: bytes, ids: list[str], winner: str | None) -> dict[str, Any]:
    """A giveaway as GET /api/v1/giveaways/{id} shows it once ended."""
    return {
        "commitment": commitment(seed),
        "result": {
            "seed": seed.hex(),
            "entrant_ids": sorted_entrants(ids),
            "winner": {"id": winner, "name": "x"} if winner else None,
        },
    }


@pytest.mark.parametrize("n", [0, 1, 2, 3, 10, 257])
def test_the_documented_snippet_recomputes_the_winner(n: int) -> None:
    verify = snippet()
    for _ in range(20):
        seed = os.urandom(32)
        ids = [f"u_{os.urandom(6).hex()}" for _ in range(n)] + (["u_ø", "U_Z"] if n else [])
        winner = draw(seed, ids)
        assert verify(published(seed, ids, winner)) == winner


def test_the_documented_snippet_refuses_a_wrong_seed_winner_or_order() -> None:
    verify = snippet()
    seed, ids = os.urandom(32), ["u_a", "u_b", "u_c"]
    winner = draw(seed, ids)
    loser = next(i for i in ids if i != winner)
    with pytest.raises(ValueError, match="draw gives"):
        verify(published(seed, ids, loser))
    tampered = published(seed, ids, winner)
    tampered["commitment"] = commitment(b"other")
    with pytest.raises(ValueError, match="committed"):
        verify(tampered)
    shuffled = published(seed, ids, winner)
    shuffled["result"]["entrant_ids"].reverse()
    with pytest.raises(ValueError, match="order"):
        verify(shuffled)
