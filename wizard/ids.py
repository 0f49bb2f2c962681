"""What counts as a Replicated id, and how much of a license id may be shown: one rule each,
shared by the model, the forms, the API, the CLI, the SDK client and the license verifier."""

from __future__ import annotations

import enum
import unicodedata

MAX_ID_LENGTH = 255

# Replicated's ids are ASCII (base62 KSUIDs, UUIDs, e-mail style customer ids): printable
# ASCII leaves no room for look-alike letters or invisible characters.
RULE = f"1 to {MAX_ID_LENGTH} printable ASCII characters, without spaces"

_NAMED = {" ": "a space", "\t": "a tab", "\n": "a line break", "\r": "a line break"}

# Letters and symbols that render as nothing (Hangul fillers, the blank Braille pattern).
_BLANK_LOOKING = {"\u115f", "\u1160", "\u3164", "\uffa0", "\u2800"}


class InvalidId(ValueError):
    """An id that breaks the rule; the message says what is wrong, without naming the field."""


class InvalidValue(ValueError):
    """A value that cannot be saved: `field` names it, the message says why. Nothing is written."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class Sentinel(enum.Enum):
    """Values that mean "not given" where None already means something."""

    UNCHANGED = "keep the saved value"
    UNCHECKED = "save over whatever is saved"

    def __repr__(self) -> str:
        return self.name


# license_id=UNCHANGED keeps the saved license id, as leaving the keyword out of
# set_customer_info does; None clears it.
UNCHANGED = Sentinel.UNCHANGED


def _describe(char: str) -> str:
    """Name a refused character in words an admin reads: a space, a tab, a Cyrillic a with
    its code (U+0430)."""
    if char in _NAMED:
        return _NAMED[char]
    code = f"U+{ord(char):04X}"
    if char.isspace():
        return f"white space ({code})"
    if char in _BLANK_LOOKING or unicodedata.category(char)[0] in "CMZ":
        return f"an invisible character ({code})"
    return f"the non-ASCII character “{char}” ({code})"


def clean_id(value: object) -> str:
    """Return the id with surrounding white space trimmed, or raise InvalidId saying why not."""
    if not isinstance(value, str):
        raise InvalidId(f"must be text: {RULE}")
    value = value.strip()
    if not value:
        raise InvalidId(f"must not be blank: {RULE}")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidId(f"must be {RULE} (this one has {len(value)} characters)")
    for position, char in enumerate(value, start=1):
        if not "!" <= char <= "~":
            raise InvalidId(f"must be {RULE}: found {_describe(char)} at position {position}")
    return value


def checked_id(field: str, value: object) -> str:
    """The id, cleaned; InvalidValue naming the field when it breaks the rule."""
    try:
        return clean_id(value)
    except InvalidId as error:
        raise InvalidValue(field, f"{field} {error}") from None


def checked_ids(
    customer_id: object, instance_id: object, license_id: object = UNCHANGED
) -> dict[str, str | None]:
    """The ids to write, each checked by the one rule before anything is written: both ids,
    and the license id unless UNCHANGED (None clears it). Raises InvalidValue."""
    values: dict[str, str | None] = {
        "customer_id": checked_id("customer_id", customer_id),
        "instance_id": checked_id("instance_id", instance_id),
    }
    if license_id is not UNCHANGED:
        values["license_id"] = None if license_id is None else checked_id("license_id", license_id)
    return values


# The most of a license id a page, a log or a history entry may show: it doubles as a
# credential for Replicated's API.
HINT_PREFIX = "…"
HINT_LENGTH = 4


def license_id_hint(license_id: str | None) -> str | None:
    """The license id as it may be shown: `…` and its last four characters."""
    if not license_id:
        return None
    return HINT_PREFIX + license_id[-HINT_LENGTH:]
