"""Every refusal has one stable code, one HTTP status and one close code, drawn in one tree."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import livecommerce
from livecommerce import errors
from livecommerce.errors import (
    BadRequest,
    CloseCode,
    Forbidden,
    LiveCommerceError,
    NotFound,
    Overloaded,
    RateLimited,
    Unauthorized,
    Unavailable,
)

PROTOCOL = Path(__file__).parents[2] / "docs" / "protocol.md"


def every_error() -> list[type[LiveCommerceError]]:
    """Every error class of the package, wherever it is defined (so every module is loaded)."""
    for module in pkgutil.walk_packages(livecommerce.__path__, "livecommerce."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    found: list[type[LiveCommerceError]] = []
    todo: list[type[LiveCommerceError]] = [LiveCommerceError]
    while todo:
        cls = todo.pop()
        if not cls.__name__.startswith("_"):
            found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_every_error_has_a_stable_code_of_its_own() -> None:
    codes = [cls.code for cls in every_error()]
    assert len(codes) == len(set(codes)), sorted(c for c in codes if codes.count(c) > 1)
    assert all(re.fullmatch(r"[a-z_]+", code) for code in codes)


# The close codes docs/protocol.md names for the refusals a join can meet.
REFUSALS: dict[type[LiveCommerceError], int] = {
    BadRequest: 4400,
    Unauthorized: 4401,
    Forbidden: 4403,
    NotFound: 4404,
    RateLimited: 4029,
    Unavailable: 4002,
    Overloaded: 4003,
}


@pytest.mark.parametrize(("error", "close_code"), REFUSALS.items())
def test_a_refused_socket_is_closed_with_the_code_the_protocol_names(
    error: type[LiveCommerceError], close_code: int
) -> None:
    assert error.close_code == close_code


def test_each_close_code_of_its_own_names_one_error() -> None:
    own = {cls: cls.__dict__["close_code"] for cls in every_error() if "close_code" in vars(cls)}
    assert set(own) == {*REFUSALS, LiveCommerceError}
    assert len(set(own.values())) == len(own) - 1  # the base shares "come back later" (4002)
    assert LiveCommerceError.close_code == Unavailable.close_code == CloseCode.UNAVAILABLE


def test_a_refusal_not_to_repeat_mirrors_its_http_status_and_a_retry_asks_to_come_back() -> None:
    for cls in every_error():
        if not CloseCode.should_reconnect(cls.close_code):
            assert cls.close_code == 4000 + cls.status, cls.__name__
            assert 400 <= cls.status < 500, cls.__name__
        if issubclass(cls, errors._RetryLater):
            assert CloseCode.should_reconnect(cls.close_code), cls.__name__


def test_every_close_code_an_error_carries_is_in_the_protocols_table() -> None:
    table = PROTOCOL.read_text(encoding="utf-8").split("### Close codes", 1)[1]
    documented = {int(code) for code in re.findall(r"^\| (\d{4}) \|", table, re.MULTILINE)}
    assert {cls.close_code for cls in every_error()} <= documented


def test_the_tree_in_the_docstring_is_the_hierarchy() -> None:
    drawn = {
        name: (code, int(status), int(close))
        for name, code, status, close in re.findall(
            r"(\w+)\s+(\w+)\s+(\d{3})\s+(\d{4})", errors.__doc__ or ""
        )
    }
    assert drawn == {
        cls.__name__: (cls.code, cls.status, cls.close_code)
        for cls in every_error()
        if cls.__module__ == errors.__name__
    }


def test_wire_events_and_problems_carry_the_same_code() -> None:
    refused = RateLimited("slow down", retry_after=1.5)
    assert refused.to_wire("r1") == {
        "type": "error",
        "code": "rate_limited",
        "message": "slow down",
        "ref": "r1",
        "retry_after": 1.5,
    }
    problem = refused.to_problem()
    assert (problem["code"], problem["status"], problem["retry_after"]) == (
        "rate_limited",
        429,
        1.5,
    )
