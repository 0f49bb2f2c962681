"""setup-wizard serve, db upgrade and token: the server, its schema and its admin token."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from typing import Any

import click
import sqlalchemy as sa

from . import Wizard, configure_logging, fail, log, main, pass_wizard, say


def upgrade(wizard: Wizard) -> None:
    """Bring the schema up to date; a clear message (and nothing changed) when it cannot."""
    from ..schema import SchemaConflict, upgrade_schema

    with wizard.app.app_context():
        try:
            upgrade_schema()
        except SchemaConflict as error:
            fail(str(error))
        except sa.exc.DBAPIError as error:
            fail(wizard.database_problem(error))


def admin_token_file(wizard: Wizard) -> Any:
    """Check WIZARD_ADMIN_TOKEN, or make the token file the server will use; return its path
    (None when the token comes from the variable)."""
    from ..admin.token import ensure_admin_token
    from ..config import InsecureFile

    try:
        return ensure_admin_token(wizard.app.config)
    except (ValueError, InsecureFile) as error:
        fail(str(error))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=click.IntRange(1, 64),
    help="gunicorn worker processes.",
)
@pass_wizard
def serve(wizard: Wizard, host: str, port: int, workers: int) -> None:
    """Bring the schema up to date, then serve the wizard with gunicorn."""
    from ..server import PortInUse, WizardServer, refuse_port_in_use

    configure_logging()
    try:
        refuse_port_in_use(host, port)
    except PortInUse:
        fail(
            f"Port {port} on {host} is already in use: another server listens there. Stop it, "
            "or choose another port with --port."
        )
    app = wizard.app
    wizard.policy  # noqa: B018 - a bad WIZARD_LICENSE_KEYS stops the start here
    _check_theme(app.config)
    _check_collectors(app.config["WIZARD_REPORT_COLLECTORS"])
    log.info("instance folder: %s", app.config["WIZARD_INSTANCE_PATH"])
    _in_a_child_process(_prepare, wizard)
    if app.config["WIZARD_AUTH"] == "token":
        token_file = admin_token_file(wizard)
        if token_file is None:
            log.info("admin token: taken from WIZARD_ADMIN_TOKEN")
        else:
            log.info("admin token: in %s", token_file)
    else:
        log.warning("WIZARD_AUTH=none: the wizard is not locked; every page says so")
    log.info("database: %s", wizard.database_label)
    log.info("serving on http://%s:%d/ with %d workers", host, port, workers)
    WizardServer(bind=f"{host}:{port}", workers=workers).run()


def _check_theme(config: Any) -> None:
    """A wrong WIZARD_COLOR_SCHEME or WIZARD_STYLESHEET stops the start, in one line."""
    from ..web.theme import checked_settings

    try:
        checked_settings(config)
    except ValueError as error:
        fail(str(error))


def _check_collectors(setting: str | None) -> None:
    """A collector WIZARD_REPORT_COLLECTORS names that cannot be loaded stops the start."""
    from ..reporting import Collectors
    from ..reporting.collectors import load_from_setting

    try:
        names = load_from_setting(setting, into=Collectors())
    except ValueError as error:
        fail(str(error))
    if names:
        log.info("collectors: %s", ", ".join(names))


def _prepare(wizard: Wizard) -> None:
    """Bring the schema up to date and pre-seed the identity if the environment asks for it."""
    from ..seed import SeedError, seed_from_environment

    upgrade(wizard)
    app = wizard.app
    with app.app_context():
        try:
            seed_from_environment(
                wizard.policy,
                app.config["WIZARD_REPLICATED_SDK_URL"],
                app.config["WIZARD_SDK_TIMEOUT"],
            )
        except SeedError as error:
            fail(f"not starting: {error}")
        except sa.exc.DBAPIError as error:
            fail(wizard.database_problem(error))
        _warn_of_a_copy(app)


def _warn_of_a_copy(app: Any) -> None:
    """At start, say so when the saved identity was kept with another WIZARD_DEPLOYMENT_ID."""
    from ..identity import load_identity
    from ..watch import identity_mismatch, mismatch_words, read_watch

    mismatch = identity_mismatch(load_identity(), read_watch(), app.config)
    if mismatch:
        log.warning("%s Reports are paused until the admin decides.", mismatch_words(mismatch))


def _in_a_child_process(work: Callable[..., None], *args: Any) -> None:
    """Run `work` in a forked child and stop here if it failed. gunicorn forks its workers
    from this process: what only the migrations need (Alembic, Mako) then stays out of every
    worker's memory."""
    import multiprocessing

    def run() -> None:
        try:
            work(*args)
        except click.ClickException as error:
            error.show()
            sys.exit(error.exit_code)

    child = multiprocessing.get_context("fork").Process(target=run, name="wizard-prepare")
    child.start()
    child.join()
    if child.exitcode:
        sys.exit(child.exitcode)


@main.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
@pass_wizard
def db_upgrade(wizard: Wizard) -> None:
    """Bring the schema up to date (safe to run from several hosts at once)."""
    configure_logging()
    upgrade(wizard)
    say("The schema is up to date.")


@main.command()
@click.option("--rotate", is_flag=True, help="Replace the admin token with a new one.")
@pass_wizard
def token(wizard: Wizard, rotate: bool) -> None:
    """Say where the admin token is kept (never print it)."""
    from ..admin.sessions import close_all_sessions
    from ..admin.token import rotate_admin_token, token_path

    app = wizard.app
    instance_path = app.config["WIZARD_INSTANCE_PATH"]
    existed = token_path(instance_path).exists()
    admin_token_file(wizard)
    if app.config["WIZARD_ADMIN_TOKEN"]:
        if rotate:
            fail(
                "The admin token comes from WIZARD_ADMIN_TOKEN: change that variable to rotate it."
            )
        say("The admin token is the value of WIZARD_ADMIN_TOKEN.")
        return
    if not rotate:
        # The folder is the same from any working directory; the server makes the token on
        # its first start, and this command does when it runs first.
        made = "" if existed else " (made just now: no server had started here yet)"
        say(f"The admin token is in {token_path(instance_path)}{made}")
        return
    path = rotate_admin_token(instance_path)
    message = f"A new admin token is in {path}; the old one no longer works"
    # Sessions check the token's fingerprint too: without the database they end anyway.
    with app.app_context(), contextlib.suppress(sa.exc.DBAPIError):
        close_all_sessions()
    say(message + ", and every admin session, unlock link and unfinished setup has ended.")
