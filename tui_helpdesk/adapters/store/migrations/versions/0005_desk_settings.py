"""Desk settings in the shared database.

One row per desk holding its settings document (assignment, scheduling,
email accounts without secrets, translation, the chatbot link) and a version
for optimistic concurrency. Agents' shifts, caps and time off stay in the
agent and time_off tables.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("desk_settings"):
        return  # a database made at a later schema and stamped back
    op.create_table(
        "desk_settings",
        sa.Column("desk_id", sa.Integer, sa.ForeignKey("desk.id"), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("updated_by", sa.String(200)),
        sa.Column("imported_from", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("desk_settings")
