"""What counts as a Replicated id: the one rule the model, the forms, the API and the CLI share."""

import unicodedata

MAX_ID_LENGTH = 255

# Unicode categories refused inside an id: controls, invisible formatting characters,
# surrogates, private use, unassigned code points, and every kind of separator.
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"}


class InvalidId(ValueError):
    """An id that breaks the rule; the message says what is wrong, without naming the field."""


def clean_id(value):
    """Return the id with surrounding white space trimmed, or raise InvalidId saying why not."""
    if not isinstance(value, str):
        raise InvalidId("must be text")
    value = value.strip()
    if not value:
        raise InvalidId("must not be blank")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidId(f"must be at most {MAX_ID_LENGTH} characters (this one has {len(value)})")
    for position, char in enumerate(value, start=1):
        if char.isspace() or unicodedata.category(char) in _REFUSED_CATEGORIES:
            kind = "white space" if char.isspace() else "a control or invisible character"
            raise InvalidId(
                f"must not contain {kind} (found U+{ord(char):04X} at position {position})"
            )
    return value


def license_id_hint(license_id):
    """Return the license id as the hint pages may show: its last four characters."""
    if not license_id:
        return None
    return "…" + license_id[-4:]
