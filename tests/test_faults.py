"""The database goes away and comes back; two hundred saves arrive at once."""

import threading
import time

import pytest
import sqlalchemy as sa

from tests.support import ADMIN_TOKEN, BEARER, FIXTURES, csrf_token_from, hidden
from tests.support.http_client import Browser
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow


def _multipart(field, filename, data):
    boundary = "wizardtestboundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
        f'filename="{filename}"\r\nContent-Type: application/yaml\r\n\r\n'
    ).encode()
    return body + data + f"\r\n--{boundary}--\r\n".encode(), boundary


@pytest.mark.parametrize("engine_name", ["postgresql"], indirect=True)
def test_a_database_back_from_a_restart_is_ready_at_the_first_probe(database_url, make_app):
    url = sa.engine.make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    client = make_app(WIZARD_DATABASE_URL=proxied).test_client()
    try:
        assert client.get("/readyz").status_code == 200  # the pool now holds a connection
        proxy.stop()  # a restart while nobody asked: that pooled connection is dead
        proxy.start()
        probe = client.get("/readyz")
        assert probe.status_code == 200, probe.json
    finally:
        proxy.stop()


@pytest.mark.parametrize("engine_name", ["postgresql"], indirect=True)
def test_the_wizard_survives_the_database_going_away_and_coming_back(
    database_url, env, start_server
):
    url = sa.engine.make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    server = start_server({**env, "WIZARD_DATABASE_URL": proxied}, workers=2).wait_ready()
    browser = Browser(server.url)
    form = browser.get("/setup/unlock")
    browser.post("/setup/unlock", {"token": ADMIN_TOKEN, "csrf_token": csrf_token_from(form.text)})
    upload = browser.get("/setup/upload")
    body, boundary = _multipart(
        "license_file", "license.yaml", (FIXTURES / "valid-v1beta1.yaml").read_bytes()
    )
    csrf = csrf_token_from(upload.text)
    details = browser.request(
        "POST",
        "/setup/upload",
        body=body.replace(
            b"--wizardtestboundary\r\n",
            f"--{boundary}\r\nContent-Disposition: form-data; "
            f'name="csrf_token"\r\n\r\n{csrf}\r\n--{boundary}\r\n'.encode(),
            1,
        ),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert details.status == 302 and details.headers["Location"] == "/setup/details"
    assert "The license is valid" in browser.get("/setup/details").text
    to_review = browser.post(
        "/setup/details",
        {
            "csrf_token": csrf,
            "customer_id": "typed-customer",
            "instance_id": "typed-instance",
            "review": "Review",
        },
    )
    assert to_review.headers["Location"] == "/setup/review"
    review = browser.get("/setup/review")
    assert "Review and save" in review.text

    proxy.stop()
    try:
        status = browser.get("/status")
        assert status.status == 503
        assert "The database cannot be reached" in status.text
        api = browser.get("/api/v1/status")
        assert api.status == 503 and api.json()["error"].startswith("The database cannot be")
        ready = browser.get("/readyz")
        assert ready.status == 503 and ready.json()["reason"]
        save = browser.post(
            "/setup/review",
            {
                "csrf_token": csrf,
                "based_on": hidden(review.text, "based_on"),
                "shown": hidden(review.text, "shown"),
                "save": "Save",
            },
        )
        assert save.status == 503
        assert "Nothing was saved" in save.text
    finally:
        proxy.start()

    # Nothing was lost: the review comes back as it was, and saves.
    assert browser.get("/readyz").status == 200
    again = browser.get("/setup/review")
    assert "typed-customer" in again.text and "typed-instance" in again.text
    saved = browser.post(
        "/setup/review",
        {
            "csrf_token": csrf,
            "based_on": hidden(again.text, "based_on"),
            "shown": hidden(again.text, "shown"),
            "save": "Save",
        },
    )
    assert saved.status == 302, saved.text[:500]
    document = browser.get("/api/v1/status", headers=BEARER).json()
    assert (document["customer_id"], document["instance_id"]) == (
        "typed-customer",
        "typed-instance",
    )
    proxy.stop()


@pytest.mark.parametrize("engine_name", ["postgresql"], indirect=True)
def test_a_database_that_accepts_but_never_answers_gets_a_503_in_bounded_time(
    database_url, env, start_server
):
    url = sa.engine.make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    # One worker: whatever waits on the database in it, /healthz must still answer at once.
    server = start_server(
        {**env, "WIZARD_DATABASE_URL": proxied, "WIZARD_DATABASE_TIMEOUT": "1"}, workers=1
    ).wait_ready()
    browser = Browser(server.url)
    assert browser.get("/api/v1/status", headers=BEARER).status == 200  # pools hold connections
    proxy.freeze()
    stop = threading.Event()

    def keep_waiting_on_the_database():  # queries, then connects once the pool is cut
        while not stop.is_set():
            Browser(server.url).get("/readyz")

    waiter = threading.Thread(target=keep_waiting_on_the_database, daemon=True)
    try:
        for path, headers in (("/api/v1/status", BEARER), ("/status", {}), ("/readyz", {})):
            started = time.monotonic()
            response = browser.get(path, headers=headers)
            waited = time.monotonic() - started
            assert response.status == 503, path
            assert waited < 6, f"{path} waited {waited:.1f} s"
        waiter.start()
        slowest = 0.0
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # over more than one connect timeout
            started = time.monotonic()
            assert browser.get("/healthz").status == 200
            slowest = max(slowest, time.monotonic() - started)
            time.sleep(0.05)
        assert slowest < 1, f"/healthz waited {slowest:.1f} s behind a silent database"
    finally:
        stop.set()
        proxy.thaw()
    waiter.join(10)
    assert browser.get("/api/v1/status", headers=BEARER).status == 200, "back once it answers"
    proxy.stop()


def test_two_hundred_concurrent_saves_through_gunicorn(database_url, env, start_server):
    server = start_server(env, workers=4).wait_ready()
    count = 200
    barrier = threading.Barrier(count)
    statuses = []

    def save(number):
        browser = Browser(server.url)
        barrier.wait()
        response = browser.request(
            "PUT",
            "/api/v1/identity",
            body=f'{{"customer_id": "c-{number}", "instance_id": "i-{number}"}}',
            headers={**BEARER, "Content-Type": "application/json"},
        )
        statuses.append(response.status)

    threads = [threading.Thread(target=save, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(statuses) == count
    assert sorted(set(statuses)) == [200], f"statuses: {sorted(set(statuses))}\n{server.log()}"

    engine = sa.create_engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT customer_id, instance_id FROM telemetry_identity")
        ).all()
        history = connection.execute(sa.text("SELECT count(*) FROM identity_history")).scalar()
    engine.dispose()
    assert len(rows) == 1
    customer, instance = rows[0]
    assert customer.split("-")[1] == instance.split("-")[1], "the row mixes two saves"
    assert history == count
