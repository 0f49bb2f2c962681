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


FIXTURES = __import__("pathlib").Path(__file__).parent / "fixtures" / "licenses"
VERDICTS = {
    "valid-v1beta1.yaml": (0, "ok"),
    "valid-v1beta2.yaml": (0, "ok"),
    "other-app.yaml": (0, "ok"),
    "expired.yaml": (1, "expired"),
    "bad-signature.yaml": (1, "signature_invalid"),
    "tampered-license-id.yaml": (1, "tampered"),
}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("name", "expected"), list(VERDICTS.items()))
def test_verify_license_gives_the_documented_verdict(runner, name, expected):
    result = runner("verify-license", "--json", str(FIXTURES / name))
    document = json.loads(result.output)
    assert (result.exit_code, document["reason"]) == expected
    assert set(document) >= {
        "valid",
        "reason",
        "license_id",
        "app_slug",
        "customer_id",
        "customer_name",
        "license_type",
        "expires_at",
        "key",
        "version",
    }


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_verify_license_wrong_app_when_an_app_is_expected(runner, settings):
    settings["WIZARD_EXPECTED_APP_SLUG"] = "my-app"
    result = runner("verify-license", str(FIXTURES / "other-app.yaml"))
    assert result.exit_code == 1
    assert "wrong_app" in result.output and "cluster-admin" in result.output


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_verify_license_json_fields_come_from_the_signed_data(runner):
    document = json.loads(
        runner("verify-license", "--json", str(FIXTURES / "valid-v1beta1.yaml")).output
    )
    assert document["license_id"] == "1vusOokxAVp1tkRGuyxnF23PJcq"
    assert document["expires_at"] == "2030-07-27T00:00:00+00:00"
    assert (document["key"], document["version"]) == ("production", "kots.io/v1beta1")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_verify_license_of_a_missing_file_says_so(runner):
    result = runner("verify-license", "/no/such/license.yaml")
    assert result.exit_code != 0
    assert "cannot read" in result.output


def test_import_license_saves_identity_and_summary(app, runner):
    result = runner(
        "import-license",
        str(FIXTURES / "valid-v1beta1.yaml"),
        "--instance-id",
        "instance-1",
        "--customer-id",
        "cust-1",
    )
    assert result.exit_code == 0, result.output
    status = json.loads(runner("status", "--json").output)
    assert status["customer_id"] == "cust-1"
    assert status["license_id_hint"] == "…PJcq"
    assert status["license"]["customer_name"] == "Test Customer"
    assert "hidden_field" not in json.dumps(status)


def test_import_license_asks_for_the_customer_id_the_license_lacks(app, runner):
    result = runner(
        "import-license", str(FIXTURES / "valid-v1beta1.yaml"), "--instance-id", "instance-1"
    )
    assert result.exit_code != 0
    assert "--customer-id" in result.output
    assert runner("status").exit_code == 1


@pytest.mark.parametrize("name", ["expired.yaml", "bad-signature.yaml", "tampered-license-id.yaml"])
def test_import_license_refuses_a_bad_license_and_saves_nothing(app, runner, name):
    result = runner(
        "import-license", str(FIXTURES / name), "--instance-id", "i-1", "--customer-id", "c-1"
    )
    assert result.exit_code == 1
    assert "Nothing was saved" in result.output
    assert runner("status").exit_code == 1
