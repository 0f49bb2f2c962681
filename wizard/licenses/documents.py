"""A license file's documents: read safely, as Replicated's Go code would read them, and
told apart when one file holds several licenses."""

from __future__ import annotations

from typing import Any

from ..ids import license_id_hint
from ..words import size
from . import yaml_v2
from .verdicts import LicenseError, Reason
from .yaml_v2 import YamlRefused

MAX_LICENSE_BYTES = 1024 * 1024


def _refuse(message: str) -> LicenseError:
    return LicenseError(Reason.NOT_A_LICENSE, message)


def read_documents(data: bytes | str, max_bytes: int = MAX_LICENSE_BYTES) -> list[Any]:
    """Return every document in `data` (bytes or text), refusing anything hostile, and anything
    Replicated's Go code could not read."""
    if isinstance(data, bytes):
        if len(data) > max_bytes:
            raise _refuse(f"This is larger than {size(max_bytes)}; a license is a few KB.")
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise _refuse("This is not text: a license is a YAML text file.") from None
    elif len(data.encode("utf-8", "surrogatepass")) > max_bytes:
        raise _refuse(f"This is larger than {size(max_bytes)}; a license is a few KB.")
    if "\x00" in data:
        raise _refuse("This is not text: a license is a YAML text file.")
    if not data.strip():
        raise _refuse("This is empty.")
    try:
        return yaml_v2.read_documents(data)
    except YamlRefused as refused:
        raise _refuse(str(refused)) from None


# What a document that is not a mapping is, in an admin's words.
_NOT_A_MAPPING = {str: "plain text", list: "a list", bool: "a yes or no", type(None): "nothing"}


def _describe(document: Any) -> str:
    if not isinstance(document, dict):
        what = _NOT_A_MAPPING.get(type(document), "a number")
        return f"{what}, not the fields of a license"
    kind, api = document.get("kind"), document.get("apiVersion")
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
    licenses = [d for d in documents if isinstance(d, dict) and d.get("kind") == "License"]
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
