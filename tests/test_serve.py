"""`setup-wizard serve` under gunicorn: many workers, restarts, replicas starting together."""

import http.client
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest
import sqlalchemy as sa

from tests.support import (
    ADMIN_TOKEN,
    BEARER,
    Server,
    csrf_token_from,
    fixture,
    free_port,
    saved_identity,
)
from tests.support.http_client import Browser

pytestmark = pytest.mark.slow


def _workers_that_answered(log, path):
    return set(re.findall(rf'"(?:GET|POST) {re.escape(path)}[^"]*" \d+ .* worker=<?(\d+)', log))


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
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


@pytest.mark.parametrize("engine_name", ["postgresql"], indirect=True)
def test_two_replicas_starting_together_create_the_schema_once(empty_database_url, env, tmp_path):
    database_url = empty_database_url
    env = {**env, "WIZARD_SECRET_KEY": "shared-" * 6, "WIZARD_DATABASE_URL": database_url}
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
            versions = connection.execute(
                sa.text("SELECT version_num FROM wizard_alembic_version")
            ).all()
        engine.dispose()
        assert len(versions) == 1
    finally:
        for replica in replicas:
            replica.stop()


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
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


def _until_several_workers_answer(server, method, path, headers, batches=20):
    """Send batches of concurrent requests until at least two workers have answered them
    (one idle worker tends to take every request of a slow sequence)."""
    statuses = []
    for _ in range(batches):
        batch = []

        def send(batch=batch):
            batch.append(Browser(server.url).request(method, path, headers=headers).status)

        threads = [threading.Thread(target=send) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        statuses += batch
        if len(_workers_that_answered(server.log(), path)) >= 2:
            return statuses
    raise AssertionError(f"one worker answered everything; the test proves nothing: {statuses}")


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_twenty_wrong_tokens_from_one_client_get_429_across_workers(env, start_server):
    server = start_server(env, workers=4).wait_ready()
    statuses = [
        Browser(server.url)
        .get("/api/v1/status", headers={"Authorization": f"Bearer no-{i}"})
        .status
        for i in range(10)
    ]
    assert statuses == [401] * 10
    # Every worker refuses now, those that saw none of the ten wrong tokens too: the count is
    # kept in the database, not in a worker.
    later = _until_several_workers_answer(
        server, "GET", "/api/v1/status", {"Authorization": "Bearer no-more"}
    )
    assert set(later) == {429}
    retry = Browser(server.url).get("/api/v1/status", headers=BEARER)
    assert retry.status == 429 and int(retry.headers["Retry-After"]) > 0


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_guessing_the_token_on_any_page_is_throttled_across_workers(env, start_server):
    """A bearer token on a form's address (Lock, say) is checked, counted and throttled like
    the API's: guessing there is no way around the limit."""
    server = start_server(env, workers=4).wait_ready()
    statuses = [
        Browser(server.url)
        .request("POST", "/setup/lock", headers={"Authorization": f"Bearer {guess:04d}"})
        .status
        for guess in range(10)
    ]
    assert statuses == [401] * 10
    later = _until_several_workers_answer(
        server, "POST", "/setup/lock", {"Authorization": "Bearer 9999"}
    )
    assert set(later) == {429}
    right = Browser(server.url).request("POST", "/setup/lock", headers=BEARER)
    assert right.status == 429, "the right token waits out the block too"


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_without_proxy_fix_forwarded_headers_are_not_trusted(env, start_server):
    server = start_server(env, workers=2).wait_ready()
    page = Browser(server.url).get(
        "/setup/unlock",
        headers={"X-Forwarded-Proto": "https", "SCRIPT_NAME": "/evil", "X-Forwarded-Prefix": "/x"},
    )
    cookie = page.headers["Set-Cookie"]
    assert "Secure" not in cookie and "Path=/;" in cookie
    assert 'href="/static/wizard.css"' in page.text


def _chunked(path, headers, pieces, port):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest("POST", path)
        for name, value in {**headers, "Transfer-Encoding": "chunked"}.items():
            connection.putheader(name, value)
        connection.endheaders()
        for piece in pieces:
            connection.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        connection.send(b"0\r\n\r\n")
        response = connection.getresponse()
        return response.status, response.read()
    except (BrokenPipeError, ConnectionResetError):
        return None, b""  # refused before the whole body was sent, which is also a refusal
    finally:
        connection.close()


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_a_chunked_body_over_the_limit_is_refused_and_nothing_saved(env, start_server, app):
    server = start_server(env, workers=2).wait_ready()
    license_then_padding = [fixture("valid-v1beta1.yaml"), b"\n" + b"#" * (4 * 1024 * 1024)]
    status, body = _chunked(
        "/api/v1/license?instance_id=i-1&customer_id=c-1",
        {**BEARER, "Content-Type": "application/yaml"},
        license_then_padding,
        server.port,
    )
    assert status == 413, body[:200]
    assert b"larger than this wizard accepts" in body
    assert saved_identity(app) is None
    small_enough = _chunked(
        "/api/v1/license?instance_id=i-1&customer_id=c-1",
        {**BEARER, "Content-Type": "application/yaml"},
        [fixture("valid-v1beta1.yaml")],
        server.port,
    )
    assert small_enough[0] == 200, "a chunked license under the limit is taken"


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_serve_on_a_busy_port_says_so_without_a_traceback(env, tmp_path):
    import socket

    port = free_port()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen(1)
        result = subprocess.run(
            [sys.executable, "-m", "wizard.cli", "serve", "--port", str(port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
    assert result.returncode == 1
    assert f"Port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "Traceback" not in result.stderr and "serving on" not in result.stderr


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_the_access_log_never_holds_an_unlock_links_secret(env, start_server):
    server = start_server(env, workers=2).wait_ready()
    link = Browser(server.url).request("POST", "/api/v1/unlock-link", headers=BEARER).json()
    secret = link["path"].rsplit("/", 1)[1]
    opened = Browser(server.url).get(link["path"])
    assert opened.status == 302
    server.stop()
    assert "/setup/unlock/link/…" in server.log()
    assert secret not in server.log()


@pytest.mark.slow
@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_slow_clients_cannot_take_the_server_down(env, start_server):
    """200 connections that send a request line and never finish their headers: /healthz and
    the status still answer within a second (each connection costs a greenlet, not a thread)."""
    import socket

    server = start_server(env, workers=2).wait_ready()
    stalled = []
    try:
        for _ in range(200):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            sock.sendall(b"GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            stalled.append(sock)
        time.sleep(1)
        for path in ("/healthz", "/api/v1/status", "/status"):
            started = time.monotonic()
            with urllib.request.urlopen(server.url + path, timeout=5) as response:
                assert response.status == 200, path
            assert time.monotonic() - started < 1.0, f"{path} took too long behind slow clients"
    finally:
        for sock in stalled:
            sock.close()


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("WIZARD_COLOR_SCHEME", "purple", "WIZARD_COLOR_SCHEME must be one of auto, light, dark"),
        ("WIZARD_STYLESHEET", "theme.txt", "WIZARD_STYLESHEET must be a .css file"),
        ("WIZARD_STYLESHEET", "missing.css", "which is not a file this user can read"),
    ],
)
def test_a_wrong_theme_setting_stops_serve_in_one_line(env, tmp_path, name, value, said):
    (tmp_path / "theme.txt").write_text("body {}")
    result = subprocess.run(
        [sys.executable, "-m", "wizard.cli", "serve", "--port", str(free_port())],
        env={**env, name: str(tmp_path / value) if name == "WIZARD_STYLESHEET" else value},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert said in result.stderr
    assert "Traceback" not in result.stderr and "serving on" not in result.stderr


def test_refused_files_under_serve_are_answers_not_tracebacks(env, start_server):
    """Files are verified in the gevent hub's thread pool: a refusal or a choice to make is
    the answer, never a traceback in the log."""
    server = start_server(env, workers=1).wait_ready()
    two = fixture("valid-v1beta1.yaml") + b"\n---\n" + fixture("valid-v1beta2.yaml")
    for body in (b"just: text\n", two, b"[" * 700 + b"]" * 700):
        request = urllib.request.Request(
            f"{server.url}/api/v1/license?instance_id=i-1&customer_id=c-1",
            data=body,
            headers={**BEARER, "Content-Type": "application/yaml"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code in (409, 422), refused.value.read()[:200]
    assert Browser(server.url).get("/healthz").status == 200
    assert "Traceback" not in server.log()
