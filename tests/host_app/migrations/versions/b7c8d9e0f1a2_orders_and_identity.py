"""The host's orders, and the identity table in the seed's shape."""

import sqlalchemy as sa
from alembic import op

revision = "b7c8d9e0f1a2"
down_revision = "a1b2c3d4e5f6"


def upgrade():
    op.create_table(
        "host_order",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("host_user.id"), nullable=False),
        sa.Column("total_cents", sa.Integer(), nullable=False),
    )
    op.create_table(
        "telemetry_identity",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("customer_id", sa.String(255), nullable=True),
        sa.Column("instance_id", sa.String(255), nullable=True),
        sa.Column("license_id", sa.String(255), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.current_timestamp(),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.current_timestamp(),
            nullable=False,
        ),
        sa.CheckConstraint("id = 1", name="single_row_constraint"),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade():
    op.drop_table("telemetry_identity")
    op.drop_table("host_order")
