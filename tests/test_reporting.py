"""Reporting the installation to Replicated with the saved identity: collectors, the three ways
out (through the SDK, direct, offline), nothing lost and nothing twice, what the admin sees."""

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.support import BEARER, LICENSE_ID, saved_identity
from tests.support.fake_sdk import INSTANCE_ID as SDK_INSTANCE_ID
from tests.support.fake_sdk import LICENSE_ID as SDK_LICENSE_ID
from wizard.db import db
from wizard.identity import Actor, save_identity
from wizard.reporting import Collectors, Reporter
from wizard.reporting.collectors import load_from_setting

INSTANCE = "3f2b8c1e-8d4a-4c9b-9e1f-2a7d6c5b4a39"
# The ids the fake SDK reports: an installation that reports through it saved those.
AS_THE_SDK = {"license_id": SDK_LICENSE_ID, "instance_id": SDK_INSTANCE_ID}


class Clock:
    """A clock the test moves."""

    def __init__(self, start=None):
        self.now = start or datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self):
        return self.now

    def advance(self, **delta):
        self.now += timedelta(**delta)


def identify(app, endpoint=None, license_id=LICENSE_ID, expires_at=None, instance_id=INSTANCE):
    """Save an identity, with a license summary naming `endpoint` when given."""
    summary = None
    if endpoint is not None or expires_at is not None:
        summary = {
            "app_slug": "my-app",
            "customer_name": "Acme Corp",
            "channel_name": "Stable",
            "channel_id": "2Chan",
            "endpoint": endpoint,
            "expires_at": expires_at,
            "signing_key": "production",
            "source": "upload",
        }
    with app.app_context():
        save_identity("acme", instance_id, license_id, summary=summary, actor=Actor("cli"))


def rounds(app):
    from wizard.reporting.store import ROUNDS

    with app.app_context(), db.engine.connect() as connection:
        return connection.execute(sa.select(ROUNDS).order_by(ROUNDS.c.id)).all()


def collectors(**functions):
    registry = Collectors()
    for name, function in functions.items():
        registry.register(name, function)
    return registry


def status(client, admin=True):
    return client.get("/api/v1/status", headers=BEARER if admin else {}).json


# --- Collectors --------------------------------------------------------------------------------


def test_a_collector_that_raises_hangs_or_returns_a_list_is_skipped_and_the_others_report():
    release = threading.Event()
    registry = collectors(
        seats_used=lambda: 42,
        plan=lambda: "gold",
        ratio=lambda: 0.5,
        enabled=lambda: True,
        broken=lambda: 1 / 0,
        hangs=lambda: release.wait(30),
        listed=lambda: [1, 2],
        nothing=lambda: None,
        infinite=lambda: float("inf"),
    )
    started = time.monotonic()
    data, skipped = registry.collect(timeout=0.5)
    assert time.monotonic() - started < 2, "a hung collector delays the round by its deadline"
    assert data == {"seats_used": 42, "plan": "gold", "ratio": 0.5, "enabled": True}
    reasons = {item.name: item.reason for item in skipped}
    assert reasons["broken"] == "raised ZeroDivisionError: division by zero"
    assert reasons["hangs"] == "did not answer within 0.5 s (WIZARD_COLLECTOR_TIMEOUT)"
    assert reasons["listed"] == "returned a list, not text, a number, or true or false"
    assert reasons["nothing"] == "returned no value (None)"
    assert "JSON cannot hold" in reasons["infinite"]
    _, again = registry.collect(timeout=0.2)
    assert {item.name: item.reason for item in again}["hangs"] == (
        "is still running since an earlier round"
    ), "a collector that still hangs is not started twice"
    release.set()


def test_collectors_are_registered_by_decorator_and_named_in_the_environment():
    registry = Collectors()

    @registry.register("active_users")
    def active_users():
        return 7

    names = load_from_setting(
        "tests.support.collectors:seats_used, plan=tests.support.collectors:plan_name",
        into=registry,
    )
    assert names == ["seats_used", "plan"]
    assert registry.collect(timeout=1)[0] == {"active_users": 7, "seats_used": 42, "plan": "gold"}
    with pytest.raises(ValueError, match="WIZARD_REPORT_COLLECTORS: cannot load nope:x"):
        load_from_setting("nope:x", into=registry)
    with pytest.raises(ValueError, match="wizard reports itself"):
        registry.register("wizard_version", lambda: "1")


# --- Only when identified ----------------------------------------------------------------------


def test_nothing_is_collected_or_sent_until_the_installation_is_identified(
    make_app, fake_sdk, client
):
    sdk = fake_sdk()
    app = make_app(WIZARD_REPLICATED_SDK_URL=sdk.url)
    called = []
    outcome = Reporter(app, collectors(seats=lambda: called.append(1) or 1)).tick()
    assert outcome.state == "not_identified"
    assert called == [] and sdk.writes == [] and rounds(app) == []
    body = app.test_client().get("/api/v1/status", headers=BEARER).json
    assert body["reporting"]["state"] == "not_identified"
    assert body["reporting"]["next_at"] is None


# --- Through the SDK ---------------------------------------------------------------------------


def test_through_the_sdk_the_metrics_replace_the_set_and_the_instance_is_named(make_app, fake_sdk):
    sdk = fake_sdk()
    app = make_app(WIZARD_REPLICATED_SDK_URL=sdk.url, WIZARD_INSTANCE_NAME="prod-eu")
    identify(app, expires_at=datetime.now(UTC) + timedelta(days=40, hours=1), **AS_THE_SDK)
    outcome = Reporter(app, collectors(seats_used=lambda: 42)).tick()
    assert outcome.state == "ok" and outcome.sent
    [metrics, tags] = sdk.writes
    assert metrics[:2] == ("POST", "/api/v1/app/custom-metrics")
    assert metrics[2]["data"]["seats_used"] == 42
    assert metrics[2]["data"]["license_expires_in_days"] == 40
    assert metrics[2]["data"]["wizard_version"]
    assert "Authorization" not in metrics[3], "the SDK adds the identity itself"
    assert tags[:2] == ("POST", "/api/v1/app/instance-tags")
    assert tags[2] == {"data": {"force": False, "tags": {"name": "prod-eu"}}}
    body = status(app.test_client())["reporting"]
    assert (body["mode"], body["state"]) == ("sdk", "ok")
    assert body["where"] == f"through the Replicated SDK at {sdk.url}"
    assert body["last_sent"]["data"] == sdk.metrics
    [row] = rounds(app)
    assert row.sent_at is not None and row.attempts == 1


def test_the_same_report_again_within_a_minute_is_served_from_the_sdks_cache(make_app, fake_sdk):
    sdk = fake_sdk()
    app = make_app(WIZARD_REPLICATED_SDK_URL=sdk.url)
    identify(app, **AS_THE_SDK)
    reporter = Reporter(app, collectors(seats_used=lambda: 42))
    reporter.report_now()
    assert reporter.report_now().state == "ok"
    body = status(app.test_client())["reporting"]
    assert body["last_sent"]["served_from_cache"] is True
    page = _admin_page(app)
    assert "served from the Replicated SDK's cache" in page


@pytest.mark.parametrize(
    ("mode", "words"),
    [
        ("upstream_down", "could not pass the metrics on to Replicated"),
        ("error", "cannot be reached"),  # replaced below by a closed SDK
    ],
)
def test_an_sdk_that_cannot_send_upstream_or_is_down_is_said_in_words(
    make_app, fake_sdk, mode, words
):
    sdk = fake_sdk(mode)
    url = sdk.url
    if mode == "error":
        sdk.close()
    app = make_app(WIZARD_REPLICATED_SDK_URL=url)
    identify(app, **AS_THE_SDK)
    outcome = Reporter(app, collectors(seats_used=lambda: 1)).tick()
    assert outcome.state == "failing" and words in outcome.failed
    body = status(app.test_client())["reporting"]
    assert body["state"] == "failing" and words in body["last_error"]
    assert status(app.test_client(), admin=False)["reporting"] == {"state": "failing"}
    [row] = rounds(app)
    assert row.sent_at is None and row.attempts == 1 and words in row.last_error


# --- Direct ------------------------------------------------------------------------------------


def test_direct_sends_the_check_in_and_the_metrics_as_the_sdk_does(
    make_app, fake_replicated, caplog
):
    endpoint = fake_replicated(licenses=[LICENSE_ID])
    app = make_app(WIZARD_DEPLOYMENT_ID="ns-uid-1", WIZARD_INSTANCE_NAME="prod-eu")
    identify(app, endpoint=endpoint.url)
    outcome = Reporter(app, collectors(seats_used=lambda: 42)).tick()
    assert outcome.state == "ok", outcome.failed
    check_in, metrics = endpoint.received
    assert check_in["path"] == "/kots_metrics/license_instance/info" and check_in["body"] == {}
    assert metrics["path"] == "/application/custom-metrics"
    assert metrics["body"]["data"]["seats_used"] == 42
    headers = check_in["headers"]
    assert headers["X-Replicated-InstanceID"] == INSTANCE
    assert headers["X-Replicated-ClusterID"] == "ns-uid-1"
    assert headers["X-Replicated-DownstreamChannelID"] == "2Chan"
    assert "X-Replicated-DownstreamChannelName" not in headers, "only without a channel id"
    tags = json.loads(__import__("base64").b64decode(headers["X-Replicated-InstanceTagData"]))
    assert tags == {"force": False, "tags": {"name": "prod-eu"}}
    assert endpoint.metrics == {LICENSE_ID: [metrics["body"]["data"]]}
    client = app.test_client()
    everything = json.dumps(status(client)) + _admin_page(app) + caplog.text
    assert LICENSE_ID not in everything, "the license id goes only to the endpoint"
    assert status(client)["reporting"]["where"] == f"direct to {endpoint.url}"


def test_direct_says_the_endpoint_refused_the_license_id(make_app, fake_replicated):
    endpoint = fake_replicated(licenses=["SomeoneElse000000000000000"])
    app = make_app()
    identify(app, endpoint=endpoint.url)
    outcome = Reporter(app, collectors()).tick()
    assert "refused the license id (401) for the instance check-in" in outcome.failed
    assert "license not found" in outcome.failed, "the endpoint's words, meant for a person"


def test_direct_never_sends_the_license_id_over_plain_http_to_another_machine(
    make_app, fake_replicated
):
    app = make_app(WIZARD_REPLICATED_ENDPOINT="http://replicated.example.com")
    identify(app, endpoint="https://replicated.app")
    outcome = Reporter(app, collectors()).tick()
    assert "is not HTTPS: the license id is sent only over HTTPS" in outcome.failed
    assert status(app.test_client())["reporting"]["where"] == (
        "direct to http://replicated.example.com"
    ), "WIZARD_REPLICATED_ENDPOINT replaces the license's endpoint"


# --- Offline -----------------------------------------------------------------------------------


def test_offline_keeps_every_report_and_exports_them_in_the_sdks_air_gap_shape(
    make_app, runner, tmp_path
):
    app = make_app(WIZARD_REPORTING="offline")
    identify(app)
    clock = Clock()
    reporter = Reporter(app, collectors(seats_used=lambda: 42), clock=clock)
    for _ in range(3):
        assert reporter.tick().state == "offline"
        clock.advance(hours=4)
    assert len(rounds(app)) == 3
    target = tmp_path / "usage.json"
    result = runner("report", "--export", str(target), env={"WIZARD_REPORTING": "offline"})
    assert result.exit_code == 0, result.output
    assert "Wrote 3 reports to" in result.output
    usage = json.loads(target.read_text())
    assert set(usage) == {"events"} and len(usage["events"]) == 3
    first = usage["events"][0]
    assert set(first) == {"reported_at", "license_id", "instance_id", "data"}
    assert first["reported_at"] == int(datetime(2026, 12, 1, 9, 0, tzinfo=UTC).timestamp() * 1000)
    assert (first["license_id"], first["instance_id"]) == (LICENSE_ID, INSTANCE)
    assert first["data"]["seats_used"] == 42
    download = app.test_client().get("/api/v1/usage", headers=BEARER)
    assert download.json == usage and "attachment" in download.headers["Content-Disposition"]
    assert app.test_client().get("/api/v1/usage").status_code == 401


def test_auto_reports_through_the_sdk_else_direct_else_offline(make_app, fake_sdk):
    sdk = fake_sdk()
    through = make_app(WIZARD_REPLICATED_SDK_URL=sdk.url)
    identify(through, endpoint="https://replicated.app", **AS_THE_SDK)
    assert status(through.test_client())["reporting"]["mode"] == "sdk"
    direct = make_app()
    identify(direct, endpoint="https://replicated.app")
    assert status(direct.test_client())["reporting"]["mode"] == "direct"
    offline = make_app()
    identify(offline, license_id="2Typed0License0Without0Summary")  # drops the summary
    assert status(offline.test_client())["reporting"]["mode"] == "offline"
    off = make_app(WIZARD_REPORTING="off")
    identify(off, **AS_THE_SDK)
    assert status(off.test_client())["reporting"]["state"] == "off"
    assert Reporter(off, collectors()).tick().state == "off"


# --- Nothing lost, nothing twice ---------------------------------------------------------------


def test_a_failed_round_is_retried_with_backoff_and_survives_a_restart(make_app, fake_replicated):
    endpoint = fake_replicated(licenses=[LICENSE_ID], mode="error")
    app = make_app()
    identify(app, endpoint=endpoint.url)
    clock = Clock()
    first = Reporter(app, collectors(seats_used=lambda: 1), clock=clock)
    assert first.tick().state == "failing"
    [row] = rounds(app)
    assert row.attempts == 1 and row.next_attempt_at > clock.now + timedelta(seconds=29)
    said = datetime.fromisoformat(status(app.test_client())["reporting"]["next_at"])
    assert said == row.next_attempt_at, "the status says when it is tried again"
    clock.advance(seconds=5)
    assert first.tick().sent is None and rounds(app)[0].attempts == 1, "not before its time"
    endpoint.mode = "ok"
    # A restart: a new process, a new app, the same database.
    restarted = Reporter(make_app(), collectors(seats_used=lambda: 1), clock=clock)
    clock.advance(minutes=3)
    outcome = restarted.tick()
    assert outcome.sent == [row.id], "the kept round is sent, not a new one"
    assert outcome.collected is None
    [row] = rounds(app)
    assert (row.attempts, row.last_error) == (2, None) and row.sent_at is not None
    assert len(endpoint.metrics[LICENSE_ID]) == 1
    assert status(app.test_client())["reporting"]["state"] == "ok"


def test_rounds_that_did_not_get_through_follow_the_way_chosen_now(make_app, fake_replicated):
    """Direct, then offline (an air gap after all): the rounds that never left are in the usage
    file; back to direct, the file's rounds stay for the file, new ones are sent."""
    endpoint = fake_replicated(licenses=[LICENSE_ID], mode="error")
    app = make_app()
    identify(app, endpoint=endpoint.url)
    clock = Clock()
    Reporter(app, collectors(seats_used=lambda: 7), clock=clock).tick()
    offline = make_app(WIZARD_REPORTING="offline")
    before_any_round = offline.test_client().get("/api/v1/usage", headers=BEARER).json
    assert [event["data"]["seats_used"] for event in before_any_round["events"]] == [7]
    clock.advance(minutes=5)
    assert Reporter(offline, collectors(), clock=clock).tick().state == "offline"
    usage = offline.test_client().get("/api/v1/usage", headers=BEARER).json
    assert [event["data"]["seats_used"] for event in usage["events"]] == [7]
    assert status(offline.test_client())["reporting"]["next_at"] is not None
    endpoint.mode = "ok"
    clock.advance(minutes=5)
    direct = make_app()
    Reporter(direct, collectors(), clock=clock).tick()
    said = status(direct.test_client())["reporting"]
    assert said["state"] == "waiting", "no longer 'kept here' once direct"
    clock.advance(hours=5)
    outcome = Reporter(direct, collectors(seats_used=lambda: 8), clock=clock).tick()
    assert outcome.sent == [outcome.collected], "only the new round is sent"
    assert [event["data"]["seats_used"] for event in usage["events"]] == [7]
    assert len(endpoint.metrics[LICENSE_ID]) == 1


def test_a_setting_put_right_clears_its_failure_at_once(make_app, fake_replicated, fake_sdk):
    endpoint = fake_replicated(licenses=[SDK_LICENSE_ID])
    app = make_app()
    identify(app, endpoint=endpoint.url, **AS_THE_SDK)
    clock = Clock()
    assert Reporter(app, collectors(), clock=clock).tick().state == "ok"
    broken = make_app(WIZARD_REPORTING="sdk")
    clock.advance(minutes=1)
    assert Reporter(broken, collectors(), clock=clock).tick().state == "failing"
    assert (
        "needs WIZARD_REPLICATED_SDK_URL" in status(broken.test_client())["reporting"]["last_error"]
    )
    fixed = make_app(WIZARD_REPORTING="sdk", WIZARD_REPLICATED_SDK_URL=fake_sdk().url)
    clock.advance(minutes=1)
    Reporter(fixed, collectors(), clock=clock).tick()
    said = status(fixed.test_client())["reporting"]
    assert (said["state"], said["last_error"]) == ("ok", None), "not until the next round"


def test_five_days_without_getting_through_warn_the_admin(make_app, fake_replicated):
    endpoint = fake_replicated(licenses=[LICENSE_ID], mode="error")
    app = make_app()
    identify(app, endpoint=endpoint.url)
    clock = Clock(start=datetime.now(UTC) - timedelta(days=5, hours=1))
    reporter = Reporter(app, collectors(seats_used=lambda: 1), clock=clock)
    for _ in range(5 * 6):  # every four hours for five days, the endpoint down throughout
        reporter.tick()
        clock.advance(hours=4)
    assert len(rounds(app)) == 30, "a round every interval, each kept until it gets through"
    body = status(app.test_client())["reporting"]
    assert body["warning"].startswith("No report has reached Replicated for 5 days")
    assert "answered 500" in body["warning"]
    assert "No report has reached Replicated for 5 days" in _admin_page(app)
    patient = make_app(WIZARD_REPORT_WARN_DAYS="6")
    assert status(patient.test_client())["reporting"]["warning"] is None
    metrics = app.test_client().get("/metrics", headers=BEARER).text
    assert _metric(metrics, "wizard_report_failures_total") >= 30
    assert _metric(metrics, "wizard_report_rounds_waiting") == 30


def _metric(text, name):
    [line] = [line for line in text.splitlines() if line.startswith(name + " ")]
    return float(line.split()[1])


def test_rounds_beyond_the_cap_drop_the_oldest_and_the_status_says_so(make_app, monkeypatch):
    from wizard.reporting import store

    monkeypatch.setattr(store, "UNSENT_CAP", 3)
    app = make_app(WIZARD_REPORTING="offline")
    identify(app)
    clock = Clock()
    reporter = Reporter(app, collectors(), clock=clock)
    for _ in range(5):
        reporter.tick()
        clock.advance(hours=4)
    assert len(rounds(app)) == 3
    assert status(app.test_client())["reporting"]["dropped"] == 2
    assert "2 unsent reports were dropped" in _admin_page(app)


def test_many_reporters_at_once_send_each_round_once(make_app, fake_sdk):
    sdk = fake_sdk()
    app = make_app(WIZARD_REPLICATED_SDK_URL=sdk.url)
    identify(app, **AS_THE_SDK)
    reporters = [
        Reporter(make_app(WIZARD_REPLICATED_SDK_URL=sdk.url), collectors()) for _ in range(6)
    ]
    barrier = threading.Barrier(len(reporters))

    def run(reporter):
        barrier.wait()
        reporter.tick()

    threads = [threading.Thread(target=run, args=(reporter,)) for reporter in reporters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(rounds(app)) == 1, "one round for the interval, whoever held the lease"
    assert len(sdk.writes) == 1


# --- The command line --------------------------------------------------------------------------


def test_report_dry_run_prints_exactly_what_would_be_sent_and_sends_nothing(
    make_app, runner, fake_replicated
):
    endpoint = fake_replicated(licenses=[LICENSE_ID])
    app = make_app()
    identify(app, endpoint=endpoint.url)
    result = runner("report", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    [check_in, metrics] = body["requests"]
    assert check_in["url"] == f"{endpoint.url}/kots_metrics/license_instance/info"
    assert metrics["body"]["data"] == body["data"]
    assert check_in["headers"]["Authorization"] == "Basic (the license id, as user and password)"
    assert LICENSE_ID not in result.output
    human = runner("report", "--dry-run")
    assert f"POST {endpoint.url}/application/custom-metrics" in human.output
    assert endpoint.received == [] and rounds(app) == [], "nothing sent, nothing written"
    kept = runner("report", "--dry-run", env={"WIZARD_REPORTING": "offline"})
    assert f'"license_id": "…{LICENSE_ID[-4:]}"' in kept.output, "the hint, as the pages write it"


def test_report_sends_one_round_now_for_a_cron_job(make_app, runner, fake_sdk):
    sdk = fake_sdk()
    app = make_app(WIZARD_REPLICATED_SDK_URL=sdk.url)
    identify(app, **AS_THE_SDK)
    result = runner(
        "report",
        env={
            "WIZARD_REPLICATED_SDK_URL": sdk.url,
            "WIZARD_REPORT_COLLECTORS": "tests.support.collectors:seats_used",
        },
    )
    assert result.exit_code == 0, result.output
    assert f"Sent: one report, through the Replicated SDK at {sdk.url}" in result.output
    assert "seats_used = 42" in result.output
    assert sdk.metrics["seats_used"] == 42 and len(rounds(app)) == 1
    assert runner("report", env={"WIZARD_REPORTING": "off"}).exit_code == 1


def test_report_says_why_nothing_was_reported(make_app, runner):
    make_app()
    result = runner("report")
    assert result.exit_code == 1
    assert "this installation is not identified yet" in result.output


def test_status_says_how_reporting_stands(make_app, runner, fake_sdk):
    sdk = fake_sdk("upstream_down")
    app = make_app(WIZARD_REPLICATED_SDK_URL=sdk.url)
    identify(app, **AS_THE_SDK)
    Reporter(app, collectors()).tick()
    result = runner("status", env={"WIZARD_REPLICATED_SDK_URL": sdk.url})
    assert result.exit_code == 0
    assert f"Reporting: failing, through the Replicated SDK at {sdk.url}" in result.output
    assert "Last attempt failed: The Replicated SDK" in result.output
    body = json.loads(runner("status", "--json", env={"WIZARD_REPLICATED_SDK_URL": sdk.url}).output)
    assert set(body["reporting"]) >= {
        "mode",
        "state",
        "last_success_at",
        "last_attempt_at",
        "last_error",
        "failing_since",
        "warning",
        "next_at",
        "last_sent",
    }


# --- Prometheus --------------------------------------------------------------------------------


def test_metrics_come_from_the_database_and_need_the_token_by_default(make_app, fake_sdk):
    sdk = fake_sdk()
    app = make_app(WIZARD_REPLICATED_SDK_URL=sdk.url)
    expires = datetime(2030, 7, 27, tzinfo=UTC)
    identify(app, expires_at=expires, **AS_THE_SDK)
    Reporter(app, collectors()).tick()
    client = app.test_client()
    assert client.get("/metrics").status_code == 401
    text = client.get("/metrics", headers=BEARER).text
    assert _metric(text, "wizard_identity_set") == 1
    assert _metric(text, "wizard_license_expiry_timestamp_seconds") == expires.timestamp()
    assert 0 <= _metric(text, "wizard_report_seconds_since_success") < 60
    assert _metric(text, "wizard_report_rounds_waiting") == 0
    assert LICENSE_ID not in text and INSTANCE not in text, "no secret and no id in labels"
    open_metrics = make_app(WIZARD_METRICS="on").test_client().get("/metrics")
    assert open_metrics.status_code == 200 and "wizard_identity_set" in open_metrics.text
    assert make_app(WIZARD_METRICS="off").test_client().get("/metrics").status_code == 404


def _admin_page(app):
    client = app.test_client()
    return client.get("/status", headers=BEARER).text


def test_the_reporting_card_shows_what_left_the_installation(make_app, fake_sdk):
    sdk = fake_sdk()
    app = make_app(WIZARD_REPLICATED_SDK_URL=sdk.url)
    identify(app, **AS_THE_SDK)
    Reporter(app, collectors(seats_used=lambda: 42, broken=lambda: 1 / 0)).tick()
    page = _admin_page(app)
    assert "<h2>Reporting</h2>" in page
    assert f"Through the Replicated SDK at {sdk.url}" in page
    assert '<code>seats_used</code></td><td class="value">42' in page
    assert "<code>broken</code> raised ZeroDivisionError" in page
    public = app.test_client().get("/status").text
    assert "Reports reach Replicated." in public and "seats_used" not in public
    assert saved_identity(app).has_customer_info


@pytest.mark.slow
@pytest.mark.parametrize("engine_name", ["postgresql"], indirect=True)
def test_two_servers_of_two_workers_on_one_database_send_each_round_once(
    env, start_server, fake_sdk, make_app
):
    sdk = fake_sdk()
    env.update(
        WIZARD_REPLICATED_SDK_URL=sdk.url,
        WIZARD_REPORT_INTERVAL="2s",
        WIZARD_CUSTOMER_ID="acme",
        WIZARD_INSTANCE_ID=SDK_INSTANCE_ID,
        WIZARD_LICENSE_ID=SDK_LICENSE_ID,
        WIZARD_REPORT_COLLECTORS="tests.support.collectors:seats_used",
    )
    servers = [start_server(env, workers=2) for _ in range(2)]
    for server in servers:
        server.wait_ready()
    time.sleep(14)
    for server in servers:
        server.stop()
    sent = [row for row in rounds(make_app()) if row.sent_at is not None]
    posts = [write for write in sdk.writes if write[1] == "/api/v1/app/custom-metrics"]
    assert len(sent) >= 3, "a round every two seconds, from the first soon after start"
    assert len(posts) == len(sent), "each round sent once, by whichever worker held the lease"
    assert all(write[2]["data"]["seats_used"] == 42 for write in posts)
    assert "collectors: seats_used" in servers[0].log()


def test_status_says_offline_once_and_not_what_another_mode_did(make_app, runner):
    app = make_app(WIZARD_REPORTING="offline")
    identify(app, endpoint="https://replicated.app")
    Reporter(app, collectors()).tick()
    result = runner("status", env={"WIZARD_REPORTING": "offline"})
    assert "Reporting: offline: kept here for the air-gapped usage file; last kept" in result.output
    assert "offline, offline" not in result.output
    # The same database, read with settings that report direct: the offline rounds were
    # another mode's; the next goes direct.
    result = runner("status")
    assert "Reporting: waiting, direct to https://replicated.app" in result.output
