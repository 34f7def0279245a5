"""The room socket client's retry (static/js/room-client.js), run in the real Chromium.

A process shedding load closes a join with 4003 after an ``error`` carrying ``retry_after``
(docs/protocol.md, "Load shedding"): the page must wait that long and then some, each page
its own random part, so a crowd turned away at once does not come back at once.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from .support import Server, expect_timeout_ms

DELAY = """async ([hintMs, random]) => {
  const m = await import('/static/js/room-client.js');
  const client = new m.RoomClient('r1');
  const real = Math.random;
  Math.random = () => random;
  let delay = null;
  client.addEventListener('status', (event) => { delay = event.detail.delayMs; });
  try {
    client._scheduleRetry(hintMs);
  } finally {
    Math.random = real;
    client.stopped = true;
    clearTimeout(client.retryTimer);
  }
  return delay;
}"""


@pytest.fixture(scope="module")
def page(browser: Browser, server: Server) -> Iterator[Page]:
    context = browser.new_context(base_url=server.http_url)
    context.set_default_timeout(expect_timeout_ms())
    page = context.new_page()
    page.goto("/static/locales/en.json")
    yield page
    context.close()


def delay_ms(page: Page, hint_ms: float | None, random: float) -> float:
    delay: float = page.evaluate(DELAY, [hint_ms, random])
    return delay


def test_a_turned_away_page_waits_the_hint_plus_a_random_part_of_it(page: Page) -> None:
    assert delay_ms(page, 3000, 0.0) == 3000
    assert delay_ms(page, 3000, 0.5) == 3750
    assert delay_ms(page, 3000, 0.999) == pytest.approx(4498.5)


def test_without_a_hint_the_page_backs_off_on_its_own(page: Page) -> None:
    assert 250 <= delay_ms(page, None, 0.0) <= 500
    assert delay_ms(page, 0, 0.7) == 100  # a gap: resume at once, but not in a busy loop
