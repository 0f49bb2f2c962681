"""The status page: is this installation identified, by which license, since when."""

from datetime import UTC, datetime

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from markupsafe import Markup

from .auth import is_admin
from .identity import load_identity, load_status

bp = Blueprint("status", __name__)

# The admin's cards, rendered once per state of the identity. Every save moves the identity's
# updated_at (and writes the summary and the history in the same transaction), so the row as
# read names the state; the hour and the prefix complete what the cards depend on ("days
# left", links). The row is still read on every request: a change shows at once.
_admin_cards = {}
_CARDS_KEPT = 16


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
    identity = load_identity()
    if not (identity and is_admin()):
        return render_template("status/page.html", identity=identity)
    return render_template("status/page.html", identity=identity, admin_cards=_cards(identity))


def _cards(identity):
    now = datetime.now(UTC)
    key = (identity, now.replace(minute=0, second=0, microsecond=0), request.script_root)
    cards = _admin_cards.get(key)
    if cards is None:
        identity, summary, changes = load_status(changes=10)
        cards = Markup(  # noqa: S704 - a rendered template: escaped already
            render_template(
                "status/_admin.html", identity=identity, summary=summary, changes=changes
            )
        )
        if len(_admin_cards) >= _CARDS_KEPT:
            _admin_cards.clear()
        _admin_cards[(identity, key[1], key[2])] = cards
    return cards


@bp.get("/favicon.ico")
def favicon():
    """The icon browsers ask for at the root (pages also name it with a link)."""
    return current_app.send_static_file("favicon.svg")
