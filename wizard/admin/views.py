"""The admin's pages: unlock with the token or a one-time link, and lock."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response

from ..forms import UnlockForm
from . import sessions, throttle
from .auth import safe_next, start_admin_session, throttle_key, token_accepted
from .token import ensure_admin_token, token_fingerprint

bp = Blueprint("auth", __name__, url_prefix="/setup")


def _return_to(target: str | None) -> str:
    # Paths are kept without the script root (the prefix); add it back.
    path = safe_next(target)
    return request.script_root + path if path else url_for("status.page")


def _where_the_token_is() -> dict[str, object]:
    """The file that holds the token (made now, the first time), or None for the variable."""
    config = current_app.config
    if config["WIZARD_AUTH"] != "token" or config["WIZARD_ADMIN_TOKEN"]:
        return {"token_file": None}
    return {"token_file": ensure_admin_token(config)}


@bp.route("/unlock", methods=["GET", "POST"])
def unlock() -> Response | str:
    """Start an admin session with the admin token."""
    form = UnlockForm()
    where = _where_the_token_is()
    form.token.description = (
        "Copy it from the file named below, on the server."
        if where["token_file"]
        else "The value of WIZARD_ADMIN_TOKEN in this installation's settings."
    )
    if form.validate_on_submit():
        if token_accepted(form.token.data):
            throttle.forget_failures(throttle_key())
            start_admin_session()
            flash("Unlocked. You can now see and change the license identity.", "success")
            return redirect(_return_to(request.args.get("next")))
        form.token.errors.append(
            "That is not the admin token. Copy it again from the file named below."
        )
    if request.method == "POST":
        # Back to the page through a redirect, the error kept (never the token): a reload
        # shows the page, and never sends a token again.
        session["unlock_errors"] = list(form.token.errors)
        return redirect(request.script_root + request.full_path.rstrip("?"), code=303)
    form.token.errors = list(session.pop("unlock_errors", []) or [])
    return render_template("auth/unlock.html", form=form, **where)


@bp.get("/unlock/link/<secret>")
def unlock_link(secret: str) -> Response:
    """Open an admin session with a one-time link a console asked for (POST /api/v1/unlock-link).

    A wrong link is not counted against the client, unlike a wrong token: its 256 random bits
    cannot be guessed, and any page the admin visits could send wrong ones (an image pointing
    here) to make the admin's own token wait."""
    try:
        next_path = sessions.use_link(secret, token_fingerprint())
    except sessions.LinkRefused:
        flash(
            "That unlock link was used already or has expired: a link works once, for a minute. "
            "Open the wizard from the console again, or enter the admin token.",
            "error",
        )
        return redirect(url_for("auth.unlock"))
    start_admin_session()
    return redirect(_return_to(next_path or "/"))


@bp.post("/lock")
def lock() -> Response:
    """End the admin session, here and on every worker and replica."""
    sessions.close_session(session.pop("admin", None))
    session["ended"] = "locked"
    g.is_admin = False
    flash("Locked. The admin token is needed to make changes again.", "success")
    return redirect(url_for("status.page"))
