"""First contact with a mailbox, and merged tickets.

``mail_sync_state.connected_at`` / ``history_uid`` record when a desk first
synced a mailbox and the first UID that arrived after it (mail below it is
imported as history, without acknowledgements). ``ticket_merge`` records a
ticket merged into another, so mail for it lands in the survivor.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    columns = {c["name"] for c in inspector.get_columns("mail_sync_state")}
    # A database made at a later schema and stamped back already has them.
    if "connected_at" not in columns:
        op.add_column("mail_sync_state", sa.Column("connected_at", sa.DateTime(), nullable=True))
    if "history_uid" not in columns:
        op.add_column("mail_sync_state", sa.Column("history_uid", sa.BigInteger(), nullable=True))
    if "ticket_merge" not in inspector.get_table_names():
        op.create_table(
            "ticket_merge",
            sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("ticket.id"), primary_key=True),
            sa.Column("into_id", sa.Integer(), sa.ForeignKey("ticket.id"), nullable=False),
            sa.Column("merged_by", sa.String(200)),
            sa.Column("merged_at", sa.DateTime(), nullable=False),
        )
        op.create_index("ix_ticket_merge_into", "ticket_merge", ["into_id"])


def downgrade() -> None:
    op.drop_index("ix_ticket_merge_into", table_name="ticket_merge")
    op.drop_table("ticket_merge")
    with op.batch_alter_table("mail_sync_state") as batch:
        batch.drop_column("history_uid")
        batch.drop_column("connected_at")
