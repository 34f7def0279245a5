"""An operator configures by flags or LIVECOMMERCE_* variables; flags win."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import pytest

from livecommerce.config import Settings, add_arguments, from_arguments
from livecommerce.runtime import logs


def parse(argv: list[str]) -> Settings:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return from_arguments(parser.parse_args(argv))


def test_defaults_environment_and_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse([]).port == 8000
    assert parse([]).gateway_port == 8001
    monkeypatch.setenv("LIVECOMMERCE_PORT", "9000")
    monkeypatch.setenv("LIVECOMMERCE_CHAT_RATE", "2.5")
    monkeypatch.setenv("LIVECOMMERCE_REDIS_URL", "redis://r:6379/0")
    settings = parse(["--port", "7000", "--data-dir", "/srv/lc"])
    assert (settings.port, settings.chat_rate, settings.redis_url) == (
        7000,
        2.5,
        "redis://r:6379/0",
    )
    assert settings.data_dir == Path("/srv/lc")
    assert parse(["--port", "0"]).gateway_port == 0
    assert parse(["--ws-port", "9100"]).gateway_port == 9100


@pytest.mark.parametrize(
    "argv",
    [
        ["--port", "eighty"],
        ["--chat-rate", "fast"],
        ["--appendfsync", "never"],
        ["--auction-increments", "30:1,50:2"],
        ["--auction-increments", "50:1,30:2,*:5"],
        ["--auction-increments", "*:0"],
        ["--shed-busy-lag-ms", "100", "--shed-lag-ms", "50"],
        ["--shed-pending-joins", "-1"],
    ],
)
def test_bad_settings_stop_with_a_message(argv: list[str]) -> None:
    with pytest.raises(SystemExit, match="livecommerce:"):
        parse(argv)


def test_a_switch_is_a_flag_or_a_true_or_false_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse([]).allow_private_webhooks is False  # the guard is on unless switched off
    assert parse(["--allow-private-webhooks"]).allow_private_webhooks is True
    for value, expected in [("1", True), ("true", True), ("Yes", True), ("off", False)]:
        monkeypatch.setenv("LIVECOMMERCE_ALLOW_PRIVATE_WEBHOOKS", value)
        assert parse([]).allow_private_webhooks is expected
    monkeypatch.setenv("LIVECOMMERCE_ALLOW_PRIVATE_WEBHOOKS", "true")
    assert parse(["--no-allow-private-webhooks"]).allow_private_webhooks is False
    monkeypatch.setenv("LIVECOMMERCE_ALLOW_PRIVATE_WEBHOOKS", "")
    assert parse([]).allow_private_webhooks is False
    monkeypatch.setenv("LIVECOMMERCE_ALLOW_PRIVATE_WEBHOOKS", "sometimes")
    with pytest.raises(SystemExit, match="LIVECOMMERCE_ALLOW_PRIVATE_WEBHOOKS takes true or"):
        parse([])
    with pytest.raises(SystemExit):
        parse(["--allow-private-webhooks=yes"])  # a flag takes no value


def test_the_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    first = settings.server_secret()
    assert len(first) >= 48
    assert settings.server_secret() == first
    assert (tmp_path / "data" / "secret").stat().st_mode & 0o077 == 0
    assert Settings(secret="given").server_secret() == "given"


def test_a_public_key_may_be_a_file(tmp_path: Path) -> None:
    pem = "-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----\n"
    (tmp_path / "key.pem").write_text(pem)
    assert (
        Settings(jwt_public_key=str(tmp_path / "key.pem")).merchant_keys().rs256_public_key == pem
    )
    assert Settings(jwt_public_key=pem).merchant_keys().rs256_public_key == pem
    assert not Settings().merchant_keys().enabled


def test_logs_are_one_json_object_per_line_with_context() -> None:
    record = logging.LogRecord(
        "livecommerce.http", logging.INFO, __file__, 1, "request", None, None
    )
    record.path = "/api/v1/rooms"
    record.status = 201
    line = json.loads(logs.JsonFormatter().format(record))
    assert line["msg"] == "request"
    assert line["level"] == "info"
    assert (line["path"], line["status"]) == ("/api/v1/rooms", 201)
    assert line["ts"].endswith("Z")


def test_ice_servers_read_as_stun_and_turn_with_credentials() -> None:
    from livecommerce.config import Settings

    settings = Settings(ice_servers="stun:stun.example:3478, turn:ada:s3cret@turn.example:3478")
    stun, turn = settings.ice_server_list()
    assert stun.urls == "stun:stun.example:3478"
    assert (turn.urls, turn.username, turn.credential) == (
        "turn:turn.example:3478",
        "ada",
        "s3cret",
    )
    assert Settings().ice_server_list() == []
    with pytest.raises(SystemExit, match="stun: or turn:"):
        Settings(ice_servers="http://nope").ice_server_list()


def test_load_shedding_is_tuned_by_flags_and_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LIVECOMMERCE_SHED_LAG_MS", "120")
    settings = parse(["--shed-busy-lag-ms", "30", "--shed-pending-joins", "0", "--no-shedding"])
    thresholds = settings.shed_thresholds()
    assert (thresholds.busy_lag_s, thresholds.shed_lag_s) == (0.03, 0.12)
    assert thresholds.pending_joins == 0
    assert not settings.shedding
    assert parse([]).shedding
