"""The wire codec turns hostile bytes into commands or into named refusals."""

from __future__ import annotations

import contextlib

import msgpack
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from livecommerce.errors import BadFrame, BadRequest, LiveCommerceError, TooLarge, UnknownType
from livecommerce.realtime.wire import (
    ChatSend,
    Ping,
    React,
    Subprotocol,
    decode_frame,
    encode,
    encode_batch,
    parse_command,
    read_ref,
)


def test_one_message_or_a_batch_in_either_subprotocol() -> None:
    a, b = {"type": "viewers", "count": 1}, {"type": "viewers", "count": 2}
    assert orjson.loads(encode_batch(Subprotocol.JSON, [a])) == a
    assert orjson.loads(encode_batch(Subprotocol.JSON, [a, b])) == [a, b]
    assert msgpack.unpackb(encode_batch(Subprotocol.MSGPACK, [a, b])) == [a, b]
    assert msgpack.unpackb(encode(Subprotocol.MSGPACK, a)) == a


def test_commands_are_parsed_with_their_ref() -> None:
    assert parse_command({"type": "chat.send", "text": "hi", "ref": "a"}) == ChatSend("hi", "a")
    assert parse_command({"type": "react", "kind": "heart", "ref": 3}) == React("heart", 3)
    assert parse_command({"type": "ping"}) == Ping(None)
    keyed = {"type": "chat.send", "text": "hi", "key": "line-1"}
    assert parse_command(keyed) == ChatSend("hi", key="line-1")


@pytest.mark.parametrize(
    ("ref", "echoed"),
    [
        ("abc", "abc"),
        (7, 7),
        (True, None),
        ("x" * 65, None),
        ([1], None),
        (2**60, None),
        (None, None),
    ],
)
def test_only_sane_refs_are_echoed(ref: object, echoed: object) -> None:
    assert read_ref({"type": "ping", "ref": ref}) == echoed


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({}, UnknownType),
        ({"type": None}, UnknownType),
        ({"type": "sale.rocket"}, UnknownType),
        ({"type": "chat.send"}, BadRequest),
        ({"type": "chat.send", "text": b"bytes"}, BadRequest),
        ({"type": "chat.send", "text": True}, BadRequest),
        ({"type": "chat.send", "text": "x" * 5000}, BadRequest),
        ({"type": "chat.send", "text": "hi", "key": ""}, BadRequest),
        ({"type": "chat.send", "text": "hi", "key": 7}, BadRequest),
        ({"type": "chat.send", "text": "hi", "key": "a|b"}, BadRequest),
        ({"type": "chat.send", "text": "hi", "key": "k" * 129}, BadRequest),
        ({"type": "react"}, BadRequest),
        ({"type": "react", "kind": "bomb"}, BadRequest),
    ],
)
def test_bad_commands_name_what_is_wrong(
    message: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error) as caught:
        parse_command(message)
    assert str(caught.value)


def test_frames_are_checked_for_size_syntax_and_shape() -> None:
    with pytest.raises(TooLarge):
        decode_frame(Subprotocol.JSON, "x" * (64 * 1024 + 1))
    with pytest.raises(BadFrame, match="JSON"):
        decode_frame(Subprotocol.JSON, "{")
    with pytest.raises(BadFrame, match="map"):
        decode_frame(Subprotocol.JSON, '"just a string"')
    with pytest.raises(BadFrame, match="binary"):
        decode_frame(Subprotocol.MSGPACK, "{}")
    with pytest.raises(BadFrame, match="MessagePack"):
        decode_frame(Subprotocol.MSGPACK, b"\x92\x01")  # truncated array
    assert decode_frame(Subprotocol.MSGPACK, msgpack.packb({"type": "ping"})) == {"type": "ping"}


@given(st.binary(max_size=512))
def test_no_byte_string_crashes_the_msgpack_decoder(frame: bytes) -> None:
    try:
        decoded = decode_frame(Subprotocol.MSGPACK, frame)
    except LiveCommerceError:
        return
    with contextlib.suppress(LiveCommerceError):
        parse_command(decoded)


@given(st.text(max_size=512))
def test_no_text_crashes_the_json_decoder(frame: str) -> None:
    try:
        decoded = decode_frame(Subprotocol.JSON, frame)
    except LiveCommerceError:
        return
    with contextlib.suppress(LiveCommerceError):
        parse_command(decoded)
