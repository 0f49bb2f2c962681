"""setup-wizard report: one round now, what it would send, or the air-gapped usage file."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa

from . import Wizard, fail, main, pass_wizard, say, when


@main.command()
@click.option("--dry-run", is_flag=True, help="Print exactly what would be sent; send nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.option(
    "--export",
    "export",
    metavar="FILE",
    type=click.Path(dir_okay=False, allow_dash=True),
    help='Write the reports kept offline as the usage file ({"events": [...]}); - for stdout.',
)
@pass_wizard
def report(wizard: Wizard, dry_run: bool, as_json: bool, export: str | None) -> None:
    """Report this installation to Replicated now: one round, through the SDK, direct to the
    license's endpoint, or kept for the air-gapped usage file (WIZARD_REPORTING)."""
    from ..reporting import REGISTRY, Reporter, export_usage
    from ..reporting.collectors import load_from_setting

    app = wizard.app
    if export:
        _export(wizard, export_usage, export)
        return
    try:
        load_from_setting(app.config["WIZARD_REPORT_COLLECTORS"], into=REGISTRY)
    except ValueError as error:
        fail(str(error))
    reporter = Reporter(app, REGISTRY)
    try:
        if dry_run:
            body = reporter.dry_run()
            _print(body, as_json, _dry_run_lines)
            sys.exit(0 if body["state"] == "dry_run" else 1)
        outcome = reporter.report_now()
        with app.app_context():
            from ..reporting.status import load_reporting

            state = load_reporting()[0].state
    except sa.exc.DBAPIError as error:
        fail(f"Nothing reported: {wizard.database_problem(error)}")
    body = {
        "state": outcome.state,
        "round": outcome.collected,
        "sent": bool(outcome.sent),
        "error": outcome.failed,
        "last_sent": state.last_sent,
    }
    _print(body, as_json, _outcome_lines)
    sys.exit(0 if outcome.state in ("ok", "offline") else 1)


def _print(body: dict[str, Any], as_json: bool, lines: Any) -> None:
    if as_json:
        say(json.dumps(body, indent=2, default=str))
    else:
        for line in lines(body):
            say(line)


def _why_not(state: str, error: str | None) -> str | None:
    return {
        "off": "Nothing reported: reporting is off (WIZARD_REPORTING=off).",
        "not_identified": "Nothing reported: this installation is not identified yet "
        "(setup-wizard set, or the wizard).",
        "busy": "Nothing reported: another process was reporting, and did not finish in time.",
        "failing": f"The report did not get through: {error}. It is kept, and sent again later.",
    }.get(state)


def _outcome_lines(body: dict[str, Any]) -> list[str]:
    why = _why_not(body["state"], body["error"])
    if why:
        return [why]
    sent = body["last_sent"] or {}
    data, skipped = sent.get("data", {}), sent.get("skipped", [])
    verb = "Kept for the usage file" if body["state"] == "offline" else "Sent"
    lines = [f"{verb}: one report, {sent.get('where', '')}, with {len(data)} metrics:"]
    lines += [
        f"  {name} = {json.dumps(value, ensure_ascii=False)}"
        for name, value in sorted(data.items())
    ]
    lines += [f"  left out: {item['name']} {item['reason']}" for item in skipped]
    return lines


def _dry_run_lines(body: dict[str, Any]) -> list[str]:
    why = _why_not(body["state"], body.get("error"))
    if why:
        return [why.replace("Nothing reported", "Nothing would be reported")]
    lines = [f"Would report {body['where']} (nothing is sent now):"]
    for request in body["requests"]:
        lines.append(f"{request['method']} {request['url']}")
        lines += [f"  {name}: {value}" for name, value in request["headers"].items()]
        lines.append(f"  {json.dumps(request['body'], sort_keys=True, ensure_ascii=False)}")
    if "kept" in body:
        lines.append("Would keep, for the usage file:")
        lines.append(f"  {json.dumps(body['kept'], sort_keys=True, ensure_ascii=False)}")
    lines += [f"Left out: {item['name']} {item['reason']}" for item in body["skipped"]]
    return lines


def _export(wizard: Wizard, export_usage: Any, target: str) -> None:
    try:
        body = export_usage(wizard.app)
    except sa.exc.DBAPIError as error:
        fail(f"Nothing exported: {wizard.database_problem(error)}")
    text = json.dumps(body, indent=2) + "\n"
    if target == "-":
        click.echo(text, nl=False)
        return
    try:
        Path(target).write_text(text)
    except OSError as error:
        fail(f"cannot write {target}: {error.strerror}")
    events = body["events"]
    span = ""
    if events:
        from datetime import UTC, datetime

        first, last = (
            datetime.fromtimestamp(e["reported_at"] / 1000, UTC) for e in (events[0], events[-1])
        )
        span = f", from {when(first)} to {when(last)}"
    say(f"Wrote {len(events)} report{'' if len(events) == 1 else 's'} to {target}{span}.")
