"""Detecting the identity from the Replicated SDK: the client, the CLI, the wizard, and
pre-seeding when `serve` starts."""

import contextlib
import json
import re
import threading
import time
import urllib.request

import pytest

from tests.support import (
    FIXTURES,
    AdminActions,
    Wizard,
    free_port,
    recent_changes,
    saved_identity,
    saved_summary,
)
from tests.support.fake_sdk import INSTANCE_ID, LICENSE_ID
from wizard.identity import Actor, save_identity
from wizard.licenses.sdk import SdkError, detect


def test_a_current_sdk_gives_every_id_and_the_license_facts(fake_sdk):
    found = detect(fake_sdk().url)
    assert (found.license_id, found.instance_id, found.customer_id) == (
        LICENSE_ID,
        INSTANCE_ID,
        "sdk-customer-1",
    )
    assert (found.app_slug, found.customer_name, found.license_type, found.channel_name) == (
        "my-app",
        "Acme From SDK",
        "prod",
        "Stable",
    )
    assert found.expires_at.year == 2031
    assert found.mock is False
    summary = found.as_license().summary("sdk")
    assert "secret_flag" not in json.dumps(summary, default=str), "hidden ones are not kept"


def test_an_older_sdk_has_no_customer_id(fake_sdk):
    assert detect(fake_sdk("old").url).customer_id is None


def test_integration_mode_is_noticed(fake_sdk):
    assert detect(fake_sdk("mock").url).mock is True


@pytest.mark.parametrize(
    ("mode", "words"),
    [
        ("error", "answered 500"),
        ("html", "not JSON (text/html)"),
        ("missing", "did not report a license ID"),
        ("missing_instance", "did not report an instance ID"),
        ("wrong_type", "that is not text"),
        ("slow", "did not answer GET /api/v1/license/info in time"),
        ("trickle", "did not answer GET /api/v1/license/info in time"),
        ("redirect", "with a redirect (302 to http://evil.example/api/v1/license/info)"),
        ("redirect_ftp", "with a redirect (302 to ftp://files.example/x/api/v1/license/info)"),
        ("deep", "with JSON nested far deeper than any answer of the SDK"),
        ("nan", "with NaN, which is not a number JSON can hold"),
        ("infinity", "with Infinity, which is not a number JSON can hold"),
    ],
)
def test_every_failure_is_a_clear_message_within_the_deadline(fake_sdk, mode, words):
    """The deadline is wall-clock for the whole detection: an SDK that sends one byte a second
    is given up on as surely as one that sends nothing."""
    started = time.monotonic()
    with pytest.raises(SdkError) as caught:
        detect(fake_sdk(mode).url, timeout=1.0)
    assert words in str(caught.value)
    assert time.monotonic() - started < 1.5


def test_redirects_are_never_followed(fake_sdk):
    sdk = fake_sdk("redirect")
    with pytest.raises(SdkError, match="the wizard follows no redirects"):
        detect(sdk.url, timeout=1.0)
    assert sdk.requests == ["/api/v1/license/info"]


def test_one_detection_at_a_time_and_the_others_are_told_at_once(fake_sdk):
    slow = fake_sdk("trickle")
    outcomes = []

    def run():
        try:
            detect(slow.url, timeout=1.5)
        except SdkError as error:
            outcomes.append((time.monotonic() - started, str(error)))

    started = time.monotonic()
    threads = [threading.Thread(target=run) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    waited = sorted(outcomes)
    assert len(waited) == 10
    told_at_once = [text for seconds, text in waited if seconds < 0.5]
    assert len(told_at_once) == 9
    assert all("Another detection is running" in text for text in told_at_once)
    assert waited[-1][0] < 2.0


def test_an_unreachable_sdk_says_so():
    with pytest.raises(SdkError, match="cannot be reached"):
        detect(f"http://127.0.0.1:{free_port()}")


def test_a_url_that_is_not_http_is_refused_before_any_request():
    with pytest.raises(SdkError, match="WIZARD_REPLICATED_SDK_URL"):
        detect("file:///etc/passwd")


# --- The CLI ---------------------------------------------------------------------------------


def test_detect_prints_what_the_sdk_reports(fake_sdk, runner, settings, app):
    settings["WIZARD_REPLICATED_SDK_URL"] = fake_sdk().url
    result = runner("detect", "--json")
    assert result.exit_code == 0
    document = json.loads(result.output)
    assert document["instance_id"] == INSTANCE_ID
    assert document["license_id"] == "…WXYZ", "the license id is a credential"
    plain = runner("detect")
    assert "…WXYZ" in plain.output and LICENSE_ID not in plain.output
    shown = runner("detect", "--json", "--show-license-id")
    assert json.loads(shown.output)["license_id"] == LICENSE_ID
    assert runner("status").exit_code == 1, "detect alone saves nothing"


def test_detect_save_saves_with_the_history_saying_sdk(fake_sdk, runner, settings, app):
    settings["WIZARD_REPLICATED_SDK_URL"] = fake_sdk().url
    result = runner("detect", "--save")
    assert result.exit_code == 0, result.output
    identity = saved_identity(app)
    assert (identity.customer_id, identity.instance_id) == ("sdk-customer-1", INSTANCE_ID)
    assert recent_changes(app)[0].method == "sdk"
    assert saved_summary(app).signing_key == "replicated-sdk"


def test_detect_save_with_an_older_sdk_asks_for_the_customer_id(fake_sdk, runner, settings, app):
    settings["WIZARD_REPLICATED_SDK_URL"] = fake_sdk("old").url
    refused = runner("detect", "--save")
    assert refused.exit_code == 2
    assert "--customer-id is required: the Replicated SDK does not carry one." in refused.output
    assert runner("detect", "--save", "--customer-id", "typed-customer").exit_code == 0
    assert saved_identity(app).customer_id == "typed-customer"


@pytest.mark.parametrize("mode", ["error", "html", "slow", "wrong_type", "deep", "nan"])
def test_detect_fails_clearly_and_saves_nothing(fake_sdk, runner, settings, app, mode):
    settings.update(WIZARD_REPLICATED_SDK_URL=fake_sdk(mode).url, WIZARD_SDK_TIMEOUT="1")
    started = time.monotonic()
    result = runner("detect", "--save")
    assert time.monotonic() - started < 2
    assert result.exit_code == 1
    assert "Nothing detected" in result.output
    assert "Traceback" not in result.output
    assert runner("status").exit_code == 1


def test_detect_without_an_sdk_url_says_what_to_set(runner, app):
    result = runner("detect")
    assert result.exit_code != 0 and "WIZARD_REPLICATED_SDK_URL" in result.output


# --- The wizard ------------------------------------------------------------------------------


@pytest.fixture
def sdk_client(make_app):
    def make(url):
        client = make_app(WIZARD_REPLICATED_SDK_URL=url, WIZARD_SDK_TIMEOUT=1.0).test_client()
        AdminActions(client).unlock()
        return client

    return make


def test_the_wizard_offers_detection_only_when_configured(client, admin, sdk_client, fake_sdk):
    admin.unlock()
    assert "Detect from Replicated" not in client.get("/setup/").text
    assert "Detect from Replicated" in sdk_client(fake_sdk().url).get("/setup/").text


def test_detect_fills_the_details_then_the_same_review_and_save(app, sdk_client, fake_sdk):
    client = sdk_client(fake_sdk().url)
    details = Wizard(client).detect()
    assert details.request.path == "/setup/details"
    assert "Found by the Replicated SDK" in details.text
    assert "Acme From SDK" in details.text
    assert INSTANCE_ID in details.text and "sdk-customer-1" in details.text
    assert LICENSE_ID not in details.text
    review = Wizard(client).details(instance_id=INSTANCE_ID)
    assert "What the Replicated SDK reports" in review.text
    done = Wizard(client).save(review)
    assert done.status_code == 302
    identity = saved_identity(app)
    assert (identity.customer_id, identity.license_id) == ("sdk-customer-1", LICENSE_ID)
    assert recent_changes(app)[0].method == "wizard"


def test_detect_with_an_older_sdk_asks_for_the_customer_id(app, sdk_client, fake_sdk):
    client = sdk_client(fake_sdk("old").url)
    details = Wizard(client).detect()
    assert 'id="customer_id"' in details.text, "the customer id is asked for"
    page = Wizard(client).details(instance_id=INSTANCE_ID, customer_id="")
    assert "Customer ID must not be blank" in page.text


def test_integration_mode_is_said_on_details_and_review(app, sdk_client, fake_sdk):
    client = sdk_client(fake_sdk("mock").url)
    details = Wizard(client).detect()
    assert "Integration mode" in details.text
    review = Wizard(client).details(instance_id=INSTANCE_ID)
    assert "Integration mode" in review.text


def test_an_sdk_of_another_application_is_refused_as_its_license_file_would_be(
    app, make_app, fake_sdk, runner, settings
):
    url = fake_sdk().url
    client = make_app(
        WIZARD_REPLICATED_SDK_URL=url, WIZARD_EXPECTED_APP_SLUG="cluster-admin"
    ).test_client()
    AdminActions(client).unlock()
    page = Wizard(client).detect()
    assert page.request.path == "/setup/"
    assert "serves the application my-app, but this wizard is for cluster-admin" in page.text
    settings.update(WIZARD_REPLICATED_SDK_URL=url, WIZARD_EXPECTED_APP_SLUG="cluster-admin")
    result = runner("detect", "--save")
    assert result.exit_code == 1 and "this wizard is for cluster-admin" in result.output
    assert saved_identity(app) is None


def test_an_sdk_that_names_no_application_is_refused_when_one_is_expected(
    app, fake_sdk, runner, settings
):
    settings.update(
        WIZARD_REPLICATED_SDK_URL=fake_sdk("no_app").url, WIZARD_EXPECTED_APP_SLUG="my-app"
    )
    result = runner("detect", "--save")
    assert result.exit_code == 1
    assert "did not say which application it serves" in result.output
    assert saved_identity(app) is None


def test_an_expired_license_reported_by_the_sdk_is_said_before_saving(app, sdk_client, fake_sdk):
    client = sdk_client(fake_sdk("expired").url)
    details = Wizard(client).detect()
    words = re.sub(r"<[^>]+>", "", details.text)
    assert "This license expired on 1 Jan 2020, 00:00 UTC." in words
    assert "(expired)" in details.text and "days left" not in details.text


@pytest.mark.parametrize(
    "mode", ["error", "html", "missing", "slow", "trickle", "redirect", "deep", "nan", "infinity"]
)
def test_detect_failures_show_a_message_and_keep_the_other_ways_open(
    app, sdk_client, fake_sdk, mode
):
    client = sdk_client(fake_sdk(mode).url)
    started = time.monotonic()
    page = Wizard(client).detect()
    assert time.monotonic() - started < 1.5
    assert page.status_code == 200 and page.request.path == "/setup/"
    assert "Replicated SDK" in page.text and "upload, paste or type" in page.text
    for way in ("Upload the license file", "Paste the license text", "Type the IDs"):
        assert way in page.text
    assert saved_identity(app) is None


# --- Pre-seeding when serve starts -------------------------------------------------------------


def _history(url):
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT method, actor, new_customer_id FROM identity_history ORDER BY id")
        ).all()
        identity = connection.execute(
            sa.text("SELECT customer_id, instance_id, license_id FROM telemetry_identity")
        ).all()
    engine.dispose()
    return rows, identity


@pytest.mark.slow
def test_four_workers_starting_with_preseed_variables_save_once(env, start_server, database_url):
    env.update(
        WIZARD_CUSTOMER_ID="env-customer",
        WIZARD_INSTANCE_ID="env-instance",
        WIZARD_LICENSE_ID="EnvLicense000000000000000ABCD",
    )
    first = start_server(env, workers=4).wait_ready()
    second = start_server(env, workers=4).wait_ready()  # a replica, or a restart
    history, identity = _history(database_url)
    assert identity == [("env-customer", "env-instance", "EnvLicense000000000000000ABCD")]
    assert [(m, c) for m, _, c in history] == [("env", "env-customer")]
    assert "left unused" in second.log() or "left unused" in first.log()


@pytest.mark.slow
@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_a_restart_with_other_values_never_replaces_what_an_admin_saved(
    env, start_server, database_url, app
):
    with app.app_context():
        save_identity("admin-customer", "admin-instance", actor=Actor("wizard", who="session"))

    env.update(WIZARD_CUSTOMER_ID="env-customer", WIZARD_INSTANCE_ID="env-instance")
    server = start_server(env, workers=2).wait_ready()
    history, identity = _history(database_url)
    assert identity[0][:2] == ("admin-customer", "admin-instance")
    assert len(history) == 1
    assert "identity already set" in server.log()


@pytest.mark.slow
@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_preseed_from_a_license_file(env, start_server, database_url, tmp_path):

    env.update(
        WIZARD_LICENSE_FILE=str(FIXTURES / "valid-v1beta1.yaml"),
        WIZARD_INSTANCE_ID="file-instance",
        WIZARD_CUSTOMER_ID="file-customer",
    )
    start_server(env, workers=2).wait_ready()
    history, identity = _history(database_url)
    assert identity == [("file-customer", "file-instance", "1vusOokxAVp1tkRGuyxnF23PJcq")]
    assert history[0][:2] == ("env", "WIZARD_LICENSE_FILE")


@pytest.mark.slow
@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_preseed_by_detection_on_start(env, start_server, database_url, fake_sdk):
    env.update(WIZARD_DETECT_ON_START="1", WIZARD_REPLICATED_SDK_URL=fake_sdk().url)
    start_server(env, workers=2).wait_ready()
    history, identity = _history(database_url)
    assert identity == [("sdk-customer-1", INSTANCE_ID, LICENSE_ID)]
    assert history[0][:2] == ("sdk", "WIZARD_DETECT_ON_START")


@pytest.mark.slow
@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
@pytest.mark.parametrize("mode", ["deep", "nan"])
def test_a_hostile_sdk_answer_on_start_serves_without_an_identity(
    env, start_server, database_url, fake_sdk, mode
):
    env.update(WIZARD_DETECT_ON_START="1", WIZARD_REPLICATED_SDK_URL=fake_sdk(mode).url)
    server = start_server(env, workers=1).wait_ready(timeout=30)
    assert "starting without an identity" in server.log()
    assert "Traceback" not in server.log()
    assert _history(database_url) == ([], [])


@pytest.mark.slow
@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_a_trickling_sdk_delays_the_start_by_the_deadline_only(env, start_server, fake_sdk):
    """WIZARD_DETECT_ON_START with an SDK that never finishes: three tries within the deadline,
    then the wizard serves without an identity."""
    env.update(
        WIZARD_DETECT_ON_START="1",
        WIZARD_REPLICATED_SDK_URL=fake_sdk("trickle").url,
        WIZARD_SDK_TIMEOUT="1",
    )
    started = time.monotonic()
    server = start_server(env, workers=2).wait_ready(timeout=30)
    assert time.monotonic() - started < 15  # 3 tries of 1 s, 2 pauses of 2 s, and the start
    assert "did not answer" in server.log() and "starting without an identity" in server.log()


@pytest.mark.slow
@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_slow_detections_leave_pages_and_health_checks_answering(env, start_server, fake_sdk):
    env.update(WIZARD_REPLICATED_SDK_URL=fake_sdk("trickle").url, WIZARD_SDK_TIMEOUT="3")
    server = start_server(env, workers=2).wait_ready()
    bearer = {"Authorization": f"Bearer {env['WIZARD_ADMIN_TOKEN']}"}

    def detect_page():
        request = urllib.request.Request(
            server.url + "/setup/detect", data=b"", headers=bearer, method="POST"
        )
        with contextlib.suppress(OSError):
            urllib.request.urlopen(request, timeout=20).read()

    detections = [threading.Thread(target=detect_page) for _ in range(10)]
    for thread in detections:
        thread.start()
    time.sleep(0.3)
    for path in ("/healthz", "/api/v1/status"):
        started = time.monotonic()
        with urllib.request.urlopen(server.url + path, timeout=5) as response:
            assert response.status == 200
        assert time.monotonic() - started < 1, path
    for thread in detections:
        thread.join()


@pytest.mark.slow
@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"WIZARD_CUSTOMER_ID": "has space", "WIZARD_INSTANCE_ID": "i"}, "WIZARD_CUSTOMER_ID"),
        ({"WIZARD_CUSTOMER_ID": "c"}, "WIZARD_INSTANCE_ID"),
        (
            {"WIZARD_LICENSE_FILE": "/no/such/file.yaml", "WIZARD_INSTANCE_ID": "i"},
            "WIZARD_LICENSE_FILE",
        ),
        ({"WIZARD_DETECT_ON_START": "1"}, "WIZARD_REPLICATED_SDK_URL"),
    ],
)
def test_invalid_preseed_values_stop_the_start_naming_the_variable(env, variables, named, tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "wizard.cli", "serve", "--port", str(free_port())],
        env={**env, **variables},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert named in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_an_expired_license_file_stops_the_start_with_the_reason(env, tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "wizard.cli", "serve", "--port", str(free_port())],
        env={
            **env,
            "WIZARD_LICENSE_FILE": str(FIXTURES / "expired.yaml"),
            "WIZARD_INSTANCE_ID": "i",
            "WIZARD_CUSTOMER_ID": "c",
        },
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "WIZARD_LICENSE_FILE: This license expired" in result.stderr


def test_detect_shows_the_sdks_control_characters_never_obeys_them(fake_sdk, runner, settings, app):
    settings["WIZARD_REPLICATED_SDK_URL"] = fake_sdk("escapes").url
    for arguments in ([], ["--json"]):
        result = runner("detect", *arguments)
        assert result.exit_code == 0, result.output
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", result.output), repr(result.output)
    assert r"Acme\x1b]0;pwned\x07" in runner("detect").output
