"""The reporter: a round of metrics every WIZARD_REPORT_INTERVAL, written to the database
before it is sent, sent once by whichever process holds the lease, retried with backoff and
jitter when it fails, and only ever while the installation is identified."""

from __future__ import annotations

import functools
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask

from ..db import database_problem
from ..identity import load_identity, load_summary
from ..ids import license_id_hint
from ..watch import check_license_if_due, identity_mismatch, mismatch_words
from . import store
from .collectors import REGISTRY, Collectors, Skipped
from .ways import (
    Delivered,
    Direct,
    Offline,
    Report,
    SendFailed,
    ThroughSdk,
    Way,
    usage_event,
)

log = logging.getLogger("wizard.reporting")

LEASE_SECONDS = 120.0
BUSY = "busy"  # another process holds the lease
FIRST_RETRY_SECONDS = 60.0


@functools.cache
def wizard_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("replicated-setup-wizard")
    except PackageNotFoundError:
        return "0+unknown"


@dataclass(frozen=True)
class Plan:
    """How this installation reports now: the mode, the way out, or why it cannot."""

    mode: str  # off, sdk, direct, offline
    way: Way | None = None
    problem: str | None = None


def plan_for(config: Any, summary: Any) -> Plan:
    """WIZARD_REPORTING resolved: `auto` is the SDK when WIZARD_REPLICATED_SDK_URL is set, else
    direct when the saved license has an endpoint (or WIZARD_REPLICATED_ENDPOINT names one),
    else offline."""
    setting = config["WIZARD_REPORTING"]
    sdk_url = config["WIZARD_REPLICATED_SDK_URL"]
    endpoint = config["WIZARD_REPLICATED_ENDPOINT"] or (summary.endpoint if summary else None)
    if setting == "off":
        return Plan("off")
    if setting == "auto":
        setting = "sdk" if sdk_url else "direct" if endpoint else "offline"
    name = config["WIZARD_INSTANCE_NAME"]
    if setting == "sdk":
        if not sdk_url:
            return Plan("sdk", problem="WIZARD_REPORTING=sdk needs WIZARD_REPLICATED_SDK_URL")
        return Plan("sdk", ThroughSdk(sdk_url, name))
    if setting == "direct":
        if not endpoint:
            return Plan(
                "direct",
                problem="the saved license names no endpoint to report to: set "
                "WIZARD_REPLICATED_ENDPOINT, or save the license file",
            )
        way = Direct(
            endpoint,
            wizard_version(),
            channel_id=summary.channel_id if summary else None,
            channel_name=summary.channel_name if summary else None,
            cluster_id=config["WIZARD_DEPLOYMENT_ID"],
            instance_name=name,
        )
        return Plan("direct", way)
    return Plan("offline", Offline())


def builtin_metrics(summary: Any, now: datetime) -> dict[str, Any]:
    """The wizard's own metrics in every round: its version, and days until the license
    expires (when it does)."""
    data: dict[str, Any] = {"wizard_version": wizard_version()}
    expires_at = summary.expires_at if summary else None
    if expires_at is not None:
        data["license_expires_in_days"] = (expires_at - now).days
    return data


def retry_delay(attempts: int, interval: float) -> float:
    """Seconds until the next attempt: doubling from a minute up to the interval, jittered so
    that replicas do not retry in step."""
    base = min(FIRST_RETRY_SECONDS * 2 ** max(0, attempts - 1), interval)
    return base * random.uniform(0.5, 1.5)


@dataclass
class Outcome:
    """What one pass did, for the CLI and the tests."""

    state: str
    collected: int | None = None  # the round collected, if any
    sent: list[int] | None = None
    failed: str | None = None


class Reporter:
    """Reporting for one wizard app: one pass (`tick`) at a time, or a loop in a thread."""

    def __init__(
        self,
        app: Flask,
        collectors: Collectors = REGISTRY,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.app = app
        self.collectors = collectors
        self.clock = clock or (lambda: datetime.now(UTC))
        self.holder = f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def interval(self) -> float:
        return float(self.app.config["WIZARD_REPORT_INTERVAL"])

    def collect(self, identity: Any, summary: Any, now: datetime) -> tuple[Report, list[Skipped]]:
        """A report with the identity saved at this moment: the wizard's metrics and every
        collector's."""
        data, skipped = self.collectors.collect(self.app.config["WIZARD_COLLECTOR_TIMEOUT"])
        report = Report(
            customer_id=identity.customer_id,
            instance_id=identity.instance_id,
            license_id=identity.license_id,
            data={**builtin_metrics(summary, now), **data},
            collected_at=now,
        )
        return report, skipped

    def tick(self, force: bool = False) -> Outcome:
        """One pass: compare the SDK's license when that is due, then collect a round if one is
        due (or `force`), send what is due, prune. Only while identified, and not while this
        identity looks copied from another installation."""
        with self.app.app_context():
            now = self.clock()
            identity, summary = load_identity(), load_summary()
            plan = plan_for(self.app.config, summary)
            if not (identity and identity.has_customer_info):
                state = "off" if plan.mode == "off" else "not_identified"
                store.update_state(mode=plan.mode, state=state, next_at=None, updated_at=now)
                return Outcome(state)
            if not store.take_lease(self.holder, now, LEASE_SECONDS):
                return Outcome(BUSY)
            try:
                return self._under_lease(plan, identity, summary, now, force)
            finally:
                store.release_lease(self.holder)

    def _under_lease(
        self, plan: Plan, identity: Any, summary: Any, now: datetime, force: bool
    ) -> Outcome:
        watch = check_license_if_due(self.app.config, now)
        if plan.mode == "off":
            store.update_state(mode="off", state="off", next_at=None, updated_at=now)
            return Outcome("off")
        mismatch = identity_mismatch(identity, watch, self.app.config)
        if mismatch:
            # Reports would count as another installation's: wait for the admin.
            store.update_state(
                mode=plan.mode, state="paused", last_error=mismatch_words(mismatch), updated_at=now
            )
            return Outcome("paused", failed=mismatch_words(mismatch))
        if plan.problem or plan.way is None:
            store.update_state(
                mode=plan.mode,
                state="failing",
                last_error=plan.problem,
                last_attempt_at=now,
                updated_at=now,
            )
            return Outcome("failing", failed=plan.problem)
        return self._round(plan, identity, summary, now, force)

    def _round(
        self, plan: Plan, identity: Any, summary: Any, now: datetime, force: bool
    ) -> Outcome:
        if store.follow_mode(plan.mode, now) and plan.mode == "offline":
            store.update_state(last_success_at=store.last_collected())  # kept, as of then
        last = store.last_collected()
        outcome = Outcome(plan.mode)
        if force or last is None or last <= now - timedelta(seconds=self.interval):
            report, skipped = self.collect(identity, summary, now)
            outcome.collected = store.add_round(
                report, plan.mode, [s.as_json() for s in skipped], send_now=plan.mode != "offline"
            )
            last = now
            if plan.mode == "offline":
                store.update_state(last_success_at=now, last_sent=_last_sent(report, skipped, plan))
        if plan.mode != "offline" and plan.way is not None:
            self._send_due(plan, now, outcome)
        dropped = store.prune(now)
        state = "offline" if plan.mode == "offline" else ("failing" if outcome.failed else None)
        next_at = last + timedelta(seconds=self.interval)
        retry = store.next_retry(plan.mode) if plan.mode != "offline" else None
        values: dict[str, Any] = {
            "mode": plan.mode,
            "next_at": min(next_at, retry) if retry else next_at,
            "updated_at": now,
            "dropped": dropped,
        }
        if state:
            values["state"] = state
        elif not outcome.sent:
            values["state"] = _resumed(store.read_state(), waiting=retry is not None)
            if values["state"] != "failing":
                values.update(last_error=None, failing_since=None)
        store.update_state(**values)
        outcome.state = state or ("ok" if outcome.sent else plan.mode)
        return outcome

    def _send_due(self, plan: Plan, now: datetime, outcome: Outcome) -> None:
        """Send the due rounds, oldest first; stop at the first failure (the way is down)."""
        assert plan.way is not None
        timeout = float(self.app.config["WIZARD_REPORT_TIMEOUT"])
        for due in store.due_rounds(plan.mode, now):
            store.mark_attempt(due.id, now)
            try:
                delivered: Delivered = plan.way.send(due.report, timeout)
            except SendFailed as failure:
                retry = now + timedelta(seconds=retry_delay(due.attempts + 1, self.interval))
                store.mark_failed(due.id, failure.reason, retry)
                self._failed(failure.reason, now)
                outcome.failed = failure.reason
                return
            store.mark_sent(due.id, now, delivered.served_from_cache)
            skipped = [Skipped(**item) for item in due.skipped]
            sent = _last_sent(due.report, skipped, plan, delivered.served_from_cache, now)
            store.update_state(
                state="ok",
                last_success_at=now,
                last_attempt_at=now,
                last_error=None,
                failing_since=None,
                last_sent=sent,
                updated_at=now,
            )
            outcome.sent = [*(outcome.sent or []), due.id]

    def _failed(self, reason: str, now: datetime) -> None:
        state = store.read_state()
        log.warning("report not sent: %s", reason)
        store.update_state(
            state="failing",
            last_attempt_at=now,
            last_error=reason,
            failing_since=(state.failing_since if state and state.failing_since else now),
            failures=1,
            updated_at=now,
        )

    def report_now(self, wait: float = 30.0) -> Outcome:
        """Collect one round now and send it (or keep it, offline), whatever the schedule:
        `setup-wizard report`, for a CronJob. Waits up to `wait` seconds for another process
        that holds the lease."""
        deadline = time.monotonic() + wait
        while True:
            outcome = self.tick(force=True)
            if outcome.state != BUSY or time.monotonic() >= deadline:
                return outcome
            time.sleep(0.5)

    def dry_run(self) -> dict[str, Any]:
        """What one round would send now, exactly, and where; nothing is sent or written."""
        with self.app.app_context():
            now = self.clock()
            identity, summary = load_identity(), load_summary()
            plan = plan_for(self.app.config, summary)
            body: dict[str, Any] = {
                "mode": plan.mode,
                "where": plan.way.where if plan.way else None,
            }
            if plan.mode == "off" or plan.problem or plan.way is None:
                return {
                    **body,
                    "state": "off" if plan.mode == "off" else "failing",
                    "error": plan.problem,
                }
            if not (identity and identity.has_customer_info):
                return {**body, "state": "not_identified"}
            report, skipped = self.collect(identity, summary, now)
            body.update(
                state="dry_run",
                data=report.data,
                skipped=[item.as_json() for item in skipped],
                requests=[request.shown() for request in plan.way.requests(report)],
            )
            if plan.mode == "offline":
                event = usage_event(report)
                body["kept"] = {**event, "license_id": license_id_hint(report.license_id)}
            return body

    # --- The loop ---------------------------------------------------------------------------

    def start(self, first_delay: float = 5.0) -> Reporter:
        """Report in a thread of this process until stop(): a pass soon after start, then
        every half minute (or a tenth of the interval, when that is shorter)."""
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()
        period = max(1.0, min(30.0, self.interval / 10))

        def run() -> None:
            wait = first_delay
            while not self._stop.wait(wait):
                wait = period
                try:
                    self.tick()
                except sa.exc.DBAPIError as error:
                    problem = database_problem(error)
                    log.warning("reporting paused: %s", problem.message)
                except Exception:  # a bug must not end the loop, nor leak into a request
                    log.exception("reporting failed")

        self._thread = threading.Thread(target=run, name="wizard-reporting", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop; a pass under way finishes first (within `timeout`)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


def _resumed(current: Any, waiting: bool) -> str:
    """The state, through the SDK or direct, after a pass that sent nothing: what it was,
    unless it said why nothing could be sent (not identified, paused, off, a setting missing:
    failing with no round waiting) or that rounds were kept offline, which no longer holds."""
    if current is not None and current.state in ("ok", "waiting"):
        return str(current.state)
    if current is not None and waiting and (current.state == "failing" or current.failing_since):
        return "failing"
    if current is None or current.state == "offline":
        return "waiting"  # what was kept offline says nothing of reports getting through
    return "ok" if current.last_success_at else "waiting"


def _last_sent(
    report: Report,
    skipped: list[Skipped],
    plan: Plan,
    served_from_cache: bool = False,
    sent_at: datetime | None = None,
) -> dict[str, Any]:
    """What the status shows of the last report: when, where, every metric, what was skipped."""
    return {
        "collected_at": report.collected_at.isoformat(),
        "sent_at": sent_at.isoformat() if sent_at else None,
        "where": plan.way.where if plan.way else plan.mode,
        "data": report.data,
        "skipped": [item.as_json() for item in skipped],
        "served_from_cache": served_from_cache,
    }
