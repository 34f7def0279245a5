"""The pages' polls (static/js/poll-state.js and replay-polls.js), in Chromium.

The viewer's poll card and the studio read a room's polls from what the socket brings: these
tests load the fold into a page of the test server and feed it the messages of
docs/protocol.md, "Polls and quizzes", as a viewer would receive them. No socket, no DOM.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from livecommerce.events import Event
from livecommerce.polls.rules import percentages

from .support import Server, expect_timeout_ms

pytestmark = pytest.mark.browser

FOLD = """async (events) => {
  const m = await import('/static/js/poll-state.js');
  let state = m.initialPolls();
  for (const event of events) state = m.foldPolls(state, event);
  return state;
}"""

SHARES = """async (votes) => (await import('/static/js/poll-state.js')).percentages(votes)"""

MARKS = """async (polls) => {
  await (await import('/static/js/i18n.js')).initI18n();
  const m = await import('/static/js/replay-polls.js');
  return m.pollMarks(polls).map(({ id, at, text }) => [id, at, text]);
}"""

POLL = {"id": "pl_1", "question": "Which colour?", "options": ["Rust", "Moss"], "kind": "quiz",
        "starts_at": 1000, "ends_at": 31_000, "state": "active"}  # fmt: skip


@pytest.fixture(scope="module")
def page(browser: Browser, server: Server) -> Iterator[Page]:
    context = browser.new_context(base_url=server.http_url, locale="en-US")
    context.set_default_timeout(expect_timeout_ms())
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/static/locales/en.json")
    yield page
    context.close()
    assert not errors


def fold(page: Page, events: list[Event]) -> dict[str, Any]:
    state: dict[str, Any] = page.evaluate(FOLD, events)
    return state


def test_a_poll_runs_counts_only_forward_and_ends_with_its_answer(page: Page) -> None:
    started: Event = {"type": "poll.started", "seq": 5, "poll": POLL}
    tally: Event = {"type": "poll.tally", "poll_id": "pl_1", "votes": [1, 2], "total": 3,
                    "percentages": [33, 67]}  # fmt: skip
    stale: Event = {**tally, "votes": [1, 0], "total": 1, "percentages": [100, 0]}
    state = fold(page, [started, tally, stale])
    assert (state["live"]["votes"], state["live"]["total"]) == ([1, 2], 3)  # never backwards
    ended: Event = {"type": "poll.ended", "seq": 6, "poll_id": "pl_1", "votes": [1, 3],
                    "total": 4, "percentages": [25, 75], "reason": "time_up", "answer": 1,
                    "leaderboard": [{"user": {"id": "u1", "name": "Una"}, "ms": 1200}]}  # fmt: skip
    voted: Event = {"type": "poll.voted", "poll_id": "pl_1", "option": 1}
    state = fold(page, [started, tally, voted, ended, {**tally, "total": 9}])
    assert state["live"] is None
    last = state["last"]
    assert (last["state"], last["answer"], last["votes"], last["question"]) == (
        "ended", 1, [1, 3], "Which colour?"
    )  # fmt: skip
    assert state["mine"] == {"pl_1": 1}


def test_your_own_vote_shows_at_once_and_the_pages_round_as_the_server_does(page: Page) -> None:
    started: Event = {"type": "poll.started", "seq": 5, "poll": POLL}
    voted: Event = {"type": "poll.voted", "poll_id": "pl_1", "option": 0, "counted": True}
    state = fold(page, [started, voted])
    assert (state["live"]["votes"], state["live"]["percentages"]) == ([1, 0], [100, 0])
    for votes in ([1, 1, 1], [2, 1], [1, 2, 1, 2], [0, 0], [333, 333, 334], [5, 0, 0, 1]):
        assert page.evaluate(SHARES, votes) == percentages(votes), votes


def test_a_joiner_starts_from_the_welcome_with_their_own_vote(page: Page) -> None:
    live = {**POLL, "votes": [0, 4], "total": 4, "percentages": [0, 100]}
    mine = {"poll_id": "pl_1", "option": 1}
    welcome: Event = {"type": "welcome", "seq": 9, "polls": {"live": live, "last": None},
                      "you": {"id": "u1", "poll_vote": mine}}  # fmt: skip
    state = fold(page, [welcome])
    assert (state["live"]["total"], state["mine"]) == (4, {"pl_1": 1})
    assert fold(page, [{"type": "welcome", "seq": 1}]) == {
        "live": None, "last": None, "mine": {}, "userId": None
    }  # fmt: skip
    other: Event = {**welcome, "you": {"id": "u2", "poll_vote": None}}
    assert fold(page, [welcome, other])["mine"] == {}  # another account's votes are not theirs
    again: Event = {**welcome, "you": {"id": "u1", "poll_vote": None}}
    assert fold(page, [welcome, again])["mine"] == {"pl_1": 1}


def test_the_replay_shows_each_result_from_the_moment_it_ended(page: Page) -> None:
    polls = [
        {**POLL, "id": "pl_2", "kind": "poll", "state": "ended", "ended_at": 90_000,
         "votes": [3, 1], "percentages": [75, 25]},
        {**POLL, "state": "ended", "ended_at": 31_000, "answer": 1, "votes": [3, 1],
         "percentages": [75, 25]},
        {**POLL, "id": "pl_3"},  # still running: nothing to show
    ]  # fmt: skip
    assert page.evaluate(MARKS, polls) == [
        ["pl_1", 31_000, "Which colour?: Moss (25%)"],  # a quiz names its right answer
        ["pl_2", 90_000, "Which colour?: Rust (75%)"],
    ]
