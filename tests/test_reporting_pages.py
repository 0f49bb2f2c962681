"""The Reporting card in real Chromium, on a real server that reports: at 1280 and 375 px."""

import time

import pytest

from tests.support import ADMIN_TOKEN, BEARER
from tests.support.browser import Visit
from tests.support.fake_sdk import INSTANCE_ID, LICENSE_ID
from tests.support.http_client import Browser

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True, ids=[""]),
]


def _wait_for_a_report(server, state):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        body = Browser(server.url).get("/api/v1/status", headers=BEARER).json()
        if body["reporting"]["state"] == state and body["reporting"]["last_sent"]:
            return body
        time.sleep(0.5)
    raise AssertionError(f"no report in 30 s: {body['reporting']}")


@pytest.mark.parametrize("mode", ["sdk", "offline"])
def test_the_reporting_card_at_1280_and_375_px(
    chromium, env, start_server, fake_sdk, request, mode
):
    sdk = fake_sdk()
    env.update(
        WIZARD_REPORTING=mode,
        WIZARD_REPLICATED_SDK_URL=sdk.url,
        WIZARD_REPORT_INTERVAL="1h",
        WIZARD_CUSTOMER_ID="acme",
        WIZARD_INSTANCE_ID=INSTANCE_ID,
        WIZARD_LICENSE_ID=LICENSE_ID,
        WIZARD_REPORT_COLLECTORS="tests.support.collectors:seats_used,plan=tests.support.collectors:plan_name",
    )
    server = start_server(env, workers=2).wait_ready()
    _wait_for_a_report(server, "ok" if mode == "sdk" else "offline")
    for width in (1280, 375):
        context = chromium.new_context(viewport={"width": width, "height": 900})
        tab = Visit(context.new_page(), server.url, f"{request.node.name}-{width}")
        tab.goto("/setup/unlock?next=/status", "unlock")
        tab.page.get_by_label("Admin token").fill(ADMIN_TOKEN)
        tab.click("Unlock", "status")
        card = tab.page.locator("#reporting")
        assert card.get_by_role("heading", name="Reporting").is_visible()
        assert card.get_by_text("What the last report contained").is_visible()
        assert card.get_by_role("cell", name="seats_used").is_visible()
        assert card.get_by_role("cell", name="gold").is_visible()
        if mode == "offline":
            link = card.get_by_role("link", name="Download the usage file")
            with tab.page.expect_download() as download:
                link.click()
            assert download.value.suggested_filename.startswith("usage-")
        else:
            assert card.get_by_text(f"Through the Replicated SDK at {sdk.url}").is_visible()
        card.scroll_into_view_if_needed()
        tab.shot("reporting-card")
        overflow = tab.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the status page scrolls sideways at {width} px"
        context.close()
