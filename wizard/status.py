"""The status page: is this installation identified, by which license, since when."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from markupsafe import Markup
from werkzeug.wrappers import Response

from .admin import is_admin
from .identity import SavedIdentity, load_identity, load_status

bp = Blueprint("status", __name__)


@bp.get("/")
def index() -> Response:
    """Send the visitor to the wizard until the identity is set, then to the status page."""
    identity = load_identity()
    if identity and identity.has_customer_info:
        return redirect(url_for("status.page"))
    return redirect(url_for("setup.start"))


@bp.get("/status")
def page() -> str:
    """Show whether the identity is set; the admin also sees the ids, license and history."""
    identity = load_identity()
    if not (identity and is_admin()):
        return render_template("status/page.html", identity=identity)
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    cards = _admin_cards(identity, hour, request.script_root)
    return render_template("status/page.html", identity=identity, admin_cards=cards)


@functools.lru_cache(maxsize=16)
def _admin_cards(identity: SavedIdentity, hour: datetime, script_root: str) -> Markup:
    """The admin's cards, rendered once per state of the identity. Every save moves the
    identity's updated_at (and writes the summary and the history in the same transaction), so
    the row as read names the state; the hour and the prefix complete what the cards depend on
    ("days left", links). The row is still read on every request: a change shows at once."""
    identity_now, summary, changes = load_status(changes=10)
    return Markup(  # noqa: S704 - a rendered template: escaped already
        render_template(
            "status/_admin.html", identity=identity_now, summary=summary, changes=changes
        )
    )


@bp.get("/favicon.ico")
def favicon() -> Response:
    """The icon browsers ask for at the root (pages also name it with a link)."""
    return current_app.send_static_file("favicon.svg")
