"""The moderation desk: tools, reports and the word screen, for the socket and HTTP alike.

Every tool use reads the room afresh from the store and checks the actor's rights there, so
removing a moderator ends their rights on every process at the next thing they try. What a
tool changes, the room event it causes and its audit entry are written in one script.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from livecommerce.accounts.auth import Identity
from livecommerce.accounts.store import AccountStore
from livecommerce.errors import BlockedWord, Forbidden, Unauthorized
from livecommerce.events import (
    ChatDeleted,
    ChatPinned,
    ChatUnpinned,
    Event,
    Moderated,
    ReportCreated,
    RoomSlow,
)
from livecommerce.events import ModAction as ModActionEvent
from livecommerce.moderation.rules import (
    ModAction,
    ModRequest,
    ReportRequest,
    audit_entry,
    check_rights,
)
from livecommerce.moderation.store import ModerationStore
from livecommerce.moderation.wordlist import WordList
from livecommerce.rooms.rules import Role, Room
from livecommerce.rooms.store import RoomStore
from livecommerce.runtime import metrics
from livecommerce.runtime.ids import Ids
from livecommerce.store.history import Store
from livecommerce.store.limits import Limit, Limiter

log = logging.getLogger("livecommerce.moderators")

WORDS_CACHE_S = 2.0
REPORT_LIMIT = Limit("reports", 5, 5)  # a handful a minute: real reports, not a flood


def _line(message: Event) -> Event:
    """A chat line as tools and reports show it."""
    return {k: message[k] for k in ("id", "user", "text", "at", "seq") if k in message}


class Moderators:
    def __init__(
        self,
        store: Store,
        moderation: ModerationStore,
        limiter: Limiter,
        *,
        rooms: RoomStore,
        accounts: AccountStore,
        clock: Callable[[], float] = time.time,
        report_limit: Limit = REPORT_LIMIT,
        ids: Ids | None = None,
    ) -> None:
        self.ids = ids or Ids()
        self.store = store
        self.rooms = rooms
        self.accounts = accounts
        self.moderation = moderation
        self.limiter = limiter
        self.report_limit = report_limit
        self.clock = clock
        self._words: dict[str, tuple[float, WordList]] = {}

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def is_admin(self, user_id: str) -> bool:
        return await self.accounts.is_admin(user_id)

    async def room_for(self, who: Identity | None, room_id: str) -> Room:
        """The room as stored now, if ``who`` moderates it (host, moderator or operator)."""
        if who is None:
            raise Unauthorized("sign in first")
        room = await self.rooms.room(room_id)
        if room.role_of(who.id) not in (Role.HOST, Role.MODERATOR) and not await self.is_admin(
            who.id
        ):
            raise Forbidden("only the room's host or a moderator may see this")
        return room

    # Tools -----------------------------------------------------------------------------

    async def act(self, who: Identity | None, room_id: str, request: ModRequest) -> Event:
        """Use one tool; what the actor's acknowledgement carries."""
        if who is None:
            raise Unauthorized("sign in first")
        room = await self.rooms.room(room_id)
        check_rights(room, who.id, request, admin=await self.is_admin(who.id))
        now = self.now_ms()
        actor = {"id": who.id, "name": who.name}
        action = request.action
        event: ChatDeleted | ChatPinned | ChatUnpinned | RoomSlow | None = None
        note: Moderated | None = None
        value = 0
        details: Event = {}
        if action in (ModAction.DELETE, ModAction.PIN_CHAT):
            line = _line(await self.moderation.message(room.id, request.message_id))
            details = {"message": line}
            if action is ModAction.DELETE:
                event = ChatDeleted(type="chat.deleted", id=request.message_id)
            else:
                event = ChatPinned(type="chat.pinned", message=line, at=now)
        elif action is ModAction.UNPIN_CHAT:
            event = ChatUnpinned(type="chat.unpinned", at=now)
        elif action is ModAction.TIMEOUT:
            value = now + request.seconds * 1000
            details = {"until": value}
            note = Moderated(type="moderated", to=request.user_id, action="timeout",
                             until=value, reason=request.reason)  # fmt: skip
        elif action in (ModAction.BAN, ModAction.UNBAN, ModAction.UNTIMEOUT):
            note = Moderated(type="moderated", to=request.user_id,
                             action=action.value.removeprefix("mod."),
                             reason=request.reason)  # fmt: skip
        elif action is ModAction.SLOW:
            value = request.seconds
            event = RoomSlow(type="room.slow", seconds=request.seconds, at=now)
        elif action is ModAction.WORDS:
            words = WordList.parse(request.words)
            await self.moderation.set_words(room.id, list(words.entries))
            self._words[room.id] = (time.monotonic(), words)
            details = {"count": len(words.entries)}
        elif action is ModAction.RESOLVE:
            report = await self.moderation.resolve_report(
                room.id,
                request.report_id,
                {"resolved_by": actor, "resolved_at": now, "resolution": request.reason},
            )
            details = {"report": {"id": report["id"], "reason": report["reason"]}}
        audit = audit_entry(actor, request, now, **details)
        if request.user_id:
            account = await self.accounts.account(request.user_id)
            if account is not None:
                audit["target"]["name"] = account["display_name"]
        seq = await self.moderation.apply(
            room.id, request, audit, value=value, event=event, note=note
        )
        # The other consoles hear of it at once (bans, time-outs and the word list have no
        # room event of their own).
        for person in {room.host_id, *room.moderators} - {who.id}:
            await self.store.publish_ephemeral(
                room.id, ModActionEvent(type="mod.action", to=person, entry=audit)
            )
        metrics.MOD_ACTIONS.labels(action.value).inc()
        log.info(
            "moderation",
            extra={"room": room.id, "action": action.value, "actor": who.id,
                   "target": request.user_id or request.message_id or request.report_id},
        )  # fmt: skip
        ack: Event = {"action": action.value}
        if seq:
            ack["seq"] = seq
        if action is ModAction.TIMEOUT:
            ack["until"] = value
        return ack

    # Reports ---------------------------------------------------------------------------

    async def report(self, who: Identity | None, room_id: str, request: ReportRequest) -> Event:
        """File a report on a chat line; the host and moderators hear of it at once."""
        if who is None:
            raise Unauthorized("sign in to report")
        room = await self.rooms.room(room_id)
        await self.limiter.check(self.report_limit, f"{room.id}|{who.id}")
        line = _line(await self.moderation.message(room.id, request.message_id))
        report: Event = {
            "id": self.ids.report(),
            "room_id": room.id,
            "at": self.now_ms(),
            "reporter": {"id": who.id, "name": who.name},
            "message": line,
            "reason": request.reason.value,
            "note": request.note,
            "state": "open",
        }
        await self.moderation.add_report(room.id, report)
        metrics.REPORTS.labels(request.reason.value).inc()
        for person in (room.host_id, *room.moderators):
            await self.store.publish_ephemeral(
                room.id, ReportCreated(type="report.created", to=person, report=report)
            )
        return report

    # The word screen -------------------------------------------------------------------

    async def screen(self, room_id: str, text: str) -> None:
        """Refuse a chat line with a blocked word; the list is cached for a moment."""
        cached = self._words.get(room_id)
        if cached is None or time.monotonic() - cached[0] > WORDS_CACHE_S:
            words = WordList.parse(await self.moderation.words(room_id))
            cached = self._words[room_id] = (time.monotonic(), words)
        if cached[1].find(text) is not None:
            metrics.BLOCKED_MESSAGES.inc()
            raise BlockedWord("your message was not posted: it contains a blocked word")
