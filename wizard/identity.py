"""The identity store: the one read of the identity row, and the one way to save it (one
transaction holding one atomic upsert, the license summary and a history entry)."""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

import sqlalchemy as sa
from flask import current_app, has_app_context

from .db import (
    SQLITE_BEGIN_IMMEDIATE,
    db,
    dialect_insert,
    driver_execute,
    driver_reads,
    pipelined,
    utc_from_db,
    utcnow,
)
from .db.deadlines import deadlines_of
from .ids import UNCHANGED, InvalidValue, Sentinel, checked_ids, license_id_hint
from .models import IdentityChange, IdentityFacts, LicenseSummary, TelemetryIdentity, table_of
from .watch import keep_deployment_id

__all__ = [
    "UNCHANGED",
    "UNCHECKED",
    "Actor",
    "CustomerIdProblem",
    "InvalidValue",
    "SavedIdentity",
    "Source",
    "StaleIdentity",
    "customer_id_for",
    "kept_license_id",
    "license_json",
    "load_identity",
    "load_status",
    "load_summary",
    "save_identity",
    "seed_identity",
    "status_json",
]

IDENTITY = table_of(TelemetryIdentity)
SUMMARY = table_of(LicenseSummary)
HISTORY = table_of(IdentityChange)

SUMMARY_FIELDS = tuple(c.name for c in SUMMARY.columns if c.name not in {"id", "verified_at"})

# based_on=UNCHECKED saves over whatever is saved; None or a time refuses a stale review.
UNCHECKED = Sentinel.UNCHECKED


class Source(StrEnum):
    """How an identity, or the license behind it, came to the wizard: one vocabulary for the
    history's `method`, the license summary's `source` and the wizard's drafts."""

    WIZARD = "wizard"  # saved from the browser
    API = "api"
    CLI = "cli"
    SDK = "sdk"  # the Replicated SDK: Detect, `detect --save`, WIZARD_DETECT_ON_START
    ENV = "env"  # pre-seeded from WIZARD_* variables at start
    UPLOAD = "upload"  # a license file uploaded in the wizard
    PASTE = "paste"  # license text pasted in the wizard
    MANUAL = "manual"  # ids typed in the wizard, without a license
    HOST = "host"  # the application's own code, through its own session (models.py)


# Which of them say how a save was made (the history), and where a draft's answers came from.
HISTORY_METHODS = frozenset(
    {Source.WIZARD, Source.API, Source.CLI, Source.SDK, Source.ENV, Source.HOST}
)
DRAFT_SOURCES = frozenset({Source.UPLOAD, Source.PASTE, Source.MANUAL, Source.SDK})


@dataclass(frozen=True)
class Actor:
    """How a save was made (wizard, api, cli, sdk, env), by whom, and from which address."""

    method: Source
    who: str | None = None
    client_address: str | None = None

    def __post_init__(self) -> None:
        try:
            method = Source(self.method)
        except ValueError:
            method = None
        if method not in HISTORY_METHODS:
            names = ", ".join(sorted(HISTORY_METHODS))
            raise ValueError(f"method must be one of {names}, not {self.method!r}")
        object.__setattr__(self, "method", method)


@dataclass(frozen=True)
class SavedIdentity(IdentityFacts):
    """The identity row as read from the database."""

    customer_id: str | None
    instance_id: str | None
    license_id: str | None
    created_at: datetime | None
    updated_at: datetime | None


class StaleIdentity(Exception):
    """Someone saved the identity after the review was made; `current` is what is saved now."""

    def __init__(self, current: SavedIdentity | None) -> None:
        super().__init__("the identity changed since the review was made")
        self.current = current


class CustomerIdProblem(ValueError):
    """A typed customer id that the license overrules, or a missing one it cannot supply."""


def customer_id_for(carried: str | None, given: str | None, source: str = "the license") -> str:
    """The one rule for a customer id: the one a license (or the SDK) carries wins; a given one
    must then be the same or left out; without one carried, the given one is required.

    Raises CustomerIdProblem with a message to put after the field's name.
    """
    if carried:
        if given and given != carried:
            raise CustomerIdProblem(
                f"{given} differs from the customer ID {carried} that {source} carries: "
                "leave it out"
            )
        return carried
    if not given:
        raise CustomerIdProblem(f"is required: {source} does not carry one")
    return given


def kept_license_id(typed: str | None) -> str | Sentinel:
    """The one rule for typed ids: without a license id, the saved one is kept."""
    return typed if typed else UNCHANGED


# --- Reading ---------------------------------------------------------------------------------

_READ_IDENTITY = sa.select(
    IDENTITY.c.customer_id,
    IDENTITY.c.instance_id,
    IDENTITY.c.license_id,
    IDENTITY.c.created_at,
    IDENTITY.c.updated_at,
).where(IDENTITY.c.id == 1)


def load_identity(
    connection: sa.Connection | None = None, for_update: bool = False
) -> SavedIdentity | None:
    """Return the saved identity, or None when nothing has been saved yet.

    Without a connection it runs on a pooled driver connection, outside any transaction: the
    status a console polls. Uncached, so a change shows at once. With one, inside that
    connection's transaction (and holding the row, for_update, on PostgreSQL).
    """
    if connection is None:
        [rows] = driver_reads((_READ_IDENTITY, None))
    else:
        rows = driver_execute(
            connection, _READ_IDENTITY_FOR_UPDATE if for_update else _READ_IDENTITY
        )
    return SavedIdentity(*rows[0]) if rows else None


_READ_IDENTITY_FOR_UPDATE = _READ_IDENTITY.with_for_update()
_READ_SUMMARY = sa.select(SUMMARY).where(SUMMARY.c.id == 1)
_READ_CHANGES = sa.select(HISTORY).order_by(HISTORY.c.id.desc()).limit(sa.bindparam("limit"))


def load_status(changes: int = 10) -> tuple[SavedIdentity | None, Any, list[Any]]:
    """Return (identity, license summary, newest changes) as one consistent snapshot, read on
    one connection in one transaction: what the admin's status page and the API show."""
    reads: list[tuple[sa.Select[Any], dict[str, Any] | None]] = [
        (_READ_IDENTITY, None),
        (_READ_SUMMARY, None),
    ]
    if changes:
        reads.append((_READ_CHANGES, {"limit": changes}))
    identity, summary, *history = driver_reads(*reads)
    return (
        SavedIdentity(*identity[0]) if identity else None,
        summary[0] if identity and summary else None,
        history[0] if history else [],
    )


def load_summary() -> Any:
    """The summary of the license behind the identity, or None."""
    [rows] = driver_reads((_READ_SUMMARY, None))
    return rows[0] if rows else None


# --- Saving ----------------------------------------------------------------------------------


def save_identity(
    customer_id: str,
    instance_id: str,
    license_id: str | Sentinel | None = UNCHANGED,
    *,
    summary: Mapping[str, Any] | None = None,
    actor: Actor,
    based_on: datetime | Sentinel | None = UNCHECKED,
) -> SavedIdentity:
    """Save the ids, the license summary and a history entry in one transaction.

    `license_id`: UNCHANGED (the default) keeps the saved one, None clears it. `summary` maps
    LicenseSummary columns to values and replaces the stored summary; without one, the stored
    summary is kept only while the license id stays the same. `based_on`: the `updated_at` a
    review showed (None: no identity); StaleIdentity is raised when the saved one differs.
    Raises InvalidValue naming the field of a value that breaks the rules; nothing is written.
    """
    values = checked_ids(customer_id, instance_id, license_id)
    saved, _ = _save(values, _checked_summary(summary), actor, based_on, only_if_unset=False)
    return cast(SavedIdentity, saved)  # always saved: only_if_unset is off


def seed_identity(
    ids: tuple[str, str] | tuple[str, str, str | Sentinel | None],
    *,
    summary: Mapping[str, Any] | None = None,
    actor: Actor,
) -> tuple[SavedIdentity | None, SavedIdentity | None]:
    """Save the ids (customer, instance and, when given, license) as save_identity does, but
    only while no identity is set: replicas and restarts that seed at the same moment save
    once, and an identity an admin saved is never replaced.

    Returns (saved, None) when it saved, or (None, existing) when it left the identity alone.
    """
    values = checked_ids(*ids)
    return _save(values, _checked_summary(summary), actor, UNCHECKED, only_if_unset=True)


def _checked_summary(summary: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Refuse a summary value longer than its column, naming it, before anything is written."""
    if summary is None:
        return None
    unknown = sorted(set(summary) - set(SUMMARY_FIELDS))
    if unknown:
        raise TypeError(f"unknown license summary fields: {unknown}")
    for name, value in summary.items():
        limit = getattr(SUMMARY.c[name].type, "length", None)
        if limit and isinstance(value, str) and len(value) > limit:
            what = name.replace("_", " ")
            raise InvalidValue(
                name,
                f"The license's {what} is {len(value)} characters long; at most {limit} can be "
                "saved. Ask your vendor about this license.",
            )
    return dict(summary)


_SQLITE_SAVE_MUTEX = threading.Lock()


def _one_saver_per_process() -> contextlib.AbstractContextManager[Any]:
    """On SQLite, threads of one worker queue on a mutex for the write lock: SQLite's own busy
    handler would make them sleep in steps of up to 100 ms instead. PostgreSQL's row lock
    already queues waiters without sleeping."""
    if db.engine.dialect.name == "sqlite":
        return _SQLITE_SAVE_MUTEX
    return contextlib.nullcontext()


# Serializes the first saves on PostgreSQL, while there is no row to lock yet.
_FIRST_SAVE_LOCK_KEY = 0x7E1E_3E7E
_FIRST_SAVE_LOCK = sa.select(sa.func.pg_advisory_xact_lock(_FIRST_SAVE_LOCK_KEY))


def _lock_and_read(connection: sa.Connection) -> SavedIdentity | None:
    """Read the identity this save replaces, holding what keeps other savers out until commit.

    SQLite: the transaction began IMMEDIATE, so it already holds the database's write lock.
    PostgreSQL: the row lock (FOR UPDATE), which also hands over the latest committed values
    after a wait; while there is no row yet, an advisory lock serializes the first saves.
    """
    if connection.dialect.name != "postgresql":
        return load_identity(connection)
    old = load_identity(connection, for_update=True)
    if old is None:
        driver_execute(connection, _FIRST_SAVE_LOCK)
        old = load_identity(connection, for_update=True)
    return old


@functools.cache
def _identity_upsert(dialect_name: str, columns: tuple[str, ...]) -> Any:
    """INSERT ... ON CONFLICT (id) DO UPDATE for these columns, built once, with bound
    parameters: building a statement around literal values costs more than running it."""
    statement = dialect_insert(dialect_name, IDENTITY).values(
        id=1, created_at=utcnow(), updated_at=utcnow(), **{c: sa.bindparam(c) for c in columns}
    )
    statement = statement.on_conflict_do_update(
        index_elements=["id"],
        set_={
            **{c: statement.excluded[c] for c in columns},
            # A row the host made may have no created_at: the first save fills it.
            "created_at": sa.func.coalesce(IDENTITY.c.created_at, utcnow()),
            "updated_at": utcnow(),
        },
    )
    return statement.returning(IDENTITY.c.created_at, IDENTITY.c.updated_at, IDENTITY.c.license_id)


def _write_summary(
    connection: sa.Connection,
    summary: dict[str, Any] | None,
    old: SavedIdentity | None,
    license_id: str | None,
) -> None:
    """Replace the license summary with the new one; without one, keep it only while the
    license id stays the same."""
    if summary is not None:
        values = {**summary, "verified_at": utcnow()}
        statement = dialect_insert(connection.dialect.name, SUMMARY).values(id=1, **values)
        connection.execute(statement.on_conflict_do_update(index_elements=["id"], set_=values))
    elif old is None or old.license_id != license_id:
        connection.execute(SUMMARY.delete())


_INSERT_HISTORY = HISTORY.insert().inline()  # no RETURNING of the new id: nothing reads it


def _history_entry(
    actor: Actor, old: SavedIdentity | None, new: dict[str, Any], license_id: str | None
) -> dict[str, Any]:
    """The history row of a save: old and new values, the license id only as its hint."""
    return {
        "method": str(actor.method),
        "actor": actor.who,
        "client_address": actor.client_address,
        "old_customer_id": old.customer_id if old else None,
        "new_customer_id": new["customer_id"],
        "old_instance_id": old.instance_id if old else None,
        "new_instance_id": new["instance_id"],
        "old_license_hint": old.license_id_hint if old else None,
        "new_license_hint": license_id_hint(license_id),
    }


@contextlib.contextmanager
def _save_transaction() -> Iterator[tuple[sa.Connection, sa.RootTransaction]]:
    """One saver at a time: SQLite's write lock taken when the transaction begins."""
    options = {SQLITE_BEGIN_IMMEDIATE: True}
    with (
        _one_saver_per_process(),
        db.engine.connect().execution_options(**options) as connection,
        connection.begin() as transaction,
    ):
        yield connection, transaction


def _deployment_id() -> str | None:
    """WIZARD_DEPLOYMENT_ID of the app saving: kept with the identity (watch.py)."""
    return current_app.config.get("WIZARD_DEPLOYMENT_ID") if has_app_context() else None


def _save(
    values: dict[str, Any],
    summary: dict[str, Any] | None,
    actor: Actor,
    based_on: datetime | Sentinel | None,
    only_if_unset: bool,
) -> tuple[SavedIdentity | None, SavedIdentity | None]:
    """Lock, read what is there, upsert, write the summary and the history; commit."""
    with _save_transaction() as (connection, transaction):
        old = _lock_and_read(connection)
        if only_if_unset and old is not None and old.has_customer_info:
            return None, old
        if based_on is not UNCHECKED and (old.updated_at if old else None) != based_on:
            raise StaleIdentity(old)
        license_id = values.get("license_id", old.license_id if old else None)
        _write_summary(connection, summary, old, license_id)
        keep_deployment_id(connection, _deployment_id())
        upsert = _identity_upsert(connection.dialect.name, tuple(values))
        # The row is locked from here to the commit: the upsert, the history and the commit go
        # to the database together (on PostgreSQL), so the lock is held for one round trip.
        with pipelined(connection):
            returned = driver_execute(connection, upsert, values, later=True)
            history = _history_entry(actor, old, values, license_id)
            written = driver_execute(connection, _INSERT_HISTORY, history, later=True)
            with deadlines_of(connection.engine).watching(connection.connection.dbapi_connection):
                transaction.commit()
        written()
        [row] = returned()
    saved = SavedIdentity(
        values["customer_id"],
        values["instance_id"],
        row.license_id,
        utc_from_db(row.created_at),
        utc_from_db(row.updated_at),
    )
    return saved, None


# --- As JSON ---------------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def status_json(identity: SavedIdentity | None, summary: Any, admin: bool) -> dict[str, Any]:
    """What GET /api/v1/status and `setup-wizard status --json` show: whether and when for
    anyone; the ids, the license-id hint and the license summary for the admin."""
    body: dict[str, Any] = {
        "has_customer_info": bool(identity and identity.has_customer_info),
        "updated_at": _iso(identity.updated_at) if identity else None,
    }
    if admin:
        body.update(
            customer_id=identity.customer_id if identity else None,
            instance_id=identity.instance_id if identity else None,
            license_id_hint=identity.license_id_hint if identity else None,
            license=license_json(summary),
        )
    return body


def license_json(summary: Any) -> dict[str, Any] | None:
    """The stored license summary as JSON, or None."""
    if summary is None:
        return None
    body = {name: getattr(summary, name) for name in SUMMARY_FIELDS}
    body.update(
        expires_at=_iso(summary.expires_at),
        entitlements=summary.entitlements or [],
        verified_at=_iso(summary.verified_at),
    )
    return body
