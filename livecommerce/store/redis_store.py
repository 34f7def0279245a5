"""The Redis (or Valkey) store: accounts and each room's ordered event history.

Every method is one round trip or one script, so nothing is ever half written: a chat line,
its rate check and its place in the room's order happen in one script. A lost connection
surfaces as ``Unavailable``. Rooms themselves are ``rooms/store.py``'s, on the same client.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

import msgpack
import orjson
from redis import exceptions as redis_errors
from redis.asyncio import BlockingConnectionPool, Redis

from livecommerce.accounts.privacy import anonymise, authors
from livecommerce.errors import Conflict, NotFound, Unavailable
from livecommerce.events import Event, Outgoing, RoomEvent
from livecommerce.rooms.rules import Room, room_from_hash
from livecommerce.runtime.batching import Batcher
from livecommerce.selling.rules import sale_from_hash, welcome_sales
from livecommerce.store import keys
from livecommerce.store.scripts import Scripts

P = ParamSpec("P")
T = TypeVar("T")

STORE_DOWN = (redis_errors.ConnectionError, redis_errors.TimeoutError, ConnectionError, OSError)
RETRY_AFTER_S = 2.0
MAX_CONNECTIONS = 64
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


def pack_event(event: Mapping[str, Any]) -> bytes:
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

    # Events --------------------------------------------------------------------------

    @guarded
    async def publish(self, room_id: str, event: RoomEvent) -> int:
        seq = await self.scripts.room_publish(
            keys=[keys.room_seq(room_id), keys.room_events(room_id)],
            args=[keys.room_channel(room_id), self.stream_max_len, pack_event(event)],
        )
        return int(seq)

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
    async def publish_ephemeral(self, room_id: str, event: Outgoing | Event) -> None:
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
    async def current_seq(self, room_id: str) -> int:
        return int(await self.client.get(keys.room_seq(room_id)) or 0)


async def _false() -> bool:
    return False
