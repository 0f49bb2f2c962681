"""Read a Replicated license file and verify it as Replicated's own tools do. No Flask here."""

import base64
import binascii
import functools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from .id_rule import InvalidId, clean_id, license_id_hint

# PyYAML and cryptography are imported where they are used: `setup-wizard status` and most
# requests never read a license, and should not pay for loading them.

KEYS_DIR = Path(__file__).parent / "keys"

# Replicated's global signing keys, by the id a license names in its key signature.
GLOBAL_KEYS = {
    "bdee56560cfb43c9b28bf98eacafa646": "production",
    "1d3f7f6b50714fe7b895554dd65773b0": "dev",
    "de2c275656d04b1bb0f15cf70f0ea2a2": "staging",
}
SUPPORTED_VERSIONS = ("kots.io/v1beta1", "kots.io/v1beta2")

MAX_LICENSE_BYTES = 1024 * 1024
MAX_DEPTH = 32  # a real license nests five levels deep
MAX_NODES = 100_000
MAX_SCALAR_CHARS = 256 * 1024


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


# --- Reading the file, safely ---------------------------------------------------------------


@functools.cache
def _loaders():
    """The YAML loaders: libyaml's safe loader for events, and one that leaves dates as text,
    as Replicated's Go code reads them."""
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):
        pass

    Loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in base.yaml_implicit_resolvers.items()
    }
    return yaml, base, Loader


_PLAIN_TAGS = {None, "!"} | {
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "bool", "null", "float", "map", "seq")
}


def _refuse(message):
    return LicenseError(Reason.NOT_A_LICENSE, message)


def _check_events(text, noun="file"):
    """Walk the YAML events first: refuse aliases, custom tags, deep nesting and huge values
    before anything is built, so a hostile file costs little time and memory."""
    yaml, event_loader, _ = _loaders()
    depth = nodes = 0
    try:
        for event in yaml.parse(text, Loader=event_loader):
            if isinstance(event, yaml.AliasEvent):
                raise _refuse(f"This {noun} uses YAML aliases (*name); a license never does.")
            if isinstance(event, yaml.NodeEvent):
                nodes += 1
                if getattr(event, "tag", None) not in _PLAIN_TAGS:
                    raise _refuse(
                        f"This {noun} uses the YAML tag {event.tag}; a license never does."
                    )
                if getattr(event, "anchor", None) is not None:
                    raise _refuse(f"This {noun} uses YAML anchors (&name); a license never does.")
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise _refuse(
                        f"This {noun} nests more than {MAX_DEPTH} levels deep; "
                        "a license never does."
                    )
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            elif isinstance(event, yaml.ScalarEvent) and len(event.value) > MAX_SCALAR_CHARS:
                raise _refuse(f"This {noun} holds a value far larger than any license field.")
            if nodes > MAX_NODES:
                raise _refuse(f"This {noun} is far larger than a license.")
    except yaml.YAMLError as error:
        raise _refuse(f"This {noun} is not valid YAML: {_yaml_problem(error)}.") from None


def _yaml_problem(error):
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or "it cannot be read"
    return f"{problem} at line {mark.line + 1}" if mark else problem


def read_documents(data, max_bytes=MAX_LICENSE_BYTES, noun="file"):
    """Return every YAML document in `data` (bytes or text), refusing anything hostile."""
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
    _check_events(data, noun)
    yaml, _, loader = _loaders()
    try:
        return [doc for doc in yaml.load_all(data, Loader=loader) if doc is not None]
    except (yaml.YAMLError, RecursionError, ValueError) as error:
        raise _refuse(f"This {noun} is not valid YAML: {_yaml_problem(error)}.") from None


def _describe(document):
    if not isinstance(document, dict):
        return f"a YAML {type(document).__name__}, not a Kubernetes-style document"
    kind, api = document.get("kind"), document.get("apiVersion")
    if kind:
        return f"a {kind} ({api or 'no apiVersion'})"
    return "YAML without a kind"


def license_documents(data, max_bytes=MAX_LICENSE_BYTES, noun="file"):
    """Return the `kind: License` documents of a file; refuse a file that holds none."""
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
        parts.append(f"license …{license_id[-4:]}")
    return " · ".join(parts)


# --- Verifying ------------------------------------------------------------------------------


def _b64(value, what):
    if not isinstance(value, str) or not value:
        raise LicenseError(
            Reason.SIGNATURE_INVALID,
            f"The license signature is missing its {what}. Download the license "
            "again from the vendor portal.",
        )
    try:
        return base64.b64decode(value, validate=False)
    except (binascii.Error, ValueError):
        raise LicenseError(
            Reason.SIGNATURE_INVALID,
            f"The license signature's {what} is damaged. Download the license "
            "again from the vendor portal.",
        ) from None


def _json(raw, what):
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise LicenseError(
            Reason.SIGNATURE_INVALID,
            f"The license signature's {what} is damaged. Download the license "
            "again from the vendor portal.",
        ) from None
    if not isinstance(value, dict):
        raise LicenseError(Reason.SIGNATURE_INVALID, f"The license signature's {what} is damaged.")
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


def go_text(value):
    """The value's text as Go's fmt prints it: what an entitlement signature covers."""
    if value is None:
        return "<nil>"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _comparable(value):
    """Normalize for the visible-versus-signed comparison: no signatures, no empty values,
    integral floats as integers (YAML may show 1.232435e+06 where the signature has 1232435)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "signature":
                continue
            item = _comparable(item)
            if item in (None, "", False, {}, []):
                continue  # Go leaves empty values out of the signed JSON
            out[str(key)] = item
        return out
    if isinstance(value, list):
        return [_comparable(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _first_difference(visible, signed, path=""):
    if isinstance(visible, dict) and isinstance(signed, dict):
        for key in sorted(set(visible) | set(signed)):
            if key not in visible or key not in signed:
                return f"{path}{key}"
            found = _first_difference(visible[key], signed[key], f"{path}{key}.")
            if found:
                return found
        return None
    if isinstance(visible, list) and isinstance(signed, list) and len(visible) == len(signed):
        for index, (a, b) in enumerate(zip(visible, signed, strict=True)):
            found = _first_difference(a, b, f"{path}{index}.")
            if found:
                return found
        return None
    return None if visible == signed else path.rstrip(".") or "spec"


def expiry_of(entitlements):
    """When a license expires: its `expires_at` entitlement (RFC 3339), or None for never.

    Raises ValueError when the value is there but is not a date.
    """
    entry = entitlements.get("expires_at") if isinstance(entitlements, dict) else None
    raw = entry.get("value") if isinstance(entry, dict) else None
    if raw in (None, ""):
        return None
    moment = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _parse_expiry(entitlements):
    try:
        return expiry_of(entitlements)
    except ValueError:
        raw = entitlements["expires_at"]["value"]
        raise LicenseError(
            Reason.NOT_A_LICENSE, f"The license's expiry date {raw!r} is not a date."
        ) from None


def _text(value):
    return None if value in (None, "") else str(value)


def _signed_id(spec, key, what, required=False):
    """An id from the signed data, under the id rule every saved id follows."""
    value = spec.get(key)
    if value in (None, "") and not required:
        return None
    if not isinstance(value, str) or not value:
        raise LicenseError(Reason.NOT_A_LICENSE, f"The license has no {what} ({key}).")
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
    from cryptography.hazmat.primitives import hashes, serialization

    v2 = version == "kots.io/v1beta2"
    algorithm = hashes.SHA256() if v2 else hashes.MD5()  # noqa: S303 - Replicated's v1 scheme

    outer = _json(_b64(spec.get("signature"), "signature"), "signature")
    license_data = _b64(outer.get("licenseData"), "signed data")
    inner = _json(_b64(outer.get("innerSignature"), "inner signature"), "inner signature")
    app_key_pem = inner.get("publicKey")
    if not isinstance(app_key_pem, str):
        raise LicenseError(Reason.SIGNATURE_INVALID, "The license signature has no public key.")
    key_signature = _json(
        _b64(inner.get("v2KeySignature" if v2 else "keySignature"), "key signature"),
        "key signature",
    )

    # 1-2: a trusted global key signed the application's public key.
    global_key_id = key_signature.get("globalKeyId")
    signed_key = _b64(key_signature.get("signature"), "key signature")
    candidates = keys.candidates(global_key_id)
    key_name = next(
        (
            name
            for name, key in candidates
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

    # 3: the application's key signed the license data.
    license_signature = _b64(
        inner.get("v2LicenseSignature" if v2 else "licenseSignature"), "license signature"
    )
    if not _verifies(app_key, license_signature, license_data, algorithm):
        raise LicenseError(
            Reason.SIGNATURE_INVALID,
            "The license signature is not valid: the license data does not match "
            "its signature. Download the license again from the vendor portal.",
        )
    signed = _json(license_data, "signed data")
    signed_spec = signed.get("spec")
    if not isinstance(signed_spec, dict) or signed.get("kind") != "License":
        raise LicenseError(Reason.SIGNATURE_INVALID, "The signed license data is not a license.")

    # 4: each signed entitlement, over its value as Go prints it, taken from the signed data.
    entitlements = signed_spec.get("entitlements") or {}
    if not isinstance(entitlements, dict):
        raise LicenseError(Reason.SIGNATURE_INVALID, "The signed entitlements are damaged.")
    for name, entry in entitlements.items():
        signature = entry.get("signature") if isinstance(entry, dict) else None
        if not signature:
            continue
        raw = (signature.get("v2") or signature.get("v1")) if isinstance(signature, dict) else None
        value_signature = _b64(raw, f"signature of the entitlement {name}")
        if not _verifies(app_key, value_signature, go_text(entry.get("value")).encode(), algorithm):
            raise LicenseError(
                Reason.SIGNATURE_INVALID,
                f"The license signature is not valid: the entitlement {name} does "
                "not match its signature. Download the license again.",
            )

    # 5: what the file shows must be what was signed.
    if signed.get("apiVersion") not in (None, version):
        raise LicenseError(
            Reason.TAMPERED,
            "This license was edited after it was signed: apiVersion differs "
            "from the signed value. Use the original file from your vendor.",
        )
    difference = _first_difference(_comparable(spec), _comparable(signed_spec))
    if difference:
        raise LicenseError(
            Reason.TAMPERED,
            f"This license was edited after it was signed: {difference} differs "
            "from the signed value. Use the original file from your vendor.",
            field=difference,
        )

    license_id = _signed_id(signed_spec, "licenseID", "license ID", required=True)
    customer_id = _signed_id(signed_spec, "customerID", "customer ID")
    sequence = signed_spec.get("licenseSequence")
    lic = License(
        license_id=license_id,
        app_slug=_text(signed_spec.get("appSlug")),
        customer_id=customer_id,
        customer_name=_text(signed_spec.get("customerName")),
        customer_email=_text(signed_spec.get("customerEmail")),
        license_type=_text(signed_spec.get("licenseType")),
        channel_id=_text(signed_spec.get("channelID")),
        channel_name=_text(signed_spec.get("channelName")),
        license_sequence=sequence if isinstance(sequence, int) else None,
        expires_at=_parse_expiry(entitlements),
        version=version,
        key=key_name,
        entitlements=tuple(
            Entitlement(
                name=str(name),
                title=_text(entry.get("title")),
                value=entry.get("value"),
                value_type=_text(entry.get("valueType")),
                hidden=bool(entry.get("isHidden")),
            )
            for name, entry in sorted(entitlements.items())
            if isinstance(entry, dict)
        ),
    )

    if expected_app and lic.app_slug != expected_app:
        return Verdict(
            Reason.WRONG_APP,
            f"This license is for the application {lic.app_slug or '(none)'}, "
            f"not {expected_app}. Use the license issued for {expected_app}.",
            lic,
        )
    if lic.expires_at and lic.expires_at <= now:
        return Verdict(
            Reason.EXPIRED,
            f"This license expired on {lic.expires_at:%-d %b %Y}. Ask your vendor "
            "for a renewed license.",
            lic,
        )
    return Verdict(Reason.OK, "The license is valid.", lic)
