"""Lighthouse, run as a person would run it, on the wizard's pages: 100 for accessibility and
for best practices, on a phone and on a desktop, locked and unlocked (a bearer token shows the
admin's pages; Lighthouse refuses to audit a 404, which axe checks). CI installs Lighthouse
(.ci/run); elsewhere set WIZARD_TEST_LIGHTHOUSE."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support import ADMIN_TOKEN
from tests.support.browser import CHROMIUM

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True, ids=[""]),
]

ROOT = Path(__file__).resolve().parent.parent
LIGHTHOUSE = os.environ.get(
    "WIZARD_TEST_LIGHTHOUSE", str(ROOT / ".lighthouse" / "node_modules" / ".bin" / "lighthouse")
)
REPORTS = ROOT / "test-artifacts" / "lighthouse"
BEARER = json.dumps({"Authorization": f"Bearer {ADMIN_TOKEN}"})
PAGES = [
    ("/setup/unlock", None, "mobile"),
    ("/setup/unlock", None, "desktop"),
    ("/status", None, "mobile"),
    ("/status", BEARER, "mobile"),
    ("/status", BEARER, "desktop"),
    ("/setup/", BEARER, "mobile"),
    ("/setup/upload", BEARER, "mobile"),
    ("/setup/paste", BEARER, "desktop"),
]


@pytest.fixture(scope="module")
def lighthouse():
    if not os.path.exists(LIGHTHOUSE):
        problem = f"Lighthouse is not at {LIGHTHOUSE}"
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {problem}")
        pytest.skip(f"{problem} (npm i -E --prefix .lighthouse lighthouse@12.2.3)")
    return LIGHTHOUSE


def _audit(lighthouse, url, headers, form_factor, name):
    REPORTS.mkdir(parents=True, exist_ok=True)
    report = REPORTS / f"{name}.json"
    command = [
        lighthouse,
        url,
        "--only-categories=accessibility,best-practices",
        "--chrome-flags=--headless=new --no-sandbox --disable-gpu",
        "--output=json",
        f"--output-path={report}",
        "--quiet",
    ]
    if form_factor == "desktop":
        command.append("--preset=desktop")
    if headers:
        command.append(f"--extra-headers={headers}")
    done = subprocess.run(
        command, env={**os.environ, "CHROME_PATH": CHROMIUM}, capture_output=True, timeout=180
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return json.loads(report.read_text())


def test_lighthouse_gives_every_page_100_for_accessibility_and_best_practices(
    lighthouse, env, start_server
):
    server = start_server(env, workers=2).wait_ready()
    short = {}
    for path, headers, form_factor in PAGES:
        name = f"{path.strip('/').replace('/', '-') or 'root'}-{form_factor}"
        name += "-admin" if headers else ""
        result = _audit(lighthouse, server.url + path, headers, form_factor, name)
        for category in result["categories"].values():
            if category["score"] != 1:
                failing = [
                    f"{audit['id']}: {audit['title']}"
                    for audit in result["audits"].values()
                    if audit.get("score") is not None
                    and audit["score"] < 1
                    and audit.get("scoreDisplayMode") in ("binary", "numeric")
                ]
                short[f"{name} {category['id']}"] = (category["score"], failing)
    assert not short, short
