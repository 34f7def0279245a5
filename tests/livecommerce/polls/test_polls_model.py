"""The poll scripts against the rules, step by random step, on a real Valkey.

Hypothesis drives votes (each account again and again, the host, banned people, options in
and out of range), bans, the clock (up to, at and past the end), the ticker ending the poll,
the host ending it early and a second poll started while one runs. After every step the
stored counts must be one vote per account that was let in, the answer each vote got must be
the one the rules give, and the room's history must hold one ``poll.started`` and, once it
has ended, one ``poll.ended`` whose percentages and leaderboard are ``rules.percentages`` and
``rules.leaderboard`` of what the model counted.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import msgpack
import redis.asyncio as aioredis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from livecommerce.polls.rules import (
    Entry,
    Kind,
    Poll,
    PollState,
    leaderboard,
    percentages,
    vote,
)
from livecommerce.polls.store import Ending, PollStore, VoteAnswer
from livecommerce.store import keys
from livecommerce.store.embedded import EmbeddedValkey

ROOM = "r_poll_model"
HOST = "host"
VOTERS = ("v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8")
START = 1_764_000_000_000


@dataclass
class Model:
    poll: Poll
    votes: dict[str, int] = field(default_factory=dict)
    right: list[Entry] = field(default_factory=list)
    banned: set[str] = field(default_factory=set)
    seq: int = 1

    def vote(self, who: str, option: int, now: int) -> VoteAnswer:
        if not self.poll.accepts(now):
            return VoteAnswer(reason="poll_not_active")
        if who in self.banned:
            return VoteAnswer(reason="banned")
        refusal = vote(self.poll, self.votes, who, option, now)
        if refusal is not None:
            chosen = self.votes.get(who) if refusal == "already_voted" else None
            return VoteAnswer(reason=str(refusal), option=chosen)
        self.votes[who] = option
        if self.poll.kind is Kind.QUIZ and option == self.poll.answer:
            self.right.append(Entry(who, f"Name {who}", now - self.poll.starts_at))
        return VoteAnswer(counts=tuple(self.counts()))

    def counts(self) -> list[int]:
        return [list(self.votes.values()).count(i) for i in range(len(self.poll.options))]

    def end(self, reason: str, now: int) -> Ending:
        if self.poll.state is PollState.ENDED:
            return Ending(False, "already_ended")
        if reason == "time_up" and now < self.poll.ends_at:
            return Ending(False, "not_due", ends_at=self.poll.ends_at)
        self.seq += 1
        self.poll = Poll(**{**_fields(self.poll), "state": PollState.ENDED})
        return Ending(True, seq=self.seq)


def _fields(poll: Poll) -> dict[str, Any]:
    return {name: getattr(poll, name) for name in Poll.__dataclass_fields__}


class PollMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.client = aioredis.Redis.from_url(VALKEY.url)
        self.run(self.client.flushall())
        self.store = PollStore(self.client, stream_max_len=1000)
        self.now = START
        self.model: Model

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        self.run(self.client.aclose())
        self.loop.close()

    @initialize(
        options=st.integers(2, 4),
        answer=st.one_of(st.none(), st.integers(0, 3)),
        duration_s=st.integers(10, 60),
    )
    def a_poll_starts(self, options: int, answer: int | None, duration_s: int) -> None:
        self.run(self.client.hset(keys.room(ROOM), mapping={"state": "live", "host_id": HOST}))
        if answer is not None:
            answer = min(answer, options - 1)
        poll = Poll(
            id="pl_model", room_id=ROOM, host_id=HOST, question="Which one?",
            options=tuple(f"Option {i}" for i in range(options)),
            kind=Kind.POLL if answer is None else Kind.QUIZ, duration_s=duration_s,
            starts_at=self.now, ends_at=self.now + duration_s * 1000, answer=answer,
        )  # fmt: skip
        started, seq, ends_at = self.run(self.store.start(poll, self.now))
        assert (started, seq, ends_at) == (True, "1", poll.ends_at)
        self.model = Model(poll)

    @rule(
        who=st.sampled_from((*VOTERS, *VOTERS, HOST)),
        option=st.integers(-1, 4),
        wait_ms=st.sampled_from([0, 0, 1, 250, 1000]),
    )
    def someone_votes(self, who: str, option: int, wait_ms: int) -> None:
        self.now += wait_ms
        answer = self.run(
            self.store.vote(ROOM, self.model.poll.id, who, f"Name {who}", option, self.now)
        )
        assert answer == self.model.vote(who, option, self.now)

    @rule(who=st.sampled_from(VOTERS))
    def a_moderator_bans_someone(self, who: str) -> None:
        self.run(self.client.sadd(keys.room_bans(ROOM), who))
        self.model.banned.add(who)

    @rule(seconds=st.sampled_from([1, 5, 20]), exact=st.booleans())
    def time_passes(self, seconds: int, exact: bool) -> None:
        if (
            exact
            and self.model.poll.state is PollState.ACTIVE
            and self.now < self.model.poll.ends_at
        ):
            self.now = self.model.poll.ends_at  # right at the end: no more votes
        else:
            self.now += seconds * 1000

    @rule()
    def the_ticker_tries_to_end_it(self) -> None:
        ending = self.run(self.store.end(ROOM, self.model.poll.id, "time_up", self.now))
        assert ending == self.model.end("time_up", self.now)

    @rule()
    def the_host_ends_it_now(self) -> None:
        ending = self.run(self.store.end(ROOM, self.model.poll.id, "ended_early", self.now))
        assert ending == self.model.end("ended_early", self.now)

    @precondition(lambda self: self.model.poll.state is PollState.ACTIVE)
    @rule()
    def the_host_tries_a_second_poll(self) -> None:
        other = Poll(**{**_fields(self.model.poll), "id": "pl_other"})
        assert self.run(self.store.start(other, self.now)) == (False, "busy:pl_model", 0)

    @invariant()
    def one_vote_per_account_let_in(self) -> None:
        poll = self.run(self.store.poll(ROOM, self.model.poll.id))
        assert list(poll.votes) == self.model.counts()
        stored = self.run(self.client.hgetall(keys.poll(ROOM, poll.id)[1]))
        assert {k.decode(): int(v) for k, v in stored.items()} == self.model.votes
        assert poll.state is self.model.poll.state

    @invariant()
    def the_history_tells_the_start_and_one_end(self) -> None:
        raw = self.run(self.client.xrange(keys.room_events(ROOM)))
        events = [msgpack.unpackb(fields[b"d"]) for _, fields in raw]
        assert [e["type"] for e in events][:1] == ["poll.started"]
        assert "answer" not in events[0]["poll"]
        ended = [e for e in events if e["type"] == "poll.ended"]
        assert len(events) == self.model.seq
        assert len(ended) == (self.model.poll.state is PollState.ENDED)
        if ended:
            counts = self.model.counts()
            assert (ended[0]["votes"], ended[0]["total"]) == (counts, sum(counts))
            assert ended[0]["percentages"] == percentages(counts)
            if self.model.poll.kind is Kind.QUIZ:
                board = [e.to_public() for e in leaderboard(self.model.right)]
                assert (ended[0]["answer"], ended[0]["leaderboard"]) == (
                    self.model.poll.answer, board
                )  # fmt: skip
                stored = self.run(self.store.poll(ROOM, self.model.poll.id))
                assert [e.to_public() for e in stored.leaderboard] == board
            else:
                assert "leaderboard" not in ended[0]


VALKEY: EmbeddedValkey


def test_the_poll_scripts_are_the_rules(valkey: EmbeddedValkey) -> None:
    global VALKEY
    VALKEY = valkey
    run_state_machine_as_test(
        PollMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


# Ties and leftovers that a random walk of a few votes rarely meets, straight through the script.
COUNTS = [
    [0, 0], [1, 1], [1, 1, 1], [1, 1, 1, 0], [2, 1], [1, 2, 1, 2], [1, 1, 1, 1], [3, 3, 1],
    [5, 0, 0, 1], [7, 7, 7], [1, 0, 0, 0], [333, 333, 334], [1, 2, 3, 4], [10**6, 1, 1, 1],
]  # fmt: skip


async def test_the_end_script_rounds_as_the_rules_do(valkey: EmbeddedValkey) -> None:
    client = aioredis.Redis.from_url(valkey.url)
    try:
        await client.flushall()
        await rounds_as_the_rules_do(client)
    finally:
        await client.aclose()


async def rounds_as_the_rules_do(client: aioredis.Redis) -> None:
    store = PollStore(client, stream_max_len=1000)
    await client.hset(keys.room(ROOM), mapping={"state": "live", "host_id": HOST})
    for n, counts in enumerate(COUNTS):
        poll = Poll(
            id=f"pl_{n}", room_id=ROOM, host_id=HOST, question="Which one?",
            options=tuple(f"Option {i}" for i in range(len(counts))), kind=Kind.POLL,
            duration_s=10, starts_at=START, ends_at=START + 10_000,
        )  # fmt: skip
        assert (await store.start(poll, START))[0]
        await client.hset(
            keys.poll(ROOM, poll.id)[0], mapping={f"v{i + 1}": c for i, c in enumerate(counts)}
        )
        assert (await store.end(ROOM, poll.id, "ended_early", START)).ended
        ended = await store.poll(ROOM, poll.id)
        assert ended.results()["percentages"] == percentages(counts), counts
        raw: Any = await client.xrevrange(keys.room_events(ROOM), count=1)
        event = msgpack.unpackb(raw[0][1][b"d"])
        assert (event["votes"], event["percentages"]) == (counts, percentages(counts))
