"""PUT /api/v1/identity and POST /api/v1/license, as automation uses them."""

import io
import json

import pytest

from tests.support import (
    BEARER,
    LICENSE_ID,
    assert_nothing_saved,
    csrf_token_from,
    fixture,
    recent_changes,
)
from tests.support.license_factory import (
    base_spec,
    signed_license,
    to_yaml,
    write_global_public_key,
)
from wizard.identity import Actor, save_identity
from wizard.ids import RULE


def put(client, body, headers=BEARER, **kwargs):
    return client.put("/api/v1/identity", headers=headers, json=body, **kwargs)


@pytest.fixture
def custom_key_app(make_app, tmp_path):
    """The app trusting the key the tests sign their own licenses with."""
    return make_app(WIZARD_LICENSE_KEYS=str(write_global_public_key(tmp_path / "global.pem")))


def post_yaml(client, data, query="instance_id=i-1"):
    return client.post(
        f"/api/v1/license?{query}", headers=BEARER, data=data, content_type="application/yaml"
    )


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
    [change] = recent_changes(app)
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
        ({"instance_id": "i-1"}, {"customer_id": [f"Customer ID must not be blank: {RULE}."]}),
        (
            {"customer_id": "", "instance_id": "i-1"},
            {"customer_id": [f"Customer ID must not be blank: {RULE}."]},
        ),
        (
            {"customer_id": 42, "instance_id": "i-1"},
            {"customer_id": [f"Customer ID must be text: {RULE}."]},
        ),
        (
            {"customer_id": ["a"], "instance_id": "i-1"},
            {"customer_id": [f"Customer ID must be text: {RULE}."]},
        ),
        (
            {"customer_id": "a b", "instance_id": "i\x00"},
            {
                "customer_id": [f"Customer ID must be {RULE}: found a space at position 2."],
                "instance_id": [
                    f"Instance ID must be {RULE}: found an invisible character (U+0000) at "
                    "position 2."
                ],
            },
        ),
        (
            {"customer_id": "\u0430cme", "instance_id": "i-1"},
            {
                "customer_id": [
                    f"Customer ID must be {RULE}: found the non-ASCII character “\u0430” "
                    "(U+0430) at position 1."
                ]
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
    assert recent_changes(app)[0].actor == "session"


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


def test_post_license_takes_the_customer_id_from_a_license_that_has_one(custom_key_app):
    client = custom_key_app.test_client()
    data = to_yaml(signed_license(base_spec(customerID="cust-signed")))
    assert post_yaml(client, data).json["customer_id"] == "cust-signed"
    clash = post_yaml(client, data, "instance_id=i-1&customer_id=other")
    assert clash.status_code == 422
    assert clash.json["errors"]["customer_id"] == [
        "Customer ID other differs from the customer ID cust-signed that the license carries: "
        "leave it out."
    ]


@pytest.mark.parametrize("license_id", ["has space", "x" * 300, "\u0430bc"])
def test_a_signed_license_id_that_breaks_the_id_rule_is_422_not_500(custom_key_app, license_id):
    client = custom_key_app.test_client()
    response = post_yaml(
        client,
        to_yaml(signed_license(base_spec(licenseID=license_id))),
        "instance_id=i&customer_id=c",
    )
    assert response.status_code == 422
    assert response.json["reason"] == "not_a_license"
    assert "The license's license ID (licenseID) must be" in response.json["errors"]["license"][0]
    assert_nothing_saved(custom_key_app)


def test_a_license_value_too_long_to_store_is_422_naming_it(custom_key_app):
    client = custom_key_app.test_client()
    data = to_yaml(signed_license(base_spec(customerName="C" * 300)))
    response = post_yaml(client, data, "instance_id=i&customer_id=c")
    assert response.status_code == 422
    assert response.json["errors"]["license"] == [
        "The license's customer name is 300 characters long; at most 255 can be saved. Ask "
        "your vendor about this license."
    ]
    assert_nothing_saved(custom_key_app)


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


def test_post_license_over_the_size_limit_is_413_json(make_app):
    client = make_app(MAX_CONTENT_LENGTH=2048).test_client()
    response = client.post(
        "/api/v1/license?instance_id=i-1",
        headers=BEARER,
        data=b"x" * 5000,
        content_type="application/yaml",
    )
    assert response.status_code == 413
    assert response.json == {
        "error": "That upload is larger than this wizard accepts.",
        "hint": "The most it accepts is 2 KiB (WIZARD_MAX_UPLOAD_BYTES).",
    }


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


def test_a_console_with_the_token_gets_a_one_time_unlock_link(client):
    response = client.post("/api/v1/unlock-link", headers=BEARER, json={"next": "/setup/"})
    assert response.status_code == 200
    body = response.json
    assert body["path"].startswith("/setup/unlock/link/")
    assert body["url"] == "http://localhost" + body["path"]
    assert 55 <= body["expires_in"] <= 60
    opened = client.get(body["path"])
    assert (opened.status_code, opened.headers["Location"]) == (302, "/setup/")
    assert client.get("/setup/").status_code == 200, "the browser is now the admin"


def test_an_unlock_link_needs_the_bearer_token_and_a_path_on_this_wizard(client, admin):
    assert client.post("/api/v1/unlock-link").status_code == 401
    admin.unlock()
    csrf = {"X-CSRFToken": csrf_token_from(client.get("/status").text)}
    refused = client.post("/api/v1/unlock-link", headers=csrf)
    assert refused.status_code == 403
    assert refused.json["error"] == "Ask for an unlock link with the admin token as a bearer token."
    for target in ("https://evil.example/", "//evil.example/x", "setup/"):
        response = client.post("/api/v1/unlock-link", headers=BEARER, json={"next": target})
        assert response.status_code == 422, target
        assert response.json["errors"]["next"]


def test_a_file_of_several_licenses_without_license_number_lists_them_and_saves_nothing(
    custom_key_app,
):
    client = custom_key_app.test_client()
    expired = base_spec(
        customerName="Old Co",
        licenseID="2OldCo0License000000000000",
        entitlements={"expires_at": {"title": "Expiration", "value": "2020-01-01T00:00:00Z"}},
    )
    data = to_yaml(signed_license(base_spec(customerName="First Co")), signed_license(expired))
    listed = post_yaml(client, data, "instance_id=i-1&customer_id=c-1")
    assert listed.status_code == 422
    assert listed.json["errors"] == {
        "license_number": [
            "This file holds 2 licenses: say which one to save with license_number (1 to 2)."
        ]
    }
    assert [(each["customer_name"], each["reason"]) for each in listed.json["licenses"]] == [
        ("First Co", "ok"),
        ("Old Co", "expired"),
    ]
    assert "2OldCo0License000000000000" not in listed.text, "license ids only as hints"
    assert_nothing_saved(custom_key_app)
    second = post_yaml(client, data, "instance_id=i-1&customer_id=c-1&license_number=2")
    assert (second.status_code, second.json["reason"]) == (422, "expired")
    beyond = post_yaml(client, data, "instance_id=i-1&customer_id=c-1&license_number=3")
    assert beyond.json["errors"]["license_number"] == [
        "License number 3: this file holds 2 license(s)."
    ]
    assert_nothing_saved(custom_key_app)
    first = post_yaml(client, data, "instance_id=i-1&customer_id=c-1&license_number=1")
    assert first.status_code == 200 and first.json["license"]["customer_name"] == "First Co"


@pytest.mark.parametrize("number", ["\u00b2", "\u0661", "0", "-1", "one", "9" * 5000])
def test_a_license_number_that_is_not_a_plain_whole_number_is_422(custom_key_app, number):
    client = custom_key_app.test_client()
    data = to_yaml(signed_license(base_spec()))
    response = post_yaml(client, data, f"instance_id=i-1&customer_id=c&license_number={number}")
    assert response.status_code == 422
    assert response.json["errors"]["license_number"] == [
        "License number must be a whole number, 1 or more."
    ]
    assert_nothing_saved(custom_key_app)


def test_a_license_expiring_past_year_9999_in_utc_is_saved_and_shown(custom_key_app):
    client = custom_key_app.test_client()
    far = {"expires_at": {"title": "Expiration", "value": "9999-12-31T23:00:00-05:00"}}
    data = to_yaml(signed_license(base_spec(entitlements=far)))
    saved = post_yaml(client, data, "instance_id=i-1&customer_id=c")
    assert saved.status_code == 200, saved.text
    status = client.get("/api/v1/status", headers=BEARER).json
    assert status["license"]["expires_at"].startswith("9999-12-31")


@pytest.mark.parametrize("path", ["/api/v1/identity", "/api/v1/unlock-link"])
def test_json_nested_too_deeply_is_a_400_not_a_crash(app, client, path):
    method = client.put if path.endswith("identity") else client.post
    response = method(path, headers=BEARER, data="[" * 200_000, content_type="application/json")
    assert response.status_code == 400
    assert response.json["error"] == "The body is not valid JSON: it is nested too deeply."
    assert_nothing_saved(app)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v1/nothing", 404),
        ("GET", "/api/v2/status", 404),
        ("DELETE", "/api/v1/status", 405),
    ],
)
def test_the_api_answers_json_for_addresses_and_methods_it_does_not_have(
    client, method, path, status
):
    response = client.open(path, method=method, headers=BEARER)
    assert response.status_code == status
    assert response.is_json and response.json["error"]


@pytest.mark.parametrize("number", ["abc", "\u00b2"])
def test_a_bad_license_number_for_a_file_of_several_says_what_is_wrong_with_it(
    custom_key_app, number
):
    client = custom_key_app.test_client()
    data = to_yaml(signed_license(base_spec()), signed_license(base_spec(customerName="Two")))
    response = post_yaml(client, data, f"instance_id=i-1&customer_id=c&license_number={number}")
    assert response.status_code == 422
    assert response.json["errors"]["license_number"] == [
        "License number must be a whole number, 1 or more."
    ]


def test_an_unlock_link_asked_for_without_json_says_to_send_json(client):
    response = client.post(
        "/api/v1/unlock-link", headers=BEARER, data="next=/", content_type="text/plain"
    )
    assert response.status_code == 415
    assert response.json["error"] == "Send the body as JSON, with Content-Type: application/json."


def test_json_with_nan_is_a_400_naming_it(app, client):
    body = '{"customer_id": "acme", "instance_id": "i-1", "license_id": NaN}'
    response = client.put(
        "/api/v1/identity", headers=BEARER, data=body, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json["error"] == "The body is not valid JSON: NaN is not a JSON number."
    assert_nothing_saved(app)
