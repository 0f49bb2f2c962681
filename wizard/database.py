"""The database handle, the per-dialect engine settings and time limits, the database's own
clock, and what a database error means in words."""

import collections
import contextlib
import functools
import json
import math
import os
import socket
import stat
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime

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


def _ping_idle_connections(engine, deadlines):
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
            with deadlines.watching(dbapi_connection):
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


def retried_once_if_disconnected(read):
    """A read that met a pooled connection the database had dropped (a restart, a failover, a
    cut network) runs once more: SQLAlchemy has discarded the dead connections by then. Only
    a quick failure is retried; a read that waited out its deadline is not waited out twice."""

    @functools.wraps(read)
    def wrapped(*args, **kwargs):
        started = time.monotonic()
        try:
            return read(*args, **kwargs)
        except sa.exc.DBAPIError as error:
            if not error.connection_invalidated or time.monotonic() - started > 1.0:
                raise
        return read(*args, **kwargs)

    return wrapped


def _json_from_db(value):
    return json.loads(value) if isinstance(value, str) else value


@functools.cache
def _row_reader(statement):
    """Turn a driver's row of this SELECT into a named tuple with the values its column types
    give: aware UTC times, JSON as Python."""
    columns = list(statement.selected_columns)
    row_type = collections.namedtuple("Row", [column.name for column in columns])
    converters = [
        utc_from_db
        if isinstance(column.type, UTCDateTime)
        else _json_from_db
        if isinstance(column.type, sa.JSON)
        else None
        for column in columns
    ]

    def read(raw):
        return row_type(*(c(v) if c else v for c, v in zip(converters, raw, strict=True)))

    return read


@functools.cache
def _driver_sql(statement, dialect):
    """A Core statement compiled once per database: its SQL, the order of its parameters (for
    drivers that take them by position) and its own parameter values."""
    compiled = statement.compile(dialect=dialect)
    return compiled.string, compiled.positiontup, compiled.construct_params(_check=False)


@retried_once_if_disconnected
def driver_reads(*reads):
    """Run SELECTs, each a (Core statement, parameters) pair, on one pooled driver connection
    and in one transaction, so that they see one snapshot; return the rows of each, with the
    values their column types say (named tuples of aware times and parsed JSON).

    The same statements SQLAlchemy would run, for the reads a console polls and every admin
    page makes, at a fraction of the cost of the result machinery. Driver errors come out as
    SQLAlchemy's DBAPIError (so the 503 pages and the CLI's exit codes treat them as always),
    a connection found dead is dropped from the pool, and each statement has its deadline.
    """
    engine = db.engine
    deadlines = _DEADLINES.get(engine, _NO_DEADLINES)
    dbapi_error = engine.dialect.loaded_dbapi.Error
    sqlite = engine.dialect.name == "sqlite"
    try:
        connection = engine.raw_connection()
    except dbapi_error as error:
        raise sa.exc.DBAPIError.instance(None, None, error, dbapi_error) from error
    sql = None
    # A lone SELECT needs no transaction: on PostgreSQL, autocommit spares the BEGIN and the
    # ROLLBACK that returning the connection to the pool would otherwise cost.
    alone = len(reads) == 1 and not sqlite
    try:
        if alone:
            connection.dbapi_connection.autocommit = True
        cursor = connection.cursor()
        try:
            with deadlines.watching(connection.dbapi_connection):
                if sqlite and len(reads) > 1:
                    cursor.execute("BEGIN")  # SQLite begins no transaction by itself here
                results = []
                for statement, params in reads:
                    sql, order, values = _driver_sql(statement, engine.dialect)
                    if params:
                        values = {**values, **params}
                    cursor.execute(sql, tuple(values[name] for name in order) if order else values)
                    results.append(list(map(_row_reader(statement), cursor.fetchall())))
                if sqlite and len(reads) > 1:
                    cursor.execute("COMMIT")
                return results
        finally:
            cursor.close()
    except dbapi_error as error:
        lost = engine.dialect.is_disconnect(error, connection.dbapi_connection, None)
        if lost:
            connection.invalidate(error)
        raise sa.exc.DBAPIError.instance(
            sql, None, error, dbapi_error, connection_invalidated=lost
        ) from error
    finally:
        if alone and connection.dbapi_connection is not None:
            connection.dbapi_connection.autocommit = False
        connection.close()  # back to the pool, which rolls back what is open


# A pooled connection unused for longer than this is tested before use.
IDLE_PING_SECONDS = 2.0


def engine_options(database_url, timeout):
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


class StatementDeadlines:
    """Cut the connection of a statement still waiting past its deadline.

    PostgreSQL's statement_timeout ends a slow statement on a server that still answers; a
    server that accepted the connection and then went silent (a hung host, a dropped network
    path) answers nothing, and the request and its worker thread would wait forever. Shutting
    the socket down makes the driver's wait fail at once, like a lost connection: SQLAlchemy
    then discards the connection and the request answers 503.
    """

    POLL_SECONDS = 0.1

    def __init__(self, seconds):
        # A little over the server's own limit, so that a live server answers first.
        self.seconds = seconds + 1.0
        self._waiting = {}
        self._thread = None
        self._start_lock = threading.Lock()

    def start(self, dbapi_connection):
        """Start the clock for a statement on this driver connection; return the key to stop it."""
        key = id(dbapi_connection)
        self._waiting[key] = (time.monotonic() + self.seconds, dbapi_connection)
        self._ensure_thread()
        return key

    def stop(self, key):
        self._waiting.pop(key, None)

    @contextlib.contextmanager
    def watching(self, dbapi_connection):
        """Watch the statements run inside this block on this driver connection."""
        key = self.start(dbapi_connection)
        try:
            yield
        finally:
            self.stop(key)

    def _ensure_thread(self):
        if self._thread is not None and self._thread.is_alive():
            return
        with self._start_lock:  # started on first use: after gunicorn forks its workers
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="wizard-statement-deadlines", daemon=True
                )
                self._thread.start()

    def _run(self):
        while True:
            time.sleep(self.POLL_SECONDS)
            now = time.monotonic()
            for key, (deadline, dbapi_connection) in list(self._waiting.items()):
                if now > deadline and self._waiting.pop(key, None) is not None:
                    _cut(dbapi_connection)


def _cut(dbapi_connection):
    """Shut down the socket under a driver connection (psycopg), leaving the driver to fail."""
    fileno = getattr(getattr(dbapi_connection, "pgconn", None), "socket", None)
    if not isinstance(fileno, int) or fileno < 0:
        return
    with contextlib.suppress(OSError):
        duplicate = socket.socket(fileno=os.dup(fileno))
        try:
            duplicate.shutdown(socket.SHUT_RDWR)
        finally:
            duplicate.close()


class UnsafeDatabaseFile(ValueError):
    """A SQLite file the wizard will not use: a link, another user's, or writable by others."""


def _unsafe(info):
    """Why a file of this `os.stat` result is not one to trust, or None."""
    if stat.S_ISLNK(info.st_mode):
        return "is a link"
    if not stat.S_ISREG(info.st_mode):
        return "is not a plain file"
    if info.st_uid != os.geteuid():
        return "belongs to another user"
    if info.st_mode & 0o022:
        return "may be changed by other users"
    return None


def private_sqlite_files(database, create=True):
    """Create the SQLite file private to its owner (0600) before SQLite opens it: SQLite gives
    its -wal and -shm files the database file's mode, and the file holds the license id. An
    older install's files that others may read are made private. Raise UnsafeDatabaseFile for
    a file that is a link (in a folder others can write to, it could point anywhere: SQLite
    would follow it), that another user owns, or that others may write."""
    path = os.path.abspath(database)
    if create:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
    for name in (path, f"{path}-wal", f"{path}-shm"):
        # The file is held by an O_PATH descriptor: closing a real one would drop the POSIX
        # locks of this process's open SQLite connections (Linux keeps O_PATH out of locking).
        try:
            fd = os.open(name, os.O_PATH | os.O_NOFOLLOW)
        except (FileNotFoundError, NotADirectoryError):
            continue
        try:
            info = os.fstat(fd)
            problem = _unsafe(info)
            if problem:
                raise UnsafeDatabaseFile(
                    f"The SQLite file {name} {problem}: the wizard does not use it. Put the "
                    "database in a folder only the wizard's user can write (the instance "
                    "folder is one), or remove that file."
                )
            if info.st_mode & 0o077:
                os.chmod(f"/proc/self/fd/{fd}", 0o600)
        finally:
            os.close(fd)


class _NoDeadlines:
    @contextlib.contextmanager
    def watching(self, dbapi_connection):
        yield


_NO_DEADLINES = _NoDeadlines()
_DEADLINES = weakref.WeakKeyDictionary()  # engine -> its StatementDeadlines


def configure_engine(engine, timeout):
    """SQLite: WAL mode, a busy timeout and real transactions. Other databases: a deadline on
    every statement, and a test of pooled connections that sat idle, since the database may
    have restarted or failed over."""
    if engine.dialect.name != "sqlite":
        deadlines = _DEADLINES[engine] = StatementDeadlines(timeout)

        @sa.event.listens_for(engine, "before_cursor_execute")
        def _start_clock(connection, cursor, statement, parameters, context, executemany):
            context.wizard_deadline = deadlines.start(connection.connection.dbapi_connection)

        @sa.event.listens_for(engine, "after_cursor_execute")
        def _stop_clock(connection, cursor, statement, parameters, context, executemany):
            deadlines.stop(context.wizard_deadline)

        @sa.event.listens_for(engine, "handle_error")
        def _stop_clock_on_error(exception_context):
            key = getattr(exception_context.execution_context, "wizard_deadline", None)
            if key is not None:
                deadlines.stop(key)

        _ping_idle_connections(engine, deadlines)
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


@dataclass(frozen=True)
class DatabaseProblem:
    """What a database error means: a kind, the HTTP status it gives, plain words fit for
    anyone, and the driver's own words (host names, users: for the log and the CLI only)."""

    kind: str
    status: int
    message: str
    detail: str = ""

    @property
    def full(self):
        """The message with the driver's words, for the admin at the server (CLI, log)."""
        return f"{self.message.rstrip('.')}: {self.detail}" if self.detail else self.message


def _first_line(error):
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def database_problem(error):
    """Say what really happened behind a SQLAlchemy error: the database could not be reached or
    did not answer in time, has no schema (or an older one), refused a permission, already has
    a table, or was handed a value too long; never "cannot reach" when the database did answer."""
    orig = getattr(error, "orig", None)
    state = getattr(orig, "sqlstate", None) or ""
    text = _first_line(error)
    lower = text.lower()

    def problem(kind, message, status=503):
        # The driver's words add nothing where the message says it all.
        plain = kind in ("busy", "timeout", "no_schema", "too_long")
        return DatabaseProblem(kind, status, message, "" if plain else text)

    if isinstance(error, sa.exc.TimeoutError):
        return problem("busy", "Every connection to the database is in use.")
    if state == "57014" or "statement timeout" in lower or "database is locked" in lower:
        return problem("timeout", "The database did not answer in time.")
    if (
        state == "42P01"
        or "no such table" in lower
        or ("relation" in lower and "does not exist" in lower)
    ):
        return problem(
            "no_schema", "The database has no schema yet: run `setup-wizard db upgrade`."
        )
    if state == "42703" or "no such column" in lower:
        return problem(
            "old_schema",
            "The database's tables are not the ones this version of the wizard uses: run "
            "`setup-wizard db upgrade`.",
        )
    if state == "42501" or "permission denied" in lower or "readonly database" in lower:
        return problem("permission", "The database refused a permission the wizard needs.")
    if state == "42P07" or ("table" in lower and "already exists" in lower):
        return problem("duplicate_table", "The database already has that table.")
    if state == "22001" or "value too long" in lower:
        return problem("too_long", "A value is longer than the database can store.", 422)
    if (
        state.startswith("28")
        or "authentication failed" in lower
        or "not permitted to log in" in lower
        or ("role" in lower and "does not exist" in lower)
    ):
        return problem("login", "The database refused the wizard's login.")
    if state == "3D000":
        return problem("no_database", "The database does not exist.")
    if state.startswith("08") or isinstance(orig, _connection_errors()) and not state:
        return problem("unreachable", "The database cannot be reached.")
    return problem("refused", "The database refused the request.")


def _connection_errors():
    """Driver errors raised before the database said anything (no SQLSTATE): connecting failed,
    the connection broke, or SQLite could not open its file."""
    import sqlite3

    kinds = [sqlite3.OperationalError]
    with contextlib.suppress(ImportError):
        import psycopg

        kinds.append(psycopg.OperationalError)
    return tuple(kinds)
