"""The database goes away and comes back; two hundred saves arrive at once."""

import threading

import pytest
import sqlalchemy as sa

from tests.conftest import ADMIN_TOKEN, csrf_token_from
from tests.http_client import Browser
from tests.license_factory import FIXTURES
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow
BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _multipart(field, filename, data):
    boundary = "wizardtestboundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
        f'filename="{filename}"\r\nContent-Type: application/yaml\r\n\r\n'
    ).encode()
    return body + data + f"\r\n--{boundary}--\r\n".encode(), boundary


def _hidden(html, name):
    import re

    return re.search(rf'name="{name}" type="hidden" value="([^"]*)"', html).group(1)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
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
    assert "The license is valid" in details.text
    review = browser.post(
        "/setup/details",
        {
            "csrf_token": csrf,
            "draft": _hidden(details.text, "draft"),
            "customer_id": "typed-customer",
            "instance_id": "typed-instance",
            "review": "Review",
        },
    )
    assert "Review and save" in review.text

    proxy.stop()
    try:
        status = browser.get("/status")
        assert status.status == 503 and "cannot reach its database" in status.text
        api = browser.get("/api/v1/status")
        assert api.status == 503 and "database" in api.json()["error"]
        ready = browser.get("/readyz")
        assert ready.status == 503 and ready.json()["reason"]
        save = browser.post(
            "/setup/save",
            {"csrf_token": csrf, "draft": _hidden(review.text, "draft"), "save": "Save"},
        )
        assert save.status == 200
        assert "nothing was saved" in save.text.lower()
        assert "typed-customer" in save.text and "typed-instance" in save.text
    finally:
        proxy.start()

    assert browser.get("/readyz").status == 200
    assert browser.get("/status").status == 200
    saved = browser.post(
        "/setup/save", {"csrf_token": csrf, "draft": _hidden(save.text, "draft"), "save": "Save"}
    )
    assert saved.status == 302, saved.text[:500]
    document = browser.get("/api/v1/status", headers=BEARER).json()
    assert (document["customer_id"], document["instance_id"]) == (
        "typed-customer",
        "typed-instance",
    )
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
    assert sorted(set(statuses)) == [200], f"statuses: {sorted(set(statuses))}"

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
