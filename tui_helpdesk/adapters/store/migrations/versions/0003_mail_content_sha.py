"""Content fingerprint of inbound mail.

``mail_message.content_sha`` holds the fingerprint of a message's authored
headers and body (``domain.mail.fingerprint``), so a Message-ID reused by a
broken mailer for a different message is no longer taken for a duplicate.
Rows stored before it stay NULL and are compared by Message-ID and sender, as
before.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A database made at a later schema and stamped back already has it.
    if "content_sha" in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("mail_message")}:
        return
    op.add_column("mail_message", sa.Column("content_sha", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mail_message") as batch:
        batch.drop_column("content_sha")
