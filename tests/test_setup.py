"""The wizard's steps over HTTP: every step at its own address, every refusal clear, and a
review that saves exactly what it shows, or nothing."""

import html
import re

import pytest
import sqlalchemy as sa

from tests.support import (
    LICENSE_ID,
    AdminActions,
    Wizard,
    assert_nothing_saved,
    csrf_token_from,
    fixture,
    recent_changes,
    save_uploaded_license,
    saved_identity,
    saved_summary,
)
from tests.support.license_factory import (
    base_spec,
    signed_license,
    to_yaml,
    write_global_public_key,
)
from wizard.db import db
from wizard.identity import Actor, save_identity
from wizard.ids import RULE

OTHER_LICENSE_ID = "2Other0License0Id000000WXYZ"


@pytest.fixture
def custom_key_app(make_app, tmp_path):
    """The app trusting the key the tests sign their own licenses with."""
    return make_app(WIZARD_LICENSE_KEYS=str(write_global_public_key(tmp_path / "global.pem")))


@pytest.fixture
def custom_wizard(custom_key_app):
    client = custom_key_app.test_client()
    AdminActions(client).unlock()
    return Wizard(client)


def instance_id_in(page):
    match = re.search(r'id="instance_id"[^>]*value="([^"]*)"', page.text) or re.search(
        r'value="([^"]*)"[^>]*id="instance_id"', page.text
    )
    return match.group(1) if match else None


def test_the_wizard_needs_the_admin(client):
    for path in ("/setup/", "/setup/upload", "/setup/paste", "/setup/review"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"] == f"/setup/unlock?next={path}"
    token = csrf_token_from(client.get("/setup/unlock").text)
    for path in ("/setup/manual", "/setup/detect"):
        response = client.post(path, data={"csrf_token": token})
        assert response.status_code == 302
        assert response.headers["Location"] == f"/setup/unlock?next={path}"


def test_upload_review_save_by_license_file(app, wizard):
    details = wizard.upload(fixture("valid-v1beta1.yaml"))
    assert details.request.path == "/setup/details", "each step has its own address"
    assert "The license is valid" in details.text
    assert "Test Customer" in details.text
    assert LICENSE_ID not in details.text, "only the hint of the license id is on pages"
    assert "…PJcq" in details.text

    review = wizard.details(customer_id="cust-42", instance_id="instance-1")
    assert review.request.path == "/setup/review"
    assert "Review and save" in review.text
    assert "cust-42" in review.text and "instance-1" in review.text
    assert "Verified with the production key" in review.text
    assert "Hidden Field" not in review.text, "hidden entitlements are never shown"
    assert LICENSE_ID not in review.text
    assert_nothing_saved(app)

    done = wizard.save(review)
    assert (done.status_code, done.headers["Location"]) == (302, "/status")
    identity = saved_identity(app)
    assert (identity.customer_id, identity.instance_id, identity.license_id) == (
        "cust-42",
        "instance-1",
        LICENSE_ID,
    )
    [change] = recent_changes(app)
    assert (change.method, change.actor) == ("wizard", "session")
    status = wizard.client.get("/status").text
    assert "Saved. This installation is identified." in status
    assert "Test Customer" in status and "Bool Field" in status
    assert "Hidden Field" not in status and "this is secret" not in status


def test_every_step_can_be_shown_again_by_its_address(wizard):
    wizard.upload(fixture("valid-v1beta1.yaml"))
    wizard.details(customer_id="cust-42", instance_id="instance-1")
    for path, words in (
        ("/setup/details", 'value="cust-42"'),
        ("/setup/review", "instance-1"),
        ("/setup/details", 'value="instance-1"'),
    ):
        page = wizard.client.get(path)
        assert page.status_code == 200, path
        assert words in page.text, path


def test_paste_v1beta2_license(app, wizard):
    details = wizard.paste(fixture("valid-v1beta2.yaml").decode())
    assert "The license is valid" in details.text
    assert "Never" in details.text  # empty expires_at
    wizard.details(customer_id="geeglo", instance_id="instance-2")
    wizard.save()
    assert saved_identity(app).license_id == "33kXFWGTnWkdJRuhr2RyUNxhjpN"


def test_typing_the_ids_without_a_license(app, wizard):
    details = wizard.manual()
    assert "Type the IDs" in details.text
    review = wizard.details(customer_id="acme", instance_id="instance-3", license_id=LICENSE_ID)
    assert LICENSE_ID not in review.text
    wizard.save(review)
    assert saved_identity(app).license_id == LICENSE_ID


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
    assert page.request.path == "/setup/upload"
    assert "License file: " in page.text and message in page.text
    assert 'class="error-summary"' in page.text
    assert_nothing_saved(app)
    # The file can be replaced without starting over.
    assert "The license is valid" in wizard.upload(fixture("valid-v1beta1.yaml")).text


def test_another_app_is_refused_when_an_app_is_expected(make_app):
    strict = make_app(WIZARD_EXPECTED_APP_SLUG="my-app")
    client = strict.test_client()
    AdminActions(client).unlock()
    page = Wizard(client).paste(fixture("other-app.yaml").decode())
    assert "for the application cluster-admin, not my-app" in page.text
    assert "Use the license issued for my-app" in page.text
    assert "Upload" not in page.text.split("error-summary")[1].split("</div>")[0]
    assert_nothing_saved(strict)


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (b"apiVersion: apps/v1\nkind: Deployment\n", "deploy.yaml", "it holds a Deployment"),
        (bytes(range(256)), "junk.yaml", "not text"),
        (b"kind: License\n", "license.txt", "must be a .yaml or .yml file"),
        (b"", "empty.yaml", "This is empty"),
    ],
)
def test_files_that_are_not_licenses_are_refused_clearly(app, wizard, data, filename, message):
    page = wizard.upload(data, filename)
    assert page.status_code == 200
    assert message in page.text
    assert_nothing_saved(app)


def test_pasted_text_is_not_called_a_file(wizard):
    page = wizard.paste("apiVersion: apps/v1\nkind: Deployment\n")
    assert "License text: This is not a Replicated license" in page.text
    assert "This file" not in page.text


@pytest.mark.parametrize(
    ("step", "field", "send"),
    [
        ("upload", "License file", lambda w: w.upload(b"x" * 10_000)),
        ("paste", "License text", lambda w: w.paste("x" * 10_000)),
    ],
)
def test_too_large_returns_to_its_step_with_the_limit_stated(make_app, step, field, send):
    small = make_app(MAX_CONTENT_LENGTH=4096)
    client = small.test_client()
    AdminActions(client).unlock()
    page = send(Wizard(client))
    assert page.history[0].status_code == 303, "through a redirect: a reload sends nothing"
    assert page.request.path == f"/setup/{step}"
    assert f"{field} is larger than 4 KiB, the most this wizard accepts" in page.text
    assert 'class="error-summary"' in page.text and 'name="csrf_token"' in page.text
    assert_nothing_saved(small)


@pytest.mark.parametrize(
    "text",
    ["customer: acme\nthe id is 1vusOokxAVp1tkRGuyxnF23PJcq\n", "hello there\nsecond line\n"],
    ids=["two-lines-half-yaml", "two-lines-of-prose"],
)
def test_a_paste_that_is_no_license_says_what_a_license_file_looks_like(wizard, text):
    page = wizard.paste(text)
    words = html.unescape(page.text)
    assert "License text: This is not a" in words
    assert "A license file begins with apiVersion: kots.io/v1beta1" in words
    assert "YAML str" not in words
    assert text.splitlines()[0] in words, "what was pasted is still in the box"


def test_paste_keeps_the_text_after_an_error(wizard):
    text = fixture("expired.yaml").decode()
    page = wizard.paste(text)
    assert "This license expired" in page.text
    assert "change-license-expired" in page.text, "the pasted text is still in the box"


def test_bad_ids_name_the_field_keep_the_input_and_save_nothing(app, wizard):
    wizard.upload(fixture("valid-v1beta1.yaml"))
    page = wizard.details(customer_id="has space", instance_id="")
    assert page.request.path == "/setup/details", "back to the step, through a redirect"
    assert [r.status_code for r in page.history] == [303]
    assert f"Customer ID must be {RULE}: found a space at position 4." in page.text
    assert f"Instance ID must not be blank: {RULE}." in page.text
    assert 'value="has space"' in page.text
    assert 'href="#customer_id"' in page.text
    assert_nothing_saved(app)


def test_enter_in_any_field_means_review(wizard):
    """The first submit button of the details form, what Enter presses, is Review."""
    page = wizard.upload(fixture("valid-v1beta1.yaml"))
    form = page.text.split('action="/setup/details"')[1]
    first_button = re.search(r"<(button|input)[^>]*type=\"submit\"[^>]*>", form).group(0)
    assert 'name="review"' in first_button


def test_generate_fills_an_empty_instance_id_without_script(wizard):
    wizard.upload(fixture("valid-v1beta1.yaml"))
    page = wizard.details(button="generate_instance_id", customer_id="acme", instance_id="")
    assert page.request.path == "/setup/details"
    assert re.fullmatch(r"[0-9a-f-]{36}", instance_id_in(page)), "a new UUID is filled in"
    assert 'value="acme"' in page.text, "what was typed is kept"
    assert "A new instance ID was generated" in page.text


def test_generate_asks_before_replacing_an_instance_id(wizard):
    wizard.upload(fixture("valid-v1beta1.yaml"))
    asked = wizard.details(button="generate_instance_id", customer_id="acme", instance_id="mine")
    assert "Instance ID already holds" in asked.text and "Replace it?" in asked.text
    assert instance_id_in(asked) == "mine", "nothing replaced without asking"
    replaced = wizard.details(button="replace_instance_id", customer_id="acme", instance_id="mine")
    assert instance_id_in(replaced) not in ("mine", "", None)


def test_generate_is_refused_and_not_offered_when_the_sdk_gave_the_instance_id(make_app, fake_sdk):
    app = make_app(WIZARD_REPLICATED_SDK_URL=fake_sdk().url)
    client = app.test_client()
    AdminActions(client).unlock()
    details = Wizard(client).detect()
    assert "Generate a new instance ID" not in details.text
    refused = Wizard(client).details(button="generate_instance_id", customer_id="c")
    assert refused.request.path == "/setup/details"
    assert "The Replicated SDK reported the instance ID: keep it." in refused.text


def test_a_step_without_its_earlier_answers_sends_back_to_the_start(wizard):
    for path in ("/setup/details", "/setup/review", "/setup/choose"):
        response = wizard.client.get(path)
        assert (response.status_code, response.headers["Location"]) == (302, "/setup/"), path
    start = wizard.client.get("/setup/")
    assert "Nothing is in progress here" in start.text
    wizard.manual()
    early = wizard.client.get("/setup/review")
    assert early.headers["Location"] == "/setup/details", "the review waits for the details"
    token = csrf_token_from(wizard.client.get("/setup/details").text)
    posted = wizard.client.post("/setup/review", data={"csrf_token": token, "based_on": "none"})
    assert posted.status_code == 302 and posted.headers["Location"] == "/setup/details"


def test_a_file_with_several_licenses_shows_each_verdict_before_the_choice(custom_wizard):
    data = to_yaml(
        signed_license(base_spec(customerName="First Co")),
        signed_license(
            base_spec(
                customerName="Old Co",
                licenseID="3Old0License0Id000000000000",
                entitlements={
                    "expires_at": {"title": "Expiration", "value": "2020-01-01T00:00:00Z"}
                },
            )
        ),
        signed_license(
            base_spec(
                customerName="Second Co",
                customerID="cust-2",
                licenseID="2Second0License00000000000",
            )
        ),
    )
    page = custom_wizard.upload(data)
    assert page.request.path == "/setup/choose"
    assert "This file holds 3 licenses" in page.text
    assert "First Co" in page.text and "Second Co" in page.text
    assert "Cannot be used: This license expired on 1 Jan 2020" in page.text
    assert page.text.count("disabled") == 1, "the expired one cannot be chosen"
    unchosen = custom_wizard.choose(None)
    assert "Which license?" in unchosen.text and "error-summary" in unchosen.text
    expired = custom_wizard.choose(2)
    assert "That one cannot be used" in expired.text
    details = custom_wizard.choose(3)
    assert details.request.path == "/setup/details"
    assert "Second Co" in details.text
    assert "cust-2" in details.text and "from the license" in details.text
    review = custom_wizard.details(customer_id="ignored", instance_id="instance-9")
    assert "cust-2" in review.text and "ignored" not in review.text, "signed values win"


def test_reconfiguring_shows_old_and_new_values(app, wizard):
    with app.app_context():
        save_identity("old-customer", "old-instance", LICENSE_ID, actor=Actor("cli"))
    start = wizard.client.get("/setup/")
    assert "Change the license identity" in start.text
    details = wizard.upload(fixture("valid-v1beta1.yaml"))
    assert 'value="old-customer"' in details.text, "the same license keeps its customer id"
    review = wizard.details(customer_id="old-customer", instance_id="new-instance")
    text = review.text
    assert "Instance ID changes from old-instance to new-instance." in text
    assert "Customer ID stays old-customer." in text
    assert "License ID stays …PJcq." in text
    assert text.count('class="changed"') == 1
    wizard.save(review)
    change = recent_changes(app)[0]
    assert (change.old_instance_id, change.new_instance_id) == ("old-instance", "new-instance")


def test_a_license_for_another_customer_never_inherits_the_old_customer_id(
    custom_key_app, custom_wizard
):
    with custom_key_app.app_context():
        save_identity(
            "acme-corp",
            "instance-1",
            "2Test0License0Id0000000000AB",
            summary={"app_slug": "my-app", "customer_name": "Acme Corp", "source": "upload"},
            actor=Actor("wizard"),
        )
    geeglo = signed_license(
        base_spec(customerName="Geeglo", appSlug="geeglo-app", licenseID=OTHER_LICENSE_ID)
    )
    details = custom_wizard.upload(to_yaml(geeglo))
    assert 'value="acme-corp"' not in details.text
    assert 'value="instance-1"' in details.text, "the deployment is still this one"
    review = custom_wizard.details(customer_id="geeglo-1", instance_id="instance-1")
    assert "Customer ID changes from acme-corp to geeglo-1." in review.text
    assert "The license belongs to another customer: Geeglo, not Acme Corp." in review.text
    assert "The license is for another application: geeglo-app, not my-app." in review.text
    assert "License ID changes from …00AB to …WXYZ." in review.text


def test_a_link_from_another_site_never_throws_the_answers_away(app, wizard):
    wizard.manual()
    wizard.details(customer_id="typed-here", instance_id="instance-here")
    token = csrf_token_from(wizard.client.get("/setup/").text)
    for path in ("/setup/manual", "/setup/detect"):
        assert wizard.client.get(path).status_code == 405, "no GET starts a new draft"
        sent = wizard.client.post(
            path, data={"csrf_token": token}, headers={"Sec-Fetch-Site": "cross-site"}
        )
        assert sent.status_code == 403, path
    for path in ("/setup/choose", "/setup/details", "/setup/review", "/setup/", "/setup/paste"):
        # A top-level link from another site: a GET, sent with the cookie (SameSite=Lax).
        followed = wizard.client.get(path, headers={"Sec-Fetch-Site": "cross-site"})
        assert followed.status_code in (200, 302), path
    review = wizard.client.get("/setup/review")
    assert review.status_code == 200 and "typed-here" in review.text


def test_typed_ids_that_replace_a_verified_license_say_its_details_go(app, wizard):
    save_uploaded_license(app)
    wizard.manual()
    kept = wizard.details(customer_id="acme-corp", instance_id="instance-1")
    assert "will be removed" not in kept.text, "a license id left blank keeps the license"
    review = wizard.details(
        customer_id="acme-corp", instance_id="instance-1", license_id="2Typed0License00000000000"
    )
    assert (
        "The verified license details (Acme Corp, my-app) will be removed: typed IDs cannot be "
        "verified." in review.text
    )
    assert 'class="notice notice-warning"' in review.text


def test_a_review_made_stale_by_another_save_saves_nothing_and_says_what_changed(app, wizard):
    wizard.manual()
    review = wizard.details(customer_id="mine", instance_id="instance-mine")
    other = Wizard(app.test_client())
    AdminActions(other.client).unlock()
    other.manual()
    other.details(customer_id="theirs", instance_id="instance-theirs")
    assert other.save().status_code == 302

    sent = wizard.save(review)
    assert (sent.status_code, sent.headers["Location"]) == (303, "/setup/review")
    stale = wizard.client.get("/setup/review")
    assert "Someone else saved the identity while this review was open" in stale.text
    assert "customer theirs, instance instance-theirs" in stale.text
    assert saved_identity(app).customer_id == "theirs", "nothing of the stale review was saved"
    assert "Customer ID changes from theirs to mine." in stale.text
    again = wizard.save(stale)
    assert again.status_code == 302
    assert saved_identity(app).customer_id == "mine"


def test_answers_changed_in_another_tab_since_the_review_save_nothing(app, wizard):
    """Two tabs of one browser share one draft: Save in the tab whose review no longer shows
    the draft's answers saves nothing, and shows the answers as they are now."""
    wizard.manual()
    first_tab = wizard.details(customer_id="AAA-shown", instance_id="instance-shown")
    wizard.details(customer_id="BBB-other-tab", instance_id="instance-other-tab")
    sent = wizard.save(first_tab)
    assert (sent.status_code, sent.headers["Location"]) == (303, "/setup/review")
    refused = wizard.client.get("/setup/review")
    assert "These answers were changed in another tab or window" in refused.text
    assert_nothing_saved(app)
    assert "BBB-other-tab" in refused.text and "AAA-shown" not in refused.text
    assert wizard.save(refused).status_code == 302
    assert saved_identity(app).customer_id == "BBB-other-tab"


def test_lock_in_another_tab_then_save_unlocks_and_returns_to_the_review(app, wizard, admin):
    wizard.upload(fixture("valid-v1beta1.yaml"))
    review = wizard.details(customer_id="acme", instance_id="instance-1")
    admin.lock()  # the other tab shares the cookie
    refused = wizard.save(review)
    assert refused.headers["Location"] == "/setup/unlock?next=/setup/review"
    unlock_page = wizard.client.get(refused.headers["Location"])
    assert "The wizard was locked, in this tab or another" in unlock_page.text
    back = admin.unlock(next_path="/setup/review")
    assert back.headers["Location"] == "/setup/review"
    again = wizard.client.get("/setup/review")
    assert "acme" in again.text and "instance-1" in again.text, "the answers are kept"
    assert wizard.save(again).status_code == 302
    assert saved_identity(app).customer_id == "acme"


def test_what_was_typed_survives_a_lock_in_another_tab(app, wizard, admin):
    wizard.upload(fixture("valid-v1beta2.yaml"))  # no customer id in it: the admin types one
    details = wizard.client.get("/setup/details")
    admin.lock()  # the other tab shares the cookie
    typed = {"customer_id": "typed-before-lock", "instance_id": "instance-typed"}
    refused = wizard.client.post(
        "/setup/details",
        data={"csrf_token": csrf_token_from(details.text), "review": "1", **typed},
    )
    assert refused.headers["Location"] == "/setup/unlock?next=/setup/details"
    assert "answers are kept" in wizard.client.get(refused.headers["Location"]).text
    admin.unlock(next_path="/setup/details")
    again = wizard.client.get("/setup/details").text
    assert 'value="typed-before-lock"' in again and 'value="instance-typed"' in again
    assert_nothing_saved(app)


def test_a_stranger_posting_the_details_form_stores_nothing(app, client):
    """Only a browser that had a draft, so was the admin, has its typing kept for later."""
    token = csrf_token_from(client.get("/setup/unlock").text)
    sent = client.post(
        "/setup/details",
        data={"csrf_token": token, "review": "1", "customer_id": "x" * 100_000},
    )
    assert sent.status_code == 302 and sent.headers["Location"].startswith("/setup/unlock")
    with app.app_context(), db.engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM setup_draft")).scalar() == 0


def test_a_draft_belongs_to_its_browser(app, wizard):
    wizard.manual()
    wizard.details(customer_id="mine", instance_id="instance-mine")
    other = app.test_client()
    AdminActions(other).unlock()
    assert other.get("/setup/review").headers["Location"] == "/setup/", "no draft there"


def test_back_from_review_keeps_the_answers(wizard):
    wizard.upload(fixture("valid-v1beta1.yaml"))
    review = wizard.details(customer_id="acme", instance_id="instance-1")
    assert 'href="/setup/details">Change the IDs' in review.text
    back = wizard.client.get("/setup/details")
    assert 'value="acme"' in back.text and 'value="instance-1"' in back.text


def test_after_saving_the_review_is_gone(wizard):
    wizard.manual()
    review = wizard.details(customer_id="acme", instance_id="instance-1")
    wizard.save(review)
    again = wizard.client.get("/setup/review")
    assert again.headers["Location"] == "/setup/"
    assert "Nothing is in progress here" in wizard.client.get("/setup/").text


def test_a_license_with_a_large_ca_bundle_uploads_and_saves(custom_key_app, custom_wizard):
    """A genuine license may carry a CA bundle of a few hundred KB (docs/licenses.md, Sizes):
    the default upload limit takes it, and the whole bundle is what is saved."""
    bundle = "".join(
        f"-----BEGIN CERTIFICATE-----\n{'M' * 1600}\n-----END CERTIFICATE-----\n"
        for _ in range(400)
    )
    spec = base_spec(
        entitlements={"ca_bundle": {"title": "CA bundle", "value": bundle, "valueType": "Text"}}
    )
    data = to_yaml(signed_license(spec))
    assert len(data) > 1_000_000, "its signed copy doubles it, in base64"
    details = custom_wizard.upload(data, filename="big.yaml")
    assert "The license is valid" in details.text, details.text[:2000]
    custom_wizard.save(custom_wizard.details(customer_id="acme", instance_id="instance-1"))
    entitlements = {e["name"]: e["value"] for e in saved_summary(custom_key_app).entitlements}
    assert entitlements["ca_bundle"] == bundle
    status = custom_wizard.client.get("/status").text
    shown = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", status)).split())
    assert "CA bundle -----BEGIN CERTIFICATE----- … 1,200 lines, 646 KiB in all" in shown
    assert len(status) < 100_000, "the page shows the bundle in brief"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig"])
def test_a_license_saved_as_utf16_uploads_and_saves(app, wizard, encoding):
    """What Notepad's "Unicode" writes; the draft keeps the text as it was read."""
    details = wizard.upload(fixture("valid-v1beta1.yaml").decode().encode(encoding))
    assert "The license is valid" in details.text
    wizard.save(wizard.details(customer_id="cust-42", instance_id="instance-1"))
    assert saved_identity(app).license_id == LICENSE_ID


def test_a_utf16_file_of_two_licenses_offers_both(wizard):
    two = fixture("valid-v1beta1.yaml") + b"\n---\n" + fixture("valid-v1beta2.yaml")
    page = wizard.upload(two.decode().encode("utf-16"))
    assert page.request.path == "/setup/choose"
    assert "Test Customer" in page.text and "Geeglo" in page.text
    details = wizard.choose(2)
    assert "The license is valid" in details.text and "Geeglo" in details.text


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("one\ntwo\nthree", None),  # a few lines: shown as they are
        ("x" * 201, ("x" * 80, "201 characters")),
        ("a\x0bb\x0cc\nd\ne\nf", ("a", "6 lines, 11 bytes in all")),  # Python's line breaks
        (" " * 300, ("(white space)", "300 characters")),
        (5, None),
    ],
    ids=["three lines", "one long line", "vertical tab and form feed", "blank", "a number"],
)
def test_which_text_is_shown_in_brief(value, shown):
    from wizard.web.filters import long_text

    assert long_text(value) == shown


def test_the_review_says_what_saving_starts(make_app, app, wizard):
    wizard.upload(fixture("valid-v1beta1.yaml"))
    review = wizard.details(customer_id="acme", instance_id="instance-1")
    assert (
        "Once saved, this installation reports to Replicated: direct to https://replicated.app, "
        "with the license ID as its credential." in html.unescape(review.text)
    )
    offline = make_app(WIZARD_REPORTING="offline").test_client()
    AdminActions(offline).unlock()
    Wizard(offline).manual()
    review = Wizard(offline).details(customer_id="acme", instance_id="instance-1")
    assert "nothing leaves this installation" in review.text
    nowhere = make_app(WIZARD_REPORTING="sdk").test_client()
    AdminActions(nowhere).unlock()
    Wizard(nowhere).manual()
    review = Wizard(nowhere).details(customer_id="acme", instance_id="instance-1")
    assert (
        "Once saved, reports cannot be sent yet: WIZARD_REPORTING=sdk needs "
        "WIZARD_REPLICATED_SDK_URL." in review.text
    )
    plain = make_app(WIZARD_REPLICATED_ENDPOINT="http://vendor.example.com").test_client()
    AdminActions(plain).unlock()
    Wizard(plain).manual()
    review = Wizard(plain).details(customer_id="acme", instance_id="instance-1")
    assert "reports cannot be sent yet: the endpoint http://vendor.example.com is not HTTPS" in (
        html.unescape(review.text)
    )
    quiet = make_app(WIZARD_REPORTING="off").test_client()
    AdminActions(quiet).unlock()
    Wizard(quiet).manual()
    assert "Once saved" not in Wizard(quiet).details(customer_id="a", instance_id="i").text
