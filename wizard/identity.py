"""The identity store: the one read of the identity row, and the one way to save it (one
transaction holding one atomic upsert, the license summary and a history entry)."""

import contextlib
import enum
import functools
import threading
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from .database import (
    SQLITE_BEGIN_IMMEDIATE,
    db,
    dialect_insert,
    driver_reads,
    utc_from_db,
    utcnow,
)
from .id_rule import HINT_LENGTH, HINT_PREFIX, InvalidId, clean_id, license_id_hint
from .models import IdentityChange, IdentityFacts, LicenseSummary, TelemetryIdentity

IDENTITY = TelemetryIdentity.__table__
SUMMARY = LicenseSummary.__table__
HISTORY = IdentityChange.__table__

METHODS = ("wizard", "api", "cli", "sdk", "env")
SUMMARY_FIELDS = tuple(c.name for c in SUMMARY.columns if c.name not in {"id", "verified_at"})


class Sentinel(enum.Enum):
    """Values that mean "not given" where None already means something."""

    UNCHANGED = "keep the saved value"
    UNCHECKED = "save over whatever is saved"

    def __repr__(self):
        return self.name


# license_id=UNCHANGED keeps the saved license id, as leaving the keyword out of
# set_customer_info does; None clears it.
UNCHANGED = Sentinel.UNCHANGED
# based_on=UNCHECKED saves over whatever is saved; None or a time refuses a stale review.
UNCHECKED = Sentinel.UNCHECKED


@dataclass(frozen=True)
class Actor:
    """How a save was made (wizard, api, cli, sdk, env), by whom, and from which address."""

    method: str
    who: str | None = None
    client_address: str | None = None

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}")


@dataclass(frozen=True)
class SavedIdentity(IdentityFacts):
    """The identity row as read from the database."""

    customer_id: str | None
    instance_id: str | None
    license_id: str | None
    created_at: datetime
    updated_at: datetime


class InvalidValue(ValueError):
    """A value that cannot be saved: `field` names it, the message says why. Nothing is written."""

    def __init__(self, field, message):
        super().__init__(message)
        self.field = field


class StaleIdentity(Exception):
    """Someone saved the identity after the review was made; `current` is what is saved now."""

    def __init__(self, current):
        super().__init__("the identity changed since the review was made")
        self.current = current


class CustomerIdProblem(ValueError):
    """A typed customer id that the license overrules, or a missing one it cannot supply."""


def customer_id_for(carried, given, source="the license"):
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


# --- Reading ---------------------------------------------------------------------------------

_READ_IDENTITY = sa.select(
    IDENTITY.c.customer_id,
    IDENTITY.c.instance_id,
    IDENTITY.c.license_id,
    IDENTITY.c.created_at,
    IDENTITY.c.updated_at,
).where(IDENTITY.c.id == 1)


def load_identity(connection=None, for_update=False):
    """Return the saved identity, or None when nothing has been saved yet.

    Without a connection it runs on a pooled driver connection, outside any transaction: the
    status a console polls. Uncached, so a change shows at once. With one, inside that
    connection's transaction (and holding the row, for_update, on PostgreSQL).
    """
    if connection is None:
        [rows] = driver_reads((_READ_IDENTITY, None))
    else:
        statement = _READ_IDENTITY.with_for_update() if for_update else _READ_IDENTITY
        rows = connection.execute(statement).all()
    return SavedIdentity(*rows[0]) if rows else None


_READ_SUMMARY = sa.select(SUMMARY).where(SUMMARY.c.id == 1)
_READ_CHANGES = sa.select(HISTORY).order_by(HISTORY.c.id.desc()).limit(sa.bindparam("limit"))


def load_status(changes=10):
    """Return (identity, license summary, newest changes) as one consistent snapshot, read on
    one connection in one transaction: what the admin's status page and the API show."""
    reads = [(_READ_IDENTITY, None), (_READ_SUMMARY, None)]
    if changes:
        reads.append((_READ_CHANGES, {"limit": changes}))
    identity, summary, *history = driver_reads(*reads)
    return (
        SavedIdentity(*identity[0]) if identity else None,
        summary[0] if identity and summary else None,
        history[0] if history else [],
    )


def load_summary():
    """The summary of the license behind the identity, or None."""
    [rows] = driver_reads((_READ_SUMMARY, None))
    return rows[0] if rows else None


# --- Saving ----------------------------------------------------------------------------------


def save_identity(
    customer_id, instance_id, license_id=UNCHANGED, *, summary=None, actor, based_on=UNCHECKED
):
    """Save the ids, the license summary and a history entry in one transaction.

    `license_id`: UNCHANGED (the default) keeps the saved one, None clears it. `summary` maps
    LicenseSummary columns to values and replaces the stored summary; without one, the stored
    summary is kept only while the license id stays the same. `based_on`: the `updated_at` a
    review showed (None: no identity); StaleIdentity is raised when the saved one differs.
    Raises InvalidValue naming the field of a value that breaks the rules; nothing is written.
    """
    values = _checked_ids(customer_id, instance_id, license_id)
    summary = _checked_summary(summary)
    if based_on is UNCHECKED and db.engine.dialect.name == "postgresql":
        saved = _save_postgresql_in_one_statement(values, summary, actor)
        if saved is not None:
            return saved
        # Another process created the row in the same instant: take the locked path.
    saved, _ = _save_locked(values, summary, actor, based_on, only_if_unset=False)
    return saved


def seed_identity(customer_id, instance_id, license_id=UNCHANGED, *, summary=None, actor):
    """Save as save_identity does, but only while no identity is set: replicas and restarts
    that seed at the same moment save once, and an identity an admin saved is never replaced.

    Returns (saved, None) when it saved, or (None, existing) when it left the identity alone.
    """
    values = _checked_ids(customer_id, instance_id, license_id)
    return _save_locked(values, _checked_summary(summary), actor, UNCHECKED, only_if_unset=True)


def _checked_ids(customer_id, instance_id, license_id):
    values = {
        "customer_id": _checked("customer_id", customer_id),
        "instance_id": _checked("instance_id", instance_id),
    }
    if license_id is not UNCHANGED:
        values["license_id"] = None if license_id is None else _checked("license_id", license_id)
    return values


def _checked(name, value):
    try:
        return clean_id(value)
    except InvalidId as error:
        raise InvalidValue(name, f"{name} {error}") from None


def _checked_summary(summary):
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
    return summary


_SQLITE_SAVE_MUTEX = threading.Lock()


def _one_saver_per_process():
    """On SQLite, threads of one worker queue on a mutex for the write lock: SQLite's own busy
    handler would make them sleep in steps of up to 100 ms instead. PostgreSQL's row lock
    already queues waiters without sleeping."""
    if db.engine.dialect.name == "sqlite":
        return _SQLITE_SAVE_MUTEX
    return contextlib.nullcontext()


# Serializes the first saves on PostgreSQL, while there is no row to lock yet.
_FIRST_SAVE_LOCK_KEY = 0x7E1E_3E7E


def _lock_and_read(connection):
    """Read the identity this save replaces, holding what keeps other savers out until commit.

    SQLite: the transaction began IMMEDIATE, so it already holds the database's write lock.
    PostgreSQL: the row lock (FOR UPDATE), which also hands over the latest committed values
    after a wait; while there is no row yet, an advisory lock serializes the first saves.
    """
    if connection.dialect.name != "postgresql":
        return load_identity(connection)
    old = load_identity(connection, for_update=True)
    if old is None:
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_FIRST_SAVE_LOCK_KEY)))
        old = load_identity(connection, for_update=True)
    return old


@functools.cache
def _identity_upsert(dialect_name, columns):
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


def _upsert_summary(connection, summary):
    values = {**summary, "verified_at": utcnow()}
    statement = dialect_insert(connection.dialect.name, SUMMARY).values(id=1, **values)
    connection.execute(statement.on_conflict_do_update(index_elements=["id"], set_=values))


_INSERT_HISTORY = HISTORY.insert()


def _save_locked(values, summary, actor, based_on, only_if_unset):
    """Lock, read what is there, upsert, write the summary and the history; commit."""
    options = {SQLITE_BEGIN_IMMEDIATE: True}
    with (
        _one_saver_per_process(),
        db.engine.connect().execution_options(**options) as connection,
        connection.begin(),
    ):
        old = _lock_and_read(connection)
        if only_if_unset and old is not None and old.has_customer_info:
            return None, old
        if based_on is not UNCHECKED and (old.updated_at if old else None) != based_on:
            raise StaleIdentity(old)
        upsert = _identity_upsert(connection.dialect.name, tuple(values))
        row = connection.execute(upsert, values).one()
        if summary is not None:
            _upsert_summary(connection, summary)
        elif old is None or old.license_id != row.license_id:
            connection.execute(SUMMARY.delete())
        connection.execute(
            _INSERT_HISTORY,
            {
                "method": actor.method,
                "actor": actor.who,
                "client_address": actor.client_address,
                "old_customer_id": old.customer_id if old else None,
                "new_customer_id": values["customer_id"],
                "old_instance_id": old.instance_id if old else None,
                "new_instance_id": values["instance_id"],
                "old_license_hint": old.license_id_hint if old else None,
                "new_license_hint": license_id_hint(row.license_id),
            },
        )
    saved = SavedIdentity(
        values["customer_id"],
        values["instance_id"],
        row.license_id,
        utc_from_db(row.created_at),
        utc_from_db(row.updated_at),
    )
    return saved, None


# PostgreSQL: lock and read the old row, upsert, and append the history in one statement, so
# the row lock is held for one round trip and the commit, as long as a bare upsert holds it.
# `old` locks the row (FOR UPDATE hands over the latest committed values after a wait) before
# `saved` writes it, because `saved` reads from `old`. When there is no row yet nothing is
# locked: if another transaction created it meanwhile (`inserted` false, `old_found` false),
# the history would miss what was replaced, so the caller rolls back and takes the locked path.
# The license-id hint is id_rule's, its prefix and length passed in.
_SAVE_IN_ONE_STATEMENT = sa.text("""
WITH old AS (
    SELECT customer_id, instance_id, license_id
    FROM telemetry_identity WHERE id = 1 FOR UPDATE
), saved AS (
    INSERT INTO telemetry_identity AS t
        (id, customer_id, instance_id, license_id, created_at, updated_at)
    SELECT 1, :customer_id, :instance_id,
           CASE WHEN :keep_license THEN (SELECT license_id FROM old) ELSE :license_id END,
           statement_timestamp(), statement_timestamp()
    FROM (SELECT count(*) FROM old) AS after_old
    ON CONFLICT (id) DO UPDATE SET
        customer_id = EXCLUDED.customer_id,
        instance_id = EXCLUDED.instance_id,
        license_id = EXCLUDED.license_id,
        created_at = COALESCE(t.created_at, EXCLUDED.created_at),
        updated_at = EXCLUDED.updated_at
    RETURNING t.created_at, t.updated_at, t.license_id, (t.xmax = 0) AS inserted
), history AS (
    INSERT INTO identity_history (changed_at, method, actor, client_address,
        old_customer_id, new_customer_id, old_instance_id, new_instance_id,
        old_license_hint, new_license_hint)
    SELECT statement_timestamp(), :method, :actor, :client_address,
           o.customer_id, :customer_id, o.instance_id, :instance_id,
           :hint_prefix || right(o.license_id, :hint_length),
           :hint_prefix || right(s.license_id, :hint_length)
    FROM saved AS s LEFT JOIN old AS o ON true
)
SELECT s.created_at, s.updated_at, s.license_id, s.inserted,
       o.license_id AS old_license_id, (SELECT count(*) FROM old) > 0 AS old_found
FROM saved AS s LEFT JOIN old AS o ON true
""")


def _save_postgresql_in_one_statement(values, summary, actor):
    """The PostgreSQL save; None when it met a concurrent first save and rolled back."""
    params = {
        "customer_id": values["customer_id"],
        "instance_id": values["instance_id"],
        "license_id": values.get("license_id"),
        "keep_license": "license_id" not in values,
        "method": actor.method,
        "actor": actor.who,
        "client_address": actor.client_address,
        "hint_prefix": HINT_PREFIX,
        "hint_length": HINT_LENGTH,
    }
    with db.engine.connect() as connection, connection.begin() as transaction:
        row = connection.execute(_SAVE_IN_ONE_STATEMENT, params).one()
        if not row.old_found and not row.inserted:
            transaction.rollback()
            return None
        if summary is not None:
            _upsert_summary(connection, summary)
        elif not row.old_found or row.old_license_id != row.license_id:
            connection.execute(SUMMARY.delete())
    return SavedIdentity(
        values["customer_id"],
        values["instance_id"],
        row.license_id,
        utc_from_db(row.created_at),
        utc_from_db(row.updated_at),
    )


# --- As JSON ---------------------------------------------------------------------------------


def _iso(moment):
    return moment.isoformat() if moment else None


def status_document(identity, summary, admin):
    """What GET /api/v1/status and `setup-wizard status --json` show: whether and when for
    anyone; the ids, the license-id hint and the license summary for the admin."""
    document = {
        "has_customer_info": bool(identity and identity.has_customer_info),
        "updated_at": _iso(identity.updated_at) if identity else None,
    }
    if admin:
        document.update(
            customer_id=identity.customer_id if identity else None,
            instance_id=identity.instance_id if identity else None,
            license_id_hint=identity.license_id_hint if identity else None,
            license=license_document(summary),
        )
    return document


def license_document(summary):
    """The stored license summary as JSON, or None."""
    if summary is None:
        return None
    document = {name: getattr(summary, name) for name in SUMMARY_FIELDS}
    document.update(
        expires_at=_iso(summary.expires_at),
        entitlements=summary.entitlements or [],
        verified_at=_iso(summary.verified_at),
    )
    return document
