"""Who is the admin: a bearer token, an open admin session, or WIZARD_AUTH=none; and the
throttle that every comparison of a secret goes through."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from flask import current_app, flash, g, redirect, request, session, url_for
from werkzeug.exceptions import TooManyRequests, Unauthorized
from werkzeug.wrappers import Response

from . import sessions, throttle
from .token import token_fingerprint, token_matches

AUTH_MODES = ("token", "none")

# What the browser's session keeps besides the admin claim: the wizard's draft survives a new
# unlock, so the admin returns to the step they were on.
KEPT_ACROSS_UNLOCK = ("draft",)

ENDED_MESSAGES = {
    "locked": "The wizard was locked, in this tab or another. Unlock it to go on where you "
    "were: your answers are kept.",
    "expired": "Your admin session ended (30 minutes without use, 12 hours at most, or a new "
    "admin token). Unlock again to go on where you were: your answers are kept.",
}


def bearer_token() -> str | None:
    """Return the token of an `Authorization: Bearer` header, or None."""
    auth = request.authorization
    if auth is not None and auth.type == "bearer":
        return auth.token or ""
    return None


def throttle_key() -> str:
    """The client this request's wrong secrets count against."""
    return throttle.client_key(request.remote_addr)


def _too_many(wait: int, whose: str = "your address") -> TooManyRequests:
    return TooManyRequests(
        f"Too many wrong admin tokens from {whose}. Try again in {wait} seconds.",
        retry_after=wait,
    )


def compare_throttled(matches: Callable[[], bool]) -> bool:
    """Every comparison of a token or an unlock link goes here: a client that gave too many
    wrong ones waits; then the secret is compared, and a wrong one is counted. The ceiling on
    all clients together stops only wrong secrets, so that a flood from many addresses cannot
    lock out the admin who holds the right one."""
    own, everyone = throttle.retry_after(throttle_key())
    if own:
        raise _too_many(own)
    if matches():
        return True
    # A wrong one always counts against its client, so that the ceiling never lets one address
    # go on guessing; once the ceiling is reached, it alone is counted.
    throttle.record_failure(throttle_key(), everyone=not everyone)
    if everyone:
        raise _too_many(everyone, "many addresses at once")
    return False


def token_accepted(candidate: object) -> bool:
    """Whether this is the admin token (see compare_throttled)."""
    return compare_throttled(lambda: token_matches(candidate))


def authenticate_bearer() -> None:
    """Check the request's bearer token, once per request: 401 when it is wrong, never a quiet
    fall-back to the public view, so a misconfigured console or script notices at once."""
    if "is_admin" not in g:
        g.is_admin = False  # an error page rendered for this request must not count it again
        g.is_admin = token_accepted(bearer_token())
    if not g.is_admin:
        raise Unauthorized("The bearer token is not the admin token.")


def is_admin() -> bool:
    """True for the admin: lock off, a valid bearer token, or an open admin session."""
    if "is_admin" in g:
        return bool(g.is_admin)
    g.is_admin = False
    if current_app.config["WIZARD_AUTH"] == "none":
        g.is_admin = True
    elif bearer_token() is not None:
        del g.is_admin
        authenticate_bearer()
    elif current_app.config["SESSION_COOKIE_NAME"] in request.cookies and "admin" in session:
        # Only a browser that claims a session costs a look at the database (and one that
        # sends no cookie leaves the session untouched: no Vary: Cookie on what it gets).
        g.is_admin = sessions.session_is_open(session["admin"], token_fingerprint())
        if not g.is_admin:
            # Said once, on whatever page the browser asked for next (the status page too).
            session.pop("admin")
            flash(ENDED_MESSAGES["expired"], "info")
    return bool(g.is_admin)


def is_admin_for_templates() -> bool:
    """is_admin for templates: an error page must render even when the check itself failed."""
    try:
        return bool(g.get("is_admin", False)) or is_admin()
    except Exception:
        return False


def admin_credential() -> str:
    """How the admin proved it for this request: `session`, `token`, or `WIZARD_AUTH=none`."""
    if current_app.config["WIZARD_AUTH"] == "none":
        return "WIZARD_AUTH=none"
    return "token" if bearer_token() is not None else "session"


def require_admin() -> Response | None:
    """A blueprint's before_request: whoever is not the admin goes to the unlock page, and comes
    back to the page they were on (a form sent to a step comes back to that step's page)."""
    if is_admin():
        return None
    if session.pop("ended", None) == "locked":
        flash(ENDED_MESSAGES["locked"], "info")
    return redirect(url_for("auth.unlock", next=request.path))


def safe_next(target: object) -> str | None:
    """A path on this site to return to (never another site), or None."""
    if not target or not isinstance(target, str):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(char) < 0x20 for char in target):
        return None
    return target


def start_admin_session() -> None:
    """A new session for the admin: new cookie contents, the draft kept."""
    kept = {name: session[name] for name in KEPT_ACROSS_UNLOCK if name in session}
    session.clear()
    session.update(kept)
    session["admin"] = sessions.open_session(token_fingerprint())
    g.is_admin = True
