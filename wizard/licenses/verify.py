"""Verify a Replicated license as Replicated's own Go code does (kotskinds and kots), and
stricter where that is safer. No Flask here.

The steps, and the Go that decides each (kotskinds apis/kots/v1beta1|v1beta2
license_types.go, pkg/crypto/signature.go; kots pkg/license/signature.go and license.go):
1. Read the file as kots does (yaml_v2.py) and decode the spec into Go's types (gotypes.py):
   a value of the wrong type cannot be read by Replicated, so the license is refused.
2. The global key (by globalKeyId) signed the application's key; the application's key
   signed the license data (signatures.py).
3. Each visible entitlement that carries a signature for its version (v1 or v2) is signed
   over its value as Go prints it.
4. The signed data is decoded into Go's types, and every value is taken from it.
5. Deliberately stricter than Replicated, which only logs a warning: the visible spec must
   say what the signed data says, field by field and entitlement by entitlement, or the
   license is `tampered`. The file must not repeat a key.
6. Expiry as kots reads it (times.py); expired when strictly before now.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..ids import InvalidId, clean_id
from .gotypes import SUPPORTED_VERSIONS, first_difference, license_parts, type_meta, typed_spec
from .keys import TrustedKeys
from .signatures import signed_json, verify_chain, verify_entitlements
from .times import typed_expiry
from .verdicts import Entitlement, License, LicenseError, Reason, Verdict


def verify_document(
    document: dict[str, Any],
    keys: TrustedKeys,
    expected_app: str | None = None,
    now: datetime | None = None,
) -> Verdict:
    """Verify one `kind: License` document; return a Verdict (never raise for a bad license)."""
    try:
        lic = _signed_license(document, keys)
    except LicenseError as error:
        return Verdict(error.reason, error.message, field=error.field)
    return _verdict(lic, expected_app, now or datetime.now(UTC))


def _signed_license(document: dict[str, Any], keys: TrustedKeys) -> License:
    """Steps 1 to 5: the license as signed, or LicenseError saying why it cannot be trusted."""
    version, _ = type_meta(document)
    if version not in SUPPORTED_VERSIONS:
        raise LicenseError(
            Reason.UNSUPPORTED_VERSION,
            f"This license has apiVersion {version or '(none)'}; this wizard "
            f"verifies {' and '.join(SUPPORTED_VERSIONS)}. Ask the vendor for a "
            "current license file.",
        )
    # 1: what kots would load (kotskinds pkg/licensewrapper LoadLicenseFromBytes: the file's
    # License by sigs.k8s.io/json, which matches keys case-sensitively).
    spec = license_parts(document, "license", folded=False).get("spec")
    if not isinstance(spec, dict):
        raise LicenseError(Reason.NOT_A_LICENSE, "This license has no spec section.")
    visible = typed_spec(spec, version)
    # 2 and 3: the chain of signatures, and each entitlement's own.
    signed = verify_chain(visible["signature"], version, keys)
    verify_entitlements(visible["entitlements"], signed)
    # 4: the signed data, in Go's types (encoding/json: keys of any case); every value comes
    # from it.
    where = "signed license data"
    data = license_parts(signed_json(signed), where, folded=True)
    signed_spec = data.get("spec")
    if not isinstance(signed_spec, dict) or data.get("kind") != "License":
        raise LicenseError(Reason.SIGNATURE_INVALID, "The signed license data is not a license.")
    truth = typed_spec(signed_spec, version, where=where, folded=True)
    # 5: stricter than Replicated: what the file shows must be what was signed.
    difference = (
        "apiVersion"
        if data.get("apiVersion") not in (None, version)
        else first_difference(visible, truth)
    )
    if difference:
        raise LicenseError(
            Reason.TAMPERED,
            f"This license was edited after it was signed: {difference} differs "
            "from the signed value. Use the original file from your vendor.",
            field=None if difference == "apiVersion" else difference,
        )
    return _license(truth, version, signed.key_name)


def _signed_id(typed: dict[str, Any], key: str, what: str, required: bool = False) -> str | None:
    """An id from the signed data, under the id rule every saved id follows."""
    value = typed[key]
    if not value:
        if required:
            raise LicenseError(Reason.NOT_A_LICENSE, f"The license has no {what} ({key}).")
        return None
    try:
        return clean_id(value)
    except InvalidId as error:
        raise LicenseError(
            Reason.NOT_A_LICENSE,
            f"The license's {what} ({key}) {error}, so it cannot be saved. Ask your vendor "
            "about this license.",
            field=key,
        ) from None


def _license(truth: dict[str, Any], version: str, key_name: str) -> License:
    """The License, every value from the signed data in Go's types."""
    return License(
        license_id=_signed_id(truth, "licenseID", "license ID", required=True) or "",
        app_slug=truth["appSlug"] or None,
        customer_id=_signed_id(truth, "customerID", "customer ID"),
        customer_name=truth["customerName"] or None,
        customer_email=truth["customerEmail"] or None,
        license_type=truth["licenseType"] or None,
        channel_id=truth["channelID"] or None,
        channel_name=truth["channelName"] or None,
        license_sequence=truth["licenseSequence"],
        expires_at=typed_expiry(truth["entitlements"]),
        version=version,
        key=key_name,
        entitlements=tuple(
            Entitlement(
                name=name,
                title=entry["title"] or None,
                value=entry["value"].value,
                value_type=entry["valueType"] or None,
                hidden=entry["isHidden"],
            )
            for name, entry in sorted(truth["entitlements"].items())
        ),
        endpoint=truth["endpoint"] or None,
    )


def _verdict(lic: License, expected_app: str | None, now: datetime) -> Verdict:
    """Step 6: the application and the expiry (kots: strictly before now is expired)."""
    if expected_app and lic.app_slug != expected_app:
        return Verdict(
            Reason.WRONG_APP,
            f"This license is for the application {lic.app_slug or '(none)'}, "
            f"not {expected_app}. Use the license issued for {expected_app}.",
            lic,
        )
    if lic.expires_at and lic.expires_at < now:
        return Verdict(
            Reason.EXPIRED,
            f"This license expired on {lic.expires_at:%-d %b %Y}. Ask your vendor "
            "for a renewed license.",
            lic,
        )
    return Verdict(Reason.OK, "The license is valid.", lic)
