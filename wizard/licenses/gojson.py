"""Go's encoding/json where it differs from Python's json (Go 1.25/1.26 decode.go, fold.go,
scanner.go; the same code in sigs.k8s.io/json, with case folding turned off).

- A key fills a struct field of its exact name, else of the name it folds to (bytes.EqualFold:
  `LicenseData`, `LICENSEDATA`, even with a long s (U+017F) for an s); keys are never left out for
  their case. Of several keys that fill one field, the last in the text wins.
- A []byte field takes base64 text (StdEncoding: padding required, line breaks ignored) or a
  JSON array of whole numbers from 0 to 255; `null` empties it.
- The text is UTF-8 without a byte-order mark; NaN and Infinity are no JSON numbers.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from collections.abc import Iterable
from typing import Any

_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


class GoJsonError(ValueError):
    """Text Go's json.Unmarshal refuses, or a value it cannot put into the field."""


class GoObject(dict[str, Any]):
    """A JSON object that remembers its keys in order, repeated keys too, as Go reads them."""

    pairs: list[tuple[str, Any]]


def _object(pairs: list[tuple[str, Any]]) -> GoObject:
    mapping = GoObject(pairs)
    mapping.pairs = pairs
    return mapping


def _no_constant(name: str) -> Any:
    raise GoJsonError(f"{name} is not a JSON number")


_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _without_surrogates(value: Any) -> Any:
    """Go decodes an escaped lone surrogate (`\\ud800`) as U+FFFD; Python keeps it."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_without_surrogates(item) for item in value]
    if isinstance(value, dict):
        return _object(
            [(_without_surrogates(k), _without_surrogates(v)) for k, v in pairs_of(value)]
        )
    return value


def loads(raw: bytes | str) -> Any:
    """JSON as Go's json.Unmarshal reads it; GoJsonError for what it refuses. Invalid UTF-8
    inside a string becomes U+FFFD, as in Go, and so does an escaped lone surrogate; a
    byte-order mark is no white space to Go."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    try:
        value = json.loads(text, object_pairs_hook=_object, parse_constant=_no_constant)
    except RecursionError:
        raise GoJsonError("it is nested too deeply") from None
    except json.JSONDecodeError as error:
        raise GoJsonError(error.msg) from None
    except ValueError:  # a number of more digits than Python converts (sys.int_info)
        raise GoJsonError("it holds a number too long to read") from None
    if not _ESCAPED_SURROGATE.search(text):
        return value
    try:
        return _without_surrogates(value)
    except RecursionError:
        raise GoJsonError("it is nested too deeply") from None


def fold(name: str) -> str:
    """Go's foldName: one letter for each case orbit of unicode.SimpleFold (k, K and the Kelvin
    sign; s, S and the long s; but the dotless i, U+0131, alone), so that fold(a) == fold(b) iff
    EqualFold(a, b). Nothing is cached per name: the keys come from the file."""
    if name.isascii():
        return name.lower()
    return "".join(_fold_rune(char) for char in name)


@functools.lru_cache(maxsize=4096)
def _fold_rune(char: str) -> str:
    """The simple case folding of one character (Unicode CaseFolding.txt, statuses C and S),
    which is what SimpleFold's orbits share: Python's casefold where it gives one character,
    else the lower case where that folds no further (ẞ and ß), else the character itself
    (İ, the ligatures)."""
    folded = char.casefold()
    if len(folded) == 1:
        return folded
    lower = char.lower()
    return lower if len(lower) == 1 else char


def pairs_of(mapping: dict[str, Any]) -> Iterable[tuple[str, Any]]:
    """A mapping's keys and values in the order Go meets them, repeated keys too."""
    return getattr(mapping, "pairs", None) or mapping.items()


def struct(
    mapping: dict[str, Any],
    fields: Iterable[str],
    case_sensitive: bool = False,
    slices: Iterable[str] = (),
) -> tuple[dict[str, Any], list[str]]:
    """Which value fills each Go field, and the keys that fill none: exact names first, then
    (unless case_sensitive, as sigs.k8s.io/json decodes objects) folded names; the last of
    several keys that fill one field wins. A null empties a slice field ([]byte: `slices`)
    and leaves any other as it was."""
    exact = {name: name for name in fields}
    folded: dict[str, str] = {}
    for name in exact:
        folded.setdefault(fold(name), name)  # the first field of a fold set takes precedence
    lengths = {len(name) for name in exact}  # folding keeps the number of characters
    emptied = set(slices)
    filled: dict[str, Any] = {}
    unused = []
    for key, value in pairs_of(mapping):
        field = exact.get(key)
        if field is None and not case_sensitive and len(key) in lengths:
            field = folded.get(fold(key))
        if field is None:
            unused.append(key)
        elif value is not None or field not in filled or field in emptied:
            filled[field] = value
    return filled, unused


def go_bytes(value: Any, what: str) -> bytes | None:
    """A []byte field: base64 text, or an array of whole numbers 0 to 255; None for null."""
    if value is None:
        return None
    if isinstance(value, list):
        if not all(type(item) is int and 0 <= item <= 255 for item in value):
            raise GoJsonError(f"the {what} is a list that is not bytes")
        return bytes(value)
    if not isinstance(value, str):
        raise GoJsonError(f"the {what} is not base64 text")
    text = value.replace("\r", "").replace("\n", "")
    if len(text) % 4 or not _BASE64.fullmatch(text):
        raise GoJsonError(f"the {what} is not base64")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise GoJsonError(f"the {what} is not base64") from None
