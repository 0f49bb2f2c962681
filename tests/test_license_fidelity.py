"""The verifier against Replicated's own Go code, case by case.

Each case names the Go that decides it: kotskinds (KK) apis/kots/v1beta1|v1beta2
license_types.go, pkg/licensewrapper/util.go, pkg/crypto/signature.go; kots (KOTS)
pkg/license/signature.go and license.go; go-yaml v2 (Y2) resolve.go and encode.go;
sigs.k8s.io/yaml (SY) yaml.go. Where the wizard is deliberately stricter than Replicated, the
case says so. Cases mutate the real signed files of tests/fixtures, or sign licenses with a key
made in the test (tests/license_factory.py), as Replicated signs them.
"""

import base64
import json
import textwrap
from datetime import UTC, datetime

import pytest

from tests.support import FIXTURES, fixture
from tests.support.license_factory import (
    app_pem,
    base_spec,
    signed_license,
    to_yaml,
    write_global_public_key,
)
from wizard.licenses import Reason, load_trusted_keys, verify_license

PRODUCTION = load_trusted_keys("production")
V1, V2 = "kots.io/v1beta1", "kots.io/v1beta2"


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return load_trusted_keys(str(write_global_public_key(tmp_path_factory.mktemp("k") / "t.pem")))


def replaced(text, old, new):
    """The text with one line's value written another way (exactly one occurrence)."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def real(name, old=None, new=None):
    text = fixture(name).decode()
    return (replaced(text, old, new) if old else text).encode()


def signed_text(spec, version=V2, **kwargs):
    return to_yaml(signed_license(spec, version, **kwargs)).decode()


def one(entitlement):
    return base_spec(entitlements={"limit": entitlement})


# --- 1. Numbers, booleans and text as yaml.v2 writes and reads them ---------------------------
# Y2 resolve.go:resolve, SY yaml.go:YAMLToJSON (a whole float becomes integer JSON),
# KK EntitlementValue.UnmarshalJSON / unmarshalEntitlementValue (text, int64 or bool).

YAML_V2_NUMBERS = [
    # (the value Go signed, how yaml.v2 or a person may write it in the file)
    (1000000, "1e+06"),  # Y2 encode.go floatv: FormatFloat(f, 'g', -1, 64)
    (1232435, "1.232435e+06"),
    (123456, "123456"),
    (100000, "1e5"),
    (3, "3.0"),
    (0, "-0"),
    (-12, "-12"),
    (9223372036854775807, "9223372036854775807"),
    (16, "0x10"),  # Go's ParseInt(s, 0, 64)
    (15, "0o17"),
    (8, "010"),  # a leading 0 is octal
    (8, "08"),  # not octal, so a float: 8
    (1000, "1_000"),
]


@pytest.mark.parametrize(
    ("signed", "written"), YAML_V2_NUMBERS, ids=[w for _, w in YAML_V2_NUMBERS]
)
@pytest.mark.parametrize("version", [V1, V2])
def test_every_way_yaml_v2_writes_a_number_reads_as_go_reads_it(keys, version, signed, written):
    text = signed_text(one({"title": "Limit", "value": signed, "valueType": "Integer"}), version)
    text = replaced(text, f"value: {signed}\n", f"value: {written}\n")
    verdict = verify_license(text.encode(), keys)
    assert verdict.valid, verdict.message
    assert verdict.license.entitlements[0].value == signed


@pytest.mark.parametrize("written", ["1e+06", "1000000.0"])
def test_a_license_sequence_in_float_notation_is_a_whole_number(keys, written):
    text = replaced(
        signed_text(base_spec(licenseSequence=1000000)),
        "licenseSequence: 1000000",
        f"licenseSequence: {written}",
    )
    verdict = verify_license(text.encode(), keys)
    assert verdict.valid, verdict.message
    assert verdict.license.license_sequence == 1000000


YAML_V2_BOOLEANS = ["y", "Y", "yes", "Yes", "on", "ON", "true", "True"]


@pytest.mark.parametrize("written", YAML_V2_BOOLEANS)
def test_every_way_yaml_v2_reads_true(written):
    """The real v1beta1 file, with isAirgapSupported written as yaml.v2 also reads true."""
    verdict = verify_license(
        real("valid-v1beta1.yaml", "isAirgapSupported: true", f"isAirgapSupported: {written}"),
        PRODUCTION,
    )
    assert verdict.valid, verdict.message


@pytest.mark.parametrize("written", ["n", "N", "no", "off", "false"])
def test_every_way_yaml_v2_reads_false(keys, written):
    spec = one({"title": "Flag", "value": False, "valueType": "Boolean"})
    text = replaced(signed_text(spec), "value: false\n", f"value: {written}\n")
    verdict = verify_license(text.encode(), keys)
    assert verdict.valid, verdict.message
    assert verdict.license.entitlements[0].value is False


YAML_V2_STRINGS = [
    # (the text, how yaml.v2 writes it: plain, quoted when it would read as something else)
    ("=", "="),  # plain in yaml.v2; PyYAML alone cannot read it
    ("1:30", "1:30"),  # no base 60 in yaml.v2 (PyYAML: 90)
    ("2025-01-01", "2025-01-01"),  # a time keeps its text (PyYAML: a date)
    ("2025-09-29T00:00:00Z", "2025-09-29T00:00:00Z"),
    ("y", '"y"'),
    ("1", '"1"'),
    ("1e3", '"1e3"'),
    ("", '""'),
    ("a: b", "'a: b'"),
    ("#x", "'#x'"),
    ("a\tb", '"a\\tb"'),
    ("two\nlines", "|-\n        two\n        lines"),
]


def placeholder_text(spec, version=V2):
    """Signed over the spec, with the entitlement's visible value written as PLACEHOLDER."""
    document = signed_license(spec, version)
    document["spec"]["entitlements"]["limit"]["value"] = "PLACEHOLDER"
    return to_yaml(document).decode()


@pytest.mark.parametrize(
    ("signed", "written"), YAML_V2_STRINGS, ids=[w for _, w in YAML_V2_STRINGS]
)
def test_every_way_yaml_v2_writes_text_reads_back_as_that_text(keys, signed, written):
    text = placeholder_text(one({"title": "Note", "value": signed, "valueType": "String"}))
    text = replaced(text, "value: PLACEHOLDER\n", f"value: {written}\n")
    verdict = verify_license(text.encode(), keys)
    assert verdict.valid, verdict.message
    assert verdict.license.entitlements[0].value == signed


def test_the_real_v1beta1_file_with_an_integer_in_float_notation_is_valid():
    """KOTS pkg/license/testdata/valid-with-entitlement-signature.yaml writes 1.232435e+06."""
    verdict = verify_license(
        real("valid-v1beta1.yaml", "value: 123\n", "value: 1.23e+02\n"), PRODUCTION
    )
    assert verdict.valid, verdict.message
    assert {e.name: e.value for e in verdict.license.entitlements}["int_field"] == 123


# --- 2. Entitlement signatures by version -----------------------------------------------------
# KK v1beta1 License.ValidateLicense checks Signature.V1 with MD5; v1beta2 checks Signature.V2
# with SHA-256. Each version's struct has only its own key: the other one is never read.


def _with_entitlement_signatures(spec, version, signatures):
    document = signed_license(spec, version)
    document["spec"]["entitlements"]["limit"]["signature"] = signatures
    return to_yaml(document)


def test_a_v1beta1_license_checks_only_v1_signatures(keys):
    spec = one({"title": "Limit", "value": 5, "valueType": "Integer"})
    v1 = signed_license(spec, V1)["spec"]["entitlements"]["limit"]["signature"]["v1"]
    both = {"v1": v1, "v2": base64.b64encode(b"x" * 256).decode()}
    verdict = verify_license(_with_entitlement_signatures(spec, V1, both), keys)
    assert verdict.valid, verdict.message


def test_a_v1beta2_license_checks_only_v2_signatures(keys):
    spec = one({"title": "Limit", "value": 5, "valueType": "Integer"})
    bogus_v1_only = {"v1": base64.b64encode(b"x" * 256).decode()}
    verdict = verify_license(_with_entitlement_signatures(spec, V2, bogus_v1_only), keys)
    assert verdict.valid, verdict.message


# --- 3. Every visible entitlement's signature is checked --------------------------------------
# KK ValidateLicense loops over l.Spec.Entitlements, the visible ones, before anything else is
# compared; a mismatch is fatal (KOTS VerifyLicenseWrapper returns it).


@pytest.mark.parametrize("version", [V1, V2])
def test_a_bogus_signature_on_a_visible_entitlement_is_refused(keys, version):
    key = "v1" if version == V1 else "v2"
    spec = one({"title": "Limit", "value": 5, "valueType": "Integer"})
    bogus = {key: base64.b64encode(b"\x01" * 256).decode()}
    verdict = verify_license(_with_entitlement_signatures(spec, version, bogus), keys)
    assert verdict.reason is Reason.SIGNATURE_INVALID
    assert verdict.field == "entitlements.limit"


def test_signatures_swapped_between_entitlements_are_refused(keys):
    spec = base_spec(
        entitlements={
            "seats": {"title": "Seats", "value": 10, "valueType": "Integer"},
            "nodes": {"title": "Nodes", "value": 3, "valueType": "Integer"},
        }
    )
    document = signed_license(spec)
    entitlements = document["spec"]["entitlements"]
    entitlements["seats"]["signature"], entitlements["nodes"]["signature"] = (
        entitlements["nodes"]["signature"],
        entitlements["seats"]["signature"],
    )
    verdict = verify_license(to_yaml(document), keys)
    assert verdict.reason is Reason.SIGNATURE_INVALID


# --- 4. No key name is special -----------------------------------------------------------------


def test_an_entitlement_named_signature_is_compared_like_any_other(keys):
    spec = base_spec(
        entitlements={"signature": {"title": "Signature pad", "value": "on", "valueType": "String"}}
    )
    document = signed_license(spec, sign_entitlements=False)
    document["spec"]["entitlements"]["signature"]["value"] = "off"
    verdict = verify_license(to_yaml(document), keys)
    assert verdict.reason is Reason.TAMPERED  # deliberately stricter: KK only logs it
    assert verdict.field == "entitlements.signature.value"


# --- 5. Types are Go's types -------------------------------------------------------------------
# KK LoadLicenseFromBytes decodes into LicenseSpec: a string where Go wants int64 or bool, a
# number where it wants text, a null or fractional entitlement value are errors there.

WRONG_TYPES = [
    ("licenseSequence: 7", 'licenseSequence: "7"', "spec.licenseSequence", "a whole number"),
    ("licenseSequence: 7", "licenseSequence: 7.5", "spec.licenseSequence", "a whole number"),
    ("isAirgapSupported: true", "isAirgapSupported: 1", "spec.isAirgapSupported", "true or false"),
    (
        "isAirgapSupported: true",
        'isAirgapSupported: "true"',
        "spec.isAirgapSupported",
        "true or false",
    ),
    ("customerName: Test Customer", "customerName: 123", "spec.customerName", "text"),
    ("value: 123\n", "value: 1.5\n", "spec.entitlements.int_field.value", "text, a whole number"),
    ("value: 123\n", "value: ~\n", "spec.entitlements.int_field.value", "text, a whole number"),
    ("value: 123\n", "value:\n", "spec.entitlements.int_field.value", "text, a whole number"),
]


@pytest.mark.parametrize(
    ("old", "new", "field", "wanted"), WRONG_TYPES, ids=[n for _, n, _, _ in WRONG_TYPES]
)
def test_a_value_go_cannot_hold_is_refused_naming_the_field(old, new, field, wanted):
    """The real v1beta1 file, one value changed to a type Replicated cannot decode: refused
    as not a license (never valid, never expired), naming the field."""
    verdict = verify_license(real("valid-v1beta1.yaml", old, new), PRODUCTION)
    assert verdict.reason is Reason.NOT_A_LICENSE, verdict.message
    assert verdict.field == field
    assert f"field {field} must be {wanted}" in verdict.message


def test_an_expired_license_with_a_wrong_type_is_not_called_expired():
    verdict = verify_license(
        real("expired.yaml", "licenseSequence:", 'licenseSequence: "1"\n  x_was:'), PRODUCTION
    )
    assert verdict.reason is Reason.NOT_A_LICENSE


def test_one_is_not_true(keys):
    """In Python 1 == True; in Go an Int 1 and a Bool true are different values."""
    spec = one({"title": "Flag", "value": 1, "valueType": "Integer"})
    document = signed_license(spec, sign_entitlements=False)
    document["spec"]["entitlements"]["limit"]["value"] = True
    verdict = verify_license(to_yaml(document), keys)
    assert verdict.reason is Reason.TAMPERED
    assert verdict.field == "entitlements.limit.value"


@pytest.mark.parametrize(("version", "printed"), [(V1, None), (V2, 0)])
def test_an_entitlement_without_a_value_is_what_go_makes_of_it(keys, version, printed):
    """v1beta1 remembers the value was not set and signs <nil> (KK missing-values.yaml);
    v1beta2's zero EntitlementValue is the integer 0, and signs 0."""
    spec = one({"title": "Unset", "valueType": "String"})
    verdict = verify_license(to_yaml(signed_license(spec, version)), keys)
    assert verdict.valid, verdict.message
    assert verdict.license.entitlements[0].value == printed


def test_empty_text_and_no_value_are_different(keys):
    spec = one({"title": "Note", "value": "", "valueType": "String"})
    document = signed_license(spec, V1, sign_entitlements=False)
    del document["spec"]["entitlements"]["limit"]["value"]
    verdict = verify_license(to_yaml(document), keys)
    assert verdict.reason is Reason.TAMPERED
    assert verdict.field == "entitlements.limit.value"


# --- 6. Strict base64 --------------------------------------------------------------------------
# KK decodes every []byte with Go's base64.StdEncoding: \r and \n are skipped; any other
# character outside the alphabet, and a length that is not a whole number of quads (missing
# padding), are errors. Python's b64decode would skip the stranger and read on.


def _spec_signature(text):
    line = next(line for line in text.splitlines() if line.startswith("  signature: "))
    return line.removeprefix("  signature: ")


@pytest.mark.parametrize(
    "damage",
    [
        lambda s: s[:40] + " " + s[40:],
        lambda s: s[:40] + "-" + s[41:],
        lambda s: s[:-2],
        lambda s: s[:40] + "*" + s[40:],
    ],
    ids=["a space", "url-safe", "cut short", "a star"],
)
def test_a_signature_with_a_character_outside_base64_is_refused(damage):
    text = fixture("valid-v1beta1.yaml").decode()
    signature = _spec_signature(text)
    verdict = verify_license(replaced(text, signature, damage(signature)).encode(), PRODUCTION)
    assert verdict.reason is Reason.SIGNATURE_INVALID, verdict.message


def test_a_signature_broken_over_lines_of_a_literal_block_is_read():
    text = fixture("valid-v1beta1.yaml").decode()
    signature = _spec_signature(text)
    lines = "\n".join("    " + signature[i : i + 76] for i in range(0, len(signature), 76))
    verdict = verify_license(replaced(text, signature, "|\n" + lines).encode(), PRODUCTION)
    assert verdict.valid, verdict.message


# --- 7. Expiry as kots reads it ----------------------------------------------------------------
# KOTS pkg/license/license.go LicenseIsExpired: valueType "" or String; a string value; "" is
# never; time.Parse(time.RFC3339, ...); expired when parsed.Before(time.Now()).

NOW = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)


def expiring(keys, value, value_type="String", present=True, now=NOW):
    entry = {"title": "Expiration", "valueType": value_type}
    if present:
        entry["value"] = value
    spec = base_spec(entitlements={"expires_at": entry})
    return verify_license(to_yaml(signed_license(spec)), keys, now=now)


@pytest.mark.parametrize(
    "value",
    [
        "2030-01-01T12:00:01Z",
        "2030-01-01T13:00:00.5+01:00",
        "2030-01-01T12:00:00,5Z",
        "2031-01-01T0:00:00Z",
    ],
)
def test_rfc3339_times_go_reads_and_not_yet_past_are_valid(keys, value):
    verdict = expiring(keys, value)
    assert verdict.valid, verdict.message


def test_expired_means_strictly_before_now(keys):
    assert expiring(keys, "2030-01-01T12:00:00Z").valid, "equal to now is not yet expired"
    assert expiring(keys, "2030-01-01T11:59:59Z").reason is Reason.EXPIRED


@pytest.mark.parametrize(
    "value",
    [
        "2031-01-01",
        "2031-01-01T00:00:00",
        "2031-01-01 00:00:00Z",
        "2031-01-01t00:00:00z",
        "2031-1-01T00:00:00Z",
        "soon",
    ],
    ids=["date only", "no zone", "a space", "lower case", "one-digit month", "words"],
)
def test_a_time_go_cannot_parse_is_refused_naming_the_entitlement(keys, value):
    verdict = expiring(keys, value)
    assert verdict.reason is Reason.NOT_A_LICENSE
    assert verdict.field == "entitlements.expires_at"
    assert "expires_at entitlement" in verdict.message and "RFC 3339" in verdict.message


@pytest.mark.parametrize(
    ("value", "value_type", "present", "words"),
    [
        ("2031-01-01T00:00:00Z", "Integer", True, "has the value type Integer"),
        ("2031-01-01T00:00:00Z", "string", True, "has the value type string"),
        (5, "String", True, "is 5, not a time in text"),
        (True, "String", True, "is true, not a time in text"),
        (None, "String", False, "is 0, not a time in text"),
    ],
    ids=["Integer", "lower-case string", "a number", "a boolean", "no value"],
)
def test_an_expiry_of_another_type_is_refused_naming_it(keys, value, value_type, present, words):
    verdict = expiring(keys, value, value_type, present)
    assert verdict.reason is Reason.NOT_A_LICENSE
    assert words in verdict.message


def test_an_empty_expiry_never_expires(keys):
    verdict = expiring(keys, "")
    assert verdict.valid and verdict.license.expires_at is None


def test_the_signed_expiry_decides(keys):
    spec = base_spec(
        entitlements={"expires_at": {"title": "Expiration", "value": "2020-01-01T00:00:00Z"}}
    )
    document = signed_license(spec, sign_entitlements=False)
    document["spec"]["entitlements"]["expires_at"]["value"] = "2099-01-01T00:00:00Z"
    verdict = verify_license(to_yaml(document), keys, now=NOW)
    assert verdict.reason is Reason.TAMPERED  # stricter: KK would use the signed, past one


# --- 8. Multi-document files -------------------------------------------------------------------
# Y2 yaml.go:unmarshal reads only the first document; the wizard offers every License in the
# file (docs/licenses.md), so that a bundle of licenses lets the admin choose.


def test_every_license_of_a_file_is_offered_and_the_others_ignored(keys):
    first = signed_license(base_spec(customerName="First"))
    second = signed_license(base_spec(customerName="Second", licenseID="2Second0License0000000000"))
    data = to_yaml({"kind": "ConfigMap", "apiVersion": "v1"}, first, second)
    verdicts = [verify_license(data, keys, number=n) for n in (1, 2)]
    assert [v.license.customer_name for v in verdicts] == ["First", "Second"]


# --- Duplicate keys (stricter than yaml.v2, which keeps the last) ---------------------------


def test_a_key_given_twice_is_not_a_license():
    text = fixture("valid-v1beta1.yaml").decode()
    forged = replaced(
        text, "  licenseID: ", "  licenseID: 2Fake0License0Id000000000000\n  licenseID: "
    )
    verdict = verify_license(forged.encode(), PRODUCTION)
    assert verdict.reason is Reason.NOT_A_LICENSE
    assert "the key licenseID appears twice" in verdict.message


def test_every_real_license_keeps_its_verdict():
    """The verdict on each real Replicated file (its speed is in bench/, not here)."""
    expected = {
        "valid-v1beta1.yaml": Reason.OK,
        "valid-v1beta2.yaml": Reason.OK,
        "other-app.yaml": Reason.OK,
        "expired.yaml": Reason.EXPIRED,
        "bad-signature.yaml": Reason.SIGNATURE_INVALID,
        "tampered-license-id.yaml": Reason.TAMPERED,
    }
    assert {p.name for p in FIXTURES.glob("*.yaml")} == set(expected)
    for name, reason in expected.items():
        assert verify_license(fixture(name), PRODUCTION).reason is reason, name


# --- Key signature fields of the wrong type -----------------------------------------------------
# KK license.go: json.Unmarshal(keySignature, &KeySignature{GlobalKeyId string}) fails on a
# list, so the signature cannot be verified; nothing of the key id is signed.


@pytest.mark.parametrize("global_key_id", [["a", "b"], {"id": "x"}, 7])
def test_a_key_id_that_is_not_text_is_an_invalid_signature_not_a_crash(keys, global_key_id):
    data = to_yaml(signed_license(base_spec(), global_key_id=global_key_id))
    verdict = verify_license(data, keys)
    assert verdict.reason is Reason.SIGNATURE_INVALID
    assert "damaged" in verdict.message


# --- Times at the edge of the calendar --------------------------------------------------------
# Go's time.Time reaches far past year 9999 in UTC; Python's datetime stops there.


def test_an_expiry_past_year_9999_in_utc_never_comes(keys):
    verdict = expiring(keys, "9999-12-31T23:00:00-05:00")
    assert verdict.valid, verdict.message
    assert verdict.license.expires_at.year == 9999


def test_an_expiry_before_year_1_in_utc_has_passed(keys):
    verdict = expiring(keys, "0001-01-01T00:30:00+01:00")
    assert verdict.reason is Reason.EXPIRED


# === Round three: encoding/json, yaml.v2's refusals, big numbers ================================
# Go's encoding/json (GJ) decode.go:object and fold.go:foldName, scanner.go; crypto/rsa (RSA)
# pss.go:VerifyPSS; crypto/x509 (X509) x509.go:ParsePKIXPublicKey; encoding/pem (PEM)
# pem.go:Decode; time (T) format.go:parseTimeZone; apimachinery (AM) ObjectMeta and metav1.Time.

EXPIRES_2099 = {"title": "Expiration", "value": "2099-01-01T00:00:00Z", "valueType": "String"}


def renamed(mapping, names):
    """The JSON object with its keys written another way (old name -> new name)."""
    return {names.get(key, key): value for key, value in mapping.items()}


def dressed(keys, version=V2, spec=None, **kwargs):
    return verify_license(to_yaml(signed_license(spec or base_spec(), version, **kwargs)), keys)


# --- 9. Keys of any case in the signature's JSON -------------------------------------------------
# KK pkg/crypto/signature.go DecodeLicenseSignature and ValidateLicense unmarshal OuterSignature,
# InnerSignature and KeySignature with encoding/json, which fills a field from a key of any case
# (GJ decode.go:object, then foldName); of two keys for one field the last wins.

CASES_OF_KEYS = [
    ("outer", {"licenseData": "LicenseData", "innerSignature": "INNERSIGNATURE"}),
    ("outer", {"licenseData": "licen\u017feData"}),  # the long s folds to S, as s does
    ("inner", {"publicKey": "PublicKey", "v2LicenseSignature": "V2LICENSESIGNATURE"}),
    ("inner", {"v2KeySignature": "v2keysignature"}),
    ("key_signature", {"signature": "Signature", "globalKeyId": "GlobalKeyID"}),
]


@pytest.mark.parametrize(
    ("part", "names"),
    CASES_OF_KEYS,
    ids=[f"{part}: {', '.join(names.values())}" for part, names in CASES_OF_KEYS],
)
def test_signature_json_keys_of_any_case_are_read_as_go_reads_them(keys, part, names):
    verdict = dressed(keys, dress={part: lambda mapping: renamed(mapping, names)})
    assert verdict.valid, verdict.message


def test_the_dotless_i_is_no_i_to_go(keys):
    """GJ fold.go: unicode.SimpleFold of the dotless i (U+0131) is itself; Python's upper()
    of it is I. Another license's data under `licenseData` spelt with it is an unknown key to
    Go, so this license's data is read."""

    def with_a_stranger(outer):
        outer["l\u0131censeData"] = base64.b64encode(b'{"kind": "License"}').decode()
        return outer

    verdict = dressed(keys, dress={"outer": with_a_stranger})
    assert verdict.valid, verdict.message


def test_of_two_keys_for_one_field_the_last_wins(keys):
    """A damaged licenseData first, the right one last under another case: Go reads the last."""

    def two(outer):
        return b'{"licenseData": "AAAA", "LICENSEDATA": "%s", "innerSignature": "%s"}' % (
            outer["licenseData"].encode(),
            outer["innerSignature"].encode(),
        )

    assert dressed(keys, dress={"outer": two}).valid
    swapped = {"outer": lambda outer: two(outer).replace(b'"licenseData"', b'"x"', 1)}
    assert dressed(keys, dress=swapped).valid, "an unknown key is ignored"


def test_a_key_of_no_field_leaves_the_field_empty(keys):
    verdict = dressed(keys, dress={"inner": lambda m: renamed(m, {"publicKey": "public_key"})})
    assert verdict.reason is Reason.SIGNATURE_INVALID
    assert "no public key" in verdict.message


def _visible_signature_key(version, name, value):
    spec = one({"title": "Limit", "value": 5, "valueType": "Integer"})
    document = signed_license(spec, version, sign_entitlements=False)
    document["spec"]["entitlements"]["limit"][name] = value
    return to_yaml(document)


def test_a_v1beta1_signature_key_of_another_case_is_checked(keys):
    """KK apis/kots/v1beta1/license_types.go EntitlementField.UnmarshalJSON decodes with
    encoding/json, case folded: `Signature:` is the signature, and one that does not verify is
    refused by ValidateLicense."""
    bogus = {"v1": base64.b64encode(b"\x01" * 256).decode()}
    verdict = verify_license(_visible_signature_key(V1, "Signature", bogus), keys)
    assert verdict.reason is Reason.SIGNATURE_INVALID
    assert verdict.field == "entitlements.limit"


def test_a_v1beta1_signature_key_of_another_case_that_verifies_is_valid(keys):
    spec = one({"title": "Limit", "value": 5, "valueType": "Integer"})
    document = signed_license(spec, V1)
    entry = document["spec"]["entitlements"]["limit"]
    entry["SIGNATURE"] = entry.pop("signature")
    verdict = verify_license(to_yaml(document), keys)
    assert verdict.valid, verdict.message


def test_a_v1beta2_signature_key_of_another_case_is_no_signature(keys):
    """v1beta2's EntitlementField has no UnmarshalJSON: the scheme's decoder (sigs.k8s.io/json,
    case sensitive) fills only `signature`, so `Signature:` is an unknown key, never checked."""
    bogus = {"v2": base64.b64encode(b"\x01" * 256).decode()}
    verdict = verify_license(_visible_signature_key(V2, "Signature", bogus), keys)
    assert verdict.valid, verdict.message


@pytest.mark.parametrize(
    ("old", "new"),
    [("kind: License", "Kind: License"), ("apiVersion: kots.io", "APIVERSION: kots.io")],
)
def test_kind_and_api_version_are_read_whatever_their_case(old, new):
    """AM runtime/serializer/json.go: the type meta is found with encoding/json semantics
    (case-insensitive `kind` and `apiVersion`), as the License is recognized by kotskinds."""
    verdict = verify_license(real("valid-v1beta1.yaml", old, new), PRODUCTION)
    assert verdict.valid, verdict.message


# --- 10. JSON details ----------------------------------------------------------------------------
# GJ scanner.go: a byte-order mark is not white space, so license data that starts with one is
# no JSON (KK ValidateLicense: "failed to unmarshal license data"). GJ decode.go:literalStore
# and array: a []byte field takes base64 text or an array of numbers.


def test_signed_license_data_that_starts_with_a_byte_order_mark_is_refused(keys):
    verdict = dressed(keys, dress={"license_data": lambda data: b"\xef\xbb\xbf" + data})
    assert verdict.reason is Reason.SIGNATURE_INVALID
    assert "signed data is damaged" in verdict.message


@pytest.mark.parametrize("field", ["licenseData", "innerSignature"])
def test_a_byte_field_written_as_an_array_of_numbers_is_read(keys, field):
    def as_numbers(outer):
        outer[field] = list(base64.b64decode(outer[field]))
        return outer

    verdict = dressed(keys, dress={"outer": as_numbers})
    assert verdict.valid, verdict.message


@pytest.mark.parametrize(
    "numbers", [[256], [-1], [1.5], ["1"]], ids=["256", "-1", "a fraction", "text"]
)
def test_an_array_that_is_not_bytes_is_a_damaged_signature(keys, numbers):
    def bad(outer):
        outer["licenseData"] = numbers
        return outer

    verdict = dressed(keys, dress={"outer": bad})
    assert verdict.reason is Reason.SIGNATURE_INVALID
    assert "damaged" in verdict.message


# --- 11. The application's key --------------------------------------------------------------------
# KK pkg/crypto/signature.go parsePublicKeyRSA: PEM pem.go:Decode takes the first block whatever
# its type line; X509 ParsePKIXPublicKey wants a SubjectPublicKeyInfo and refuses PKCS#1.


def _other_app_key():
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_a_pkcs1_application_key_is_refused(keys):
    from cryptography.hazmat.primitives import serialization

    private = _other_app_key()
    pkcs1 = app_pem(private, serialization.PublicFormat.PKCS1)
    assert pkcs1.startswith("-----BEGIN RSA PUBLIC KEY-----")
    verdict = dressed(keys, signer=(private, pkcs1))
    assert verdict.reason is Reason.SIGNATURE_INVALID
    assert "public key is damaged" in verdict.message


def test_a_subject_public_key_info_under_another_type_line_is_read(keys):
    private = _other_app_key()
    relabelled = app_pem(private).replace("PUBLIC KEY-----", "RSA PUBLIC KEY-----")
    verdict = dressed(keys, signer=(private, relabelled))
    assert verdict.valid, verdict.message


def test_text_before_the_first_pem_block_is_skipped(keys):
    private = _other_app_key()
    verdict = dressed(keys, signer=(private, "a comment\n" + app_pem(private)))
    assert verdict.valid, verdict.message


PEM_AS_GO_READS_IT = [
    # (how the PEM text is written, whether Go's pem.Decode finds the key)
    (lambda pem: pem, True),
    (lambda pem: pem.replace("-----\n", "-----\r\n", 1), True),
    (lambda pem: pem.replace("-----\n", "----- \t\n", 1), True),
    (lambda pem: "Proc-Type: x\n" + pem, True),  # text before the BEGIN line
    (lambda pem: pem.replace("-----\n", "-----\nProc-Type: 4\nDEK-Info: x\n\n", 1), True),
    (lambda pem: "-----BEGIN X-----\nAAAA\n-----END Y-----\n" + pem, True),  # starts again
    (lambda pem: pem.replace("-----END PUBLIC KEY-----", "-----END PUBLIC KEY-----junk"), False),
    (lambda pem: pem.replace("-----\n", "-----\r\r\n", 1), False),
    (lambda pem: pem.replace("\n", "\na: b\n", 3).replace("\na: b\n", "\n", 2), False),
    (lambda pem: pem.replace("\n", "\n\f", 2).replace("\n\f", "\n", 1), False),
]


@pytest.mark.parametrize(
    ("written", "found"),
    PEM_AS_GO_READS_IT,
    ids=[
        "as written",
        "CRLF",
        "spaces after BEGIN",
        "text before",
        "headers",
        "a rejected block first",
        "junk after END",
        "two CRs",
        "a header mid-body",
        "a form feed",
    ],
)
def test_the_application_key_is_found_as_pem_decode_finds_it(keys, written, found):
    """PEM pem.go:Decode and getLine: one CR and trailing blanks end a line; headers only
    right after BEGIN; the END line names the type and ends there; the body is base64 (CR and
    LF skipped, spaces and tabs removed), anything else rejects the block."""
    private = _other_app_key()
    verdict = dressed(keys, signer=(private, written(app_pem(private))))
    assert verdict.valid is found, verdict.message


def test_a_signature_shorter_than_the_key_is_refused(keys):
    """RSA pss.go:VerifyPSS refuses a signature whose length is not the key's size, even where
    the number it holds is right (a signature with a leading zero byte, cut off)."""
    from cryptography.hazmat.primitives import hashes

    from tests.support.license_factory import _sign, app_key

    message = b"5"
    while (signature := base64.b64decode(_sign(app_key(), message, hashes.SHA256())))[0]:
        pass
    spec = one({"title": "Limit", "value": 5, "valueType": "Integer"})
    for cut, reason in ((signature, Reason.OK), (signature[1:], Reason.SIGNATURE_INVALID)):
        document = signed_license(spec, sign_entitlements=False)
        document["spec"]["entitlements"]["limit"]["signature"] = {
            "v2": base64.b64encode(cut).decode()
        }
        assert verify_license(to_yaml(document), keys).reason is reason


# --- 12. Numbers above 2^53 ----------------------------------------------------------------------
# Y2 decode.go reads 1.152921504606847e+18 as a float64; SY yaml.go:YAMLToJSON hands it to
# json.Marshal, which writes the shortest decimal that reads back as that float
# (GJ encode.go:floatEncoder, 'f' below 1e21): 1152921504606847000, then an int64 for Go's field.

BIG_SIGNED = 1152921504606847000  # what Go makes of 1.152921504606847e+18
BIG_BINARY = 1152921504606846976  # the float's exact binary value, 2^60


@pytest.mark.parametrize(
    ("signed", "reason"),
    [(BIG_SIGNED, Reason.OK), (BIG_BINARY, Reason.TAMPERED)],
    ids=["signed over the shortest decimal", "signed over the exact binary value"],
)
def test_a_big_license_sequence_in_float_notation_is_the_shortest_decimal(keys, signed, reason):
    """Written as 1.152921504606847e+18, the sequence is ...847000 to Go: a license signed
    over 2^60 exactly (...846976) reads as another number, so as edited."""
    text = replaced(
        signed_text(base_spec(licenseSequence=signed)),
        f"licenseSequence: {signed}",
        "licenseSequence: 1.152921504606847e+18",
    )
    verdict = verify_license(text.encode(), keys)
    assert verdict.reason is reason, verdict.message
    if reason is Reason.OK:
        assert verdict.license.license_sequence == BIG_SIGNED
    else:
        assert verdict.field == "licenseSequence"


@pytest.mark.parametrize("version", [V1, V2])
def test_a_big_integer_entitlement_in_float_notation_is_the_shortest_decimal(keys, version):
    spec = one({"title": "Limit", "value": BIG_SIGNED, "valueType": "Integer"})
    text = replaced(
        signed_text(spec, version),
        f"value: {BIG_SIGNED}\n",
        "value: 1.152921504606847e+18\n",
    )
    verdict = verify_license(text.encode(), keys)
    assert verdict.valid, verdict.message
    assert verdict.license.entitlements[0].value == BIG_SIGNED


def test_a_whole_float_past_int64_is_not_a_license():
    """GJ decode.go:literalStore: 1e+19 does not fit an int64 field."""
    verdict = verify_license(
        real("valid-v1beta1.yaml", "licenseSequence: ", "licenseSequence: 1e+19\n  x: "),
        PRODUCTION,
    )
    assert verdict.reason is Reason.NOT_A_LICENSE
    assert verdict.field == "spec.licenseSequence"


# --- 13. YAML yaml.v2 refuses, and YAML it reads --------------------------------------------------
# Y2 parserc.go:yaml_parser_process_directives (only %YAML 1.1), scannerc.go
# yaml_parser_scan_plain_scalar (no '?' in a flow context's plain scalar, libyaml 0.1.x),
# resolve.go (the tag `!` keeps a scalar as text), readerc.go:yaml_parser_determine_encoding
# (UTF-16 with a byte-order mark). Merge keys: yaml.v2 merges them; the wizard refuses the file
# as not a license (docs/licenses.md: a license Replicated writes has none, and a merge can hide
# what the signature covers), never calling it tampered.


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("apiVersion: kots.io/v1beta1", "%YAML 1.2\n---\napiVersion: kots.io/v1beta1", "YAML 1.2"),
        ("  name: testcustomer", "  labels: {owner: a?b}\n  name: testcustomer", "?"),
        ("licenseSequence: ", "licenseSequence: ! ", "spec.licenseSequence must be"),
        ("  name: testcustomer", "  <<: {owner: x}\n  name: testcustomer", "merge"),
    ],
    ids=["%YAML 1.2", "? in a flow mapping", "the tag !", "a merge key"],
)
def test_yaml_that_yaml_v2_refuses_or_the_wizard_will_not_merge_is_not_a_license(old, new, words):
    verdict = verify_license(real("valid-v1beta1.yaml", old, new), PRODUCTION)
    assert verdict.reason is Reason.NOT_A_LICENSE, verdict.message
    assert words in verdict.message


def test_yaml_1_1_directive_is_read():
    data = real("valid-v1beta1.yaml", "apiVersion: ", "%YAML 1.1\n---\napiVersion: ")
    assert verify_license(data, PRODUCTION).valid


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-8-sig"])
def test_a_license_saved_as_utf16_or_with_a_byte_order_mark_is_valid(encoding):
    """What Notepad's "Unicode" writes (UTF-16 LE with a byte-order mark), and its kin."""
    text = fixture("valid-v1beta1.yaml").decode()
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    verdict = verify_license(data, PRODUCTION)
    assert verdict.valid, verdict.message
    assert verdict.license.customer_name == "Test Customer"


def test_utf16_without_a_byte_order_mark_is_not_a_license():
    data = fixture("valid-v1beta1.yaml").decode().encode("utf-16-le")
    assert verify_license(data, PRODUCTION).reason is Reason.NOT_A_LICENSE


# --- 14. Types Go checks outside the spec --------------------------------------------------------
# KK LoadLicenseFromBytes decodes the whole License: AM ObjectMeta (name, labels and
# annotations of strings, creationTimestamp a metav1.Time in RFC 3339) and LicenseStatus.

OUTSIDE_THE_SPEC = [
    ("  name: testcustomer", "  name: 5", "metadata.name"),
    ("  name: testcustomer", "  name: testcustomer\n  labels: [a]", "metadata.labels"),
    ("  name: testcustomer", "  name: testcustomer\n  annotations: {a: 1}", "metadata.annotations"),
    (
        "  name: testcustomer",
        "  name: testcustomer\n  creationTimestamp: yesterday",
        "metadata.creationTimestamp",
    ),
    ("metadata:", "status: 5\nmetadata:", "status"),
]


@pytest.mark.parametrize(
    ("old", "new", "field"), OUTSIDE_THE_SPEC, ids=[f for _, _, f in OUTSIDE_THE_SPEC]
)
def test_a_wrong_type_outside_the_spec_is_not_a_license(old, new, field):
    verdict = verify_license(real("valid-v1beta1.yaml", old, new), PRODUCTION)
    assert verdict.reason is Reason.NOT_A_LICENSE, verdict.message
    assert field in verdict.message


def test_metadata_go_can_hold_is_read():
    extra = (
        "  name: testcustomer\n  labels: {team: a}\n  annotations: {note: b}\n"
        "  creationTimestamp: 2024-01-01T00:00:00Z"
    )
    verdict = verify_license(
        real("valid-v1beta1.yaml", "  name: testcustomer", extra + "\nstatus: {}\n#"), PRODUCTION
    )
    assert verdict.valid, verdict.message


# --- 15. Times at Go's edges ----------------------------------------------------------------------
# T format.go:parseTimeZone accepts an offset hour up to 24 and minutes up to 60 ("some people
# do write offsets of 24 hours"); the year 0000 is a year to time.Parse. KOTS LicenseIsExpired.


def test_an_offset_of_24_hours_is_read_as_go_reads_it(keys):
    verdict = expiring(keys, "2031-01-01T00:00:00+24:00")
    assert verdict.valid, verdict.message
    assert verdict.license.expires_at == datetime(2030, 12, 31, tzinfo=UTC)


@pytest.mark.parametrize("offset", ["+25:00", "+23:61"])
def test_an_offset_past_24_hours_or_60_minutes_is_refused(keys, offset):
    verdict = expiring(keys, f"2031-01-01T00:00:00{offset}")
    assert verdict.reason is Reason.NOT_A_LICENSE


def test_the_year_0000_is_long_ago(keys):
    verdict = expiring(keys, "0000-06-01T00:00:00Z")
    assert verdict.reason is Reason.EXPIRED


# --- 16. Size -------------------------------------------------------------------------------------
# Go has no limit; the wizard reads at most 4 MiB a file and 3 MiB a value (docs/licenses.md),
# so that a license carrying a CA bundle is read and a hostile file is not.

CA_BUNDLE = "".join(
    f"-----BEGIN CERTIFICATE-----\n{base64.b64encode(bytes([n % 256]) * 1200).decode()}\n"
    "-----END CERTIFICATE-----\n"
    for n in range(300)
)


def test_a_license_with_a_ca_bundle_of_half_a_megabyte_is_valid(keys):
    assert len(CA_BUNDLE) > 480_000
    spec = base_spec(
        entitlements={
            "expires_at": EXPIRES_2099,
            "ca_bundle": {"title": "CA bundle", "value": CA_BUNDLE, "valueType": "Text"},
        }
    )
    verdict = dressed(keys, spec=spec)
    assert verdict.valid, verdict.message
    assert {e.name: e.value for e in verdict.license.entitlements}["ca_bundle"] == CA_BUNDLE


# --- 17. What the review found ------------------------------------------------------------------


def test_a_null_after_a_byte_field_empties_it_as_go_does(keys):
    """GJ decode.go:literalStore: null sets a slice to nil (a string field keeps its value)."""

    def then_null(outer):
        return json.dumps(outer).encode()[:-1] + b', "LICENSEDATA": null}'

    verdict = dressed(keys, dress={"outer": then_null})
    assert verdict.reason is Reason.SIGNATURE_INVALID
    assert "missing its signed data" in verdict.message


def test_an_rsa_pss_key_is_not_an_rsa_key_to_go(keys):
    """X509 ParsePKIXPublicKey knows RSA as rsaEncryption only; id-RSASSA-PSS is refused."""
    from cryptography.hazmat.primitives import serialization

    private = _other_app_key()
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pss = der.replace(bytes.fromhex("2a864886f70d010101"), bytes.fromhex("2a864886f70d01010a"), 1)
    body = "\n".join(textwrap.wrap(base64.b64encode(pss).decode(), 64))
    pem = f"-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n"
    verdict = dressed(keys, signer=(private, pem))
    assert verdict.reason is Reason.SIGNATURE_INVALID
    assert "public key is damaged" in verdict.message


def test_digits_other_than_0_to_9_are_no_time_to_go(keys):
    verdict = expiring(keys, "\u0662\u0660\u0669\u0669-01-01T00:00:00Z")
    assert verdict.reason is Reason.NOT_A_LICENSE


def test_an_escaped_lone_surrogate_in_the_signed_data_is_read_as_u_fffd(keys):
    """GJ decode.go:unquote: an escaped lone surrogate becomes U+FFFD."""
    spec = base_spec(customerName="PLACEHOLDER")

    def escaped(data):
        return data.replace(b'"PLACEHOLDER"', b'"a\\\\ud800b"'.replace(b"\\\\", b"\\"))

    document = signed_license(spec, dress={"license_data": escaped})
    document["spec"]["customerName"] = "a\ufffdb"
    verdict = verify_license(to_yaml(document), keys)
    assert verdict.valid, verdict.message
    assert verdict.license.customer_name == "a\ufffdb"
