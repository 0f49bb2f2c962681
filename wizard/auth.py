"""Who is the admin: the unlock and lock pages, one-time unlock links, bearer tokens, and the
throttle that every token check goes through."""

from urllib.parse import urlsplit

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
from werkzeug.exceptions import TooManyRequests, Unauthorized

from . import admin_sessions, throttle
from .admin_token import load_admin_token, token_fingerprint, token_matches, token_path
from .config import check_admin_token
from .forms import UnlockForm

bp = Blueprint("auth", __name__, url_prefix="/setup")

AUTH_MODES = ("token", "none")

# What the browser's session keeps besides the admin claim: the wizard's draft survives a new
# unlock, so the admin returns to the step they were on.
KEPT_ACROSS_UNLOCK = ("draft",)


def init_app(app):
    """Check the auth mode and the token, and make `is_admin` available to templates."""
    if app.config["WIZARD_AUTH"] not in AUTH_MODES:
        raise ValueError(f"WIZARD_AUTH must be one of {', '.join(AUTH_MODES)}")
    check_admin_token(app.config["WIZARD_ADMIN_TOKEN"])
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


def client():
    """The client this request's wrong tokens count against."""
    return throttle.client_key(request.remote_addr)


def _too_many(wait, whose="your address"):
    return TooManyRequests(
        f"Too many wrong admin tokens from {whose}. Try again in {wait} seconds.",
        retry_after=wait,
    )


def check_secret(matches):
    """Every check of a token or an unlock link goes here: a client that gave too many wrong
    ones waits; then the secret is compared, and a wrong one is counted. The ceiling on all
    clients together stops only wrong secrets, so that a flood from many addresses cannot
    lock out the admin who holds the right one."""
    own, everyone = throttle.retry_after(client())
    if own:
        raise _too_many(own)
    if matches():
        return True
    # A wrong one always counts against its client, so that the ceiling never lets one address
    # go on guessing; once the ceiling is reached, it alone is counted.
    throttle.record_failure(client(), everyone=not everyone)
    if everyone:
        raise _too_many(everyone, "many addresses at once")
    return False


def check_token(candidate):
    """Check an admin token (see check_secret)."""
    return check_secret(lambda: token_matches(candidate))


def authenticate_bearer():
    """Check the request's bearer token, once per request: 401 when it is wrong, never a quiet
    fall-back to the public view, so a misconfigured console or script notices at once."""
    if "is_admin" not in g:
        g.is_admin = False  # an error page rendered for this request must not count it again
        g.is_admin = check_token(bearer_token())
    if not g.is_admin:
        raise Unauthorized("The bearer token is not the admin token.")


def is_admin():
    """True for the admin: lock off, a valid bearer token, or an open admin session."""
    if "is_admin" in g:
        return g.is_admin
    g.is_admin = False
    if current_app.config["WIZARD_AUTH"] == "none":
        g.is_admin = True
    elif bearer_token() is not None:
        del g.is_admin
        authenticate_bearer()
    elif current_app.config["SESSION_COOKIE_NAME"] in request.cookies and "admin" in session:
        # Only a browser that claims a session costs a look at the database (and one that
        # sends no cookie leaves the session untouched: no Vary: Cookie on what it gets).
        g.is_admin = admin_sessions.session_is_open(session["admin"], token_fingerprint())
        if not g.is_admin:
            # Said once, on whatever page the browser asked for next (the status page too).
            session.pop("admin")
            flash(ENDED_MESSAGES["expired"], "info")
    return g.is_admin


def admin_credential():
    """How the admin proved it for this request: `session`, `token`, or `WIZARD_AUTH=none`."""
    if current_app.config["WIZARD_AUTH"] == "none":
        return "WIZARD_AUTH=none"
    return "token" if bearer_token() is not None else "session"


def require_admin():
    """A blueprint's before_request: whoever is not the admin goes to the unlock page, and comes
    back to the page they were on (a form sent to a step comes back to that step's page)."""
    if is_admin():
        return None
    if session.pop("ended", None) == "locked":
        flash(ENDED_MESSAGES["locked"], "info")
    return redirect(url_for("auth.unlock", next=request.path))


ENDED_MESSAGES = {
    "locked": "The wizard was locked, in this tab or another. Unlock it to go on where you "
    "were: your answers are kept.",
    "expired": "Your admin session ended (30 minutes without use, 12 hours at most, or a new "
    "admin token). Unlock again to go on where you were: your answers are kept.",
}


def safe_next(target):
    """A path on this site to return to (never another site), or None."""
    if not target or not isinstance(target, str):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(char) < 0x20 for char in target):
        return None
    return target


def _return_to(target):
    # Paths are kept without the script root (the prefix); add it back.
    path = safe_next(target)
    return request.script_root + path if path else url_for("status.page")


def _start_admin_session():
    """A new session for the admin: new cookie contents, the draft kept."""
    kept = {name: session[name] for name in KEPT_ACROSS_UNLOCK if name in session}
    session.clear()
    session.update(kept)
    session["admin"] = admin_sessions.open_session(token_fingerprint())
    g.is_admin = True


@bp.route("/unlock", methods=["GET", "POST"])
def unlock():
    """Start an admin session with the admin token."""
    form = UnlockForm()
    where = _where_the_token_is()
    form.token.description = (
        "Copy it from the file named below, on the server."
        if where["token_file"]
        else "The value of WIZARD_ADMIN_TOKEN in this installation's settings."
    )
    if form.validate_on_submit():
        if check_token(form.token.data):
            throttle.forget_failures(client())
            _start_admin_session()
            flash("Unlocked. You can now see and change the license identity.", "success")
            return redirect(_return_to(request.args.get("next")))
        form.token.errors.append(
            "That is not the admin token. Copy it again from the file named below."
        )
    return render_template("auth/unlock.html", form=form, **where)


def _where_the_token_is():
    config = current_app.config
    if config["WIZARD_AUTH"] != "token" or config["WIZARD_ADMIN_TOKEN"]:
        return {"token_file": None}
    return {"token_file": token_path(config["WIZARD_INSTANCE_PATH"])}


@bp.get("/unlock/link/<secret>")
def unlock_link(secret):
    """Open an admin session with a one-time link a console asked for (POST /api/v1/unlock-link)."""
    used = {}

    def matches():
        try:
            used["next"] = admin_sessions.use_link(secret, token_fingerprint())
        except admin_sessions.LinkRefused:
            return False
        return True

    if not check_secret(matches):
        flash(
            "That unlock link was used already or has expired: a link works once, for a minute. "
            "Open the wizard from the console again, or enter the admin token.",
            "error",
        )
        return redirect(url_for("auth.unlock"))
    _start_admin_session()
    return redirect(_return_to(used["next"] or "/"))


@bp.post("/lock")
def lock():
    """End the admin session, here and on every worker and replica."""
    admin_sessions.close_session(session.pop("admin", None))
    session["ended"] = "locked"
    g.is_admin = False
    flash("Locked. The admin token is needed to make changes again.", "success")
    return redirect(url_for("status.page"))
