"""The engine's settings per database: time limits on connecting and on every statement, and
SQLite's WAL, busy timeout and real transactions."""

from __future__ import annotations

import math
from pathlib import Path
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


def configure_engine(engine: sa.Engine, timeout: float, owns_file: bool = True) -> None:
    """SQLite: a busy timeout and real transactions; and, for a file the wizard owns (its
    instance folder's), private to its user and in WAL mode. A host application's file keeps its
    mode and journal mode. Other databases: a deadline on every statement, and a test of pooled
    connections that sat idle, since the database may have restarted or failed over."""
    if engine.dialect.name != "sqlite":
        watch_statements(engine, timeout)
        return

    database = engine.url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        private_sqlite_files(database, create=False, owned=owns_file)  # refused at start

        @sa.event.listens_for(engine, "do_connect")
        def _before_connect(dialect, record, cargs, cparams):
            private_sqlite_files(database, owned=owns_file)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {round(timeout * 1000)}")
        if owns_file:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection):
        options = connection.get_execution_options()
        connection.exec_driver_sql(
            "BEGIN IMMEDIATE" if options.get(SQLITE_BEGIN_IMMEDIATE) else "BEGIN"
        )


def owns_sqlite_file(config: Any) -> bool:
    """Whether the SQLite file is the wizard's to tune (private, WAL): the one in its instance
    folder, or any with WIZARD_SQLITE_TUNE=1. A host application's file is left as it is."""
    url = sa.engine.make_url(config["WIZARD_DATABASE_URL"])
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return True
    if config.get("WIZARD_SQLITE_TUNE"):
        return True
    folder = Path(config["WIZARD_INSTANCE_PATH"]).resolve()
    return Path(url.database).resolve().parent == folder


def database_url(url: str) -> str:
    """The URL as the wizard connects. A plain `postgresql://` (SQLAlchemy's psycopg2) is read
    as `postgresql+psycopg://`, psycopg 3 being the wizard's driver; psycopg2 itself is refused:
    it blocks a gevent worker while it waits on the database, so the wizard's time limits (and
    every other request of that worker) would wait with it. ValueError says what to use."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return url
    if parsed.get_driver_name() not in ("psycopg", "psycopg2"):
        raise ValueError(
            f"WIZARD_DATABASE_URL: the {parsed.get_driver_name()} driver is not one the wizard "
            "supports; use postgresql+psycopg://..."
        )
    if parsed.drivername == "postgresql+psycopg2":
        raise ValueError(
            "WIZARD_DATABASE_URL: psycopg2 blocks the wizard's gevent workers while it waits on "
            "the database, so its time limits cannot hold: use postgresql+psycopg://... "
            "(pip install 'replicated-setup-wizard[postgresql]'); a plain postgresql:// URL is "
            "read so too."
        )
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise ValueError(
            "WIZARD_DATABASE_URL names PostgreSQL, and its driver is not installed: "
            "pip install 'replicated-setup-wizard[postgresql]'"
        ) from None
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
