"""The wizard's tables in a database it may share with the host application: migrations under
the wizard's own Alembic version table, an identity table the host already created adopted
when it has the right shape, and a filter that keeps the host's Alembic away from the rest."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app

from . import models  # noqa: F401 - the tables of db.metadata, which the CLI does not import
from .db import database_problem, db

log = logging.getLogger("wizard.schema")

MIGRATIONS_DIR = str(Path(__file__).parent / "migrations")

# The wizard's Alembic history is its own, beside the host's `alembic_version`.
VERSION_TABLE = "wizard_alembic_version"
HOST_VERSION_TABLE = "alembic_version"

# The identity table is shared with the host application; every other table is the wizard's.
IDENTITY_TABLE = "telemetry_identity"

_WIZARD_VERSIONS = sa.table(VERSION_TABLE, sa.column("version_num"))
_HOST_VERSIONS = sa.table(HOST_VERSION_TABLE, sa.column("version_num"))

# Held while migrating, so replicas starting together never run the same migration twice.
_MIGRATION_LOCK_KEY = 0x7E1E_3E7F


class SchemaNotReady(Exception):
    """The database cannot be used yet; the message says why and what to do."""


class SchemaConflict(Exception):
    """The database holds something the wizard cannot take over; nothing was changed."""


def wizard_tables() -> frozenset[str]:
    """The names of the tables the wizard's migrations create, its version table included."""
    return frozenset(db.metadata.tables) | {VERSION_TABLE}


def host_include_name(
    host_metadata: sa.MetaData | None = None,
) -> Callable[[str | None, str, Mapping[str, str | None]], bool]:
    """For the host application's Alembic `env.py`: leave the wizard's tables to the wizard.

    Pass the host's `target_metadata`: a wizard table the host's own models declare (the
    identity table, usually) is still compared, so the host keeps owning it.

        context.configure(..., include_name=host_include_name(target_metadata))

    or, with Flask-Migrate's own env.py (it passes Migrate's keywords on to configure):

        Migrate(app, db, include_name=host_include_name(db.metadata))
    """
    ours = wizard_tables()

    def include_name(name: str | None, type_: str, parent_names: Mapping[str, str | None]) -> bool:
        # The host's tables are read at each call, not now: `Migrate(app, db, include_name=...)`
        # runs before the host imports its models.
        declared = host_metadata is not None and name in host_metadata.tables
        return not (type_ == "table" and name in ours and not declared)

    return include_name


def include_wizard_tables(
    name: str | None, type_: str, parent_names: Mapping[str, str | None]
) -> bool:
    """For the wizard's own Alembic: compare only the wizard's tables, never the host's."""
    return type_ != "table" or name in db.metadata.tables


# How long a migration waits for another process's (a replica's, a Helm job's) before it
# gives up with a message; it says it is waiting every few seconds.
MIGRATION_WAIT_SECONDS = 120.0
_SAY_EVERY = 5.0


def _wait_for(try_once: Callable[[], bool], what: str) -> None:
    """Poll for a lock until it is ours, saying so while it waits; SchemaConflict at the end."""
    started = time.monotonic()
    said = started
    while not try_once():
        now = time.monotonic()
        if now - started >= MIGRATION_WAIT_SECONDS:
            raise SchemaConflict(
                f"Another migration has held {what} for over {MIGRATION_WAIT_SECONDS:g} "
                "seconds; the wizard changed nothing. Is a `setup-wizard db upgrade` stuck? "
                "Stop it, then try again."
            )
        if now - said >= _SAY_EVERY:
            log.info("waiting for another migration to finish (%s)", what)
            said = now
        time.sleep(0.2)


def _lock_file_path(database: Path, instance_path: str | None) -> Path:
    """Beside the wizard's own SQLite file; in the instance folder for a host's file."""
    if instance_path is None or database.resolve().parent == Path(instance_path).resolve():
        return Path(f"{database}.migrate-lock")
    digest = hashlib.sha256(str(database.resolve()).encode()).hexdigest()[:16]
    return Path(instance_path) / f"migrate-{digest}.lock"


def _open_lock_file(path: Path) -> int:
    """The lock file, made private; refused when it is a link or another user's (planted)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as error:
        raise SchemaConflict(
            f"Cannot open the migration lock {path} ({error.strerror}); the wizard changed "
            "nothing. It must be a plain file, not a link."
        ) from None
    info = os.fstat(fd)
    if info.st_uid != os.geteuid() or info.st_mode & 0o022:
        os.close(fd)
        whose = "belongs to another user" if info.st_uid != os.geteuid() else "others may write"
        raise SchemaConflict(
            f"The migration lock {path} {whose}, so the wizard does not trust it and changed "
            f"nothing. Remove it (the wizard makes its own), then try again."
        )
    return fd


@contextlib.contextmanager
def migration_lock(engine: sa.Engine, instance_path: str | None = None) -> Iterator[None]:
    """Hold a lock that every migrating process on this database waits for, within
    MIGRATION_WAIT_SECONDS, saying that it waits."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            lock = sa.select(sa.func.pg_try_advisory_lock(_MIGRATION_LOCK_KEY))
            _wait_for(lambda: bool(connection.execute(lock).scalar()), "the database's lock")
            connection.commit()
            try:
                yield
            finally:
                connection.execute(sa.select(sa.func.pg_advisory_unlock(_MIGRATION_LOCK_KEY)))
                connection.commit()
    elif engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        path = _lock_file_path(Path(str(engine.url.database)), instance_path)
        fd = _open_lock_file(path)
        try:
            _wait_for(lambda: _try_flock(fd), str(path))
            yield
        finally:
            os.close(fd)  # closing releases the lock
    else:
        yield


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _register_migrate(app: Flask) -> Any:
    """Flask-Migrate (and Alembic) load only when migrating: `setup-wizard status` and every
    request stay free of them."""
    import flask_migrate

    if "migrate" not in app.extensions:
        flask_migrate.Migrate(
            app,
            db,
            directory=MIGRATIONS_DIR,
            compare_type=True,
            version_table=VERSION_TABLE,
            include_name=include_wizard_tables,
        )
    return flask_migrate


def upgrade_schema() -> None:
    """Run every pending migration (inside an app context), serialized across processes.

    Before the first migration it moves an older install's revision out of the host's
    `alembic_version`, and checks that tables it would create are not already there (an
    identity table of the right shape is adopted instead). Raises SchemaConflict, having
    changed nothing, when the database holds what the wizard cannot take over.
    """
    flask_migrate = _register_migrate(current_app)
    with migration_lock(db.engine, current_app.config.get("WIZARD_INSTANCE_PATH")):
        with db.engine.begin() as connection:
            _move_revision_from_host_table(connection)
            if _wizard_revision(connection) is None:
                _check_existing_tables(connection)
        flask_migrate.upgrade(directory=MIGRATIONS_DIR)


def migration_app() -> Flask:
    """The app with Flask-Migrate's `flask db` commands, for writing new revisions:
    `FLASK_APP=wizard.schema:migration_app flask db migrate -m "..."`."""
    from . import create_app

    app = create_app()
    _register_migrate(app)
    return app


# The newest revision in migrations/versions, written here so that readiness checks need not
# load Alembic in every worker (tests/test_schema.py checks that it is Alembic's head).
HEAD_REVISION = "0005"


def head_revision() -> str:
    """Return the newest revision the code knows."""
    return HEAD_REVISION


def _wizard_revision(connection: sa.Connection) -> str | None:
    """The revision in the wizard's version table, or None when it has none (or no table)."""
    if not sa.inspect(connection).has_table(VERSION_TABLE):
        return None
    return connection.execute(sa.select(_WIZARD_VERSIONS.c.version_num)).scalar()


# What the wizard's migrations had created by each revision it ever wrote into the host's
# `alembic_version` (older installs): only a database holding all of it, column for column,
# is taken to be the wizard's. Revision ids such as 0001 are common in host histories too.
_TABLES_BY_REVISION = {
    "0001": ("telemetry_identity", "license_summary", "identity_history"),
    "0002": ("telemetry_identity", "license_summary", "identity_history", "failed_unlock"),
}
# Columns later revisions added to those tables: an older install does not have them yet.
_COLUMNS_ADDED_SINCE = {"license_summary": {"endpoint", "channel_id"}}  # 0004


def _is_the_wizards(inspector: Any, revision: str) -> bool:
    tables = _TABLES_BY_REVISION.get(revision)
    if tables is None:
        return False
    for name in tables:
        if not inspector.has_table(name):
            return False
        found = {column["name"] for column in inspector.get_columns(name)}
        expected = set(db.metadata.tables[name].columns.keys()) - _COLUMNS_ADDED_SINCE.get(
            name, set()
        )
        if found != expected:
            return False
    return True


def _move_revision_from_host_table(connection: sa.Connection) -> None:
    """Installs made before the wizard had its own version table kept its revision in
    `alembic_version`: move it over once. A host's revisions there are left as they are, and
    a revision is taken for the wizard's only when every table the wizard had made by then is
    there with the wizard's columns."""
    inspector = sa.inspect(connection)
    if inspector.has_table(VERSION_TABLE) or not inspector.has_table(HOST_VERSION_TABLE):
        return
    rows = connection.execute(sa.select(_HOST_VERSIONS.c.version_num)).scalars().all()
    ours = [revision for revision in rows if _is_the_wizards(inspector, revision)]
    if len(ours) != 1:
        return  # nothing of the wizard's, or a history it never wrote
    version = sa.Table(
        VERSION_TABLE,
        sa.MetaData(),
        sa.Column("version_num", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("version_num", name=f"{VERSION_TABLE}_pkc"),
    )
    version.create(connection)
    connection.execute(version.insert(), [{"version_num": revision} for revision in ours])
    connection.execute(_HOST_VERSIONS.delete().where(_HOST_VERSIONS.c.version_num.in_(ours)))
    if len(rows) == 1:
        # The table held only the wizard's revision: the wizard made it, and takes it away.
        sa.Table(HOST_VERSION_TABLE, sa.MetaData()).drop(connection)


def _check_existing_tables(connection: sa.Connection) -> None:
    """Before the wizard's first migration: adopt a host's identity table of the seed's shape;
    refuse, naming what differs, an identity table of another shape or any other wizard table
    that is already there."""
    inspector = sa.inspect(connection)
    present = set(inspector.get_table_names())
    taken = sorted((set(db.metadata.tables) - {IDENTITY_TABLE}) & present)
    if taken:
        raise SchemaConflict(
            f"The database already has the table(s) {', '.join(taken)}, which the wizard "
            "creates itself and did not create here. The wizard changed nothing: rename "
            "those tables, or give the wizard another database."
        )
    if IDENTITY_TABLE in present:
        problems = identity_table_problems(inspector, connection.dialect.name)
        if problems:
            raise SchemaConflict(
                f"The database already has a {IDENTITY_TABLE} table, but it does not fit: "
                + "; ".join(problems)
                + ". The wizard changed nothing. Make the table match (docs/host.md), or give "
                "the wizard another database."
            )


_WANTED_COLUMNS = {
    "id": sa.Integer,
    "customer_id": sa.String,
    "instance_id": sa.String,
    "license_id": sa.String,
    "created_at": sa.DateTime,
    "updated_at": sa.DateTime,
}


def _column_problem(name: str, found: Any, kind: type[Any], dialect_name: str) -> str | None:
    """Why a column of this reflected type cannot hold what the wizard writes, or None."""
    if isinstance(found, sa.types.NullType):
        return f"its column {name} is of a type the wizard does not know"
    if kind is sa.String and type(found) is sa.String:
        # What reflection gives for a text type of no standard name, such as PostgreSQL's
        # `name` (63 characters): it would cut ids short without a word.
        return f"its column {name} is not VARCHAR or TEXT, and may cut ids short"
    if isinstance(found, sa.CHAR | sa.NCHAR):
        return f"its column {name} is {found}: CHAR pads the ids with spaces"
    if not isinstance(found, kind):
        return f"its column {name} is {found}, not {kind.__name__.upper()}"
    if kind is sa.String and found.length is not None and found.length < 255:
        return f"its column {name} is {found}: ids need 255 characters"
    if kind is sa.DateTime and dialect_name == "postgresql" and not found.timezone:
        return f"its column {name} is {found}, not TIMESTAMP WITH TIME ZONE"
    return None


def _constraint_problems(inspector: Any, columns: dict[str, Any]) -> list[str]:
    problems = []
    if "license_id" in columns and not columns["license_id"]["nullable"]:
        problems.append("its column license_id is NOT NULL, but a license id may be cleared")
    for name, column in columns.items():
        if name not in _WANTED_COLUMNS and not column["nullable"] and column.get("default") is None:
            problems.append(f"its column {name} is NOT NULL without a default")
    if inspector.get_pk_constraint(IDENTITY_TABLE).get("constrained_columns") != ["id"]:
        problems.append("id is not its primary key")
    checks = [
        "".join(str(check.get("sqltext", "")).split()).strip("()").lower()
        for check in inspector.get_check_constraints(IDENTITY_TABLE)
    ]
    if "id=1" not in checks:
        problems.append("it has no check constraint id = 1 (at most one row)")
    return problems


def identity_table_problems(inspector: Any, dialect_name: str) -> list[str]:
    """How an existing telemetry_identity differs from the shape the wizard writes: the six
    columns (with usable types), id as the primary key, and the single-row check on id = 1.
    An empty list when it fits."""
    problems = []
    columns = {column["name"]: column for column in inspector.get_columns(IDENTITY_TABLE)}
    for name, kind in _WANTED_COLUMNS.items():
        column = columns.get(name)
        if column is None:
            problems.append(f"it has no column {name}")
            continue
        problem = _column_problem(name, column["type"], kind, dialect_name)
        if problem:
            problems.append(problem)
    return problems + _constraint_problems(inspector, columns)


def ensure_current_schema(connection: sa.Connection) -> None:
    """Raise SchemaNotReady unless the database's schema is the code's newest revision."""
    try:
        current = connection.execute(sa.select(_WIZARD_VERSIONS.c.version_num)).scalar()
    except sa.exc.DBAPIError as error:
        if database_problem(error).kind != "no_schema":
            raise
        current = None
    if current is None:
        raise SchemaNotReady("the database has no schema yet: run `setup-wizard db upgrade`")
    if current != head_revision():
        raise SchemaNotReady(
            f"the schema is at revision {current}, the code needs {head_revision()}: "
            "run `setup-wizard db upgrade`"
        )
