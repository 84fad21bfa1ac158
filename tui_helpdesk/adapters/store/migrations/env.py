"""Alembic environment: runs on the connection the store hands it."""

from alembic import context

from tui_helpdesk.adapters.store import tables

tables.load_channel_tables()

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=tables.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
