"""Times as Go reads them, and a license's expiry as kots reads it (kots pkg/license/license.go
LicenseIsExpired): the `expires_at` entitlement, of value type String, an RFC 3339 time."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from .verdicts import LicenseError, Reason

# Go's time.Parse(time.RFC3339, ...): a T, a zone (Z or ±hh:mm), a fraction after . or ,.
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{1,2}):(\d{2}):(\d{2})(?:[.,](\d+))?"
    r"(?:(Z)|([+-])(\d{2}):(\d{2}))",
    re.ASCII,  # Go reads the digits 0 to 9 only
)


def parse_rfc3339(text):
    """A time in RFC 3339 form with a zone, as Go's time.Parse reads it; ValueError if not.

    Go's own rules where they are wider than RFC 3339 (format.go parse, the fallback after
    parseRFC3339): a zone offset up to 24 hours and 60 minutes (+24:00 is a day ahead), the
    year 0000, a fraction after a comma, a one-digit hour. Hour 24 and second 60 are refused.
    """
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not an RFC 3339 time with a zone")
    year, month, day, hour, minute, second, fraction, utc, sign, zone_h, zone_m = match.groups()
    offset = timedelta(0)
    if not utc:
        if int(zone_h) > 24 or int(zone_m) > 60:  # Go: hr > 24, mm > 60 are out of range
            raise ValueError(f"{text!r} has a zone offset out of range")
        offset = timedelta(hours=int(zone_h), minutes=int(zone_m))
        offset = -offset if sign == "-" else offset
    microseconds = int((fraction or "0")[:6].ljust(6, "0"))
    # Go's calendar has a year 0; Python's begins at 1. Year 0 is checked in year 4 (both
    # leap years, so 29 February holds), then placed before the first day Python has.
    shown_year = int(year) or 4
    local = datetime(
        shown_year, int(month), int(day), int(hour), int(minute), int(second), microseconds
    )
    if not int(year):
        return datetime.min.replace(tzinfo=UTC)
    try:
        return (local - offset).replace(tzinfo=UTC)
    except OverflowError:
        # Go reads times past year 9999 and before year 1 in UTC; Python's datetime ends there.
        return (
            datetime.max.replace(tzinfo=UTC)
            if offset < timedelta(0)
            else datetime.min.replace(tzinfo=UTC)
        )


def typed_expiry(entitlements, where="license"):
    """When the license expires (None: never), from its typed entitlements."""
    entry = entitlements.get("expires_at")
    if entry is None:
        return None
    if entry["valueType"] not in ("", "String"):
        raise LicenseError(
            Reason.NOT_A_LICENSE,
            f"The {where}'s expires_at entitlement has the value type {entry['valueType']}, "
            "but Replicated reads an expiry only of the type String. Ask your vendor.",
            field="entitlements.expires_at",
        )
    value = entry["value"]
    if value.kind != "string":
        raise LicenseError(
            Reason.NOT_A_LICENSE,
            f"The {where}'s expires_at entitlement is {value.go_text()}, not a time in text. "
            "Ask your vendor.",
            field="entitlements.expires_at",
        )
    if value.value == "":
        return None
    try:
        return parse_rfc3339(value.value)
    except ValueError:
        raise LicenseError(
            Reason.NOT_A_LICENSE,
            f"The {where}'s expires_at entitlement, {value.value!r}, is not a time in RFC 3339 "
            "form with a zone (such as 2030-07-27T00:00:00Z), so Replicated cannot read it. "
            "Ask your vendor.",
            field="entitlements.expires_at",
        ) from None


def expiry_of(entitlements):
    """When a license expires, from entitlements as JSON (the Replicated SDK reports them so):
    None for never. Raises ValueError when the value is there but is not a time."""
    entry = entitlements.get("expires_at") if isinstance(entitlements, dict) else None
    raw = entry.get("value") if isinstance(entry, dict) else None
    if raw in (None, ""):
        return None
    if not isinstance(raw, str):
        raise ValueError(f"{raw!r} is not a time")
    return parse_rfc3339(raw)
