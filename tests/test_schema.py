"""The wizard's tables in a database it shares with a host application: its own Alembic
version table, an identity table the host made adopted or refused, nothing of the host's lost."""

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext

from tests.host_app.models import HostBase
from tests.support import ADMIN_TOKEN
from wizard.db import db
from wizard.identity import Actor, load_identity, save_identity
from wizard.schema import (
    VERSION_TABLE,
    SchemaConflict,
    head_revision,
    host_include_name,
    include_wizard_tables,
    upgrade_schema,
)

HOST_MIGRATIONS = Path(__file__).parent / "host_app" / "migrations"
HOST_HEAD = "b7c8d9e0f1a2"


def wizard_differences(connection):
    """What the wizard's own autogenerate would change in this database."""
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "version_table": VERSION_TABLE,
            "include_name": include_wizard_tables,
        },
    )
    return compare_metadata(context, db.metadata)


def host_differences(connection, metadata):
    """What the host's autogenerate would change, with the wizard's filter in its env.py."""
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_name": host_include_name(metadata)}
    )
    return compare_metadata(context, metadata)


def host_alembic(database_url):
    config = Config()
    config.set_main_option("script_location", str(HOST_MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def tables(app):
    with app.app_context():
        return set(sa.inspect(db.engine).get_table_names())


def test_the_head_revision_the_code_names_is_alembics():
    from alembic.script import ScriptDirectory

    from wizard.schema import MIGRATIONS_DIR

    assert head_revision() == ScriptDirectory(MIGRATIONS_DIR).get_current_head()


def test_models_and_migrations_agree(app):
    with app.app_context(), db.engine.connect() as connection:
        assert wizard_differences(connection) == []


def test_the_wizard_keeps_its_revision_in_its_own_version_table(bare_app):
    with bare_app.app_context():
        upgrade_schema()
        upgrade_schema()  # twice is harmless
        with db.engine.connect() as connection:
            versions = connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}"))
            assert [row[0] for row in versions] == [head_revision()]
    assert "alembic_version" not in tables(bare_app), "alembic_version is the host's name"


def as_of_revision_0002(connection):
    """Take the wizard's tables back to what revision 0002 had made."""
    later = ("admin_session", "unlock_link", "setup_draft", "report_round", "report_state")
    for table in (*later, "license_watch"):
        connection.execute(sa.text(f"DROP TABLE {table}"))
    for column in ("endpoint", "channel_id"):  # added by 0004
        connection.execute(sa.text(f"ALTER TABLE license_summary DROP COLUMN {column}"))


def test_an_older_install_moves_its_revision_out_of_alembic_version(app):
    """Installs made before the wizard had its own version table kept it in alembic_version."""
    with app.app_context():
        save_identity("kept-customer", "kept-instance", actor=Actor("cli"))
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(sa.text(f"DROP TABLE {VERSION_TABLE}"))
        connection.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32))"))
        connection.execute(sa.text("INSERT INTO alembic_version VALUES ('0002')"))
        as_of_revision_0002(connection)
    with app.app_context():
        upgrade_schema()
        assert load_identity().customer_id == "kept-customer"
        with db.engine.connect() as connection:
            assert wizard_differences(connection) == []
    assert "alembic_version" not in tables(app)


def test_db_upgrade_from_the_command_line_moves_an_older_installs_revision(app, env):
    """As a Helm job runs it: `setup-wizard db upgrade` in a process of its own, which has
    imported nothing of the wizard's beforehand."""
    import subprocess
    import sys

    with app.app_context():
        save_identity("kept-customer", "kept-instance", actor=Actor("cli"))
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(sa.text(f"DROP TABLE {VERSION_TABLE}"))
        connection.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32))"))
        connection.execute(sa.text("INSERT INTO alembic_version VALUES ('0002')"))
        as_of_revision_0002(connection)
    result = subprocess.run(
        [sys.executable, "-m", "wizard.cli", "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "alembic_version" not in tables(app)
    with app.app_context():
        assert load_identity().customer_id == "kept-customer"
        with db.engine.connect() as connection:
            assert wizard_differences(connection) == []


def test_readyz_is_503_with_a_reason_before_the_schema_exists(bare_app):
    response = bare_app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["reason"] == (
        "the database has no schema yet: run `setup-wizard db upgrade`"
    )


def test_readyz_is_200_once_the_schema_is_current(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ready"}


def test_readyz_names_an_outdated_schema(app, client):
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = '0000'"))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "revision 0000" in response.json["reason"]


def test_beside_a_host_with_its_own_alembic_history_nothing_is_lost(empty_database_url, make_app):
    host = host_alembic(empty_database_url)
    command.upgrade(host, "head")
    engine = sa.create_engine(empty_database_url)
    with engine.begin() as connection:
        connection.execute(sa.text("INSERT INTO host_user (id, email) VALUES (1, 'a@host')"))
        connection.execute(sa.text("INSERT INTO host_order VALUES (1, 1, 4200)"))
        connection.execute(
            sa.text(
                "INSERT INTO telemetry_identity (id, customer_id, instance_id) "
                "VALUES (1, 'host-customer', 'host-instance')"
            )
        )

    app = make_app(WIZARD_DATABASE_URL=empty_database_url)
    with app.app_context():
        upgrade_schema()
        adopted = load_identity()
        assert (adopted.customer_id, adopted.instance_id) == ("host-customer", "host-instance")
        saved = save_identity("wizard-customer", "wizard-instance", actor=Actor("cli"))
        assert saved.created_at == adopted.created_at, "the host's row is kept, not replaced"
        assert load_identity() == saved

    command.upgrade(host, "head")  # the host's next deploy
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT version_num FROM alembic_version")).all() == [
            (HOST_HEAD,)
        ]
        assert host_differences(connection, HostBase.metadata) == []
        assert wizard_differences(connection) == []
        assert connection.execute(sa.text("SELECT email FROM host_user")).all() == [("a@host",)]
        assert connection.execute(sa.text("SELECT total_cents FROM host_order")).all() == [(4200,)]
    engine.dispose()


def test_the_hosts_autogenerate_leaves_the_wizards_tables_alone(empty_database_url, make_app):
    """A host that does not declare the identity table is not told to drop any wizard table."""
    host_metadata = sa.MetaData()
    for name in ("host_user", "host_order"):
        HostBase.metadata.tables[name].to_metadata(host_metadata)
    engine = sa.create_engine(empty_database_url)
    host_metadata.create_all(engine)
    app = make_app(WIZARD_DATABASE_URL=empty_database_url)
    with app.app_context():
        upgrade_schema()
    with engine.connect() as connection:
        assert host_differences(connection, host_metadata) == []
        without_filter = compare_metadata(MigrationContext.configure(connection), host_metadata)
        dropped = {diff[1].name for diff in without_filter if diff[0] == "remove_table"}
        assert "telemetry_identity" in dropped, "without the filter the host would drop it"
    engine.dispose()


IDENTITY_COLUMNS = (
    "id INTEGER NOT NULL PRIMARY KEY, customer_id VARCHAR(255), {instance} "
    "license_id VARCHAR(255), created_at TIMESTAMP WITH TIME ZONE NOT NULL, "
    "updated_at TIMESTAMP WITH TIME ZONE NOT NULL{check}"
)


@pytest.mark.parametrize(
    ("instance", "check", "named"),
    [
        ("", ", CONSTRAINT single_row_constraint CHECK (id = 1)", "it has no column instance_id"),
        ("instance_id VARCHAR(255),", "", "it has no check constraint id = 1"),
        (
            "instance_id VARCHAR(64),",
            ", CHECK (id = 1)",
            "its column instance_id is VARCHAR(64): ids need 255 characters",
        ),
        (
            "instance_id CHAR(255),",
            ", CHECK (id = 1)",
            "its column instance_id is CHAR(255): CHAR pads the ids with spaces",
        ),
    ],
    ids=["no instance_id", "no check", "short column", "padded column"],
)
def test_an_identity_table_of_another_shape_is_refused_and_nothing_changes(
    empty_database_url, make_app, instance, check, named
):
    engine = sa.create_engine(empty_database_url)
    with engine.begin() as connection:
        columns = IDENTITY_COLUMNS.format(instance=instance, check=check)
        connection.execute(sa.text(f"CREATE TABLE telemetry_identity ({columns})"))
        connection.execute(
            sa.text(
                "INSERT INTO telemetry_identity (id, customer_id, created_at, updated_at) "
                "VALUES (1, 'host-customer', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
    app = make_app(WIZARD_DATABASE_URL=empty_database_url)
    before = tables(app)
    with app.app_context(), pytest.raises(SchemaConflict) as refused:
        upgrade_schema()
    assert named in str(refused.value)
    assert "The wizard changed nothing" in str(refused.value)
    assert tables(app) == before == {"telemetry_identity"}
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT customer_id FROM telemetry_identity")).all() == [
            ("host-customer",)
        ]
    engine.dispose()


def test_a_host_table_with_a_wizard_tables_name_is_refused(empty_database_url, make_app):
    engine = sa.create_engine(empty_database_url)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE identity_history (id INTEGER PRIMARY KEY)"))
    engine.dispose()
    app = make_app(WIZARD_DATABASE_URL=empty_database_url)
    with app.app_context(), pytest.raises(SchemaConflict, match="identity_history"):
        upgrade_schema()
    assert tables(app) == {"identity_history"}


def test_a_hosts_revision_named_like_the_wizards_is_left_in_its_alembic_version(
    empty_database_url, make_app
):
    """A host whose own history has a revision 0002 and a table identity_history of its own
    keeps both: the wizard takes a revision for its own only beside its own tables."""
    engine = sa.create_engine(empty_database_url)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32))"))
        connection.execute(sa.text("INSERT INTO alembic_version VALUES ('0002')"))
        connection.execute(
            sa.text("CREATE TABLE identity_history (id INTEGER PRIMARY KEY, user_id INTEGER)")
        )
    app = make_app(WIZARD_DATABASE_URL=empty_database_url)
    with app.app_context(), pytest.raises(SchemaConflict, match="identity_history"):
        upgrade_schema()
    assert tables(app) == {"alembic_version", "identity_history"}
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT version_num FROM alembic_version")).all() == [
            ("0002",)
        ]
    engine.dispose()


def test_a_host_row_without_created_at_gets_one_at_the_first_save(empty_database_url, make_app):
    engine = sa.create_engine(empty_database_url)
    host_table = sa.Table(
        "telemetry_identity",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        *(sa.Column(name, sa.String(255)) for name in ("customer_id", "instance_id", "license_id")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("id = 1"),
    )
    with engine.begin() as connection:
        host_table.create(connection)
        connection.execute(
            sa.text("INSERT INTO telemetry_identity (id, customer_id) VALUES (1, 'host-made')")
        )
    engine.dispose()
    app = make_app(WIZARD_DATABASE_URL=empty_database_url)
    with app.app_context():
        upgrade_schema()
        assert load_identity().created_at is None
    page = app.test_client().get("/status", headers={"Authorization": "Bearer " + ADMIN_TOKEN})
    assert page.status_code == 200 and "First set" not in page.text
    with app.app_context():
        saved = save_identity("acme", "instance-1", actor=Actor("cli"))
        assert saved.created_at is not None and load_identity().created_at == saved.created_at


@pytest.mark.parametrize("engine_name", ["postgresql"], indirect=True)
def test_an_identity_column_that_would_cut_ids_short_is_refused(empty_database_url, make_app):
    """PostgreSQL's `name` holds 63 characters: ids would be cut without a word."""
    engine = sa.create_engine(empty_database_url)
    with engine.begin() as connection:
        columns = IDENTITY_COLUMNS.format(instance="instance_id name,", check=", CHECK (id = 1)")
        connection.execute(sa.text(f"CREATE TABLE telemetry_identity ({columns})"))
    engine.dispose()
    app = make_app(WIZARD_DATABASE_URL=empty_database_url)
    with app.app_context(), pytest.raises(SchemaConflict) as refused:
        upgrade_schema()
    assert "its column instance_id is not VARCHAR or TEXT, and may cut ids short" in str(
        refused.value
    )
    assert tables(app) == {"telemetry_identity"}
