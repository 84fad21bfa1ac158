"""AI: cached translations, metered usage, requester languages, ticket summaries.

Four new tables (see ``tables_ai``); nothing existing changes.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "ai_translation" not in existing:
        op.create_table(
            "ai_translation",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("entry_id", sa.Integer, sa.ForeignKey("entry.id"), nullable=False),
            sa.Column("target_language", sa.String(16), nullable=False),
            sa.Column("model", sa.String(200), nullable=False),
            sa.Column("source_language", sa.String(16)),
            sa.Column("text", sa.Text, nullable=False),
            sa.Column("created_at", sa.DateTime, nullable=False),
            sa.UniqueConstraint("entry_id", "target_language", "model", name="uq_ai_translation"),
        )
    if "ai_usage" not in existing:
        op.create_table(
            "ai_usage",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("action", sa.String(32), nullable=False),
            sa.Column("agent_id", sa.Integer, sa.ForeignKey("agent.id")),
            sa.Column("desk_id", sa.Integer, sa.ForeignKey("desk.id")),
            sa.Column("ticket_id", sa.Integer),
            sa.Column("model", sa.String(200), nullable=False),
            sa.Column("prompt_tokens", sa.Integer, nullable=False),
            sa.Column("completion_tokens", sa.Integer, nullable=False),
            sa.Column("ms", sa.Integer, nullable=False),
            sa.Column("ok", sa.Boolean, nullable=False),
            sa.Column("at", sa.DateTime, nullable=False),
        )
        op.create_index("ix_ai_usage_at", "ai_usage", ["at"])
        op.create_index("ix_ai_usage_agent_at", "ai_usage", ["agent_id", "at"])
    if "requester_language" not in existing:
        op.create_table(
            "requester_language",
            sa.Column("requester_id", sa.Integer, sa.ForeignKey("requester.id"), primary_key=True),
            sa.Column("detected", sa.String(16)),
            sa.Column("detected_entry_id", sa.Integer),
            sa.Column("override", sa.String(16)),
            sa.Column("updated_at", sa.DateTime, nullable=False),
        )
    if "ticket_summary" not in existing:
        op.create_table(
            "ticket_summary",
            sa.Column("ticket_id", sa.Integer, sa.ForeignKey("ticket.id"), primary_key=True),
            sa.Column("text", sa.Text, nullable=False),
            sa.Column("model", sa.String(200), nullable=False),
            sa.Column("last_entry_id", sa.Integer, nullable=False),
            sa.Column("created_at", sa.DateTime, nullable=False),
        )


def downgrade() -> None:
    for table in ("ticket_summary", "requester_language", "ai_usage", "ai_translation"):
        op.drop_table(table)
