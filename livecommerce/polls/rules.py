"""Polls and quizzes, as plain data: what a host may ask, how votes read as percentages, who
answered a quiz right fastest.

A poll asks a question with 2 to 4 options for a set time; each account votes once. A quiz is
a poll with a right answer, kept from viewers until the end; then the fastest right answers
make its leaderboard. The Lua scripts that take votes and end polls (``poll_*.lua``) mirror
``percentages`` and ``leaderboard`` here, and the model test holds them to it.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from livecommerce.errors import (
    BadRequest,
    OptionOutOfRange,
    PollAnswerOutOfRange,
    PollDurationOutOfRange,
    PollOptionsCount,
    PollTextInvalid,
)
from livecommerce.text import clean_line

QUESTION_MAX = 140
OPTION_MAX = 60
MIN_OPTIONS = 2
MAX_OPTIONS = 4
MIN_DURATION_S = 10
MAX_DURATION_S = 600
LEADERBOARD_SIZE = 10


class Kind(enum.StrEnum):
    POLL = "poll"
    QUIZ = "quiz"


class PollState(enum.StrEnum):
    ACTIVE = "active"
    ENDED = "ended"


class EndReason(enum.StrEnum):
    TIME_UP = "time_up"
    ENDED_EARLY = "ended_early"  # the host's End now, or the show ended


class Refusal(enum.StrEnum):
    """Why a vote was not taken; each is the wire error code the voter gets."""

    NOT_ACTIVE = "poll_not_active"
    ALREADY_VOTED = "already_voted"
    OUT_OF_RANGE = "option_out_of_range"
    HOST = "forbidden"
    BANNED = "banned"


@dataclass(frozen=True, slots=True)
class PollDraft:
    question: str
    options: tuple[str, ...]
    duration_s: int
    answer: int | None = None

    @property
    def kind(self) -> Kind:
        return Kind.POLL if self.answer is None else Kind.QUIZ


def _text(value: object, name: str, max_length: int) -> str:
    try:
        return clean_line(value, name, max_length)
    except BadRequest as exc:
        raise PollTextInvalid(exc.message, field=name) from None


def _whole(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_poll_draft(body: Mapping[str, Any]) -> PollDraft:
    """``poll.start`` as the host sends it: each way it can be wrong has its own code."""
    question = _text(body.get("question"), "question", QUESTION_MAX)
    options = body.get("options")
    if not isinstance(options, list) or not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
        raise PollOptionsCount(f"field 'options' must list {MIN_OPTIONS} to {MAX_OPTIONS} options")
    cleaned = tuple(_text(o, f"options[{i}]", OPTION_MAX) for i, o in enumerate(options))
    duration = _whole(body.get("duration_s"))
    if duration is None or not MIN_DURATION_S <= duration <= MAX_DURATION_S:
        raise PollDurationOutOfRange(
            f"field 'duration_s' must be {MIN_DURATION_S} to {MAX_DURATION_S} seconds"
        )
    answer = body.get("answer")
    if answer is not None:
        answer = _whole(answer)
        if answer is None or not 0 <= answer < len(cleaned):
            raise PollAnswerOutOfRange(
                f"field 'answer' must be an option's index, 0 to {len(cleaned) - 1}"
            )
    return PollDraft(question, cleaned, duration, answer)


def parse_option(value: object, options: int = MAX_OPTIONS) -> int:
    """A vote's option: an index the poll has (the store checks the poll's own count)."""
    option = _whole(value)
    if option is None or not 0 <= option < options:
        raise OptionOutOfRange(f"field 'option' must be an option's index, 0 to {options - 1}")
    return option


def percentages(votes: Sequence[int]) -> list[int]:
    """Whole percentages that sum to 100 (0 with no votes): each share rounded down, then the
    points left over go to the largest remainders, the earlier option first among equals
    (the largest remainder method), so bars never add up to 99 or 101."""
    total = sum(votes)
    if total <= 0:
        return [0] * len(votes)
    floors = [100 * v // total for v in votes]
    remainders = [100 * v % total for v in votes]
    order = sorted(range(len(votes)), key=lambda i: (-remainders[i], i))
    for i in order[: 100 - sum(floors)]:
        floors[i] += 1
    return floors


@dataclass(frozen=True, slots=True)
class Entry:
    """A right answer on a quiz's leaderboard: who, and how long after the start (ms)."""

    user_id: str
    name: str
    ms: int

    def to_public(self) -> dict[str, Any]:
        return {"user": {"id": self.user_id, "name": self.name}, "ms": self.ms}


def leaderboard(entries: Iterable[Entry], size: int = LEADERBOARD_SIZE) -> list[Entry]:
    """The fastest right answers first; equal times by account id, as a sorted set orders."""
    return sorted(entries, key=lambda e: (e.ms, e.user_id))[:size]


@dataclass(frozen=True, slots=True)
class Poll:
    id: str
    room_id: str
    host_id: str
    question: str
    options: tuple[str, ...]
    kind: Kind
    duration_s: int
    starts_at: int
    ends_at: int
    state: PollState = PollState.ACTIVE
    answer: int | None = None
    votes: tuple[int, ...] = ()
    ended_at: int = 0
    end_reason: str = ""
    leaderboard: tuple[Entry, ...] = field(default=())

    @property
    def total(self) -> int:
        return sum(self.votes)

    def counts(self) -> list[int]:
        return list(self.votes) if self.votes else [0] * len(self.options)

    def accepts(self, now: int) -> bool:
        return self.state is PollState.ACTIVE and now < self.ends_at

    def to_public(self) -> dict[str, Any]:
        """As ``poll.started`` shows it: never the quiz's answer while it runs."""
        return {
            "id": self.id,
            "question": self.question,
            "options": list(self.options),
            "kind": str(self.kind),
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "state": str(self.state),
        }

    def results(self) -> dict[str, Any]:
        """The counts as ``poll.tally`` and ``poll.ended`` show them; an ended quiz's answer
        and leaderboard too."""
        counts = self.counts()
        shown: dict[str, Any] = {
            "poll_id": self.id,
            "votes": counts,
            "total": sum(counts),
            "percentages": percentages(counts),
        }
        if self.state is PollState.ENDED and self.kind is Kind.QUIZ:
            shown["answer"] = self.answer
            shown["leaderboard"] = [e.to_public() for e in self.leaderboard]
        return shown

    def to_record(self) -> dict[str, Any]:
        """The poll with its results, for the results page, the replay and a joiner."""
        record = self.to_public()
        record.update(self.results())
        del record["poll_id"]
        if self.state is PollState.ENDED:
            record["ended_at"] = self.ended_at
            record["end_reason"] = self.end_reason
        return record

    def to_hash(self) -> dict[str, str]:
        """The fields ``poll_start.lua`` writes (the counts and the end are the scripts')."""
        return {
            "id": self.id,
            "room_id": self.room_id,
            "host_id": self.host_id,
            "question": self.question,
            "options": json.dumps(list(self.options), ensure_ascii=False),
            "kind": str(self.kind),
            "answer": "" if self.answer is None else str(self.answer),
            "duration_s": str(self.duration_s),
        }


def poll_from_hash(fields: Mapping[str, str], board: Sequence[Entry] = ()) -> Poll:
    options = tuple(json.loads(fields["options"]))
    return Poll(
        id=fields["id"],
        room_id=fields["room_id"],
        host_id=fields["host_id"],
        question=fields["question"],
        options=options,
        kind=Kind(fields["kind"]),
        duration_s=int(fields["duration_s"]),
        starts_at=int(fields.get("starts_at") or 0),
        ends_at=int(fields.get("ends_at") or 0),
        state=PollState(fields.get("state") or PollState.ACTIVE),
        answer=int(fields["answer"]) if fields.get("answer") else None,
        votes=tuple(int(fields.get(f"v{i + 1}") or 0) for i in range(len(options))),
        ended_at=int(fields.get("ended_at") or 0),
        end_reason=fields.get("end_reason", ""),
        leaderboard=tuple(board),
    )


def vote(
    poll: Poll, voted: Mapping[str, int], user_id: str, option: int, now: int
) -> Refusal | None:
    """Whether ``user_id`` may vote ``option`` now (None: yes), in the order the script asks:
    the poll must be running, the host never votes, once per account, an option it has."""
    if not poll.accepts(now):
        return Refusal.NOT_ACTIVE
    if user_id == poll.host_id:
        return Refusal.HOST
    if not 0 <= option < len(poll.options):
        return Refusal.OUT_OF_RANGE
    if user_id in voted:
        return Refusal.ALREADY_VOTED
    return None
