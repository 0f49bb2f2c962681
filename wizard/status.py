"""The status page: is this installation identified, by which license, since when."""

from datetime import UTC, datetime

from flask import Blueprint, redirect, render_template, url_for

from .auth import is_admin
from .identity import load_identity, load_status
from .ids import license_id_hint

bp = Blueprint("status", __name__)


@bp.get("/")
def index():
    """Send the visitor to the wizard until the identity is set, then to the status page."""
    identity = load_identity()
    if identity and identity.has_customer_info:
        return redirect(url_for("status.page"))
    return redirect(url_for("setup.start"))


@bp.get("/status")
def page():
    """Show whether the identity is set; the admin also sees the ids, license and history."""
    if not is_admin():
        return render_template("status/page.html", identity=load_identity())
    identity, summary, changes = load_status(changes=10)
    return render_template("status/page.html", identity=identity, summary=summary, changes=changes)


@bp.app_template_filter("when")
def when(moment):
    """Format a moment for people: `28 Nov 2026, 14:05 UTC`."""
    if moment is None:
        return "never"
    return moment.astimezone(UTC).strftime("%-d %b %Y, %H:%M UTC")


@bp.app_template_filter("hint")
def hint(license_id):
    """Show a license id only as its last four characters."""
    return license_id_hint(license_id)


@bp.app_template_filter("entitlement_value")
def entitlement_value(value):
    """Show an entitlement value as a person reads it: Yes/No, numbers and text as they are."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return value


@bp.app_template_filter("days_left")
def days_left(moment):
    """Whole days from now until `moment` (negative once past), or None when there is none."""
    if moment is None:
        return None
    return (moment - datetime.now(UTC)).days
