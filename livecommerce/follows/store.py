"""Followers, reminders and show notices in Redis.

Keys (built in store/keys.py)::

    lc:{c:<creator>}:followers   set    who follows the creator: the count is its SCARD
    lc:{u:<user>}:following      set    whom a person follows: their list and export
    lc:{r:<room>}:reminders      set    who asked to be reminded of the show
    lc:{u:<user>}:reminders      set    the shows a person asked to be reminded of
    lc:shows:notices             zset   '<room> <reminder|live>' by when it is due (ms)

A follow writes two sets in two slots (the creator's and the person's), so no script can
make them one step on a cluster. The creator's set is the truth: counts, giveaways and the
audience read it alone, and a person's own list is checked against it when read (an entry
the creator's set lacks, after a race or a deleted creator, is dropped then). Toggles are
idempotent (SADD, SREM), so concurrent ones from any processes leave an exact count.

Notices are leased like webhook deliveries (``webhook_claim.lua``): the process that claims
one moves its score forward, and settles it by removing it once the webhook deliveries are
queued (``WebhookStore.enqueue``'s ``settle``, safe to repeat after a crash in between).
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from livecommerce.follows.rules import AudienceCursor
from livecommerce.store import keys
from livecommerce.store.connection import as_text, guarded
from livecommerce.store.scripts import register


class FollowStore:
    def __init__(self, client: Redis) -> None:
        self.client = client
        self._claim: AsyncScript = register(client, "webhook_claim")

    # Follows ---------------------------------------------------------------------------

    @guarded
    async def follow(self, creator_id: str, user_id: str) -> tuple[bool, int]:
        """(whether this made them a follower, the creator's followers now)."""
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.sadd(keys.followers(creator_id), user_id)
            pipe.sadd(keys.following(user_id), creator_id)
            pipe.scard(keys.followers(creator_id))
            added, _, count = await pipe.execute()
        return bool(added), int(count)

    @guarded
    async def unfollow(self, creator_id: str, user_id: str) -> int:
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.srem(keys.followers(creator_id), user_id)
            pipe.srem(keys.following(user_id), creator_id)
            pipe.scard(keys.followers(creator_id))
            _, _, count = await pipe.execute()
        return int(count)

    @guarded
    async def followers(self, creator_id: str) -> int:
        return int(await self.client.scard(keys.followers(creator_id)))

    @guarded
    async def follows(self, creator_id: str, user_id: str) -> bool:
        return bool(await self.client.sismember(keys.followers(creator_id), user_id))

    @guarded
    async def following(self, user_id: str, position: int, count: int) -> tuple[list[str], int]:
        """A page of the creators ``user_id`` follows (SSCAN) and the next position (0: done);
        entries their creator's set does not hold are dropped as they are met."""
        position, raw = await self.client.sscan(keys.following(user_id), position, count=count)
        ids = sorted(as_text(i) for i in raw)
        if not ids:
            return [], int(position)
        async with self.client.pipeline(transaction=False) as pipe:
            for creator_id in ids:
                pipe.sismember(keys.followers(creator_id), user_id)
            held = await pipe.execute()
        stale = [c for c, ok in zip(ids, held, strict=True) if not ok]
        if stale:
            await self.client.srem(keys.following(user_id), *stale)
        return [c for c, ok in zip(ids, held, strict=True) if ok], int(position)

    # Reminders -------------------------------------------------------------------------

    @guarded
    async def remind(self, room_id: str, user_id: str, on: bool) -> int:
        """Ask (``on``) or stop asking to be reminded of the show; how many ask now."""
        async with self.client.pipeline(transaction=False) as pipe:
            if on:
                pipe.sadd(keys.room_reminders(room_id), user_id)
                pipe.sadd(keys.user_reminders(user_id), room_id)
            else:
                pipe.srem(keys.room_reminders(room_id), user_id)
                pipe.srem(keys.user_reminders(user_id), room_id)
            pipe.scard(keys.room_reminders(room_id))
            *_, count = await pipe.execute()
        return int(count)

    @guarded
    async def reminders(self, room_id: str, user_id: str | None) -> tuple[bool, int]:
        """(whether ``user_id`` asked to be reminded, how many did)."""
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.sismember(keys.room_reminders(room_id), user_id or "")
            pipe.scard(keys.room_reminders(room_id))
            asked, count = await pipe.execute()
        return bool(asked) and user_id is not None, int(count)

    @guarded
    async def counts(self, creator_id: str, room_id: str) -> tuple[int, int]:
        """(the creator's followers, the show's reminders)."""
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.scard(keys.followers(creator_id))
            pipe.scard(keys.room_reminders(room_id))
            followers, reminders = await pipe.execute()
        return int(followers), int(reminders)

    @guarded
    async def audience(
        self, creator_id: str, room_id: str, cursor: AudienceCursor, count: int
    ) -> tuple[list[str], AudienceCursor | None]:
        """One page of the show's audience and where the next starts (None: the end).

        Followers first, then who asked to be reminded and does not follow, so each person
        comes once. A page may be short, even empty, with more to come: SSCAN's ``count`` is
        a hint, and reminders of followers are left out.
        """
        if cursor.phase == "f":
            position, raw = await self.client.sscan(
                keys.followers(creator_id), cursor.position, count=count
            )
            ids = sorted({as_text(i) for i in raw})
            following = AudienceCursor("f", int(position)) if position else AudienceCursor("r")
            return ids, following
        position, raw = await self.client.sscan(
            keys.room_reminders(room_id), cursor.position, count=count
        )
        ids = sorted({as_text(i) for i in raw})
        if ids:
            follows = await self.client.smismember(keys.followers(creator_id), ids)
            ids = [i for i, f in zip(ids, follows, strict=True) if not f]
        return ids, AudienceCursor("r", int(position)) if position else None

    @guarded
    async def names(self, user_ids: list[str]) -> list[str | None]:
        """Each person's display name as their account has it (None: no account here, as a
        merchant's own users, whose names the merchant knows)."""
        async with self.client.pipeline(transaction=False) as pipe:
            for user_id in user_ids:
                pipe.hget(keys.account(user_id), "display_name")
            found = await pipe.execute()
        return [None if n is None else as_text(n) for n in found]

    # A person's data -------------------------------------------------------------------

    @guarded
    async def of_person(self, user_id: str) -> tuple[list[str], list[str]]:
        """(the creators they follow, the shows they asked to be reminded of), sorted."""
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.smembers(keys.following(user_id))
            pipe.smembers(keys.user_reminders(user_id))
            following, reminders = await pipe.execute()
        return sorted(as_text(c) for c in following), sorted(as_text(r) for r in reminders)

    @guarded
    async def forget(self, user_id: str) -> None:
        """Take the person out of every creator's followers and every show's reminders, and
        drop their own lists and followers."""
        following, reminders = await self.of_person(user_id)
        async with self.client.pipeline(transaction=False) as pipe:
            for creator_id in following:
                pipe.srem(keys.followers(creator_id), user_id)
            for room_id in reminders:
                pipe.srem(keys.room_reminders(room_id), user_id)
            pipe.delete(keys.following(user_id), keys.user_reminders(user_id))
            pipe.delete(keys.followers(user_id))
            await pipe.execute()

    # Notices ---------------------------------------------------------------------------

    @guarded
    async def schedule(self, member: str, due_ms: int) -> None:
        await self.client.zadd(keys.show_notices(), {member: due_ms})

    @guarded
    async def claim(self, now_ms: int, lease_ms: int, count: int) -> list[str]:
        ids = await self._claim(keys=[keys.show_notices()], args=[now_ms, lease_ms, count])
        return [as_text(i) for i in ids]

    @guarded
    async def drop(self, member: str) -> None:
        await self.client.zrem(keys.show_notices(), member)

    @guarded
    async def pending(self) -> dict[str, int]:
        """Notices not yet sent or dropped, by when they are due."""
        raw = await self.client.zrange(keys.show_notices(), 0, -1, withscores=True)
        return {as_text(pair[0]): int(pair[1]) for pair in raw}
