"""The Redis (or Valkey) store: accounts, rooms and each room's ordered event history.

Every method is one round trip or one script, so nothing is ever half written: a room's
state change and the event announcing it happen in one script; a chat line, its rate check
and its place in the room's order likewise. A lost connection surfaces as ``Unavailable``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

import msgpack
import orjson
from redis import exceptions as redis_errors
from redis.asyncio import BlockingConnectionPool, Redis

from livecommerce.accounts.privacy import anonymise, authors
from livecommerce.errors import Conflict, NotFound, RoomNotLive, Unavailable
from livecommerce.rooms.rules import Room, RoomState, room_from_hash, room_to_hash
from livecommerce.runtime.batching import Batcher
from livecommerce.selling.rules import sale_from_hash, welcome_sales
from livecommerce.store import keys
from livecommerce.store.scripts import Scripts

P = ParamSpec("P")
T = TypeVar("T")
Event = dict[str, Any]

STORE_DOWN = (redis_errors.ConnectionError, redis_errors.TimeoutError, ConnectionError, OSError)
RETRY_AFTER_S = 2.0
MAX_CONNECTIONS = 64
END_ATTEMPTS = 5
POOL_WAIT_S = 10.0


def guarded(method: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """Turn a lost or refused Redis connection into ``Unavailable`` for the edges."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(*args, **kwargs)
        except redis_errors.BusyLoadingError:
            raise Unavailable("the store is loading its data", retry_after=RETRY_AFTER_S) from None
        except STORE_DOWN:
            raise Unavailable("the store cannot be reached", retry_after=RETRY_AFTER_S) from None

    return wrapper


def pack_event(event: Event) -> bytes:
    return msgpack.packb(event, use_bin_type=True)  # type: ignore[no-any-return]


def unpack_event(data: bytes) -> Event:
    event: Event = msgpack.unpackb(data, raw=False)
    return event


def parse_envelope(data: bytes) -> tuple[int | None, Event]:
    """A pub/sub message is ``<seq>|<payload>``, or ``|<payload>`` for an ephemeral event."""
    head, _, payload = data.partition(b"|")
    event = unpack_event(payload)
    if head:
        seq = int(head)
        event["seq"] = seq
        return seq, event
    return None, event


@dataclass(frozen=True, slots=True)
class Snapshot:
    seq: int
    room: Room
    recent: list[Event]
    pinned: dict[str, Any] | None = None
    sales: list[dict[str, Any]] = field(default_factory=list)
    pinned_chat: dict[str, Any] | None = None


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _strings(raw: dict[Any, Any]) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in raw.items()}


def _entry_event(entry_id: Any, fields: Any) -> Event:
    event = unpack_event(fields[b"d"])
    event["seq"] = int(_text(entry_id).split("-", 1)[0])
    return event


class Store:
    def __init__(self, client: Redis, *, stream_max_len: int = 10_000) -> None:
        self.client = client
        self.scripts = Scripts(client)
        self.stream_max_len = stream_max_len
        # Every signed-in join and request asks; a crowd arriving at once asks together.
        self._deleted_checks: Batcher[str, str, bool] = Batcher(self._deleted_batch, max_batch=512)
        self._revoked_checks: Batcher[str, str, bool] = Batcher(self._revoked_batch, max_batch=512)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Store:
        # A rush puts thousands of commands in flight at once: they wait for one of a bounded
        # set of connections (redis-py's default pool refuses the 101st instead).
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=MAX_CONNECTIONS,
            timeout=POOL_WAIT_S,
            socket_timeout=5,
            socket_connect_timeout=2,
            health_check_interval=10,
            decode_responses=False,
        )
        return cls(Redis(connection_pool=pool), **kwargs)

    async def close(self) -> None:
        await self.client.aclose()
        await self.client.connection_pool.disconnect()

    @guarded
    async def ping(self) -> bool:
        return bool(await self.client.ping())

    # Accounts ------------------------------------------------------------------------

    @guarded
    async def create_account(self, account: dict[str, str]) -> None:
        flat: list[str] = []
        for name, value in account.items():
            flat += [name, value]
        created = await self.scripts.account_create(
            keys=[keys.accounts_by_username(), keys.account(account["id"])],
            args=[account["username"], account["id"], *flat],
        )
        if not created:
            raise Conflict(f"the username {account['username']!r} is taken")

    @guarded
    async def account_by_username(self, username: str) -> dict[str, str] | None:
        account_id = await self.client.hget(keys.accounts_by_username(), username)
        if account_id is None:
            return None
        return await self._account(_text(account_id))

    @guarded
    async def delete_account(self, account: dict[str, str]) -> bool:
        deleted = await self.scripts.account_delete(
            keys=[
                keys.accounts_by_username(),
                keys.account(account["id"]),
                keys.deleted_accounts(),
            ],
            args=[account["username"], account["id"]],
        )
        return bool(deleted)

    @guarded
    async def deleted_among(self, user_ids: set[str]) -> set[str]:
        """Which of these people deleted their accounts (one round trip)."""
        if not user_ids:
            return set()
        ids = sorted(user_ids)
        flags = await self.client.smismember(keys.deleted_accounts(), ids)
        return {i for i, flag in zip(ids, flags, strict=True) if flag}

    @guarded
    async def is_deleted(self, user_id: str) -> bool:
        """Whether this person deleted their account; concurrent checks share one call."""
        return await self._deleted_checks.submit("", user_id)

    async def _deleted_batch(self, _key: str, user_ids: Sequence[str]) -> list[bool]:
        flags = await self.client.smismember(keys.deleted_accounts(), list(user_ids))
        return [bool(flag) for flag in flags]

    async def refusal(self, user_id: str, session: str | None) -> str | None:
        """Why a valid token no longer works (its account was deleted, it was signed out),
        or None. Both are asked at once: one round trip's wait per request or join."""
        deleted, revoked = await asyncio.gather(
            self.is_deleted(user_id), self.is_revoked(session) if session else _false()
        )
        if deleted:
            return "this account has been deleted"
        return "this token was signed out" if revoked else None

    @guarded
    async def revoke_session(self, session: str, until_ms: int) -> None:
        """Sign a token's session out: kept until the token expires, and told to every
        process at once, which closes the sockets that hold it."""
        pipe = self.client.pipeline(transaction=True)
        pipe.set(keys.revoked_session(session), b"1", pxat=until_ms)
        pipe.publish(keys.revocations_channel(), session)
        await pipe.execute()

    @guarded
    async def is_revoked(self, session: str) -> bool:
        """Whether this session was signed out; concurrent checks share one call."""
        return await self._revoked_checks.submit("", session)

    @guarded
    async def revoked_among(self, sessions: set[str]) -> set[str]:
        """Which of these sessions were signed out (one round trip)."""
        ordered = sorted(sessions)
        found = await self._revoked_batch("", ordered)
        return {s for s, gone in zip(ordered, found, strict=True) if gone}

    async def _revoked_batch(self, _key: str, sessions: Sequence[str]) -> list[bool]:
        if not sessions:
            return []
        found = await self.client.mget([keys.revoked_session(s) for s in sessions])
        return [value is not None for value in found]

    async def anonymised(self, events: list[Event]) -> list[Event]:
        """The events with lines by deleted accounts shown as by nobody (privacy.py)."""
        return anonymise(events, await self.deleted_among(authors(events)))

    @guarded
    async def account(self, account_id: str) -> dict[str, str] | None:
        return await self._account(account_id)

    async def _account(self, account_id: str) -> dict[str, str] | None:
        raw = await self.client.hgetall(keys.account(account_id))
        return _strings(raw) or None

    # Rooms ---------------------------------------------------------------------------

    @guarded
    async def create_room(self, room: Room) -> None:
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.hset(keys.room(room.id), mapping=room_to_hash(room))  # type: ignore[arg-type]
            pipe.zadd(
                keys.rooms_index(str(room.state)), {room.id: room.scheduled_at or room.created_at}
            )
            pipe.zadd(keys.rooms_by_host(room.host_id), {room.id: room.created_at})
            await pipe.execute()

    @guarded
    async def room(self, room_id: str) -> Room:
        raw = await self.client.hgetall(keys.room(room_id))
        if not raw:
            raise NotFound(f"room {room_id} does not exist")
        return room_from_hash(_strings(raw))

    @guarded
    async def rooms(self, ids: list[str]) -> list[Room]:
        async with self.client.pipeline(transaction=False) as pipe:
            for room_id in ids:
                pipe.hgetall(keys.room(room_id))
            results = await pipe.execute()
        return [room_from_hash(_strings(raw)) for raw in results if raw]

    @guarded
    async def room_ids(self, state: RoomState | None, host_id: str | None, limit: int) -> list[str]:
        """Newest first, except upcoming rooms, which come soonest first."""
        if host_id:
            ids = await self.client.zrevrange(keys.rooms_by_host(host_id), 0, limit - 1)
        elif state is RoomState.SCHEDULED:
            ids = await self.client.zrange(keys.rooms_index(str(state)), 0, limit - 1)
        else:
            ids = await self.client.zrevrange(keys.rooms_index(str(state)), 0, limit - 1)
        return [_text(i) for i in ids]

    @guarded
    async def transition_room(
        self, room: Room, to: RoomState, now: int, event: Event
    ) -> tuple[Room, int]:
        """Apply ``room.transition(to)`` in Redis iff the stored state is still ``room.state``.

        Ending a show is ``end_room``: it stops the show's sales in the same step."""
        if to is RoomState.ENDED:
            raise ValueError("end a room with end_room, which ends its sales with it")
        moved = room.transition(to, now)
        field = "started_at" if to is RoomState.LIVE else "ended_at"
        status, value = await self.scripts.room_transition(
            keys=[keys.room(room.id), keys.room_seq(room.id), keys.room_events(room.id)],
            args=[
                keys.room_channel(room.id),
                self.stream_max_len,
                str(room.state),
                str(to),
                field,
                now,
                pack_event(event),
            ],
        )
        if status == -1:
            raise NotFound(f"room {room.id} does not exist")
        if status == 0:
            raise Conflict(f"the room is {_text(value)}; it cannot become {to}")
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.zrem(keys.rooms_index(str(room.state)), room.id)
            pipe.zadd(keys.rooms_index(str(to)), {room.id: now})
            await pipe.execute()
        return moved, int(value)

    @guarded
    async def end_room(self, room: Room, now: int, event: Event) -> tuple[Room, int, list[str]]:
        """End the show and stop its running sales in one script; (room, seq, stopped sales).

        The script is told how many sales the room had when their states were read here; a
        sale started in between makes it refuse, and the read is done again.
        """
        moved = room.transition(RoomState.ENDED, now)
        for _attempt in range(END_ATTEMPTS):
            sale_ids = [_text(i) for i in await self.client.zrange(keys.room_sales(room.id), 0, -1)]
            async with self.client.pipeline(transaction=False) as pipe:
                for sale_id in sale_ids:
                    pipe.hget(keys.sale(room.id, sale_id)[0], "state")
                states = await pipe.execute()
            running = [i for i, state in zip(sale_ids, states, strict=True) if state == b"active"]
            ended_events = [
                pack_event({"type": "sale.ended", "sale_id": i, "reason": "stopped"})
                for i in running
            ]
            raw = await self.scripts.room_end(
                keys=[
                    keys.room(room.id),
                    keys.room_seq(room.id),
                    keys.room_events(room.id),
                    keys.room_sales(room.id),
                    *(keys.sale(room.id, i)[0] for i in running),
                ],
                args=[
                    keys.room_channel(room.id),
                    self.stream_max_len,
                    str(room.state),
                    now,
                    pack_event(event),
                    len(sale_ids),
                    *ended_events,
                ],
            )
            status = int(raw[0])
            if status == -2:
                continue
            if status == -1:
                raise NotFound(f"room {room.id} does not exist")
            if status == 0:
                raise Conflict(f"the room is {_text(raw[1])}; it cannot become ended")
            stopped = [_text(i) for i in raw[2:]]
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.zrem(keys.rooms_index(str(room.state)), room.id)
                pipe.zadd(keys.rooms_index(str(RoomState.ENDED)), {room.id: now})
                if stopped:  # due now: the ticker reaps their holds and frees their products
                    pipe.zadd(keys.active_sales(), {f"{room.id} {i}": now for i in stopped})
                await pipe.execute()
            return moved, int(raw[1]), stopped
        raise Unavailable("sales kept starting while the show ended; try again", retry_after=1)

    # Events --------------------------------------------------------------------------

    @guarded
    async def publish(self, room_id: str, event: Event) -> int:
        seq = await self.scripts.room_publish(
            keys=[keys.room_seq(room_id), keys.room_events(room_id)],
            args=[keys.room_channel(room_id), self.stream_max_len, pack_event(event)],
        )
        return int(seq)

    @guarded
    async def set_room_field(self, room_id: str, name: str, value: str) -> None:
        await self.client.hset(keys.room(room_id), name, value)

    @guarded
    async def is_admin(self, user_id: str) -> bool:
        return bool(await self.client.sismember(keys.admins(), user_id))

    @guarded
    async def admins(self) -> set[str]:
        return {_text(m) for m in await self.client.smembers(keys.admins())}

    @guarded
    async def set_admin(self, user_id: str, admin: bool) -> None:
        if admin:
            await self.client.sadd(keys.admins(), user_id)
        else:
            await self.client.srem(keys.admins(), user_id)

    @guarded
    async def publish_ephemeral(self, room_id: str, event: Event) -> None:
        await self.client.publish(keys.room_channel(room_id), b"|" + pack_event(event))

    @guarded
    async def snapshot(self, room_id: str, recent: int = 300) -> Snapshot:
        """The room, its last seq and its most recent events, read atomically."""
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.get(keys.room_seq(room_id))
            pipe.hgetall(keys.room(room_id))
            pipe.xrevrange(keys.room_events(room_id), count=recent)
            pipe.zrevrange(keys.room_sales(room_id), 0, 9)
            seq_raw, room_raw, entries, sale_ids = await pipe.execute()
        if not room_raw:
            raise NotFound(f"room {room_id} does not exist")
        room_fields = _strings(room_raw)
        room = room_from_hash(room_fields)
        events = [_entry_event(entry_id, fields) for entry_id, fields in reversed(entries)]
        pinned = orjson.loads(room_fields["pinned"]) if room_fields.get("pinned") else None
        sales: list[dict[str, Any]] = []
        if sale_ids:
            # Sales are read after the snapshot: they may run a step ahead of its seq, and
            # clients treat sale events as idempotent by sale id.
            async with self.client.pipeline(transaction=False) as pipe:
                for sale_id in sale_ids:
                    pipe.hgetall(keys.sale(room_id, _text(sale_id))[0])
                rows = await pipe.execute()
            found = [sale_from_hash(_strings(row)) for row in rows if row]
            pinned_id = pinned.get("id") if isinstance(pinned, dict) else None
            sales = [sale.to_public() for sale in welcome_sales(found, pinned_id)]
        events = await self.anonymised(events)
        pinned_chat = None
        if room_fields.get("pinned_chat"):
            raw = await self.client.hget(keys.room_chat(room_id), room_fields["pinned_chat"])
            if raw is not None:
                head, _, payload = (raw if isinstance(raw, bytes) else raw.encode()).partition(b"|")
                line = unpack_event(payload)
                pinned_chat = {k: v for k, v in line.items() if k in ("id", "user", "text", "at")}
                pinned_chat["seq"] = int(head)
                pinned_chat = (await self.anonymised([pinned_chat]))[0]
        return Snapshot(int(seq_raw or 0), room, events, pinned, sales, pinned_chat)

    @guarded
    async def events_after(
        self, room_id: str, since: int, until: int | None = None
    ) -> list[Event] | None:
        """Events with ``since < seq <= until`` in order, or None when some are gone."""
        if until is not None and until <= since:
            return []
        end = f"{until}-1" if until is not None else "+"
        entries = await self.client.xrange(keys.room_events(room_id), min=f"{since + 1}-0", max=end)
        events = [_entry_event(entry_id, fields) for entry_id, fields in entries or []]
        expected_first = since + 1
        if events and events[0]["seq"] != expected_first:
            return None
        if not events and since > 0:
            # Either nothing happened since, or the history was trimmed past it.
            current = int(await self.client.get(keys.room_seq(room_id)) or 0)
            if current > since:
                return None
        return events

    @guarded
    async def pin(self, room_id: str, event: Event) -> int:
        """Pin (``product.pinned``) or unpin (``product.unpinned``); the event's seq."""
        card = orjson.dumps(event["product"]).decode() if "product" in event else ""
        status, value = await self.scripts.room_pin(
            keys=[
                keys.room(room_id),
                keys.room_pins(room_id),
                keys.room_seq(room_id),
                keys.room_events(room_id),
            ],
            args=[
                card,
                event["at"],
                keys.room_channel(room_id),
                self.stream_max_len,
                pack_event(event),
            ],
        )
        if int(status) == 1:
            return int(value)
        reason = _text(value)
        if reason == "not_found":
            raise NotFound(f"room {room_id} does not exist")
        if reason == "room_ended":
            raise RoomNotLive("the room has ended")
        raise Conflict("nothing is pinned")

    @guarded
    async def current_seq(self, room_id: str) -> int:
        return int(await self.client.get(keys.room_seq(room_id)) or 0)

    @guarded
    async def report_viewers(
        self, room_id: str, process_id: str, count: int, now: int, ttl_ms: int
    ) -> int:
        total = await self.scripts.room_viewers(
            keys=[keys.room_viewers(room_id)], args=[process_id, count, now, ttl_ms]
        )
        return int(total)


async def _false() -> bool:
    return False
