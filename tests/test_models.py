"""The identity row as the design uses it, and the single-row rule the database enforces."""

import html
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from tests.support import LICENSE_ID, recent_changes, save_uploaded_license, saved_summary
from wizard.db import db
from wizard.models import TelemetryIdentity


def test_design_usage_runs_as_written(app):
    with app.app_context():
        session = db.session
        identity = session.query(TelemetryIdentity).first()
        assert identity is None
        identity = TelemetryIdentity(id=1)
        session.add(identity)
        session.commit()
        assert session.query(TelemetryIdentity).first().has_customer_info is False

        identity = session.query(TelemetryIdentity).first()
        identity.set_customer_info(
            customer_id="acme@example.com",
            instance_id="3f2b8c1e-8d4a-4c9b-9e1f-2a7d6c5b4a39",
            license_id=LICENSE_ID,
        )
        session.commit()
        session.remove()

        reread = db.session.query(TelemetryIdentity).first()
        assert reread.has_customer_info is True
        assert reread.customer_id == "acme@example.com"
        assert reread.license_id == LICENSE_ID
        assert reread.created_at.tzinfo is not None
        assert reread.updated_at >= reread.created_at


def test_a_save_through_the_hosts_own_session_is_in_the_history(app, client, admin):
    save_uploaded_license(app)
    with app.app_context():
        identity = db.session.query(TelemetryIdentity).one()
        identity.set_customer_info(
            customer_id="host-customer",
            instance_id="instance-1",
            license_id="HostLicense00000000000000WXYZ",
        )
        db.session.commit()
        db.session.remove()
    newest = recent_changes(app)[0]
    assert (newest.method, newest.old_customer_id, newest.new_customer_id) == (
        "host",
        "acme-corp",
        "host-customer",
    )
    assert saved_summary(app) is None, "the old license's details went with its license id"
    admin.unlock()
    page = html.unescape(client.get("/status").text)
    assert "host-customer" in page and "…WXYZ" in page
    assert "the application's own code" in page, "who saved it, on the status page"
    assert "Acme Corp" not in page


def test_database_refuses_a_second_row(app):
    with app.app_context():
        db.session.execute(sa.text("INSERT INTO telemetry_identity (id) VALUES (1)"))
        db.session.commit()
        with pytest.raises(sa.exc.IntegrityError):
            db.session.execute(
                sa.text("INSERT INTO telemetry_identity (id, customer_id) VALUES (2, 'other')")
            )
            db.session.commit()
        db.session.rollback()
        assert db.session.execute(sa.text("SELECT count(*) FROM telemetry_identity")).scalar() == 1


def test_row_with_another_id_is_refused_even_when_the_table_is_empty(app):
    with app.app_context(), pytest.raises(sa.exc.IntegrityError) as caught:
        db.session.execute(sa.text("INSERT INTO telemetry_identity (id) VALUES (2)"))
        db.session.commit()
    assert "single_row_constraint" in str(caught.value), "the database names the constraint"


def test_database_sets_timestamps_on_a_raw_insert(app):
    with app.app_context():
        db.session.execute(sa.text("INSERT INTO telemetry_identity (id) VALUES (1)"))
        db.session.commit()
        row = db.session.get(TelemetryIdentity, 1)
        age = datetime.now(UTC) - row.created_at
        assert abs(age.total_seconds()) < 60
        assert row.updated_at == row.created_at


def test_updated_at_moves_when_the_row_changes(app):
    with app.app_context():
        identity = TelemetryIdentity(id=1)
        identity.set_customer_info("acme", "instance-1")
        db.session.add(identity)
        db.session.commit()
        first = identity.updated_at
        identity.set_customer_info("acme", "instance-2")
        db.session.commit()
        assert identity.updated_at > first
        assert identity.created_at <= first


def test_a_passed_license_id_is_written_and_none_clears_it():
    identity = TelemetryIdentity(id=1)
    identity.set_customer_info("acme", "instance-1", license_id=LICENSE_ID)
    assert identity.license_id == LICENSE_ID
    identity.set_customer_info("acme", "instance-1", license_id=None)
    assert identity.license_id is None


def test_a_license_id_not_passed_is_left_alone():
    identity = TelemetryIdentity(id=1)
    identity.set_customer_info("acme", "instance-1", license_id=LICENSE_ID)
    identity.set_customer_info("acme", "instance-2")
    assert identity.license_id == LICENSE_ID
    assert identity.instance_id == "instance-2"


def test_an_unknown_keyword_raises_type_error():
    identity = TelemetryIdentity(id=1)
    with pytest.raises(TypeError, match="licence_id"):
        identity.set_customer_info("acme", "instance-1", licence_id=LICENSE_ID)
    assert identity.customer_id is None


@pytest.mark.parametrize(
    ("customer_id", "instance_id", "field"),
    [
        ("", "instance-1", "customer_id"),
        ("   ", "instance-1", "customer_id"),
        ("acme", "", "instance_id"),
        ("acme", None, "instance_id"),
        ("acme", "x" * 256, "instance_id"),
        ("ac me", "instance-1", "customer_id"),
        ("acme\x00", "instance-1", "customer_id"),
        ("acme", "inst\u200bance", "instance_id"),
    ],
)
def test_an_invalid_id_raises_value_error_naming_it_and_changes_nothing(
    customer_id, instance_id, field
):
    identity = TelemetryIdentity(id=1)
    identity.set_customer_info("before", "before-instance")
    with pytest.raises(ValueError, match=field):
        identity.set_customer_info(customer_id, instance_id)
    assert (identity.customer_id, identity.instance_id) == ("before", "before-instance")


def test_a_blank_license_id_is_refused_rather_than_stored():
    identity = TelemetryIdentity(id=1)
    with pytest.raises(ValueError, match="license_id"):
        identity.set_customer_info("acme", "instance-1", license_id="  ")


@pytest.mark.parametrize(
    "real_id",
    [
        "1vusOokxAVp1tkRGuyxnF23PJcq",
        "3f2b8c1e-8d4a-4c9b-9e1f-2a7d6c5b4a39",
        "ops+replicated@example.co.uk",
        "x" * 255,
    ],
)
def test_ids_seen_in_real_replicated_data_are_accepted(real_id):
    identity = TelemetryIdentity(id=1)
    identity.set_customer_info(real_id, real_id, license_id=real_id)
    assert identity.has_customer_info


def test_surrounding_white_space_is_trimmed():
    identity = TelemetryIdentity(id=1)
    identity.set_customer_info("  acme\t", "\ninstance-1 ")
    assert (identity.customer_id, identity.instance_id) == ("acme", "instance-1")


@pytest.mark.parametrize(
    ("customer_id", "instance_id", "expected"),
    [
        ("acme", "instance-1", True),
        ("acme", None, False),
        (None, "instance-1", False),
        ("", "instance-1", False),
        (None, None, False),
    ],
)
def test_has_customer_info_needs_both_ids(customer_id, instance_id, expected):
    identity = TelemetryIdentity(id=1, customer_id=customer_id, instance_id=instance_id)
    assert identity.has_customer_info is expected
