"""Saving the identity: one transaction, one upsert, a history entry for every save."""

import itertools
import subprocess
import sys
import textwrap
import time

import pytest
import sqlalchemy as sa

from tests.support import LICENSE_ID
from wizard.db import db
from wizard.identity import (
    Actor,
    CustomerIdProblem,
    InvalidValue,
    StaleIdentity,
    customer_id_for,
    load_identity,
    load_status,
    save_identity,
    seed_identity,
)
from wizard.models import IdentityChange, TelemetryIdentity


def recent_changes():
    return load_status(changes=10)[2]


def load_license_summary():
    return load_status(changes=0)[1]


SUMMARY = {
    "app_slug": "my-app",
    "customer_name": "Acme Corp",
    "license_type": "paid",
    "channel_name": "Stable",
    "signing_key": "production",
    "license_version": "kots.io/v1beta1",
    "entitlements": [{"name": "seats", "title": "Seats", "value": 10, "value_type": "Integer"}],
    "source": "upload",
}


def test_first_save_creates_the_row_and_one_history_entry(app):
    with app.app_context():
        saved = save_identity("acme", "instance-1", LICENSE_ID, actor=Actor("cli", who="cli:root"))
        assert saved.has_customer_info
        assert load_identity() == saved
        [change] = recent_changes()
        assert (change.method, change.actor) == ("cli", "cli:root")
        assert (change.old_customer_id, change.new_customer_id) == (None, "acme")
        assert (change.old_instance_id, change.new_instance_id) == (None, "instance-1")
        assert change.new_license_hint == "…PJcq"


def test_history_keeps_old_and_new_values_and_never_the_whole_license_id(app):
    with app.app_context():
        save_identity("acme", "instance-1", LICENSE_ID, actor=Actor("cli"))
        save_identity("acme", "instance-2", "2ABCDEFGHIJKLMNOPQRSTUVWXYZ", actor=Actor("api"))
        newest = recent_changes()[0]
        assert (newest.old_instance_id, newest.new_instance_id) == ("instance-1", "instance-2")
        assert (newest.old_license_hint, newest.new_license_hint) == ("…PJcq", "…WXYZ")
        dumped = db.session.execute(sa.text("SELECT * FROM identity_history")).all()
        assert LICENSE_ID not in repr(dumped)


def test_updated_at_moves_on_every_save_and_created_at_stays(app):
    with app.app_context():
        first = save_identity("acme", "instance-1", actor=Actor("cli"))
        time.sleep(0.01)
        second = save_identity("acme", "instance-2", actor=Actor("cli"))
        assert second.created_at == first.created_at
        assert second.updated_at > first.updated_at


def test_the_summary_is_saved_with_the_license_and_dropped_when_the_license_changes(app):
    with app.app_context():
        save_identity("acme", "instance-1", LICENSE_ID, summary=SUMMARY, actor=Actor("wizard"))
        assert load_license_summary().customer_name == "Acme Corp"
        save_identity("acme", "instance-2", LICENSE_ID, actor=Actor("wizard"))
        assert load_license_summary().app_slug == "my-app", "same license: summary still true"
        save_identity("acme", "instance-2", None, actor=Actor("wizard"))
        assert load_license_summary() is None, "license gone: its summary must go too"


@pytest.mark.parametrize("bad", ["", "a b", "x" * 256, "nul\x00", "\u0430cme", "a\u3164"])
def test_an_invalid_id_saves_nothing(app, bad):
    with app.app_context():
        with pytest.raises(InvalidValue, match="instance_id") as refused:
            save_identity("acme", bad, actor=Actor("cli"))
        assert refused.value.field == "instance_id"
        assert load_identity() is None
        assert recent_changes() == []


def test_a_failure_inside_the_transaction_leaves_everything_as_it_was(app):
    with app.app_context():
        save_identity("acme", "instance-1", LICENSE_ID, summary=SUMMARY, actor=Actor("cli"))
        # The summary is written after the identity row (and, on PostgreSQL, the history):
        # a value the JSON column cannot hold fails the transaction half-way.
        unwritable = {**SUMMARY, "entitlements": [{"value": object()}]}
        with pytest.raises(Exception, match="JSON serializable"):
            save_identity(
                "evil",
                "instance-9",
                "OtherLicense000000000000XYZ",
                summary=unwritable,
                actor=Actor("cli"),
            )

        identity = load_identity()
        assert (identity.customer_id, identity.instance_id) == ("acme", "instance-1")
        kept = load_license_summary()
        assert (kept.customer_name, kept.app_slug) == ("Acme Corp", "my-app")
        assert len(recent_changes()) == 1


def test_a_save_after_the_design_usage_created_the_row_updates_it(app):
    with app.app_context():
        row = TelemetryIdentity(id=1)
        row.set_customer_info("from-orm", "instance-1")
        db.session.add(row)
        db.session.commit()
        save_identity("acme", "instance-2", actor=Actor("api"))
        assert db.session.query(TelemetryIdentity).count() == 1
        change = recent_changes()[0]
        assert (change.old_customer_id, change.new_customer_id) == ("from-orm", "acme")


SAVER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from wizard import create_app
    from wizard.identity import Actor, save_identity

    worker, saves, go = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    app = create_app()
    with app.app_context():
        while not go.exists():
            time.sleep(0.005)
        for i in range(saves):
            save_identity(f"customer-{worker}-{i}", f"instance-{worker}-{i}",
                          f"License{worker}x{i}ABCDEFGHIJ", actor=Actor("cli", who=f"p{worker}"))
    """
)


def test_many_processes_saving_at_once_leave_one_consistent_row(app, env, tmp_path):
    processes, saves = 8, 50
    go = tmp_path / "go"
    savers = [
        subprocess.Popen(
            [sys.executable, "-c", SAVER, str(worker), str(saves), str(go)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for worker in range(processes)
    ]
    time.sleep(1.5)  # let every process import and connect, so the saves really overlap
    go.touch()
    for saver in savers:
        _out, err = saver.communicate(timeout=240)
        assert saver.returncode == 0, err

    with app.app_context():
        rows = db.session.query(TelemetryIdentity).all()
        assert len(rows) == 1
        row = rows[0]
        _, worker, i = row.customer_id.split("-")
        assert row.instance_id == f"instance-{worker}-{i}", "the row mixes two saves"
        assert row.license_id == f"License{worker}x{i}ABCDEFGHIJ", "the row mixes two saves"
        assert row.updated_at >= row.created_at

        history = db.session.query(IdentityChange).order_by(IdentityChange.id).all()
        assert len(history) == processes * saves
        assert len({change.new_customer_id for change in history}) == processes * saves
        # Each entry's old values are exactly the previous entry's new values: no save was lost
        # between reading what it replaced and writing.
        for before, after in itertools.pairwise(history):
            assert after.old_customer_id == before.new_customer_id
            assert after.old_instance_id == before.new_instance_id
        assert history[-1].new_customer_id == row.customer_id


def test_a_license_id_left_out_is_kept_and_none_clears_it(app):
    with app.app_context():
        save_identity("acme", "instance-1", LICENSE_ID, actor=Actor("cli"))
        kept = save_identity("acme", "instance-2", actor=Actor("cli"))
        assert kept.license_id == LICENSE_ID and load_identity().license_id == LICENSE_ID
        cleared = save_identity("acme", "instance-2", None, actor=Actor("cli"))
        assert cleared.license_id is None and load_identity().license_id is None


def test_a_save_based_on_a_stale_review_is_refused_and_saves_nothing(app):
    with app.app_context():
        first = save_identity("acme", "instance-1", actor=Actor("wizard"))
        with pytest.raises(StaleIdentity) as nothing_then:
            save_identity("acme", "instance-9", actor=Actor("wizard"), based_on=None)
        assert nothing_then.value.current == first
        second = save_identity("geeglo", "instance-2", actor=Actor("api"))
        with pytest.raises(StaleIdentity) as stale:
            save_identity("acme", "instance-3", actor=Actor("wizard"), based_on=first.updated_at)
        assert stale.value.current.customer_id == "geeglo"
        assert load_identity() == second
        assert len(recent_changes()) == 2
        saved = save_identity(
            "acme", "instance-3", actor=Actor("wizard"), based_on=second.updated_at
        )
        assert load_identity() == saved


def test_a_license_value_too_long_to_store_is_named_and_nothing_is_saved(app):
    with app.app_context():
        with pytest.raises(InvalidValue, match="customer name is 300 characters") as refused:
            save_identity(
                "acme",
                "instance-1",
                LICENSE_ID,
                summary={**SUMMARY, "customer_name": "x" * 300},
                actor=Actor("api"),
            )
        assert refused.value.field == "customer_name"
        assert load_identity() is None and recent_changes() == []


def test_seeding_saves_only_while_no_identity_is_set(app):
    with app.app_context():
        saved, existing = seed_identity(("env-customer", "env-instance"), actor=Actor("env"))
        assert saved.customer_id == "env-customer" and existing is None
        save_identity("admin-customer", "admin-instance", actor=Actor("wizard"))
        saved, existing = seed_identity(("env-2", "env-instance-2"), actor=Actor("env"))
        assert saved is None and existing.customer_id == "admin-customer"
        assert load_identity().customer_id == "admin-customer"


def test_a_table_the_host_made_without_server_defaults_still_takes_saves(app):
    """An adopted identity table may have no server default for its times: saves set them."""
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE telemetry_identity"))
        connection.execute(
            sa.text(
                "CREATE TABLE telemetry_identity (id INTEGER PRIMARY KEY, "
                "customer_id VARCHAR(255), instance_id VARCHAR(255), license_id VARCHAR(255), "
                "created_at TIMESTAMP WITH TIME ZONE NOT NULL, "
                "updated_at TIMESTAMP WITH TIME ZONE NOT NULL, "
                "CONSTRAINT single_row_constraint CHECK (id = 1))"
            )
        )
    with app.app_context():
        saved = save_identity("acme", "instance-1", actor=Actor("cli"))
        assert saved.created_at.tzinfo is not None and load_identity() == saved


@pytest.mark.parametrize(
    ("carried", "given", "result"),
    [
        ("lic-cust", None, "lic-cust"),
        ("lic-cust", "lic-cust", "lic-cust"),
        (None, "typed", "typed"),
    ],
)
def test_the_customer_id_a_license_carries_wins(carried, given, result):
    assert customer_id_for(carried, given) == result


@pytest.mark.parametrize(
    ("carried", "given", "message"),
    [
        (
            "lic-cust",
            "typed",
            "typed differs from the customer ID lic-cust that the license carries",
        ),
        (None, None, "is required: the license does not carry one"),
    ],
)
def test_a_customer_id_the_license_overrules_or_lacks_is_refused(carried, given, message):
    with pytest.raises(CustomerIdProblem, match=message):
        customer_id_for(carried, given)
