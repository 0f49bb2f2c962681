"""`setup-wizard serve` under gunicorn: many workers, restarts, replicas starting together."""

import re
import threading

import pytest
import sqlalchemy as sa

from tests.conftest import ADMIN_TOKEN, Server, csrf_token_from
from tests.http_client import Browser

pytestmark = pytest.mark.slow


def _workers_that_answered(log, path):
    return set(re.findall(rf'"(?:GET|POST) {re.escape(path)}[^"]*" \d+ .* worker=<?(\d+)', log))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_forms_and_sessions_from_one_worker_are_accepted_by_every_worker_and_after_restart(
    env, start_server, tmp_path
):
    del env["WIZARD_ADMIN_TOKEN"]  # the token too is generated once and shared
    server = start_server(env, workers=4).wait_ready()
    token = (tmp_path / "instance" / "admin_token").read_text().strip()

    # Many browsers each take a form from some worker and post it over a new connection,
    # so the post usually lands on another worker than the one that issued the form.
    browsers = [Browser(server.url) for _ in range(24)]
    forms = [b.get("/setup/unlock") for b in browsers]
    results = [
        b.post("/setup/unlock", {"token": token, "csrf_token": csrf_token_from(f.text)})
        for b, f in zip(browsers, forms, strict=True)
    ]
    assert [r.status for r in results] == [302] * len(browsers)
    for browser in browsers:
        for _ in range(3):
            assert "customer_id" in browser.get("/api/v1/status").json()
    served_by = _workers_that_answered(server.log(), "/api/v1/status")
    assert len(served_by) >= 2, f"only workers {served_by} answered; the test proves nothing"

    # A form issued before a restart is still accepted after it, and so is the session.
    pending = Browser(server.url)
    form = pending.get("/setup/unlock")
    server.stop()
    restarted = start_server(env, workers=4).wait_ready()
    pending.base_url = browsers[0].base_url = restarted.url
    assert "customer_id" in browsers[0].get("/api/v1/status").json()
    late = pending.post("/setup/unlock", {"token": token, "csrf_token": csrf_token_from(form.text)})
    assert late.status == 302


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_replicas_starting_together_create_the_schema_once(database_url, env, tmp_path):
    env = {**env, "WIZARD_SECRET_KEY": "shared-" * 6}
    replicas = []
    barrier = threading.Barrier(2)

    def start(name):
        folder = tmp_path / name
        folder.mkdir()
        barrier.wait()
        replicas.append(
            Server({**env, "WIZARD_INSTANCE_PATH": str(folder / "instance")}, folder, workers=4)
        )

    threads = [threading.Thread(target=start, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        for replica in replicas:
            replica.wait_ready()
            assert Browser(replica.url).get("/api/v1/status").json()["has_customer_info"] is False
        migrated = [r for r in replicas if "Running upgrade" in r.log()]
        assert len(migrated) == 1, "exactly one replica runs the migration"
        engine = sa.create_engine(database_url)
        with engine.connect() as connection:
            versions = connection.execute(sa.text("SELECT version_num FROM alembic_version")).all()
        engine.dispose()
        assert len(versions) == 1
    finally:
        for replica in replicas:
            replica.stop()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_serve_logs_where_the_token_is_but_never_a_secret(env, start_server, tmp_path):
    del env["WIZARD_ADMIN_TOKEN"]
    env["WIZARD_SECRET_KEY"] = "a-secret-key-that-must-not-be-logged"
    server = start_server(env, workers=2).wait_ready()
    browser = Browser(server.url)
    token = (tmp_path / "instance" / "admin_token").read_text().strip()
    form = browser.get("/setup/unlock")
    browser.post("/setup/unlock", {"token": token, "csrf_token": csrf_token_from(form.text)})
    browser.get("/status", headers={"Authorization": f"Bearer {token}"})
    server.stop()
    log = server.log()
    assert str(tmp_path / "instance" / "admin_token") in log
    assert token not in log
    assert "a-secret-key-that-must-not-be-logged" not in log
    assert ADMIN_TOKEN not in log


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_twenty_wrong_tokens_from_one_client_get_429_across_workers(env, start_server):
    server = start_server(env, workers=4).wait_ready()
    statuses = [
        Browser(server.url)
        .get("/api/v1/status", headers={"Authorization": f"Bearer no-{i}"})
        .status
        for i in range(20)
    ]
    assert statuses[:10] == [401] * 10
    assert statuses[10:] == [429] * 10
    assert len(_workers_that_answered(server.log(), "/api/v1/status")) >= 2, (
        "the count is shared: several workers answered and all of them throttled"
    )
    retry = Browser(server.url).get(
        "/api/v1/status", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert retry.status == 429 and int(retry.headers["Retry-After"]) > 0
