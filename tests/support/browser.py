"""Real Chromium for the page tests: the browser, and a tab that screenshots and checks
every page it shows."""

import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = os.environ.get("WIZARD_TEST_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _browser_problem():
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        return f"Chromium is not at {CHROMIUM}"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    return None


def launch_chromium():
    problem = _browser_problem()
    if problem and os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(f"REQUIRE_BROWSER=1 but {problem}")
    if problem:
        pytest.skip(f"{problem} (set REQUIRE_BROWSER=1 to make this a failure)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Visit:
    """A browser tab that saves a screenshot of every page it shows, numbered in order."""

    def __init__(self, page, base_url, test_name):
        self.page = page
        self.base_url = base_url
        self.prefix = re.sub(r"[^A-Za-z0-9_.-]+", "-", test_name.removeprefix("test_"))
        self.count = 0
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for old in SCREENSHOTS.glob(f"{self.prefix}-[0-9][0-9]-*.png"):
            old.unlink()  # an earlier run's pictures of this test
        self.errors = []
        self.foreign = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("request", self._note_request)

    def _note_request(self, request):
        if not request.url.startswith(self.base_url):
            self.foreign.append(request.url)

    def shot(self, name):
        self.count += 1
        assert not self.errors, f"script errors on the page: {self.errors}"
        assert not self.foreign, f"the page loaded something from elsewhere: {self.foreign}"
        unlabelled = self.page.evaluate(
            """[...document.querySelectorAll('input, textarea, select')]
                 .filter(e => e.type !== 'hidden' && e.type !== 'submit' && e.labels.length === 0)
                 .map(e => e.name)"""
        )
        assert not unlabelled, f"inputs without a label: {unlabelled}"
        self.page.screenshot(
            path=SCREENSHOTS / f"{self.prefix}-{self.count:02d}-{name}.png", full_page=True
        )

    def goto(self, path, name):
        self.page.goto(self.base_url + path)
        self.shot(name)

    def start(self, way, name):
        """Open the start page and choose a way (a button: Type the IDs, Detect from Replicated)."""
        self.page.goto(self.base_url + "/setup/")
        self.click(way, name)

    def click(self, label, name):
        """Press a button and wait for the page it leads to (every button here sends a form):
        waiting only for a load state could see the old page, before the form is sent."""
        with self.page.expect_navigation():
            self.page.get_by_role("button", name=label).click()
        self.shot(name)


def links_outside(page, allowed):
    """Every link, form, stylesheet and script of the page that leads outside `allowed`."""
    return page.evaluate(
        """allowed => [...document.querySelectorAll(
                   'a[href], form[action], link[href], script[src]')]
               .map(e => e.href || e.action || e.src)
               .filter(url => !url.startsWith(allowed))""",
        allowed,
    )


def complete_the_wizard_under(tab, allowed, token, customer_id, frame=None):
    """Unlock, upload the v1beta1 license, fill the details, review and save, checking at every
    step that nothing leads outside `allowed` (the prefix the wizard is served under)."""
    from tests.support import FIXTURES

    outside = []
    tab.page.on("response", lambda r: None if r.url.startswith(allowed) else outside.append(r.url))
    tab.goto("/", "unlock-prefixed")
    assert tab.page.url.startswith(f"{allowed}setup/unlock"), tab.page.url
    assert not links_outside(tab.page, allowed)
    tab.page.get_by_label("Admin token").fill(token)
    tab.click("Unlock", "start-prefixed")
    tab.page.get_by_role("link", name="Upload the license file").click()
    tab.shot("upload-prefixed")
    assert not links_outside(tab.page, allowed)
    tab.page.get_by_label("License file").set_input_files(str(FIXTURES / "valid-v1beta1.yaml"))
    tab.click("Check the license", "details-prefixed")
    assert tab.page.url == f"{allowed}setup/details"
    assert not links_outside(tab.page, allowed)
    tab.page.get_by_label("Customer ID").fill(customer_id)
    tab.page.get_by_label("Instance ID").fill("mounted-instance")
    tab.click("Review", "review-prefixed")
    assert tab.page.url == f"{allowed}setup/review"
    assert not links_outside(tab.page, allowed)
    tab.click("Save", "status-prefixed")
    assert tab.page.url == f"{allowed}status"
    assert tab.page.get_by_text(customer_id).first.is_visible()
    assert not links_outside(tab.page, allowed)
    assert not outside, f"responses from outside the prefix: {outside}"
    prefix = urlsplit(allowed).path
    cookies = tab.page.context.cookies()
    assert cookies and {cookie["path"] for cookie in cookies} == {prefix}, cookies
