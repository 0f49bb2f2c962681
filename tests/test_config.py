"""The instance folder and the secrets in it: private, never planted, one place whatever the
working directory; and the SQLite file private to its owner."""

import os
import stat
import time
from pathlib import Path

import pytest

from wizard.config import InsecureFile, default_instance_path, read_or_create_secret
from wizard.db import UnsafeDatabaseFile
from wizard.schema import upgrade_schema

NOBODY = 65534


@pytest.fixture
def folder(tmp_path):
    return tmp_path / "instance"


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_the_folder_and_secrets_are_made_private(folder):
    secret = read_or_create_secret(folder, "secret_key")
    assert mode(folder) == 0o700
    assert mode(folder / "secret_key") == 0o600
    assert read_or_create_secret(folder, "secret_key") == secret, "made once, then read"


def test_an_older_open_folder_of_ours_is_made_private(folder):
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    read_or_create_secret(folder, "secret_key")
    assert mode(folder) == 0o700


def test_a_folder_others_can_write_is_refused(folder):
    folder.mkdir()
    folder.chmod(0o777)
    (folder / "admin_token").write_text("planted-token-planted-token-planted\n")
    with pytest.raises(InsecureFile, match=r"can be changed by other users .*chmod go-w"):
        read_or_create_secret(folder, "admin_token")


def test_a_folder_or_secret_another_user_owns_is_refused(folder, monkeypatch):
    read_or_create_secret(folder, "secret_key")
    # The wizard runs as another user than the one who owns the folder and the file.
    monkeypatch.setattr(os, "geteuid", lambda: NOBODY)
    with pytest.raises(InsecureFile, match=r"The instance folder .* belongs to another user"):
        read_or_create_secret(folder, "secret_key")


def test_a_secret_others_can_write_is_refused(folder):
    read_or_create_secret(folder, "secret_key")
    (folder / "secret_key").chmod(0o666)
    with pytest.raises(InsecureFile, match="can be changed by other users"):
        read_or_create_secret(folder, "secret_key")


def test_a_planted_link_is_refused_and_rotation_never_writes_through_one(folder, tmp_path, runner):
    victim = tmp_path / "victim"
    victim.write_text("root's own file\n")
    folder.mkdir(mode=0o700, exist_ok=True)
    (folder / "admin_token").symlink_to(victim)
    with pytest.raises(InsecureFile, match="is a symbolic link"):
        read_or_create_secret(folder, "admin_token")

    from wizard.admin.token import rotate_admin_token

    rotate_admin_token(folder)
    assert victim.read_text() == "root's own file\n", "the link was replaced, not followed"
    assert not (folder / "admin_token").is_symlink()
    assert mode(folder / "admin_token") == 0o600


def test_a_bad_instance_folder_stops_the_cli_with_the_reason(runner, settings, folder):
    del settings["WIZARD_ADMIN_TOKEN"]
    folder.mkdir(exist_ok=True)
    folder.chmod(0o777)
    result = runner("token")
    assert result.exit_code == 1
    assert "can be changed by other users" in result.output
    assert "Traceback" not in result.output


def test_the_default_instance_folder_does_not_depend_on_the_working_directory(tmp_path):
    here = os.getcwd()
    try:
        os.chdir(tmp_path)
        first = default_instance_path()
        os.chdir("/")
        second = default_instance_path()
    finally:
        os.chdir(here)
    assert first == second and os.path.isabs(first)


def test_in_a_virtual_environment_the_instance_folder_is_its_own(monkeypatch, tmp_path):
    """`pip install .` (the README's run) and `pip install -e .` (its tests) in one .venv share
    the folder: the token and the database never move under the admin's feet."""
    import sys

    monkeypatch.setattr(sys, "prefix", str(tmp_path / ".venv"))
    monkeypatch.setattr(sys, "base_prefix", "/usr")
    assert default_instance_path() == str(tmp_path / ".venv" / "var" / "wizard-instance")


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_the_sqlite_database_and_its_journal_are_private(tmp_path, make_app):
    path = tmp_path / "fresh" / "wizard.db"
    app = make_app(WIZARD_DATABASE_URL=f"sqlite:///{path}", WIZARD_INSTANCE_PATH=str(path.parent))
    with app.app_context():
        upgrade_schema()
        from wizard.identity import Actor, save_identity

        save_identity("acme", "instance-1", "1vusOokxAVp1tkRGuyxnF23PJcq", actor=Actor("cli"))
        files = [p for p in path.parent.iterdir() if p.name.startswith("wizard.db")]
        assert {p.name for p in files} >= {"wizard.db", "wizard.db-wal", "wizard.db-shm"}
        assert {p.name: mode(p) for p in files} == {
            "wizard.db": 0o600,
            "wizard.db-wal": 0o600,
            "wizard.db-shm": 0o600,
            "wizard.db.migrate-lock": 0o600,
        }
        from wizard.db import db

        db.engine.dispose()


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_an_older_world_readable_database_is_made_private(tmp_path, make_app):
    path = tmp_path / "old" / "wizard.db"
    path.parent.mkdir()
    path.parent.chmod(0o700)
    path.touch(mode=0o644)
    path.chmod(0o644)
    app = make_app(WIZARD_DATABASE_URL=f"sqlite:///{path}", WIZARD_INSTANCE_PATH=str(path.parent))
    with app.app_context():
        upgrade_schema()
        from wizard.db import db

        db.engine.dispose()
    assert mode(path) == 0o600


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
@pytest.mark.parametrize("planted", ["w.db", "w.db-wal", "w.db-shm"])
def test_a_link_planted_as_the_database_or_its_journal_is_refused_at_start(
    tmp_path, make_app, runner, settings, planted
):
    """In a folder others can write to, SQLite would follow a link named like the database or
    its journal and write the license id wherever it points: the wizard does not start."""
    shared = tmp_path / "shared"
    shared.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("someone else's file")
    victim.chmod(0o644)
    (shared / planted).symlink_to(victim)
    url = f"sqlite:///{shared / 'w.db'}"
    with pytest.raises(UnsafeDatabaseFile, match=f"{shared / planted} is a link"):
        make_app(WIZARD_DATABASE_URL=url)
    settings["WIZARD_DATABASE_URL"] = url
    result = runner("db", "upgrade")
    assert result.exit_code == 1 and "is a link: the wizard does not use it" in result.output
    assert victim.read_text() == "someone else's file" and mode(victim) == 0o644


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_a_database_file_others_may_write_is_refused(tmp_path, make_app):
    path = tmp_path / "open" / "w.db"
    path.parent.mkdir()
    path.touch()
    path.chmod(0o666)
    with pytest.raises(UnsafeDatabaseFile, match="may be changed by other users"):
        make_app(WIZARD_DATABASE_URL=f"sqlite:///{path}")


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_a_link_planted_as_the_migration_lock_is_never_followed(tmp_path, make_app):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o700)
    elsewhere = tmp_path / "created-by-the-wizard"
    (shared / "w.db.migrate-lock").symlink_to(elsewhere)
    app = make_app(
        WIZARD_DATABASE_URL=f"sqlite:///{shared / 'w.db'}", WIZARD_INSTANCE_PATH=str(shared)
    )
    from wizard.schema import SchemaConflict

    with app.app_context(), pytest.raises(SchemaConflict, match="not a link"):
        upgrade_schema()
    assert not elsewhere.exists()


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_a_migration_lock_another_user_planted_is_refused_not_waited_on(tmp_path, make_app):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o700)
    planted = shared / "w.db.migrate-lock"
    planted.write_text("")
    os.chown(planted, 12345, 12345)
    planted.chmod(0o666)
    app = make_app(
        WIZARD_DATABASE_URL=f"sqlite:///{shared / 'w.db'}", WIZARD_INSTANCE_PATH=str(shared)
    )
    from wizard.schema import SchemaConflict

    started = time.monotonic()
    with app.app_context(), pytest.raises(SchemaConflict, match="belongs to another user"):
        upgrade_schema()
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_a_migration_lock_held_too_long_is_said_and_given_up(make_app, monkeypatch, caplog):
    import fcntl

    from wizard import schema

    monkeypatch.setattr(schema, "MIGRATION_WAIT_SECONDS", 1.5)
    monkeypatch.setattr(schema, "_SAY_EVERY", 0.5)
    app = make_app()
    lock = Path(app.config["WIZARD_INSTANCE_PATH"]) / "wizard.db.migrate-lock"
    holder = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(holder, fcntl.LOCK_EX)  # another migration, in another process
    try:
        with (
            app.app_context(),
            caplog.at_level("INFO", logger="wizard.schema"),
            pytest.raises(schema.SchemaConflict, match="Another migration"),
        ):
            upgrade_schema()
        assert "waiting for another migration to finish" in caplog.text
    finally:
        os.close(holder)


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_a_host_applications_sqlite_file_keeps_its_mode_and_journal(tmp_path, make_app, runner):
    import sqlite3

    host = tmp_path / "host"
    host.mkdir()
    path = host / "app.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE host_things (id INTEGER PRIMARY KEY)")
    path.chmod(0o644)
    env = {"WIZARD_DATABASE_URL": f"sqlite:///{path}"}
    assert runner("db", "upgrade", env=env).exit_code == 0
    assert runner("status", env=env).exit_code == 1
    assert mode(path) == 0o644, "the host's file keeps its mode"
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert sorted(p.name for p in host.iterdir()) == ["app.db"], "no lock file beside it"
    path.chmod(0o664)
    refused = runner("status", env=env)
    assert refused.exit_code == 2
    assert "chmod go-w" in refused.output and "give the wizard a database of its own" in (
        refused.output
    )
