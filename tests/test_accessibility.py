"""Every page, in every state an admin meets, checked by axe-core in real Chromium: WCAG 2.2
A and AA and axe's best practices, at 1280 and 375 px, light and dark, in a console's frame
and not. Each variant is also saved as a screenshot, to look at."""

import pytest

from tests.support import ADMIN_TOKEN, FIXTURES
from tests.support.browser import SCREENSHOTS, Visit

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True, ids=[""]),
]

RULES = {
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"],
    }
}
VARIANTS = [
    (width, scheme, framed)
    for width in (1280, 375)
    for scheme in ("light", "dark")
    for framed in (False, True)
]


@pytest.fixture
def server(env, start_server):
    return start_server({**env, "WIZARD_EXPECTED_APP_SLUG": "my-app"}, workers=2).wait_ready()


def _check(page, name, found):
    """Run axe on the page as it is, in every variant; collect what it finds."""
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    for width, scheme, framed in VARIANTS:
        page.set_viewport_size({"width": width, "height": 900})
        page.emulate_media(color_scheme=scheme)
        page.evaluate(
            "framed => framed ? document.documentElement.setAttribute('data-framed', '')"
            " : document.documentElement.removeAttribute('data-framed')",
            framed,
        )
        variant = f"{name}-{width}-{scheme}{'-framed' if framed else ''}"
        results = axe.run(page, options=RULES)
        if results.violations_count:
            found[variant] = results.generate_report()
        page.screenshot(path=SCREENSHOTS / "a11y" / f"{variant}.png", full_page=True)


def test_every_page_has_no_accessibility_violations(chromium, server, request, env):
    (SCREENSHOTS / "a11y").mkdir(parents=True, exist_ok=True)
    context = chromium.new_context()
    tab = Visit(context.new_page(), server.url, request.node.name)
    page = tab.page
    found = {}

    def at(path, name):
        page.goto(server.url + path)
        _check(page, name, found)

    at("/status", "status-locked-unset")
    at("/no-such-page", "not-found")
    at("/setup/unlock", "unlock")
    page.get_by_label("Admin token").fill("not-the-token")
    page.get_by_role("button", name="Unlock").click()
    page.wait_for_load_state()
    _check(page, "unlock-refused", found)
    page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Unlock").click()
    page.wait_for_load_state()
    at("/setup/", "start")
    at("/setup/upload", "upload")
    page.get_by_label("License file").set_input_files(str(FIXTURES / "expired.yaml"))
    tab.click("Check the license", "upload-refused")
    _check(page, "upload-refused", found)
    at("/setup/paste", "paste")
    page.get_by_label("License text").fill("hello there\nsecond line\n")
    tab.click("Check the license", "paste-refused")
    _check(page, "paste-refused", found)
    several = (FIXTURES / "valid-v1beta1.yaml").read_text() + "\n---\n"
    several += (FIXTURES / "valid-v1beta2.yaml").read_text()
    page.goto(server.url + "/setup/paste")
    page.get_by_label("License text").fill(several)
    tab.click("Check the license", "choose")
    _check(page, "choose", found)
    page.goto(server.url + "/setup/upload")
    page.get_by_label("License file").set_input_files(str(FIXTURES / "valid-v1beta1.yaml"))
    tab.click("Check the license", "details")
    _check(page, "details", found)
    page.get_by_label("Customer ID").fill("has space")
    page.get_by_label("Instance ID").fill("instance-1")
    tab.click("Review", "details-refused")
    _check(page, "details-refused", found)
    page.get_by_label("Customer ID").fill("acme")
    tab.click("Review", "review")
    _check(page, "review", found)
    tab.click("Save", "status")
    _check(page, "status-unlocked", found)
    # Again, over a saved identity: the review shows what changes.
    tab.start("Type the IDs", "manual-again")
    page.get_by_label("Customer ID", exact=True).fill("acme-2")
    page.get_by_label("Instance ID").fill("instance-2")
    tab.click("Review", "review-changes")
    _check(page, "review-changes", found)
    context.close()
    assert not found, "\n\n".join(f"== {variant}\n{report}" for variant, report in found.items())
