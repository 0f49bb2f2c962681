"""The status page: is this installation identified, by which license, since when."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from markupsafe import Markup
from werkzeug.wrappers import Response

from .admin import is_admin
from .identity import SavedIdentity, load_identity, load_status
from .overview import expected_app
from .reporting.status import STATES, load_reporting_for, reporting_json
from .watch import mismatch_words, newer_license, usage

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
    """Show whether the identity is set and whether reporting works; the admin also sees the
    ids, the license, the history and what reporting sends."""
    config = current_app.config
    admin = is_admin()
    reporting, summary = load_reporting_for(admin)
    identity = reporting.identity
    context = {
        "identity": identity,
        "reporting_state": reporting.public_state(config),
        "reporting_words": STATES,
    }
    if not (identity and admin):
        return render_template("status/page.html", **context)
    now = datetime.now(UTC)
    hour = now.replace(minute=0, second=0, microsecond=0)
    report = reporting_json(reporting, summary, config, now, admin=True)
    mismatch = reporting.mismatch(config)
    return render_template(
        "status/page.html",
        **context,
        admin_cards=_admin_cards(identity, hour, request.script_root),
        reporting=report,
        newer=newer_license(identity, summary, reporting.watch, config),
        mismatch=mismatch,
        mismatch_words=mismatch_words(mismatch) if mismatch else None,
        expected_app=expected_app(config, reporting.watch, summary),
        summary=summary,
        usage=usage(
            summary.entitlements if summary else None, (report["last_sent"] or {}).get("data")
        ),
    )


@functools.lru_cache(maxsize=16)
def _admin_cards(
    identity: SavedIdentity, hour: datetime, script_root: str
) -> tuple[Markup, Markup]:
    """The admin's cards, rendered once per state of the identity. Every save moves the
    identity's updated_at (and writes the summary and the history in the same transaction), so
    the row as read names the state; the hour and the prefix complete what the cards depend on
    ("days left", links). The row is still read on every request: a change shows at once."""
    identity_now, summary, changes = load_status(changes=10)
    context = {"identity": identity_now, "summary": summary, "changes": changes}
    # Rendered templates: escaped already.
    return (
        Markup(render_template("status/_admin.html", **context)),  # noqa: S704
        Markup(render_template("status/_changes.html", **context)),  # noqa: S704
    )


@bp.get("/favicon.ico")
def favicon() -> Response:
    """The icon browsers ask for at the root (pages also name it with a link)."""
    return current_app.send_static_file("favicon.svg")
