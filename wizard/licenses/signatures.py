"""The signature chain, as kotskinds pkg/crypto/signature.go and kots pkg/license/signature.go
check it: Replicated's global key signed the application's key, which signed the license data
and each entitlement's value. RSA-PSS, MD5 for v1beta1 and SHA-256 for v1beta2."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from .gotypes import V1BETA2
from .keys import GLOBAL_KEYS
from .verdicts import LicenseError, Reason

_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def _damaged(what):
    return LicenseError(
        Reason.SIGNATURE_INVALID,
        f"The license signature's {what} is damaged. Download the license again from the "
        "vendor portal.",
    )


def _b64(value, what):
    """Go's base64.StdEncoding: line breaks are ignored, padding is required, and any other
    character outside the alphabet is an error (Python's default would skip it)."""
    if not isinstance(value, str) or not value:
        raise LicenseError(
            Reason.SIGNATURE_INVALID,
            f"The license signature is missing its {what}. Download the license "
            "again from the vendor portal.",
        )
    text = value.replace("\r", "").replace("\n", "")
    if len(text) % 4 or not _BASE64.fullmatch(text):
        raise _damaged(what)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _damaged(what) from None


def _json(raw, what):
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise _damaged(what) from None
    if not isinstance(value, dict):
        raise _damaged(what)
    return value


def _verifies(public_key, signature, message, algorithm):
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        public_key.verify(
            signature,
            message,
            padding.PSS(mgf=padding.MGF1(algorithm), salt_length=padding.PSS.AUTO),
            algorithm,
        )
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


@dataclass(frozen=True)
class SignedData:
    """What the signature chain vouches for: the license data, and the key that signed it."""

    license_data: bytes
    app_key: Any
    key_name: str
    algorithm: Any


def _algorithm(version: str) -> Any:
    from cryptography.hazmat.primitives import hashes

    # Replicated's v1 scheme signs with MD5.
    return hashes.SHA256() if version == V1BETA2 else hashes.MD5()  # noqa: S303


def _trusted_signer(
    key_signature: dict[str, Any], app_key_pem: str, keys: Any, algorithm: Any
) -> str:
    """The name of the trusted global key that signed the application's key."""
    global_key_id = key_signature.get("globalKeyId")
    if global_key_id is not None and not isinstance(global_key_id, str):
        raise _damaged("key signature")  # Go's json.Unmarshal refuses it for its string field
    signed_key = _b64(key_signature.get("signature"), "key signature")
    for name, key in keys.candidates(global_key_id):
        if _verifies(key, signed_key, app_key_pem.encode(), algorithm):
            return str(name)
    known = GLOBAL_KEYS.get(global_key_id or "")
    why = (
        f"it was signed with Replicated's {known} key, which this installation does not "
        f"trust (it trusts: {', '.join(keys.names)})"
        if known and global_key_id not in keys.by_id
        else "its signing key is not one this installation trusts"
    )
    raise LicenseError(
        Reason.SIGNATURE_INVALID,
        f"The license signature is not valid: {why}. Download the license "
        "again from the vendor portal.",
    )


def verify_chain(signature: str, version: str, keys: Any) -> SignedData:
    """Check the spec's signature: a trusted global key signed the application's key, which
    signed the license data. Raises LicenseError saying which link broke."""
    from cryptography.hazmat.primitives import serialization

    v2 = version == V1BETA2
    algorithm = _algorithm(version)
    outer = _json(_b64(signature or None, "signature"), "signature")
    license_data = _b64(outer.get("licenseData"), "signed data")
    inner = _json(_b64(outer.get("innerSignature"), "inner signature"), "inner signature")
    app_key_pem = inner.get("publicKey")
    if not isinstance(app_key_pem, str):
        raise LicenseError(Reason.SIGNATURE_INVALID, "The license signature has no public key.")
    key_signature = _json(
        _b64(inner.get("v2KeySignature" if v2 else "keySignature"), "key signature"),
        "key signature",
    )
    key_name = _trusted_signer(key_signature, app_key_pem, keys, algorithm)
    try:
        app_key = serialization.load_pem_public_key(app_key_pem.encode())
    except ValueError:
        raise LicenseError(
            Reason.SIGNATURE_INVALID, "The license signature's public key is damaged."
        ) from None
    license_signature = _b64(
        inner.get("v2LicenseSignature" if v2 else "licenseSignature"), "license signature"
    )
    if not _verifies(app_key, license_signature, license_data, algorithm):
        raise LicenseError(
            Reason.SIGNATURE_INVALID,
            "The license signature is not valid: the license data does not match "
            "its signature. Download the license again from the vendor portal.",
        )
    return SignedData(license_data, app_key, key_name, algorithm)


def verify_entitlements(entitlements: dict[str, Any], signed: SignedData) -> None:
    """Every visible entitlement signed for this version, over its value as Go prints it."""
    for name, entry in sorted(entitlements.items()):
        if not entry["signature"]:
            continue
        signature = _b64(entry["signature"], f"signature of the entitlement {name}")
        message = entry["value"].go_text().encode()
        if not _verifies(signed.app_key, signature, message, signed.algorithm):
            raise LicenseError(
                Reason.SIGNATURE_INVALID,
                f"The license signature is not valid: the entitlement {name} does "
                "not match its signature. Download the license again.",
                field=f"entitlements.{name}",
            )


def signed_json(signed: SignedData) -> dict[str, Any]:
    """The signed license data as JSON."""
    return _json(signed.license_data, "signed data")
