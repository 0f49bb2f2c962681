"""What a database error means, in words: for the pages (plain), and for the log and the CLI
(with the driver's own words, which name hosts and users)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa


@dataclass(frozen=True)
class DatabaseProblem:
    """What a database error means: a kind, the HTTP status it gives, plain words fit for
    anyone, and the driver's own words (host names, users: for the log and the CLI only)."""

    kind: str
    status: int
    message: str
    detail: str = ""

    @property
    def full(self) -> str:
        """The message with the driver's words, for the admin at the server (CLI, log)."""
        return f"{self.message.rstrip('.')}: {self.detail}" if self.detail else self.message


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


Matcher = Callable[[str, str], bool]

# (kind, message, whether it is this kind given the SQLSTATE and the driver's words in lower
# case); the first that matches wins.
_KINDS: tuple[tuple[str, str, Matcher], ...] = (
    (
        "timeout",
        "The database did not answer in time.",
        lambda state, words: (
            state == "57014" or "statement timeout" in words or "database is locked" in words
        ),
    ),
    (
        "no_schema",
        "The database has no schema yet: run `setup-wizard db upgrade`.",
        lambda state, words: (
            state == "42P01"
            or "no such table" in words
            or ("relation" in words and "does not exist" in words)
        ),
    ),
    (
        "old_schema",
        "The database's tables are not the ones this version of the wizard uses: run "
        "`setup-wizard db upgrade`.",
        lambda state, words: state == "42703" or "no such column" in words,
    ),
    (
        "permission",
        "The database refused a permission the wizard needs.",
        lambda state, words: (
            state == "42501" or "permission denied" in words or "readonly database" in words
        ),
    ),
    (
        "duplicate_table",
        "The database already has that table.",
        lambda state, words: state == "42P07" or ("table" in words and "already exists" in words),
    ),
    (
        "too_long",
        "A value is longer than the database can store.",
        lambda state, words: state == "22001" or "value too long" in words,
    ),
    (
        "login",
        "The database refused the wizard's login.",
        lambda state, words: (
            state.startswith("28")
            or "authentication failed" in words
            or "not permitted to log in" in words
            or ("role" in words and "does not exist" in words)
        ),
    ),
    ("no_database", "The database does not exist.", lambda state, words: state == "3D000"),
)
# The driver's words add nothing where the message says it all.
_PLAIN = {"busy", "timeout", "no_schema", "too_long"}


def _kind(state: str, words: str) -> tuple[str, str] | None:
    for kind, message, matches in _KINDS:
        if matches(state, words):
            return kind, message
    return None


def database_problem(error: BaseException) -> DatabaseProblem:
    """Say what really happened behind a SQLAlchemy error: the database could not be reached or
    did not answer in time, has no schema (or an older one), refused a permission, already has
    a table, or was handed a value too long; never "cannot reach" when the database did answer."""
    if isinstance(error, sa.exc.TimeoutError):
        return DatabaseProblem("busy", 503, "Every connection to the database is in use.")
    orig = getattr(error, "orig", None)
    state = getattr(orig, "sqlstate", None) or ""
    text = _first_line(error)
    found = _kind(state, text.lower())
    if found is None:
        unreachable = state.startswith("08") or (
            isinstance(orig, _connection_errors()) and not state
        )
        found = (
            ("unreachable", "The database cannot be reached.")
            if unreachable
            else ("refused", "The database refused the request.")
        )
    kind, message = found
    return DatabaseProblem(
        kind, 422 if kind == "too_long" else 503, message, "" if kind in _PLAIN else text
    )


def _connection_errors() -> tuple[type[BaseException], ...]:
    """Driver errors raised before the database said anything (no SQLSTATE): connecting failed,
    the connection broke, or SQLite could not open its file."""
    import sqlite3

    kinds: list[type[BaseException]] = [sqlite3.OperationalError]
    with contextlib.suppress(ImportError):
        import psycopg

        kinds.append(psycopg.OperationalError)
    return tuple(kinds)
