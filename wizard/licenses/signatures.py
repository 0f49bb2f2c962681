"""The signature chain, as kotskinds pkg/crypto/signature.go and kots pkg/license/signature.go
check it: Replicated's global key signed the application's key, which signed the license data
and each entitlement's value. RSA-PSS, MD5 for v1beta1 and SHA-256 for v1beta2."""

from __future__ import annotations

import base64
import binascii
import bisect
import re
from dataclasses import dataclass
from typing import Any

from . import gojson
from .gotypes import V1BETA2
from .keys import GLOBAL_KEYS
from .verdicts import LicenseError, Reason


def _damaged(what):
    return LicenseError(
        Reason.SIGNATURE_INVALID,
        f"The license signature's {what} is damaged. Download the license again from the "
        "vendor portal.",
    )


def _missing(what):
    return LicenseError(
        Reason.SIGNATURE_INVALID,
        f"The license signature is missing its {what}. Download the license "
        "again from the vendor portal.",
    )


def _bytes(value, what):
    """A []byte field of the signature's JSON, as Go's encoding/json fills it."""
    try:
        data = gojson.go_bytes(value, what)
    except gojson.GoJsonError:
        raise _damaged(what) from None
    if not data:
        raise _missing(what)
    return data


def _struct(raw, what, fields, slices=()):
    """One of the signature's JSON objects, decoded into its Go struct (kotskinds
    OuterSignature, InnerSignature, KeySignature): keys of any case, the last one winning."""
    try:
        value = gojson.loads(raw)
    except gojson.GoJsonError:
        raise _damaged(what) from None
    if not isinstance(value, dict):
        raise _damaged(what)
    filled, _ = gojson.struct(value, fields, slices=slices)
    for name in fields:
        if filled.get(name) is None:
            filled.pop(name, None)  # Go leaves a field as it was for a null
    return filled


def _text(fields, name, what):
    value = fields.get(name, "")
    if not isinstance(value, str):
        raise _damaged(what)  # Go's json.Unmarshal refuses it for its string field
    return value


def _verifies(public_key, signature, message, algorithm):
    """rsa.VerifyPSS with the salt length found from the signature (kotskinds
    VerifySignatureWithKeyRSA); Go 1.24 and later also want the signature exactly as long as
    the key (crypto/internal/fips140/rsa verifyPSS), where OpenSSL pads a short one."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import padding

    if len(signature) != (public_key.key_size + 7) // 8:
        return False
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


KEY_SIGNATURE_FIELDS = ("signature", "globalKeyId")
OUTER_FIELDS = ("licenseData", "innerSignature")
INNER_FIELDS = (
    "licenseSignature",
    "v2LicenseSignature",
    "publicKey",
    "keySignature",
    "v2KeySignature",
)
BYTE_FIELDS = (
    "signature",
    "licenseData",
    "innerSignature",
    "licenseSignature",
    "v2LicenseSignature",
    "keySignature",
    "v2KeySignature",
)


def _trusted_signer(key_signature: bytes, app_key_pem: str, keys: Any, algorithm: Any) -> str:
    """The name of the trusted global key that signed the application's key."""
    fields = _struct(key_signature, "key signature", KEY_SIGNATURE_FIELDS, BYTE_FIELDS)
    global_key_id = _text(fields, "globalKeyId", "key signature") or None
    signed_key = _bytes(fields.get("signature"), "key signature")
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


_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/= \t\r\n]")


def _go_line(text: str, start: int) -> tuple[str, int]:
    """Go pem.go getLine: the line at `start` without its newline, one \r before it and
    trailing spaces and tabs; and where the next line starts."""
    newline = text.find("\n", start)
    if newline < 0:
        return text[start:].rstrip(" \t"), len(text)
    stop = newline - 1 if newline > start and text[newline - 1] == "\r" else newline
    return text[start:stop].rstrip(" \t"), newline + 1


class _Pem:
    """A text prepared for Go's pem.Decode in linear time: where its lines start, which are
    header lines (`key: value`), where each END line and each character that is no base64
    stands, so that no block is ever searched or decoded twice."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]
        lines = [_go_line(text, start)[0] for start in self.starts]
        # The first line at or after each one that is not a header (len: none).
        self.body_from = [len(lines)] * (len(lines) + 1)
        for index in range(len(lines) - 1, -1, -1):
            self.body_from[index] = self.body_from[index + 1] if ":" in lines[index] else index
        self.lines = lines
        self.ends = [m.start() for m in re.finditer("\n-----END ", text)]
        self.bad = [m.start() for m in _NOT_BASE64.finditer(text)]

    def block(self, index: int) -> tuple[bytes | None, int]:
        """The block whose BEGIN line is line `index`: its bytes (None if Go rejects it), and
        the line Go starts again from (after the headers it consumed)."""
        type_line = self.lines[index][len("-----BEGIN ") : -len("-----")]
        body_line = self.body_from[index + 1]
        if body_line >= len(self.lines) or self.starts[body_line] >= len(self.text):
            return None, -1  # the text ends in the headers: no block at all
        rest = self.starts[body_line]
        if body_line == index + 1 and self.text.startswith("-----END ", rest):
            end, trailer = rest, rest + len("-----END ")
        else:
            found = bisect.bisect_left(self.ends, rest)
            if found == len(self.ends):
                return None, -1  # no END after it, nor after any later BEGIN
            end, trailer = self.ends[found], self.ends[found] + len("\n-----END ")
        closing = type_line + "-----"
        line, _ = _go_line(self.text, trailer)
        if line != closing:
            return None, body_line
        bad = bisect.bisect_left(self.bad, rest)
        if bad < len(self.bad) and self.bad[bad] < end:
            return None, body_line  # a character Go's base64 refuses (a later BEGIN line)
        body = re.sub(r"[ \t\r\n]", "", self.text[rest:end])
        try:
            return base64.b64decode(body, validate=True), body_line
        except (binascii.Error, ValueError):
            return None, body_line


def _first_pem_block(pem: str) -> bytes | None:
    """The bytes of the first PEM block, as Go's pem.Decode finds it (its type not checked):
    a `-----BEGIN T-----` line, headers, a body of base64, and the first `-----END ` line after
    it, which must name T and end there; a block Go rejects makes it start again after that
    block's headers. Linear time, however many BEGIN lines the text has."""
    prepared = _Pem(pem)
    index = 0
    while index < len(prepared.lines):
        line = prepared.lines[index]
        if line.startswith("-----BEGIN ") and line.endswith("-----") and len(line) >= 16:
            data, again = prepared.block(index)
            if data is not None:
                return data
            if again < 0:
                return None
            index = max(again, index + 1)
        else:
            index += 1
    return None


_RSA_ENCRYPTION = bytes.fromhex("06092a864886f70d010101")  # OID 1.2.840.113549.1.1.1


def _is_rsa_subject_public_key_info(der: bytes) -> bool:
    """A SubjectPublicKeyInfo is a SEQUENCE whose first element is a SEQUENCE (the algorithm);
    a PKCS#1 key's first element is an INTEGER (the modulus). Go's ParsePKIXPublicKey knows
    RSA only as rsaEncryption: an RSASSA-PSS key (its own OID) is refused there."""
    if len(der) < 4 or der[0] != 0x30:
        return False
    start = 2 + (der[1] & 0x7F if der[1] & 0x80 else 0)
    if start + 2 + len(_RSA_ENCRYPTION) > len(der) or der[start] != 0x30:
        return False
    return der[start + 2 : start + 2 + len(_RSA_ENCRYPTION)] == _RSA_ENCRYPTION


def app_public_key(pem: str) -> Any:
    """The application's key as kotskinds parsePublicKeyRSA reads it: the first PEM block,
    whatever its type line says, holding a SubjectPublicKeyInfo (x509.ParsePKIXPublicKey: a
    PKCS#1 `RSA PUBLIC KEY` is refused) of an RSA key Go accepts (1024 bits at least since Go
    1.24, an odd exponent)."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    der = _first_pem_block(pem)
    if der is None or not _is_rsa_subject_public_key_info(der):
        raise _damaged("public key")
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, UnsupportedAlgorithm):
        raise _damaged("public key") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise _damaged("public key")
    exponent = key.public_numbers().e
    if key.key_size < 1024 or exponent % 2 == 0 or exponent < 3:
        raise _damaged("public key")
    return key


def verify_chain(signature: bytes, version: str, keys: Any) -> SignedData:
    """Check the spec's signature: a trusted global key signed the application's key, which
    signed the license data (kotskinds DecodeLicenseSignature, ValidateLicense). Raises
    LicenseError saying which link broke."""
    v2 = version == V1BETA2
    algorithm = _algorithm(version)
    if not signature:
        raise _missing("signature")
    outer = _struct(signature, "signature", OUTER_FIELDS, BYTE_FIELDS)
    license_data = _bytes(outer.get("licenseData"), "signed data")
    inner_json = _bytes(outer.get("innerSignature"), "inner signature")
    inner = _struct(inner_json, "inner signature", INNER_FIELDS, BYTE_FIELDS)
    app_key_pem = _text(inner, "publicKey", "inner signature")
    if not app_key_pem:
        raise LicenseError(Reason.SIGNATURE_INVALID, "The license signature has no public key.")
    app_key = app_public_key(app_key_pem)
    key_signature = _bytes(inner.get("v2KeySignature" if v2 else "keySignature"), "key signature")
    key_name = _trusted_signer(key_signature, app_key_pem, keys, algorithm)
    license_signature = _bytes(
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
        signature = entry["signature"]
        if not signature:
            continue  # kotskinds checks only the entitlements that carry one
        message = entry["value"].go_text().encode()
        if not _verifies(signed.app_key, signature, message, signed.algorithm):
            raise LicenseError(
                Reason.SIGNATURE_INVALID,
                f"The license signature is not valid: the entitlement {name} does "
                "not match its signature. Download the license again.",
                field=f"entitlements.{name}",
            )


def signed_json(signed: SignedData) -> dict[str, Any]:
    """The signed license data, as encoding/json reads it (kotskinds compareLicenseData)."""
    try:
        data = gojson.loads(signed.license_data)
    except gojson.GoJsonError:
        raise _damaged("signed data") from None
    if not isinstance(data, dict):
        raise _damaged("signed data")
    return data
