"""Deadlines on every statement: a database that went silent is cut off, and a pooled
connection that sat idle is tested before use."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

# A pooled connection unused for longer than this is tested before use.
IDLE_PING_SECONDS = 2.0


class StatementDeadlines:
    """Cut the connection of a statement still waiting past its deadline.

    PostgreSQL's statement_timeout ends a slow statement on a server that still answers; a
    server that accepted the connection and then went silent (a hung host, a dropped network
    path) answers nothing, and the request and its worker thread would wait forever. Shutting
    the socket down makes the driver's wait fail at once, like a lost connection: SQLAlchemy
    then discards the connection and the request answers 503.
    """

    POLL_SECONDS = 0.1

    def __init__(self, seconds: float) -> None:
        # A little over the server's own limit, so that a live server answers first.
        self.seconds = seconds + 1.0
        self._waiting: dict[int, tuple[float, Any]] = {}
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def start(self, dbapi_connection: Any) -> int:
        """Start the clock for a statement on this driver connection; return the key to stop it."""
        key = id(dbapi_connection)
        self._waiting[key] = (time.monotonic() + self.seconds, dbapi_connection)
        self._ensure_thread()
        return key

    def stop(self, key: int) -> None:
        self._waiting.pop(key, None)

    @contextlib.contextmanager
    def watching(self, dbapi_connection: Any) -> Iterator[None]:
        """Watch the statements run inside this block on this driver connection."""
        key = self.start(dbapi_connection)
        try:
            yield
        finally:
            self.stop(key)

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._start_lock:  # started on first use: after gunicorn forks its workers
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="wizard-statement-deadlines", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(self.POLL_SECONDS)
            now = time.monotonic()
            for key, (deadline, dbapi_connection) in list(self._waiting.items()):
                if now > deadline and self._waiting.pop(key, None) is not None:
                    _cut(dbapi_connection)


def _cut(dbapi_connection: Any) -> None:
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


class _NoDeadlines:
    @contextlib.contextmanager
    def watching(self, dbapi_connection: Any) -> Iterator[None]:
        yield


_NO_DEADLINES = _NoDeadlines()
_DEADLINES: weakref.WeakKeyDictionary[sa.Engine, StatementDeadlines] = weakref.WeakKeyDictionary()


def deadlines_of(engine: sa.Engine) -> StatementDeadlines | _NoDeadlines:
    """The deadlines watching this engine's statements (none on SQLite: it has its own)."""
    return _DEADLINES.get(engine, _NO_DEADLINES)


def watch_statements(engine: sa.Engine, timeout: float) -> None:
    """Put a deadline on every statement of the engine, and test idle pooled connections."""
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


def _ping_idle_connections(engine: sa.Engine, deadlines: StatementDeadlines) -> None:
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
