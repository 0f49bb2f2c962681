"""Living inside the host application: the host reads the identity its own way (plain
SQLAlchemy, asyncio), and mounts the wizard under /admin/license in its own web app (Flask
with DispatcherMiddleware under gunicorn, Starlette with a2wsgi under uvicorn)."""

import asyncio
import concurrent.futures
import subprocess
import sys
import time
from pathlib import Path

import flask
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import Session

from tests.host_app.web import HOME, PREFIX
from tests.support import ADMIN_TOKEN, LICENSE_ID, free_port
from tests.support.browser import Visit, complete_the_wizard_under
from tests.support.http_client import Browser
from wizard.identity import Actor, save_identity
from wizard.models import TelemetryIdentity

ROOT = Path(__file__).resolve().parent.parent


def send_telemetry(identity):
    return (identity.customer_id, identity.instance_id, identity.license_id)


def test_the_host_reads_the_identity_with_plain_sqlalchemy(app, database_url):
    with app.app_context():
        save_identity("acme", "instance-1", LICENSE_ID, actor=Actor("cli"))
    assert not flask.has_app_context()
    engine = sa.create_engine(database_url)
    with Session(engine) as session:
        identity = session.scalars(sa.select(TelemetryIdentity)).first()
        sent = send_telemetry(identity) if identity and identity.has_customer_info else None
        assert session.query(TelemetryIdentity).first() is identity  # the design's own usage
    engine.dispose()
    assert sent == ("acme", "instance-1", LICENSE_ID)


def test_the_host_reads_the_identity_with_an_asyncio_session(app, database_url):
    with app.app_context():
        save_identity("acme", "instance-1", LICENSE_ID, actor=Actor("cli"))
    url = sa.engine.make_url(database_url)
    if url.get_backend_name() == "sqlite":
        url = url.set(drivername="sqlite+aiosqlite")

    async def read():
        engine = create_async_engine(url)
        async with AsyncSession(engine) as session:
            identity = (await session.scalars(sa.select(TelemetryIdentity))).first()
        await engine.dispose()
        return identity

    # In a thread of its own, as a host's event loop would run: this test process already runs
    # Playwright's loop in its main thread.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        identity = pool.submit(asyncio.run, read()).result()
    assert identity.has_customer_info
    assert identity.created_at.tzinfo is not None


@pytest.fixture
def host_server(env, tmp_path):
    """Run a host application (a shell command with {port}) and return its base URL."""
    processes = []

    def start(*command):
        port = free_port()
        log = open(tmp_path / f"host-{port}.log", "wb")  # noqa: SIM115 - closed below
        process = subprocess.Popen(
            [part.format(port=port) for part in command],
            env=env,
            cwd=ROOT,  # where `tests.host_app` can be imported
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        processes.append((process, log))
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / f"host-{port}.log").read_text()
            try:
                if Browser(base).get(f"{PREFIX}/healthz").status == 200:
                    return base
            except OSError:
                time.sleep(0.1)
        raise AssertionError((tmp_path / f"host-{port}.log").read_text())

    yield start
    for process, log in processes:
        process.terminate()
        process.wait(timeout=20)
        log.close()


HOSTS = {
    "flask-gunicorn": [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        "2",
        "--bind",
        "127.0.0.1:{port}",
        "tests.host_app.web:flask_host()",
    ],
    "starlette-uvicorn": [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "--port",
        "{port}",
        "tests.host_app.web:asgi_host",
    ],
}


@pytest.mark.slow
@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
@pytest.mark.parametrize("host", list(HOSTS))
def test_the_wizard_mounted_in_a_host_app_is_walked_through_in_chromium(
    host, host_server, chromium, request, app
):
    base = host_server(*HOSTS[host])
    assert Browser(base).get("/").text == HOME, "the host keeps its own pages"
    context = chromium.new_context(viewport={"width": 1000, "height": 900})
    tab = Visit(context.new_page(), f"{base}{PREFIX}", request.node.name)
    complete_the_wizard_under(tab, f"{base}{PREFIX}/", ADMIN_TOKEN, f"{host}-customer")
    context.close()
    with app.app_context():
        from wizard.identity import load_identity

        assert load_identity().customer_id == f"{host}-customer"


FLASK_MIGRATE_HOST = """
from flask import Flask
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from wizard.schema import host_include_name

app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = {url!r}
db = SQLAlchemy(app)
migrate = Migrate(app, db{include})  # before the models, as hosts often write it


class Post(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    body = db.Column(db.String(140))
"""


@pytest.mark.slow
@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
@pytest.mark.parametrize("include", [True, False], ids=["with-the-line", "without-it"])
def test_flask_db_check_in_a_flask_migrate_host(tmp_path, env, include):
    """`flask db init` writes Flask-Migrate's own env.py, which passes Migrate's keywords to
    Alembic: with `include_name=host_include_name(db.metadata)`, `flask db check` is clean
    beside the wizard's tables; without it, it wants to drop them (the docs say so)."""
    url = f"sqlite:///{tmp_path / 'host.db'}"
    keyword = ", include_name=host_include_name(db.metadata)" if include else ""
    (tmp_path / "hostapp.py").write_text(FLASK_MIGRATE_HOST.format(url=url, include=keyword))
    host_env = {**env, "FLASK_APP": "hostapp", "PYTHONPATH": f"{tmp_path}:{ROOT}"}

    def run(*command):
        return subprocess.run(
            command, cwd=tmp_path, env=host_env, capture_output=True, text=True, timeout=120
        )

    flask_cli = [sys.executable, "-m", "flask", "db"]
    for step in (["init"], ["migrate", "-m", "posts"], ["upgrade"]):
        done = run(*flask_cli, *step)
        assert done.returncode == 0, done.stderr
    wizard = subprocess.run(
        [sys.executable, "-m", "wizard.cli", "db", "upgrade"],
        env={**host_env, "WIZARD_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert wizard.returncode == 0, wizard.stderr
    check = run(*flask_cli, "check")
    if "No such command 'check'" in check.stderr:
        pytest.skip("this Flask-Migrate has no `flask db check` (it came in 4.0.2)")
    if include:
        assert check.returncode == 0, check.stderr
        assert "No new upgrade operations detected" in check.stdout + check.stderr
    else:
        assert check.returncode != 0
        assert "telemetry_identity" in check.stdout + check.stderr
