"""The database handle, the per-dialect engine settings, and the database's own clock."""

import time
from datetime import UTC, datetime

import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase

# A writer waits this long for SQLite's write lock before giving up.
SQLITE_BUSY_TIMEOUT_SECONDS = 30

# Execution option that makes a SQLite transaction take the write lock when it begins,
# so a read-then-write transaction cannot be overtaken by another writer.
SQLITE_BEGIN_IMMEDIATE = "wizard_begin_immediate"

# Execution option for a lone SELECT: on SQLite it runs in autocommit, without the BEGIN and
# ROLLBACK round trips a transaction would cost on every status request.
SINGLE_READ = "wizard_single_read"


class Base(DeclarativeBase):
    """Declarative base of every model."""


db = SQLAlchemy(model_class=Base)


class utcnow(sa.sql.expression.FunctionElement):  # noqa: N801 - reads as SQL in expressions
    """The database's current time in UTC, with microseconds where the engine keeps them."""

    type = sa.DateTime(timezone=True)
    inherit_cache = True


@compiles(utcnow)
def _utcnow_default(element, compiler, **kw):
    return "CURRENT_TIMESTAMP"


@compiles(utcnow, "postgresql")
def _utcnow_postgresql(element, compiler, **kw):
    # Not now(): that is when the transaction began, which may be before it waited for a lock,
    # and would let a later save carry an earlier time than the one it replaced.
    return "statement_timestamp()"


@compiles(utcnow, "sqlite")
def _utcnow_sqlite(element, compiler, **kw):
    # CURRENT_TIMESTAMP has whole seconds only; this keeps the six-digit format SQLAlchemy writes.
    return "(strftime('%Y-%m-%d %H:%M:%f000', 'now'))"


class UTCDateTime(sa.types.TypeDecorator):
    """A timestamp with time zone that always comes back aware and in UTC, SQLite included."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must carry a time zone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ping_idle_connections(engine):
    """Like pool_pre_ping, but only for connections idle a while: a busy pool pays no extra
    round trip per checkout. A connection that dies while busy makes its statement fail, and
    SQLAlchemy then discards the whole pool, so the next request connects afresh."""

    @sa.event.listens_for(engine, "checkin")
    def _returned(dbapi_connection, record):
        record.info["returned_at"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, proxy):
        returned_at = record.info.get("returned_at")
        if returned_at is None or time.monotonic() - returned_at < IDLE_PING_SECONDS:
            return
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
            dbapi_connection.rollback()
        except Exception:
            # The pool discards this connection and tries again with a new one.
            raise sa.exc.DisconnectionError() from None


def dialect_insert(dialect_name, table):
    """An INSERT that knows ON CONFLICT, for the database named (`connection.dialect.name`)."""
    # Imported here: on SQLite, loading the PostgreSQL dialect would only slow the start.
    if dialect_name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    if dialect_name == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database: {dialect_name}")


def utc_from_db(value):
    """A timestamp as the driver returns it (text on SQLite), as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def read_one_row(sql):
    """Run one fixed, parameterless SELECT on a pooled DBAPI connection; return its first row.

    Driver errors come out as SQLAlchemy's DBAPIError (so the 503 pages and the CLI's exit
    codes treat them as always), and a connection found dead is dropped from the pool.
    """
    engine = db.engine
    dbapi_error = engine.dialect.loaded_dbapi.Error
    try:
        connection = engine.raw_connection()
    except dbapi_error as error:
        raise sa.exc.DBAPIError.instance(None, None, error, dbapi_error) from error
    try:
        cursor = connection.cursor()
        try:
            cursor.execute(sql)
            return cursor.fetchone()
        finally:
            cursor.close()
    except dbapi_error as error:
        if engine.dialect.is_disconnect(error, connection.dbapi_connection, None):
            connection.invalidate(error)
        raise sa.exc.DBAPIError.instance(sql, None, error, dbapi_error) from error
    finally:
        connection.close()


def engine_options(database_url):
    """Return the engine options that suit the database behind the URL."""
    if sa.engine.make_url(database_url).get_backend_name() == "sqlite":
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}}
    return {}


# A pooled connection unused for longer than this is tested before use.
IDLE_PING_SECONDS = 2.0


def configure_engine(engine):
    """SQLite: WAL mode, a busy timeout and real transactions. Other databases: test pooled
    connections that sat idle, since the database may have restarted or failed over."""
    if engine.dialect.name != "sqlite":
        _ping_idle_connections(engine)
        return

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection):
        options = connection.get_execution_options()
        if options.get(SINGLE_READ):
            return
        connection.exec_driver_sql(
            "BEGIN IMMEDIATE" if options.get(SQLITE_BEGIN_IMMEDIATE) else "BEGIN"
        )
