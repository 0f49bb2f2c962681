"""The identity row, the license summary and the history of changes.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from wizard.db import UTCDateTime, utcnow

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    # The host application may have created the identity table in its own migrations; the
    # wizard checked its shape before migrating (wizard.schema) and adopts it as it is.
    if not sa.inspect(op.get_bind()).has_table("telemetry_identity"):
        _create_identity_table()
    op.create_table(
        "license_summary",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("app_slug", sa.String(length=255), nullable=True),
        sa.Column("customer_name", sa.String(length=255), nullable=True),
        sa.Column("license_type", sa.String(length=64), nullable=True),
        sa.Column("channel_name", sa.String(length=255), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("signing_key", sa.String(length=255), nullable=True),
        sa.Column("license_version", sa.String(length=64), nullable=True),
        sa.Column("license_sequence", sa.BigInteger(), nullable=True),
        sa.Column("entitlements", sa.JSON(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=True),
        sa.Column("verified_at", UTCDateTime(), server_default=utcnow(), nullable=False),
        sa.CheckConstraint("id = 1", name="license_summary_single_row"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "identity_history",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("changed_at", UTCDateTime(), server_default=utcnow(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=True),
        sa.Column("client_address", sa.String(length=64), nullable=True),
        sa.Column("old_customer_id", sa.String(length=255), nullable=True),
        sa.Column("new_customer_id", sa.String(length=255), nullable=True),
        sa.Column("old_instance_id", sa.String(length=255), nullable=True),
        sa.Column("new_instance_id", sa.String(length=255), nullable=True),
        sa.Column("old_license_hint", sa.String(length=8), nullable=True),
        sa.Column("new_license_hint", sa.String(length=8), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_identity_history_changed_at", "identity_history", ["changed_at"])


def _create_identity_table():
    op.create_table(
        "telemetry_identity",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("customer_id", sa.String(length=255), nullable=True),
        sa.Column("instance_id", sa.String(length=255), nullable=True),
        sa.Column("license_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", UTCDateTime(), server_default=utcnow(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), server_default=utcnow(), nullable=False),
        sa.CheckConstraint("id = 1", name="single_row_constraint"),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade():
    op.drop_index("ix_identity_history_changed_at", table_name="identity_history")
    op.drop_table("identity_history")
    op.drop_table("license_summary")
    op.drop_table("telemetry_identity")
