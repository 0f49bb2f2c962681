"""setup-wizard: serve the wizard, and do everything it does from a shell."""

import json
import logging
import sys
from pathlib import Path

import click
import sqlalchemy as sa

from .config import license_policy
from .ids import InvalidId, clean_id

log = logging.getLogger("wizard")

EXIT_SET, EXIT_NOT_SET, EXIT_UNKNOWN = 0, 1, 2


class IdType(click.ParamType):
    """A Replicated id on the command line, checked by the same rule as everywhere else."""

    name = "ID"

    def convert(self, value, param, ctx):
        try:
            return clean_id(value)
        except InvalidId as error:
            self.fail(str(error), param, ctx)


def _configure_logging():
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def _app():
    from . import create_app

    try:
        return create_app()
    except ValueError as error:
        raise click.ClickException(str(error)) from None


def _database_label(app):
    url = sa.engine.make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    return url.render_as_string(hide_password=True)


def _missing_sqlite_file(app):
    """Return the SQLite file the settings name when it does not exist yet, else None."""
    url = sa.engine.make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        path = Path(url.database)
        return None if path.exists() else path
    return None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main():
    """Tell this installation who it is, for Replicated: customer, instance and license ids."""


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
def serve(host, port, workers):
    """Bring the schema up to date, then serve the wizard with gunicorn."""
    from .admin_token import load_admin_token, token_path
    from .schema import upgrade_schema
    from .seed import SeedError, seed_from_environment
    from .server import WizardServer

    _configure_logging()
    app = _app()
    try:
        policy = license_policy(app)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    with app.app_context():
        try:
            upgrade_schema()
            seed_from_environment(policy, app.config["WIZARD_REPLICATED_SDK_URL"])
        except SeedError as error:
            raise click.ClickException(f"not starting: {error}") from None
        except sa.exc.DBAPIError as error:
            raise click.ClickException(
                f"cannot reach the database at {_database_label(app)}: {type(error.orig).__name__}"
            ) from None
    if app.config["WIZARD_AUTH"] == "token":
        if app.config["WIZARD_ADMIN_TOKEN"]:
            log.info("admin token: taken from WIZARD_ADMIN_TOKEN")
        else:
            load_admin_token(app.config)
            log.info("admin token: in %s", token_path(app.config["WIZARD_INSTANCE_PATH"]))
    else:
        log.warning("WIZARD_AUTH=none: the wizard is not locked; every page says so")
    log.info("database: %s", _database_label(app))
    log.info("serving on http://%s:%d/ with %d workers", host, port, workers)
    WizardServer(bind=f"{host}:{port}", workers=workers).run()


@main.command()
@click.option(
    "--json", "as_json", is_flag=True, help="Print what an admin's GET /api/v1/status shows."
)
def status(as_json):
    """Exit 0 when the identity is set, 1 when it is not, 2 when it cannot tell."""
    from .api import status_document
    from .identity import load_identity, load_license_summary

    app = _app()
    missing = _missing_sqlite_file(app)
    if missing:
        click.echo(
            f"Cannot tell: there is no database at {missing}. "
            "Run `setup-wizard db upgrade` or `setup-wizard serve` first.",
            err=True,
        )
        sys.exit(EXIT_UNKNOWN)
    with app.app_context():
        try:
            identity = load_identity()
            summary = load_license_summary() if as_json else None
        except sa.exc.DBAPIError as error:
            click.echo(_database_problem(app, error), err=True)
            sys.exit(EXIT_UNKNOWN)
        document = status_document(identity, summary, admin=True)
    if as_json:
        click.echo(json.dumps(document, indent=2))
    elif document["has_customer_info"]:
        click.echo(
            f"Identified: customer {identity.customer_id}, instance {identity.instance_id}"
            + (f", license {identity.license_id_hint}" if identity.license_id else "")
            + f" (since {document['updated_at']})"
        )
    else:
        click.echo("Not identified yet: run `setup-wizard set` or open the wizard.")
    sys.exit(EXIT_SET if document["has_customer_info"] else EXIT_NOT_SET)


def _save(app, *args, **kwargs):
    """save_identity inside the app; a database failure is a clear message, nothing saved."""
    from .identity import save_identity

    with app.app_context():
        try:
            return save_identity(*args, **kwargs)
        except sa.exc.DBAPIError as error:
            raise click.ClickException(
                _database_problem(app, error).replace("Cannot tell", "Nothing was saved")
            ) from None


def _database_problem(app, error):
    text = str(error.orig).lower()
    if "no such table" in text or ("relation" in text and "does not exist" in text):
        return (
            "Cannot tell: the database has no schema yet. "
            "Run `setup-wizard db upgrade` or `setup-wizard serve` first."
        )
    return (
        f"Cannot tell: the database at {_database_label(app)} does not answer "
        f"({type(error.orig).__name__})."
    )


@main.command("set")
@click.option("--customer-id", required=True, type=IdType(), help="Replicated customer id.")
@click.option("--instance-id", required=True, type=IdType(), help="Replicated instance id.")
@click.option("--license-id", type=IdType(), help="Replicated license id.")
def set_identity(customer_id, instance_id, license_id):
    """Save the identity."""
    import getpass

    from .identity import Actor

    app = _app()
    saved = _save(
        app,
        customer_id,
        instance_id,
        license_id,
        actor=Actor("cli", who=f"cli:{getpass.getuser()}"),
    )
    click.echo(
        f"Saved: customer {saved.customer_id}, instance {saved.instance_id}"
        + (f", license {saved.license_id_hint}" if saved.license_id else "")
    )


def _read_license_file(path):
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise click.ClickException(f"cannot read {path}: {error.strerror}") from None


def _policy():
    from .config import instance_path_from_env, settings_from_env
    from .licenses import LicensePolicy

    try:
        return LicensePolicy.from_settings(settings_from_env(instance_path_from_env()))
    except ValueError as error:
        raise click.ClickException(str(error)) from None


@main.command("verify-license")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
@click.option(
    "--license",
    "choice",
    type=click.IntRange(1),
    default=None,
    help="Which license, when the file holds several (1, 2, ...).",
)
def verify_license_command(file, as_json, choice):
    """Verify a license file without saving anything: exit 0 valid, 1 not."""
    from .licenses import LicenseError, Reason, Verdict

    policy = _policy()
    data = _read_license_file(file)
    try:
        count = len(policy.documents(data))
    except LicenseError as error:
        count, verdicts = 0, [Verdict(error.reason, error.message)]
    if count:
        indexes = [choice - 1] if choice else range(count)
        verdicts = [policy.verify(data, choice=i) for i in indexes]
    if as_json:
        documents = [v.as_json() for v in verdicts]
        click.echo(json.dumps(documents[0] if len(documents) == 1 else documents, indent=2))
    else:
        for number, verdict in enumerate(verdicts, start=1):
            prefix = f"License {number}: " if len(verdicts) > 1 else ""
            lic = verdict.license
            if verdict.valid:
                expiry = f"expires {lic.expires_at:%Y-%m-%d}" if lic.expires_at else "never expires"
                click.echo(
                    f"{prefix}valid: {lic.app_slug}, {lic.customer_name}, "
                    f"{lic.license_type}, {expiry}, signed with the {lic.key} key "
                    f"({lic.version})"
                )
            else:
                click.echo(f"{prefix}{verdict.reason}: {verdict.message}")
    sys.exit(0 if verdicts and all(v.reason is Reason.OK for v in verdicts) else 1)


@main.command("import-license")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--instance-id", required=True, type=IdType(), help="Replicated instance id.")
@click.option(
    "--customer-id",
    type=IdType(),
    help="Replicated customer id, when the license does not carry one.",
)
@click.option(
    "--license",
    "choice",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Which license, when the file holds several.",
)
def import_license(file, instance_id, customer_id, choice):
    """Verify a license file and save the identity it gives, with this instance id."""
    import getpass

    from .identity import Actor

    app = _app()
    verdict = license_policy(app).verify(_read_license_file(file), choice=choice - 1)
    if not verdict.valid:
        click.echo(f"Nothing was saved. {verdict.reason}: {verdict.message}", err=True)
        sys.exit(1)
    lic = verdict.license
    if lic.customer_id and customer_id and customer_id != lic.customer_id:
        raise click.UsageError(
            f"--customer-id {customer_id} differs from the license's signed customer id "
            f"{lic.customer_id}; leave --customer-id out."
        )
    customer_id = lic.customer_id or customer_id
    if not customer_id:
        raise click.UsageError(
            "This license does not carry a customer id: give it with --customer-id."
        )
    saved = _save(
        app,
        customer_id,
        instance_id,
        lic.license_id,
        summary=lic.summary("upload"),
        actor=Actor("cli", who=f"cli:{getpass.getuser()}"),
    )
    click.echo(
        f"Saved: customer {saved.customer_id}, instance {saved.instance_id}, "
        f"license {saved.license_id_hint} ({lic.app_slug}, {lic.customer_name})"
    )


@main.command("detect")
@click.option("--json", "as_json", is_flag=True, help="Print what was found as JSON.")
@click.option("--save", is_flag=True, help="Save what was found as the identity.")
@click.option(
    "--customer-id",
    type=IdType(),
    help="Customer id, for an SDK that does not report one (older versions).",
)
def detect_command(as_json, save, customer_id):
    """Read the ids from the Replicated SDK (WIZARD_REPLICATED_SDK_URL); --save saves them."""
    import getpass

    from .identity import Actor
    from .ids import license_id_hint
    from .sdk import SdkError, detect

    app = _app()
    sdk_url = app.config["WIZARD_REPLICATED_SDK_URL"]
    if not sdk_url:
        raise click.UsageError(
            "Set WIZARD_REPLICATED_SDK_URL to the Replicated SDK's address, "
            "e.g. http://replicated:3000."
        )
    try:
        found = detect(sdk_url)
    except SdkError as error:
        click.echo(f"Nothing detected: {error}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(found.as_json(), indent=2))
    else:
        if found.mock:
            click.echo(
                "Integration mode: the SDK answered with mock data; these are not a "
                "real customer's IDs."
            )
        click.echo(
            f"License:  {license_id_hint(found.license_id)} "
            f"({found.app_slug}, {found.customer_name}, {found.license_type})"
        )
        click.echo(f"Instance: {found.instance_id}")
        click.echo(f"Customer: {found.customer_id or '(not reported by this SDK version)'}")
    if not save:
        return
    if found.customer_id and customer_id and customer_id != found.customer_id:
        raise click.UsageError(
            f"--customer-id {customer_id} differs from the SDK's customer ID {found.customer_id}"
        )
    if not (found.customer_id or customer_id):
        raise click.UsageError("The SDK does not report a customer ID: give it with --customer-id.")
    saved = _save(
        app,
        found.customer_id or customer_id,
        found.instance_id,
        found.license_id,
        summary=found.as_license().summary("sdk"),
        actor=Actor("sdk", who=f"cli:{getpass.getuser()}"),
    )
    click.echo(
        f"Saved: customer {saved.customer_id}, instance {saved.instance_id}, "
        f"license {saved.license_id_hint}",
        err=as_json,
    )


@main.group()
def db():
    """The database schema."""


@db.command()
def upgrade():
    """Bring the schema up to date (safe to run from several hosts at once)."""
    from .schema import upgrade_schema

    _configure_logging()
    app = _app()
    with app.app_context():
        try:
            upgrade_schema()
        except sa.exc.DBAPIError as error:
            raise click.ClickException(
                f"cannot reach the database at {_database_label(app)}: {type(error.orig).__name__}"
            ) from None
    click.echo("The schema is up to date.")


@main.command()
@click.option("--rotate", is_flag=True, help="Replace the admin token with a new one.")
def token(rotate):
    """Say where the admin token is kept (never print it)."""
    from .admin_token import load_admin_token, rotate_admin_token, token_path

    app = _app()
    if app.config["WIZARD_ADMIN_TOKEN"]:
        if rotate:
            raise click.ClickException(
                "The admin token comes from WIZARD_ADMIN_TOKEN: change that variable to rotate it."
            )
        click.echo("The admin token is the value of WIZARD_ADMIN_TOKEN.")
        return
    if rotate:
        path = rotate_admin_token(app.config["WIZARD_INSTANCE_PATH"])
        click.echo(f"A new admin token is in {path}; the old one no longer works.")
        return
    load_admin_token(app.config)
    click.echo(f"The admin token is in {token_path(app.config['WIZARD_INSTANCE_PATH'])}")


if __name__ == "__main__":
    main()
