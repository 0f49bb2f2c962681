"""The whole wizard in real Chromium against a real server; every page is saved as a screenshot."""

import re

import pytest

from tests.support import FIXTURES
from tests.support.browser import SCREENSHOTS, Visit

# The pages are the subject here; storage is tested on both engines elsewhere.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True, ids=[""]),
]


@pytest.fixture
def server(env, start_server):
    return start_server(env, workers=2).wait_ready()


@pytest.fixture
def visit(chromium, server, request):
    from tests.support import ADMIN_TOKEN

    def open_tab(javascript=True, width=1100):
        context = chromium.new_context(
            java_script_enabled=javascript, viewport={"width": width, "height": 900}
        )
        tab = Visit(context.new_page(), server.url, request.node.name)
        tab.goto("/setup/unlock?next=/setup/", "unlock")
        tab.page.get_by_label("Admin token").fill(ADMIN_TOKEN)
        tab.click("Unlock", "wizard-start")
        return tab

    return open_tab


def _status(server):
    from tests.support import ADMIN_TOKEN
    from tests.support.http_client import Browser

    return (
        Browser(server.url)
        .get("/api/v1/status", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        .json()
    )


def test_whole_wizard_by_uploading_the_v1beta1_license(visit, server):
    tab = visit()
    page = tab.page
    page.get_by_role("link", name="Upload the license file").click()
    tab.shot("upload")
    page.get_by_label("License file").set_input_files(str(FIXTURES / "valid-v1beta1.yaml"))
    tab.click("Check the license", "details")
    assert page.get_by_role("heading", name="The license is valid").is_visible()
    assert page.get_by_text("Test Customer").is_visible()
    page.get_by_label("Customer ID").fill("cust-42")
    page.get_by_role("button", name="Generate a new instance ID").click()
    generated = page.get_by_label("Instance ID").input_value()
    assert re.fullmatch(r"[0-9a-f-]{36}", generated)
    tab.click("Review", "review")
    assert page.get_by_text("This is exactly what will be saved").is_visible()
    assert _status(server)["has_customer_info"] is False
    tab.click("Save", "status")
    assert page.get_by_text("Saved. This installation is identified.").is_visible()
    status = _status(server)
    assert (status["customer_id"], status["instance_id"]) == ("cust-42", generated)
    assert status["license_id_hint"] == "…PJcq"
    assert "1vusOokxAVp1tkRGuyxnF23PJcq" not in page.content()


def test_whole_wizard_by_pasting_the_v1beta2_license(visit, server):
    tab = visit()
    page = tab.page
    page.get_by_role("link", name="Paste the license text").click()
    page.get_by_label("License text").fill((FIXTURES / "valid-v1beta2.yaml").read_text())
    tab.shot("paste")
    tab.click("Check the license", "details")
    assert page.get_by_text("Geeglo").first.is_visible()
    page.get_by_label("Customer ID").fill("geeglo")
    page.get_by_label("Instance ID").fill("3f2b8c1e-8d4a-4c9b-9e1f-2a7d6c5b4a39")
    tab.click("Review", "review")
    tab.click("Save", "status")
    assert _status(server)["license"]["app_slug"] == "slackernews-mackerel"


def test_whole_wizard_by_typing_the_ids(visit, server):
    tab = visit()
    page = tab.page
    page.get_by_role("button", name="Type the IDs").click()
    tab.shot("manual")
    assert page.evaluate("document.activeElement.id") == "customer_id", "typing starts at once"
    page.get_by_label("Customer ID").fill("acme")
    page.get_by_label("Instance ID").fill("bad id")
    tab.click("Review", "errors")
    summary = page.locator("#error-summary")
    assert summary.is_visible()
    assert page.evaluate("document.activeElement.id") == "error-summary", "focus on the errors"
    summary.get_by_role("link").first.click()
    assert page.evaluate("document.activeElement.id") == "instance_id"
    assert page.get_by_label("Customer ID").input_value() == "acme", "typed input is kept"
    page.once("dialog", lambda dialog: dialog.accept())  # replace the value typed
    page.get_by_role("button", name="Generate a new instance ID").click()
    assert page.locator("#instance_id-error").count() == 0, "a new value answers the complaint"
    assert page.get_by_label("Instance ID").get_attribute("aria-invalid") is None
    tab.shot("generated-after-error")
    page.get_by_label("Instance ID").fill("instance-7")
    page.get_by_label("License ID").fill("1vusOokxAVp1tkRGuyxnF23PJcq")
    tab.click("Review", "review")
    tab.click("Save", "status")
    assert _status(server)["instance_id"] == "instance-7"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("expired.yaml", "This license expired on 2 Apr 2022"),
        ("bad-signature.yaml", "The license signature is not valid"),
        ("tampered-license-id.yaml", "licenseID differs from the signed value"),
    ],
    ids=["expired", "bad-signature", "tampered"],
)
def test_a_rejected_file_shows_why_and_saves_nothing(visit, server, name, message):
    tab = visit()
    page = tab.page
    tab.goto("/setup/upload", "upload")
    page.get_by_label("License file").set_input_files(str(FIXTURES / name))
    tab.click("Check the license", "rejected")
    assert page.locator("#error-summary").get_by_text(message).is_visible()
    assert _status(server)["has_customer_info"] is False
    # Replace the file on the same page.
    page.get_by_label("License file").set_input_files(str(FIXTURES / "valid-v1beta1.yaml"))
    tab.click("Check the license", "replaced")
    assert page.get_by_role("heading", name="The license is valid").is_visible()


@pytest.mark.parametrize("javascript", [True, False], ids=["script", "no-script"])
def test_back_and_reload_after_a_refused_form_never_send_it_again(visit, server, javascript):
    """Chromium asks "Confirm Form Resubmission" for a page that answered a POST: a refused
    form comes back through a redirect, so Back and reload only ever GET."""
    tab = visit(javascript=javascript)
    page = tab.page
    sent = []
    page.on("request", lambda r: sent.append((r.method, r.url)) if r.is_navigation_request() else 0)
    page.get_by_role("link", name="Upload the license file").click()
    page.get_by_label("License file").set_input_files(str(FIXTURES / "expired.yaml"))
    tab.click("Check the license", "upload-refused")
    assert page.get_by_text("This license expired").first.is_visible()
    sent.clear()
    page.reload()
    assert [method for method, _ in sent] == ["GET"], "reload shows the step, sends nothing"
    assert page.get_by_text("This license expired").first.is_visible(), "and still says why"
    page.get_by_label("License file").set_input_files(str(FIXTURES / "valid-v1beta1.yaml"))
    tab.click("Check the license", "details-after-refusal")
    page.get_by_label("Customer ID").fill("has space")
    page.get_by_label("Instance ID").fill("instance-1")
    tab.click("Review", "details-refused")
    page.reload()
    assert page.get_by_label("Customer ID").input_value() == "has space", "what was typed stays"
    assert page.locator(".error-summary").is_visible()
    page.get_by_label("Customer ID").fill("acme")
    tab.click("Review", "review-after-fix")
    sent.clear()
    # Each form sent left one page in the history: the details twice (refused, then fixed).
    for expected in ("/setup/details", "/setup/details", "/setup/upload"):
        page.go_back()
        page.wait_for_load_state()
        assert page.url.endswith(expected), page.url
        assert page.get_by_role("button").first.is_visible(), "the step, not an error page"
    assert {method for method, _ in sent} <= {"GET"}, sent
    tab.shot("back-to-upload")
    assert _status(server)["has_customer_info"] is False


def test_a_consoles_stylesheet_and_dark_mode_change_the_look(chromium, env, start_server, tmp_path):
    """The documented properties, set in WIZARD_STYLESHEET, reach every element that uses
    them; dark follows the browser, and WIZARD_COLOR_SCHEME forces one."""
    css = tmp_path / "console.css"
    css.write_text(":root { --accent-fill: rgb(122, 31, 162); --radius: 0px; }\n")
    themed = start_server({**env, "WIZARD_STYLESHEET": str(css)}, workers=1).wait_ready()
    forced = start_server({**env, "WIZARD_COLOR_SCHEME": "light"}, workers=1).wait_ready()

    def looks(server, scheme):
        context = chromium.new_context(color_scheme=scheme, viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.goto(server.url + "/setup/unlock")
        look = page.evaluate(
            """() => ({
                 button: getComputedStyle(document.querySelector('.primary')).backgroundColor,
                 card: getComputedStyle(document.querySelector('.card')).borderRadius,
                 ground: getComputedStyle(document.documentElement).backgroundColor,
                 brand: !!document.querySelector('.brand').offsetParent,
               })"""
        )
        page.screenshot(path=SCREENSHOTS / f"theme-{server.url.rsplit(':', 1)[1]}-{scheme}.png")
        context.close()
        return look

    light, dark = looks(themed, "light"), looks(themed, "dark")
    assert light["button"] == dark["button"] == "rgb(122, 31, 162)", "the console's accent"
    assert light["card"] == "0px"
    assert light["ground"] == "rgb(243, 245, 248)" and dark["ground"] == "rgb(14, 19, 26)"
    assert light["brand"], "not framed: the page keeps its own bar"
    assert looks(forced, "dark")["ground"] == "rgb(243, 245, 248)", "forced light stays light"


def test_upload_completes_with_javascript_disabled(visit, server):
    tab = visit(javascript=False)
    page = tab.page
    tab.goto("/setup/upload", "upload-no-js")
    page.get_by_label("License file").set_input_files(str(FIXTURES / "valid-v1beta1.yaml"))
    tab.click("Check the license", "details-no-js")
    page.get_by_label("Customer ID").fill("no-js-customer")
    tab.click("Generate a new instance ID", "generated-no-js")
    assert re.fullmatch(r"[0-9a-f-]{36}", page.get_by_label("Instance ID").input_value())
    tab.click("Review", "review-no-js")
    tab.click("Save", "status-no-js")
    assert _status(server)["customer_id"] == "no-js-customer"


def test_reconfiguring_shows_old_and_new(visit, server, env):
    import subprocess
    import sys

    subprocess.run(
        [
            sys.executable,
            "-m",
            "wizard.cli",
            "set",
            "--customer-id",
            "old-customer",
            "--instance-id",
            "old-instance",
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    tab = visit()
    page = tab.page
    tab.goto("/status", "status-before")
    page.get_by_role("link", name="Change the license").click()
    tab.shot("start-reconfigure")
    page.get_by_role("link", name="Upload the license file").click()
    page.get_by_label("License file").set_input_files(str(FIXTURES / "valid-v1beta1.yaml"))
    tab.click("Check the license", "details-prefilled")
    assert page.get_by_label("Instance ID").input_value() == "old-instance"
    # The saved identity had no license: a license is new, and brings no customer id with it.
    assert page.get_by_label("Customer ID").input_value() == ""
    page.get_by_label("Customer ID").fill("old-customer")
    page.get_by_label("Instance ID").fill("new-instance")
    tab.click("Review", "review-old-new")
    changed = page.locator("tr.changed")
    assert changed.count() == 2
    assert (
        "old-instance" in changed.first.inner_text()
        and "new-instance" in changed.first.inner_text()
    )
    tab.click("Save", "status-after")
    assert _status(server)["instance_id"] == "new-instance"


def test_pages_fit_a_phone_and_a_narrow_iframe(visit, server):
    tab = visit(width=360)
    page = tab.page
    for path, name in [
        ("/setup/", "start-phone"),
        ("/setup/upload", "upload-phone"),
        ("/setup/details", "manual-phone"),
        ("/status", "status-phone"),
    ]:
        if path == "/setup/details":
            tab.start("Type the IDs", name)
        else:
            tab.goto(path, name)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways on a phone"
        lines = page.evaluate(
            "new Set([...document.querySelectorAll('.steps li')].map(e => e.offsetTop)).size"
        )
        assert lines <= 1, f"{path}: the steps wrap onto {lines} lines"


def test_detecting_from_the_replicated_sdk_in_every_case(chromium, env, start_server, request):
    import time

    from tests.support import ADMIN_TOKEN
    from tests.support.fake_sdk import INSTANCE_ID, FakeSdk

    sdk = FakeSdk("current")
    try:
        server = start_server(
            {**env, "WIZARD_REPLICATED_SDK_URL": sdk.url, "WIZARD_SDK_TIMEOUT": "2"}, workers=2
        )
        server.wait_ready()
        context = chromium.new_context(viewport={"width": 1000, "height": 900})
        tab = Visit(context.new_page(), server.url, request.node.name)
        tab.goto("/setup/unlock?next=/setup/", "unlock")
        tab.page.get_by_label("Admin token").fill(ADMIN_TOKEN)
        tab.click("Unlock", "start-with-sdk")

        for mode, words in [
            ("error", "answered 500"),
            ("html", "not JSON"),
            ("missing", "did not report a license ID"),
            ("slow", "did not answer"),
            ("trickle", "did not answer"),
            ("redirect", "follows no redirects"),
        ]:
            sdk.mode = mode
            started = time.monotonic()
            tab.page.get_by_role("button", name="Detect from Replicated").click()
            tab.page.wait_for_load_state()
            tab.shot(f"detect-{mode}")
            assert time.monotonic() - started < 4, f"{mode}: the page hung"
            assert tab.page.get_by_text(words).is_visible(), mode
            assert tab.page.get_by_role("link", name="Upload the license file").is_visible()

        sdk.mode = "mock"
        tab.page.get_by_role("button", name="Detect from Replicated").click()
        tab.shot("detect-mock")
        assert tab.page.get_by_text("Integration mode").is_visible()

        sdk.mode = "old"
        tab.goto("/setup/", "start-again")
        tab.page.get_by_role("button", name="Detect from Replicated").click()
        tab.shot("detect-old-sdk")
        assert tab.page.get_by_label("Instance ID").input_value() == INSTANCE_ID
        tab.page.get_by_label("Customer ID").fill("typed-for-old-sdk")
        tab.click("Review", "review-sdk")
        tab.click("Save", "status-sdk")
        assert tab.page.get_by_text("Saved. This installation is identified.").is_visible()
        assert tab.page.get_by_text("typed-for-old-sdk").first.is_visible()
        context.close()
    finally:
        sdk.close()
