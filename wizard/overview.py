"""The status as a whole, as GET /api/v1/status and `setup-wizard status --json` show it: the
identity, the license it came from, and how reporting stands."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import current_app

from .identity import status_json
from .reporting.status import load_reporting, reporting_json


def status_body(admin: bool) -> dict[str, Any]:
    """Whether the installation is identified, since when, and whether reporting works, for
    anyone; the ids, the license and everything about reporting for the admin. One query for
    anyone, one snapshot of two for the admin."""
    reporting, summary = load_reporting(with_summary=admin)
    now = datetime.now(UTC)
    body = status_json(reporting.identity, summary, admin=admin)
    body["reporting"] = reporting_json(reporting, summary, current_app.config, now, admin)
    return body
