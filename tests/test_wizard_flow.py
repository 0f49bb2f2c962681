"""The wizard's flow in real Chromium: Enter, Back and reload on every step, a lock in another
tab, a license for another customer, two admins, and every page at 1280 and 375 pixels, with
and without JavaScript (screenshots in test-artifacts/screenshots/)."""

import subprocess
import sys

import pytest

from tests.support import ADMIN_TOKEN, BEARER, FIXTURES, fixture
from tests.support.browser import Visit
from tests.support.http_client import Browser

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True, ids=[""]),
]


@pytest.fixture
def server(env, start_server, fake_sdk, request):
    """The wizard beside a Replicated SDK (whose application, my-app, is then the expected
    one), or alone for a test marked without_sdk."""
    if request.node.get_closest_marker("without_sdk"):
        return start_server(env, workers=2).wait_ready()
    sdk = fake_sdk()
    return start_server({**env, "WIZARD_REPLICATED_SDK_URL": sdk.url}, workers=2).wait_ready()


@pytest.fixture
def tab(chromium, server, request):
    """A tab of its own browser (JavaScript on, 1280 px), unlocked at the wizard's start."""
    contexts = []

    def open_tab(javascript=True, width=1280, unlock=True, context=None):
        if context is None:
            context = chromium.new_context(
                java_script_enabled=javascript, viewport={"width": width, "height": 900}
            )
            contexts.append(context)
        tab = Visit(context.new_page(), server.url, request.node.name)
        if unlock:
            tab.goto("/setup/unlock?next=/setup/", "unlock")
            tab.page.get_by_label("Admin token").fill(ADMIN_TOKEN)
            tab.click("Unlock", "start")
        return tab

    yield open_tab
    for context in contexts:
        context.close()


def status(server):
    return Browser(server.url).get("/api/v1/status", headers=BEARER).json()


def path_of(tab):
    return tab.page.url.removeprefix(tab.base_url).split("?")[0]


def upload(tab, name="valid-v1beta1.yaml"):
    tab.goto("/setup/upload", "upload")
    tab.page.get_by_label("License file").set_input_files(str(FIXTURES / name))
    tab.click("Check the license", "details")


def press_enter_in(tab, label, name):
    with tab.page.expect_navigation():
        tab.page.get_by_label(label, exact=True).press("Enter")
    tab.shot(name)


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_enter_in_every_field_means_the_steps_primary_action(tab, server, javascript):
    first = tab(javascript=javascript, unlock=False)
    first.goto("/setup/unlock?next=/setup/", "unlock")
    first.page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    press_enter_in(first, "Admin token", "enter-unlocks")
    assert path_of(first) == "/setup/"

    for field in ("Customer ID", "Instance ID", "License ID"):
        first.start("Type the IDs", f"manual-{field}")
        page = first.page
        page.get_by_label("Customer ID", exact=True).fill("acme")
        page.get_by_label("Instance ID", exact=True).fill("typed-instance")
        press_enter_in(first, field, f"enter-in-{field}")
        assert path_of(first) == "/setup/review", field
        assert page.get_by_text("typed-instance").first.is_visible(), "never replaced"

    # The instance id the Replicated SDK reported survives Enter in the customer id.
    first.start("Detect from Replicated", "detected")
    detected = first.page.get_by_label("Instance ID", exact=True).input_value()
    assert first.page.get_by_role("button", name="Generate a new instance ID").count() == 0
    press_enter_in(first, "Instance ID", "enter-keeps-sdk-id")
    assert path_of(first) == "/setup/review"
    assert first.page.get_by_text(detected).first.is_visible()

    # Enter on Save saves.
    first.page.get_by_role("button", name="Save").focus()
    with first.page.expect_navigation():
        first.page.keyboard.press("Enter")
    assert status(server)["instance_id"] == detected


@pytest.mark.without_sdk  # the bundle's valid license is of another application than the SDK's
def test_the_license_picker_is_used_with_the_keyboard(tab, tmp_path):
    bundle = tmp_path / "bundle.yaml"
    bundle.write_bytes(fixture("expired.yaml") + b"\n---\n" + fixture("valid-v1beta2.yaml"))
    first = tab()
    first.goto("/setup/upload", "upload")
    first.page.get_by_label("License file").set_input_files(str(bundle))
    first.click("Check the license", "picker")
    assert first.page.get_by_text("Cannot be used: This license expired on 2 Apr 2022").is_visible()
    radio = first.page.get_by_role("radio", disabled=False)
    radio.check()
    with first.page.expect_navigation():
        radio.press("Enter")
    first.shot("picked")
    assert path_of(first) == "/setup/details"
    assert first.page.get_by_text("Geeglo").first.is_visible()


def test_back_and_reload_show_each_step_again_never_a_resubmission(tab):
    first = tab()
    upload(first)
    first.page.get_by_label("Customer ID").fill("acme")
    first.page.get_by_label("Instance ID").fill("instance-1")
    first.click("Review", "review")
    page = first.page
    for expected, heading in (
        ("/setup/details", "The license is valid"),
        ("/setup/upload", "Upload the license file"),
    ):
        page.go_back()
        first.shot(f"back-to-{expected.rsplit('/', 1)[1]}")
        assert path_of(first) == expected
        assert page.get_by_role("heading", name=heading).is_visible()
        page.reload()
        assert path_of(first) == expected, "reload shows the same step"
    page.go_forward()
    page.go_forward()
    assert path_of(first) == "/setup/review"
    page.reload()
    first.shot("review-reloaded")
    assert page.get_by_text("instance-1").first.is_visible(), "the answers are kept"
    back_to_details = page.get_by_role("link", name="Change the IDs")
    back_to_details.click()
    assert page.get_by_label("Customer ID").input_value() == "acme"


def test_lock_in_another_tab_then_save_returns_to_the_review_with_the_answers(tab, server):
    first = tab()
    upload(first)
    first.page.get_by_label("Customer ID").fill("acme")
    first.page.get_by_label("Instance ID").fill("instance-1")
    first.click("Review", "review")
    other = tab(unlock=False, context=first.page.context)
    other.goto("/status", "other-tab")
    other.click("Lock", "locked")
    assert other.page.get_by_text("Locked.").is_visible()

    first.click("Save", "unlock-again")
    assert path_of(first) == "/setup/unlock"
    assert first.page.get_by_text("The wizard was locked, in this tab or another").is_visible()
    first.page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    first.click("Unlock", "back-on-review")
    assert path_of(first) == "/setup/review"
    assert first.page.get_by_text("instance-1").first.is_visible()
    first.click("Save", "saved")
    assert status(server)["customer_id"] == "acme"


@pytest.mark.without_sdk  # with one, its application is expected and another one's refused
def test_a_license_for_another_customer_says_so_and_never_keeps_the_old_customer_id(
    tab, server, env
):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "wizard.cli",
            "import-license",
            str(FIXTURES / "valid-v1beta1.yaml"),
            "--instance-id",
            "instance-1",
            "--customer-id",
            "acme-corp",
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    first = tab()
    upload(first, "valid-v1beta2.yaml")
    assert first.page.get_by_label("Customer ID").input_value() == ""
    assert first.page.get_by_label("Instance ID").input_value() == "instance-1"
    first.page.get_by_label("Customer ID").fill("geeglo-1")
    first.click("Review", "review-other-customer")
    text = first.page.locator("main").inner_text()
    assert "Customer ID changes from acme-corp to geeglo-1." in text
    assert "The license belongs to another customer: Geeglo, not Test Customer." in text
    assert "The license is for another application: slackernews-mackerel, not my-app." in text
    first.click("Save", "saved")
    assert status(server)["customer_id"] == "geeglo-1"


def test_two_admins_saving_over_each_others_review(tab, server):
    mine, theirs = tab(), tab()
    for browser, customer in ((mine, "mine"), (theirs, "theirs")):
        browser.start("Type the IDs", "manual")
        browser.page.get_by_label("Customer ID", exact=True).fill(customer)
        browser.page.get_by_label("Instance ID", exact=True).fill(f"instance-{customer}")
        browser.click("Review", "review")
    theirs.click("Save", "theirs-saved")
    mine.click("Save", "mine-stale")
    text = mine.page.locator("main").inner_text()
    assert "Someone else saved the identity while this review was open" in text
    assert "Customer ID changes from theirs to mine." in text
    assert status(server)["customer_id"] == "theirs", "the stale review saved nothing"
    mine.click("Save", "mine-saved")
    assert status(server)["customer_id"] == "mine"


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
@pytest.mark.parametrize("width", [1280, 375])
def test_every_page_at_desktop_and_phone_width(tab, server, tmp_path, width, javascript):
    """Screenshots of every page; on a phone nothing scrolls sideways."""
    bundle = tmp_path / "bundle.yaml"
    bundle.write_bytes(fixture("valid-v1beta1.yaml") + b"\n---\n" + fixture("expired.yaml"))
    first = tab(javascript=javascript, width=width, unlock=False)
    page = first.page

    def check(name):
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} scrolls sideways by {overflow}px at {width}px"

    first.goto("/status", "status-public")
    check("status-public")
    first.goto("/setup/unlock", "unlock")
    page.get_by_label("Admin token").fill("wrong")
    first.click("Unlock", "unlock-wrong")
    check("unlock-wrong")
    page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    first.click("Unlock", "start")
    check("start")
    first.goto("/setup/paste", "paste")
    page.get_by_label("License text").fill("apiVersion: v1\nkind: ConfigMap\n")
    first.click("Check the license", "paste-refused")
    check("paste-refused")
    first.goto("/setup/upload", "upload")
    page.get_by_label("License file").set_input_files(str(bundle))
    first.click("Check the license", "choose")
    check("choose")
    page.get_by_role("radio", disabled=False).check()
    first.click("Continue", "details")
    check("details")
    page.get_by_label("Customer ID").fill("has space")
    page.get_by_label("Instance ID").fill("3f2b8c1e-8d4a-4c9b-9e1f-2a7d6c5b4a39")
    first.click("Review", "details-errors")
    check("details-errors")
    page.get_by_label("Customer ID").fill("acme-corp")
    if not javascript:
        first.click("Generate a new instance ID", "details-asking")
        check("details-asking")
    first.click("Review", "review")
    check("review")
    first.click("Save", "status-admin")
    check("status-admin")
    first.start("Type the IDs", "manual")
    check("manual")
    page.get_by_label("Customer ID", exact=True).fill("acme-corp")
    page.get_by_label("Instance ID", exact=True).fill("3f2b8c1e-8d4a-4c9b-9e1f-2a7d6c5b4a39")
    page.get_by_label("License ID", exact=True).fill("2Another0License0Id000000XYZ")
    first.click("Review", "review-changes")
    check("review-changes")
    first.goto("/no-such-page", "not-found")
    check("not-found")
    assert page.locator("link[rel=icon]").count() == 1
