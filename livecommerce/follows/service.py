"""The follow desk: following creators, reminders of shows, a creator's public page, the
calendar file, a show's audience, and the notices that tell the merchant when to notify it.

Notices: a scheduled show queues its ``show.reminder`` (due ``lead`` before it starts) when
it is created, and a show that goes live queues its ``show.live``; every process runs
``tick``, which claims what is due in one atomic step (a lease), decides with the show as it
is then (``rules.should_send``), and either queues the webhook and lets the notice go in one
transaction, or drops it. One process sends each notice; a process that dies holding one
leaves the lease to run out, and the next sends the same event (same id) again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from livecommerce.accounts.auth import Identity
from livecommerce.accounts.store import AccountStore
from livecommerce.errors import BadRequest, Forbidden, LiveCommerceError, NotFound
from livecommerce.follows.rules import (
    AUDIENCE_PAGE_MAX,
    FOLLOWING_PAGE_MAX,
    PAST_SHOWS,
    PROFILE_SHOWS,
    AudienceCursor,
    CannotFollowSelf,
    Notice,
    ShowEnded,
    calendar,
    notice_event_id,
    notice_member,
    notice_payload,
    parse_notice_member,
    reminder_due,
    should_send,
    valid_id,
)
from livecommerce.follows.store import FollowStore
from livecommerce.rooms.rules import Room, RoomState
from livecommerce.rooms.store import RoomStore
from livecommerce.store import keys
from livecommerce.store.limits import Limit, Limiter
from livecommerce.webhooks.rules import EventType, WebhookEvent
from livecommerce.webhooks.store import WebhookStore

log = logging.getLogger("livecommerce.follows")

TICK_S = 1.0
LEASE_MS = 30_000
BATCH = 32


class Follows:
    def __init__(
        self,
        store: FollowStore,
        rooms: RoomStore,
        accounts: AccountStore,
        webhooks: WebhookStore,
        limiter: Limiter,
        *,
        toggle_limit: Limit,
        reminder_lead_s: float = 900,
        base_url: str = "",
        on_new_follower: Callable[[str], None] | None = None,
        on_queued: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.rooms = rooms
        self.accounts = accounts
        self.webhooks = webhooks
        self.limiter = limiter
        self.toggle_limit = toggle_limit
        self.lead_ms = int(reminder_lead_s * 1000)
        self.base_url = base_url
        self.on_new_follower = on_new_follower  # a room id: a follow made in its live show
        self.on_queued = on_queued  # webhooks were queued: the dispatcher may look now
        self.clock = clock

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # Creators --------------------------------------------------------------------------

    async def creator(self, creator_id: str) -> tuple[str, list[Room]]:
        """(the creator's name, their newest shows), or ``NotFound`` for nobody or a deleted
        account. A creator is an account, or a merchant's user who has hosted a show."""
        valid_id(creator_id, "creator")
        account = await self.accounts.account(creator_id)
        if await self.accounts.is_deleted(creator_id):
            raise NotFound(f"creator {creator_id} does not exist")
        room_ids = await self.rooms.room_ids(None, creator_id, PROFILE_SHOWS)
        shows = await self.rooms.rooms(room_ids)
        if account is not None:
            return account["display_name"], shows
        if not shows:
            raise NotFound(f"creator {creator_id} does not exist")
        return shows[0].host_name, shows

    async def _exists(self, creator_id: str) -> None:
        """``NotFound`` unless ``creator_id`` is a creator (as ``creator`` says, cheaper)."""
        if await self.accounts.is_deleted(creator_id):
            raise NotFound(f"creator {creator_id} does not exist")
        if await self.accounts.account(creator_id) is None and not await self.rooms.room_ids(
            None, creator_id, 1
        ):
            raise NotFound(f"creator {creator_id} does not exist")

    async def profile(self, creator_id: str, who: Identity | None) -> dict[str, Any]:
        name, shows = await self.creator(creator_id)
        followers = await self.store.followers(creator_id)
        you = None
        if who is not None:
            you = {"following": await self.store.follows(creator_id, who.id)}
        live = [r for r in shows if r.state is RoomState.LIVE]
        upcoming = sorted(
            (r for r in shows if r.state is RoomState.SCHEDULED),
            key=lambda r: (r.scheduled_at is None, r.scheduled_at or r.created_at),
        )
        past = sorted(
            (r for r in shows if r.state is RoomState.ENDED),
            key=lambda r: -(r.ended_at or r.created_at),
        )[:PAST_SHOWS]
        return {
            "id": creator_id,
            "name": name,
            "followers": followers,
            "you": you,
            "shows": {
                "live": [_card(r) for r in live],
                "upcoming": [_card(r) for r in upcoming],
                "ended": [_card(r) for r in past],
            },
        }

    # Following -------------------------------------------------------------------------

    async def follow(
        self, who: Identity, creator_id: str, on: bool, room_id: str | None = None
    ) -> dict[str, Any]:
        """Follow (``on``) or unfollow; idempotent. ``room_id``: the live show it was
        pressed in, where a new follower counts in the show's results."""
        valid_id(creator_id, "creator")
        if creator_id == who.id:
            raise CannotFollowSelf("you cannot follow yourself")
        await self._exists(creator_id)
        await self.limiter.check(self.toggle_limit, f"follow:{who.id}")
        if not on:
            return {"following": False, "followers": await self.store.unfollow(creator_id, who.id)}
        added, followers = await self.store.follow(creator_id, who.id)
        if added and room_id is not None and self.on_new_follower is not None:
            await self._counted_in(room_id, creator_id)
        return {"following": True, "followers": followers}

    async def _counted_in(self, room_id: str, creator_id: str) -> None:
        if not _plausible(room_id):
            return
        try:
            room = await self.rooms.room(room_id)
        except NotFound:
            return  # the follow stands; only the show's count is missed
        if room.state is RoomState.LIVE and room.host_id == creator_id:
            assert self.on_new_follower is not None
            self.on_new_follower(room_id)

    async def following(self, who: Identity, cursor: str | None, limit: int) -> dict[str, Any]:
        position = 0
        if cursor:
            if not cursor.isdigit() or len(cursor) > 20:
                raise BadRequest("'cursor' is not one this server gave")
            position = int(cursor)
        ids, position = await self.store.following(who.id, position, min(limit, FOLLOWING_PAGE_MAX))
        creators = []
        names = await self.store.names(ids)
        for creator_id, name in zip(ids, names, strict=True):
            creators.append({"id": creator_id, "name": name})
        return {"creators": creators, "next_cursor": str(position) if position else None}

    # Reminders -------------------------------------------------------------------------

    async def remind(self, who: Identity, room_id: str, on: bool) -> dict[str, Any]:
        valid_id(room_id, "room")
        room = await self.rooms.room(room_id)
        if on and room.state is RoomState.ENDED:
            raise ShowEnded("the show has ended")
        await self.limiter.check(self.toggle_limit, f"follow:{who.id}")
        count = await self.store.remind(room_id, who.id, on)
        return {"reminded": on, "reminders": count}

    async def reminder(self, who: Identity | None, room_id: str) -> dict[str, Any]:
        valid_id(room_id, "room")
        room = await self.rooms.room(room_id)
        asked, count = await self.store.reminders(room_id, who.id if who else None)
        followers = await self.store.followers(room.host_id)
        following = await self.store.follows(room.host_id, who.id) if who else None
        return {
            "reminded": asked if who else None,
            "reminders": count,
            "followers": followers,
            "following": following,
        }

    async def calendar(self, room_id: str) -> tuple[Room, bytes]:
        valid_id(room_id, "room")
        room = await self.rooms.room(room_id)
        return room, calendar(room, self.base_url, self.now_ms())

    async def audience(
        self, who: Identity, room_id: str, cursor: str | None, limit: int, *, admin: bool
    ) -> dict[str, Any]:
        """A page of who the merchant may notify of the show: host or operator only."""
        valid_id(room_id, "room")
        room = await self.rooms.room(room_id)
        if who.id != room.host_id and not admin:
            raise Forbidden("only the show's host may read its audience")
        ids, after = await self.store.audience(
            room.host_id, room_id, AudienceCursor.parse(cursor), min(limit, AUDIENCE_PAGE_MAX)
        )
        names = await self.store.names(ids)
        followers, reminders = await self.store.counts(room.host_id, room_id)
        return {
            "people": [{"id": i, "name": n} for i, n in zip(ids, names, strict=True)],
            "next_cursor": None if after is None else str(after),
            "followers": followers,
            "reminders": reminders,
        }

    # A person's data -------------------------------------------------------------------

    async def export(self, user_id: str) -> dict[str, Any]:
        following, reminders = await self.store.of_person(user_id)
        return {"following": following, "reminders": reminders}

    async def forget(self, user_id: str) -> None:
        await self.store.forget(user_id)

    # Notices ---------------------------------------------------------------------------

    async def room_changed(self, room: Room) -> None:
        """A show was created or went live: queue what the merchant will hear of it."""
        if room.state is RoomState.LIVE:
            await self.store.schedule(notice_member(room.id, Notice.LIVE), self.now_ms())
            return
        due = reminder_due(room, self.lead_ms)
        if due is not None:
            await self.store.schedule(notice_member(room.id, Notice.REMINDER), due)

    async def tick(self) -> int:
        """Send the notices due now; how many were claimed."""
        now = self.now_ms()
        claimed = await self.store.claim(now, LEASE_MS, BATCH)
        for member in claimed:
            try:
                await self._notice(member, now)
            except LiveCommerceError as exc:  # left leased: tried again when it runs out
                log.warning("show notice %s not sent: %s", member, exc.code)
        return len(claimed)

    async def _notice(self, member: str, now: int) -> None:
        parsed = parse_notice_member(member)
        if parsed is None:
            await self.store.drop(member)
            return
        room_id, notice = parsed
        try:
            room = await self.rooms.room(room_id)
        except NotFound:
            await self.store.drop(member)
            return
        verdict = should_send(notice, room, now, self.lead_ms)
        if verdict is False:
            await self.store.drop(member)
            return
        if verdict is not True:
            await self.store.schedule(member, int(verdict))
            return
        followers, reminders = await self.store.counts(room.host_id, room.id)
        event = WebhookEvent(
            notice_event_id(room.id, notice),
            EventType(notice.event_type),
            now,
            notice_payload(notice, room, self.base_url, followers, reminders),
        )
        queued = await self.webhooks.enqueue(
            room.host_id, event, now, settle=(keys.show_notices(), member)
        )
        if queued and self.on_queued is not None:
            self.on_queued()


def _card(room: Room) -> dict[str, Any]:
    return {
        "id": room.id,
        "title": room.title,
        "state": str(room.state),
        "scheduled_at": room.scheduled_at,
        "started_at": room.started_at,
        "ended_at": room.ended_at,
    }


def _plausible(room_id: str) -> bool:
    try:
        valid_id(room_id, "room")
    except NotFound:
        return False
    return True
