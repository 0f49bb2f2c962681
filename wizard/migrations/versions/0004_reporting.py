"""Reporting: each round kept before it is sent, the state every worker shares; the license's
endpoint and channel id in its summary.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from wizard.db import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("license_summary") as batch:
        batch.add_column(sa.Column("endpoint", sa.String(length=512), nullable=True))
        batch.add_column(sa.Column("channel_id", sa.String(length=255), nullable=True))
    op.create_table(
        "report_round",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("collected_at", UTCDateTime(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("customer_id", sa.String(length=255), nullable=True),
        sa.Column("instance_id", sa.String(length=255), nullable=False),
        sa.Column("license_id", sa.String(length=255), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("skipped", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("served_from_cache", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_report_round_collected_at", "report_round", ["collected_at"])
    op.create_index("ix_report_round_next_attempt_at", "report_round", ["next_attempt_at"])
    op.create_index("ix_report_round_sent_at", "report_round", ["sent_at"])
    state = op.create_table(
        "report_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=True),
        sa.Column("lease_holder", sa.String(length=128), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("last_success_at", UTCDateTime(), nullable=True),
        sa.Column("last_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("failing_since", UTCDateTime(), nullable=True),
        sa.Column("next_at", UTCDateTime(), nullable=True),
        sa.Column("last_sent", sa.JSON(), nullable=True),
        sa.Column("failures_total", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("dropped_total", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint("id = 1", name="report_state_single_row"),
        sa.PrimaryKeyConstraint("id"),
    )
    # The one row exists from the start: the status reads it with the identity, in one query.
    op.bulk_insert(state, [{"id": 1}])


def downgrade():
    op.drop_table("report_state")
    op.drop_index("ix_report_round_sent_at", table_name="report_round")
    op.drop_index("ix_report_round_next_attempt_at", table_name="report_round")
    op.drop_index("ix_report_round_collected_at", table_name="report_round")
    op.drop_table("report_round")
    with op.batch_alter_table("license_summary") as batch:
        batch.drop_column("channel_id")
        batch.drop_column("endpoint")
