"""The review scripts against the rules, step by random step, on a real Valkey.

Hypothesis writes, edits, retries and deletes reviews of a few (order, product) pairs, lets a
stranger try to overwrite or delete someone's review, reports, hides and shows them, and
erases a deleted reviewer, against the real Lua scripts. After every step each aggregate (per
product and per seller) equals a recount of the reviews that stand, each pair has at most one
review, and each answer is the one the model gives.
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from livecommerce.reviews.rules import Rating, pair
from livecommerce.reviews.store import ReviewStore
from livecommerce.store import keys
from livecommerce.store.embedded import EmbeddedValkey

SELLER = "c_1"
# (order, product) -> its buyer
ORDERS = {
    ("o_1", "p_1"): "u_1",
    ("o_1", "p_2"): "u_1",
    ("o_2", "p_1"): "u_2",
    ("o_3", "p_2"): "u_3",
}
PAIRS = sorted(ORDERS)
PEOPLE = ["u_1", "u_2", "u_3", "u_9"]
stars = st.integers(1, 5)


class ReviewMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.client = aioredis.Redis.from_url(VALKEY.url)
        self.run(self.client.flushall())
        self.store = ReviewStore(self.client)
        self.now = 1_700_000_000_000
        self.serial = 0
        # pair -> the review as the model holds it
        self.model: dict[tuple[str, str], dict[str, Any]] = {}
        self.gone: set[str] = set()  # deleted accounts: they sign in no more

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        self.run(self.client.aclose())
        self.loop.close()

    def fresh(self, at: tuple[str, str], who: str, p: int, s: int, text: str) -> dict[str, Any]:
        self.serial += 1
        return {
            "id": f"rv_{self.serial}", "order_id": at[0], "product_id": at[1],
            "seller_id": SELLER, "reviewer": {"id": who, "name": who}, "product_rating": p,
            "seller_rating": s, "text": text, "hidden": False, "reports": 0,
            "created_at": self.now, "updated_at": self.now,
        }  # fmt: skip

    @rule(at=st.sampled_from(PAIRS), p=stars, s=stars, text=st.sampled_from(["", "ok", "å"]))
    def the_buyer_writes_or_edits(self, at: tuple[str, str], p: int, s: int, text: str) -> None:
        self.now += 1
        buyer = ORDERS[at]
        if buyer in self.gone:
            return
        written = self.run(
            self.store.put(SELLER, pair(*at), self.fresh(at, buyer, p, s, text), self.now)
        )
        existing = self.model.get(at)
        assert written.status == (2 if existing else 1)
        assert written.review is not None
        if existing:
            assert written.review["id"] == existing["id"]  # a retry or an edit: never a second
            assert written.review["created_at"] == existing["created_at"]
        self.model[at] = {**written.review}
        assert (written.review["product_rating"], written.review["seller_rating"]) == (p, s)
        assert written.review["text"] == text

    @rule(at=st.sampled_from(PAIRS), who=st.sampled_from(PEOPLE), p=stars)
    def a_stranger_writes_over_a_review(self, at: tuple[str, str], who: str, p: int) -> None:
        if who == ORDERS[at] or at not in self.model:
            return
        written = self.run(self.store.put(SELLER, pair(*at), self.fresh(at, who, p, p, "x"), 1))
        assert (written.status, written.reason) == (0, "forbidden")

    @rule(at=st.sampled_from(PAIRS), who=st.sampled_from(PEOPLE))
    def someone_deletes(self, at: tuple[str, str], who: str) -> None:
        done, reason = self.run(self.store.delete(SELLER, at[1], pair(*at), who))
        existing = self.model.get(at)
        if existing is None:
            assert (done, reason) == (False, "not_found")
        elif existing["reviewer"]["id"] != who:
            assert (done, reason) == (False, "forbidden")
        else:
            assert done
            del self.model[at]

    @rule(at=st.sampled_from(PAIRS), who=st.sampled_from(PEOPLE))
    def someone_reports(self, at: tuple[str, str], who: str) -> None:
        existing = self.model.get(at)
        review_id = existing["id"] if existing else "rv_none"
        status = self.run(self.store.report(SELLER, review_id, who, self.now))
        if existing is None:
            assert status == 0
            return
        assert status in (1, 2)
        stored = self.run(self.store.review(SELLER, review_id))
        assert stored["reported_by"].count(who) == 1

    @rule(at=st.sampled_from(PAIRS), hide=st.booleans())
    def the_seller_judges(self, at: tuple[str, str], hide: bool) -> None:
        existing = self.model.get(at)
        if existing is None:
            return
        entry = {"action": "review.hide" if hide else "review.show", "at": self.now}
        status, judged = self.run(self.store.judge(SELLER, existing["id"], hide, entry))
        assert status in (1, 2)
        assert judged is not None
        assert judged["hidden"] is hide
        existing["hidden"] = hide

    @rule(who=st.sampled_from(PEOPLE))
    def a_reviewer_deletes_their_account(self, who: str) -> None:
        erased = self.run(self.store.erase_user(who))
        theirs = [at for at, r in self.model.items() if r["reviewer"]["id"] == who]
        assert erased == len(theirs)
        self.gone.add(who)
        for at in theirs:
            self.model[at]["reviewer"] = {"id": "deleted", "name": ""}
            self.model[at]["text"] = ""

    @invariant()
    def the_ratings_are_a_recount_of_what_stands(self) -> None:
        stored = self.run(self.client.hgetall(keys.reviews(SELLER)))
        assert len(stored) == len(self.model)
        for product in ("p_1", "p_2"):
            counted = [r["product_rating"] for at, r in self.model.items() if at[1] == product]
            rating = self.run(self.store.product_rating(SELLER, product))
            assert rating == Rating.recount(counted)
            listed = self.run(self.store.of_product(SELLER, product, 0, 50))
            assert sorted(r["id"] for r in listed) == sorted(
                r["id"] for at, r in self.model.items() if at[1] == product
            )
        seller = self.run(self.store.seller_rating(SELLER))
        assert seller == Rating.recount([r["seller_rating"] for r in self.model.values()])
        for at, review in self.model.items():
            found = self.run(self.store.by_pair(SELLER, pair(*at)))
            assert found is not None
            assert (found["id"], found["reviewer"], found["text"]) == (
                review["id"], review["reviewer"], review["text"]
            )  # fmt: skip
        for person in PEOPLE:
            mine = self.run(self.store.of_user(person, 50))
            assert sorted(r["id"] for r in mine) == sorted(
                r["id"] for r in self.model.values() if r["reviewer"]["id"] == person
            )


VALKEY: EmbeddedValkey


def test_the_review_scripts_keep_one_review_per_pair_and_ratings_equal_a_recount(
    valkey: EmbeddedValkey,
) -> None:
    global VALKEY
    VALKEY = valkey
    run_state_machine_as_test(
        ReviewMachine,
        settings=settings(
            max_examples=60,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
