"""Migration 0006 brings a 0005 database to exactly the tables' schema."""

from __future__ import annotations

import sqlite3

from sqlalchemy import create_engine

from tui_helpdesk.adapters.store import engine, tables
from tui_helpdesk.bootstrap import bootstrap
from tui_helpdesk.settings import load


async def test_upgrade_from_0005_matches_the_metadata(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    path = tmp_path / "old.db"
    hd = await bootstrap(load(database_url=f"sqlite+aiosqlite:///{path}"), upgrade=True)
    await hd.close()
    with sqlite3.connect(path) as db:  # the schema as 0005 left it
        db.executescript("DROP INDEX ix_ticket_merge_into; DROP TABLE ticket_merge;"
                         "ALTER TABLE mail_sync_state DROP COLUMN connected_at;"
                         "ALTER TABLE mail_sync_state DROP COLUMN history_uid;"
                         # and without what later revisions add
                         "DROP TABLE webhook_attempt; DROP TABLE webhook_delivery; DROP TABLE webhook_subscription;"
                         "DROP TABLE idempotency_key; DROP TABLE api_token;"
                         "DROP TABLE ai_translation; DROP TABLE ai_usage; DROP TABLE requester_language;"
                         "DROP TABLE ticket_summary;"
                         "UPDATE alembic_version SET version_num = '0005';")
    hd = await bootstrap(load(database_url=f"sqlite+aiosqlite:///{path}"), upgrade=True)
    await hd.close()
    sync = create_engine(f"sqlite:///{path}")
    tables.load_channel_tables()
    with sync.connect() as conn:
        assert engine.current_revision(conn) == engine.head_revision()
        diff = compare_metadata(MigrationContext.configure(conn), tables.metadata)
    sync.dispose()
    assert [d for d in diff if "fts" not in str(d)] == []
