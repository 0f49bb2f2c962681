"""The license's life after day one: the SDK's license as last checked, the deployment id kept
with the identity, a difference the admin kept.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from wizard.db import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    watch = op.create_table(
        "license_watch",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("checked_at", UTCDateTime(), nullable=True),
        sa.Column("check_error", sa.String(length=1000), nullable=True),
        sa.Column("sdk_license", sa.JSON(), nullable=True),
        sa.Column("kept_deployment_id", sa.String(length=255), nullable=True),
        sa.Column("accepted_mismatch", sa.String(length=600), nullable=True),
        sa.CheckConstraint("id = 1", name="license_watch_single_row"),
        sa.PrimaryKeyConstraint("id"),
    )
    # The one row exists from the start: the status reads it with the identity, in one query.
    op.bulk_insert(watch, [{"id": 1}])


def downgrade():
    op.drop_table("license_watch")
