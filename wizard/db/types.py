"""The declarative base and the column types every table uses: aware UTC times, the
database's own clock, and an INSERT that knows ON CONFLICT."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase

# Execution option that makes a SQLite transaction take the write lock when it begins,
# so a read-then-write transaction cannot be overtaken by another writer.
SQLITE_BEGIN_IMMEDIATE = "wizard_begin_immediate"


class Base(DeclarativeBase):
    """Declarative base of every model."""


db = SQLAlchemy(model_class=Base)


class utcnow(sa.sql.expression.FunctionElement[datetime]):
    """The database's current time in UTC, with microseconds where the engine keeps them."""

    type = sa.DateTime(timezone=True)
    inherit_cache = True


@compiles(utcnow)
def _utcnow_default(element: utcnow, compiler: Any, **kw: Any) -> str:
    return "CURRENT_TIMESTAMP"


@compiles(utcnow, "postgresql")
def _utcnow_postgresql(element: utcnow, compiler: Any, **kw: Any) -> str:
    # Not now(): that is when the transaction began, which may be before it waited for a lock,
    # and would let a later save carry an earlier time than the one it replaced.
    return "statement_timestamp()"


@compiles(utcnow, "sqlite")
def _utcnow_sqlite(element: utcnow, compiler: Any, **kw: Any) -> str:
    # CURRENT_TIMESTAMP has whole seconds only; this keeps the six-digit format SQLAlchemy writes.
    return "(strftime('%Y-%m-%d %H:%M:%f000', 'now'))"


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp with time zone that always comes back aware and in UTC, SQLite included."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must carry a time zone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        return utc_from_db(value)


def utc_from_db(value: Any) -> datetime | None:
    """A timestamp as the driver returns it (text on SQLite), as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def dialect_insert(dialect_name: str, table: sa.Table) -> Any:
    """An INSERT that knows ON CONFLICT, for the database named (`connection.dialect.name`)."""
    # Imported here: on SQLite, loading the PostgreSQL dialect would only slow the start.
    if dialect_name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    if dialect_name == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database: {dialect_name}")
