"""Hostile input to every form and API field: always a 4xx that says what is wrong, never a
5xx, and the database unchanged."""

import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ADMIN_TOKEN, AdminActions, csrf_token_from
from wizard import throttle
from wizard.database import db
from wizard.identity import Actor, load_identity, recent_changes, save_identity

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

anything_text = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(codec="utf-8")),
    st.just("\x00"),
    st.just("a\x00b"),
    st.just(" "),
    st.just("x" * 256),
    st.just("y" * 1_000_000),
    st.just("\u202eevil"),
    st.just("🙂" * 300),
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), anything_text),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
identity_bodies = st.dictionaries(
    st.sampled_from(["customer_id", "instance_id", "license_id", "extra", ""])
    | st.text(max_size=8),
    json_values,
    max_size=5,
)


@pytest.fixture
def seeded(app):
    """A saved identity the fuzzing must never change."""
    with app.app_context():
        save_identity(
            "seed-customer", "seed-instance", "SeedLicense00000000000000AB", actor=Actor("cli")
        )
    return app


def assert_unchanged(app):
    with app.app_context():
        identity = load_identity()
        assert (identity.customer_id, identity.instance_id) == ("seed-customer", "seed-instance")
        assert len(recent_changes()) == 1
        db.session.remove()


def _valid(body):
    from wizard.ids import InvalidId, clean_id

    if set(body) - {"customer_id", "instance_id", "license_id"}:
        return False
    try:
        clean_id(body.get("customer_id"))
        clean_id(body.get("instance_id"))
        if body.get("license_id") is not None:
            clean_id(body["license_id"])
    except InvalidId:
        return False
    return True


@FUZZ
@given(body=identity_bodies)
def test_put_identity_with_any_json_gets_a_4xx_or_a_valid_save(seeded, body):
    client = seeded.test_client()
    response = client.put(
        "/api/v1/identity", headers=BEARER, data=json.dumps(body), content_type="application/json"
    )
    if _valid(body):
        assert response.status_code == 200
        return
    assert response.status_code in (413, 422), response.text[:300]
    if response.status_code == 422:
        assert response.json["errors"], "the body says which field is wrong"
        for field in response.json["errors"]:
            assert field in body or field in ("customer_id", "instance_id")
    assert_unchanged(seeded)


@FUZZ
@given(
    raw=st.binary(max_size=2000),
    content_type=st.sampled_from(
        [
            "application/json",
            "text/plain",
            "application/yaml",
            "multipart/form-data",
            "multipart/form-data; boundary=x",
            "application/x-www-form-urlencoded",
            "",
            "image/png",
        ]
    ),
)
def test_any_bytes_with_any_content_type_never_give_a_5xx(seeded, raw, content_type):
    client = seeded.test_client()
    for method, path in (("put", "/api/v1/identity"), ("post", "/api/v1/license")):
        response = getattr(client, method)(
            path, headers=BEARER, data=raw, content_type=content_type
        )
        assert 400 <= response.status_code < 500, (path, response.status_code)
        assert response.is_json, "API errors are JSON"
    assert_unchanged(seeded)


@FUZZ
@given(
    instance_id=anything_text,
    customer_id=anything_text,
    license_number=anything_text,
    license_text=anything_text,
)
def test_post_license_fields_of_any_text_never_give_a_5xx(
    seeded, instance_id, customer_id, license_number, license_text
):
    client = seeded.test_client()
    response = client.post(
        "/api/v1/license",
        headers=BEARER,
        data={
            "instance_id": instance_id,
            "customer_id": customer_id,
            "license_number": license_number,
            "license": (io.BytesIO(license_text.encode("utf-8", "surrogatepass")), "l.yaml"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code in (413, 422), response.text[:300]
    assert response.json.get("errors") or response.json.get("error")
    assert_unchanged(seeded)


@FUZZ
@given(
    token=anything_text,
    customer_id=anything_text,
    instance_id=anything_text,
    license_id=anything_text,
    pasted=anything_text,
    draft=anything_text,
)
def test_every_wizard_form_field_with_any_text_never_gives_a_5xx(
    seeded, token, customer_id, instance_id, license_id, pasted, draft
):
    client = seeded.test_client()
    unlock = client.get("/setup/unlock")
    csrf = csrf_token_from(unlock.text)
    wrong = client.post("/setup/unlock", data={"csrf_token": csrf, "token": token})
    assert wrong.status_code in (200, 400, 413)
    with seeded.app_context():
        throttle.forget_failures("127.0.0.1")  # each example starts unthrottled
    assert AdminActions(client).unlock().status_code == 302
    csrf = csrf_token_from(client.get("/setup/paste").text)
    for path, data in [
        ("/setup/paste", {"license_text": pasted}),
        (
            "/setup/details",
            {
                "draft": draft,
                "customer_id": customer_id,
                "instance_id": instance_id,
                "license_id": license_id,
                "review": "Review",
            },
        ),
        ("/setup/choose", {"draft": draft, "choice": customer_id}),
        ("/setup/save", {"draft": draft, "save": "Save"}),
    ]:
        response = client.post(path, data={"csrf_token": csrf, **data})
        assert response.status_code < 500, (path, response.status_code)
        assert "Traceback" not in response.text
    assert_unchanged(seeded)


@FUZZ
@given(customer_id=anything_text, instance_id=anything_text, license_id=anything_text)
def test_manual_details_keep_what_was_typed_and_name_the_field(
    seeded, customer_id, instance_id, license_id
):
    from tests.test_setup import hidden

    client = seeded.test_client()
    AdminActions(client).unlock()
    page = client.get("/setup/manual")
    response = client.post(
        "/setup/details",
        data={
            "csrf_token": csrf_token_from(page.text),
            "draft": hidden(page.text, "draft"),
            "customer_id": customer_id,
            "instance_id": instance_id,
            "license_id": license_id,
            "review": "Review",
        },
    )
    assert response.status_code in (200, 413)
    if "Review and save" not in response.text and response.status_code == 200:
        assert "error-summary" in response.text
        assert any(label in response.text for label in ("Customer ID", "Instance ID", "License ID"))
    assert_unchanged(seeded)


def test_broken_multipart_is_a_4xx(seeded):
    client = seeded.test_client()
    body = b'--x\r\nContent-Disposition: form-data; name="license"\r\n\r\nabc'  # no end
    response = client.post(
        "/api/v1/license", headers=BEARER, data=body, content_type="multipart/form-data; boundary=x"
    )
    assert 400 <= response.status_code < 500
    assert_unchanged(seeded)
