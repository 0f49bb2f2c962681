"""Safe to expose and to embed: the lock, throttling, CSRF, headers, cookies, hosts, prefixes."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.support import (
    ADMIN_TOKEN,
    BEARER,
    AdminActions,
    Wizard,
    assert_nothing_saved,
    csrf_token_from,
    fixture,
    recent_changes,
    saved_identity,
)
from wizard import create_app
from wizard.admin.throttle import client_key
from wizard.db import db
from wizard.identity import Actor, save_identity


@pytest.fixture
def engine_name():
    """These checks do not depend on the database: SQLite only."""
    return "sqlite"


WIZARD_PAGES = ["/setup/", "/setup/upload", "/setup/paste", "/setup/details", "/setup/review"]
WRITES = ["/setup/upload", "/setup/paste", "/setup/choose", "/setup/details", "/setup/review"]


def test_without_the_token_every_wizard_page_is_the_unlock_page(client):
    for path in WIZARD_PAGES:
        response = client.get(path, follow_redirects=True)
        assert response.request.path == "/setup/unlock", path
        assert "Unlock the license setup" in response.text


def test_without_the_token_every_write_is_refused_and_nothing_saved(app, client):
    token = csrf_token_from(client.get("/setup/unlock").text)
    for path in WRITES:
        response = client.post(
            path, data={"csrf_token": token, "customer_id": "x", "instance_id": "y"}
        )
        assert response.status_code == 302
        assert response.headers["Location"] == f"/setup/unlock?next={path}", path
    assert client.put("/api/v1/identity").status_code == 401
    assert client.post("/api/v1/license").status_code == 401
    assert client.post("/api/v1/unlock-link").status_code == 401
    assert client.post("/api/v1/identity").status_code == 405
    assert_nothing_saved(app)


def test_without_the_token_the_status_tells_only_whether_and_when(app, client):
    assert saved_identity(app) is None
    with app.app_context():
        save_identity(
            "acme-secret-customer", "instance-1", "1vusOokxAVp1tkRGuyxnF23PJcq", actor=Actor("cli")
        )
    public = client.get("/api/v1/status").json
    assert set(public) == {"has_customer_info", "updated_at", "reporting"}
    assert set(public["reporting"]) == {"state"}
    page = client.get("/status").text
    assert "acme-secret-customer" not in page and "instance-1" not in page
    assert "PJcq" not in page and "Recent changes" not in page


def test_twenty_wrong_tokens_get_429_with_retry_after(client, admin):
    statuses = [admin.unlock(f"wrong-{i}").status_code for i in range(20)]
    assert statuses[:10] == [303] * 10, "the first attempts get the form back with an error"
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
    Wizard(client).manual()
    for token in (None, "forged"):
        data = {"customer_id": "acme", "instance_id": "i-1", "review": "Review"}
        if token:
            data["csrf_token"] = token
        response = client.post("/setup/details", data=data)
        assert response.status_code == 400
        assert "did not come from this wizard" in response.text
        assert "Nothing was saved" in response.text
    assert recent_changes(app) == []


def test_a_form_sent_from_another_site_is_refused(app, client, admin):
    admin.unlock()
    token = csrf_token_from(client.get("/status").text)
    response = client.post(
        "/setup/lock", data={"csrf_token": token}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert response.status_code == 403
    assert "sent from another site" in response.text
    assert client.get("/setup/").status_code == 200, "still unlocked: the form did nothing"


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


def test_frame_ancestors_come_from_the_setting(make_app):
    client = make_app(WIZARD_FRAME_ANCESTORS="'self' https://console.example").test_client()
    csp = client.get("/status").headers["Content-Security-Policy"]
    assert "frame-ancestors 'self' https://console.example" in csp


def test_the_session_cookie_has_its_own_name_and_safe_attributes(client, admin):
    cookie = admin.unlock().headers["Set-Cookie"]
    assert cookie.startswith("replicated_wizard_session=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/;" in cookie
    assert "Secure" not in cookie, "plain http on a laptop still works"
    assert "Partitioned" not in cookie


def test_for_a_console_on_another_site_the_cookie_may_enter_its_frame(make_app):
    """A browser sends a Lax cookie to no cross-site frame: over HTTPS the cookie becomes
    SameSite=None, Secure and Partitioned when another site may frame the pages."""
    app = make_app(WIZARD_FRAME_ANCESTORS="'self' https://console.example")
    client = app.test_client()
    secure = client.get("/setup/unlock", base_url="https://wizard.example")
    cookie = secure.headers["Set-Cookie"]
    assert "SameSite=None" in cookie and "Secure" in cookie and "Partitioned" in cookie
    plain = app.test_client().get("/setup/unlock").headers["Set-Cookie"]
    assert "SameSite=Lax" in plain and "Partitioned" not in plain, "None needs HTTPS"


@pytest.mark.parametrize(
    "headers",
    [{"Sec-Fetch-Dest": "iframe"}, {}],
    ids=["says-it-is-framed", "plain-http-frame-sends-no-fetch-metadata"],
)
def test_a_form_whose_cookie_the_frame_withheld_says_so_and_offers_a_new_tab(make_app, headers):
    app = make_app(WIZARD_FRAME_ANCESTORS="'self' https://console.example")
    client = app.test_client()
    token = csrf_token_from(client.get("/setup/unlock").text)
    client.delete_cookie("replicated_wizard_session")
    response = client.post(
        "/setup/unlock?next=/setup/",
        data={"token": ADMIN_TOKEN, "csrf_token": token},
        headers=headers,
    )
    assert response.status_code == 400
    assert "did not send this wizard&#39;s cookie" in response.text
    assert "it also needs HTTPS, which this page lacks" in response.text
    assert 'target="_blank"' in response.text
    assert 'href="http://localhost/setup/unlock?next=/setup/"' in response.text
    assert "This form has expired" not in response.text


def test_behind_a_proxy_the_cookie_is_secure_and_scoped_to_the_prefix(make_app):
    proxied = make_app(WIZARD_PROXY_FIX="for=1,proto=1,host=1,prefix=1")
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


def test_the_client_address_behind_a_proxy_is_recorded(make_app, app):
    client = make_app(WIZARD_PROXY_FIX="for=1").test_client()
    client.put(
        "/api/v1/identity",
        json={"customer_id": "a", "instance_id": "b"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "X-Forwarded-For": "203.0.113.9"},
    )
    assert recent_changes(app)[0].client_address == "203.0.113.9"


def test_a_bad_proxy_fix_setting_names_the_variable(settings):
    with pytest.raises(ValueError, match="WIZARD_PROXY_FIX"):
        create_app({**settings, "WIZARD_PROXY_FIX": "forwarded=yes"})


def test_untrusted_host_names_are_refused(make_app):
    client = make_app(WIZARD_TRUSTED_HOSTS="wizard.example, localhost").test_client()
    assert client.get("/status", headers={"Host": "wizard.example"}).status_code == 200
    refused = client.get("/status", headers={"Host": "evil.example"})
    assert refused.status_code == 400
    assert "does not answer to that host name" in refused.text


def test_with_auth_none_every_page_opens_and_says_it_is_unlocked(make_app):
    client = make_app(WIZARD_AUTH="none").test_client()
    for path in ["/status", "/setup/", "/setup/upload", "/setup/paste"]:
        page = client.get(path)
        assert page.status_code == 200, path
        assert "WIZARD_AUTH=none" in page.text, path
    details = Wizard(client).upload(fixture("valid-v1beta1.yaml"))
    assert "The license is valid" in details.text


def test_rotating_the_token_ends_existing_sessions(settings, make_app, instance_path, runner):
    del settings["WIZARD_ADMIN_TOKEN"]
    client = make_app().test_client()
    assert not (instance_path / "admin_token").exists(), "made when something first needs it"
    client.get("/setup/unlock")
    token = (instance_path / "admin_token").read_text().strip()
    AdminActions(client).unlock(token)
    assert "customer_id" in client.get("/api/v1/status").json
    Wizard(client).upload(fixture("valid-v1beta1.yaml"))  # a draft holding the license file
    result = runner("token", "--rotate")
    assert "every admin session, unlock link and unfinished setup has ended" in result.output
    status = client.get("/status")
    assert status.text.count("Your admin session ended") == 1, "said once, on the status page too"
    assert "Your admin session ended" not in client.get("/status").text
    assert "customer_id" not in client.get("/api/v1/status").json
    with make_app().app_context(), db.engine.connect() as connection:
        drafts = connection.execute(sa.text("SELECT count(*) FROM setup_draft")).scalar()
    assert drafts == 0, "the license file of the unfinished setup is gone"


def test_lock_ends_the_session_for_a_cookie_kept_from_before(client, admin):
    admin.unlock()
    kept = client.get_cookie("replicated_wizard_session").value
    locked = admin.lock()
    assert locked.status_code == 302
    assert "Locked." in client.get("/status").text
    client.set_cookie("replicated_wizard_session", kept)  # replay the cookie from before Lock
    assert client.get("/setup/").status_code == 302
    assert "customer_id" not in client.get("/api/v1/status").json


@pytest.mark.parametrize(
    ("column", "age"),
    [("last_seen_at", timedelta(minutes=31)), ("created_at", timedelta(hours=12, minutes=1))],
    ids=["30 idle minutes", "12 hours"],
)
def test_a_session_ends_after_its_idle_and_absolute_lifetime(app, client, admin, column, age):
    admin.unlock()
    assert client.get("/setup/").status_code == 200
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(
            sa.text(f"UPDATE admin_session SET {column} = :moment"),
            {"moment": (datetime.now(UTC) - age).replace(tzinfo=None)},
        )
    ended = client.get("/setup/")
    assert ended.status_code == 302
    page = client.get(ended.headers["Location"])
    assert "Your admin session ended" in page.text


def test_a_wrong_bearer_token_on_a_page_is_401_and_counted(client):
    for number in range(10):
        response = client.post("/setup/lock", headers={"Authorization": f"Bearer {number:04d}"})
        assert response.status_code == 401, number
    response = client.post("/setup/lock", headers=BEARER)
    assert response.status_code == 429, "the right token waits out the block too"


def test_a_short_admin_token_is_refused_at_start_naming_the_rule(settings):
    with pytest.raises(ValueError, match="WIZARD_ADMIN_TOKEN must be at least 24 characters"):
        create_app({**settings, "WIZARD_ADMIN_TOKEN": "1234"})


def test_ipv6_clients_count_by_their_64(client):
    for number in range(10):
        address = f"2001:db8:1:2::{number + 1:x}"
        response = client.get(
            "/api/v1/status",
            headers={"Authorization": "Bearer wrong"},
            environ_base={"REMOTE_ADDR": address},
        )
        assert response.status_code == 401
    other_host_same_64 = client.get(
        "/api/v1/status", headers=BEARER, environ_base={"REMOTE_ADDR": "2001:db8:1:2:ffff::9"}
    )
    assert other_host_same_64.status_code == 429
    other_64 = client.get(
        "/api/v1/status", headers=BEARER, environ_base={"REMOTE_ADDR": "2001:db8:1:3::1"}
    )
    assert other_64.status_code == 200


def test_client_keys():
    assert client_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert client_key("::ffff:203.0.113.9") == "203.0.113.9"
    assert client_key("203.0.113.9") == "203.0.113.9"


def test_the_throttle_table_drops_windows_that_have_passed(app, client):
    with app.app_context(), db.engine.begin() as connection:
        old = (datetime.now(UTC) - timedelta(minutes=6)).replace(tzinfo=None)
        for number in range(50):
            connection.execute(
                sa.text("INSERT INTO failed_unlock VALUES (:client, :moment, 3)"),
                {"client": f"198.51.100.{number}", "moment": old},
            )
    client.get("/api/v1/status", headers={"Authorization": "Bearer wrong"})
    with app.app_context(), db.engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT client_address FROM failed_unlock")).scalars()
        assert sorted(rows) == ["*", "127.0.0.1"]


def test_all_clients_together_have_a_ceiling(app, client):
    """However many addresses a guesser has, past 1000 wrong tokens in 5 minutes all wait."""
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(
            sa.text("INSERT INTO failed_unlock VALUES ('*', :moment, 1000)"),
            {"moment": datetime.now(UTC).replace(tzinfo=None)},
        )
    response = client.get("/api/v1/status", headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 429
    assert "many addresses" in response.json["error"]
    assert client.get("/api/v1/status").status_code == 200, "the public status stays open"
    # A flood of wrong tokens from many addresses does not lock out the admin who has the
    # right one; a client that itself gave too many wrong ones still waits.
    admin = client.get("/api/v1/status", headers=BEARER)
    assert admin.status_code == 200 and admin.json["customer_id"] is None


def test_past_the_ceiling_a_wrong_token_still_counts_against_its_client(app, client):
    """Were wrong tokens past the ceiling not counted, an address could go on guessing (429 for
    a wrong one, 200 for the right one) once others had filled the ceiling."""
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(
            sa.text("INSERT INTO failed_unlock VALUES ('*', :moment, 1000)"),
            {"moment": datetime.now(UTC).replace(tzinfo=None)},
        )
    for number in range(10):
        wrong = client.get("/api/v1/status", headers={"Authorization": f"Bearer guess-{number}"})
        assert wrong.status_code == 429, number
    refused = client.get("/api/v1/status", headers=BEARER)
    assert refused.status_code == 429, "this address guessed ten times: it waits, right or not"
    assert "from your address" in refused.json["error"]


def test_with_auth_none_another_site_cannot_write_through_the_api(make_app):
    """With WIZARD_AUTH=none every browser is the admin, so a page elsewhere must not be able to
    make one write: simple requests (a form, text/plain) without the CSRF token are refused,
    cross-site ones outright; scripts send the admin token, checked in this mode too."""
    app = make_app(WIZARD_AUTH="none")
    client = app.test_client()
    license_text = fixture("valid-v1beta1.yaml").decode()
    form_post = client.post(
        "/api/v1/license?instance_id=attacker&customer_id=c",
        data={"license": license_text},
        content_type="multipart/form-data",
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert form_post.status_code == 403 and form_post.is_json
    text_post = client.post(
        "/api/v1/license?instance_id=attacker&customer_id=c",
        data=license_text,
        content_type="text/plain",
    )
    assert text_post.status_code == 400
    assert "X-CSRFToken" in text_post.json["error"]
    put = client.put("/api/v1/identity", json={"customer_id": "a", "instance_id": "attacker"})
    assert put.status_code == 400
    assert_nothing_saved(app)
    wrong = client.put(
        "/api/v1/identity",
        json={"customer_id": "a", "instance_id": "b"},
        headers={"Authorization": "Bearer wrong"},
    )
    assert wrong.status_code == 401
    assert_nothing_saved(app)
    token = csrf_token_from(client.get("/setup/upload").text)
    page = client.put(
        "/api/v1/identity",
        json={"customer_id": "a", "instance_id": "from-the-page"},
        headers={"X-CSRFToken": token},
    )
    assert page.status_code == 200, "the wizard's own pages may"
    script = client.put(
        "/api/v1/identity", json={"customer_id": "a", "instance_id": "scripted"}, headers=BEARER
    )
    assert script.status_code == 200 and script.json["instance_id"] == "scripted"


def test_wrong_unlock_links_from_another_site_cost_the_admin_nothing(client, admin):
    """Twelve images on a page the admin visits, each pointing at a wrong unlock link: the
    admin's own token still unlocks at once."""
    for i in range(12):
        image = client.get(
            f"/setup/unlock/link/wrong-{i}",
            headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "image"},
        )
        assert image.status_code == 302
    unlocked = admin.unlock()
    assert unlocked.status_code == 302, "not 429: a wrong link counts for nothing"
