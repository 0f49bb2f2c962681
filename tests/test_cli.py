"""setup-wizard status, set, db upgrade and token, as a shell user runs them."""

import json
import re
import stat

import pytest
import sqlalchemy as sa

from tests.support import FIXTURES, LICENSE_ID, recent_changes
from tests.support.license_factory import (
    base_spec,
    signed_license,
    to_yaml,
    write_global_public_key,
)
from wizard.db import db
from wizard.ids import RULE


@pytest.fixture
def empty(runner, settings, empty_database_url):
    """The runner on a database with no schema yet."""
    settings["WIZARD_DATABASE_URL"] = empty_database_url
    return runner


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_status_on_sqlite_without_a_file_says_so_and_creates_nothing(runner, settings, tmp_path):
    missing = tmp_path / "nothing-here" / "wizard.db"
    settings["WIZARD_DATABASE_URL"] = f"sqlite:///{missing}"
    result = runner("status")
    assert result.exit_code == 2
    assert f"Cannot tell: there is no database at {missing}." in result.output
    assert not missing.exists()


def test_status_cannot_tell_without_a_schema(bare_app, empty):
    with bare_app.app_context(), db.engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE unrelated (x INTEGER)")
    result = empty("status")
    assert result.exit_code == 2
    assert "Cannot tell: The database has no schema yet: run `setup-wizard db upgrade`." in (
        result.output
    )


def test_status_cannot_tell_when_the_database_does_not_answer(runner, settings):
    settings["WIZARD_DATABASE_URL"] = "postgresql+psycopg://nobody:secret-pw@127.0.0.1:9/none"
    result = runner("status")
    assert result.exit_code == 2
    assert "Cannot tell: The database cannot be reached: connection failed" in result.output
    assert "secret-pw" not in result.output


@pytest.mark.parametrize("engine_name", ["postgresql"], indirect=True)
def test_a_missing_permission_is_called_so(runner, settings, database_url):
    admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    role = f"reader_{abs(hash(database_url)) % 10**8}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
        connection.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
    try:
        url = sa.engine.make_url(database_url).set(username=role)
        settings["WIZARD_DATABASE_URL"] = url.render_as_string(hide_password=False)
        result = runner("status")
        assert result.exit_code == 2
        assert "refused a permission the wizard needs: permission denied for table" in (
            result.output
        )
        assert "cannot be reached" not in result.output
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'"
            )
            connection.exec_driver_sql(f"DROP ROLE {role}")
        admin.dispose()


def test_db_upgrade_then_status_is_not_set_then_set_then_set(empty):
    runner = empty
    upgraded = runner("db", "upgrade")
    assert (upgraded.exit_code, upgraded.output.strip().splitlines()[-1]) == (
        0,
        "The schema is up to date.",
    )
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
    human = runner("status").output
    assert re.search(r"\(since \d{4}-\d\d-\d\d \d\d:\d\d UTC\)$", human.splitlines()[0]), human


def test_status_json_before_anything_is_saved(runner):
    runner("db", "upgrade")
    result = runner("status", "--json")
    assert result.exit_code == 1
    assert json.loads(result.output)["has_customer_info"] is False


@pytest.mark.parametrize(
    ("option", "value", "complaint"),
    [
        ("--customer-id", "", f"must not be blank: {RULE}"),
        ("--customer-id", "   ", f"must not be blank: {RULE}"),
        ("--instance-id", "x" * 256, "(this one has 256 characters)"),
        ("--instance-id", "two words", "found a space at position 4"),
        ("--license-id", "abc\x07def", "found an invisible character (U+0007) at position 4"),
        ("--license-id", "tab\there", "found a tab at position 4"),
        ("--customer-id", "\u0430cme", "found the non-ASCII character “\u0430” (U+0430)"),
    ],
)
def test_set_refuses_bad_input_naming_the_option_and_writes_nothing(
    app, runner, option, value, complaint
):
    args = {"--customer-id": "acme", "--instance-id": "instance-1", option: value}
    result = runner("set", *[part for pair in args.items() for part in pair])
    assert result.exit_code != 0
    assert option in result.output
    assert complaint in " ".join(result.output.split())
    assert recent_changes(app) == []
    assert runner("status").exit_code == 1


def test_set_without_a_required_option_says_which(app, runner):
    result = runner("set", "--customer-id", "acme")
    assert result.exit_code != 0
    assert "--instance-id" in result.output


def test_set_records_the_cli_in_the_history(app, runner):
    runner("set", "--customer-id", "acme", "--instance-id", "instance-1")
    [change] = recent_changes(app)
    assert change.method == "cli"
    assert change.actor.startswith("cli:")


def test_set_without_a_license_id_keeps_the_saved_one(app, runner):
    runner("set", "--customer-id", "acme", "--instance-id", "i-1", "--license-id", LICENSE_ID)
    result = runner("set", "--customer-id", "acme", "--instance-id", "i-2")
    assert result.output.strip() == "Saved: customer acme, instance i-2, license …PJcq"
    assert json.loads(runner("status", "--json").output)["license_id_hint"] == "…PJcq"


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_token_says_where_the_token_is_and_never_prints_it(runner, settings, instance_path):
    del settings["WIZARD_ADMIN_TOKEN"]
    result = runner("token")
    path = instance_path / "admin_token"
    assert str(path) in result.output
    token = path.read_text().strip()
    assert token not in result.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    assert "made just now" in result.output, "the first time says that it made one"
    assert "made just now" not in runner("token").output

    rotated = runner("token", "--rotate")
    assert rotated.exit_code == 0
    assert path.read_text().strip() != token
    assert path.read_text().strip() not in rotated.output


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_secret_key_is_generated_once_with_mode_0600_on_first_use(make_app, instance_path):
    path = instance_path / "secret_key"
    first = make_app(WIZARD_ADMIN_TOKEN=None)
    assert not path.exists(), "building the app (a host's `flask` command) writes nothing"
    assert not (instance_path / "admin_token").exists()
    first.test_client().get("/setup/unlock")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (instance_path / "admin_token").exists(), "the unlock page names a file that exists"
    again = make_app(WIZARD_ADMIN_TOKEN=None)
    again.test_client().get("/status")
    assert again.secret_key == first.secret_key == path.read_text().strip()


VERDICTS = {
    "valid-v1beta1.yaml": (0, "ok"),
    "valid-v1beta2.yaml": (0, "ok"),
    "other-app.yaml": (0, "ok"),
    "expired.yaml": (1, "expired"),
    "bad-signature.yaml": (1, "signature_invalid"),
    "tampered-license-id.yaml": (1, "tampered"),
}


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
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


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_verify_license_wrong_app_when_an_app_is_expected(runner, settings):
    settings["WIZARD_EXPECTED_APP_SLUG"] = "my-app"
    result = runner("verify-license", str(FIXTURES / "other-app.yaml"))
    assert result.exit_code == 1
    assert "wrong_app" in result.output and "cluster-admin" in result.output


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_verify_license_json_fields_come_from_the_signed_data(runner):
    document = json.loads(
        runner("verify-license", "--json", str(FIXTURES / "valid-v1beta1.yaml")).output
    )
    assert document["license_id"] == "…PJcq", "the license id is a credential"
    assert document["expires_at"] == "2030-07-27T00:00:00+00:00"
    assert (document["key"], document["version"]) == ("production", "kots.io/v1beta1")


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_verify_license_prints_the_whole_license_id_only_when_asked(runner):
    plain = runner("verify-license", str(FIXTURES / "valid-v1beta1.yaml"))
    assert LICENSE_ID not in plain.output and "license …PJcq" in plain.output
    shown = runner(
        "verify-license", "--json", "--show-license-id", str(FIXTURES / "valid-v1beta1.yaml")
    )
    assert json.loads(shown.output)["license_id"] == LICENSE_ID
    shown_plain = runner(
        "verify-license", "--show-license-id", str(FIXTURES / "valid-v1beta1.yaml")
    )
    assert f"license {LICENSE_ID}," in shown_plain.output


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
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


def test_import_license_without_an_instance_id_keeps_the_saved_one(app, runner):
    license_file = str(FIXTURES / "valid-v1beta1.yaml")
    first = runner("import-license", license_file, "--customer-id", "cust-1")
    assert first.exit_code == 2
    assert "--instance-id is needed: no instance id is saved yet." in first.output
    assert runner("status").exit_code == 1
    assert runner("set", "--customer-id", "cust-1", "--instance-id", "instance-7").exit_code == 0
    again = runner("import-license", license_file, "--customer-id", "cust-1")
    assert again.exit_code == 0, again.output
    status = json.loads(runner("status", "--json").output)
    assert (status["instance_id"], status["license_id_hint"]) == ("instance-7", "…PJcq")


@pytest.mark.parametrize("name", ["expired.yaml", "bad-signature.yaml", "tampered-license-id.yaml"])
def test_import_license_refuses_a_bad_license_and_saves_nothing(app, runner, name):
    result = runner(
        "import-license", str(FIXTURES / name), "--instance-id", "i-1", "--customer-id", "c-1"
    )
    assert result.exit_code == 1
    assert "Nothing was saved" in result.output
    assert runner("status").exit_code == 1


def test_import_license_with_several_licenses_lists_them_and_asks_which(
    app, runner, settings, tmp_path
):
    settings["WIZARD_LICENSE_KEYS"] = str(write_global_public_key(tmp_path / "global.pem"))
    path = tmp_path / "two.yaml"
    path.write_bytes(
        to_yaml(
            signed_license(base_spec(customerName="First Co")),
            signed_license(
                base_spec(customerName="Second Co", licenseID="2Second0License0000000000")
            ),
        )
    )
    asked = runner("import-license", str(path), "--instance-id", "i-1", "--customer-id", "c-1")
    assert asked.exit_code == 2
    assert "holds 2 licenses" in asked.output
    assert (
        "1. valid: my-app, First Co" in asked.output
        and "2. valid: my-app, Second Co" in asked.output
    )
    assert "--license N" in asked.output
    assert runner("status").exit_code == 1, "nothing saved without a choice"
    chosen = runner(
        "import-license",
        str(path),
        "--instance-id",
        "i-1",
        "--customer-id",
        "c-1",
        "--license",
        "2",
    )
    assert chosen.exit_code == 0, chosen.output
    assert "Second Co" in chosen.output


def test_db_upgrade_refuses_an_identity_table_of_another_shape(empty, empty_database_url):
    engine = sa.create_engine(empty_database_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE telemetry_identity (id INTEGER PRIMARY KEY)")
    engine.dispose()
    result = empty("db", "upgrade")
    assert result.exit_code == 1
    assert "it has no column customer_id" in result.output
    assert "The wizard changed nothing" in result.output
    assert "cannot reach" not in result.output


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_version(runner):
    result = runner("--version")
    assert result.exit_code == 0
    assert re.fullmatch(r"setup-wizard, version \d+\.\d+\.\d+\n", result.output)


@pytest.mark.parametrize("engine_name", ["postgresql"], indirect=True)
def test_a_role_that_may_not_log_in_is_called_a_refused_login(empty_database_url, runner, settings):
    url = sa.engine.make_url(empty_database_url)
    admin = sa.create_engine(url)
    with admin.begin() as connection:
        connection.exec_driver_sql("DROP ROLE IF EXISTS wizard_nologin")
        connection.exec_driver_sql("CREATE ROLE wizard_nologin NOLOGIN")
    try:
        settings["WIZARD_DATABASE_URL"] = url.set(username="wizard_nologin").render_as_string(
            hide_password=False
        )
        result = runner("status")
        assert result.exit_code == 2
        assert "The database refused the wizard's login" in result.output
        assert "not permitted to log in" in result.output, "the CLI shows the driver's words"
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql("DROP ROLE wizard_nologin")
        admin.dispose()


TERMINAL_ESCAPES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_verify_license_shows_an_unverified_files_control_characters_never_obeys_them(
    runner, tmp_path
):
    """A file's own words reach the terminal escaped: no title set, no line erased."""
    hostile = tmp_path / "hostile.yaml"
    hostile.write_text(
        'apiVersion: "kots.io/v1beta9\\e]0;pwned\\a"\n'
        'kind: "License\\e[2K\\e]52;c;cm0gLXJmIH4=\\a"\nspec: {}\n'
    )
    for arguments in ([], ["--json"]):
        result = runner("verify-license", *arguments, str(hostile))
        assert result.exit_code == 1
        assert not TERMINAL_ESCAPES.search(result.output), repr(result.output)
    plain = runner("verify-license", str(hostile)).output
    assert r"License\x1b[2K\x1b]52;c;cm0gLXJmIH4=\x07" in plain, "shown, so the admin sees it"
