"""Who is the admin: the unlock page, the admin session, bearer tokens, and throttling."""

import functools
from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, redirect, render_template, request, session, url_for
from werkzeug.exceptions import TooManyRequests, Unauthorized

from . import throttle
from .admin_token import load_admin_token, token_fingerprint, token_matches
from .forms import UnlockForm

bp = Blueprint("auth", __name__, url_prefix="/setup")

AUTH_MODES = ("token", "none")


def init_app(app):
    """Check the auth mode and make `is_admin` available to templates."""
    if app.config["WIZARD_AUTH"] not in AUTH_MODES:
        raise ValueError(f"WIZARD_AUTH must be one of {', '.join(AUTH_MODES)}")
    if app.config["WIZARD_AUTH"] == "token":
        load_admin_token(app.config)  # generated now, so `setup-wizard token` can point at it
    app.context_processor(
        lambda: {
            "is_admin": g.get("is_admin", False) or _safe_is_admin(),
            "auth_mode": app.config["WIZARD_AUTH"],
        }
    )


def _safe_is_admin():
    """is_admin for templates: an error page must render even when the check itself failed."""
    try:
        return is_admin()
    except Exception:  # noqa: BLE001 - the page being rendered already reports the failure
        return False


def bearer_token():
    """Return the token of an `Authorization: Bearer` header, or None."""
    auth = request.authorization
    if auth is not None and auth.type == "bearer":
        return auth.token or ""
    return None


def refuse_if_throttled():
    """Answer 429 (with Retry-After) to a client that gave too many wrong tokens."""
    wait = throttle.retry_after(request.remote_addr)
    if wait:
        raise TooManyRequests(
            f"Too many wrong admin tokens from your address. Try again in {wait} seconds.",
            retry_after=wait,
        )


def is_admin():
    """True for the admin: lock off, a valid bearer token, or an unlocked session.

    A bearer token that is wrong is an error (401), never a quiet fall-back to the public view,
    so a misconfigured console or script notices at once.
    """
    if "is_admin" in g:
        return g.is_admin
    g.is_admin = False
    if current_app.config["WIZARD_AUTH"] == "none":
        g.is_admin = True
        return True
    token = bearer_token()
    if token is not None:
        refuse_if_throttled()
        if not token_matches(token):
            throttle.record_failure(request.remote_addr)
            raise Unauthorized("The bearer token is not the admin token.")
        g.is_admin = True
    else:
        # Only a session that claims to be the admin costs a look at the token.
        claim = session.get("admin")
        g.is_admin = claim is not None and claim == token_fingerprint()
    return g.is_admin


def admin_credential():
    """How the admin proved it for this request: `session`, `token`, or `WIZARD_AUTH=none`."""
    if current_app.config["WIZARD_AUTH"] == "none":
        return "WIZARD_AUTH=none"
    return "token" if bearer_token() is not None else "session"


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
    if form.is_submitted():
        refuse_if_throttled()
    if form.validate_on_submit():
        throttle.forget_failures(request.remote_addr)
        session.clear()
        session["admin"] = token_fingerprint()
        return redirect(_safe_next(request.args.get("next")))
    if form.is_submitted() and form.token.data and form.token.errors:
        throttle.record_failure(request.remote_addr)
    return render_template("auth/unlock.html", form=form)


@bp.post("/lock")
def lock():
    """End the admin session."""
    session.pop("admin", None)
    return redirect(url_for("status.page"))
