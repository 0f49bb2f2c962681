"""The engine's settings per database: time limits on connecting and on every statement, and
SQLite's WAL, busy timeout and real transactions."""

from __future__ import annotations

import math
from typing import Any

import sqlalchemy as sa

from .deadlines import watch_statements
from .sqlite_files import private_sqlite_files
from .types import SQLITE_BEGIN_IMMEDIATE


def engine_options(database_url: str, timeout: float) -> dict[str, Any]:
    """The engine options that bound every wait on the database behind the URL to `timeout`
    seconds: connecting, SQLite's write lock, a PostgreSQL statement or lock wait."""
    backend = sa.engine.make_url(database_url).get_backend_name()
    if backend == "sqlite":
        return {"connect_args": {"timeout": timeout}}
    if backend == "postgresql":
        milliseconds = max(1, round(timeout * 1000))
        return {
            "connect_args": {
                # libpq's connect_timeout counts whole seconds, and 1 is taken as 2.
                "connect_timeout": max(2, math.ceil(timeout)),
                "options": f"-c statement_timeout={milliseconds}",
            }
        }
    return {}


def configure_engine(engine: sa.Engine, timeout: float) -> None:
    """SQLite: WAL mode, a busy timeout and real transactions. Other databases: a deadline on
    every statement, and a test of pooled connections that sat idle, since the database may
    have restarted or failed over."""
    if engine.dialect.name != "sqlite":
        watch_statements(engine, timeout)
        return

    database = engine.url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        private_sqlite_files(database, create=False)  # refused at start, not on first use

        @sa.event.listens_for(engine, "do_connect")
        def _before_connect(dialect, record, cargs, cparams):
            private_sqlite_files(database)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {round(timeout * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection):
        options = connection.get_execution_options()
        connection.exec_driver_sql(
            "BEGIN IMMEDIATE" if options.get(SQLITE_BEGIN_IMMEDIATE) else "BEGIN"
        )
