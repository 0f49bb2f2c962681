"""How reporting stands, as the status page, the JSON status and `setup-wizard status` show
it: read with the identity in one query, so that a console polling the public status pays
for one round trip."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ..db import driver_reads
from ..identity import IDENTITY, SUMMARY, SavedIdentity
from ..watch import WATCH, WATCH_FIELDS, Watch, identity_mismatch, mismatch_words
from .rounds import plan_for
from .store import STATE, STATE_FIELDS

# The state of report_state beside the identity: report_state always has its one row, and the
# identity may have none yet.
_IDENTITY_COLUMNS = ("customer_id", "instance_id", "license_id", "created_at", "updated_at")
_READ_WITH_IDENTITY = (
    sa.select(
        *(IDENTITY.c[name] for name in _IDENTITY_COLUMNS),
        *(STATE.c[name].label(f"report_{name}") for name in STATE_FIELDS),
        *(WATCH.c[name].label(f"watch_{name}") for name in WATCH_FIELDS),
    )
    .select_from(STATE.outerjoin(IDENTITY, IDENTITY.c.id == 1).outerjoin(WATCH, WATCH.c.id == 1))
    .where(STATE.c.id == 1)
)
_READ_SUMMARY = sa.select(SUMMARY).where(SUMMARY.c.id == 1)
# What anyone may see needs less: whether and since when, the stored state, and what tells a
# copied identity (the state then says "paused"). A console polls it.
_PUBLIC_WATCH_FIELDS = ("sdk_license", "kept_deployment_id", "accepted_mismatch")
_READ_PUBLIC = (
    sa.select(
        *(IDENTITY.c[name] for name in _IDENTITY_COLUMNS),
        STATE.c.state.label("report_state"),
        *(WATCH.c[name].label(f"watch_{name}") for name in _PUBLIC_WATCH_FIELDS),
    )
    .select_from(STATE.outerjoin(IDENTITY, IDENTITY.c.id == 1).outerjoin(WATCH, WATCH.c.id == 1))
    .where(STATE.c.id == 1)
)

STATES = {
    "off": "Reporting is off (WIZARD_REPORTING=off).",
    "not_identified": "Nothing is reported until this installation is identified.",
    "waiting": "The first report is made soon.",
    "ok": "Reports reach Replicated.",
    "failing": "Reports are not getting through.",
    "offline": "Reports are kept here, for the air-gapped usage file.",
    "paused": "Reports are paused: this identity may belong to another installation.",
}


@dataclass(frozen=True)
class ReportingStatus:
    """The reporting state row as read, with the identity it was read with."""

    identity: SavedIdentity | None
    state: Any  # a row of report_state's fields
    watch: Watch

    def mismatch(self, config: Any) -> dict[str, Any] | None:
        return identity_mismatch(self.identity, self.watch, config)

    def public_state(self, config: Any) -> str:
        """off, not_identified, paused, waiting, ok, failing or offline."""
        if config["WIZARD_REPORTING"] == "off":
            return "off"
        if not (self.identity and self.identity.has_customer_info):
            return "not_identified"
        if self.mismatch(config):
            return "paused"
        stored = self.state.state
        return str(stored) if stored in ("ok", "failing", "offline", "waiting") else "waiting"


def _split(row: Any, state_type: type[Any]) -> ReportingStatus:
    values = row._asdict()
    identity = None
    if values["updated_at"] is not None or values["customer_id"] is not None:
        identity = SavedIdentity(*(values[name] for name in _IDENTITY_COLUMNS))
    state = state_type(**{f.name: values[f"report_{f.name}"] for f in fields(state_type)})
    watch = Watch(
        **{name: values[key] for name in WATCH_FIELDS if (key := f"watch_{name}") in values}
    )
    return ReportingStatus(identity, state, watch)


@dataclass(frozen=True)
class _PublicState:
    """Of report_state, what the public status shows."""

    state: str | None


@dataclass(frozen=True)
class _State:
    mode: str | None
    state: str | None
    lease_until: datetime | None
    last_success_at: datetime | None
    last_attempt_at: datetime | None
    last_error: str | None
    failing_since: datetime | None
    next_at: datetime | None
    last_sent: dict[str, Any] | None
    failures_total: int
    dropped_total: int
    updated_at: datetime | None


def load_reporting(with_summary: bool = False) -> tuple[ReportingStatus, Any]:
    """The identity and how reporting stands, in one query (and the license summary, in the
    same snapshot, when asked)."""
    if not with_summary:
        [rows] = driver_reads((_READ_WITH_IDENTITY, None))
        return _split(rows[0], _State), None
    rows, summary = driver_reads((_READ_WITH_IDENTITY, None), (_READ_SUMMARY, None))
    return _split(rows[0], _State), (summary[0] if summary else None)


def load_reporting_for(admin: bool) -> tuple[ReportingStatus, Any]:
    """What a status shows this caller: everything, with the license summary, for the admin;
    the public read (and no summary) for anyone else."""
    return load_reporting(with_summary=True) if admin else (load_public_reporting(), None)


def load_public_reporting() -> ReportingStatus:
    """The identity and how reporting stands, as far as anyone may see them (public_state and
    whether identified): a narrower read, for what consoles poll. Its state row has only
    `state`, its watch only what tells a copied identity."""
    [rows] = driver_reads((_READ_PUBLIC, None))
    return _split(rows[0], _PublicState)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _last_error(status: ReportingStatus, plan: Any, config: Any) -> str | None:
    mismatch = status.mismatch(config)
    if mismatch:
        return mismatch_words(mismatch)
    return plan.problem or status.state.last_error


def warning_for(state: Any, config: Any, now: datetime) -> str | None:
    """Said plainly once reports have failed for longer than WIZARD_REPORT_WARN_DAYS."""
    since = state.failing_since
    days = float(config["WIZARD_REPORT_WARN_DAYS"])
    if state.state != "failing" or since is None or (now - since).total_seconds() < days * 86400:
        return None
    failing_for = (now - since).days
    return (
        f"No report has reached Replicated for {failing_for} days (since "
        f"{since:%-d %b %Y, %H:%M} UTC). The vendor may count this installation as inactive. "
        f"Last reason: {state.last_error or 'unknown'}."
    )


def reporting_json(
    status: ReportingStatus, summary: Any, config: Any, now: datetime, admin: bool
) -> dict[str, Any]:
    """The `reporting` object of the JSON status: its state for anyone; for the admin how,
    when, what was sent, why the last attempt failed, and the warning."""
    state = status.public_state(config)
    if not admin:
        return {"state": state}
    row = status.state
    plan = plan_for(config, summary)
    if state in ("ok", "failing", "offline") and row.mode and row.mode != plan.mode:
        state = "waiting"  # the last rounds went another way: the next one goes this way
    return {
        "mode": plan.mode,
        "where": plan.way.where if plan.way else None,
        "state": state,
        "last_success_at": _iso(row.last_success_at),
        "last_attempt_at": _iso(row.last_attempt_at),
        "last_error": _last_error(status, plan, config),
        "failing_since": _iso(row.failing_since),
        "warning": warning_for(row, config, now),
        "next_at": _iso(row.next_at) if state not in ("off", "not_identified") else None,
        "last_sent": row.last_sent,
        "dropped": row.dropped_total,
    }
