"""The public HTTP API and webhooks: tokens, idempotency keys, subscriptions, the webhook outbox.

See ``tables_api`` for what each table holds.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

from tui_helpdesk.adapters.store import tables_api

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLES = (tables_api.API_TOKEN, tables_api.IDEMPOTENCY_KEY, tables_api.WEBHOOK_SUBSCRIPTION,
          tables_api.WEBHOOK_DELIVERY, tables_api.WEBHOOK_ATTEMPT)


def upgrade() -> None:
    bind = op.get_bind()
    existing = set(sa.inspect(bind).get_table_names())
    # A database made at a later schema and stamped back already has them.
    for table in TABLES:
        if table.name not in existing:
            table.create(bind)


def downgrade() -> None:
    for table in reversed(TABLES):
        table.drop(op.get_bind(), checkfirst=True)
