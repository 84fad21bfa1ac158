"""Set-aside mail: the messages that became no timeline entry, findable and releasable.

Every message the sync does not turn into a timeline entry (an automatic
reply about nothing, a bounce we cannot match, mail from our own address, a
message that could not be stored) is kept whole with its reason
(``mail_set_aside`` and the raw message in the attachment store). This
service pages through them, shows one (raw and parsed) and *releases* one:
makes it a ticket after all through the normal ingest path, with no
acknowledgement.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..adapters.store import mailstore as ms
from ..adapters.store.repository import Store
from ..domain.errors import HelpdeskError, UsageError
from ..domain.mail.fingerprint import content_fingerprint
from ..domain.mail.loops import Classification, classify
from ..domain.mail.message import ParsedMessage, parse_message
from ..domain.mail.transport import Incoming
from .ports import AttachmentStorage

if TYPE_CHECKING:
    from .mail import MailAddress
    from .mail_ingest import MailIngest

MAX_PAGE = 1000


@dataclass(frozen=True, slots=True)
class SetAsidePage:
    items: list[ms.SetAside]
    total: int  # all that match, not only this page
    next_cursor: int | None  # pass as *cursor* for the next page; None on the last one


@dataclass(frozen=True, slots=True)
class SetAsideMessage:
    """One set-aside message with what it says; *raw* is None when it could never be fetched."""

    item: ms.SetAside
    raw: bytes | None
    parsed: ParsedMessage | None
    kind: Classification | None


class SetAsideService:
    def __init__(self, store: Store, attachments: AttachmentStorage, ingest: MailIngest,
                 address: Callable[[str], MailAddress], addresses: Callable[[], list[MailAddress]]):
        self.store = store
        self.attachments = attachments
        self.ingest = ingest
        self._address = address
        self._addresses = addresses

    async def page(self, *, limit: int = 50, cursor: int | None = None, offset: int = 0,
                   released: bool = False) -> SetAsidePage:
        """Newest first; *released* includes the ones already made into tickets."""
        if not 1 <= limit <= MAX_PAGE:
            raise UsageError(f"--limit is 1 to {MAX_PAGE}")
        if offset < 0:
            raise UsageError("--offset must be ≥ 0")
        async with self.store.read() as tx:
            items = await ms.set_aside(tx, limit + 1, before=cursor, offset=offset, released=released)
            total = await ms.count_set_aside(tx, released=released)
        more = len(items) > limit
        items = items[:limit]
        return SetAsidePage(items, total, items[-1].id if more and items else None)

    async def get(self, item_id: int) -> SetAsideMessage:
        async with self.store.read() as tx:
            item = await ms.get_set_aside(tx, item_id)
        if item is None:
            raise HelpdeskError(f"no set-aside message {item_id} (see: helpdesk mail set-aside)")
        raw = None
        if item.raw_sha256 and self.attachments.exists(item.raw_sha256):
            raw = self.attachments.get(item.raw_sha256)
        if raw is None:
            return SetAsideMessage(item, None, None, None)
        parsed = parse_message(raw)
        return SetAsideMessage(item, raw, parsed, classify(parsed))

    async def release(self, item_id: int, actor: str) -> int:
        """Make message *item_id* a ticket entry after all (see the module docstring); its ticket's id."""
        message = await self.get(item_id)
        item = message.item
        if item.ticket_id is not None:
            raise HelpdeskError(f"set-aside message {item_id} was already released into ticket #{item.ticket_id}")
        if message.raw is None or message.parsed is None or message.kind is None:
            raise HelpdeskError(f"set-aside message {item_id} was never fetched from the server "
                                f"({item.reason}); there is nothing to make a ticket of")
        address = self._account(item.account)
        incoming = Incoming(item.uid, message.raw, None, message.parsed, message.kind,
                            hashlib.sha256(message.raw).hexdigest(), content_fingerprint(message.raw))
        return await self.ingest.release(address, item, incoming, actor)

    def _account(self, account: str) -> MailAddress:
        try:
            return self._address(account)
        except HelpdeskError:
            configured = self._addresses()
            if not configured:
                raise HelpdeskError("no support address is configured to receive it") from None
            return configured[0]  # the address was removed from the config: the first desk takes it


__all__ = ["SetAsideMessage", "SetAsidePage", "SetAsideService"]
