"""setup-wizard status, set, verify-license, import-license and detect: the identity from a
shell, with the same rules as the pages and the API."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa

from . import (
    EXIT_NOT_SET,
    EXIT_SET,
    EXIT_UNKNOWN,
    IdType,
    Wizard,
    cli_actor,
    fail,
    main,
    pass_wizard,
    print_saved,
    say,
    when,
)


@main.command()
@click.option(
    "--json", "as_json", is_flag=True, help="Print what an admin's GET /api/v1/status shows."
)
@pass_wizard
def status(wizard: Wizard, as_json: bool) -> None:
    """Exit 0 when the identity is set, 1 when it is not, 2 when it cannot tell."""
    from ..overview import status_body

    try:
        missing = wizard.missing_sqlite_file()
    except click.ClickException as error:  # the settings or the database file are refused
        say(f"Cannot tell: {error.message}", err=True)
        sys.exit(EXIT_UNKNOWN)
    if missing:
        say(
            f"Cannot tell: there is no database at {missing}. "
            "Run `setup-wizard db upgrade` or `setup-wizard serve` first.",
            err=True,
        )
        sys.exit(EXIT_UNKNOWN)
    with wizard.app.app_context():
        try:
            body = status_body(admin=True)
        except sa.exc.DBAPIError as error:
            say(f"Cannot tell: {wizard.database_problem(error)}", err=True)
            sys.exit(EXIT_UNKNOWN)
    if as_json:
        say(json.dumps(body, indent=2))
    else:
        for line in _status_lines(body):
            say(line)
    sys.exit(EXIT_SET if body["has_customer_info"] else EXIT_NOT_SET)


def _moment(text: str | None) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(text) if text else None


def _status_lines(body: dict[str, Any]) -> list[str]:
    """What `setup-wizard status` says to a person."""
    if not body["has_customer_info"]:
        lines = ["Not identified yet: run `setup-wizard set` or open the wizard."]
    else:
        hint = body["license_id_hint"]
        lines = [
            f"Identified: customer {body['customer_id']}, instance {body['instance_id']}"
            + (f", license {hint}" if hint else "")
            + f" (since {when(_moment(body['updated_at']))})"
        ]
    reporting = body["reporting"]
    state, where = reporting["state"].replace("_", " "), reporting.get("where")
    line = f"Reporting: {where}" if state == "offline" and where else f"Reporting: {state}"
    if where and state != "offline":
        line += f", {where}"
    if reporting.get("last_success_at"):
        done = "last kept" if state == "offline" else "last report"
        line += f"; {done} {when(_moment(reporting['last_success_at']))}"
    lines.append(line)
    if reporting.get("state") == "failing" and reporting.get("last_error"):
        lines.append(f"  Last attempt failed: {reporting['last_error']}")
    if reporting.get("warning"):
        lines.append(f"Warning: {reporting['warning']}")
    return lines + _license_life_lines(body)


def _license_life_lines(body: dict[str, Any]) -> list[str]:
    """Expiry, a newer license, a copied identity, the application accepted."""
    from ..watch import expiry_notice, mismatch_words

    lines = []
    lic = body.get("license") or {}
    if lic.get("expires_at"):
        from datetime import UTC, datetime

        notice = expiry_notice(_moment(lic["expires_at"]), datetime.now(UTC))
        if notice:
            lines.append(f"License: {notice.lead} {when(notice.expires_at)}. {notice.advice}")
    newer = body.get("newer_license")
    if newer:
        expiry = f", expires {when(_moment(newer['expires_at']))}" if newer["expires_at"] else ""
        lines.append(
            f"Replicated has a newer license (sequence {newer['license_sequence']}{expiry}): "
            "review it in the wizard, or `setup-wizard detect --save`."
        )
    if body.get("identity_mismatch"):
        lines.append(f"Copied identity? {mismatch_words(body['identity_mismatch'])}")
    expected = body.get("expected_app") or {}
    if expected.get("saved_license_mismatch"):
        lines.append(f"Wrong application: {expected['saved_license_mismatch']}")
    if body["has_customer_info"] and not expected.get("app_slug"):
        lines.append(
            "Licenses of any application are accepted: set WIZARD_EXPECTED_APP_SLUG to pin yours."
        )
    return lines


def _saved_instance_id(wizard: Wizard) -> str:
    """The instance id already saved, for a command that was not given one."""
    from ..identity import load_identity

    with wizard.app.app_context():
        try:
            saved = load_identity()
        except sa.exc.DBAPIError as error:
            fail(f"Nothing was saved: {wizard.database_problem(error)}")
    if saved is None or not saved.instance_id:
        raise click.UsageError("--instance-id is needed: no instance id is saved yet.")
    return saved.instance_id


def _customer_id(carried: str | None, given: str | None, source: str) -> str:
    from ..identity import CustomerIdProblem, customer_id_for

    try:
        return customer_id_for(carried, given, source)
    except CustomerIdProblem as problem:
        raise click.UsageError(f"--customer-id {problem}.") from None


@main.command("set")
@click.option("--customer-id", required=True, type=IdType(), help="Replicated customer id.")
@click.option("--instance-id", required=True, type=IdType(), help="Replicated instance id.")
@click.option("--license-id", type=IdType(), help="Replicated license id (left out: kept).")
@pass_wizard
def set_identity(
    wizard: Wizard, customer_id: str, instance_id: str, license_id: str | None
) -> None:
    """Save the identity; a license id left out is kept."""
    from ..identity import kept_license_id

    saved = wizard.save(customer_id, instance_id, kept_license_id(license_id), actor=cli_actor())
    print_saved(saved)


def _read_license_file(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        fail(f"cannot read {path}: {error.strerror}")


def _verdict_line(verdict: Any, show_license_id: bool = False) -> str:
    lic = verdict.license
    if not verdict.valid:
        return f"{verdict.reason}: {verdict.message}"
    expiry = f"expires {when(lic.expires_at)}" if lic.expires_at else "never expires"
    license_id = lic.license_id if show_license_id else lic.license_id_hint
    return (
        f"valid: {lic.app_slug}, {lic.customer_name}, {lic.license_type}, {expiry}, license "
        f"{license_id}, signed with the {lic.key} key ({lic.version})"
    )


show_license_id = click.option(
    "--show-license-id",
    is_flag=True,
    help="Print the whole license id (a credential) instead of its last 4 characters.",
)

license_number = click.option(
    "--license",
    "number",
    type=click.IntRange(1),
    default=None,
    help="Which license, when the file holds several (1, 2, ...).",
)


def _verdicts(wizard: Wizard, data: bytes, number: int | None) -> list[Any]:
    """The verdict on license `number`, or on every license of the file when none is named."""
    from ..licenses import LicenseError, NeedsChoice, Reason, Verdict

    try:
        return [wizard.license_policy().pick(data, number)]
    except LicenseError as error:
        return [Verdict(error.reason, error.message)]
    except NeedsChoice as several:
        if several.number is not None:
            return [Verdict(Reason.NOT_A_LICENSE, several.message("--license N"))]
        return [choice.verdict for choice in several.choices]


@main.command("verify-license")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
@license_number
@show_license_id
@pass_wizard
def verify_license_command(
    wizard: Wizard, file: str, as_json: bool, number: int | None, show_license_id: bool
) -> None:
    """Verify a license file without saving anything: exit 0 valid, 1 not."""
    verdicts = _verdicts(wizard, _read_license_file(file), number)
    if as_json:
        bodies = [v.as_json(show_license_id) for v in verdicts]
        say(json.dumps(bodies[0] if len(bodies) == 1 else bodies, indent=2))
    else:
        for index, verdict in enumerate(verdicts, start=1):
            prefix = f"License {index}: " if len(verdicts) > 1 else ""
            say(prefix + _verdict_line(verdict, show_license_id))
    sys.exit(0 if all(v.valid for v in verdicts) else 1)


@main.command("import-license")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--instance-id",
    type=IdType(),
    help="Replicated instance id (left out: the saved one is kept).",
)
@click.option(
    "--customer-id",
    type=IdType(),
    help="Replicated customer id, when the license does not carry one.",
)
@license_number
@click.option(
    "--allow-older",
    is_flag=True,
    help="Save the license even when it is older than the saved one (a lower sequence).",
)
@pass_wizard
def import_license(
    wizard: Wizard,
    file: str,
    instance_id: str | None,
    customer_id: str | None,
    number: int | None,
    allow_older: bool,
) -> None:
    """Verify a license file and save the identity it gives, with this instance id (or the
    saved one)."""
    from ..identity import Source
    from ..licenses import LicenseError, NeedsChoice

    try:
        verdict = wizard.license_policy().pick(_read_license_file(file), number)
    except LicenseError as error:
        say(f"Nothing was saved. {error.reason}: {error.message}", err=True)
        sys.exit(1)
    except NeedsChoice as several:
        say(f"{file}: {several.message('--license N')}", err=True)
        for choice in several.choices:
            say(f"  {choice.number}. {_verdict_line(choice.verdict)}", err=True)
        raise click.UsageError("Say which one to save with --license N.") from None
    if not verdict.valid:
        say(f"Nothing was saved. {verdict.reason}: {verdict.message}", err=True)
        sys.exit(1)
    lic = verdict.license
    customer = _customer_id(lic.customer_id, customer_id, "the license")
    instance = instance_id or _saved_instance_id(wizard)
    _against_the_saved_license(wizard, lic, (customer, instance), allow_older)
    saved = wizard.save(
        customer,
        instance,
        lic.license_id,
        summary=lic.summary(Source.CLI),
        actor=cli_actor(),
    )
    print_saved(saved, f" ({lic.app_slug}, {lic.customer_name})")


def _against_the_saved_license(
    wizard: Wizard, lic: Any, ids: tuple[str, str], allow_older: bool
) -> None:
    """An older license stops here unless --allow-older; the same one again saves nothing."""
    from ..identity import load_status
    from ..watch import license_change

    with wizard.app.app_context():
        try:
            current, summary, _ = load_status(changes=0)
        except sa.exc.DBAPIError as error:
            fail(f"Nothing was saved: {wizard.database_problem(error)}")
    change = license_change(current, summary, lic)
    if change is None:
        return
    if change.kind == "older" and not allow_older:
        say(f"Nothing was saved. {change.message} To save it anyway: --allow-older.", err=True)
        sys.exit(1)
    if change.kind == "same" and current and (current.customer_id, current.instance_id) == ids:
        say(f"{change.message} Nothing was saved.")
        sys.exit(0)
    if change.kind == "renewal":
        say(change.message + "".join(f"\n  {line}" for line in change.lines))


@main.command("detect")
@click.option("--json", "as_json", is_flag=True, help="Print what was found as JSON.")
@click.option("--save", is_flag=True, help="Save what was found as the identity.")
@click.option(
    "--customer-id",
    type=IdType(),
    help="Customer id, for an SDK that does not report one (older versions).",
)
@show_license_id
@pass_wizard
def detect_command(
    wizard: Wizard, as_json: bool, save: bool, customer_id: str | None, show_license_id: bool
) -> None:
    """Read the ids from the Replicated SDK (WIZARD_REPLICATED_SDK_URL); --save saves them."""
    from ..identity import Source
    from ..licenses.sdk import SdkError, detect

    app = wizard.app
    sdk_url = app.config["WIZARD_REPLICATED_SDK_URL"]
    if not sdk_url:
        raise click.UsageError(
            "Set WIZARD_REPLICATED_SDK_URL to the Replicated SDK's address, "
            "e.g. http://replicated:3000."
        )
    try:
        found = detect(
            sdk_url,
            timeout=app.config["WIZARD_SDK_TIMEOUT"],
            expected_app=app.config["WIZARD_EXPECTED_APP_SLUG"] or None,
        )
    except SdkError as error:
        say(f"Nothing detected: {error}", err=True)
        sys.exit(1)
    _print_detected(found, as_json, show_license_id)
    if save:
        saved = wizard.save(
            _customer_id(found.customer_id, customer_id, "the Replicated SDK"),
            found.instance_id,
            found.license_id,
            summary=found.as_license().summary(Source.SDK),
            actor=cli_actor("sdk"),
        )
        print_saved(saved, err=as_json)


def _print_detected(found: Any, as_json: bool, show_license_id: bool) -> None:
    from ..ids import license_id_hint

    if as_json:
        say(json.dumps(found.as_json(show_license_id), indent=2))
        return
    if found.mock:
        say(
            "Integration mode: the SDK answered with mock data; these are not a "
            "real customer's IDs."
        )
    shown = found.license_id if show_license_id else license_id_hint(found.license_id)
    say(f"License:  {shown} ({found.app_slug}, {found.customer_name}, {found.license_type})")
    say(f"Instance: {found.instance_id}")
    say(f"Customer: {found.customer_id or '(not reported by this SDK version)'}")
