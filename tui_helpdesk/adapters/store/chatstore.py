"""SQL for the chatbot integration, on one :class:`~.repository.Tx`.

``ChatTx(tx)`` reads and writes the tables of :mod:`.tables_chat` inside the
caller's transaction, so a ticket, its link to the conversation and the poll
cursor can be committed together. Rows are mapped to the small frozen
dataclasses of :mod:`tui_helpdesk.domain.conversations` and
:mod:`tui_helpdesk.domain.outbox`; services and the UI never see a row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, case, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from ...domain.clock import naive_utc
from ...domain.conversations import ChatLine, ConversationInfo, PollStatus
from ...domain.outbox import ChatOutboxItem
from .repository import Tx
from .tables import REQUESTER as REQ
from .tables_chat import CHAT_CONVERSATION as CONV
from .tables_chat import CHAT_CURSOR as CURSOR
from .tables_chat import CHAT_LINK as LINK
from .tables_chat import CHAT_OUTBOX as OUTBOX

C = CONV.c
O = OUTBOX.c

TRANSCRIPT_CACHE = 30  # messages kept per conversation for the preview
_ERROR_CHARS = 500


def naive(at: datetime | None) -> datetime | None:
    """Aware datetimes (from the client) as naive UTC, the store's convention."""
    return None if at is None else naive_utc(at)


class LinkExists(Exception):
    """Another transaction linked this conversation's episode to a ticket first."""


def _line(item: object) -> ChatLine | None:
    if not isinstance(item, dict):
        return None
    at = item.get("at")
    try:
        when = datetime.fromisoformat(at) if isinstance(at, str) else None
    except ValueError:
        when = None
    text = item.get("text")
    role = item.get("role")
    ident = item.get("id")
    author = item.get("author")
    return ChatLine(
        id=ident if isinstance(ident, str) else None,
        role=role if isinstance(role, str) else "user",
        text=text if isinstance(text, str) else "",
        at=when,
        author=author if isinstance(author, str) else None,
    )


def line_json(line: ChatLine) -> dict:
    return {"id": line.id, "role": line.role, "text": line.text,
            "at": line.at.isoformat() if line.at else None, "author": line.author}


def _conv(r) -> ConversationInfo:
    lines = tuple(x for x in (_line(i) for i in (r.transcript or [])) if x is not None)
    return ConversationInfo(
        desk_id=r.desk_id, id=r.conversation_id, state=r.state, channel=r.channel, user_id=r.user_id,
        user_name=r.user_name, user_email=r.user_email, language=r.language, ai_paused=r.ai_paused,
        escalation_reason=r.escalation_reason, created_at=r.created_at, updated_at=r.updated_at,
        last_role=r.last_role, last_text=r.last_text, last_at=r.last_at, transcript=lines, ticket_id=r.ticket_id,
        handled=r.handled, episode=r.episode, synced_message_id=r.synced_message_id,
        synced_updated_at=r.synced_updated_at, synced_entry_id=r.synced_entry_id, attempts=r.attempts,
        next_attempt_at=r.next_attempt_at, last_error=r.last_error, seen_at=r.seen_at,
    )


def _outbox(r) -> ChatOutboxItem:
    return ChatOutboxItem(
        id=r.id, desk_id=r.desk_id, ticket_id=r.ticket_id, entry_id=r.entry_id, part=r.part,
        conversation_id=r.conversation_id,
        text=r.text, agent_name=r.agent_name, idempotency_key=r.idempotency_key, status=r.status,
        attempts=r.attempts, next_attempt_at=r.next_attempt_at, last_error=r.last_error, reported=r.reported,
        message_id=r.message_id,
    )


class ChatTx:
    """The chat tables, inside one transaction of the store."""

    def __init__(self, tx: Tx):
        self.tx = tx
        self.conn = tx.conn

    def now(self) -> datetime:
        return self.tx.now()

    # ---------------------------------------------------------- conversations

    async def get(self, desk_id: int, conversation_id: str, *, lock: bool = False) -> ConversationInfo | None:
        """One conversation; with *lock* its row is locked on PostgreSQL (SQLite writers are serial)."""
        stmt = select(CONV).where(C.desk_id == desk_id, C.conversation_id == conversation_id)
        if lock and self.tx.dialect == "postgresql":
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).first()
        return _conv(row) if row else None

    async def upsert(
        self, desk_id: int, *, id: str, state: str, channel: str, user_id: str, user_name: str,
        user_email: str | None, language: str, ai_paused: bool, escalation_reason: str | None,
        created_at: datetime, updated_at: datetime, last: ChatLine | None,
    ) -> tuple[ConversationInfo | None, ConversationInfo]:
        """Record what the platform said about a conversation; returns (before, after).

        A report older than what is stored (the feed delivers at least once,
        and out of order after a replay) does not roll the row back.
        """
        before = await self.get(desk_id, id, lock=True)
        now = self.now()
        values = dict(
            state=state, channel=channel, user_id=user_id, user_name=user_name, user_email=user_email,
            language=language, ai_paused=ai_paused, escalation_reason=escalation_reason,
            created_at=naive(created_at), updated_at=naive(updated_at), seen_at=now,
        )
        if last is not None:
            values.update(last_role=last.role, last_text=last.text, last_at=naive(last.at))
        if before is None:
            lines = [line_json(last)] if last is not None else []
            try:
                async with self.conn.begin_nested():
                    await self.conn.execute(insert(CONV).values(
                        desk_id=desk_id, conversation_id=id, transcript=lines, handled=False, episode=0,
                        synced_entry_id=0, attempts=0, **values,
                    ))
            except IntegrityError:
                before = await self.get(desk_id, id, lock=True)
            else:
                after = await self.get(desk_id, id)
                assert after is not None
                return None, after
        assert before is not None
        if naive(updated_at) < before.updated_at:
            return before, before
        if last is not None:
            values["transcript"] = _append(before.transcript, last)
        await self.conn.execute(
            update(CONV).where(C.desk_id == desk_id, C.conversation_id == id).values(**values)
        )
        after = await self.get(desk_id, id)
        assert after is not None
        return before, after

    async def set_transcript(self, desk_id: int, conversation_id: str, lines: Sequence[ChatLine]) -> None:
        keep = [line_json(x) for x in list(lines)[-TRANSCRIPT_CACHE:]]
        await self._set(desk_id, conversation_id, transcript=keep)

    async def set_state(self, desk_id: int, conversation_id: str, **values) -> None:
        """Update columns of one conversation row (state, ai_paused, ticket_id, handled, ...)."""
        for key in ("updated_at", "synced_updated_at", "last_at", "next_attempt_at"):
            if key in values:
                values[key] = naive(values[key])
        await self._set(desk_id, conversation_id, **values)

    async def _set(self, desk_id: int, conversation_id: str, **values) -> None:
        await self.conn.execute(
            update(CONV).where(C.desk_id == desk_id, C.conversation_id == conversation_id).values(**values)
        )

    async def work_due(self, desk_id: int, *, limit: int = 20) -> list[ConversationInfo]:
        """Conversations with something to do, whose retry time (if any) has come.

        Escalated and not with a person yet; with a person and changed since
        the ticket was brought up to date; with a person although the
        platform says the bot has it again.
        """
        now = self.now()
        stmt = (
            select(CONV).where(
                C.desk_id == desk_id,
                or_(C.next_attempt_at.is_(None), C.next_attempt_at <= now),
                or_(
                    and_(C.state == "escalated", C.handled.is_(False)),
                    and_(C.handled.is_(True), or_(C.synced_updated_at.is_(None), C.updated_at > C.synced_updated_at)),
                ),
            )
            .order_by(C.updated_at, C.conversation_id)
            .limit(limit)
        )
        return [_conv(r) for r in await self.conn.execute(stmt)]

    async def fail(self, desk_id: int, conversation_id: str, error: str, retry_at: datetime) -> int:
        """Note a failed attempt; returns how many attempts have failed in a row."""
        row = await self.get(desk_id, conversation_id)
        attempts = (row.attempts if row else 0) + 1
        await self._set(desk_id, conversation_id, attempts=attempts, next_attempt_at=naive(retry_at),
                        last_error=error[:_ERROR_CHARS])
        return attempts

    async def succeed(self, desk_id: int, conversation_id: str) -> None:
        await self._set(desk_id, conversation_id, attempts=0, next_attempt_at=None, last_error=None)

    async def lines(self, desk_id: int | None = None, *, ended_since: datetime | None = None,
                    limit: int = 500) -> list[ConversationInfo]:
        """Conversations for the Conversations view: waiting escalations, live ones, then ended ones."""
        stmt = select(CONV)
        if desk_id is not None:
            stmt = stmt.where(C.desk_id == desk_id)
        if ended_since is not None:
            stmt = stmt.where(or_(C.state != "ended", C.updated_at >= ended_since))
        # Escalated and nobody has it yet; then the live ones; then the ended; newest change first in each.
        rank = case((and_(C.state == "escalated", C.handled.is_(False)), 0), (C.state == "ended", 2), else_=1)
        stmt = stmt.order_by(rank, C.updated_at.desc(), C.conversation_id).limit(limit)
        return [_conv(r) for r in await self.conn.execute(stmt)]

    async def count_waiting(self, desk_id: int | None = None) -> int:
        """Live conversations that no person has yet (the Conversations count)."""
        stmt = select(func.count()).select_from(CONV).where(C.state != "ended", C.handled.is_(False))
        if desk_id is not None:
            stmt = stmt.where(C.desk_id == desk_id)
        return (await self.conn.execute(stmt)).scalar_one()

    # ------------------------------------------------------------------ links

    async def link(self, desk_id: int, conversation_id: str, episode: int, ticket_id: int, how: str) -> None:
        """Link *ticket_id* to this episode of the conversation; :class:`LinkExists` if taken."""
        try:
            async with self.conn.begin_nested():
                await self.conn.execute(insert(LINK).values(
                    desk_id=desk_id, conversation_id=conversation_id, episode=episode, ticket_id=ticket_id,
                    how=how, created_at=self.now(),
                ))
        except IntegrityError:
            raise LinkExists(conversation_id) from None

    async def linked_ticket(self, desk_id: int, conversation_id: str, episode: int) -> int | None:
        stmt = select(LINK.c.ticket_id).where(
            LINK.c.desk_id == desk_id, LINK.c.conversation_id == conversation_id, LINK.c.episode == episode)
        return (await self.conn.execute(stmt)).scalar()

    async def links(self, desk_id: int, conversation_id: str) -> list[tuple[int, int, str]]:
        """(episode, ticket id, how) of every hand-off of a conversation, oldest first."""
        stmt = select(LINK.c.episode, LINK.c.ticket_id, LINK.c.how).where(
            LINK.c.desk_id == desk_id, LINK.c.conversation_id == conversation_id).order_by(LINK.c.episode)
        return [(r[0], r[1], r[2]) for r in await self.conn.execute(stmt)]

    async def conversation_of_ticket(self, ticket_id: int) -> ConversationInfo | None:
        row = (await self.conn.execute(
            select(LINK.c.desk_id, LINK.c.conversation_id).where(LINK.c.ticket_id == ticket_id))).first()
        if row is None:
            row = (await self.conn.execute(
                select(C.desk_id, C.conversation_id).where(C.ticket_id == ticket_id).limit(1))).first()
        return await self.get(row[0], row[1]) if row else None

    # ----------------------------------------------------------------- cursor

    async def poll_status(self, desk_id: int) -> PollStatus:
        row = (await self.conn.execute(select(CURSOR).where(CURSOR.c.desk_id == desk_id))).first()
        if row is None:
            return PollStatus(None, None, None, None, None)
        return PollStatus(row.cursor, row.last_ok_at, row.last_error, row.last_error_at, row.retry_at)

    async def _cursor_row(self, desk_id: int) -> None:
        exists = (await self.conn.execute(select(CURSOR.c.desk_id).where(CURSOR.c.desk_id == desk_id))).first()
        if exists is None:
            try:
                async with self.conn.begin_nested():
                    await self.conn.execute(insert(CURSOR).values(desk_id=desk_id))
            except IntegrityError:
                pass

    async def save_cursor(self, desk_id: int, cursor: str | None) -> None:
        await self._cursor_row(desk_id)
        now = self.now()
        await self.conn.execute(update(CURSOR).where(CURSOR.c.desk_id == desk_id).values(
            cursor=cursor, updated_at=now, last_ok_at=now, last_error=None, last_error_at=None, retry_at=None))

    async def poll_failed(self, desk_id: int, error: str, retry_at: datetime | None) -> None:
        await self._cursor_row(desk_id)
        await self.conn.execute(update(CURSOR).where(CURSOR.c.desk_id == desk_id).values(
            last_error=error[:_ERROR_CHARS], last_error_at=self.now(), retry_at=naive(retry_at)))

    async def poll_ok(self, desk_id: int) -> None:
        await self._cursor_row(desk_id)
        await self.conn.execute(update(CURSOR).where(CURSOR.c.desk_id == desk_id).values(
            last_ok_at=self.now(), last_error=None, last_error_at=None, retry_at=None))

    async def forget(self, desk_id: int, reason: str) -> None:
        """Drop what is known of a desk's conversations (its platform was replaced).

        Tickets stay; their links, the conversations, the cursor go, and
        undelivered replies are marked failed with *reason*. The old
        platform's user ids are taken off its customers, so the new
        platform's users (whose ids may repeat them) are not mistaken for them.
        """
        users = select(C.user_id).where(C.desk_id == desk_id, C.user_id != "")
        await self.conn.execute(update(REQ).where(REQ.c.chatbot_user_id.in_(users)).values(chatbot_user_id=None))
        await self.conn.execute(delete(LINK).where(LINK.c.desk_id == desk_id))
        await self.conn.execute(delete(CONV).where(C.desk_id == desk_id))
        await self.conn.execute(delete(CURSOR).where(CURSOR.c.desk_id == desk_id))
        await self.conn.execute(update(OUTBOX).where(O.desk_id == desk_id, O.status == "pending")
                                .values(status="failed", last_error=reason[:_ERROR_CHARS]))

    # ----------------------------------------------------------------- outbox

    async def queue_reply(self, *, desk_id: int, ticket_id: int, entry_id: int, part: int, conversation_id: str,
                          text: str, agent_name: str, idempotency_key: str, status: str = "pending",
                          last_error: str | None = None) -> int:
        now = self.now()
        result = await self.conn.execute(insert(OUTBOX).values(
            desk_id=desk_id, ticket_id=ticket_id, entry_id=entry_id, part=part, conversation_id=conversation_id,
            text=text, last_error=last_error, status=status,
            agent_name=agent_name, idempotency_key=idempotency_key, attempts=0,
            next_attempt_at=now, reported=False, created_at=now,
        ).returning(O.id))
        return result.scalar_one()

    async def due_replies(self, desk_id: int, *, limit: int = 20) -> list[ChatOutboxItem]:
        stmt = (select(OUTBOX).where(O.desk_id == desk_id, O.status == "pending", O.next_attempt_at <= self.now())
                .order_by(O.id).limit(limit))
        return [_outbox(r) for r in await self.conn.execute(stmt)]

    async def reply(self, outbox_id: int) -> ChatOutboxItem | None:
        stmt = select(OUTBOX).where(O.id == outbox_id)
        if self.tx.dialect == "postgresql":  # the row is about to be updated: lock it
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).first()
        return _outbox(row) if row else None

    async def replies(self, *, ticket_id: int | None = None, conversation_id: str | None = None,
                      desk_id: int | None = None) -> list[ChatOutboxItem]:
        stmt = select(OUTBOX)
        if ticket_id is not None:
            stmt = stmt.where(O.ticket_id == ticket_id)
        if conversation_id is not None:
            stmt = stmt.where(O.conversation_id == conversation_id)
        if desk_id is not None:
            stmt = stmt.where(O.desk_id == desk_id)
        return [_outbox(r) for r in await self.conn.execute(stmt.order_by(O.id))]

    async def update_reply(self, outbox_id: int, **values) -> None:
        if "last_error" in values and values["last_error"]:
            values["last_error"] = values["last_error"][:_ERROR_CHARS]
        await self.conn.execute(update(OUTBOX).where(O.id == outbox_id).values(**values))

    async def next_reply_due(self, desk_id: int) -> datetime | None:
        stmt = select(func.min(O.next_attempt_at)).where(O.desk_id == desk_id, O.status == "pending")
        return (await self.conn.execute(stmt)).scalar()


def _append(lines: Sequence[ChatLine], last: ChatLine) -> list[dict]:
    """The cached transcript with *last* added, unless it is already the newest line."""
    out = list(lines)
    if out:
        tail = out[-1]
        if (tail.role, tail.text, tail.at) == (last.role, last.text, naive(last.at)):
            return [line_json(x) for x in out]
    out.append(ChatLine(last.id, last.role, last.text, naive(last.at), last.author))
    return [line_json(x) for x in out[-TRANSCRIPT_CACHE:]]
