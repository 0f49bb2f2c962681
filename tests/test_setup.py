"""The wizard's steps over HTTP: upload, paste, type, choose, review, save; and every refusal."""

import io
import re

import pytest

from tests.conftest import csrf_token_from
from tests.license_factory import base_spec, fixture, signed_license, to_yaml
from wizard.database import db
from wizard.identity import Actor, load_identity, recent_changes, save_identity

LICENSE_ID = "1vusOokxAVp1tkRGuyxnF23PJcq"


def hidden(html, name):
    match = (
        re.search(rf'name="{name}" type="hidden" value="([^"]*)"', html)
        or re.search(rf'type="hidden" name="{name}" value="([^"]*)"', html)
        or re.search(rf'id="{name}" name="{name}" type="hidden" value="([^"]*)"', html)
    )
    assert match, f"no hidden {name} in the page"
    return match.group(1)


class Wizard:
    """Drives the wizard like a browser without script."""

    def __init__(self, client):
        self.client = client

    def upload(self, data, filename="license.yaml"):
        page = self.client.get("/setup/upload")
        return self.client.post(
            "/setup/upload",
            data={
                "csrf_token": csrf_token_from(page.text),
                "license_file": (io.BytesIO(data), filename),
            },
            content_type="multipart/form-data",
        )

    def paste(self, text):
        page = self.client.get("/setup/paste")
        return self.client.post(
            "/setup/paste", data={"csrf_token": csrf_token_from(page.text), "license_text": text}
        )

    def details(self, page, **fields):
        form = {
            "csrf_token": csrf_token_from(page.text),
            "draft": hidden(page.text, "draft"),
            "review": "Review",
            **fields,
        }
        return self.client.post("/setup/details", data=form)

    def save(self, review):
        return self.client.post(
            "/setup/save",
            data={
                "csrf_token": csrf_token_from(review.text),
                "draft": hidden(review.text, "draft"),
                "save": "Save",
            },
        )


@pytest.fixture
def wizard(client, admin):
    admin.unlock()
    return Wizard(client)


def assert_nothing_saved(app):
    with app.app_context():
        assert load_identity() is None
        assert recent_changes() == []


def test_the_wizard_needs_the_admin(client):
    for path in ("/setup/", "/setup/upload", "/setup/paste", "/setup/manual"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/setup/unlock?next=")


def test_upload_review_save_by_license_file(app, wizard):
    details = wizard.upload(fixture("valid-v1beta1.yaml"))
    assert details.status_code == 200
    assert "The license is valid" in details.text
    assert "Test Customer" in details.text
    assert LICENSE_ID not in details.text, "only the hint of the license id is on pages"
    assert "…PJcq" in details.text

    review = wizard.details(details, customer_id="cust-42", instance_id="instance-1")
    assert "Review and save" in review.text
    assert "cust-42" in review.text and "instance-1" in review.text
    assert "Verified with the production key" in review.text
    assert "Hidden Field" not in review.text, "hidden entitlements are never shown"
    assert LICENSE_ID not in review.text
    assert_nothing_saved(app)

    done = wizard.save(review)
    assert done.status_code == 302 and done.headers["Location"] == "/status"
    with app.app_context():
        identity = load_identity()
        assert (identity.customer_id, identity.instance_id, identity.license_id) == (
            "cust-42",
            "instance-1",
            LICENSE_ID,
        )
        [change] = recent_changes()
        assert (change.method, change.actor) == ("wizard", "session")
    status = wizard.client.get("/status").text
    assert "Saved. This installation is identified." in status
    assert "Test Customer" in status and "Bool Field" in status
    assert "Hidden Field" not in status and "this is secret" not in status


def test_paste_v1beta2_license(app, wizard):
    details = wizard.paste(fixture("valid-v1beta2.yaml").decode())
    assert "The license is valid" in details.text
    assert "Never" in details.text  # empty expires_at
    review = wizard.details(details, customer_id="geeglo", instance_id="instance-2")
    wizard.save(review)
    with app.app_context():
        assert load_identity().license_id == "33kXFWGTnWkdJRuhr2RyUNxhjpN"


def test_typing_the_ids_without_a_license(app, wizard, client):
    details = client.get("/setup/manual")
    assert "Type the IDs" in details.text
    review = wizard.details(
        details, customer_id="acme", instance_id="instance-3", license_id=LICENSE_ID
    )
    assert LICENSE_ID not in review.text
    wizard.save(review)
    with app.app_context():
        assert load_identity().license_id == LICENSE_ID


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("expired.yaml", "This license expired on 2 Apr 2022"),
        ("bad-signature.yaml", "The license signature is not valid"),
        ("tampered-license-id.yaml", "licenseID differs from the signed value"),
    ],
)
def test_a_rejected_license_says_why_keeps_the_page_and_saves_nothing(app, wizard, name, message):
    page = wizard.upload(fixture(name))
    assert page.status_code == 200
    assert "Upload the license file" in page.text
    assert "License file: " in page.text and message in page.text
    assert 'class="error-summary"' in page.text
    assert_nothing_saved(app)
    # The file can be replaced without starting over.
    assert "The license is valid" in wizard.upload(fixture("valid-v1beta1.yaml")).text


def test_another_app_is_refused_when_an_app_is_expected(settings, app):
    from wizard import create_app

    strict = create_app({**settings, "WIZARD_EXPECTED_APP_SLUG": "my-app"})
    client = strict.test_client()
    from tests.conftest import AdminActions

    AdminActions(client).unlock()
    page = Wizard(client).upload(fixture("other-app.yaml"))
    assert "for the application cluster-admin, not my-app" in page.text
    assert_nothing_saved(app)


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (b"apiVersion: apps/v1\nkind: Deployment\n", "deploy.yaml", "it holds a Deployment"),
        (bytes(range(256)), "junk.yaml", "not text"),
        (b"kind: License\n", "license.txt", "must be a .yaml or .yml file"),
        (b"", "empty.yaml", "empty"),
    ],
)
def test_files_that_are_not_licenses_are_refused_clearly(app, wizard, data, filename, message):
    page = wizard.upload(data, filename)
    assert page.status_code == 200
    assert message in page.text
    assert_nothing_saved(app)


def test_an_upload_over_the_limit_gets_a_413_page(settings, app):
    from tests.conftest import AdminActions
    from wizard import create_app

    small = create_app({**settings, "MAX_CONTENT_LENGTH": 4096})
    client = small.test_client()
    AdminActions(client).unlock()
    page = Wizard(client).upload(b"x" * 10_000)
    assert page.status_code == 413
    assert "larger than this wizard accepts" in page.text
    assert_nothing_saved(app)


def test_paste_keeps_the_text_after_an_error(wizard):
    text = fixture("expired.yaml").decode()
    page = wizard.paste(text)
    assert "This license expired" in page.text
    assert "change-license-expired" in page.text, "the pasted text is still in the box"


def test_bad_ids_name_the_field_keep_the_input_and_save_nothing(app, wizard):
    details = wizard.upload(fixture("valid-v1beta1.yaml"))
    page = wizard.details(details, customer_id="has space", instance_id="")
    assert "Customer ID must not contain white space" in page.text
    assert "Instance ID must not be blank" in page.text
    assert 'value="has space"' in page.text
    assert 'href="#customer_id"' in page.text
    assert_nothing_saved(app)


def test_generate_instance_id_works_without_script(wizard):
    details = wizard.upload(fixture("valid-v1beta1.yaml"))
    form = {
        "csrf_token": csrf_token_from(details.text),
        "draft": hidden(details.text, "draft"),
        "customer_id": "acme",
        "instance_id": "",
        "generate_instance_id": "1",
    }
    page = wizard.client.post("/setup/details", data=form)
    generated = re.search(r'id="instance_id"[^>]*value="([0-9a-f-]{36})"', page.text) or re.search(
        r'value="([0-9a-f-]{36})"[^>]*id="instance_id"', page.text
    )
    assert generated, "a new UUID is filled in"
    assert 'value="acme"' in page.text


def test_a_tampered_draft_is_refused_and_nothing_saved(app, wizard):
    details = wizard.upload(fixture("valid-v1beta1.yaml"))
    review = wizard.details(details, customer_id="acme", instance_id="instance-1")
    forged = hidden(review.text, "draft")[:-6] + "AAAAAA"
    response = wizard.client.post(
        "/setup/save",
        data={"csrf_token": csrf_token_from(review.text), "draft": forged, "save": "Save"},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/setup/"
    assert_nothing_saved(app)


def test_a_file_with_several_licenses_lets_the_admin_choose(settings, app, tmp_path):
    from tests.conftest import AdminActions
    from tests.license_factory import write_global_public_key
    from wizard import create_app

    key = write_global_public_key(tmp_path / "test-global.pem")
    custom = create_app({**settings, "WIZARD_LICENSE_KEYS": str(key)})
    client = custom.test_client()
    AdminActions(client).unlock()
    data = to_yaml(
        signed_license(base_spec(customerName="First Co")),
        signed_license(
            base_spec(
                customerName="Second Co",
                customerID="cust-2",
                licenseID="2Second0License00000000000",
            )
        ),
    )
    page = Wizard(client).upload(data)
    assert "This file holds 2 licenses" in page.text
    assert "First Co" in page.text and "Second Co" in page.text
    unchosen = client.post(
        "/setup/choose",
        data={"csrf_token": csrf_token_from(page.text), "draft": hidden(page.text, "draft")},
    )
    assert "Which license?" in unchosen.text and "error-summary" in unchosen.text
    details = client.post(
        "/setup/choose",
        data={
            "csrf_token": csrf_token_from(page.text),
            "draft": hidden(page.text, "draft"),
            "choice": "1",
        },
    )
    assert "Second Co" in details.text
    assert "cust-2" in details.text and "from the license" in details.text
    review = Wizard(client).details(details, customer_id="ignored", instance_id="instance-9")
    assert "cust-2" in review.text and "ignored" not in review.text, "signed values win"


def test_reconfiguring_shows_old_and_new_values(app, wizard):
    with app.app_context():
        save_identity(
            "old-customer", "old-instance", "OldLicense0000000000000WXYZ", actor=Actor("cli")
        )
    start = wizard.client.get("/setup/")
    assert "Change the license identity" in start.text
    details = wizard.upload(fixture("valid-v1beta1.yaml"))
    assert 'value="old-customer"' in details.text, "current values are filled in"
    review = wizard.details(details, customer_id="old-customer", instance_id="new-instance")
    text = review.text
    assert "old-instance" in text and "new-instance" in text
    assert "…WXYZ" in text and "…PJcq" in text
    assert text.count('class="changed"') == 2  # instance id and license id change
    assert "(unchanged)" in text  # the customer id stays
    wizard.save(review)
    with app.app_context():
        change = recent_changes()[0]
        assert (change.old_instance_id, change.new_instance_id) == ("old-instance", "new-instance")


def test_back_from_review_keeps_the_answers(wizard):
    details = wizard.upload(fixture("valid-v1beta1.yaml"))
    review = wizard.details(details, customer_id="acme", instance_id="instance-1")
    back = wizard.client.post(
        "/setup/save",
        data={
            "csrf_token": csrf_token_from(review.text),
            "draft": hidden(review.text, "draft"),
            "edit": "Change the IDs",
        },
    )
    assert 'value="acme"' in back.text and 'value="instance-1"' in back.text


def test_save_with_the_database_gone_keeps_the_review_and_says_nothing_was_saved(
    app, wizard, monkeypatch
):
    import sqlalchemy as sa

    from wizard import setup as setup_views

    details = wizard.upload(fixture("valid-v1beta1.yaml"))
    review = wizard.details(details, customer_id="acme", instance_id="instance-1")

    def unreachable(*args, **kwargs):
        raise sa.exc.OperationalError("INSERT", {}, ConnectionRefusedError("db down"))

    monkeypatch.setattr(setup_views, "save_identity", unreachable)
    monkeypatch.setattr(setup_views, "load_identity", unreachable)
    page = wizard.save(review)
    assert page.status_code == 200
    assert "nothing was saved" in page.text
    assert "acme" in page.text and "instance-1" in page.text
    monkeypatch.undo()
    assert_nothing_saved(app)
    with app.app_context():
        db.session.remove()
