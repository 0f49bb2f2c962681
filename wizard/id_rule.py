"""What counts as a Replicated id, and how much of a license id may be shown: one rule each,
shared by the model, the forms, the API, the CLI, the SDK client and the license verifier."""

import unicodedata

MAX_ID_LENGTH = 255

# Replicated's ids are ASCII (base62 KSUIDs, UUIDs, e-mail style customer ids): printable
# ASCII leaves no room for look-alike letters or invisible characters.
RULE = f"1 to {MAX_ID_LENGTH} printable ASCII characters, without spaces"

_NAMED = {" ": "a space", "\t": "a tab", "\n": "a line break", "\r": "a line break"}


class InvalidId(ValueError):
    """An id that breaks the rule; the message says what is wrong, without naming the field."""


# Letters and symbols that render as nothing (Hangul fillers, the blank Braille pattern).
_BLANK_LOOKING = {"\u115f", "\u1160", "\u3164", "\uffa0", "\u2800"}


def _describe(char):
    """Name a refused character in words an admin reads: a space, a tab, “а” (U+0430)."""
    if char in _NAMED:
        return _NAMED[char]
    code = f"U+{ord(char):04X}"
    if char.isspace():
        return f"white space ({code})"
    if char in _BLANK_LOOKING or unicodedata.category(char)[0] in "CMZ":
        return f"an invisible character ({code})"
    return f"the non-ASCII character “{char}” ({code})"


def clean_id(value):
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


# The most of a license id a page, a log or a history entry may show: it doubles as a
# credential for Replicated's API.
HINT_PREFIX = "…"
HINT_LENGTH = 4


def license_id_hint(license_id):
    """The license id as it may be shown: `…` and its last four characters."""
    if not license_id:
        return None
    return HINT_PREFIX + license_id[-HINT_LENGTH:]
