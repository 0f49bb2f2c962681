"""Safe to expose and to embed: the lock, throttling, CSRF, headers, cookies, hosts, prefixes."""

import re

import pytest

from tests.conftest import ADMIN_TOKEN, AdminActions, csrf_token_from
from tests.license_factory import fixture
from wizard import create_app
from wizard.identity import Actor, load_identity, recent_changes, save_identity

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

WIZARD_PAGES = ["/setup/", "/setup/upload", "/setup/paste", "/setup/manual"]
WRITES = [
    ("post", "/setup/upload"),
    ("post", "/setup/paste"),
    ("post", "/setup/choose"),
    ("post", "/setup/details"),
    ("post", "/setup/save"),
]


def test_without_the_token_every_wizard_page_is_the_unlock_page(client):
    for path in WIZARD_PAGES:
        response = client.get(path, follow_redirects=True)
        assert response.request.path == "/setup/unlock", path
        assert "Unlock the license setup" in response.text


def test_without_the_token_every_write_is_refused_and_nothing_saved(app, client):
    token = csrf_token_from(client.get("/setup/unlock").text)
    for method, path in WRITES:
        response = getattr(client, method)(
            path, data={"csrf_token": token, "customer_id": "x", "instance_id": "y"}
        )
        assert response.status_code == 302 and "/setup/unlock" in response.headers["Location"]
    for path in ("/api/v1/identity", "/api/v1/license"):
        assert client.put(path).status_code in (401, 405)
        assert client.post(path).status_code in (401, 405)
    with app.app_context():
        assert load_identity() is None


def test_without_the_token_the_status_tells_only_whether_and_when(app, client):
    with app.app_context():
        save_identity(
            "acme-secret-customer", "instance-1", "1vusOokxAVp1tkRGuyxnF23PJcq", actor=Actor("cli")
        )
    assert set(client.get("/api/v1/status").json) == {"has_customer_info", "updated_at"}
    page = client.get("/status").text
    assert "acme-secret-customer" not in page and "instance-1" not in page
    assert "PJcq" not in page and "Recent changes" not in page


def test_twenty_wrong_tokens_get_429_with_retry_after(client, admin):
    statuses = [admin.unlock(f"wrong-{i}").status_code for i in range(20)]
    assert statuses[:10] == [200] * 10, "the first attempts get the form back with an error"
    assert set(statuses[10:]) == {429}
    blocked = admin.unlock()
    assert blocked.status_code == 429, "even the right token waits out the block"
    assert int(blocked.headers["Retry-After"]) > 0
    assert "Too many wrong admin tokens" in blocked.text


def test_wrong_bearer_tokens_are_throttled_too(client):
    statuses = [
        client.get("/api/v1/status", headers={"Authorization": f"Bearer w{i}"}).status_code
        for i in range(12)
    ]
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]
    assert client.get("/api/v1/status").status_code == 200, "the public status stays open"


def test_a_form_without_a_valid_csrf_token_is_refused_clearly_and_saves_nothing(app, client, admin):
    admin.unlock()
    for token in (None, "forged"):
        data = {"customer_id": "acme", "instance_id": "i-1", "draft": "x"}
        if token:
            data["csrf_token"] = token
        response = client.post("/setup/details", data=data)
        assert response.status_code == 400
        assert "did not come from this wizard" in response.text
        assert "Nothing was saved" in response.text
    with app.app_context():
        assert recent_changes() == []


def test_every_page_carries_the_security_headers(client):
    for path in ("/status", "/setup/unlock", "/nope"):
        headers = client.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'self'" in csp
        assert "unsafe-inline" not in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
        assert headers["Cache-Control"] == "no-store"


def test_json_is_never_sniffed_or_cached(client):
    for path in ("/api/v1/status", "/healthz", "/readyz"):
        response = client.get(path)
        assert response.mimetype == "application/json"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"


def test_pages_have_no_inline_script_or_style(client, admin):
    admin.unlock()
    for path in ["/status", *WIZARD_PAGES]:
        html = client.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
        assert not re.search(r"\son[a-z]+=", html), path
        assert "style=" not in html, path
        assert not re.search(r'(src|href)="(https?:)?//', html), f"{path} loads from elsewhere"


def test_frame_ancestors_come_from_the_setting(settings, app):
    client = create_app(
        {**settings, "WIZARD_FRAME_ANCESTORS": "'self' https://console.example"}
    ).test_client()
    csp = client.get("/status").headers["Content-Security-Policy"]
    assert "frame-ancestors 'self' https://console.example" in csp


def test_the_session_cookie_has_its_own_name_and_safe_attributes(client, admin):
    cookie = admin.unlock().headers["Set-Cookie"]
    assert cookie.startswith("replicated_wizard_session=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/;" in cookie
    assert "Secure" not in cookie, "plain http on a laptop still works"


def test_behind_a_proxy_the_cookie_is_secure_and_scoped_to_the_prefix(settings, app):
    proxied = create_app({**settings, "WIZARD_PROXY_FIX": "for=1,proto=1,host=1,prefix=1"})
    # The proxy strips the prefix, so the test client would not send a cookie scoped to it:
    # the test sends it by hand, as the browser does.
    client = proxied.test_client(use_cookies=False)
    headers = {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Prefix": "/admin/license",
        "X-Forwarded-Host": "console.example",
        "X-Forwarded-For": "203.0.113.9",
    }
    page = client.get("/setup/unlock", headers=headers)
    assert 'href="/admin/license/static/wizard.css"' in page.text
    first = page.headers["Set-Cookie"]
    assert "Secure" in first and "Path=/admin/license/" in first
    headers["Cookie"] = first.split(";")[0]
    headers["Referer"] = "https://console.example/admin/license/setup/unlock"  # as a browser sends
    response = client.post(
        "/setup/unlock",
        headers=headers,
        data={"token": ADMIN_TOKEN, "csrf_token": csrf_token_from(page.text)},
    )
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "Path=/admin/license/" in cookie
    assert response.headers["Location"] == "/admin/license/status"


def test_the_client_address_behind_a_proxy_is_recorded(settings, app):
    proxied = create_app({**settings, "WIZARD_PROXY_FIX": "for=1"})
    client = proxied.test_client()
    client.put(
        "/api/v1/identity",
        json={"customer_id": "a", "instance_id": "b"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "X-Forwarded-For": "203.0.113.9"},
    )
    with app.app_context():
        assert recent_changes()[0].client_address == "203.0.113.9"


def test_a_bad_proxy_fix_setting_names_the_variable(settings):
    with pytest.raises(ValueError, match="WIZARD_PROXY_FIX"):
        create_app({**settings, "WIZARD_PROXY_FIX": "forwarded=yes"})


def test_untrusted_host_names_are_refused(settings, app):
    client = create_app(
        {**settings, "WIZARD_TRUSTED_HOSTS": "wizard.example, localhost"}
    ).test_client()
    assert client.get("/status", headers={"Host": "wizard.example"}).status_code == 200
    refused = client.get("/status", headers={"Host": "evil.example"})
    assert refused.status_code == 400
    assert "does not answer to that host name" in refused.text


def test_with_auth_none_every_page_opens_and_says_it_is_unlocked(settings, app):
    client = create_app({**settings, "WIZARD_AUTH": "none"}).test_client()
    for path in ["/status", *WIZARD_PAGES]:
        page = client.get(path)
        assert page.status_code == 200, path
        assert "WIZARD_AUTH=none" in page.text, path
    upload = client.get("/setup/upload")
    details = client.post(
        "/setup/upload",
        data={
            "csrf_token": csrf_token_from(upload.text),
            "license_file": (__import__("io").BytesIO(fixture("valid-v1beta1.yaml")), "l.yaml"),
        },
        content_type="multipart/form-data",
    )
    assert "The license is valid" in details.text


def test_rotating_the_token_ends_existing_sessions(settings, app, instance_path, runner):
    del settings["WIZARD_ADMIN_TOKEN"]
    local = create_app(settings)
    client = local.test_client()
    token = (instance_path / "admin_token").read_text().strip()
    AdminActions(client).unlock(token)
    assert "customer_id" in client.get("/api/v1/status").json
    runner("token", "--rotate")
    assert "customer_id" not in client.get("/api/v1/status").json
