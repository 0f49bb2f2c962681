"""setup-wizard: serve the wizard, and do everything it does from a shell."""

import contextlib
import getpass
import json
import logging
import sys
from pathlib import Path

import click
import sqlalchemy as sa

from .id_rule import InvalidId, clean_id

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
    """The settings and the database (no pages: a command starts quicker without them)."""
    from . import create_app
    from .config import InsecureFile

    try:
        return create_app(web=False)
    except (ValueError, InsecureFile) as error:
        raise click.ClickException(str(error)) from None


def _admin_token_file(app):
    """Check WIZARD_ADMIN_TOKEN, or make the token file the server will use; return its path
    (None when the token comes from the variable)."""
    from .admin_token import load_admin_token, token_path
    from .config import InsecureFile, check_admin_token

    try:
        check_admin_token(app.config["WIZARD_ADMIN_TOKEN"])
        load_admin_token(app.config)
    except (ValueError, InsecureFile) as error:
        raise click.ClickException(str(error)) from None
    return (
        None if app.config["WIZARD_ADMIN_TOKEN"] else token_path(app.config["WIZARD_INSTANCE_PATH"])
    )


def _policy(app):
    from .licenses import LicensePolicy

    try:
        return LicensePolicy.for_app(app)
    except ValueError as error:
        raise click.ClickException(str(error)) from None


def _database_label(app):
    url = sa.engine.make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    return url.render_as_string(hide_password=True)


def _database_problem(app, error):
    """What went wrong with the database, in words, with the database named."""
    from .database import database_problem

    return f"{database_problem(error).full} (database: {_database_label(app)})"


def _missing_sqlite_file(app):
    """Return the SQLite file the settings name when it does not exist yet, else None."""
    url = sa.engine.make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        path = Path(url.database)
        return None if path.exists() else path
    return None


def _cli_actor(method="cli"):
    from .identity import Actor

    return Actor(method, who=f"cli:{getpass.getuser()}")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="replicated-setup-wizard", prog_name="setup-wizard")
def main():
    """Tell this installation who it is, for Replicated: customer, instance and license ids."""


def _upgrade(app):
    """Bring the schema up to date; a clear message (and nothing changed) when it cannot."""
    from .schema import SchemaConflict, upgrade_schema

    with app.app_context():
        try:
            upgrade_schema()
        except SchemaConflict as error:
            raise click.ClickException(str(error)) from None
        except sa.exc.DBAPIError as error:
            raise click.ClickException(_database_problem(app, error)) from None


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
    from .server import PortInUse, WizardServer, check_port_free

    _configure_logging()
    try:
        check_port_free(host, port)
    except PortInUse:
        raise click.ClickException(
            f"Port {port} on {host} is already in use: another server listens there. Stop it, "
            "or choose another port with --port."
        ) from None
    app = _app()
    _policy(app)  # a bad WIZARD_LICENSE_KEYS stops the start here
    log.info("instance folder: %s", app.config["WIZARD_INSTANCE_PATH"])
    _in_a_child_process(_prepare, app)
    if app.config["WIZARD_AUTH"] == "token":
        token_file = _admin_token_file(app)
        if token_file is None:
            log.info("admin token: taken from WIZARD_ADMIN_TOKEN")
        else:
            log.info("admin token: in %s", token_file)
    else:
        log.warning("WIZARD_AUTH=none: the wizard is not locked; every page says so")
    log.info("database: %s", _database_label(app))
    log.info("serving on http://%s:%d/ with %d workers", host, port, workers)
    WizardServer(bind=f"{host}:{port}", workers=workers).run()


def _prepare(app):
    """Bring the schema up to date and pre-seed the identity if the environment asks for it."""
    from .seed import SeedError, seed_from_environment

    _upgrade(app)
    with app.app_context():
        try:
            seed_from_environment(
                _policy(app),
                app.config["WIZARD_REPLICATED_SDK_URL"],
                app.config["WIZARD_SDK_TIMEOUT"],
            )
        except SeedError as error:
            raise click.ClickException(f"not starting: {error}") from None
        except sa.exc.DBAPIError as error:
            raise click.ClickException(_database_problem(app, error)) from None


def _in_a_child_process(work, *args):
    """Run `work` in a forked child and stop here if it failed. gunicorn forks its workers
    from this process: what only the migrations need (Alembic, Mako) then stays out of every
    worker's memory."""
    import multiprocessing

    def run():
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


@main.command()
@click.option(
    "--json", "as_json", is_flag=True, help="Print what an admin's GET /api/v1/status shows."
)
def status(as_json):
    """Exit 0 when the identity is set, 1 when it is not, 2 when it cannot tell."""
    from .filters import when
    from .identity import load_status, status_document

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
            identity, summary, _ = load_status(changes=0)
        except sa.exc.DBAPIError as error:
            click.echo(f"Cannot tell: {_database_problem(app, error)}", err=True)
            sys.exit(EXIT_UNKNOWN)
    document = status_document(identity, summary, admin=True)
    if as_json:
        click.echo(json.dumps(document, indent=2))
    elif document["has_customer_info"]:
        click.echo(
            f"Identified: customer {identity.customer_id}, instance {identity.instance_id}"
            + (f", license {identity.license_id_hint}" if identity.license_id else "")
            + f" (since {when(identity.updated_at)})"
        )
    else:
        click.echo("Not identified yet: run `setup-wizard set` or open the wizard.")
    sys.exit(EXIT_SET if document["has_customer_info"] else EXIT_NOT_SET)


def _save(app, *args, **kwargs):
    """save_identity inside the app; a refusal is a clear message, and nothing is saved."""
    from .identity import InvalidValue, save_identity

    with app.app_context():
        try:
            return save_identity(*args, **kwargs)
        except InvalidValue as error:
            raise click.ClickException(f"Nothing was saved: {error}") from None
        except sa.exc.DBAPIError as error:
            raise click.ClickException(
                f"Nothing was saved: {_database_problem(app, error)}"
            ) from None


def _saved_instance_id(app):
    """The instance id already saved, for a command that was not given one."""
    from .identity import load_identity

    with app.app_context():
        try:
            saved = load_identity()
        except sa.exc.DBAPIError as error:
            raise click.ClickException(
                f"Nothing was saved: {_database_problem(app, error)}"
            ) from None
    if saved is None or not saved.instance_id:
        raise click.UsageError("--instance-id is needed: no instance id is saved yet.")
    return saved.instance_id


def _customer_id(carried, given, source):
    from .identity import CustomerIdProblem, customer_id_for

    try:
        return customer_id_for(carried, given, source)
    except CustomerIdProblem as problem:
        raise click.UsageError(f"--customer-id {problem}.") from None


@main.command("set")
@click.option("--customer-id", required=True, type=IdType(), help="Replicated customer id.")
@click.option("--instance-id", required=True, type=IdType(), help="Replicated instance id.")
@click.option("--license-id", type=IdType(), help="Replicated license id (left out: kept).")
def set_identity(customer_id, instance_id, license_id):
    """Save the identity; a license id left out is kept."""
    from .identity import UNCHANGED

    saved = _save(
        _app(),
        customer_id,
        instance_id,
        UNCHANGED if license_id is None else license_id,
        actor=_cli_actor(),
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


def _verdict_line(verdict, show_license_id=False):
    lic = verdict.license
    if not verdict.valid:
        return f"{verdict.reason}: {verdict.message}"
    expiry = f"expires {lic.expires_at:%Y-%m-%d}" if lic.expires_at else "never expires"
    license_id = lic.license_id if show_license_id else lic.license_id_hint
    return (
        f"valid: {lic.app_slug}, {lic.customer_name}, {lic.license_type}, {expiry}, license "
        f"{license_id}, signed with the {lic.key} key ({lic.version})"
    )


license_number = click.option(
    "--license",
    "choice",
    type=click.IntRange(1),
    default=None,
    help="Which license, when the file holds several (1, 2, ...).",
)


@main.command("verify-license")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
@license_number
@click.option(
    "--show-license-id",
    is_flag=True,
    help="Print the whole license id (a credential) instead of its last 4 characters.",
)
def verify_license_command(file, as_json, choice, show_license_id):
    """Verify a license file without saving anything: exit 0 valid, 1 not."""
    from .licenses import LicenseError, Reason, Verdict

    policy = _policy(_app())
    data = _read_license_file(file)
    try:
        count = len(policy.documents(data))
    except LicenseError as error:
        count, verdicts = 0, [Verdict(error.reason, error.message)]
    if count:
        indexes = [choice - 1] if choice else range(count)
        verdicts = [policy.verify(data, choice=i) for i in indexes]
    if as_json:
        documents = [v.as_json(show_license_id) for v in verdicts]
        click.echo(json.dumps(documents[0] if len(documents) == 1 else documents, indent=2))
    else:
        for number, verdict in enumerate(verdicts, start=1):
            prefix = f"License {number}: " if len(verdicts) > 1 else ""
            click.echo(prefix + _verdict_line(verdict, show_license_id))
    sys.exit(0 if verdicts and all(v.reason is Reason.OK for v in verdicts) else 1)


@main.command("import-license")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--instance-id",
    type=IdType(),
    help="Replicated instance id (left out: the saved one is kept).",
)
@click.option(
    "--customer-id",
    type=IdType(),
    help="Replicated customer id, when the license does not carry one.",
)
@license_number
def import_license(file, instance_id, customer_id, choice):
    """Verify a license file and save the identity it gives, with this instance id (or the
    saved one)."""
    from .licenses import LicenseError

    app = _app()
    policy = _policy(app)
    data = _read_license_file(file)
    try:
        documents = policy.documents(data)
    except LicenseError as error:
        click.echo(f"Nothing was saved. {error.reason}: {error.message}", err=True)
        sys.exit(1)
    if len(documents) > 1 and choice is None:
        click.echo(f"{file} holds {len(documents)} licenses:", err=True)
        for number, document in enumerate(documents, start=1):
            verdict = policy.verify_document(document)
            click.echo(f"  {number}. {_verdict_line(verdict)}", err=True)
        raise click.UsageError("Say which one to save with --license N.")
    verdict = policy.verify(data, choice=(choice or 1) - 1)
    if not verdict.valid:
        click.echo(f"Nothing was saved. {verdict.reason}: {verdict.message}", err=True)
        sys.exit(1)
    lic = verdict.license
    if instance_id is None:
        instance_id = _saved_instance_id(app)
    saved = _save(
        app,
        _customer_id(lic.customer_id, customer_id, "the license"),
        instance_id,
        lic.license_id,
        summary=lic.summary("upload"),
        actor=_cli_actor(),
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
@click.option(
    "--show-license-id",
    is_flag=True,
    help="Print the whole license id (a credential) instead of its last 4 characters.",
)
def detect_command(as_json, save, customer_id, show_license_id):
    """Read the ids from the Replicated SDK (WIZARD_REPLICATED_SDK_URL); --save saves them."""
    from .id_rule import license_id_hint
    from .sdk import SdkError, detect

    app = _app()
    sdk_url = app.config["WIZARD_REPLICATED_SDK_URL"]
    if not sdk_url:
        raise click.UsageError(
            "Set WIZARD_REPLICATED_SDK_URL to the Replicated SDK's address, "
            "e.g. http://replicated:3000."
        )
    try:
        found = detect(
            sdk_url,
            timeout=app.config["WIZARD_SDK_TIMEOUT"],
            expected_app=app.config["WIZARD_EXPECTED_APP_SLUG"] or None,
        )
    except SdkError as error:
        click.echo(f"Nothing detected: {error}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(found.as_json(show_license_id), indent=2))
    else:
        if found.mock:
            click.echo(
                "Integration mode: the SDK answered with mock data; these are not a "
                "real customer's IDs."
            )
        shown = found.license_id if show_license_id else license_id_hint(found.license_id)
        click.echo(
            f"License:  {shown} ({found.app_slug}, {found.customer_name}, {found.license_type})"
        )
        click.echo(f"Instance: {found.instance_id}")
        click.echo(f"Customer: {found.customer_id or '(not reported by this SDK version)'}")
    if not save:
        return
    saved = _save(
        app,
        _customer_id(found.customer_id, customer_id, "the Replicated SDK"),
        found.instance_id,
        found.license_id,
        summary=found.as_license().summary("sdk"),
        actor=_cli_actor("sdk"),
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
    _configure_logging()
    _upgrade(_app())
    click.echo("The schema is up to date.")


@main.command()
@click.option("--rotate", is_flag=True, help="Replace the admin token with a new one.")
def token(rotate):
    """Say where the admin token is kept (never print it)."""
    from .admin_sessions import close_all_sessions
    from .admin_token import rotate_admin_token, token_path

    app = _app()
    existed = token_path(app.config["WIZARD_INSTANCE_PATH"]).exists()
    _admin_token_file(app)
    if app.config["WIZARD_ADMIN_TOKEN"]:
        if rotate:
            raise click.ClickException(
                "The admin token comes from WIZARD_ADMIN_TOKEN: change that variable to rotate it."
            )
        click.echo("The admin token is the value of WIZARD_ADMIN_TOKEN.")
        return
    instance_path = app.config["WIZARD_INSTANCE_PATH"]
    if not rotate:
        # The folder is the same from any working directory; the server makes the token on
        # its first start, and this command does when it runs first.
        made = "" if existed else " (made just now: no server had started here yet)"
        click.echo(f"The admin token is in {token_path(instance_path)}{made}")
        return
    path = rotate_admin_token(instance_path)
    message = f"A new admin token is in {path}; the old one no longer works"
    # Sessions check the token's fingerprint too: without the database they end anyway.
    with app.app_context(), contextlib.suppress(sa.exc.DBAPIError):
        close_all_sessions()
    click.echo(message + ", and every admin session, unlock link and unfinished setup has ended.")


if __name__ == "__main__":
    main()
