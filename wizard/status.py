"""The status page: is this installation identified, by which license, since when."""

from flask import Blueprint, current_app, redirect, render_template, url_for

from .auth import is_admin
from .identity import load_identity, load_status

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


@bp.get("/favicon.ico")
def favicon():
    """The icon browsers ask for at the root (pages also name it with a link)."""
    return current_app.send_static_file("favicon.svg")
