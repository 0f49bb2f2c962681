"""What the tests share: the test's admin token and ids, the fixture licenses, a page's CSRF
token and hidden fields, a wizard driven like a browser without script, and real servers."""

import functools
import io
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

ADMIN_TOKEN = "test-admin-token-" + "x" * 24
BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
LICENSE_ID = "1vusOokxAVp1tkRGuyxnF23PJcq"  # valid-v1beta1.yaml
FIXTURES = Path(__file__).parent / "fixtures" / "licenses"

POSTGRES_ADMIN_URL = os.environ.get(
    "WIZARD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def fixture(name):
    """The bytes of a license file in tests/fixtures/licenses."""
    return (FIXTURES / name).read_bytes()


@functools.cache
def _postgres_problem():
    """Why PostgreSQL cannot be used for tests, or None when it can."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install '.[postgresql]')"
    try:
        engine = sa.create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as error:  # noqa: BLE001 - any failure means "not available"
        return f"PostgreSQL at {POSTGRES_ADMIN_URL} does not answer: {error}"
    return None


def need_postgres():
    """Skip when PostgreSQL (or psycopg) is missing; fail instead under REQUIRE_POSTGRES=1."""
    problem = _postgres_problem()
    if problem and os.environ.get("REQUIRE_POSTGRES") == "1":
        pytest.fail(f"REQUIRE_POSTGRES=1 but {problem}")
    if problem:
        pytest.skip(f"{problem} (set REQUIRE_POSTGRES=1 to make this a failure)")


def csrf_token_from(html):
    """The CSRF token of the first form in a page."""
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def hidden(html, name):
    """The value of a hidden field of a page."""
    for pattern in (
        rf'name="{name}" type="hidden" value="([^"]*)"',
        rf'type="hidden" name="{name}" value="([^"]*)"',
        rf'id="{name}" name="{name}" type="hidden" value="([^"]*)"',
    ):
        match = re.search(pattern, html)
        if match:
            return match.group(1)
    raise AssertionError(f"no hidden {name} in the page")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AdminActions:
    """The repeated admin action: unlock the wizard in a test client."""

    def __init__(self, client):
        self._client = client

    def unlock(self, token=ADMIN_TOKEN, next_path=None):
        page = self._client.get("/setup/unlock")
        target = "/setup/unlock" + (f"?next={next_path}" if next_path else "")
        return self._client.post(
            target, data={"token": token, "csrf_token": csrf_token_from(page.text)}
        )

    def lock(self):
        page = self._client.get("/status")
        return self._client.post("/setup/lock", data={"csrf_token": csrf_token_from(page.text)})


class Wizard:
    """Drives the wizard like a browser without script: every answer is posted to its step's
    address and the redirect to the next step is followed."""

    def __init__(self, client):
        self.client = client

    def upload(self, data, filename="license.yaml"):
        page = self.client.get("/setup/upload")
        return self.client.post(
            "/setup/upload",
            data={
                "csrf_token": csrf_token_from(page.text),
                "license_file": (io.BytesIO(data), filename),
            },
            content_type="multipart/form-data",
            follow_redirects=True,
        )

    def paste(self, text):
        page = self.client.get("/setup/paste")
        return self.client.post(
            "/setup/paste",
            data={"csrf_token": csrf_token_from(page.text), "license_text": text},
            follow_redirects=True,
        )

    def manual(self):
        return self.client.get("/setup/manual", follow_redirects=True)

    def choose(self, number):
        page = self.client.get("/setup/choose")
        form = {"csrf_token": csrf_token_from(page.text)}
        if number is not None:
            form["choice"] = str(number)
        return self.client.post("/setup/choose", data=form, follow_redirects=True)

    def details(self, button="review", **fields):
        page = self.client.get("/setup/details")
        form = {"csrf_token": csrf_token_from(page.text), button: "1", **fields}
        return self.client.post("/setup/details", data=form, follow_redirects=True)

    def save(self, review=None):
        review = review or self.client.get("/setup/review")
        return self.client.post(
            "/setup/review",
            data={
                "csrf_token": csrf_token_from(review.text),
                "based_on": hidden(review.text, "based_on"),
                "shown": hidden(review.text, "shown"),
                "save": "Save",
            },
        )


class Server:
    """A real `setup-wizard serve` process on a free port, its log kept in a file."""

    def __init__(self, env, cwd, workers=4, log_path=None, args=()):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(log_path or Path(cwd) / f"serve-{self.port}.log")
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "wizard.cli", "serve", "--port", str(self.port)]
            + ["--workers", str(workers), *args],
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
                time.sleep(0.05)
        raise AssertionError(f"server not ready after {timeout}s:\n{self.log()}")

    def log(self):
        return self.log_path.read_text(errors="replace")

    def stop(self):
        if self.process.poll() is None:
            # SIGINT: gunicorn stops at once instead of waiting for idle keep-alive clients.
            self.process.send_signal(2)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def recent_changes(app, limit=10):
    """The newest history entries, newest first."""
    from wizard.identity import load_status

    with app.app_context():
        return load_status(changes=limit)[2]


def saved_summary(app):
    """The stored license summary, or None."""
    from wizard.identity import load_status

    with app.app_context():
        return load_status(changes=0)[1]


def saved_identity(app):
    """The saved identity, or None."""
    from wizard.identity import load_identity

    with app.app_context():
        return load_identity()


def assert_nothing_saved(app):
    assert saved_identity(app) is None
    assert recent_changes(app) == []
