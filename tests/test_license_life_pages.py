"""The license's life after day one in real Chromium: a newer license, an expiry, usage near the
limit, a copied identity, a renewal and an older license in the review; at 1280 and 375 px, with
and without JavaScript."""

import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.support import ADMIN_TOKEN, BEARER
from tests.support.browser import Visit
from tests.support.fake_sdk import INSTANCE_ID as SDK_INSTANCE_ID
from tests.support.fake_sdk import LICENSE_ID as SDK_LICENSE_ID
from tests.support.http_client import Browser
from tests.support.license_factory import (
    base_spec,
    signed_license,
    to_yaml,
    write_global_public_key,
)
from wizard.identity import Actor, save_identity

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True, ids=[""]),
]
VIEWS = [(1280, True), (375, True), (1280, False), (375, False)]


def _tabs(chromium, server, request, views=VIEWS, timezone="America/New_York"):
    for width, javascript in views:
        context = chromium.new_context(
            viewport={"width": width, "height": 900},
            java_script_enabled=javascript,
            # An admin in America by default, where midnight UTC is the evening before:
            # the page adds the local time only where it differs from UTC.
            timezone_id=timezone,
        )
        name = f"{request.node.name}-{width}-{'js' if javascript else 'nojs'}"
        tab = Visit(context.new_page(), server.url, name)
        tab.goto("/setup/unlock?next=/status", "unlock")
        tab.page.get_by_label("Admin token").fill(ADMIN_TOKEN)
        tab.click("Unlock", "status")
        yield tab, width, javascript
        overflow = tab.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"scrolls sideways at {width} px"
        context.close()


def _wait(server, test, what):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        body = Browser(server.url).get("/api/v1/status", headers=BEARER).json()
        if test(body):
            return body
        time.sleep(0.5)
    raise AssertionError(f"{what} did not happen in 30 s: {body}")


def test_a_newer_license_an_expiry_and_usage_near_the_limit(
    chromium, env, start_server, fake_sdk, make_app, request
):
    sdk = fake_sdk("newer")
    env.update(
        WIZARD_REPLICATED_SDK_URL=sdk.url,
        WIZARD_REPORT_COLLECTORS="seats=tests.support.collectors:seats_used",
        WIZARD_REPORT_INTERVAL="1h",
    )
    summary = {
        "app_slug": "my-app",
        "customer_name": "Acme From SDK",
        "license_sequence": 4,
        "expires_at": (datetime.now(UTC) + timedelta(days=5)).replace(microsecond=0),
        "entitlements": [{"name": "seats", "title": "Seats", "value": 45, "value_type": "Integer"}],
        "signing_key": "replicated-sdk",
        "source": "sdk",
    }
    with make_app().app_context():
        save_identity("acme", SDK_INSTANCE_ID, SDK_LICENSE_ID, summary=summary, actor=Actor("sdk"))
    server = start_server(env, workers=2).wait_ready()
    _wait(server, lambda b: b["newer_license"] and b["reporting"]["last_sent"], "a check")
    for tab, _, javascript in _tabs(chromium, server, request):
        page = tab.page
        assert page.get_by_role("heading", name="Replicated has a newer license").is_visible()
        assert (
            page.get_by_text("This license expires in 4 days")
            .or_(page.get_by_text("This license expires in 5 days"))
            .first.is_visible()
        )
        assert page.get_by_text("Seats: 42 of 45 used (93%)").is_visible()
        assert (page.locator(".local-time").count() > 0) is javascript, "the admin's own time"
        tab.shot("status")
        tab.click("Review the newer license", "details")
        page.get_by_label("Instance ID", exact=True).fill(SDK_INSTANCE_ID)
        tab.click("Review", "review")
        assert page.get_by_text("This is a renewal of the saved license.").is_visible()
        assert page.get_by_text("License sequence: 4 → 9.").is_visible()
    for tab, _, _ in _tabs(chromium, server, request, [(1280, True)], timezone="UTC"):
        assert tab.page.get_by_text("This license expires in").first.is_visible()
        assert tab.page.locator(".local-time").count() == 0, "UTC is said once, not twice"


def test_a_copied_identity_says_what_differs_and_what_to_do(
    chromium, env, start_server, make_app, request
):
    with make_app(WIZARD_DEPLOYMENT_ID="namespace-A").app_context():
        save_identity("acme", "instance-of-A", actor=Actor("cli"))
    env.update(WIZARD_DEPLOYMENT_ID="namespace-B")
    server = start_server(env, workers=2).wait_ready()
    assert "This identity was saved on another installation" in server.log(), "said at start"
    for tab, _, _ in _tabs(chromium, server, request):
        page = tab.page
        heading = page.get_by_role(
            "heading", name="This identity may belong to another installation"
        )
        assert heading.is_visible()
        assert page.get_by_text("Reports are paused until you decide").is_visible()
        tab.shot("copied")
        tab.click("Generate a new instance ID for this installation", "details")
        value = page.get_by_label("Instance ID", exact=True).input_value()
        assert value and value != "instance-of-A"


def test_the_review_of_an_older_license_asks_before_saving(
    chromium, env, start_server, make_app, request, tmp_path
):
    keys = str(write_global_public_key(tmp_path / "global.pem"))
    env.update(WIZARD_LICENSE_KEYS=keys)
    saved = base_spec(licenseSequence=5)
    with make_app(WIZARD_LICENSE_KEYS=keys).app_context():
        from wizard.licenses import load_trusted_keys, verify_license

        lic = verify_license(to_yaml(signed_license(saved)), load_trusted_keys(keys)).license
        save_identity(
            "acme", "instance-1", lic.license_id, summary=lic.summary("upload"), actor=Actor("cli")
        )
    older = tmp_path / "older.yaml"
    older.write_bytes(to_yaml(signed_license(base_spec(licenseSequence=2))))
    server = start_server(env, workers=2).wait_ready()
    for tab, _, _ in _tabs(chromium, server, request):
        page = tab.page
        tab.goto("/setup/upload", "upload")
        page.get_by_label("License file").set_input_files(str(older))
        tab.click("Check the license", "details")
        page.get_by_label("Customer ID", exact=True).fill("acme")
        tab.click("Review", "review-older")
        assert page.get_by_text("This license is older than the saved one").first.is_visible()
        tab.click("Save", "refused")
        assert page.get_by_text("Use this older license?").first.is_visible()
        page.get_by_label("Use this older license").check()
        tab.click("Save", "saved-older")
        assert page.get_by_text("Saved. This installation is identified.").is_visible()
        with make_app(WIZARD_LICENSE_KEYS=keys).app_context():
            save_identity(
                "acme",
                "instance-1",
                lic.license_id,
                summary=lic.summary("upload"),
                actor=Actor("cli"),
            )
