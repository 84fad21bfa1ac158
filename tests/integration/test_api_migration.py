"""Migration 0007: a database at 0006 upgrades to the API tables exactly as ``tables_api`` declares them."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tui_helpdesk.adapters.store import engine as engine_mod
from tui_helpdesk.adapters.store import tables
from tui_helpdesk.adapters.store.repository import Store

API_TABLES = ("webhook_attempt", "webhook_delivery", "webhook_subscription", "idempotency_key", "api_token")
# What revisions after 0007 add (0008, AI): gone too, so the upgrade from 0006 makes them again.
LATER_TABLES = ("ai_translation", "ai_usage", "requester_language", "ticket_summary")


def _api_diff(sync_conn) -> list:
    tables.load_channel_tables()
    context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
    return [d for d in compare_metadata(context, tables.metadata) if set(API_TABLES) & _names(d)]


def _names(diff) -> set[str]:
    """The table names one compare_metadata entry is about."""
    out: set[str] = set()
    for item in diff if isinstance(diff, list) else [diff]:
        for part in item:
            if isinstance(part, sa.Table):
                out.add(part.name)
            elif getattr(part, "table", None) is not None:
                out.add(part.table.name)
            elif isinstance(part, str):
                out.add(part)
    return out


async def test_upgrade_from_0006_creates_the_api_tables_as_declared(db_url):
    store = await Store.open(db_url)  # at head
    async with store.engine.begin() as conn:
        for name in API_TABLES + LATER_TABLES:
            await conn.execute(sa.text(f"DROP TABLE {name}"))
        await conn.execute(sa.text("UPDATE alembic_version SET version_num = '0006'"))
        assert len(await conn.run_sync(_api_diff)) >= len(API_TABLES)  # the comparison sees what is missing
    await store.close()

    store = await Store.open(db_url, upgrade=True)
    try:
        async with store.engine.connect() as conn:
            revision = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalar()
            assert revision == engine_mod.head_revision()
            assert await conn.run_sync(_api_diff) == []
    finally:
        await store.close()
