"""The README's first command, run as written in a fresh virtual environment."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import free_port
from tests.support.http_client import Browser

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def readme_command(marker):
    """Return the shell line in the README's code block after `<!-- marker`."""
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"<!-- {marker}[^>]*-->\s*```sh\n(.+?)\n```", text)
    assert match, f"README.md has no {marker} block"
    return match.group(1)


def copy_of_the_project(target):
    """Copy what a clone holds: the files git tracks (or, outside git, the source folders)."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True
    )
    if listed.returncode == 0:
        names = listed.stdout.splitlines()
    else:
        names = [
            str(p.relative_to(ROOT))
            for p in ROOT.rglob("*")
            if p.is_file() and not {".venv", ".git", "__pycache__"} & set(p.parts)
        ]
    for name in names:
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def test_the_readme_run_command_serves_and_the_cli_sets_the_identity(tmp_path):
    project = tmp_path / "checkout"
    copy_of_the_project(project)
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WIZARD_", "VIRTUAL_ENV", "PYTHONPATH"))
    }
    command = f"{readme_command('run-command')} --port {port}"
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            ["bash", "-c", command],
            cwd=project,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        browser = Browser(f"http://127.0.0.1:{port}")
        import time

        deadline = time.monotonic() + 280
        while time.monotonic() < deadline:
            assert server.poll() is None, log_path.read_text()
            try:
                if browser.get("/readyz").status == 200:
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("the README's command did not serve in time:\n" + log_path.read_text())

        # Installed from a wheel (not the checkout): the pages come from inside the package.
        installed = list((project / ".venv").glob("lib/python*/site-packages/wizard"))
        assert installed and (installed[0] / "templates" / "base.html").is_file()
        assert (installed[0] / "migrations" / "env.py").is_file()
        assert (installed[0] / "py.typed").is_file(), "hosts' type checkers read the annotations"

        page = browser.get("/status")
        assert page.status == 200
        assert "not identified yet" in page.text
        css = browser.get("/static/wizard.css")
        assert css.status == 200 and "--accent" in css.text

        cli = project / ".venv" / "bin" / "setup-wizard"

        def run(*args, cwd=project):
            return subprocess.run(
                [str(cli), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
            )

        # One instance folder, whatever the working directory: Flask's convention for an
        # installed app, the environment's var/ folder. The log and the CLI name the same file.
        instance = project / ".venv" / "var" / "wizard-instance"
        assert f"instance folder: {instance}" in log_path.read_text()
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        named = {run("token", cwd=where).stdout.strip() for where in (project, elsewhere, "/")}
        assert named == {f"The admin token is in {instance / 'admin_token'}"}
        assert not (elsewhere / "instance").exists(), "no second folder of secrets"
        token = (instance / "admin_token").read_text().strip()
        form = browser.get("/setup/unlock")
        assert str(instance / "admin_token") in form.text, "the unlock page names the file"
        from tests.support import csrf_token_from

        unlocked = browser.post(
            "/setup/unlock", {"token": token, "csrf_token": csrf_token_from(form.text)}
        )
        assert unlocked.status == 302, "the token the CLI points at unlocks the server"

        assert run("status").returncode == 1
        saved = run("set", "--customer-id", "acme", "--instance-id", "instance-1")
        assert saved.returncode == 0, saved.stderr
        assert run("status").returncode == 0
        assert browser.get("/api/v1/status").json()["has_customer_info"] is True
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
