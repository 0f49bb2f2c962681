"""Behind real nginx under /admin/license/, over gunicorn with several workers: the whole
wizard and API stay under the prefix, and framing follows WIZARD_FRAME_ANCESTORS."""

import http.server
import threading
from pathlib import Path

import pytest

from tests.support import ADMIN_TOKEN, FIXTURES, LICENSE_ID, csrf_token_from, free_port
from tests.support.browser import Visit, complete_the_wizard_under
from tests.support.http_client import Browser
from tests.support.nginx import PREFIX, WIZARD_LOCATION, Nginx, need_nginx

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True, ids=[""]),
]


@pytest.fixture
def proxied(env, start_server, tmp_path):
    """The wizard behind nginx at http://127.0.0.1:PORT/admin/license/; returns a starter."""
    need_nginx()
    proxies = []

    def start(**settings):
        app = start_server(
            {**env, "WIZARD_PROXY_FIX": "for=1,proto=1,host=1,prefix=1", **settings}, workers=2
        ).wait_ready()
        port = free_port()
        location = WIZARD_LOCATION.format(prefix=PREFIX, upstream=app.port)
        servers = f"""
    server {{
        listen 127.0.0.1:{port};
{location}
        location / {{ return 404 "the admin console's own page\\n"; }}
    }}"""
        proxies.append(Nginx(tmp_path / f"nginx-{port}", servers))
        base = f"http://127.0.0.1:{port}"
        proxies[-1].wait_for(f"{base}{PREFIX}/healthz")
        return base, app

    yield start
    for proxy in proxies:
        proxy.stop()


def test_the_api_works_through_the_prefix(proxied):
    base, _ = proxied()
    client = Browser(base)
    assert client.get("/api/v1/status").status == 404, "outside the prefix is the console's"
    assert client.get(f"{PREFIX}/api/v1/status").json() == {
        "has_customer_info": False,
        "updated_at": None,
        "reporting": {"state": "not_identified"},
    }
    bearer = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/yaml"}
    saved = client.request(
        "POST",
        f"{PREFIX}/api/v1/license?instance_id=i-1&customer_id=c-1",
        body=(FIXTURES / "valid-v1beta1.yaml").read_bytes(),
        headers=bearer,
    )
    assert saved.status == 200 and saved.json()["license_id_hint"] == "…PJcq"
    put = client.request(
        "PUT",
        f"{PREFIX}/api/v1/identity",
        body='{"customer_id": "c-2", "instance_id": "i-2"}',
        headers={**bearer, "Content-Type": "application/json"},
    )
    assert put.status == 200 and put.json()["customer_id"] == "c-2"
    root = client.get(f"{PREFIX}/")
    assert root.status == 302 and root.headers["Location"] == f"{PREFIX}/status"


def test_every_redirect_stays_under_the_prefix(proxied):
    base, _ = proxied()
    client = Browser(base)
    for path in ("/", "/setup/", "/setup/upload", "/setup/paste"):
        response = client.get(PREFIX + path)
        assert response.status == 302
        assert response.headers["Location"].startswith(f"{PREFIX}/"), path
    form = client.get(f"{PREFIX}/setup/unlock?next=/setup/upload")
    unlocked = client.post(
        f"{PREFIX}/setup/unlock?next=/setup/upload",
        {"token": ADMIN_TOKEN, "csrf_token": csrf_token_from(form.text)},
    )
    assert unlocked.headers["Location"] == f"{PREFIX}/setup/upload"
    assert "Path=/admin/license/" in unlocked.headers["Set-Cookie"]


def test_the_whole_wizard_in_chromium_through_nginx(proxied, chromium, request, env):
    env.pop("WIZARD_ADMIN_TOKEN")
    secret_key = "secret-key-that-must-never-be-logged-0123456789"
    base, app = proxied(WIZARD_SECRET_KEY=secret_key, WIZARD_ADMIN_TOKEN="")
    token = (Path(env["WIZARD_INSTANCE_PATH"]) / "admin_token").read_text().strip()
    context = chromium.new_context(viewport={"width": 1000, "height": 900})
    tab = Visit(context.new_page(), f"{base}{PREFIX}", request.node.name)
    complete_the_wizard_under(tab, f"{base}{PREFIX}/", token, "console-customer")
    context.close()

    app.stop()
    log = app.log()
    for secret in (token, secret_key, LICENSE_ID):
        assert secret not in log, "a secret reached the log"


class _FramingPage(http.server.BaseHTTPRequestHandler):
    target = ""

    def do_GET(self):
        body = f'<!doctype html><title>console</title><iframe src="{self.target}"></iframe>'
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def other_origin():
    """A page on another origin (another port) that frames a given URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FramingPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _framed_text(chromium, origin, target):
    _FramingPage.target = target
    context = chromium.new_context()
    page = context.new_page()
    messages = []
    page.on("console", lambda message: messages.append(message.text))
    page.goto(origin)
    page.wait_for_timeout(1500)
    frame = page.frames[1] if len(page.frames) > 1 else None
    text = ""
    if frame is not None:
        try:
            text = frame.locator("body").inner_text(timeout=2000)
        except Exception:
            text = ""
    context.close()
    return text, messages


def test_an_iframe_from_an_origin_not_allowed_is_refused(proxied, chromium, other_origin):
    base, _ = proxied()
    text, messages = _framed_text(chromium, other_origin, f"{base}{PREFIX}/status")
    assert "installation" not in text
    assert any("frame-ancestors" in m for m in messages), messages


def test_an_iframe_from_an_allowed_origin_shows_the_page(proxied, chromium, other_origin):
    base, _ = proxied(WIZARD_FRAME_ANCESTORS=f"'self' {other_origin}")
    text, _ = _framed_text(chromium, other_origin, f"{base}{PREFIX}/status")
    assert "This installation is not identified yet" in text
