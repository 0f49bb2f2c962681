"""Verify a Replicated license as Replicated's own Go code does (kotskinds and kots), and
stricter where that is safer. No Flask here.

The steps, and the Go that decides each (kotskinds apis/kots/v1beta1|v1beta2
license_types.go, pkg/crypto/signature.go; kots pkg/license/signature.go and license.go):
1. Read the file as kots does (yaml_v2.py) and decode the spec into Go's types: a value of
   the wrong type cannot be read by Replicated, so the license is refused, naming the field.
2. The global key (by globalKeyId) signed the application's key; the application's key
   signed the license data: RSA-PSS, MD5 for v1beta1 and SHA-256 for v1beta2.
3. Each visible entitlement that carries a signature for its version (v1 or v2) is signed
   over its value as Go prints it.
4. The signed data is decoded into Go's types, and every value is taken from it.
5. Deliberately stricter than Replicated, which only logs a warning: the visible spec must
   say what the signed data says, field by field and entitlement by entitlement, or the
   license is `tampered`. The file must not repeat a key.
6. Expiry as kots reads it: the `expires_at` entitlement, of value type String, an RFC 3339
   time with a zone; expired when strictly before now.
"""

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from pathlib import Path

from . import yaml_v2
from .id_rule import InvalidId, clean_id, license_id_hint
from .yaml_v2 import YamlRefused

# cryptography is imported where it is used: `setup-wizard status` and most requests never
# read a license, and should not pay for loading it.

KEYS_DIR = Path(__file__).parent / "keys"

# Replicated's global signing keys, by the id a license names in its key signature.
GLOBAL_KEYS = {
    "bdee56560cfb43c9b28bf98eacafa646": "production",
    "1d3f7f6b50714fe7b895554dd65773b0": "dev",
    "de2c275656d04b1bb0f15cf70f0ea2a2": "staging",
}
SUPPORTED_VERSIONS = ("kots.io/v1beta1", "kots.io/v1beta2")

V1BETA1, V1BETA2 = SUPPORTED_VERSIONS

MAX_LICENSE_BYTES = 1024 * 1024


class Reason(StrEnum):
    """Why a license was accepted or refused: the `reason` code of the CLI and the API."""

    OK = "ok"
    EXPIRED = "expired"
    SIGNATURE_INVALID = "signature_invalid"
    TAMPERED = "tampered"
    WRONG_APP = "wrong_app"
    NOT_A_LICENSE = "not_a_license"
    UNSUPPORTED_VERSION = "unsupported_version"


class LicenseError(Exception):
    """A license refused before it could be verified; carries the reason and the admin's words."""

    def __init__(self, reason, message, field=None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Entitlement:
    """One license field, as signed."""

    name: str
    title: str | None
    value: object
    value_type: str | None
    hidden: bool


@dataclass(frozen=True)
class License:
    """What a license says, every value taken from its signed data."""

    license_id: str
    app_slug: str | None
    customer_id: str | None
    customer_name: str | None
    customer_email: str | None
    license_type: str | None
    channel_id: str | None
    channel_name: str | None
    license_sequence: int | None
    expires_at: datetime | None
    version: str
    key: str
    entitlements: tuple[Entitlement, ...] = field(default=())

    @property
    def license_id_hint(self):
        """The license id as it may be shown: its last four characters."""
        return license_id_hint(self.license_id)

    @property
    def visible_entitlements(self):
        """The entitlements the customer may see; hidden ones are never shown or stored."""
        return tuple(e for e in self.entitlements if not e.hidden)

    def summary(self, source):
        """The columns of the stored license summary."""
        return {
            "app_slug": self.app_slug,
            "customer_name": self.customer_name,
            "license_type": self.license_type,
            "channel_name": self.channel_name,
            "expires_at": self.expires_at,
            "signing_key": self.key,
            "license_version": self.version,
            "license_sequence": self.license_sequence,
            "entitlements": [
                {"name": e.name, "title": e.title, "value": e.value, "value_type": e.value_type}
                for e in self.visible_entitlements
            ],
            "source": source,
        }


@dataclass(frozen=True)
class Verdict:
    """The outcome of verifying one license: the reason code, the admin's words, the license."""

    reason: Reason
    message: str
    license: License | None = None
    field: str | None = None  # for `tampered`: the first field that differs from the signed data

    @property
    def valid(self):
        return self.reason is Reason.OK

    def as_json(self, show_license_id=False):
        """The document `setup-wizard verify-license --json` prints. The license id doubles as
        a credential: only its last four characters, unless asked for."""
        lic = self.license
        return {
            "valid": self.valid,
            "reason": str(self.reason),
            "message": self.message,
            "license_id": (lic.license_id if show_license_id else lic.license_id_hint)
            if lic
            else None,
            "app_slug": lic.app_slug if lic else None,
            "customer_id": lic.customer_id if lic else None,
            "customer_name": lic.customer_name if lic else None,
            "license_type": lic.license_type if lic else None,
            "expires_at": lic.expires_at.isoformat() if lic and lic.expires_at else None,
            "key": lic.key if lic else None,
            "version": lic.version if lic else None,
        }


# --- Trusted keys -------------------------------------------------------------------------


@dataclass(frozen=True)
class TrustedKeys:
    """The global keys this installation trusts: Replicated's by id, and custom PEM files."""

    by_id: dict  # globalKeyId -> (name, public key)
    custom: tuple  # (name, public key) pairs, tried for any id not in by_id
    names: tuple

    def candidates(self, global_key_id):
        if global_key_id in self.by_id:
            return [self.by_id[global_key_id]]
        return list(self.custom)


def load_trusted_keys(setting="production"):
    """Parse WIZARD_LICENSE_KEYS: a comma list of production, dev, staging or PEM file paths."""
    by_id, custom, names = {}, [], []
    ids_by_name = {name: key_id for key_id, name in GLOBAL_KEYS.items()}
    for entry in (part.strip() for part in (setting or "production").split(",")):
        if not entry:
            continue
        if entry in ids_by_name:
            by_id[ids_by_name[entry]] = (entry, _load_public_key(KEYS_DIR / f"{entry}.pem"))
            names.append(entry)
            continue
        path = Path(entry).expanduser()
        if not path.is_file():
            raise ValueError(
                f"WIZARD_LICENSE_KEYS: {entry!r} is neither production, dev, staging "
                "nor a readable PEM file"
            )
        try:
            key = _load_public_key(path)
        except ValueError as error:
            raise ValueError(
                f"WIZARD_LICENSE_KEYS: {path} is not an RSA public key: {error}"
            ) from None
        custom.append((path.name, key))
        names.append(path.name)
    if not names:
        raise ValueError("WIZARD_LICENSE_KEYS names no key")
    return TrustedKeys(by_id=by_id, custom=tuple(custom), names=tuple(names))


def _load_public_key(path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = serialization.load_pem_public_key(Path(path).read_bytes())
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA key")
    return key


@dataclass(frozen=True)
class LicensePolicy:
    """What this installation accepts: trusted keys, the expected app, the largest file."""

    keys: TrustedKeys
    expected_app: str | None = None
    max_bytes: int = MAX_LICENSE_BYTES

    @classmethod
    def for_app(cls, app):
        """The policy of a Flask app, built from its settings once, on first use (it loads
        keys). Raises ValueError naming WIZARD_LICENSE_KEYS when a key cannot be loaded."""
        policy = app.extensions.get("license_policy")
        if policy is None:
            policy = app.extensions["license_policy"] = cls.from_settings(app.config)
        return policy

    @classmethod
    def from_settings(cls, settings):
        """Build the policy from the WIZARD_* settings (a plain mapping)."""
        return cls(
            keys=load_trusted_keys(settings.get("WIZARD_LICENSE_KEYS") or "production"),
            expected_app=settings.get("WIZARD_EXPECTED_APP_SLUG") or None,
            max_bytes=settings.get("MAX_CONTENT_LENGTH") or MAX_LICENSE_BYTES,
        )

    def documents(self, data, noun="file"):
        """The licenses in a file (raises LicenseError when it holds none). `noun` is what
        the admin gave: a "file", or pasted "text"."""
        return license_documents(data, self.max_bytes, noun)

    def verify(self, data, choice=0, now=None, noun="file"):
        """Verify the `choice`-th license of a file under this policy."""
        return verify_license(data, self.keys, self.expected_app, now, choice, self.max_bytes, noun)

    def verify_document(self, document, now=None):
        """Verify one license document of a file under this policy."""
        return verify_document(document, self.keys, self.expected_app, now)


# --- Reading the file ---------------------------------------------------------------------


def _refuse(message):
    return LicenseError(Reason.NOT_A_LICENSE, message)


def read_documents(data, max_bytes=MAX_LICENSE_BYTES, noun="file"):
    """Return every document in `data` (bytes or text), refusing anything hostile, and anything
    Replicated's Go code could not read."""
    if isinstance(data, bytes):
        if len(data) > max_bytes:
            raise _refuse(f"This {noun} is larger than {max_bytes} bytes; a license is a few KB.")
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise _refuse(f"This {noun} is not text: a license is a YAML text file.") from None
    elif len(data.encode("utf-8", "surrogatepass")) > max_bytes:
        raise _refuse(f"This {noun} is larger than {max_bytes} bytes; a license is a few KB.")
    if "\x00" in data:
        raise _refuse(f"This {noun} is not text: a license is a YAML text file.")
    if not data.strip():
        raise _refuse(f"This {noun} is empty.")
    try:
        return yaml_v2.read_documents(data, noun)
    except YamlRefused as refused:
        raise _refuse(str(refused)) from None


def _describe(document):
    if not isinstance(document, dict):
        return f"a YAML {type(document).__name__}, not a Kubernetes-style document"
    kind, api = document.get("kind"), document.get("apiVersion")
    if kind:
        return f"a {kind} ({api or 'no apiVersion'})"
    return "YAML without a kind"


def license_documents(data, max_bytes=MAX_LICENSE_BYTES, noun="file"):
    """Return the `kind: License` documents of a file; refuse a file that holds none.

    Every one is offered (Replicated reads only a file's first document): a file that bundles
    several customers' licenses lets the admin choose.
    """
    documents = read_documents(data, max_bytes, noun)
    licenses = [d for d in documents if isinstance(d, dict) and d.get("kind") == "License"]
    if not licenses:
        found = ", ".join(sorted({_describe(d) for d in documents})) or "nothing"
        raise _refuse(
            f"This {noun} is not a Replicated license: it holds {found}. "
            "Download the license file (kind: License) from the vendor portal."
        )
    return licenses


def document_label(document):
    """How to tell licenses in one file apart: customer, app and the end of the license id."""
    spec = document.get("spec") if isinstance(document.get("spec"), dict) else {}
    license_id = str(spec.get("licenseID") or "")
    parts = [str(spec.get("customerName") or "unnamed customer"), str(spec.get("appSlug") or "?")]
    if license_id:
        parts.append(f"license {license_id_hint(license_id)}")
    return " · ".join(parts)


# --- The spec in Go's types (kotskinds LicenseSpec, EntitlementField, EntitlementValue) ------

STRING_FIELDS = (
    "appSlug",
    "endpoint",
    "replicatedProxyDomain",
    "customerID",
    "customerName",
    "customerEmail",
    "channelID",
    "channelName",
    "licenseID",
    "licenseType",
)
INT_FIELDS = ("licenseSequence",)
BOOL_FIELDS = (
    "isAirgapSupported",
    "isGitOpsSupported",
    "isIdentityServiceSupported",
    "isGeoaxisSupported",
    "isSnapshotSupported",
    "isDisasterRecoverySupported",
    "isSupportBundleUploadSupported",
    "isSemverRequired",
    "isEmbeddedClusterDownloadEnabled",
    "isEmbeddedClusterMultiNodeEnabled",
    "isEmbeddedClusterRookEnabled",
)
CHANNEL_STRINGS = ("channelID", "channelName", "channelSlug", "endpoint", "replicatedProxyDomain")
CHANNEL_BOOLS = ("isDefault", "isSemverRequired")
ENTITLEMENT_STRINGS = ("title", "description", "valueType")
KNOWN_FIELDS = {
    *STRING_FIELDS,
    *INT_FIELDS,
    *BOOL_FIELDS,
    "channels",
    "entitlements",
    "signature",
}
INT64 = range(-(2**63), 2**63)


@dataclass(frozen=True)
class Value:
    """An entitlement value as Go holds it: kind is int, string, bool, or unset (a v1beta1
    entitlement without a value). Equal only to a value of the same kind: 1 is not true."""

    kind: str
    value: object = None

    def go_text(self):
        """The value as Go's fmt.Sprint prints it: what an entitlement signature covers."""
        if self.kind == "unset":
            return "<nil>"
        if self.kind == "bool":
            return "true" if self.value else "false"
        return str(self.value)


def _shown(value):
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'the text "{value[:40]}"'
    if isinstance(value, (int, float)):
        return f"the number {value}"
    return "a list" if isinstance(value, list) else "a mapping"


def _wrong_type(where, path, wanted, value):
    return LicenseError(
        Reason.NOT_A_LICENSE,
        f"The {where}'s field {path} must be {wanted}, but it is {_shown(value)}: "
        "Replicated cannot read such a license. Ask your vendor for the license file again.",
        field=path,
    )


def _go_string(value, where, path):
    if value is None:
        return ""  # Go keeps the zero value for a null
    if not isinstance(value, str):
        raise _wrong_type(where, path, "text", value)
    return value


def _go_bool(value, where, path):
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _wrong_type(where, path, "true or false", value)
    return value


def _go_int64(value, where, path):
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value not in INT64:
        raise _wrong_type(where, path, "a whole number", value)
    return value


def _go_value(entry, version, where, path):
    """kotskinds EntitlementValue: text, a whole number or true/false; nothing else."""
    if "value" not in entry:
        # v1beta1 remembers that no value was set (it prints as <nil>); v1beta2's zero
        # EntitlementValue is the whole number 0.
        return Value("unset") if version == V1BETA1 else Value("int", 0)
    value = entry["value"]
    if isinstance(value, bool):
        return Value("bool", value)
    if isinstance(value, str):
        return Value("string", value)
    if isinstance(value, int) and value in INT64:
        return Value("int", value)
    raise _wrong_type(where, f"{path}.value", "text, a whole number, or true or false", value)


def _object(value, where, path):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _wrong_type(where, path, "a mapping", value)
    return value


def _comparable(value):
    """An unknown field, for the comparison: empty values are as good as absent (Go leaves
    them out of the signed JSON), and true is never equal to 1."""
    if isinstance(value, dict):
        out = {key: _comparable(item) for key, item in value.items()}
        return {key: item for key, item in out.items() if item not in (None, "", {}, [], False)}
    if isinstance(value, list):
        return [_comparable(item) for item in value]
    if isinstance(value, bool):
        return ("bool", value)
    return value


def typed_spec(spec, version, where="license"):
    """The spec as Go decodes it into kotskinds' LicenseSpec: zero values for what is missing
    or null, and LicenseError (naming the field) for a value Go cannot hold."""
    typed = {name: _go_string(spec.get(name), where, f"spec.{name}") for name in STRING_FIELDS}
    typed["licenseSequence"] = _go_int64(spec.get("licenseSequence"), where, "spec.licenseSequence")
    typed.update({name: _go_bool(spec.get(name), where, f"spec.{name}") for name in BOOL_FIELDS})
    channels = spec.get("channels")
    if channels is not None and not isinstance(channels, list):
        raise _wrong_type(where, "spec.channels", "a list", channels)
    typed["channels"] = []
    for index, channel in enumerate(channels or []):
        path = f"spec.channels.{index}"
        channel = _object(channel, where, path)
        typed_channel = {
            name: _go_string(channel.get(name), where, f"{path}.{name}") for name in CHANNEL_STRINGS
        }
        typed_channel.update(
            {name: _go_bool(channel.get(name), where, f"{path}.{name}") for name in CHANNEL_BOOLS}
        )
        typed["channels"].append(typed_channel)
    typed["entitlements"] = {}
    for name, entry in _object(spec.get("entitlements"), where, "spec.entitlements").items():
        path = f"spec.entitlements.{name}"
        entry = _object(entry, where, path)
        signature = _object(entry.get("signature"), where, f"{path}.signature")
        key = "v1" if version == V1BETA1 else "v2"  # each version's struct has one of the two
        typed["entitlements"][name] = {
            **{
                key_: _go_string(entry.get(key_), where, f"{path}.{key_}")
                for key_ in ENTITLEMENT_STRINGS
            },
            "isHidden": _go_bool(entry.get("isHidden"), where, f"{path}.isHidden"),
            "value": _go_value(entry, version, where, path),
            "signature": _go_string(signature.get(key), where, f"{path}.signature.{key}"),
        }
    typed["signature"] = _go_string(spec.get("signature"), where, "spec.signature")
    typed["unknown"] = {
        key: _comparable(value) for key, value in spec.items() if key not in KNOWN_FIELDS
    }
    return typed


def _first_difference(visible, signed):
    """The first field where the visible spec says something else than the signed one."""
    for name in (*STRING_FIELDS, *INT_FIELDS, *BOOL_FIELDS):
        if visible[name] != signed[name]:
            return name
    if len(visible["channels"]) != len(signed["channels"]):
        return "channels"
    for index, (mine, theirs) in enumerate(
        zip(visible["channels"], signed["channels"], strict=True)
    ):
        for name in (*CHANNEL_STRINGS, *CHANNEL_BOOLS):
            if mine[name] != theirs[name]:
                return f"channels.{index}.{name}"
    for name in sorted(set(visible["entitlements"]) | set(signed["entitlements"])):
        mine, theirs = visible["entitlements"].get(name), signed["entitlements"].get(name)
        if mine is None or theirs is None:
            return f"entitlements.{name}"
        for key in (*ENTITLEMENT_STRINGS, "isHidden", "value"):
            if mine[key] != theirs[key]:
                return f"entitlements.{name}.{key}"
    for name in sorted(set(visible["unknown"]) | set(signed["unknown"])):
        if visible["unknown"].get(name) != signed["unknown"].get(name):
            return name
    return None


# --- Expiry, as kots pkg/license/license.go LicenseIsExpired reads it ------------------------

# Go's time.Parse(time.RFC3339, ...): a T, a zone (Z or ±hh:mm), a fraction after . or ,.
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{1,2}):(\d{2}):(\d{2})(?:[.,](\d+))?"
    r"(?:(Z)|([+-])(\d{2}):(\d{2}))"
)


def parse_rfc3339(text):
    """A time in RFC 3339 form with a zone, as Go's time.Parse reads it; ValueError if not."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not an RFC 3339 time with a zone")
    year, month, day, hour, minute, second, fraction, utc, sign, zone_h, zone_m = match.groups()
    zone = UTC
    if not utc:
        offset = timedelta(hours=int(zone_h), minutes=int(zone_m))
        zone = timezone(-offset if sign == "-" else offset)
    microseconds = int((fraction or "0")[:6].ljust(6, "0"))
    moment = datetime(
        int(year), int(month), int(day), int(hour), int(minute), int(second), microseconds, zone
    )
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        # Go reads times past year 9999 in UTC; Python's datetime ends there, a moment later.
        return (
            datetime.max.replace(tzinfo=UTC)
            if moment.year == 9999
            else datetime.min.replace(tzinfo=UTC)
        )


def _expiry(entitlements, where="license"):
    """When the license expires (None: never), from its typed entitlements."""
    entry = entitlements.get("expires_at")
    if entry is None:
        return None
    if entry["valueType"] not in ("", "String"):
        raise LicenseError(
            Reason.NOT_A_LICENSE,
            f"The {where}'s expires_at entitlement has the value type {entry['valueType']}, "
            "but Replicated reads an expiry only of the type String. Ask your vendor.",
            field="entitlements.expires_at",
        )
    value = entry["value"]
    if value.kind != "string":
        raise LicenseError(
            Reason.NOT_A_LICENSE,
            f"The {where}'s expires_at entitlement is {value.go_text()}, not a time in text. "
            "Ask your vendor.",
            field="entitlements.expires_at",
        )
    if value.value == "":
        return None
    try:
        return parse_rfc3339(value.value)
    except ValueError:
        raise LicenseError(
            Reason.NOT_A_LICENSE,
            f"The {where}'s expires_at entitlement, {value.value!r}, is not a time in RFC 3339 "
            "form with a zone (such as 2030-07-27T00:00:00Z), so Replicated cannot read it. "
            "Ask your vendor.",
            field="entitlements.expires_at",
        ) from None


def expiry_of(entitlements):
    """When a license expires, from entitlements as JSON (the Replicated SDK reports them so):
    None for never. Raises ValueError when the value is there but is not a time."""
    entry = entitlements.get("expires_at") if isinstance(entitlements, dict) else None
    raw = entry.get("value") if isinstance(entry, dict) else None
    if raw in (None, ""):
        return None
    if not isinstance(raw, str):
        raise ValueError(f"{raw!r} is not a time")
    return parse_rfc3339(raw)


# --- Signatures ------------------------------------------------------------------------------

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


def _signed_id(typed, key, what, required=False):
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


def verify_document(document, keys, expected_app=None, now=None):
    """Verify one `kind: License` document; return a Verdict (never raise for a bad license)."""
    try:
        return _verify(document, keys, expected_app, now or datetime.now(UTC))
    except LicenseError as error:
        return Verdict(error.reason, error.message, field=error.field)


def verify_license(
    data, keys, expected_app=None, now=None, choice=0, max_bytes=MAX_LICENSE_BYTES, noun="file"
):
    """Read a license file and verify its license (the `choice`-th when it holds several)."""
    try:
        documents = license_documents(data, max_bytes, noun)
    except LicenseError as error:
        return Verdict(error.reason, error.message)
    if not 0 <= choice < len(documents):
        return Verdict(
            Reason.NOT_A_LICENSE,
            f"This {noun} holds {len(documents)} licenses; "
            f"there is no license number {choice + 1}.",
        )
    return verify_document(documents[choice], keys, expected_app, now)


def _verify(document, keys, expected_app, now):
    version = document.get("apiVersion")
    if version not in SUPPORTED_VERSIONS:
        raise LicenseError(
            Reason.UNSUPPORTED_VERSION,
            f"This license has apiVersion {version or '(none)'}; this wizard "
            f"verifies {' and '.join(SUPPORTED_VERSIONS)}. Ask the vendor for a "
            "current license file.",
        )
    spec = document.get("spec")
    if not isinstance(spec, dict):
        raise LicenseError(Reason.NOT_A_LICENSE, "This license has no spec section.")
    # 1: what kots would load (kotskinds pkg/licensewrapper LoadLicenseFromBytes).
    visible = typed_spec(spec, version)
    from cryptography.hazmat.primitives import hashes, serialization

    v2 = version == V1BETA2
    algorithm = hashes.SHA256() if v2 else hashes.MD5()  # noqa: S303 - Replicated's v1 scheme

    outer = _json(_b64(visible["signature"] or None, "signature"), "signature")
    license_data = _b64(outer.get("licenseData"), "signed data")
    inner = _json(_b64(outer.get("innerSignature"), "inner signature"), "inner signature")
    app_key_pem = inner.get("publicKey")
    if not isinstance(app_key_pem, str):
        raise LicenseError(Reason.SIGNATURE_INVALID, "The license signature has no public key.")
    key_signature = _json(
        _b64(inner.get("v2KeySignature" if v2 else "keySignature"), "key signature"),
        "key signature",
    )

    # 2: a trusted global key signed the application's key, which signed the license data.
    global_key_id = key_signature.get("globalKeyId")
    if global_key_id is not None and not isinstance(global_key_id, str):
        raise _damaged("key signature")  # Go's json.Unmarshal refuses it for its string field
    signed_key = _b64(key_signature.get("signature"), "key signature")
    key_name = next(
        (
            name
            for name, key in keys.candidates(global_key_id)
            if _verifies(key, signed_key, app_key_pem.encode(), algorithm)
        ),
        None,
    )
    if key_name is None:
        known = GLOBAL_KEYS.get(global_key_id)
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

    # 3: every visible entitlement signed for this version, over its value as Go prints it.
    for name, entry in sorted(visible["entitlements"].items()):
        if not entry["signature"]:
            continue
        signature = _b64(entry["signature"], f"signature of the entitlement {name}")
        if not _verifies(app_key, signature, entry["value"].go_text().encode(), algorithm):
            raise LicenseError(
                Reason.SIGNATURE_INVALID,
                f"The license signature is not valid: the entitlement {name} does "
                "not match its signature. Download the license again.",
                field=f"entitlements.{name}",
            )

    # 4: the signed data, in Go's types; every value comes from it.
    signed = _json(license_data, "signed data")
    signed_spec = signed.get("spec")
    if not isinstance(signed_spec, dict) or signed.get("kind") != "License":
        raise LicenseError(Reason.SIGNATURE_INVALID, "The signed license data is not a license.")
    truth = typed_spec(signed_spec, version, where="signed license data")

    # 5: stricter than Replicated: what the file shows must be what was signed.
    if signed.get("apiVersion") not in (None, version):
        raise LicenseError(
            Reason.TAMPERED,
            "This license was edited after it was signed: apiVersion differs "
            "from the signed value. Use the original file from your vendor.",
        )
    difference = _first_difference(visible, truth)
    if difference:
        raise LicenseError(
            Reason.TAMPERED,
            f"This license was edited after it was signed: {difference} differs "
            "from the signed value. Use the original file from your vendor.",
            field=difference,
        )

    lic = License(
        license_id=_signed_id(truth, "licenseID", "license ID", required=True),
        app_slug=truth["appSlug"] or None,
        customer_id=_signed_id(truth, "customerID", "customer ID"),
        customer_name=truth["customerName"] or None,
        customer_email=truth["customerEmail"] or None,
        license_type=truth["licenseType"] or None,
        channel_id=truth["channelID"] or None,
        channel_name=truth["channelName"] or None,
        license_sequence=truth["licenseSequence"],
        expires_at=_expiry(truth["entitlements"]),
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
    )

    # 6: the application and the expiry (kots: strictly before now is expired).
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
