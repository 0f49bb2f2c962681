"""Load and save the identity: one transaction, one atomic upsert, the history beside it."""

import contextlib
import functools
import threading
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from .database import (
    SINGLE_READ,
    SQLITE_BEGIN_IMMEDIATE,
    UTCDateTime,
    db,
    dialect_insert,
    read_one_row,
    utc_from_db,
    utcnow,
)
from .ids import clean_id, license_id_hint
from .models import IdentityChange, LicenseSummary, TelemetryIdentity

IDENTITY = TelemetryIdentity.__table__
SUMMARY = LicenseSummary.__table__
HISTORY = IdentityChange.__table__

# Built once: a statement is immutable, and building it costs more than running it on SQLite.
_READ_IDENTITY = sa.select(
    IDENTITY.c.customer_id,
    IDENTITY.c.instance_id,
    IDENTITY.c.license_id,
    IDENTITY.c.created_at,
    IDENTITY.c.updated_at,
).where(IDENTITY.c.id == 1)

# Serializes saves on PostgreSQL so each history entry records the values it really replaced.
_SAVE_LOCK_KEY = 0x7E1E_3E7E

METHODS = ("wizard", "api", "cli", "sdk", "env")

# Pass as the license id to leave the saved one as it is (as set_customer_info does when the
# keyword is not passed); None clears it.
UNCHANGED = type("Unchanged", (), {"__repr__": lambda self: "UNCHANGED"})()

SUMMARY_FIELDS = tuple(
    column.name for column in SUMMARY.columns if column.name not in {"id", "verified_at"}
)


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
class Identity:
    """The identity as saved."""

    customer_id: str | None
    instance_id: str | None
    license_id: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def has_customer_info(self):
        """True exactly when both the customer id and the instance id are set."""
        return bool(self.customer_id and self.instance_id)

    @property
    def license_id_hint(self):
        """The last four characters of the license id, the most a page may show."""
        return license_id_hint(self.license_id)


def _upsert(connection, table, values, returning=()):
    """INSERT ... ON CONFLICT (id) DO UPDATE: one statement, whoever else is writing."""
    statement = dialect_insert(connection.dialect.name, table).values(id=1, **values)
    statement = statement.on_conflict_do_update(index_elements=["id"], set_=values)
    if returning:
        statement = statement.returning(*returning)
    return connection.execute(statement)


@functools.cache
def _identity_upsert(dialect_name, columns):
    """The identity's upsert, built once per database and set of columns, with bound
    parameters: building a statement around literal values costs more than running it."""
    statement = dialect_insert(dialect_name, IDENTITY)
    statement = statement.values(id=1, updated_at=utcnow(), **{c: sa.bindparam(c) for c in columns})
    statement = statement.on_conflict_do_update(
        index_elements=["id"],
        set_={**{c: statement.excluded[c] for c in columns}, "updated_at": utcnow()},
    )
    return statement.returning(IDENTITY.c.created_at, IDENTITY.c.updated_at, IDENTITY.c.license_id)


def save_identity(customer_id, instance_id, license_id=None, *, summary=None, actor):
    """Save the ids, the license summary and a history entry in one transaction.

    `summary` maps LicenseSummary columns to values and replaces the stored summary; without
    one, the stored summary is kept only while the license id stays the same. Raises
    ValueError (naming the field) for an id that breaks the rule; then nothing is written.
    """
    saved, _ = _save(customer_id, instance_id, license_id, summary, actor, only_if_unset=False)
    return saved


def seed_identity(customer_id, instance_id, license_id=None, *, summary=None, actor):
    """Save as save_identity does, but only while no identity is set: replicas and restarts
    that seed at the same moment save once, and an identity an admin saved is never replaced.

    Returns (saved, None) when it saved, or (None, existing) when it left the identity alone.
    """
    return _save(customer_id, instance_id, license_id, summary, actor, only_if_unset=True)


_INSERT_HISTORY = HISTORY.insert()


_SQLITE_SAVE_MUTEX = threading.Lock()


def _one_saver_per_process():
    """On SQLite, threads of one worker queue on a mutex for the write lock: SQLite's own busy
    handler would make them sleep in steps of up to 100 ms instead. PostgreSQL's row lock
    already queues waiters without sleeping."""
    if db.engine.dialect.name == "sqlite":
        return _SQLITE_SAVE_MUTEX
    return contextlib.nullcontext()


def _lock_and_read(connection):
    """Read the values this save replaces, holding what keeps other savers out until commit.

    SQLite: the transaction began IMMEDIATE, so it already holds the database's write lock.
    PostgreSQL: the row lock (FOR UPDATE), which also hands over the latest committed values
    after a wait; while there is no row yet, an advisory lock serializes the first saves.
    """
    if connection.dialect.name != "postgresql":
        return connection.execute(_READ_IDENTITY).first()
    old = connection.execute(_READ_IDENTITY.with_for_update()).first()
    if old is None:
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_SAVE_LOCK_KEY)))
        old = connection.execute(_READ_IDENTITY.with_for_update()).first()
    return old


def _save(customer_id, instance_id, license_id, summary, actor, only_if_unset):
    values = {}
    for name, value in (("customer_id", customer_id), ("instance_id", instance_id)):
        values[name] = _checked(name, value)
    if license_id is not UNCHANGED:
        values["license_id"] = None if license_id is None else _checked("license_id", license_id)
    if summary is not None:
        unknown = sorted(set(summary) - set(SUMMARY_FIELDS))
        if unknown:
            raise TypeError(f"unknown license summary fields: {unknown}")

    if db.engine.dialect.name == "postgresql" and not only_if_unset:
        saved = _save_in_one_statement(values, summary, actor)
        if saved is not None:
            return saved, None
        # Another process created the row in the same instant: take the locked path below.

    options = {SQLITE_BEGIN_IMMEDIATE: True}
    with (
        _one_saver_per_process(),
        db.engine.connect().execution_options(**options) as connection,
        connection.begin(),
    ):
        old = _lock_and_read(connection)
        if only_if_unset and old is not None and old.customer_id and old.instance_id:
            return None, Identity(**old._mapping)
        upsert = _identity_upsert(connection.dialect.name, tuple(values))
        row = connection.execute(upsert, values).one()
        values["license_id"] = row.license_id
        if summary is not None:
            _upsert(connection, SUMMARY, {**summary, "verified_at": utcnow()})
        elif old is None or old.license_id != values["license_id"]:
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
                "old_license_hint": license_id_hint(old.license_id) if old else None,
                "new_license_hint": license_id_hint(values["license_id"]),
            },
        )
    return Identity(**values, created_at=row.created_at, updated_at=row.updated_at), None


# PostgreSQL: lock and read the old row, upsert, and append the history in one statement, so
# the row lock is held for one round trip and the commit, as long as a bare upsert holds it.
# `old` locks the row (FOR UPDATE hands over the latest committed values after a wait) before
# `saved` writes it, because `saved` reads from `old`. When there is no row yet nothing is
# locked: if another transaction created it meanwhile (`inserted` false, `old_found` false),
# the history would miss what was replaced, so the caller rolls back and takes the locked path.
_SAVE_IN_ONE_STATEMENT = sa.text("""
WITH old AS (
    SELECT customer_id, instance_id, license_id
    FROM telemetry_identity WHERE id = 1 FOR UPDATE
), saved AS (
    INSERT INTO telemetry_identity AS t (id, customer_id, instance_id, license_id, updated_at)
    SELECT 1, :customer_id, :instance_id,
           CASE WHEN :keep_license THEN (SELECT license_id FROM old) ELSE :license_id END,
           statement_timestamp()
    FROM (SELECT count(*) FROM old) AS after_old
    ON CONFLICT (id) DO UPDATE SET
        customer_id = EXCLUDED.customer_id,
        instance_id = EXCLUDED.instance_id,
        license_id = EXCLUDED.license_id,
        updated_at = EXCLUDED.updated_at
    RETURNING t.created_at, t.updated_at, t.license_id, (t.xmax = 0) AS inserted
), history AS (
    INSERT INTO identity_history (changed_at, method, actor, client_address,
        old_customer_id, new_customer_id, old_instance_id, new_instance_id,
        old_license_hint, new_license_hint)
    SELECT statement_timestamp(), :method, :actor, :client_address,
           o.customer_id, :customer_id, o.instance_id, :instance_id,
           CASE WHEN o.license_id IS NULL THEN NULL ELSE '…' || right(o.license_id, 4) END,
           CASE WHEN s.license_id IS NULL THEN NULL ELSE '…' || right(s.license_id, 4) END
    FROM saved AS s LEFT JOIN old AS o ON true
)
SELECT s.created_at, s.updated_at, s.license_id, s.inserted,
       o.license_id AS old_license_id, (SELECT count(*) FROM old) > 0 AS old_found
FROM saved AS s LEFT JOIN old AS o ON true
""").columns(
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
    sa.column("license_id", sa.String()),
    sa.column("inserted", sa.Boolean()),
    sa.column("old_license_id", sa.String()),
    sa.column("old_found", sa.Boolean()),
)


def _save_in_one_statement(values, summary, actor):
    """The PostgreSQL save; None when it met a concurrent first save and rolled back."""
    params = {
        "customer_id": values["customer_id"],
        "instance_id": values["instance_id"],
        "license_id": values.get("license_id"),
        "keep_license": "license_id" not in values,
        "method": actor.method,
        "actor": actor.who,
        "client_address": actor.client_address,
    }
    with db.engine.connect() as connection, connection.begin() as transaction:
        row = connection.execute(_SAVE_IN_ONE_STATEMENT, params).one()
        if not row.old_found and not row.inserted:
            transaction.rollback()
            return None
        if summary is not None:
            _upsert(connection, SUMMARY, {**summary, "verified_at": utcnow()})
        elif not row.old_found or row.old_license_id != row.license_id:
            connection.execute(SUMMARY.delete())
    return Identity(
        customer_id=values["customer_id"],
        instance_id=values["instance_id"],
        license_id=row.license_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _checked(name, value):
    try:
        return clean_id(value)
    except ValueError as error:
        raise ValueError(f"{name} {error}") from None


_READ_IDENTITY_SQL = (
    "SELECT customer_id, instance_id, license_id, created_at, updated_at "
    "FROM telemetry_identity WHERE id = 1"
)


def load_identity():
    """Return the saved identity, or None when nothing has been saved yet.

    Read on every status request, uncached so a change shows at once. It is the hottest path
    a console polls, so it runs its one fixed SELECT on a pooled DBAPI connection: a fifth of
    the cost through SQLAlchemy Core (12 us against 59 us). Errors are still SQLAlchemy's.
    """
    row = read_one_row(_READ_IDENTITY_SQL)
    if row is None:
        return None
    customer_id, instance_id, license_id, created_at, updated_at = row
    return Identity(
        customer_id, instance_id, license_id, utc_from_db(created_at), utc_from_db(updated_at)
    )


_READ_SUMMARY = sa.select(SUMMARY).where(SUMMARY.c.id == 1)
_READ_CHANGES = sa.select(HISTORY).order_by(HISTORY.c.id.desc()).limit(sa.bindparam("limit"))


def load_license_summary():
    """Return the summary of the license behind the identity (a row), or None."""
    with db.engine.connect().execution_options(**{SINGLE_READ: True}) as connection:
        return connection.execute(_READ_SUMMARY).first()


def recent_changes(limit=10):
    """Return the newest entries of the history (rows), newest first."""
    with db.engine.connect().execution_options(**{SINGLE_READ: True}) as connection:
        return connection.execute(_READ_CHANGES, {"limit": limit}).all()


def load_status(changes=10):
    """Return (identity, license summary, newest changes) as one consistent snapshot: what the
    admin's status page shows, read on one connection in one transaction."""
    with db.engine.connect() as connection, connection.begin():
        row = connection.execute(_READ_IDENTITY).first()
        summary = connection.execute(_READ_SUMMARY).first()
        history = connection.execute(_READ_CHANGES, {"limit": changes}).all() if changes else []
    return (Identity(**row._mapping) if row else None), summary, history
