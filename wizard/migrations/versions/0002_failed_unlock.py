"""Wrong admin tokens per client, for throttling across workers and replicas.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from wizard.db import UTCDateTime, utcnow

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "failed_unlock",
        sa.Column("client_address", sa.String(length=64), nullable=False),
        sa.Column("window_started_at", UTCDateTime(), server_default=utcnow(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("client_address"),
    )


def downgrade():
    op.drop_table("failed_unlock")
