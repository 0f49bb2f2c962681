"""The status page and GET /api/v1/status, for anyone and for the admin."""

import re

import pytest
from flask import abort, request, request_started

from tests.support import ADMIN_TOKEN, BEARER, LICENSE_ID, csrf_token_from
from wizard.identity import Actor, save_identity
from wizard.reporting import status as reporting_status


def counted(function, calls):
    def wrapper(*args, **kwargs):
        calls.append(args)
        return function(*args, **kwargs)

    return wrapper


@pytest.fixture
def identified(app):
    with app.app_context():
        save_identity("acme-customer", "instance-1", LICENSE_ID, actor=Actor("cli", who="cli:ops"))


def test_root_sends_to_the_wizard_until_the_identity_is_set(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/setup/"


def test_root_sends_to_the_status_page_once_the_identity_is_set(client, identified):
    assert client.get("/").headers["Location"] == "/status"


def test_status_page_says_not_identified_before_anything_is_saved(client):
    page = client.get("/status")
    assert page.status_code == 200
    assert "not identified yet" in page.text


def test_public_api_status_before_anything_is_saved(client):
    assert client.get("/api/v1/status").json == {
        "has_customer_info": False,
        "updated_at": None,
        "reporting": {"state": "not_identified"},
    }


def test_public_api_status_gives_exactly_whether_and_when(client, identified):
    document = client.get("/api/v1/status").json
    assert set(document) == {"has_customer_info", "updated_at", "reporting"}
    assert set(document["reporting"]) == {"state"}, "whether reporting works, nothing more"
    assert document["has_customer_info"] is True
    assert document["updated_at"].endswith("+00:00")


def test_an_anonymous_status_is_answered_before_the_request_machinery_as_the_view_would(
    app, client, identified, monkeypatch
):
    sessions = []
    interface = app.session_interface
    monkeypatch.setattr(interface, "open_session", counted(interface.open_session, sessions))
    anonymous = client.get("/api/v1/status")
    assert sessions == [], "a console's poll costs its read, not the session and the hooks"
    # A browser with the wizard's cookie (not unlocked) goes through the view: the same answer.
    client.set_cookie("replicated_wizard_session", "x")
    viewed = client.get("/api/v1/status")
    assert len(sessions) == 1
    assert anonymous.status_code == viewed.status_code == 200
    assert anonymous.data == viewed.data
    assert set(anonymous.headers.keys()) == {
        "Content-Type",
        "Content-Length",
        "X-Content-Type-Options",
        "X-Robots-Tag",
        "Cache-Control",
    }
    for name, value in anonymous.headers.items():
        assert viewed.headers[name] == value, name
    client.delete_cookie("replicated_wizard_session")
    head = client.head("/api/v1/status")
    assert head.data == b""
    assert head.headers["Content-Length"] == anonymous.headers["Content-Length"]


def test_while_debugging_the_anonymous_status_is_indented_as_the_view_does(app, client):
    app.debug = True
    anonymous = client.get("/api/v1/status")
    client.set_cookie("replicated_wizard_session", "x")
    assert anonymous.data == client.get("/api/v1/status").data
    assert b'\n  "has_customer_info": false' in anonymous.data


def test_a_hosts_own_hooks_on_the_wizard_apply_to_the_anonymous_status_too(app, client):
    @app.before_request
    def only_from_the_console_network():
        if request.remote_addr != "10.0.0.1":
            abort(403)

    @app.after_request
    def strict_transport(response):
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
        return response

    refused = client.get("/api/v1/status")
    assert refused.status_code == 403
    assert refused.headers["Strict-Transport-Security"] == "max-age=31536000"
    allowed = client.get("/api/v1/status", environ_base={"REMOTE_ADDR": "10.0.0.1"})
    assert allowed.json["has_customer_info"] is False


def test_a_host_that_wraps_one_of_the_wizards_hooks_has_it_run_on_the_anonymous_status(app, client):
    hooks = app.after_request_funcs[None]
    wizards_own = hooks[0]

    def wrapped(response):
        response = wizards_own(response)
        response.headers["X-Request-Id"] = "r-1"
        return response

    hooks[0] = wrapped
    assert client.get("/api/v1/status").headers["X-Request-Id"] == "r-1"


def test_a_host_listening_for_requests_hears_the_anonymous_status(app, client):
    heard = []

    def listener(sender, **extra):
        heard.append(request.path)

    with request_started.connected_to(listener, app):
        client.get("/api/v1/status")
    assert heard == ["/api/v1/status"]


def test_a_listener_connected_before_the_app_was_made_hears_it_too(make_app):
    heard = []

    def listener(sender, **extra):
        heard.append(request.path)

    with request_started.connected_to(listener):  # any app's requests
        make_app().test_client().get("/api/v1/status")
    assert heard == ["/api/v1/status"]


def test_whoever_may_be_the_admin_gets_the_details_from_the_view(
    make_app, client, admin, identified
):
    assert client.get("/api/v1/status", headers=BEARER).json["customer_id"] == "acme-customer"
    admin.unlock()
    assert client.get("/api/v1/status").json["customer_id"] == "acme-customer"
    open_to_all = make_app(WIZARD_AUTH="none").test_client()
    assert open_to_all.get("/api/v1/status").json["customer_id"] == "acme-customer"


def test_the_anonymous_status_answers_only_to_trusted_host_names(make_app):
    client = make_app(WIZARD_TRUSTED_HOSTS="wizard.example").test_client()
    trusted = client.get("/api/v1/status", headers={"Host": "wizard.example"})
    assert trusted.status_code == 200
    refused = client.get("/api/v1/status", headers={"Host": "evil.example"})
    assert refused.status_code == 400
    assert "does not answer to that host name" in refused.text


def test_public_status_page_shows_no_ids(client, identified):
    page = client.get("/status").text
    assert "This installation is identified" in page
    assert "Unlock to see the details or change them" in page
    assert 'href="/setup/unlock"' in page


def test_unlocking_from_the_public_status_page_comes_back_to_it_under_a_prefix(app, identified):
    prefix = {"SCRIPT_NAME": "/admin/license"}
    page = app.test_client().get("/status", environ_overrides=prefix).text
    links = re.findall(r'href="/admin/license(/setup/unlock[^"]*)"', page)
    assert len(links) == 2, "the menu's Unlock and the page's own"
    for link in links:
        client = app.test_client()  # a browser of its own for each link
        form = client.get(link, environ_overrides=prefix).text
        unlocked = client.post(
            link,
            data={"token": ADMIN_TOKEN, "csrf_token": csrf_token_from(form)},
            environ_overrides=prefix,
        )
        assert unlocked.headers["Location"] == "/admin/license/status", link
    assert "acme-customer" not in page
    assert "instance-1" not in page
    assert "PJcq" not in page


def test_admin_api_status_has_the_ids_and_only_a_license_hint(client, identified):
    response = client.get("/api/v1/status", headers=BEARER)
    document = response.json
    assert document["customer_id"] == "acme-customer"
    assert document["instance_id"] == "instance-1"
    assert document["license_id_hint"] == "…PJcq"
    assert document["license"] is None
    assert LICENSE_ID not in response.text


def test_a_wrong_bearer_token_is_refused_not_quietly_ignored(client, identified):
    response = client.get("/api/v1/status", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert "not the admin token" in response.json["error"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "acme-customer" not in response.text


def test_unlocked_status_page_shows_ids_hint_and_history(client, admin, identified):
    assert admin.unlock().status_code == 302
    page = client.get("/status").text
    assert "acme-customer" in page
    assert "instance-1" in page
    assert "…PJcq" in page
    assert LICENSE_ID not in page
    assert "Recent changes" in page
    assert "ops, on the command line" in page, "who saved it, in words"


def test_a_wrong_token_on_the_unlock_page_names_the_field_and_keeps_the_page(client, admin):
    refused = admin.unlock("wrong-token")
    assert (refused.status_code, refused.headers["Location"]) == (303, "/setup/unlock")
    response = client.get("/setup/unlock")
    assert "Admin token" in response.text
    assert "That is not the admin token" in response.text
    assert "wrong-token" not in response.text, "a typed secret is never echoed back"


def test_unlock_without_a_csrf_token_is_refused_clearly(client):
    response = client.post("/setup/unlock", data={"token": ADMIN_TOKEN})
    assert response.status_code == 400
    assert "Nothing was saved" in response.text
    assert "acme" not in client.get("/status").text


def test_unlock_returns_to_the_page_it_came_from_but_never_off_site(client):
    page = client.get("/setup/unlock?next=/api/v1/status")
    token = csrf_token_from(page.text)
    back = client.post(
        "/setup/unlock?next=/api/v1/status", data={"token": ADMIN_TOKEN, "csrf_token": token}
    )
    assert back.headers["Location"] == "/api/v1/status"
    token = csrf_token_from(client.get("/setup/unlock").text)  # unlocking renews the session
    away = client.post(
        "/setup/unlock?next=//evil.example/", data={"token": ADMIN_TOKEN, "csrf_token": token}
    )
    assert away.headers["Location"] == "/status"


def test_healthz_answers_while_the_process_serves(client):
    assert client.get("/healthz").json == {"status": "ok"}


def test_unknown_page_is_a_styled_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "There is no page at this address" in response.text
    assert "wizard.css" in response.text


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_an_unreachable_database_gives_503_with_a_reason_everywhere(make_app, caplog, monkeypatch):
    client = make_app(WIZARD_DATABASE_URL="postgresql+psycopg://x@127.0.0.1:9/none").test_client()
    page = client.get("/status")
    assert page.status_code == 503
    assert "The database cannot be reached." in page.text
    assert "Nothing was saved" not in page.text, "a page that only reads says nothing of saving"
    reads = []
    public_read = counted(reporting_status.load_public_reporting, reads)
    monkeypatch.setattr(reporting_status, "load_public_reporting", public_read)
    api = client.get("/api/v1/status")
    assert api.status_code == 503
    assert api.json["error"] == "The database cannot be reached."
    assert len(reads) == 1, "an anonymous status whose read failed is not read again"
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json["reason"] == "The database cannot be reached."
    everything = page.text + api.text + ready.text
    assert "Traceback" not in everything
    # The driver's words (host, port, user) are for the log, not for whoever asks.
    assert "127.0.0.1" not in everything and "port 9" not in everything
    assert "Connection refused" in caplog.text, "the driver's words are in the log"


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_errors_are_styled_pages_without_a_trace(make_app):
    from werkzeug.exceptions import Forbidden

    strict = make_app(TESTING=False)  # errors are handled as in production

    @strict.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    @strict.get("/forbidden")
    def forbidden():
        raise Forbidden()

    client = strict.test_client()
    client.get("/setup/unlock")  # a browser that has the wizard's cookie
    for path, method, status, words in [
        ("/boom", "get", 500, "Something went wrong"),
        ("/forbidden", "get", 403, "not allowed"),
        ("/setup/lock", "post", 400, "did not come from this wizard"),  # no CSRF token
        ("/healthz", "delete", 405, "cannot be used that way"),
    ]:
        response = getattr(client, method)(path)
        assert response.status_code == status, path
        body = response.text
        assert words in body
        assert "secret internals" not in body and "Traceback" not in body
