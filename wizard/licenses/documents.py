"""A license file's documents: read safely, as Replicated's Go code would read them, and
told apart when one file holds several licenses."""

from __future__ import annotations

import codecs
import re
from typing import Any

from ..ids import license_id_hint
from ..words import size
from . import yaml_v2
from .gotypes import type_meta
from .verdicts import LicenseError, Reason
from .yaml_v2 import YamlRefused

# A real license is a few KB; one with a large Text entitlement (a CA bundle of a few hundred
# KB) is that, twice more inside its signature's base64. Replicated sets no limit.
MAX_LICENSE_BYTES = 4 * 1024 * 1024


def _refuse(message: str) -> LicenseError:
    return LicenseError(Reason.NOT_A_LICENSE, message)


# yaml.v2 readerc.go yaml_parser_determine_encoding: a byte-order mark says UTF-16 (what
# Notepad's "Unicode" writes) or UTF-8; without one, the file is UTF-8.
_BOMS = (
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF8, "utf-8"),
)


def _text_of(data: bytes) -> tuple[str, bool]:
    """The file's text, and whether it began with a byte-order mark."""
    encoding, bom = "utf-8", b""
    for mark, name in _BOMS:
        if data.startswith(mark):
            encoding, bom = name, mark
            break
    try:
        return data[len(bom) :].decode(encoding), bool(bom)
    except UnicodeDecodeError:
        raise _refuse("This is not text: a license is a YAML text file.") from None


_SURROGATE = re.compile("[\ud800-\udfff]")
MAX_LICENSES = 100  # License documents in one file: a bundle of a few customers, not thousands


def license_file_text(data: bytes | str) -> str:
    """A license file as text to keep, decoded as it is read (UTF-16 or UTF-8, its byte-order
    mark kept as U+FEFF so that it is read again the same way)."""
    if isinstance(data, str):
        return data
    text, had_bom = _text_of(data)
    return "\ufeff" + text if had_bom else text


def read_documents(data: bytes | str, max_bytes: int = MAX_LICENSE_BYTES) -> list[Any]:
    """Return every document in `data` (bytes or text), refusing anything hostile, and anything
    Replicated's Go code could not read."""
    had_bom = False
    if isinstance(data, bytes):
        if len(data) > max_bytes:
            raise _refuse(f"This is larger than {size(max_bytes)}; no license is that large.")
        data, had_bom = _text_of(data)
    elif len(data.encode("utf-8", "surrogatepass")) > max_bytes:
        raise _refuse(f"This is larger than {size(max_bytes)}; no license is that large.")
    else:
        had_bom = data.startswith("\ufeff")
        # A lone surrogate is no character of a file: what Go's decoder makes of bad UTF-8.
        data = _SURROGATE.sub("\ufffd", data.removeprefix("\ufeff"))
    if "\x00" in data:
        raise _refuse("This is not text: a license is a YAML text file.")
    if not data.strip():
        raise _refuse("This is empty.")
    try:
        return yaml_v2.read_documents(data, had_bom=had_bom)
    except YamlRefused as refused:
        raise _refuse(str(refused)) from None


# What a document that is not a mapping is, in an admin's words.
_NOT_A_MAPPING = {str: "plain text", list: "a list", bool: "a yes or no", type(None): "nothing"}


def _describe(document: Any) -> str:
    if not isinstance(document, dict):
        what = _NOT_A_MAPPING.get(type(document), "a number")
        return f"{what}, not the fields of a license"
    api, kind = type_meta(document)
    if kind:
        return f"a {kind} ({api or 'no apiVersion'})"
    return "YAML without a kind"


def license_documents(
    data: bytes | str, max_bytes: int = MAX_LICENSE_BYTES
) -> list[dict[str, Any]]:
    """Return the `kind: License` documents of a file; refuse a file that holds none.

    Every one is offered (Replicated reads only a file's first document): a file that bundles
    several customers' licenses lets the admin choose.
    """
    documents = read_documents(data, max_bytes)
    licenses = [d for d in documents if isinstance(d, dict) and type_meta(d)[1] == "License"]
    if len(licenses) > MAX_LICENSES:
        raise _refuse(
            f"This holds {len(licenses)} licenses; the wizard reads at most {MAX_LICENSES} "
            "from one file. Upload the one for this installation."
        )
    if not licenses:
        found = ", ".join(sorted({_describe(d) for d in documents})) or "nothing"
        raise _refuse(f"This is not a Replicated license: it holds {found}. {yaml_v2.LOOKS_LIKE}")
    return licenses


def document_label(document: dict[str, Any]) -> str:
    """How to tell licenses in one file apart: customer, app and the end of the license id."""
    spec = document.get("spec")
    if not isinstance(spec, dict):
        spec = {}
    license_id = str(spec.get("licenseID") or "")
    parts = [str(spec.get("customerName") or "unnamed customer"), str(spec.get("appSlug") or "?")]
    if license_id:
        parts.append(f"license {license_id_hint(license_id)}")
    return " · ".join(parts)
