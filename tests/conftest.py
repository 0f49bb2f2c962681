"""Fixtures: the app on SQLite and on PostgreSQL (migrated once per session, copied per test),
its client and CLI runner, real servers, and Chromium."""

import contextlib
import os
import secrets
import shutil
import sqlite3

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tests.support import (
    ADMIN_TOKEN,
    POSTGRES_ADMIN_URL,
    AdminActions,
    Server,
    Wizard,
    need_postgres,
)
from wizard import create_app
from wizard.cli import main as cli_main
from wizard.db import db
from wizard.schema import upgrade_schema


def _migrate(database_url, instance_path):
    app = create_app(
        {
            "WIZARD_DATABASE_URL": database_url,
            "WIZARD_INSTANCE_PATH": str(instance_path),
            "WIZARD_ADMIN_TOKEN": ADMIN_TOKEN,
        }
    )
    with app.app_context():
        upgrade_schema()
        db.engine.dispose()
    if database_url.startswith("sqlite:///"):
        # Fold the write-ahead log into the file, so that a copy of the file is the whole database.
        with contextlib.closing(sqlite3.connect(database_url.removeprefix("sqlite:///"))) as file:
            file.execute("PRAGMA wal_checkpoint(TRUNCATE)")


# Every statement the test support sends PostgreSQL is bounded: a busy machine fails one test
# with a reason rather than hang the suite.
_ADMIN_LIMITS = {
    "connect_timeout": 10,
    "options": "-c statement_timeout=60000 -c lock_timeout=30000",
}


class PostgresDatabases:
    """New PostgreSQL databases for tests: empty, or copied from one migrated template; all
    dropped when the session ends (dropping while tests run would slow every copy)."""

    def __init__(self, factory):
        self.admin = sa.create_engine(
            POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args=_ADMIN_LIMITS
        )
        self.factory = factory
        self.names = []
        self.template = None

    def _url(self, name):
        url = sa.engine.make_url(POSTGRES_ADMIN_URL).set(database=name)
        return url.render_as_string(hide_password=False)

    def create(self, template=None):
        name = f"wizard_test_{secrets.token_hex(6)}"
        with self.admin.connect() as connection:
            clause = ""
            if template:
                # PostgreSQL 15 copies a template through the WAL by default: for a database
                # this small, copying its files is several times quicker.
                version = int(connection.execute(sa.text("SHOW server_version_num")).scalar())
                strategy = " STRATEGY FILE_COPY" if version >= 150000 else ""
                clause = f' TEMPLATE "{template}"{strategy}'
            connection.execute(sa.text(f'CREATE DATABASE "{name}"{clause}'))
        self.names.append(name)
        return name

    def migrated(self):
        if self.template is None:
            self.template = self.create()
            _migrate(self._url(self.template), self.factory.mktemp("template-instance"))
        return self._url(self.create(template=self.template))

    def empty(self):
        return self._url(self.create())

    def close(self):
        """Drop every database made, each within the statement limits; say which were left."""
        left = []
        for name in self.names:
            try:
                with self.admin.connect() as connection:
                    connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            except sa.exc.DBAPIError as error:
                left.append(f"{name}: {error.orig}")
        self.admin.dispose()
        assert not left, f"test databases left behind: {left}"


@pytest.fixture(scope="session")
def postgres_databases(tmp_path_factory):
    need_postgres()
    databases = PostgresDatabases(tmp_path_factory)
    yield databases
    databases.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    """One migrated SQLite file, copied for each test that wants a migrated database."""
    folder = tmp_path_factory.mktemp("sqlite-template")
    _migrate(f"sqlite:///{folder}/wizard.db", folder / "instance")
    return folder / "wizard.db"


@pytest.fixture(params=["sqlite", "postgresql"])
def engine_name(request):
    """Each storage test runs once on SQLite and once on PostgreSQL."""
    return request.param


@pytest.fixture
def database_url(engine_name, request, instance_path):
    """A migrated database of its own for one test (SQLite: in the instance folder, as the
    wizard's own file is by default)."""
    if engine_name == "postgresql":
        yield request.getfixturevalue("postgres_databases").migrated()
        return
    instance_path.mkdir(mode=0o700, exist_ok=True)
    path = instance_path / "wizard.db"
    shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
    path.chmod(0o600)
    yield f"sqlite:///{path}"


@pytest.fixture
def empty_database_url(engine_name, request, instance_path):
    """An empty database (no schema) of its own for one test."""
    if engine_name == "postgresql":
        yield request.getfixturevalue("postgres_databases").empty()
        return
    instance_path.mkdir(mode=0o700, exist_ok=True)
    yield f"sqlite:///{instance_path}/empty.db"


@pytest.fixture
def instance_path(tmp_path):
    return tmp_path / "instance"


@pytest.fixture
def settings(database_url, instance_path):
    """The settings of the app under test, as environment variables would give them."""
    return {
        "WIZARD_DATABASE_URL": database_url,
        "WIZARD_INSTANCE_PATH": str(instance_path),
        "WIZARD_ADMIN_TOKEN": ADMIN_TOKEN,
    }


@pytest.fixture
def make_app(settings):
    """Build an app from the test's settings, with overrides; every one is disposed after."""
    apps = []

    def make(**overrides):
        app = create_app({**settings, "TESTING": True, **overrides})
        apps.append(app)
        return app

    yield make
    for app in apps:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def app(make_app):
    """The app on a migrated database."""
    return make_app()


@pytest.fixture
def bare_app(make_app, empty_database_url):
    """The app on a database that has no schema yet."""
    return make_app(WIZARD_DATABASE_URL=empty_database_url)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def admin(client):
    return AdminActions(client)


@pytest.fixture
def wizard(client, admin):
    """The wizard in a test client, unlocked."""
    admin.unlock()
    return Wizard(client)


@pytest.fixture
def env(settings):
    """The environment a `setup-wizard` process of this test runs with."""
    return {**os.environ, **settings}


class Cli:
    """Runs `setup-wizard` in-process, with the test's settings in its environment."""

    def __init__(self, settings):
        self.settings = settings

    def __call__(self, *args, env=None):
        return CliRunner().invoke(
            cli_main, list(args), env={**self.settings, **(env or {})}, catch_exceptions=False
        )


@pytest.fixture
def runner(settings):
    return Cli(settings)


@pytest.fixture
def start_server(tmp_path):
    """Start real servers; every one is stopped when the test ends."""
    servers = []

    def start(env, workers=4, cwd=None, args=()):
        server = Server(env, cwd or tmp_path, workers=workers, args=args)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def fake_sdk():
    """Start Replicated SDKs on loopback that answer in a given way (`current` by default)."""
    from tests.support.fake_sdk import FakeSdk

    servers = []

    def start(mode="current"):
        server = FakeSdk(mode)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def fake_replicated():
    """Start stand-ins for Replicated's endpoint on loopback, knowing the given license ids."""
    from tests.support.fake_replicated import FakeReplicated

    servers = []

    def start(licenses=(), mode="ok"):
        server = FakeReplicated(licenses, mode)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium driven by Playwright; a failure under REQUIRE_BROWSER=1, else a skip."""
    from tests.support.browser import launch_chromium

    yield from launch_chromium()


def pytest_collection_modifyitems(items):
    """Tests that drive Chromium are marked `browser`: `pytest -m "not browser"` runs the rest."""
    for item in items:
        if "chromium" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
