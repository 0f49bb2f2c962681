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


LONG_TEXT = 200  # characters: longer text, or text of more lines, is shown in brief
LONG_LINES = 5


def long_text(value: object) -> tuple[str, str] | None:
    """A long text entitlement (a CA bundle, a key) in brief, so a page stays a page: its first
    line, cut at 80 characters, and what the rest is (`1,200 lines, 646 KiB in all`); None for
    anything short, a few lines included. The whole value is in the JSON status."""
    if not isinstance(value, str):
        return None
    lines = value.strip().splitlines()
    if len(value) <= LONG_TEXT and len(lines) <= LONG_LINES:
        return None
    first = lines[0] if lines else "(white space)"
    size = len(value.encode())
    amount = f"{size / 1024:,.0f} KiB" if size >= 10_240 else f"{size:,} bytes"
    rest = (
        f"{len(lines):,} lines, {amount} in all" if len(lines) > 1 else f"{len(value):,} characters"
    )
    return first[:80], rest


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
    app.add_template_filter(long_text)
    app.add_template_filter(days_left)
    app.add_template_filter(as_datetime)
    app.add_template_filter(words.size, "size")
    app.add_template_filter(words.actor, "actor")
    app.jinja_env.globals["expiry_notice"] = lambda moment: expiry_notice(moment, datetime.now(UTC))
