"""What a host may ask, how votes read as percentages, who tops a quiz's leaderboard."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from livecommerce.errors import LiveCommerceError
from livecommerce.polls.rules import (
    Entry,
    Kind,
    Poll,
    PollState,
    Refusal,
    leaderboard,
    parse_option,
    parse_poll_draft,
    percentages,
    poll_from_hash,
    vote,
)

GOOD: dict[str, Any] = {
    "question": "Which colour next?",
    "options": ["Red", "Blue"],
    "duration_s": 30,
}


@given(st.lists(st.integers(min_value=0, max_value=10**9), min_size=2, max_size=4))
def test_percentages_always_sum_to_100_or_all_are_0(votes: list[int]) -> None:
    shown = percentages(votes)
    assert len(shown) == len(votes)
    assert sum(shown) == (100 if sum(votes) else 0)
    for share, count in zip(shown, votes, strict=True):
        exact = 100 * count / sum(votes) if sum(votes) else 0
        assert abs(share - exact) < 1  # never more than a point from the true share


def test_the_points_left_over_go_to_the_largest_remainders_the_earlier_option_first() -> None:
    assert percentages([1, 1, 1]) == [34, 33, 33]
    assert percentages([2, 1]) == [67, 33]
    assert percentages([1, 2, 1, 2]) == [17, 33, 17, 33]
    assert percentages([0, 0]) == [0, 0]
    assert percentages([0, 5]) == [0, 100]


def test_the_leaderboard_is_the_fastest_right_answers_then_by_account_id_ten_at_most() -> None:
    entries = [Entry(f"u{i:02d}", f"N{i}", 1000 - (i % 3) * 100) for i in range(15)]
    board = leaderboard(entries)
    assert len(board) == 10
    assert [(e.ms, e.user_id) for e in board] == sorted((e.ms, e.user_id) for e in entries)[:10]
    assert board[0] == Entry("u02", "N2", 800)


BAD: list[tuple[dict[str, Any], str]] = [
    ({**GOOD, "options": ["Only"]}, "poll_options_count"),
    ({**GOOD, "options": ["a", "b", "c", "d", "e"]}, "poll_options_count"),
    ({**GOOD, "options": "Red,Blue"}, "poll_options_count"),
    ({**GOOD, "question": ""}, "poll_text_invalid"),
    ({**GOOD, "question": "   "}, "poll_text_invalid"),
    ({**GOOD, "question": "x" * 141}, "poll_text_invalid"),
    ({**GOOD, "question": "one\ntwo"}, "poll_text_invalid"),
    ({**GOOD, "question": 7}, "poll_text_invalid"),
    ({**GOOD, "options": ["Red", ""]}, "poll_text_invalid"),
    ({**GOOD, "options": ["Red", "b" * 61]}, "poll_text_invalid"),
    ({**GOOD, "options": ["Red", "Bl\u202eue"]}, "poll_text_invalid"),
    ({**GOOD, "duration_s": 9}, "poll_duration_out_of_range"),
    ({**GOOD, "duration_s": 601}, "poll_duration_out_of_range"),
    ({**GOOD, "duration_s": 30.5}, "poll_duration_out_of_range"),
    ({**GOOD, "duration_s": True}, "poll_duration_out_of_range"),
    ({k: v for k, v in GOOD.items() if k != "duration_s"}, "poll_duration_out_of_range"),
    ({**GOOD, "answer": 2}, "poll_answer_out_of_range"),
    ({**GOOD, "answer": -1}, "poll_answer_out_of_range"),
    ({**GOOD, "answer": "0"}, "poll_answer_out_of_range"),
]


@pytest.mark.parametrize(("body", "code"), BAD)
def test_each_bad_draft_is_refused_with_its_own_code(body: dict[str, Any], code: str) -> None:
    with pytest.raises(LiveCommerceError) as refused:
        parse_poll_draft(body)
    assert refused.value.code == code
    assert refused.value.status == 400


def test_a_good_draft_is_a_poll_and_with_an_answer_a_quiz() -> None:
    poll = parse_poll_draft({**GOOD, "question": "  <b>Which</b>?  "})
    assert (poll.question, poll.options, poll.kind) == ("<b>Which</b>?", ("Red", "Blue"), Kind.POLL)
    quiz = parse_poll_draft(
        {**GOOD, "options": ["a", "b", "c", "d"], "answer": 3, "duration_s": 600}
    )
    assert (quiz.kind, quiz.answer, quiz.duration_s) == (Kind.QUIZ, 3, 600)


def test_a_vote_names_an_option_by_its_index() -> None:
    assert parse_option(3) == 3
    for bad in (-1, 4, "1", 1.0, None, False):
        with pytest.raises(LiveCommerceError) as refused:
            parse_option(bad)
        assert refused.value.code == "option_out_of_range"


def quiz(**fields: Any) -> Poll:
    values: dict[str, Any] = {
        "id": "pl_1", "room_id": "r_1", "host_id": "host", "question": "2+2?",
        "options": ("3", "4", "5"), "kind": Kind.QUIZ, "duration_s": 30,
        "starts_at": 1000, "ends_at": 31_000, "answer": 1, "votes": (1, 2, 0),
    }  # fmt: skip
    return Poll(**{**values, **fields})


def test_a_vote_is_taken_once_per_account_while_the_poll_runs_never_from_the_host() -> None:
    running = quiz()
    assert vote(running, {}, "ann", 1, 2000) is None
    assert vote(running, {"ann": 0}, "ann", 1, 2000) is Refusal.ALREADY_VOTED
    assert vote(running, {}, "host", 1, 2000) is Refusal.HOST
    assert vote(running, {}, "ann", 3, 2000) is Refusal.OUT_OF_RANGE
    assert vote(running, {}, "ann", 1, 31_000) is Refusal.NOT_ACTIVE
    assert vote(quiz(state=PollState.ENDED), {}, "ann", 1, 2000) is Refusal.NOT_ACTIVE


def test_a_running_quiz_never_shows_its_answer_and_an_ended_one_shows_it_with_its_board() -> None:
    running = quiz()
    assert "answer" not in running.to_public()
    assert "answer" not in running.results()
    assert "answer" not in running.to_record()
    assert running.results()["percentages"] == [33, 67, 0]
    board = (Entry("bo", "Bo", 1200),)
    ended = quiz(state=PollState.ENDED, leaderboard=board, ended_at=31_000, end_reason="time_up")
    record = ended.to_record()
    assert (record["answer"], record["total"], record["end_reason"]) == (1, 3, "time_up")
    assert record["leaderboard"] == [{"user": {"id": "bo", "name": "Bo"}, "ms": 1200}]


def test_a_poll_reads_back_from_its_hash_as_it_was_written() -> None:
    poll = quiz(votes=(), state=PollState.ACTIVE)
    fields = {
        **poll.to_hash(),
        "starts_at": "1000",
        "ends_at": "31000",
        "state": "active",
        "v2": "5",
    }
    back = poll_from_hash(fields)
    assert back == quiz(votes=(0, 5, 0))
    assert poll_from_hash({**poll.to_hash(), "answer": ""}).answer is None
