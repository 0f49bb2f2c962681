"""PUT /api/v1/identity and POST /api/v1/license, as automation uses them."""

import io
import json

import pytest

from tests.conftest import ADMIN_TOKEN, csrf_token_from
from tests.license_factory import base_spec, fixture, signed_license, to_yaml
from wizard.identity import Actor, load_identity, recent_changes, save_identity

BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
LICENSE_ID = "1vusOokxAVp1tkRGuyxnF23PJcq"


def put(client, body, headers=BEARER, **kwargs):
    return client.put("/api/v1/identity", headers=headers, json=body, **kwargs)


def assert_nothing_saved(app):
    with app.app_context():
        assert load_identity() is None
        assert recent_changes() == []


def test_put_identity_saves_and_returns_it(app, client):
    response = put(
        client, {"customer_id": "acme", "instance_id": "instance-1", "license_id": LICENSE_ID}
    )
    assert response.status_code == 200
    body = response.json
    assert body["has_customer_info"] is True
    assert (body["customer_id"], body["instance_id"], body["license_id_hint"]) == (
        "acme",
        "instance-1",
        "…PJcq",
    )
    assert LICENSE_ID not in response.text
    with app.app_context():
        [change] = recent_changes()
    assert (change.method, change.actor, change.client_address) == ("api", "token", "127.0.0.1")


def test_put_identity_keeps_a_license_id_left_out_and_clears_a_null_one(app, client):
    put(client, {"customer_id": "acme", "instance_id": "i-1", "license_id": LICENSE_ID})
    kept = put(client, {"customer_id": "acme", "instance_id": "i-2"}).json
    assert kept["license_id_hint"] == "…PJcq"
    cleared = put(client, {"customer_id": "acme", "instance_id": "i-2", "license_id": None}).json
    assert cleared["license_id_hint"] is None


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"instance_id": "i-1"}, {"customer_id": ["Customer ID must not be blank."]}),
        (
            {"customer_id": "", "instance_id": "i-1"},
            {"customer_id": ["Customer ID must not be blank."]},
        ),
        ({"customer_id": 42, "instance_id": "i-1"}, {"customer_id": ["Customer ID must be text."]}),
        (
            {"customer_id": ["a"], "instance_id": "i-1"},
            {"customer_id": ["Customer ID must be text."]},
        ),
        (
            {"customer_id": "a b", "instance_id": "i\x00"},
            {
                "customer_id": [
                    "Customer ID must not contain white space (found U+0020 at position 2)."
                ],
                "instance_id": [
                    "Instance ID must not contain a control or invisible character "
                    "(found U+0000 at position 2)."
                ],
            },
        ),
        (
            {"customer_id": "a", "instance_id": "i", "customer": "typo"},
            {"customer": ["customer is not a field of this request."]},
        ),
    ],
)
def test_put_identity_answers_422_naming_each_field(app, client, body, errors):
    response = put(client, body)
    assert response.status_code == 422
    assert response.json == {"errors": errors}
    assert_nothing_saved(app)


def test_put_identity_without_a_token_is_401_and_saves_nothing(app, client):
    response = put(client, {"customer_id": "a", "instance_id": "b"}, headers={})
    assert response.status_code == 401
    assert "Bearer" in response.json["error"]
    assert_nothing_saved(app)


def test_put_identity_with_a_wrong_token_is_401(app, client):
    response = put(
        client, {"customer_id": "a", "instance_id": "b"}, headers={"Authorization": "Bearer wrong"}
    )
    assert response.status_code == 401
    assert_nothing_saved(app)


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        ("customer_id=a&instance_id=b", "application/x-www-form-urlencoded", 415),
        ("{not json", "application/json", 400),
        ("[1, 2]", "application/json", 400),
        ('"text"', "application/json", 400),
    ],
)
def test_put_identity_refuses_what_is_not_a_json_object(app, client, data, content_type, status):
    response = client.put("/api/v1/identity", headers=BEARER, data=data, content_type=content_type)
    assert response.status_code == status
    assert response.is_json and response.json["error"]
    assert_nothing_saved(app)


def test_an_admin_session_may_use_the_api_with_its_csrf_token(app, client, admin):
    admin.unlock()
    refused = client.put("/api/v1/identity", json={"customer_id": "a", "instance_id": "b"})
    assert refused.status_code == 400, "a session without the CSRF token is refused"
    assert_nothing_saved(app)
    token = csrf_token_from(client.get("/setup/unlock").text)
    accepted = client.put(
        "/api/v1/identity",
        json={"customer_id": "a", "instance_id": "b"},
        headers={"X-CSRFToken": token},
    )
    assert accepted.status_code == 200
    with app.app_context():
        assert recent_changes()[0].actor == "session"


def test_post_license_as_yaml_body_with_query_fields(app, client):
    response = client.post(
        "/api/v1/license?instance_id=i-1&customer_id=cust-1",
        headers=BEARER,
        data=fixture("valid-v1beta1.yaml"),
        content_type="application/yaml",
    )
    assert response.status_code == 200, response.json
    body = response.json
    assert (body["customer_id"], body["instance_id"], body["license_id_hint"]) == (
        "cust-1",
        "i-1",
        "…PJcq",
    )
    assert body["license"]["customer_name"] == "Test Customer"
    assert "hidden_field" not in response.text


def test_post_license_as_multipart_with_form_fields(app, client):
    response = client.post(
        "/api/v1/license",
        headers=BEARER,
        data={
            "license": (io.BytesIO(fixture("valid-v1beta2.yaml")), "license.yaml"),
            "instance_id": "i-2",
            "customer_id": "geeglo",
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.json
    assert response.json["license"]["app_slug"] == "slackernews-mackerel"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("expired.yaml", "expired"),
        ("bad-signature.yaml", "signature_invalid"),
        ("tampered-license-id.yaml", "tampered"),
    ],
)
def test_post_license_refuses_a_bad_license_with_its_reason(app, client, name, reason):
    response = client.post(
        "/api/v1/license?instance_id=i-1&customer_id=c-1",
        headers=BEARER,
        data=fixture(name),
        content_type="application/yaml",
    )
    assert response.status_code == 422
    assert response.json["reason"] == reason
    assert response.json["errors"]["license"]
    assert_nothing_saved(app)


def test_post_license_asks_for_the_customer_id_the_license_lacks(app, client):
    response = client.post(
        "/api/v1/license?instance_id=i-1",
        headers=BEARER,
        data=fixture("valid-v1beta1.yaml"),
        content_type="application/yaml",
    )
    assert response.status_code == 422
    assert response.json["reason"] == "ok"
    assert "Customer ID is required" in response.json["errors"]["customer_id"][0]
    assert_nothing_saved(app)


def test_post_license_takes_the_customer_id_from_a_license_that_has_one(settings, app, tmp_path):
    from tests.license_factory import write_global_public_key
    from wizard import create_app

    key = write_global_public_key(tmp_path / "global.pem")
    client = create_app({**settings, "WIZARD_LICENSE_KEYS": str(key)}).test_client()
    data = to_yaml(signed_license(base_spec(customerID="cust-signed")))
    response = client.post(
        "/api/v1/license?instance_id=i-1",
        headers=BEARER,
        data=data,
        content_type="application/yaml",
    )
    assert response.json["customer_id"] == "cust-signed"
    clash = client.post(
        "/api/v1/license?instance_id=i-1&customer_id=other",
        headers=BEARER,
        data=data,
        content_type="application/yaml",
    )
    assert clash.status_code == 422 and "differs" in clash.json["errors"]["customer_id"][0]


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"data": "{}", "content_type": "application/json"}, 415),
        ({"data": {"instance_id": "i"}, "content_type": "multipart/form-data"}, 422),
    ],
)
def test_post_license_without_a_license_says_how_to_send_one(app, client, kwargs, status):
    response = client.post("/api/v1/license?instance_id=i-1", headers=BEARER, **kwargs)
    assert response.status_code == status
    assert "license" in json.dumps(response.json).lower()
    assert_nothing_saved(app)


def test_post_license_over_the_size_limit_is_413_json(settings, app):
    from wizard import create_app

    client = create_app({**settings, "MAX_CONTENT_LENGTH": 2048}).test_client()
    response = client.post(
        "/api/v1/license?instance_id=i-1",
        headers=BEARER,
        data=b"x" * 5000,
        content_type="application/yaml",
    )
    assert response.status_code == 413
    assert response.is_json and "larger" in response.json["error"]


def test_admin_status_includes_the_saved_license_summary(app, client):
    with app.app_context():
        save_identity("acme", "i-1", LICENSE_ID, actor=Actor("cli"))
    body = client.get("/api/v1/status", headers=BEARER).json
    assert body["license"] is None
    client.post(
        "/api/v1/license?instance_id=i-1&customer_id=acme",
        headers=BEARER,
        data=fixture("valid-v1beta1.yaml"),
        content_type="application/yaml",
    )
    body = client.get("/api/v1/status", headers=BEARER).json
    assert body["license"]["signing_key"] == "production"
    assert body["license"]["expires_at"] == "2030-07-27T00:00:00+00:00"
