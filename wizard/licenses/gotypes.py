"""The spec in Go's types: kotskinds LicenseSpec, EntitlementField and EntitlementValue. A
value Go cannot hold is refused, naming the field; the visible spec is compared with the signed
one field by field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


def _typed_channels(spec: dict[str, Any], where: str) -> list[dict[str, Any]]:
    channels = spec.get("channels")
    if channels is not None and not isinstance(channels, list):
        raise _wrong_type(where, "spec.channels", "a list", channels)
    typed = []
    for index, channel in enumerate(channels or []):
        path = f"spec.channels.{index}"
        channel = _object(channel, where, path)
        typed_channel = {
            name: _go_string(channel.get(name), where, f"{path}.{name}") for name in CHANNEL_STRINGS
        }
        typed_channel.update(
            {name: _go_bool(channel.get(name), where, f"{path}.{name}") for name in CHANNEL_BOOLS}
        )
        typed.append(typed_channel)
    return typed


def _typed_entitlements(spec: dict[str, Any], version: str, where: str) -> dict[str, Any]:
    typed = {}
    key = "v1" if version == V1BETA1 else "v2"  # each version's struct has one of the two
    for name, entry in _object(spec.get("entitlements"), where, "spec.entitlements").items():
        path = f"spec.entitlements.{name}"
        entry = _object(entry, where, path)
        signature = _object(entry.get("signature"), where, f"{path}.signature")
        typed[name] = {
            **{
                key_: _go_string(entry.get(key_), where, f"{path}.{key_}")
                for key_ in ENTITLEMENT_STRINGS
            },
            "isHidden": _go_bool(entry.get("isHidden"), where, f"{path}.isHidden"),
            "value": _go_value(entry, version, where, path),
            "signature": _go_string(signature.get(key), where, f"{path}.signature.{key}"),
        }
    return typed


def typed_spec(spec: dict[str, Any], version: str, where: str = "license") -> dict[str, Any]:
    """The spec as Go decodes it into kotskinds' LicenseSpec: zero values for what is missing
    or null, and LicenseError (naming the field) for a value Go cannot hold."""
    typed: dict[str, Any] = {
        name: _go_string(spec.get(name), where, f"spec.{name}") for name in STRING_FIELDS
    }
    typed["licenseSequence"] = _go_int64(spec.get("licenseSequence"), where, "spec.licenseSequence")
    typed.update({name: _go_bool(spec.get(name), where, f"spec.{name}") for name in BOOL_FIELDS})
    typed["channels"] = _typed_channels(spec, where)
    typed["entitlements"] = _typed_entitlements(spec, version, where)
    typed["signature"] = _go_string(spec.get("signature"), where, "spec.signature")
    typed["unknown"] = {
        key: _comparable(value) for key, value in spec.items() if key not in KNOWN_FIELDS
    }
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
