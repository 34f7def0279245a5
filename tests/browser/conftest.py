"""Fixtures for the browser tests: a real livecommerce server and a headless Chromium.

The server runs as a subprocess on free ports (`--port 0 --ws-port 0`) and says where it
listens by writing a ready file. Accounts and rooms that a test's story takes for granted are
made through the HTTP API; everything the story is about goes through the pages.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

from .support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PHONE,
    REPO,
    SCREENSHOTS,
    SERVER_MODULE,
    NewPage,
    Server,
    expect_timeout_ms,
    scaled,
)


def _read_ready(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None  # not there yet, or caught half written
    if isinstance(data, dict) and data.get("http_url") and data.get("ws_url"):
        return data
    return None


@contextlib.contextmanager
def running_server(base: Path, *extra: str) -> Iterator[Server]:
    """`livecommerce serve` with its data in `base` (and `extra` flags), until the block ends."""
    ready_file = base / "ready.json"
    log_path = base / "server.log"
    command = [
        sys.executable,
        "-m",
        SERVER_MODULE,
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--ws-port",
        "0",
        "--data-dir",
        str(base),
        "--ready-file",
        str(ready_file),
        # Every person of every story comes from 127.0.0.1 to one server for the whole
        # session: the per-address limits on new accounts and sign-ins would meter the suite,
        # not a person (tests/livecommerce/test_limits.py proves those limits).
        "--limit-signup",
        "0",
        "--limit-signin",
        "0",
        *extra,
    ]
    with log_path.open("wb") as log:
        # A session of its own, so that a server that must be killed takes its embedded
        # Valkey along instead of leaving it running.
        proc = subprocess.Popen(
            command,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            # No load shedding: a lagging test machine must not turn the story's joins away.
            env={**os.environ, "LIVECOMMERCE_SHEDDING": "false"},
        )
        try:
            deadline = time.monotonic() + scaled(60)
            ready = _read_ready(ready_file)
            while ready is None:
                if time.monotonic() > deadline:
                    pytest.fail(f"server not ready in time; log:\n{log_path.read_text()}")
                try:
                    # Waiting on the process doubles as the poll interval and notices a crash.
                    code = proc.wait(timeout=0.05)
                except subprocess.TimeoutExpired:
                    ready = _read_ready(ready_file)
                    continue
                pytest.fail(f"server exited with {code}; log:\n{log_path.read_text()}")
            yield Server(
                str(ready["http_url"]),
                str(ready["ws_url"]),
                log_path,
                redis_url=str(ready.get("redis_url") or ""),
                data_dir=base,
            )
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=scaled(15))
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # whatever it left behind


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("livecommerce")) as first:
        yield first


@pytest.fixture
def second_server(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Another process of the same deployment: `server`'s Redis and the secret that signs its
    tokens (each process takes the other's). It redirects viewers of a stream the first
    process carries (--no-cascade), so pages cross origins. Stopped (SIGTERM) at the end."""
    assert server.data_dir is not None
    assert server.redis_url
    secret = (server.data_dir / "secret").read_text(encoding="utf-8").strip()
    base = tmp_path_factory.mktemp("livecommerce-second")
    extra = ("--redis-url", server.redis_url, "--secret", secret, "--no-cascade")
    with running_server(base, *extra) as second:
        yield second


# Module scope, not session: Playwright's sync API keeps its event loop running in this
# thread while it is started, which the asyncio tests of other modules cannot share.
@pytest.fixture(scope="module")
def playwright_instance() -> Iterator[Playwright]:
    expect.set_options(timeout=expect_timeout_ms())
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    browser = playwright_instance.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@pytest.fixture
def new_page(browser: Browser, server: Server) -> Iterator[NewPage]:
    """Opens a page in a fresh browser context (its own storage: another person).

    Keyword arguments go to Browser.new_context (viewport, locale, reduced_motion, ...).
    Console errors and uncaught page errors fail the test at teardown, except console errors
    matching one of the regular expressions in `expected_console_errors` (Chromium logs every
    4xx answer to fetch, such as a declined card's 402, as one).
    """
    contexts: list[BrowserContext] = []
    problems: list[str] = []

    def make(*, expected_console_errors: tuple[str, ...] = (), **options: Any) -> Page:
        options.setdefault("viewport", PHONE)
        options.setdefault("locale", "en-US")
        context = browser.new_context(base_url=server.http_url, **options)
        context.set_default_timeout(expect_timeout_ms())
        contexts.append(context)
        page = context.new_page()
        expected = [re.compile(pattern) for pattern in expected_console_errors]

        def on_console(msg: ConsoleMessage) -> None:
            if msg.type != "error" or any(p.search(msg.text) for p in expected):
                return
            problems.append(f"console {msg.type}: {msg.text}")

        page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        page.on("console", on_console)
        return page

    yield make
    for context in contexts:
        context.close()
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
