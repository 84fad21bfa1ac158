"""On hold until: ``ticket.hold_until``.

A ticket put On hold may carry the moment it returns to On you; the index
lets any process find the ones whose moment has come without a scan.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A database made at a later schema and stamped back already has it.
    if "hold_until" in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("ticket")}:
        return
    op.add_column("ticket", sa.Column("hold_until", sa.DateTime(), nullable=True))
    op.create_index("ix_ticket_hold_until", "ticket", ["hold_until"])


def downgrade() -> None:
    op.drop_index("ix_ticket_hold_until", table_name="ticket")
    with op.batch_alter_table("ticket") as batch:
        batch.drop_column("hold_until")
