"""Who is the admin: the unlock page, the admin session, and bearer tokens."""

import functools
from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, redirect, render_template, request, session, url_for

from .admin_token import token_fingerprint, token_matches
from .forms import UnlockForm

bp = Blueprint("auth", __name__, url_prefix="/setup")

AUTH_MODES = ("token", "none")


def init_app(app):
    """Check the auth mode and make `is_admin` available to templates."""
    if app.config["WIZARD_AUTH"] not in AUTH_MODES:
        raise ValueError(f"WIZARD_AUTH must be one of {', '.join(AUTH_MODES)}")
    app.context_processor(lambda: {"is_admin": is_admin(), "auth_mode": app.config["WIZARD_AUTH"]})


def bearer_token():
    """Return the token of an `Authorization: Bearer` header, or None."""
    auth = request.authorization
    if auth is not None and auth.type == "bearer":
        return auth.token
    return None


def is_admin():
    """True when this request comes from the admin: lock off, a valid bearer token, or a session."""
    if "is_admin" not in g:
        g.is_admin = (
            current_app.config["WIZARD_AUTH"] == "none"
            or token_matches(bearer_token())
            or session.get("admin") == token_fingerprint()
        )
    return g.is_admin


def admin_credential():
    """How the admin proved it for this request: `session`, `token`, or `WIZARD_AUTH=none`."""
    if token_matches(bearer_token()):
        return "token"
    if session.get("admin") == token_fingerprint():
        return "session"
    return "WIZARD_AUTH=none"


def admin_required(view):
    """Send whoever is not the admin to the unlock page, then back."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if not is_admin():
            return redirect(url_for("auth.unlock", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped


def _safe_next(target):
    """Accept only a path on this site as the place to return to."""
    if not target:
        return url_for("status.page")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("status.page")
    # The path was taken from request.full_path, which has no script root: add it back.
    return request.script_root + target


@bp.route("/unlock", methods=["GET", "POST"])
def unlock():
    """Start an admin session with the admin token."""
    form = UnlockForm()
    if form.validate_on_submit():
        session.clear()
        session["admin"] = token_fingerprint()
        return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/unlock.html", form=form)


@bp.post("/lock")
def lock():
    """End the admin session."""
    session.pop("admin", None)
    return redirect(url_for("status.page"))
