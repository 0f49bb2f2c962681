"""Fixtures: an app on SQLite and on PostgreSQL, its client and CLI runner, and real servers."""

import functools
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from wizard import create_app
from wizard.cli import main as cli_main
from wizard.schema import upgrade_schema

ADMIN_TOKEN = "test-admin-token-" + "x" * 24
POSTGRES_ADMIN_URL = os.environ.get(
    "WIZARD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("REQUIRE_POSTGRES") == "1"


@functools.cache
def _postgres_problem():
    """Return why PostgreSQL cannot be used for tests, or None when it can."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed"
    try:
        engine = sa.create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as error:  # noqa: BLE001 - any failure means "not available"
        return f"PostgreSQL at {POSTGRES_ADMIN_URL} does not answer: {error}"
    return None


def need_postgres():
    """Skip when PostgreSQL is missing; fail instead under REQUIRE_POSTGRES=1 (as CI sets)."""
    problem = _postgres_problem()
    if problem and REQUIRE_POSTGRES:
        pytest.fail(f"REQUIRE_POSTGRES=1 but {problem}")
    if problem:
        pytest.skip(f"{problem} (set REQUIRE_POSTGRES=1 to make this a failure)")


@pytest.fixture
def postgresql_url():
    """A new, empty PostgreSQL database for one test, dropped afterwards."""
    need_postgres()
    name = f"wizard_test_{secrets.token_hex(6)}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(POSTGRES_ADMIN_URL).set(database=name)
    yield url.render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path):
    """A SQLite file for one test."""
    return f"sqlite:///{tmp_path}/wizard.db"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request):
    """Each storage test runs once on SQLite and once on PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_url")


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
def bare_app(settings):
    """The app on a database that has no schema yet."""
    app = create_app({**settings, "TESTING": True})
    yield app
    from wizard.database import db

    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def app(bare_app):
    """The app on a database whose schema is up to date."""
    with bare_app.app_context():
        upgrade_schema()
    return bare_app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def env(settings):
    """The environment a `setup-wizard` process of this test runs with."""
    return {**os.environ, **settings}


class Cli:
    """Runs `setup-wizard` in-process, with the test's settings in its environment."""

    def __init__(self, settings):
        self.settings = settings

    def __call__(self, *args):
        return CliRunner().invoke(cli_main, list(args), env=self.settings, catch_exceptions=False)


@pytest.fixture
def runner(settings):
    return Cli(settings)


class AdminActions:
    """The repeated admin action: unlock the wizard in a test client."""

    def __init__(self, client):
        self._client = client

    def unlock(self, token=ADMIN_TOKEN):
        page = self._client.get("/setup/unlock")
        return self._client.post(
            "/setup/unlock", data={"token": token, "csrf_token": csrf_token_from(page.text)}
        )


@pytest.fixture
def admin(client):
    return AdminActions(client)


def csrf_token_from(html):
    """Return the CSRF token of the first form in a page."""
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A real `setup-wizard serve` process on a free port, its log kept in a file."""

    def __init__(self, env, cwd, workers=4, log_path=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(log_path or Path(cwd) / f"serve-{self.port}.log")
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "wizard.cli",
                "serve",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
            ],
            env=env,
            cwd=cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout=60):
        """Wait until /readyz answers 200."""
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited early:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"server not ready after {timeout}s:\n{self.log()}")

    def log(self):
        return self.log_path.read_text(errors="replace")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@pytest.fixture
def start_server(tmp_path):
    """Start real servers; every one is stopped when the test ends."""
    servers = []

    def start(env, workers=4, cwd=None):
        server = Server(env, cwd or tmp_path, workers=workers)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium driven by Playwright; a failure under REQUIRE_BROWSER=1, else a skip."""
    from tests.browser_support import launch_chromium

    yield from launch_chromium()
