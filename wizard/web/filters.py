"""How the pages show moments, license ids and entitlement values."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask

from .. import words
from ..ids import license_id_hint
from ..watch import expiry_notice


def when(moment: datetime | str | None) -> str:
    """A moment for people: `28 Nov 2026, 14:05 UTC` (from a datetime, or ISO 8601 text)."""
    if moment is None:
        return "never"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.astimezone(UTC).strftime("%-d %b %Y, %H:%M UTC")


def entitlement_value(value: object) -> object:
    """An entitlement value as a person reads it: Yes/No, numbers and text as they are."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return value


def as_datetime(value: datetime | str) -> datetime:
    """A moment from JSON (ISO 8601 text) as a datetime."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def days_left(moment: datetime | None) -> int | None:
    """Whole days from now until `moment` (negative once past), or None when there is none."""
    if moment is None:
        return None
    return (moment - datetime.now(UTC)).days


def init_app(app: Flask) -> None:
    """Register the filters every template may use."""
    app.add_template_filter(when)
    app.add_template_filter(license_id_hint, "hint")
    app.add_template_filter(entitlement_value)
    app.add_template_filter(days_left)
    app.add_template_filter(as_datetime)
    app.add_template_filter(words.size, "size")
    app.add_template_filter(words.actor, "actor")
    app.jinja_env.globals["expiry_notice"] = lambda moment: expiry_notice(moment, datetime.now(UTC))
