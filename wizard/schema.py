"""Bring the schema up to date, once, however many processes try at the same moment."""

import contextlib
import fcntl
import functools
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from .database import db

MIGRATIONS_DIR = str(Path(__file__).parent / "migrations")

# Held while migrating, so replicas starting together never run the same migration twice.
_MIGRATION_LOCK_KEY = 0x7E1E_3E7F


class SchemaNotReady(Exception):
    """The database cannot be used yet; the message says why and what to do."""


@contextlib.contextmanager
def migration_lock(engine):
    """Hold a lock that every migrating process on this database waits for."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(sa.select(sa.func.pg_advisory_lock(_MIGRATION_LOCK_KEY)))
            connection.commit()
            try:
                yield
            finally:
                connection.execute(sa.select(sa.func.pg_advisory_unlock(_MIGRATION_LOCK_KEY)))
                connection.commit()
    elif engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        database = Path(engine.url.database)
        database.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{database}.migrate-lock", "a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)
    else:
        yield


def _register_migrate(app):
    """Flask-Migrate (and Alembic) load only when migrating: `setup-wizard status` and every
    request stay free of them."""
    import flask_migrate

    if "migrate" not in app.extensions:
        flask_migrate.Migrate(app, db, directory=MIGRATIONS_DIR, compare_type=True)
    return flask_migrate


def upgrade_schema():
    """Run every pending migration (inside an app context), serialized across processes."""
    flask_migrate = _register_migrate(current_app)
    with migration_lock(db.engine):
        flask_migrate.upgrade(directory=MIGRATIONS_DIR)


def migration_app():
    """The app with Flask-Migrate's `flask db` commands, for writing new revisions:
    `FLASK_APP=wizard.schema:migration_app flask db migrate -m "..."`."""
    from . import create_app

    app = create_app()
    _register_migrate(app)
    return app


@functools.cache
def head_revision():
    """Return the newest revision the code knows."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory(MIGRATIONS_DIR).get_current_head()


def check_schema(connection):
    """Raise SchemaNotReady unless the database's schema is the code's newest revision."""
    try:
        current = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    except sa.exc.DBAPIError:
        raise SchemaNotReady(
            "the database has no schema yet: run `setup-wizard db upgrade`"
        ) from None
    if current != head_revision():
        raise SchemaNotReady(
            f"the schema is at revision {current}, the code needs {head_revision()}: "
            "run `setup-wizard db upgrade`"
        )
