"""The host application's own models, declared with plain SQLAlchemy (no Flask)."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class HostBase(DeclarativeBase):
    """The host's own declarative base: its metadata is what its Alembic compares."""


class User(HostBase):
    __tablename__ = "host_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(200), unique=True)


class Order(HostBase):
    __tablename__ = "host_order"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("host_user.id"))
    total_cents: Mapped[int] = mapped_column(sa.Integer)


class HostTelemetryIdentity(HostBase):
    """The identity table as the seed's design declares it, owned by the host's migrations."""

    __tablename__ = "telemetry_identity"
    __table_args__ = (sa.CheckConstraint("id = 1", name="single_row_constraint"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    customer_id: Mapped[str | None] = mapped_column(sa.String(255))
    instance_id: Mapped[str | None] = mapped_column(sa.String(255))
    license_id: Mapped[str | None] = mapped_column(sa.String(255))
    created_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.current_timestamp()
    )
    updated_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.current_timestamp()
    )
