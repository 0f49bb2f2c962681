"""The spec in Go's types: kotskinds LicenseSpec, EntitlementField and EntitlementValue. A
value Go cannot hold is refused, naming the field; the visible spec is compared with the signed
one field by field.

Which keys fill which field depends on the decoder (gojson.py): the file's License is decoded
by sigs.k8s.io/json, which matches keys case-sensitively, except a v1beta1 entitlement, whose
own UnmarshalJSON uses encoding/json (any case); the signed license data is decoded by
encoding/json throughout (kotskinds compareLicenseData). `folded` says which one reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import gojson
from .times import parse_rfc3339
from .verdicts import LicenseError, Reason

SUPPORTED_VERSIONS = ("kots.io/v1beta1", "kots.io/v1beta2")
V1BETA1, V1BETA2 = SUPPORTED_VERSIONS

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
KNOWN_FIELDS = (
    *STRING_FIELDS,
    *INT_FIELDS,
    *BOOL_FIELDS,
    "channels",
    "entitlements",
    "signature",
)
ENTITLEMENT_FIELDS = (*ENTITLEMENT_STRINGS, "isHidden", "value", "signature")
CHANNEL_FIELDS = (*CHANNEL_STRINGS, *CHANNEL_BOOLS)
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


def _go_value(value, present, version, where, path):
    """kotskinds EntitlementValue: text, a whole number or true/false; nothing else."""
    if not present:
        # v1beta1 remembers that no value was set (it prints as <nil>); v1beta2's zero
        # EntitlementValue is the whole number 0.
        return Value("unset") if version == V1BETA1 else Value("int", 0)
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


def _typed_channels(channels: Any, where: str, folded: bool) -> list[dict[str, Any]]:
    if channels is not None and not isinstance(channels, list):
        raise _wrong_type(where, "spec.channels", "a list", channels)
    typed = []
    for index, channel in enumerate(channels or []):
        path = f"spec.channels.{index}"
        fields, _ = gojson.struct(_object(channel, where, path), CHANNEL_FIELDS, not folded)
        typed_channel = {
            name: _go_string(fields.get(name), where, f"{path}.{name}") for name in CHANNEL_STRINGS
        }
        typed_channel.update(
            {name: _go_bool(fields.get(name), where, f"{path}.{name}") for name in CHANNEL_BOOLS}
        )
        typed.append(typed_channel)
    return typed


def _signature_bytes(value: Any, where: str, path: str) -> bytes:
    """A []byte field: base64 text or a list of bytes (encoding/json); empty for null."""
    try:
        return gojson.go_bytes(value, path) or b""
    except gojson.GoJsonError:
        if not isinstance(value, str):
            raise _wrong_type(where, path, "base64 text", value) from None
        what = "signature" if path == "spec.signature" else f"signature at {path}"
        raise LicenseError(
            Reason.SIGNATURE_INVALID,
            f"The license's {what} is damaged (not base64). Download the license again from "
            "the vendor portal.",
            field=None if path == "spec.signature" else path.removeprefix("spec."),
        ) from None


def _typed_entitlement(entry: Any, version: str, where: str, path: str, folded: bool) -> dict:
    entry = _object(entry, where, path)
    # v1beta1's EntitlementField.UnmarshalJSON decodes with encoding/json: any case, always.
    fields, _ = gojson.struct(entry, ENTITLEMENT_FIELDS, not (folded or version == V1BETA1))
    key = "v1" if version == V1BETA1 else "v2"  # each version's struct has one of the two
    signature_fields, _ = gojson.struct(
        _object(fields.get("signature"), where, f"{path}.signature"),
        (key,),
        not (folded or version == V1BETA1),
    )
    # v1beta1 asks its raw map for "value" by exact name (raw["value"]); a `Value:` key fills
    # ValueRaw only, and the value counts as not set.
    has_value = "value" in entry if version == V1BETA1 else "value" in fields
    return {
        **{
            name: _go_string(fields.get(name), where, f"{path}.{name}")
            for name in ENTITLEMENT_STRINGS
        },
        "isHidden": _go_bool(fields.get("isHidden"), where, f"{path}.isHidden"),
        "value": _go_value(
            fields.get("value") if version != V1BETA1 else entry.get("value"),
            has_value,
            version,
            where,
            path,
        ),
        "signature": _signature_bytes(signature_fields.get(key), where, f"{path}.signature.{key}"),
    }


def _typed_entitlements(entitlements: Any, version: str, where: str, folded: bool) -> dict:
    return {
        name: _typed_entitlement(entry, version, where, f"spec.entitlements.{name}", folded)
        for name, entry in _object(entitlements, where, "spec.entitlements").items()
    }


def typed_spec(
    spec: dict[str, Any], version: str, where: str = "license", folded: bool = False
) -> dict[str, Any]:
    """The spec as Go decodes it into kotskinds' LicenseSpec: zero values for what is missing
    or null, and LicenseError (naming the field) for a value Go cannot hold."""
    fields, unused = gojson.struct(spec, KNOWN_FIELDS, case_sensitive=not folded)
    typed: dict[str, Any] = {
        name: _go_string(fields.get(name), where, f"spec.{name}") for name in STRING_FIELDS
    }
    typed["licenseSequence"] = _go_int64(
        fields.get("licenseSequence"), where, "spec.licenseSequence"
    )
    typed.update({name: _go_bool(fields.get(name), where, f"spec.{name}") for name in BOOL_FIELDS})
    typed["channels"] = _typed_channels(fields.get("channels"), where, folded)
    typed["entitlements"] = _typed_entitlements(fields.get("entitlements"), version, where, folded)
    typed["signature"] = _signature_bytes(fields.get("signature"), where, "spec.signature")
    typed["unknown"] = {key: _comparable(spec[key]) for key in unused}
    return typed


def _channel_difference(visible: list[dict[str, Any]], signed: list[dict[str, Any]]) -> str | None:
    if len(visible) != len(signed):
        return "channels"
    for index, (mine, theirs) in enumerate(zip(visible, signed, strict=True)):
        for name in (*CHANNEL_STRINGS, *CHANNEL_BOOLS):
            if mine[name] != theirs[name]:
                return f"channels.{index}.{name}"
    return None


def _entitlement_difference(visible: dict[str, Any], signed: dict[str, Any]) -> str | None:
    for name in sorted(set(visible) | set(signed)):
        mine, theirs = visible.get(name), signed.get(name)
        if mine is None or theirs is None:
            return f"entitlements.{name}"
        for key in (*ENTITLEMENT_STRINGS, "isHidden", "value"):
            if mine[key] != theirs[key]:
                return f"entitlements.{name}.{key}"
    return None


def first_difference(visible: dict[str, Any], signed: dict[str, Any]) -> str | None:
    """The first field where the visible spec says something else than the signed one."""
    for name in (*STRING_FIELDS, *INT_FIELDS, *BOOL_FIELDS):
        if visible[name] != signed[name]:
            return name
    difference = _channel_difference(visible["channels"], signed["channels"]) or (
        _entitlement_difference(visible["entitlements"], signed["entitlements"])
    )
    if difference:
        return difference
    for name in sorted(set(visible["unknown"]) | set(signed["unknown"])):
        if visible["unknown"].get(name) != signed["unknown"].get(name):
            return name
    return None


LICENSE_FIELDS = ("apiVersion", "kind", "metadata", "spec", "status")
META_STRINGS = ("name", "generateName", "namespace", "selfLink", "uid", "resourceVersion")
META_MAPS = ("labels", "annotations")


def type_meta(document: dict[str, Any]) -> tuple[Any, Any]:
    """apiVersion and kind as apimachinery finds them (SimpleMetaFactory.Interpret decodes them
    with encoding/json: `Kind:` and `APIVersion:` count, and the last of such keys wins)."""
    fields, _ = gojson.struct(document, ("apiVersion", "kind"))
    return fields.get("apiVersion"), fields.get("kind")


def license_parts(document: dict[str, Any], where: str, folded: bool) -> dict[str, Any]:
    """The License struct's own fields, checked as Go decodes them: metadata an ObjectMeta
    (its names text, its labels text to text, its creationTimestamp an RFC 3339 time) and
    status a mapping; a wrong type stops Go's decoding, so the license is refused."""
    fields, _ = gojson.struct(document, LICENSE_FIELDS, case_sensitive=not folded)
    meta, _ = gojson.struct(
        _object(fields.get("metadata"), where, "metadata"),
        (*META_STRINGS, *META_MAPS, "creationTimestamp"),
        case_sensitive=not folded,
    )
    for name in META_STRINGS:
        _go_string(meta.get(name), where, f"metadata.{name}")
    for name in META_MAPS:
        for key, value in _object(meta.get(name), where, f"metadata.{name}").items():
            _go_string(value, where, f"metadata.{name}.{key}")
    created = meta.get("creationTimestamp")
    if created is not None:
        try:
            parse_rfc3339(_go_string(created, where, "metadata.creationTimestamp"))
        except ValueError:
            raise _wrong_type(
                where, "metadata.creationTimestamp", "an RFC 3339 time", created
            ) from None
    _object(fields.get("status"), where, "status")
    return fields
