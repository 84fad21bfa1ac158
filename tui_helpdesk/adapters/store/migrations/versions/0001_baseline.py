"""Baseline: the first schema.

New databases are created at the current schema and stamped at head, so this
revision only marks where upgrades start. Later revisions alter from here.

Revision ID: 0001
Revises:
"""

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
