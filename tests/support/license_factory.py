"""Sign licenses the way Replicated does, with keys the tests make, to test the verifier."""

import base64
import functools
import json
from pathlib import Path

import yaml
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

TEST_GLOBAL_KEY_ID = "7e57000000000000000000000000c0de"


@functools.cache
def _private_key(name):
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def global_key():
    """The test's stand-in for Replicated's global key."""
    return _private_key("global")


def app_key():
    """The test application's key, vouched for by the global key."""
    return _private_key("app")


def write_global_public_key(path):
    """Write the test global key's public half as a PEM file, to configure it as trusted."""
    pem = (
        global_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    Path(path).write_bytes(pem)
    return Path(path)


def _sign(key, message, algorithm):
    signature = key.sign(
        message,
        padding.PSS(mgf=padding.MGF1(algorithm), salt_length=padding.PSS.MAX_LENGTH),
        algorithm,
    )
    return base64.b64encode(signature).decode()


MISSING = object()


def go_text(value, version):
    """What Go's fmt.Sprint prints for an entitlement value (kotskinds ValidateSignature): a
    missing value is <nil> in v1beta1 and the zero EntitlementValue, 0, in v1beta2."""
    if value is MISSING:
        return "<nil>" if version.endswith("v1beta1") else "0"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def base_spec(**overrides):
    """A realistic license spec; keyword arguments replace or add spec fields."""
    spec = {
        "appSlug": "my-app",
        "channelID": "1vusIYZLAVxMG6q760OJmRKj5i5",
        "channelName": "Stable",
        "customerName": "Acme Corp",
        "endpoint": "https://replicated.app",
        "entitlements": {
            "expires_at": {
                "title": "Expiration",
                "value": "2099-01-01T00:00:00Z",
                "valueType": "String",
            },
            "seats": {"title": "Seats", "value": 25, "valueType": "Integer"},
        },
        "isAirgapSupported": True,
        "licenseID": "2Test0License0Id0000000000AB",
        "licenseSequence": 3,
        "licenseType": "prod",
    }
    spec.update(overrides)
    return spec


def app_pem(key=None, public_format=serialization.PublicFormat.SubjectPublicKeyInfo):
    """The PEM text of an application key (the test's own by default), as it sits in the
    inner signature's publicKey."""
    key = key or app_key()
    return key.public_key().public_bytes(serialization.Encoding.PEM, public_format).decode()


def _same(value):
    return value


def _json(value):
    return value if isinstance(value, bytes) else json.dumps(value).encode()


def signed_license(
    spec,
    version="kots.io/v1beta2",
    sign_entitlements=True,
    name="acme",
    global_key_id=TEST_GLOBAL_KEY_ID,
    dress=None,
    signer=None,
):
    """Return the license as a dict, signed over `spec` as Replicated signs it.

    `dress` rewrites a part of the signature before it is encoded, to write it as another
    encoder might: "license_data" (the JSON bytes, before they are signed), "key_signature",
    "inner" and "outer" (the JSON objects; a function may return bytes). `signer` is a pair
    (private key, public key PEM) to sign with an application key of another form."""
    dress = dress or {}
    v2 = version.endswith("v1beta2")
    algorithm = hashes.SHA256() if v2 else hashes.MD5()  # noqa: S303
    private, public = signer or (app_key(), app_pem())
    spec = json.loads(json.dumps(spec))
    if sign_entitlements:
        for entry in spec.get("entitlements", {}).values():
            entry["signature"] = {
                ("v2" if v2 else "v1"): _sign(
                    private, go_text(entry.get("value", MISSING), version).encode(), algorithm
                )
            }
    document = {"apiVersion": version, "kind": "License", "metadata": {"name": name}, "spec": spec}
    license_data = dress.get("license_data", _same)(json.dumps(document).encode())
    key_signature = {
        "signature": _sign(global_key(), public.encode(), algorithm),
        "globalKeyId": global_key_id,
    }
    key_signature = _json(dress.get("key_signature", _same)(key_signature))
    inner = {
        ("v2LicenseSignature" if v2 else "licenseSignature"): _sign(
            private, license_data, algorithm
        ),
        "publicKey": public,
        ("v2KeySignature" if v2 else "keySignature"): base64.b64encode(key_signature).decode(),
    }
    inner = _json(dress.get("inner", _same)(inner))
    outer = {
        "licenseData": base64.b64encode(license_data).decode(),
        "innerSignature": base64.b64encode(inner).decode(),
    }
    outer = _json(dress.get("outer", _same)(outer))
    visible = json.loads(json.dumps(document))
    visible["spec"]["signature"] = base64.b64encode(outer).decode()
    return visible


def to_yaml(*documents):
    return yaml.safe_dump_all(documents, sort_keys=True).encode()
