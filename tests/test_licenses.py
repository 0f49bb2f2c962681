"""License verification: Replicated's real files, licenses the tests sign, and hostile files."""

import base64
import json
import time
import tracemalloc
from datetime import UTC, datetime

import pytest

from tests.support import fixture
from tests.support.license_factory import (
    base_spec,
    signed_license,
    to_yaml,
    write_global_public_key,
)
from wizard.licenses import (
    Reason,
    license_documents,
    load_trusted_keys,
    verify_license,
)

PRODUCTION = load_trusted_keys("production")


@pytest.fixture(scope="module")
def custom_keys(tmp_path_factory):
    return load_trusted_keys(str(write_global_public_key(tmp_path_factory.mktemp("k") / "t.pem")))


@pytest.mark.parametrize(
    ("name", "reason", "expected_app"),
    [
        ("valid-v1beta1.yaml", Reason.OK, None),
        ("valid-v1beta2.yaml", Reason.OK, None),
        ("other-app.yaml", Reason.OK, None),
        ("other-app.yaml", Reason.WRONG_APP, "my-app"),
        ("expired.yaml", Reason.EXPIRED, None),
        ("bad-signature.yaml", Reason.SIGNATURE_INVALID, None),
        ("tampered-license-id.yaml", Reason.TAMPERED, None),
    ],
)
def test_replicated_fixtures_get_the_documented_verdicts(name, reason, expected_app):
    verdict = verify_license(fixture(name), PRODUCTION, expected_app=expected_app)
    assert verdict.reason is reason, verdict.message


def test_valid_v1beta1_values_come_from_the_signed_data():
    lic = verify_license(fixture("valid-v1beta1.yaml"), PRODUCTION).license
    assert lic.license_id == "1vusOokxAVp1tkRGuyxnF23PJcq"
    assert (lic.app_slug, lic.customer_name, lic.license_type) == (
        "my-app",
        "Test Customer",
        "prod",
    )
    assert lic.customer_id is None
    assert lic.expires_at == datetime(2030, 7, 27, tzinfo=UTC)
    assert (lic.key, lic.version) == ("production", "kots.io/v1beta1")
    assert "hidden_field" in {e.name for e in lic.entitlements}
    assert "hidden_field" not in {e.name for e in lic.visible_entitlements}
    assert "hidden_field" not in str(lic.summary("upload"))


def test_empty_expires_at_never_expires():
    lic = verify_license(fixture("valid-v1beta2.yaml"), PRODUCTION).license
    assert lic.expires_at is None
    assert lic.version == "kots.io/v1beta2"


def test_the_tampered_field_is_named():
    verdict = verify_license(fixture("tampered-license-id.yaml"), PRODUCTION)
    assert verdict.field == "licenseID"
    assert "licenseID" in verdict.message


def test_expired_says_when():
    assert "2 Apr 2022" in verify_license(fixture("expired.yaml"), PRODUCTION).message


def test_a_license_signed_by_an_untrusted_key_is_refused(custom_keys):
    verdict = verify_license(fixture("valid-v1beta1.yaml"), custom_keys)
    assert verdict.reason is Reason.SIGNATURE_INVALID
    assert "production" in verdict.message


def test_dev_and_staging_keys_can_be_trusted_by_name():
    keys = load_trusted_keys("dev, staging,production")
    assert keys.names == ("dev", "staging", "production")
    assert verify_license(fixture("valid-v1beta1.yaml"), keys).valid


@pytest.mark.parametrize("setting", ["prod", "/no/such/key.pem"])
def test_a_bad_key_setting_names_the_variable(setting):
    with pytest.raises(ValueError, match="WIZARD_LICENSE_KEYS"):
        load_trusted_keys(setting)


@pytest.mark.parametrize("version", ["kots.io/v1beta1", "kots.io/v1beta2"])
def test_own_signed_license_verifies_with_the_custom_key(custom_keys, version):
    verdict = verify_license(to_yaml(signed_license(base_spec(), version)), custom_keys)
    assert verdict.valid, verdict.message
    assert verdict.license.key == "t.pem"
    assert verdict.license.version == version


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("licenseID", "2Test0License0Id0000000000XX"),
        ("appSlug", "other"),
        ("licenseType", "paid"),
        ("customerName", "Someone Else"),
    ],
)
def test_v1beta2_edits_after_signing_are_tampered(custom_keys, field, value):
    document = signed_license(base_spec())
    document["spec"][field] = value
    verdict = verify_license(to_yaml(document), custom_keys)
    assert verdict.reason is Reason.TAMPERED
    assert verdict.field == field


def test_an_edited_entitlement_value_is_caught(custom_keys):
    document = signed_license(base_spec())
    document["spec"]["entitlements"]["seats"]["value"] = 9999
    verdict = verify_license(to_yaml(document), custom_keys)
    # Its own signature no longer covers it (kotskinds EntitlementField.ValidateSignature).
    assert verdict.reason is Reason.SIGNATURE_INVALID
    assert verdict.field == "entitlements.seats"
    del document["spec"]["entitlements"]["seats"]["signature"]
    unsigned = verify_license(to_yaml(document), custom_keys)
    assert unsigned.reason is Reason.TAMPERED, "without its signature, the comparison finds it"
    assert unsigned.field == "entitlements.seats.value"


def test_an_entitlement_whose_signature_does_not_match_is_refused(custom_keys):
    spec = base_spec()
    document = signed_license(spec)
    other = signed_license(
        {
            **spec,
            "entitlements": {
                **spec["entitlements"],
                "seats": {**spec["entitlements"]["seats"], "value": 26},
            },
        }
    )
    # Put a signature made for another value into both the signed data and the file.
    import base64
    import json

    outer = json.loads(base64.b64decode(document["spec"]["signature"]))
    signed = json.loads(base64.b64decode(outer["licenseData"]))
    signed["spec"]["entitlements"]["seats"]["signature"] = other["spec"]["entitlements"]["seats"][
        "signature"
    ]
    rebuilt = signed_license(signed["spec"], sign_entitlements=False)
    verdict = verify_license(to_yaml(rebuilt), custom_keys)
    assert verdict.reason is Reason.SIGNATURE_INVALID
    assert "seats" in verdict.message


def test_integers_written_in_float_notation_in_yaml_are_not_tampering(custom_keys):
    spec = base_spec(
        entitlements={"limit": {"title": "Limit", "value": 1232435, "valueType": "Integer"}}
    )
    text = to_yaml(signed_license(spec)).decode().replace("value: 1232435", "value: 1.232435e+06")
    assert "1.232435e+06" in text
    verdict = verify_license(text.encode(), custom_keys)
    assert verdict.valid, verdict.message
    assert verdict.license.entitlements[0].value == 1232435


def test_boolean_and_missing_entitlement_values_are_signed_as_go_prints_them(custom_keys):
    spec = base_spec(
        entitlements={
            "enabled": {"title": "On", "value": True, "valueType": "Boolean"},
            "disabled": {"title": "Off", "value": False, "valueType": "Boolean"},
            "unset": {"title": "Unset", "valueType": "String"},
        }
    )
    verdict = verify_license(to_yaml(signed_license(spec)), custom_keys)
    assert verdict.valid, verdict.message
    values = {e.name: e.value for e in verdict.license.entitlements}
    assert values == {"enabled": True, "disabled": False, "unset": 0}, "v1beta2 reads 0"
    v1 = verify_license(to_yaml(signed_license(spec, "kots.io/v1beta1")), custom_keys)
    assert {e.name: e.value for e in v1.license.entitlements}["unset"] is None


@pytest.mark.parametrize("expiry", ["", "missing"])
def test_empty_or_missing_expiry_never_expires(custom_keys, expiry):
    entitlements = {"seats": {"title": "Seats", "value": 5, "valueType": "Integer"}}
    if expiry != "missing":
        entitlements["expires_at"] = {"title": "Expiration", "value": expiry, "valueType": "String"}
    verdict = verify_license(
        to_yaml(signed_license(base_spec(entitlements=entitlements))), custom_keys
    )
    assert verdict.valid, verdict.message
    assert verdict.license.expires_at is None


def test_a_past_expiry_is_expired_and_a_future_one_is_not(custom_keys):
    spec = base_spec()
    spec["entitlements"]["expires_at"]["value"] = "2026-06-01T00:00:00Z"
    data = to_yaml(signed_license(spec))
    assert verify_license(data, custom_keys, now=datetime(2026, 7, 1, tzinfo=UTC)).reason is (
        Reason.EXPIRED
    )
    assert verify_license(data, custom_keys, now=datetime(2026, 5, 1, tzinfo=UTC)).valid


def test_customer_id_is_read_when_the_license_has_one(custom_keys):
    with_id = verify_license(to_yaml(signed_license(base_spec(customerID="cust-123"))), custom_keys)
    without = verify_license(to_yaml(signed_license(base_spec())), custom_keys)
    assert with_id.license.customer_id == "cust-123"
    assert without.license.customer_id is None


def test_a_file_with_several_documents_yields_its_licenses(custom_keys):
    first = signed_license(base_spec(customerName="First"))
    second = signed_license(
        base_spec(customerName="Second", licenseID="2Second0License00000000000")
    )
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}}
    data = to_yaml(service, first, second)
    assert [d["spec"]["customerName"] for d in license_documents(data)] == ["First", "Second"]
    assert verify_license(data, custom_keys, number=2).license.customer_name == "Second"
    assert verify_license(data, custom_keys).license.customer_name == "First"


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n", "Deployment (apps/v1)"),
        ("just: a mapping\n", "YAML without a kind"),
        ("- a\n- list\n", "list"),
        ("", "empty"),
        ("key: [unclosed\n", "cannot be read as YAML"),
    ],
)
def test_a_file_that_is_not_a_license_says_what_it_is(text, found):
    verdict = verify_license(text.encode(), PRODUCTION)
    assert verdict.reason is Reason.NOT_A_LICENSE
    assert found in verdict.message


def test_an_unknown_license_version_is_unsupported():
    text = fixture("valid-v1beta1.yaml").replace(b"kots.io/v1beta1", b"kots.io/v1beta3")
    verdict = verify_license(text, PRODUCTION)
    assert verdict.reason is Reason.UNSUPPORTED_VERSION
    assert "kots.io/v1beta3" in verdict.message


def _alias_bomb():
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return ("\n".join(lines) + "\nkind: License\n").encode()


HOSTILE = {
    "alias bomb": _alias_bomb(),
    "deep nesting": ("kind: License\nspec: " + "[" * 10_000 + "]" * 10_000 + "\n").encode(),
    "python tag": b"kind: License\nspec: !!python/object/apply:os.system ['echo pwned']\n",
    "binary junk": bytes(range(256)) * 64,
    "oversized": b"kind: License\nspec:\n  licenseID: " + b"x" * (5 * 1024 * 1024) + b"\n",
    "a huge value": b"kind: License\nspec:\n  licenseID: " + b"x" * (3 * 1024 * 1024 + 1) + b"\n",
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_files_are_refused_quickly_in_bounded_memory(name):
    tracemalloc.start()
    started = time.perf_counter()
    verdict = verify_license(HOSTILE[name], PRODUCTION)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert verdict.reason is Reason.NOT_A_LICENSE, verdict.message
    assert elapsed < 1.0
    assert peak < 32 * 1024 * 1024


def _with_signature(outer):
    """A v1beta2 license whose signature is the given JSON (bytes), signed by nobody."""
    signature = base64.b64encode(outer).decode()
    return (
        "apiVersion: kots.io/v1beta2\nkind: License\nmetadata: {name: x}\n"
        f"spec:\n  licenseID: abc\n  appSlug: my-app\n  signature: {signature}\n"
    ).encode()


def _b64(data):
    return base64.b64encode(data if isinstance(data, bytes) else data.encode()).decode()


def _outer_with_public_key(pem):
    inner = {"publicKey": pem, "v2KeySignature": _b64("x"), "v2LicenseSignature": _b64("y")}
    return json.dumps({"licenseData": _b64("{}"), "innerSignature": _b64(json.dumps(inner))})


HOSTILE_SIGNATURES = {
    # One regular expression rescanned the text from every BEGIN line without an END.
    "20,000 BEGIN lines": _outer_with_public_key("-----BEGIN A-----\n" * 20_000).encode(),
    # ... and then one END: each BEGIN decoded the rest of the text again.
    "20,000 BEGIN lines and an END": _outer_with_public_key(
        "-----BEGIN X-----\n" * 20_000 + "-----END X-----\n"
    ).encode(),
    "BEGIN lines that are headers too": _outer_with_public_key(
        "-----BEGIN A: B-----\n" * 20_000 + "-----END A: B-----\n"
    ).encode(),
    # A lone surrogate made the wizard walk a deep document by recursion.
    "deep nesting and a lone surrogate": b"[" * 700 + b'"\\ud800"' + b"]" * 700,
    # Every key of the signature's JSON was folded and cached for good.
    "100,000 keys": lambda seed: json.dumps(
        {f"{seed}{n:x}": 0 for n in range(100_000)}, separators=",:"
    ).encode(),
    "a number of 5,000 digits": b'{"licenseData": 1' + b"0" * 5000 + b"}",
    "a key of no algorithm Python knows": _outer_with_public_key(
        "-----BEGIN PUBLIC KEY-----\nMAowAwYBAAMDAP8A\n-----END PUBLIC KEY-----\n"
    ).encode(),
}


@pytest.mark.parametrize("name", list(HOSTILE_SIGNATURES))
def test_hostile_signatures_are_refused_quickly_and_leave_nothing_behind(name):
    outer = HOSTILE_SIGNATURES[name]
    made = outer if callable(outer) else lambda seed: outer
    # Warm, with another file of the kind: what is loaded once is not what a file leaves.
    started = time.perf_counter()
    verify_license(_with_signature(made("w")), PRODUCTION)
    elapsed = time.perf_counter() - started
    data = _with_signature(made("m"))
    tracemalloc.start()
    verdict = verify_license(data, PRODUCTION)
    kept, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert verdict.reason is Reason.SIGNATURE_INVALID, verdict.message
    assert "damaged" in verdict.message or "missing" in verdict.message
    assert elapsed < 1.0
    assert peak < 200 * 1024 * 1024
    assert kept < 1024 * 1024, "nothing of the file is kept after its verdict"


def test_a_file_of_more_than_a_hundred_licenses_is_refused_saying_so():
    one = fixture("valid-v1beta1.yaml")
    verdict = verify_license(b"\n---\n".join([one] * 101), PRODUCTION, number=1)
    assert verdict.reason is Reason.NOT_A_LICENSE
    assert "This holds 101 licenses; the wizard reads at most 100" in verdict.message
    assert verify_license(b"\n---\n".join([one] * 3), PRODUCTION, number=3).valid


def test_a_lone_surrogate_in_text_is_read_as_go_reads_bad_utf8():
    text = fixture("valid-v1beta1.yaml").decode().replace("name: testcustomer", "name: a\ud800b")
    verdict = verify_license(text, PRODUCTION)
    assert verdict.valid, verdict.message
