"""setup-wizard status, set, db upgrade and token, as a shell user runs them."""

import json
import os
import stat

import pytest

from wizard.database import db
from wizard.identity import recent_changes


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_status_on_sqlite_without_a_file_says_so_and_creates_nothing(runner, settings):
    result = runner("status")
    assert result.exit_code == 2
    assert "no database" in result.output
    assert not os.path.exists(settings["WIZARD_DATABASE_URL"].removeprefix("sqlite:///"))


def test_status_cannot_tell_without_a_schema(bare_app, runner):
    with bare_app.app_context(), db.engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE unrelated (x INTEGER)")
    result = runner("status")
    assert result.exit_code == 2
    assert "no schema" in result.output


def test_status_cannot_tell_when_the_database_does_not_answer(runner, settings):
    settings["WIZARD_DATABASE_URL"] = "postgresql+psycopg://nobody:secret-pw@127.0.0.1:9/none"
    result = runner("status")
    assert result.exit_code == 2
    assert "does not answer" in result.output
    assert "secret-pw" not in result.output


def test_db_upgrade_then_status_is_not_set_then_set_then_set(runner):
    assert runner("db", "upgrade").exit_code == 0
    assert runner("status").exit_code == 1
    result = runner("set", "--customer-id", "acme", "--instance-id", "instance-1")
    assert result.exit_code == 0, result.output
    status = runner("status")
    assert status.exit_code == 0
    assert "acme" in status.output


def test_status_json_is_what_an_admin_sees(runner):
    runner("db", "upgrade")
    runner(
        "set",
        "--customer-id",
        "acme",
        "--instance-id",
        "instance-1",
        "--license-id",
        "1vusOokxAVp1tkRGuyxnF23PJcq",
    )
    result = runner("status", "--json")
    assert result.exit_code == 0
    document = json.loads(result.output)
    assert document["has_customer_info"] is True
    assert document["customer_id"] == "acme"
    assert document["instance_id"] == "instance-1"
    assert document["license_id_hint"] == "…PJcq"
    assert "1vusOokxAVp1tkRGuyxnF23PJcq" not in result.output
    assert document["updated_at"].endswith("+00:00")


def test_status_json_before_anything_is_saved(runner):
    runner("db", "upgrade")
    result = runner("status", "--json")
    assert result.exit_code == 1
    assert json.loads(result.output)["has_customer_info"] is False


@pytest.mark.parametrize(
    ("option", "value", "complaint"),
    [
        ("--customer-id", "", "must not be blank"),
        ("--customer-id", "   ", "must not be blank"),
        ("--instance-id", "x" * 256, "at most 255"),
        ("--instance-id", "two words", "white space"),
        ("--license-id", "abc\x07def", "control"),
        ("--license-id", "tab\there", "white space"),
    ],
)
def test_set_refuses_bad_input_naming_the_option_and_writes_nothing(
    app, runner, option, value, complaint
):
    args = {"--customer-id": "acme", "--instance-id": "instance-1", option: value}
    result = runner("set", *[part for pair in args.items() for part in pair])
    assert result.exit_code != 0
    assert option in result.output
    assert complaint in result.output
    with app.app_context():
        assert recent_changes() == []
    assert runner("status").exit_code == 1


def test_set_without_a_required_option_says_which(app, runner):
    result = runner("set", "--customer-id", "acme")
    assert result.exit_code != 0
    assert "--instance-id" in result.output


def test_set_records_the_cli_in_the_history(app, runner):
    runner("set", "--customer-id", "acme", "--instance-id", "instance-1")
    with app.app_context():
        [change] = recent_changes()
    assert change.method == "cli"
    assert change.actor.startswith("cli:")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_token_says_where_the_token_is_and_never_prints_it(runner, settings, instance_path):
    del settings["WIZARD_ADMIN_TOKEN"]
    result = runner("token")
    path = instance_path / "admin_token"
    assert str(path) in result.output
    token = path.read_text().strip()
    assert token not in result.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    rotated = runner("token", "--rotate")
    assert rotated.exit_code == 0
    assert path.read_text().strip() != token
    assert path.read_text().strip() not in rotated.output


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_secret_key_is_generated_once_with_mode_0600(bare_app, instance_path):
    from wizard import create_app

    path = instance_path / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = create_app({"WIZARD_INSTANCE_PATH": str(instance_path)})
    assert again.config["SECRET_KEY"] == bare_app.config["SECRET_KEY"] == path.read_text().strip()
