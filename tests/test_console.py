"""Inside an admin console on another site: the console at https://localhost:P1 shows the wizard,
served at https://127.0.0.1:P2/admin/license/ behind nginx (a certificate made here), in an
iframe. Cookies cross into the frame, CSRF still holds, the whole wizard completes in it, and a
console holding the token opens it unlocked with a one-time link."""

import json
import re
import ssl
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.support import ADMIN_TOKEN, BEARER, FIXTURES, free_port, saved_identity
from tests.support.browser import SCREENSHOTS
from tests.support.nginx import PREFIX, WIZARD_LOCATION, Nginx, need_nginx, self_signed_certificate

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True, ids=[""]),
]

CONSOLE_PAGE = """<!doctype html><html><head><title>Admin console</title></head>
<body style="margin:0;font-family:sans-serif;background:#eef">
<div style="padding:8px 16px;background:#223;color:#fff">Enterprise admin console</div>
<iframe src="{src}" style="width:100%;height:820px;border:0"></iframe></body></html>"""


class Console:
    """The console site and the wizard's site, both behind one nginx over HTTPS."""

    def __init__(self, root, wizard_port, console_port, scheme="https"):
        cert, key = self_signed_certificate(root)
        self.console_port, self.wizard_port = console_port, free_port()
        tls = f"ssl_certificate {cert}; ssl_certificate_key {key};" if scheme == "https" else ""
        listen = "ssl" if scheme == "https" else ""
        self.pages = root / "console"
        self.pages.mkdir()
        location = WIZARD_LOCATION.format(prefix=PREFIX, upstream=wizard_port)
        servers = f"""
    server {{
        listen 127.0.0.1:{self.console_port} {listen}; {tls}
        root {self.pages};
    }}
    server {{
        listen 127.0.0.1:{self.wizard_port} {listen}; {tls}
{location}
    }}"""
        self.scheme = scheme
        self.origin = f"{scheme}://localhost:{self.console_port}"
        self.wizard = f"{scheme}://127.0.0.1:{self.wizard_port}{PREFIX}"
        self.nginx = Nginx(root / "nginx", servers).wait_for(f"{self.wizard}/healthz")

    def show(self, page, src, name="console"):
        """Open the console page framing `src`; return the frame once it has loaded."""
        (self.pages / f"{name}.html").write_text(CONSOLE_PAGE.format(src=src))
        page.goto(f"{self.origin}/{name}.html")
        frame = page.frame_locator("iframe")
        frame.locator("main").wait_for()
        return page.frames[1]

    def api(self, method, path, body=None):
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        request = urllib.request.Request(
            f"{self.wizard}{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={**BEARER, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return json.loads(response.read())


@pytest.fixture
def console_site(env, start_server, tmp_path):
    """Make a console site whose origin the wizard allows in WIZARD_FRAME_ANCESTORS."""
    need_nginx()
    made = []

    def make(scheme="https"):
        root = tmp_path / f"console-{len(made)}"
        root.mkdir()
        console_port = free_port()
        server = start_server(
            {
                **env,
                "WIZARD_PROXY_FIX": "for=1,proto=1,host=1,prefix=1",
                "WIZARD_FRAME_ANCESTORS": f"'self' {scheme}://localhost:{console_port}",
            },
            workers=2,
        ).wait_ready()
        made.append(Console(root, server.port, console_port, scheme))
        return made[-1]

    yield make
    for site in made:
        site.nginx.stop()


def framed_tab(chromium, name):
    context = chromium.new_context(
        ignore_https_errors=True, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    shots = []

    def shot(label):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"console-{name}-{len(shots) + 1:02d}-{label}.png"
        page.screenshot(path=path, full_page=True)
        shots.append(path)

    return context, page, shot


def press(frame, control):
    """Click a button or link in the frame and wait for the frame's next page."""
    with frame.expect_navigation():
        control.click()
    frame.locator("main").wait_for()


def complete_in_frame(frame, shot, customer_id):
    press(frame, frame.get_by_role("link", name="Upload the license file"))
    frame.get_by_label("License file").set_input_files(str(FIXTURES / "valid-v1beta1.yaml"))
    press(frame, frame.get_by_role("button", name="Check the license"))
    assert frame.url.endswith(f"{PREFIX}/setup/details"), frame.url
    shot("details")
    frame.get_by_label("Customer ID").fill(customer_id)
    frame.get_by_label("Instance ID").fill("framed-instance")
    press(frame, frame.get_by_role("button", name="Review").last)
    shot("review")
    press(frame, frame.get_by_role("button", name="Save"))
    shot("saved")
    assert frame.get_by_text("Saved. This installation is identified.").is_visible()


def test_the_whole_wizard_completes_inside_a_console_on_another_site(console_site, chromium, app):
    site = console_site()
    context, page, shot = framed_tab(chromium, "token")
    frame = site.show(page, f"{site.wizard}/setup/unlock?next=/setup/")
    shot("unlock")
    # In the console's frame the page drops its own dark bar and keeps its links.
    assert not frame.locator(".brand").is_visible()
    assert frame.get_by_role("link", name="Status").is_visible()
    bar = frame.locator(".topbar").evaluate("bar => getComputedStyle(bar).backgroundColor")
    assert bar == "rgba(0, 0, 0, 0)", bar
    frame.get_by_label("Admin token").fill(ADMIN_TOKEN)
    press(frame, frame.get_by_role("button", name="Unlock"))
    shot("unlocked")
    assert frame.get_by_text("Unlocked.").is_visible(), frame.content()[:2000]
    cookie = next(c for c in context.cookies() if c["name"] == "replicated_wizard_session")
    assert (cookie["sameSite"], cookie["secure"]) == ("None", True)
    assert cookie.get("partitionKey"), f"the cookie is not partitioned: {cookie}"
    complete_in_frame(frame, shot, "framed-customer")
    context.close()
    assert saved_identity(app).customer_id == "framed-customer"


def test_a_console_with_the_token_opens_the_wizard_unlocked_once(console_site, chromium, app):
    site = console_site()
    link = site.api("POST", "/api/v1/unlock-link", {"next": "/setup/"})
    assert link["path"].startswith(f"{PREFIX}/setup/unlock/link/")
    url = f"{site.wizard.removesuffix(PREFIX)}{link['path']}"
    context, page, shot = framed_tab(chromium, "link")
    frame = site.show(page, url)
    shot("opened")
    assert frame.url.endswith(f"{PREFIX}/setup/"), frame.url
    assert frame.get_by_role("heading", name="Identify this installation").is_visible()
    complete_in_frame(frame, shot, "linked-customer")
    context.close()
    assert saved_identity(app).customer_id == "linked-customer"

    # The same link again, in another browser: it unlocks nothing.
    context, page, shot = framed_tab(chromium, "link-reused")
    frame = site.show(page, url, "again")
    shot("refused")
    assert frame.url.split("?")[0].endswith(f"{PREFIX}/setup/unlock")
    assert frame.get_by_text("That unlock link was used already or has expired").is_visible()
    context.close()


def test_an_expired_link_unlocks_nothing(console_site, chromium, app):
    site = console_site()
    link = site.api("POST", "/api/v1/unlock-link", {"next": "/setup/"})
    with app.app_context():
        from wizard.db import db

        with db.engine.begin() as connection:
            connection.execute(
                sa.text("UPDATE unlock_link SET expires_at = :past"),
                {"past": (datetime.now(UTC) - timedelta(seconds=1)).replace(tzinfo=None)},
            )
    context, page, shot = framed_tab(chromium, "link-expired")
    frame = site.show(page, f"{site.wizard.removesuffix(PREFIX)}{link['path']}")
    shot("refused")
    assert frame.get_by_text("used already or has expired").is_visible()
    assert frame.get_by_label("Admin token").is_visible(), "the token still works"
    context.close()


def test_without_https_the_frame_says_why_and_offers_a_new_tab(console_site, chromium):
    """Over plain HTTP a cookie cannot be SameSite=None: the browser withholds it from the
    console's frame, and the form says so in words instead of 'This form has expired'."""
    site = console_site("http")
    context, page, shot = framed_tab(chromium, "http")
    frame = site.show(page, f"{site.wizard}/setup/unlock?next=/setup/")
    frame.get_by_label("Admin token").fill(ADMIN_TOKEN)
    press(frame, frame.get_by_role("button", name="Unlock"))
    shot("cookie-withheld")
    text = frame.locator("main").inner_text()
    assert "Your browser did not send this wizard's cookie" in text
    assert "There it also needs HTTPS, which this page lacks." in text
    new_tab = frame.get_by_role("link", name="Open the wizard in a new tab")
    assert new_tab.get_attribute("target") == "_blank"
    assert re.match(rf"http://127\.0\.0\.1:\d+{PREFIX}/setup/unlock", new_tab.get_attribute("href"))
    context.close()
