"""The demo desk shows every feature at once: statuses, channels, types, mentions, a long thread, languages."""

from __future__ import annotations

from tests.desks import copy_db, make_settings

from tui_helpdesk.bootstrap import bootstrap
from tui_helpdesk.domain import querylang
from tui_helpdesk.domain.model import Status
from tui_helpdesk.services.agents import os_login


async def test_demo_desk_has_everything(tmp_path, demo_db):
    path = copy_db(demo_db, tmp_path / "demo.db")
    hd = await bootstrap(make_settings(path))
    try:
        me = await hd.agents.identify(os_login())
        assert me.is_admin
        everything = querylang.parse("")
        assert await hd.views.count(everything, me) >= 200
        for status in Status:
            assert await hd.views.count(querylang.parse(f"status:{status.value}"), me) > 0, status
        for channel in ("email", "web", "whatsapp", "messenger", "api"):
            assert await hd.views.count(querylang.parse(f"channel:{channel}"), me) > 0, channel
        for kind in ("email", "live_chat", "api"):
            assert await hd.views.count(querylang.parse(f"type:{kind}"), me) > 0, kind
        items = {i.key: i for i in await hd.views.rail(me)}
        assert items["inbox"].count > 0 and items["mentions"].count > 0 and items["unassigned"].count > 0
        assert [i for i in items.values() if i.kind == "shared"] and [i for i in items.values() if i.kind == "personal"]
        assert await hd.views.count(querylang.parse("tag:billing"), me) > 0
        # The long thread.
        hits = await hd.tickets.search("nightly export")
        long_id = next(h.ticket_id for h in hits if "Nightly export" in h.subject)
        _, entries = await hd.tickets.timeline_tail(long_id, 10)
        assert entries >= 200
        # Customers in several languages.
        page = await hd.views.page(everything, me, limit=300)
        subjects = " ".join(r.subject for r in page.rows)
        assert any(word in subjects for word in ("Reembolso", "Rückerstattung", "Remboursement"))
        assert any("\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff" for ch in subjects)
        # Some customers come back (their earlier tickets show beside the new one), some attach files.
        from sqlalchemy import func, select

        from tui_helpdesk.adapters.store.tables import ENTRY, TICKET

        async with hd.store.read() as tx:
            returning = await tx.conn.scalar(select(func.count()).select_from(
                select(TICKET.c.requester_id).group_by(TICKET.c.requester_id)
                .having(func.count() > 1).subquery()))
            metas = [r[0] for r in await tx.conn.execute(select(ENTRY.c.meta).where(ENTRY.c.meta.is_not(None)))]
        assert returning >= 5
        # Its past replies were said long ago: none is queued now, or reported as not sent.
        async with hd.store.read() as tx:
            not_sent = await tx.conn.scalar(select(func.count()).select_from(ENTRY)
                                            .where(ENTRY.c.body.like("Reply not sent%")))
        assert not_sent == 0
        files = [a for m in metas if isinstance(m, dict) for a in m.get("attachments", [])]
        from tui_helpdesk.adapters.mail.attachments import AttachmentStore

        kept = AttachmentStore(demo_db.parent / "attachments")  # beside the database the demo was built in
        assert len(files) >= 3 and all(kept.exists(a["sha256"]) for a in files)
    finally:
        await hd.close()
