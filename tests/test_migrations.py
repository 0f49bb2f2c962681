"""Migrations create exactly what the models describe, and readiness follows the schema."""

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from wizard.database import db
from wizard.schema import head_revision, upgrade_schema


def test_models_and_migrations_agree(app):
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, db.metadata) == []


def test_first_revision_creates_all_three_tables(app):
    with app.app_context():
        tables = set(sa.inspect(db.engine).get_table_names())
    assert {"telemetry_identity", "license_summary", "identity_history"} <= tables


def test_upgrade_twice_is_harmless(app):
    with app.app_context():
        upgrade_schema()
        with db.engine.connect() as connection:
            versions = connection.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    assert [row[0] for row in versions] == [head_revision()]


def test_readyz_is_503_with_a_reason_before_the_schema_exists(bare_app):
    response = bare_app.test_client().get("/readyz")
    assert response.status_code == 503
    assert "setup-wizard db upgrade" in response.json["reason"]


def test_readyz_is_200_once_the_schema_is_current(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ready"}


def test_readyz_names_an_outdated_schema(app, client):
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '0000'"))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "0000" in response.json["reason"]
