"""Admin sessions kept on the server, one-time unlock links, and the wizard's drafts.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from wizard.db import UTCDateTime, utcnow

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "admin_session",
        sa.Column("key_digest", sa.String(length=64), nullable=False),
        sa.Column("token_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), server_default=utcnow(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), server_default=utcnow(), nullable=False),
        sa.PrimaryKeyConstraint("key_digest"),
    )
    op.create_table(
        "unlock_link",
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("token_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("next_path", sa.String(length=512), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("token_digest"),
    )
    op.create_table(
        "setup_draft",
        sa.Column("key_digest", sa.String(length=64), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), server_default=utcnow(), nullable=False),
        sa.PrimaryKeyConstraint("key_digest"),
    )


def downgrade():
    op.drop_table("setup_draft")
    op.drop_table("unlock_link")
    op.drop_table("admin_session")
