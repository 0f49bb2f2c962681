"""The status as a whole, as GET /api/v1/status and `setup-wizard status --json` show it: the
identity, the license it came from and how long it holds, how reporting stands, a newer
license the SDK holds, and a sign that this identity was copied from another installation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import current_app

from .identity import status_json
from .reporting.status import load_reporting_for, reporting_json
from .watch import expires_in_days, newer_license


def status_body(admin: bool) -> dict[str, Any]:
    """Whether the installation is identified, since when, and whether reporting works, for
    anyone; the ids, the license and everything about reporting and the license's life for
    the admin. One query for anyone, one snapshot of two for the admin."""
    config = current_app.config
    reporting, summary = load_reporting_for(admin)
    now = datetime.now(UTC)
    body = status_json(reporting.identity, summary, admin=admin)
    body["reporting"] = reporting_json(reporting, summary, config, now, admin)
    if not admin:
        return body
    if body["license"] is not None:
        body["license"]["expires_in_days"] = expires_in_days(summary.expires_at, now)
    body["newer_license"] = newer_license(reporting.identity, summary, reporting.watch, config)
    body["identity_mismatch"] = reporting.mismatch(config)
    body["expected_app"] = expected_app(config, reporting.watch, summary)
    return body


def expected_app(config: Any, watch: Any, summary: Any = None) -> dict[str, Any]:
    """Which application's licenses this installation accepts, and who says so: the setting,
    the Replicated SDK in the cluster, or nobody (then any application's); and, when the saved
    license is another application's (saved before the pin), what to do, in words."""
    if config.get("WIZARD_EXPECTED_APP_SLUG"):
        expected = {
            "app_slug": config["WIZARD_EXPECTED_APP_SLUG"],
            "from": "WIZARD_EXPECTED_APP_SLUG",
        }
    else:
        sdk = watch.sdk_license if config.get("WIZARD_REPLICATED_SDK_URL") else None
        if not (sdk and sdk.get("app_slug")):
            return {"app_slug": None, "from": None, "saved_license_mismatch": None}
        expected = {"app_slug": sdk["app_slug"], "from": "the Replicated SDK"}
    saved = getattr(summary, "app_slug", None)
    expected["saved_license_mismatch"] = (
        f"The saved license is for the application {saved}, not {expected['app_slug']} "
        f"({expected['from']}). Upload the license issued for {expected['app_slug']}."
        if saved and saved != expected["app_slug"]
        else None
    )
    return expected
