"""setup-wizard: serve the wizard, and do everything it does from a shell.

__init__   the group, the one app it builds, and how output is printed
server     serve, db upgrade, token
identity   status, set, verify-license, import-license, detect
"""

from __future__ import annotations

import functools
import getpass
import logging
import re
import sys
from pathlib import Path
from typing import Any, NoReturn

import click
import sqlalchemy as sa
from flask import Flask

from ..ids import InvalidId, clean_id

log = logging.getLogger("wizard")

EXIT_SET, EXIT_NOT_SET, EXIT_UNKNOWN = 0, 1, 2

# Control characters (C0, DEL, C1) other than a line break and a tab: a license file or the
# SDK could otherwise set the terminal's title, erase lines or write to its clipboard.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe_text(text: object) -> str:
    """Text fit for a terminal: every control character shown as an escape, never obeyed."""
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], str(text))


def say(text: object = "", err: bool = False) -> None:
    """Print one message (to stderr with err), its control characters escaped."""
    click.echo(safe_text(text), err=err)


def fail(message: str) -> NoReturn:
    """Stop with a message, its control characters escaped."""
    raise click.ClickException(safe_text(message))


def when(moment: Any) -> str:
    """A moment as the CLI writes it: ISO 8601, in UTC (`2030-07-27 00:00 UTC`)."""
    from datetime import UTC

    if moment is None:
        return "never"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


class IdType(click.ParamType):
    """A Replicated id on the command line, checked by the same rule as everywhere else."""

    name = "ID"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        try:
            return clean_id(value)
        except InvalidId as error:
            self.fail(str(error), param, ctx)


class Wizard:
    """What every command works with, built once, on first use: the app (settings and the
    database, no pages) and its license policy."""

    @functools.cached_property
    def app(self) -> Flask:
        from .. import create_app
        from ..config import InsecureFile

        try:
            return create_app(web=False)
        except (ValueError, InsecureFile) as error:
            fail(str(error))

    @functools.cached_property
    def policy(self) -> Any:
        from ..licenses import LicensePolicy

        try:
            return LicensePolicy.for_app(self.app)
        except ValueError as error:
            fail(str(error))

    def license_policy(self) -> Any:
        """The policy, its expected application completed from the SDK's (as last checked)."""
        from ..watch import license_policy

        self.policy  # noqa: B018 - a bad WIZARD_LICENSE_KEYS is said first
        with self.app.app_context():
            return license_policy(self.app)

    @property
    def database_label(self) -> str:
        url = sa.engine.make_url(self.app.config["SQLALCHEMY_DATABASE_URI"])
        return url.render_as_string(hide_password=True)

    def database_problem(self, error: Exception) -> str:
        """What went wrong with the database, in words, with the database named."""
        from ..db import database_problem

        return f"{database_problem(error).full} (database: {self.database_label})"

    def missing_sqlite_file(self) -> Path | None:
        """The SQLite file the settings name when it does not exist yet, else None."""
        url = sa.engine.make_url(self.app.config["SQLALCHEMY_DATABASE_URI"])
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            path = Path(str(url.database))
            return None if path.exists() else path
        return None

    def save(self, *args: Any, **kwargs: Any) -> Any:
        """save_identity inside the app; a refusal is a clear message, and nothing is saved."""
        from ..identity import InvalidValue, save_identity

        with self.app.app_context():
            try:
                return save_identity(*args, **kwargs)
            except InvalidValue as error:
                fail(f"Nothing was saved: {error}")
            except sa.exc.DBAPIError as error:
                fail(f"Nothing was saved: {self.database_problem(error)}")


pass_wizard = click.make_pass_decorator(Wizard, ensure=True)


def cli_actor(method: str = "cli") -> Any:
    from ..identity import Actor

    return Actor(method, who=f"cli:{getpass.getuser()}")  # type: ignore[arg-type]


def print_saved(saved: Any, extra: str = "", err: bool = False) -> None:
    """The one way a command says what it saved."""
    say(
        f"Saved: customer {saved.customer_id}, instance {saved.instance_id}"
        + (f", license {saved.license_id_hint}" if saved.license_id else "")
        + extra,
        err=err,
    )


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="replicated-setup-wizard", prog_name="setup-wizard")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Tell this installation who it is, for Replicated: customer, instance and license ids."""
    ctx.ensure_object(Wizard)


from . import identity, reporting, server  # noqa: E402 - the commands register on main

__all__ = ["identity", "main", "reporting", "server"]
