"""What a save would change, in words: the identity after the save, each id that changes, and
the warnings an admin must read first."""

from __future__ import annotations

from typing import Any

from ..identity import UNCHANGED, SavedIdentity, kept_license_id
from ..ids import license_id_hint
from ..licenses import License
from .drafts import Draft


def identity_after(
    draft: Draft, lic: License | None, current: SavedIdentity | None
) -> dict[str, Any]:
    """The identity as it will be once saved: a license's own id, or the typed one, or (typed
    ids without a license id) the saved one."""
    license_id: Any = lic.license_id if lic else kept_license_id(draft.license_id)
    if license_id is UNCHANGED:
        license_id = current.license_id if current else None
    return {
        "customer_id": draft.customer_id,
        "instance_id": draft.instance_id,
        "license_id": license_id,
    }


def prefill(draft: Draft, lic: License | None, current: SavedIdentity | None) -> dict[str, Any]:
    """What the details form shows first: the draft's answers, else what the license or the SDK
    says, else what is saved. A license for another license id never inherits the saved
    customer id: it may belong to another customer."""
    same_license = lic is None or (current is not None and current.license_id == lic.license_id)
    customer_id = draft.customer_id or (lic.customer_id if lic else None)
    if not customer_id and current and same_license:
        customer_id = current.customer_id
    return {
        "customer_id": customer_id,
        "instance_id": draft.instance_id or (current.instance_id if current else None),
        "license_id": draft.license_id,
    }


def _id_lines(current: SavedIdentity, after: dict[str, Any]) -> list[str]:
    lines = []
    for label, name in (("Customer ID", "customer_id"), ("Instance ID", "instance_id")):
        old, new = getattr(current, name), after[name]
        lines.append(
            f"{label} stays {old}." if old == new else f"{label} changes from {old} to {new}."
        )
    old_hint = current.license_id_hint or "none"
    new_hint = license_id_hint(after["license_id"]) or "none"
    lines.append(
        f"License ID stays {old_hint}."
        if current.license_id == after["license_id"]
        else f"License ID changes from {old_hint} to {new_hint}."
    )
    return lines


def _warnings(summary: Any, lic: License | None, same_license: bool) -> list[str]:
    warnings = []
    if lic and summary:
        if summary.customer_name and lic.customer_name != summary.customer_name:
            warnings.append(
                f"The license belongs to another customer: {lic.customer_name or 'unnamed'}, "
                f"not {summary.customer_name}."
            )
        if summary.app_slug and lic.app_slug != summary.app_slug:
            warnings.append(
                f"The license is for another application: {lic.app_slug or 'none'}, "
                f"not {summary.app_slug}."
            )
    elif lic is None and summary and not same_license:
        who = ", ".join(filter(None, (summary.customer_name, summary.app_slug)))
        warnings.append(
            f"The verified license details ({who or 'the license summary'}) will be removed: "
            "typed IDs cannot be verified. Upload the license file to keep them."
        )
    return warnings


def describe_changes(
    current: SavedIdentity | None, summary: Any, after: dict[str, Any], lic: License | None
) -> tuple[list[str], list[str]]:
    """What saving changes, in words: a line for each id, and warnings when the new license
    belongs to another customer or application, or typed ids drop a verified license."""
    if current is None or not current.has_customer_info:
        return ["Nothing identifies this installation yet: these values will."], []
    same_license = current.license_id == after["license_id"]
    return _id_lines(current, after), _warnings(summary, lic, same_license)
