"""The license after day one: renewals through the same wizard, an older license, the same one
again, a newer license from the Replicated SDK, a copied identity, the right application, an
expiry nobody misses and usage against the license's limits."""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.support import BEARER, FIXTURES, AdminActions, Wizard, csrf_token_from, recent_changes
from tests.support.fake_sdk import INSTANCE_ID as SDK_INSTANCE_ID
from tests.support.fake_sdk import LICENSE_ID as SDK_LICENSE_ID
from tests.support.fake_sdk import NEWER_SEQUENCE, OTHER_INSTANCE_ID
from tests.support.license_factory import (
    base_spec,
    signed_license,
    to_yaml,
    write_global_public_key,
)
from wizard.identity import Actor, save_identity
from wizard.reporting import Collectors, Reporter

INSTANCE = "instance-of-this-installation"
TEST_LICENSE_ID = base_spec()["licenseID"]


def words(page):
    """A page's text as a person reads it: no tags, one space between words."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text))


def license_file(sequence=3, seats=25, expires="2099-01-01T00:00:00Z", **entitlements):
    spec = base_spec(licenseSequence=sequence)
    spec["entitlements"]["seats"]["value"] = seats
    spec["entitlements"]["expires_at"]["value"] = expires
    spec["entitlements"].update(entitlements)
    return to_yaml(signed_license(spec))


@pytest.fixture
def keyed(make_app, tmp_path):
    """The wizard trusting the tests' own signing key, unlocked in a test client."""

    def make(**settings):
        keys = str(write_global_public_key(tmp_path / "global.pem"))
        app = make_app(WIZARD_LICENSE_KEYS=keys, **settings)
        client = app.test_client()
        AdminActions(client).unlock()
        return app, Wizard(client)

    return make


def upload_and_review(wizard, data):
    wizard.upload(data)
    return wizard.details(customer_id="acme-corp", instance_id=INSTANCE)


# --- Renewal, older, the same again ------------------------------------------------------------


def test_a_renewal_is_said_and_what_changes_is_listed_in_words(keyed):
    app, wizard = keyed()
    upload_and_review(wizard, license_file(sequence=3))
    assert wizard.save().status_code == 302
    renewal = license_file(
        sequence=5,
        seats=50,
        expires="2100-01-01T00:00:00Z",
        max_nodes={"title": "Max nodes", "value": 10, "valueType": "Integer"},
        secret={"title": "Secret", "value": "x", "valueType": "String", "isHidden": True},
    )
    review = words(upload_and_review(wizard, renewal))
    assert "This is a renewal of the saved license." in review
    assert "Expiry: 1 Jan 2099 → 1 Jan 2100 (365 days added)." in review
    assert "License sequence: 3 → 5." in review
    assert "Seats: 25 → 50." in review
    assert "New entitlement: Max nodes = 10." in review
    assert "Secret" not in review, "a hidden entitlement is never shown"
    assert wizard.save().status_code == 302
    summary = app.test_client().get("/api/v1/status", headers=BEARER).json["license"]
    assert summary["license_sequence"] == 5
    assert {e["name"] for e in summary["entitlements"]} == {"expires_at", "seats", "max_nodes"}


def test_an_older_license_is_refused_unless_the_admin_confirms(keyed):
    app, wizard = keyed()
    upload_and_review(wizard, license_file(sequence=5))
    wizard.save()
    review = upload_and_review(wizard, license_file(sequence=2))
    assert "This license is older than the saved one: its sequence is 2, the saved license" in (
        words(review)
    )
    assert "Use this older license" in review.text
    sent = wizard.save(review)
    assert sent.status_code == 303 and sent.headers["Location"] == "/setup/review"
    refused = wizard.client.get("/setup/review")
    assert "Nothing was saved" in refused.text and 'id="allow_older"' in refused.text
    assert "Use this older license? This license is older" in refused.text
    assert len(recent_changes(app)) == 1
    confirmed = wizard.client.post(
        "/setup/review",
        data={
            "csrf_token": csrf_token_from(refused.text),
            "based_on": _hidden(refused.text, "based_on"),
            "shown": _hidden(refused.text, "shown"),
            "allow_older": "y",
            "save": "Save",
        },
    )
    assert confirmed.status_code == 302
    assert (
        app.test_client().get("/api/v1/status", headers=BEARER).json["license"]["license_sequence"]
        == 2
    )


def _hidden(html, name):
    from tests.support import hidden

    return hidden(html, name)


def test_the_same_license_again_is_already_up_to_date_and_saves_nothing(keyed):
    app, wizard = keyed()
    upload_and_review(wizard, license_file(sequence=3))
    wizard.save()
    review = upload_and_review(wizard, license_file(sequence=3))
    assert "Already up to date: this is the license saved now (sequence 3)." in words(review)
    saved = wizard.save(review)
    assert saved.status_code == 302
    status = wizard.client.get(saved.headers["Location"])
    assert "Nothing was saved." in status.text
    assert len(recent_changes(app)) == 1, "no history entry"


def test_the_api_needs_allow_older_and_says_up_to_date(keyed):
    app, _ = keyed()
    client = app.test_client()

    def post(data, **query):
        query = {"instance_id": INSTANCE, "customer_id": "acme-corp", **query}
        return client.post(
            "/api/v1/license",
            data=data,
            query_string=query,
            headers={**BEARER, "Content-Type": "application/yaml"},
        )

    assert post(license_file(sequence=5)).status_code == 200
    older = post(license_file(sequence=2))
    assert older.status_code == 409
    assert (older.json["saved_sequence"], older.json["license_sequence"]) == (5, 2)
    assert "allow_older=true" in older.json["errors"]["allow_older"][0]
    same = post(license_file(sequence=5))
    assert same.status_code == 200 and same.json["up_to_date"] is True
    assert len(recent_changes(app)) == 1
    assert post(license_file(sequence=2), allow_older="true").status_code == 200
    assert len(recent_changes(app)) == 2


def test_the_cli_needs_allow_older_and_says_up_to_date(keyed, runner, tmp_path):
    app, _ = keyed()
    keys = app.config["WIZARD_LICENSE_KEYS"]
    for sequence in (5, 2):
        (tmp_path / f"seq{sequence}.yaml").write_bytes(license_file(sequence=sequence))
    env = {"WIZARD_LICENSE_KEYS": keys}
    again = ("--customer-id", "acme-corp")
    first = runner(
        "import-license", str(tmp_path / "seq5.yaml"), "--instance-id", INSTANCE, *again, env=env
    )
    assert first.exit_code == 0, first.output
    older = runner("import-license", str(tmp_path / "seq2.yaml"), *again, env=env)
    assert older.exit_code == 1
    assert "its sequence is 2, the saved license's is 5" in older.output
    assert "--allow-older" in older.output
    same = runner("import-license", str(tmp_path / "seq5.yaml"), *again, env=env)
    assert same.exit_code == 0 and "Already up to date" in same.output
    assert len(recent_changes(app)) == 1
    forced = runner("import-license", str(tmp_path / "seq2.yaml"), *again, "--allow-older", env=env)
    assert forced.exit_code == 0, forced.output


# --- A newer license from Replicated -----------------------------------------------------------


def _as_the_sdk(app, sequence=4):
    """The identity and summary a Detect from the fake SDK (sequence 4) saved."""
    summary = {
        "app_slug": "my-app",
        "customer_name": "Acme From SDK",
        "license_type": "prod",
        "license_sequence": sequence,
        "expires_at": datetime(2031, 1, 1, tzinfo=UTC),
        "entitlements": [{"name": "seats", "title": "Seats", "value": 50, "value_type": "Integer"}],
        "signing_key": "replicated-sdk",
        "source": "sdk",
    }
    with app.app_context():
        save_identity(
            "sdk-customer-1", SDK_INSTANCE_ID, SDK_LICENSE_ID, summary=summary, actor=Actor("sdk")
        )


def _admin_beside_the_sdk(make_app, sdk, **settings):
    """The app beside the fake SDK, with the identity a Detect saved, and an admin's client."""
    app = make_app(WIZARD_REPLICATED_SDK_URL=sdk.url, **settings)
    _as_the_sdk(app)
    client = app.test_client()
    AdminActions(client).unlock()
    return app, client


def test_a_newer_license_the_sdk_holds_is_found_in_the_background_and_reviewed(make_app, fake_sdk):
    sdk = fake_sdk("newer")
    app, client = _admin_beside_the_sdk(make_app, sdk, WIZARD_REPORTING="off")
    asked = len(sdk.requests)
    assert client.get("/api/v1/status", headers=BEARER).json["newer_license"] is None
    assert len(sdk.requests) == asked, "a page never asks the SDK: the background does"
    Reporter(app, Collectors()).tick()
    body = client.get("/api/v1/status", headers=BEARER).json
    assert body["newer_license"] == {
        "license_sequence": NEWER_SEQUENCE,
        "expires_at": "2032-01-01T00:00:00+00:00",
    }
    page = words(client.get("/status"))
    assert f"Replicated has a newer license: sequence {NEWER_SEQUENCE}, expires 1 Jan 2032" in page
    asked = len(sdk.requests)
    Reporter(app, Collectors()).tick()
    assert len(sdk.requests) == asked, "at most every WIZARD_LICENSE_CHECK_INTERVAL"
    token = csrf_token_from(client.get("/status").text)
    details = client.post("/setup/newer", data={"csrf_token": token}, follow_redirects=True)
    assert details.request.path == "/setup/details"
    review = words(Wizard(client).details(instance_id=SDK_INSTANCE_ID))
    assert "This is a renewal of the saved license." in review
    assert f"License sequence: 4 → {NEWER_SEQUENCE}." in review
    assert "Seats: 50 → 100." in review
    assert Wizard(client).save().status_code == 302
    assert client.get("/api/v1/status", headers=BEARER).json["newer_license"] is None


def test_an_sdk_that_fails_or_hangs_never_slows_or_breaks_a_page(make_app, fake_sdk):
    for mode in ("error", "slow"):
        sdk = fake_sdk(mode)
        app = make_app(WIZARD_REPLICATED_SDK_URL=sdk.url, WIZARD_SDK_TIMEOUT=0.5)
        _as_the_sdk(app)
        Reporter(app, Collectors()).tick()
        client = app.test_client()
        AdminActions(client).unlock()
        started = datetime.now(UTC)
        assert client.get("/status").status_code == 200
        assert datetime.now(UTC) - started < timedelta(seconds=0.5)
        body = client.get("/api/v1/status", headers=BEARER).json
        assert body["newer_license"] is None and body["identity_mismatch"] is None


# --- A copied identity -------------------------------------------------------------------------


def test_another_instance_id_in_the_sdk_pauses_reporting_until_the_admin_decides(
    make_app, fake_sdk
):
    sdk = fake_sdk("other_instance")
    app = make_app(WIZARD_REPLICATED_SDK_URL=sdk.url)
    _as_the_sdk(app)
    assert Reporter(app, Collectors()).tick().state == "paused"
    assert [write for write in sdk.writes] == [], "nothing reported as the other installation"
    client = app.test_client()
    AdminActions(client).unlock()
    body = client.get("/api/v1/status", headers=BEARER).json
    assert body["identity_mismatch"] == {
        "field": "instance_id",
        "saved": SDK_INSTANCE_ID,
        "found": OTHER_INSTANCE_ID,
    }
    assert body["reporting"]["state"] == "paused"
    assert app.test_client().get("/api/v1/status").json["reporting"] == {"state": "paused"}
    page = words(client.get("/status"))
    assert f"reports the instance ID {OTHER_INSTANCE_ID}, but the saved one is" in page
    assert "Review the SDK's IDs" in page and "Keep the saved identity" in page
    token = csrf_token_from(client.get("/status").text)
    kept = client.post("/setup/keep-identity", data={"csrf_token": token}, follow_redirects=True)
    assert "The saved identity is kept for this installation" in kept.text
    assert client.get("/api/v1/status", headers=BEARER).json["identity_mismatch"] is None
    assert Reporter(app, Collectors()).tick().state == "ok", "reports go on"


def test_another_deployment_id_says_the_identity_was_copied(make_app, runner):
    first = make_app(WIZARD_DEPLOYMENT_ID="namespace-uid-A")
    with first.app_context():
        save_identity("acme", INSTANCE, actor=Actor("cli"))
    copy = make_app(WIZARD_DEPLOYMENT_ID="namespace-uid-B")
    client = copy.test_client()
    AdminActions(client).unlock()
    body = client.get("/api/v1/status", headers=BEARER).json
    assert body["identity_mismatch"] == {
        "field": "deployment_id",
        "saved": "namespace-uid-A",
        "found": "namespace-uid-B",
    }
    status = runner("status", env={"WIZARD_DEPLOYMENT_ID": "namespace-uid-B"})
    assert "Copied identity? This identity was saved on another installation" in status.output
    assert Reporter(copy, Collectors()).tick().state == "paused"
    token = csrf_token_from(client.get("/status").text)
    details = client.post("/setup/new-instance", data={"csrf_token": token}, follow_redirects=True)
    new_id = re.search(r'id="instance_id"[^>]*value="([^"]+)"', details.text).group(1)
    assert new_id != INSTANCE and "A new instance ID was generated" in details.text
    review = Wizard(client).details(customer_id="acme", instance_id=new_id)
    assert f"Instance ID changes from {INSTANCE} to {new_id}." in review.text
    assert Wizard(client).save().status_code == 302
    assert client.get("/api/v1/status", headers=BEARER).json["identity_mismatch"] is None
    assert (
        runner("status", env={"WIZARD_DEPLOYMENT_ID": "namespace-uid-B"}).output.count("Copied")
        == 0
    )


# --- The right application ---------------------------------------------------------------------


def test_the_sdks_application_is_the_expected_one_when_none_is_set(make_app, fake_sdk):
    sdk = fake_sdk()
    app, client = _admin_beside_the_sdk(make_app, sdk)
    before = Wizard(client).upload((FIXTURES / "other-app.yaml").read_bytes())
    assert before.request.path == "/setup/details", "nothing known yet: any application"
    review = Wizard(client).details(customer_id="c", instance_id=INSTANCE)
    assert "Licenses of any Replicated application are accepted here" in review.text
    assert "WIZARD_EXPECTED_APP_SLUG=cluster-admin" in review.text
    Reporter(app, Collectors()).tick()
    after = Wizard(client).upload((FIXTURES / "other-app.yaml").read_bytes())
    assert "for the application cluster-admin, not my-app" in after.text
    body = client.get("/api/v1/status", headers=BEARER).json
    assert body["expected_app"] == {
        "app_slug": "my-app",
        "from": "the Replicated SDK",
        "saved_license_mismatch": None,
    }
    assert "Licenses are accepted for my-app only (the Replicated SDK)" in words(
        client.get("/status")
    )


def test_a_saved_license_of_another_application_is_flagged_once_one_is_pinned(
    make_app, wizard, runner
):
    """Saved before the pin: the status page, the JSON and the CLI say so and what to do."""
    wizard.upload((FIXTURES / "valid-v1beta2.yaml").read_bytes())
    wizard.details(customer_id="c", instance_id=INSTANCE)
    wizard.save()
    pinned = make_app(WIZARD_EXPECTED_APP_SLUG="my-app")
    client = pinned.test_client()
    AdminActions(client).unlock()
    said = (
        "The saved license is for the application slackernews-mackerel, not my-app "
        "(WIZARD_EXPECTED_APP_SLUG). Upload the license issued for my-app."
    )
    assert said in words(client.get("/status"))
    body = client.get("/api/v1/status", headers=BEARER).json
    assert body["expected_app"]["saved_license_mismatch"] == said
    result = runner("status", env={"WIZARD_EXPECTED_APP_SLUG": "my-app"})
    assert f"Wrong application: {said}" in result.output


def test_without_a_setting_or_an_sdk_the_status_says_any_application_is_accepted(app, wizard):
    wizard.upload((FIXTURES / "valid-v1beta1.yaml").read_bytes())
    wizard.details(customer_id="c", instance_id=INSTANCE)
    wizard.save()
    page = words(wizard.client.get("/status"))
    assert "Licenses of any Replicated application are accepted here" in page
    assert "WIZARD_EXPECTED_APP_SLUG=my-app" in page


# --- Expiry and usage --------------------------------------------------------------------------


def _with_expiry(app, expires_at, entitlements=None):
    summary = {
        "app_slug": "my-app",
        "customer_name": "Acme",
        "expires_at": expires_at,
        "entitlements": entitlements or [],
        "signing_key": "production",
        "source": "upload",
    }
    with app.app_context():
        save_identity(
            "acme", INSTANCE, "License0Of0Acme000000000000", summary=summary, actor=Actor("cli")
        )


@pytest.mark.parametrize(
    ("left", "level", "said"),
    [
        (timedelta(days=40), None, None),
        (timedelta(days=30, hours=1), "warning", "expires in 30 days"),
        (timedelta(days=14, hours=1), "warning", "expires in 14 days"),
        (timedelta(days=7, hours=1), "danger", "expires in 7 days"),
        (timedelta(days=1, hours=1), "danger", "expires in 1 day,"),
        (timedelta(hours=5, minutes=30), "danger", "expires in 6 hours"),
        (-timedelta(days=2), "danger", "expired on"),
    ],
)
def test_expiry_warnings_step_up_and_give_the_exact_time(app, client, admin, left, level, said):
    expires = (datetime.now(UTC) + left).replace(microsecond=0)
    _with_expiry(app, expires)
    admin.unlock()
    body = client.get("/api/v1/status", headers=BEARER).json
    assert body["license"]["expires_in_days"] == (expires - datetime.now(UTC)).days
    page = client.get("/status").text
    notices = re.findall(r'class="notice notice-(\w+)"[^>]*>([^<]*)<time datetime="([^"]+)"', page)
    expiry = [(kind, text) for kind, text, when in notices if "expire" in text]
    if level is None:
        assert expiry == []
        return
    [(kind, text)] = expiry
    assert kind == level and said in text
    assert f'<time datetime="{expires.isoformat()}" data-local>' in page


def test_usage_against_an_integer_entitlement_warns_at_ninety_percent(make_app, fake_sdk):
    sdk = fake_sdk()
    app, client = _admin_beside_the_sdk(make_app, sdk)
    for used, warned in ((20, False), (46, True)):
        registry = Collectors()
        registry.register("seats", lambda used=used: used)
        Reporter(app, registry).report_now()
        page = words(client.get("/status"))
        assert f"{used} of 50 seats" in page
        assert ("Seats: 46 of 50 used (92%)" in page) is warned
    assert json.loads(json.dumps(client.get("/api/v1/status", headers=BEARER).json))
