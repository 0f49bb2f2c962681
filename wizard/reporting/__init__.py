"""Reporting this installation to Replicated with the saved identity: the application's
collectors, a round every WIZARD_REPORT_INTERVAL, and three ways out (through the Replicated
SDK, direct to the license's endpoint, or kept for the air-gapped usage file).

    collectors   the metrics an application registers, run within a deadline
    ways         the SDK, direct and offline, as Replicated's own code sends and answers
    store        the rounds and the shared state in the database, the lease
    rounds       the reporter: one pass, or a loop in a thread
    status       how reporting stands, for the status page, the JSON and the CLI
    metrics      Prometheus at /metrics, from the database

A host application that mounts the wizard registers its collectors and starts the reporter
(`setup-wizard serve` starts it in every gunicorn worker; one sends at a time):

    from wizard import create_app
    from wizard import reporting

    @reporting.collector("seats_used")
    def seats_used() -> int:
        return count_the_seats()

    wizard_app = create_app()
    reporter = reporting.start(wizard_app)   # and reporter.stop() when the host stops
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from .collectors import REGISTRY, Collectors, collector, load_from_setting, register, unregister
from .rounds import Outcome, Reporter, plan_for
from .ways import Report, usage_event

__all__ = [
    "REGISTRY",
    "Collectors",
    "Outcome",
    "Report",
    "Reporter",
    "collector",
    "export_usage",
    "plan_for",
    "register",
    "start",
    "unregister",
]


def start(app: Flask, collectors: Collectors = REGISTRY, first_delay: float = 5.0) -> Reporter:
    """Start reporting in a thread of this process, for the wizard app `app`, with the
    collectors WIZARD_REPORT_COLLECTORS names as well as those registered in code. Returns the
    reporter; call its stop() when the process stops. Does nothing when reporting is off."""
    load_from_setting(app.config.get("WIZARD_REPORT_COLLECTORS"), into=collectors)
    reporter = Reporter(app, collectors)
    if app.config["WIZARD_REPORTING"] != "off":
        reporter.start(first_delay)
    return reporter


def export_usage(app: Flask) -> dict[str, Any]:
    """The reports kept for the air-gapped usage file, as the SDK keeps them:
    {"events": [{"reported_at", "license_id", "instance_id", "data"}]}. Once offline, the
    rounds that never got through another way are in it too, before any round has moved them."""
    from ..identity import load_summary
    from .rounds import plan_for
    from .store import kept_reports

    with app.app_context():
        offline = plan_for(app.config, load_summary()).mode == "offline"
        return {"events": [usage_event(r) for r in kept_reports(all_unsent=offline)]}
