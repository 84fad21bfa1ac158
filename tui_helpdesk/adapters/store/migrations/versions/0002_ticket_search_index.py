"""Search index keyed by ticket (SQLite).

The first index (``entry_fts``) was keyed by entry id, so a view's text filter
looked up every matching entry to find its ticket. ``ticket_fts`` is keyed by
ticket id and the entry's position in its ticket (see ``engine.SQLITE_FTS``);
it is built from the entries already stored. PostgreSQL's GIN index is unchanged.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from tui_helpdesk.adapters.store import engine

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

OLD_TABLE = """CREATE VIRTUAL TABLE IF NOT EXISTS entry_fts USING fts5(
        body, search_extra, content='entry', content_rowid='id',
        tokenize="unicode61 remove_diacritics 2")"""
OLD_TRIGGER = """CREATE TRIGGER IF NOT EXISTS entry_fts_insert AFTER INSERT ON entry
        WHEN new.kind != 'event' OR new.search_extra IS NOT NULL
        BEGIN INSERT INTO entry_fts(rowid, body, search_extra) VALUES (new.id, new.body, new.search_extra); END"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("DROP TRIGGER IF EXISTS entry_fts_insert")
    op.execute("DROP TABLE IF EXISTS entry_fts")
    op.execute(engine.FTS_TABLE)
    op.execute(engine.FTS_BACKFILL)
    op.execute(engine.FTS_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("DROP TRIGGER IF EXISTS ticket_fts_insert")
    op.execute("DROP TABLE IF EXISTS ticket_fts")
    op.execute(OLD_TABLE)
    op.execute("INSERT INTO entry_fts(entry_fts) VALUES ('rebuild')")
    op.execute("DELETE FROM entry_fts WHERE rowid IN (SELECT id FROM entry WHERE kind = 'event' AND search_extra IS NULL)")
    op.execute(OLD_TRIGGER)
