"""The license after day one: the Replicated SDK's license compared with the saved one (in the
background, at most every WIZARD_LICENSE_CHECK_INTERVAL), a copied identity told apart by the
SDK's ids or WIZARD_DEPLOYMENT_ID, expiry warnings nobody misses, and usage against the
license's limits."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from .db import db, driver_reads
from .ids import license_id_hint
from .models import LicenseWatch, table_of

WATCH = table_of(LicenseWatch)
WATCH_FIELDS = tuple(c.name for c in WATCH.columns if c.name != "id")

# Days before the expiry at which the warning steps up; licenses expire at the exact moment
# they name (often midnight UTC: the evening before, in the Americas).
EXPIRY_STEPS = (30, 14, 7, 1)
USAGE_WARNING = 0.9


@dataclass(frozen=True)
class Watch:
    """The license_watch row as read."""

    checked_at: datetime | None = None
    check_error: str | None = None
    sdk_license: dict[str, Any] | None = None
    kept_deployment_id: str | None = None
    accepted_mismatch: str | None = None


_READ_WATCH = sa.select(*(WATCH.c[name] for name in WATCH_FIELDS)).where(WATCH.c.id == 1)

# A check that failed is tried again sooner than the interval.
RETRY_FAILED_CHECK = timedelta(minutes=5)


def read_watch() -> Watch:
    [rows] = driver_reads((_READ_WATCH, None))
    return Watch(*rows[0]) if rows else Watch()


def check_license_if_due(config: Mapping[str, Any], now: datetime) -> Watch:
    """In the background (the reporter's pass): keep the deployment id the identity is first
    seen with, and ask the SDK for its license when the last check is older than
    WIZARD_LICENSE_CHECK_INTERVAL. Never in a request: a page reads what this wrote."""
    from .licenses.sdk import SdkError, detect

    watch = read_watch()
    deployment_id = config.get("WIZARD_DEPLOYMENT_ID")
    if deployment_id and not watch.kept_deployment_id:
        update_watch(kept_deployment_id=deployment_id)
    sdk_url = config.get("WIZARD_REPLICATED_SDK_URL")
    every = timedelta(seconds=float(config["WIZARD_LICENSE_CHECK_INTERVAL"]))
    if watch.check_error:
        every = min(every, RETRY_FAILED_CHECK)
    if sdk_url and (watch.checked_at is None or watch.checked_at <= now - every):
        try:
            found = detect(sdk_url, timeout=config["WIZARD_SDK_TIMEOUT"])
        except SdkError as error:
            update_watch(checked_at=now, check_error=str(error))
        else:
            update_watch(checked_at=now, check_error=None, sdk_license=found.draft_json())
    return read_watch()


def update_watch(**values: Any) -> None:
    with db.engine.begin() as connection:
        connection.execute(WATCH.update().where(WATCH.c.id == 1).values(**values))


def accept_mismatch(mismatch: dict[str, Any]) -> None:
    """The admin decided: this installation keeps its identity, whatever differs. A changed
    deployment id becomes the one kept; a difference from the SDK is remembered."""
    if mismatch["field"] == "deployment_id":
        update_watch(kept_deployment_id=mismatch["found"], accepted_mismatch=None)
    else:
        update_watch(accepted_mismatch=f"{mismatch['field']}={mismatch['found']}")


def keep_deployment_id(connection: sa.Connection, deployment_id: str | None) -> None:
    """Inside a save: the deployment id this identity is now kept with (a saved identity is
    this installation's), and any difference the admin kept forgotten."""
    if deployment_id:
        connection.execute(
            WATCH.update()
            .where(WATCH.c.id == 1)
            .values(kept_deployment_id=deployment_id, accepted_mismatch=None)
        )


# --- A copied identity -------------------------------------------------------------------------


def identity_mismatch(
    identity: Any, watch: Watch, config: Mapping[str, Any]
) -> dict[str, Any] | None:
    """How this installation differs from the one its identity was saved on, or None: the
    deployment id kept with the identity, or the SDK's instance id or license id. A difference
    the admin chose to keep is not one any more."""
    if not (identity and identity.has_customer_info):
        return None
    found = _difference(identity, watch, config)
    if found is None or watch.accepted_mismatch == f"{found['field']}={found['found']}":
        return None
    return found


def _difference(identity: Any, watch: Watch, config: Mapping[str, Any]) -> dict[str, Any] | None:
    deployment_id = config.get("WIZARD_DEPLOYMENT_ID")
    kept = watch.kept_deployment_id
    if deployment_id and kept and deployment_id != kept:
        return {"field": "deployment_id", "saved": kept, "found": deployment_id}
    sdk = watch.sdk_license if config.get("WIZARD_REPLICATED_SDK_URL") else None
    if not sdk:
        return None
    if sdk.get("instance_id") and sdk["instance_id"] != identity.instance_id:
        return {"field": "instance_id", "saved": identity.instance_id, "found": sdk["instance_id"]}
    if sdk.get("license_id") and sdk["license_id"] != identity.license_id:
        # License ids are credentials: only their last characters, here as everywhere.
        return {
            "field": "license_id",
            "saved": license_id_hint(identity.license_id),
            "found": license_id_hint(sdk["license_id"]),
        }
    return None


MISMATCH_WORDS = {
    "deployment_id": (
        "This identity was saved on another installation: WIZARD_DEPLOYMENT_ID is {found}, "
        "and the identity was kept with {saved}. A restored copy reports as the installation "
        "it was copied from. Generate a new instance ID for this installation, or, if it is "
        "the same installation, keep the identity."
    ),
    "instance_id": (
        "The Replicated SDK in this cluster reports the instance ID {found}, but the saved one "
        "is {saved}: this identity may have been copied from another installation. Review the "
        "SDK's IDs and save them, or keep the saved identity."
    ),
    "license_id": (
        "The Replicated SDK in this cluster holds another license ({found}) than the saved one "
        "({saved}). Review the SDK's license and save it, or keep the saved identity."
    ),
}


def mismatch_words(mismatch: dict[str, Any]) -> str:
    return MISMATCH_WORDS[mismatch["field"]].format(**mismatch)


# --- A newer license ---------------------------------------------------------------------------


def newer_license(
    identity: Any, summary: Any, watch: Watch, config: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The SDK's license, when it is a newer one of the saved license: its sequence and expiry."""
    sdk = watch.sdk_license if config.get("WIZARD_REPLICATED_SDK_URL") else None
    if not (sdk and identity and identity.license_id and summary is not None):
        return None
    if sdk.get("license_id") != identity.license_id:
        return None
    theirs, ours = sdk.get("license_sequence"), summary.license_sequence
    if not isinstance(theirs, int) or (ours is not None and theirs <= ours):
        return None
    return {"license_sequence": theirs, "expires_at": sdk.get("expires_at")}


# --- Expiry ------------------------------------------------------------------------------------


def expires_in_days(expires_at: datetime | None, now: datetime) -> int | None:
    """Whole days left (0 on the last day, negative once past); None when it never expires."""
    if expires_at is None:
        return None
    return math.floor((expires_at - now) / timedelta(days=1))


@dataclass(frozen=True)
class ExpiryNotice:
    """What the status says about the expiry: how loud, the words before the moment (which a
    page shows in UTC and in the admin's own time), and the advice after it."""

    level: str  # warning or danger
    lead: str
    expires_at: datetime
    advice: str

    @property
    def message(self) -> str:
        return f"{self.lead} {self.expires_at:%-d %b %Y, %H:%M} UTC. {self.advice}"


def expiry_notice(expires_at: datetime | None, now: datetime) -> ExpiryNotice | None:
    """A warning from 30 days before the expiry, louder at 14, 7 and 1; once expired, said so."""
    days = expires_in_days(expires_at, now)
    if expires_at is None or days is None or days > EXPIRY_STEPS[0]:
        return None
    if expires_at <= now:
        return ExpiryNotice(
            "danger",
            "This license expired on",
            expires_at,
            "Updates and support may stop: ask your vendor for a renewed license, then upload "
            "it here.",
        )
    if days < 1:
        left = f"in {max(1, math.ceil((expires_at - now).total_seconds() / 3600))} hours"
    else:
        left = f"in {days} day{'' if days == 1 else 's'}"
    step = next(limit for limit in reversed(EXPIRY_STEPS) if days <= limit)
    level = "danger" if step <= EXPIRY_STEPS[2] else "warning"
    return ExpiryNotice(
        level,
        f"This license expires {left}, on",
        expires_at,
        "Ask your vendor for a renewal now, then upload it here.",
    )


# --- Usage against the license's limits -------------------------------------------------------


def usage(
    entitlements: list[dict[str, Any]] | None, reported: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """Each Integer entitlement that a reported metric of the same name uses: "42 of 50"."""
    found = []
    for entry in entitlements or []:
        name, limit = str(entry.get("name")), entry.get("value")
        used = (reported or {}).get(name)
        if (
            entry.get("value_type") != "Integer"
            or isinstance(limit, bool)
            or not isinstance(limit, int)
        ):
            continue
        if isinstance(used, bool) or not isinstance(used, int | float):
            continue
        share = used / limit if limit > 0 else math.inf
        found.append(
            {
                "name": name,
                "title": entry.get("title") or name,
                "used": used,
                "limit": limit,
                "share": share,
                "warning": share >= USAGE_WARNING,
            }
        )
    return found


# --- The right application ---------------------------------------------------------------------


def license_policy(app: Any) -> Any:
    """The license policy of the app, its expected application completed from the Replicated
    SDK's appSlug (as last checked) when WIZARD_EXPECTED_APP_SLUG is not set."""
    from dataclasses import replace

    from .licenses import LicensePolicy

    policy = LicensePolicy.for_app(app)
    if policy.expected_app or not app.config.get("WIZARD_REPLICATED_SDK_URL"):
        return policy
    try:
        sdk = read_watch().sdk_license
    except sa.exc.DBAPIError:
        return policy  # the save, which needs the database, says what is wrong
    slug = (sdk or {}).get("app_slug")
    return replace(policy, expected_app=slug) if slug else policy


# --- A renewal, an older license, the same one -------------------------------------------------


@dataclass(frozen=True)
class LicenseChange:
    """How a license compares with the saved one: a renewal (newer, or another license of the
    same customer and application), an older one, or the same again; with what changes."""

    kind: str  # renewal, older, same
    saved_sequence: int | None
    new_sequence: int | None
    lines: tuple[str, ...]

    @property
    def message(self) -> str:
        if self.kind == "older":
            return (
                f"This license is older than the saved one: its sequence is {self.new_sequence}, "
                f"the saved license's is {self.saved_sequence}. Saving it would undo a renewal."
            )
        if self.kind == "same":
            sequence = f" (sequence {self.new_sequence})" if self.new_sequence is not None else ""
            return f"Already up to date: this is the license saved now{sequence}."
        return "This is a renewal of the saved license."


def license_change(current: Any, summary: Any, lic: Any) -> LicenseChange | None:
    """The license's relation to the saved one, or None when nothing is saved or the license is
    another customer's or application's (the review warns about those)."""
    if lic is None or summary is None or not (current and current.has_customer_info):
        return None
    same_license = current.license_id == lic.license_id
    same_customer = (
        same_license
        or bool(lic.customer_id and lic.customer_id == current.customer_id)
        or bool(summary.customer_name and lic.customer_name == summary.customer_name)
    )
    if summary.app_slug != lic.app_slug or not same_customer:
        return None
    saved, new = summary.license_sequence, lic.license_sequence
    lines = tuple(renewal_lines(summary, lic))
    kind = "renewal"
    if same_license and saved is not None and new is not None and new < saved:
        kind = "older"
    elif same_license and saved == new and not lines:
        kind = "same"
    return LicenseChange(kind, saved, new, lines)


def _day(moment: datetime | None) -> str:
    return f"{moment:%-d %b %Y}" if moment else "never"


def _expiry_line(old: datetime | None, new: datetime | None) -> str | None:
    if old == new:
        return None
    if old and new:
        days = (new - old).days
        change = f"{days} days added" if days >= 0 else f"{-days} days earlier"
        return f"Expiry: {_day(old)} → {_day(new)} ({change})."
    if new is None:
        return f"Expiry: {_day(old)} → never expires."
    return f"Expiry: never → {_day(new)}."


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return "—" if value in (None, "") else str(value)


def renewal_lines(summary: Any, lic: Any) -> list[str]:
    """What a new license changes against the saved summary, in words; the visible
    entitlements only (hidden ones are never stored or shown)."""
    lines = [_expiry_line(summary.expires_at, lic.expires_at)]
    for label, old, new in (
        ("License sequence", summary.license_sequence, lic.license_sequence),
        ("Type", summary.license_type, lic.license_type),
        ("Channel", summary.channel_name, lic.channel_name),
    ):
        if old != new:
            lines.append(f"{label}: {_shown(old)} → {_shown(new)}.")
    saved = {e["name"]: e for e in summary.entitlements or [] if e["name"] != "expires_at"}
    fresh = {e.name: e for e in lic.visible_entitlements if e.name != "expires_at"}
    for name in sorted(set(saved) | set(fresh)):
        before, after = saved.get(name), fresh.get(name)
        title = (after.title if after else None) or (before or {}).get("title") or name
        if before is None:
            lines.append(f"New entitlement: {title} = {_shown(after.value if after else None)}.")
        elif after is None:
            lines.append(f"Entitlement removed: {title} (was {_shown(before['value'])}).")
        elif before["value"] != after.value:
            lines.append(f"{title}: {_shown(before['value'])} → {_shown(after.value)}.")
    return [line for line in lines if line]
