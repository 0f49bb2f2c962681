"""Prometheus at /metrics, computed from the database at each scrape, so that every worker and
replica answers the same: no secret in any label.

    wizard_identity_set                          1 when the installation is identified
    wizard_license_expiry_timestamp_seconds      when the license expires (absent: never)
    wizard_report_seconds_since_success          since the last report got through (or kept)
    wizard_report_failures_total                 reports that did not get through, ever
    wizard_report_rounds_waiting                 rounds not sent yet (kept, offline)
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, abort, current_app

bp = Blueprint("metrics", __name__)


class _FromDatabase:
    """A prometheus-client collector that reads the state when scraped."""

    def __init__(self, reporting: Any, summary: Any, waiting: int) -> None:
        self.reporting, self.summary, self.waiting = reporting, summary, waiting

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        identity, state = self.reporting.identity, self.reporting.state
        identified = bool(identity and identity.has_customer_info)
        yield GaugeMetricFamily(
            "wizard_identity_set", "1 when the installation is identified", value=int(identified)
        )
        expiry = self.summary.expires_at if self.summary else None
        if expiry is not None:
            yield GaugeMetricFamily(
                "wizard_license_expiry_timestamp_seconds",
                "When the license expires, in Unix seconds",
                value=expiry.timestamp(),
            )
        if state.last_success_at is not None:
            yield GaugeMetricFamily(
                "wizard_report_seconds_since_success",
                "Seconds since the last report reached Replicated (or was kept, offline)",
                value=(datetime.now(UTC) - state.last_success_at).total_seconds(),
            )
        yield CounterMetricFamily(
            "wizard_report_failures",
            "Reports that did not get through",
            value=state.failures_total or 0,
        )
        yield GaugeMetricFamily(
            "wizard_report_rounds_waiting", "Rounds not sent yet", value=self.waiting
        )


@bp.get("/metrics")
def metrics() -> Response:
    """The Prometheus text format; WIZARD_METRICS=token asks for the admin bearer token."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    from ..admin import authenticate_bearer, bearer_token
    from .status import load_reporting
    from .store import waiting_rounds

    mode = current_app.config["WIZARD_METRICS"]
    if mode == "off":
        abort(404)
    if mode == "token":
        if bearer_token() is None:
            abort(401, "Scrape /metrics with the admin token: Authorization: Bearer <token>.")
        authenticate_bearer()
    reporting, summary = load_reporting(with_summary=True)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_FromDatabase(reporting, summary, waiting_rounds()))
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
