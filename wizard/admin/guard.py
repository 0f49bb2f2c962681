"""The one write guard, for the pages and the API alike: a write comes with the admin token,
or from a page of this wizard with its CSRF token; never from another site."""

from __future__ import annotations

import functools

from flask import Flask, current_app, request, session
from flask_wtf.csrf import CSRFProtect, generate_csrf
from itsdangerous import URLSafeTimedSerializer
from werkzeug.exceptions import Forbidden, Unauthorized

from .auth import authenticate_bearer, bearer_token, is_admin

csrf = CSRFProtect()

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def from_another_site() -> bool:
    """True when the browser says another site sent this request (Sec-Fetch-Site): a form, a
    fetch, or a link followed from a page elsewhere."""
    return request.headers.get("Sec-Fetch-Site") == "cross-site"


def guard_write() -> None:
    """Before every request: a write needs the admin token as a bearer token (checked in every
    mode, WIZARD_AUTH=none too: a cross-site form cannot set an Authorization header), or the
    session's CSRF token from a page of this site. The API also needs the admin for it."""
    if request.method in SAFE_METHODS or request.routing_exception is not None:
        return  # a read, or a 404 or 405 to report as such
    if bearer_token() is not None:
        authenticate_bearer()  # a wrong one is a 401, counted against the client
        return
    api = request.blueprint == "api"
    if api and not is_admin():
        raise Unauthorized("Send the admin token as `Authorization: Bearer <token>`.")
    if from_another_site():
        raise Forbidden(
            "This request came from another site, so it was refused."
            if api
            else "This form was sent from another site, so it was refused."
        )
    csrf.protect()


def init_app(app: Flask) -> None:
    """CSRF for every form, checked by the guard; the guard before every request."""
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf.init_app(app)
    app.jinja_env.globals["csrf_token"] = _signed_csrf_token
    app.context_processor(lambda: {"csrf_token": _signed_csrf_token})  # after Flask-WTF's own
    app.before_request(guard_write)


def _signed_csrf_token() -> str:
    """csrf_token() for templates, remembered per session token: its signed form is good for as
    long as the session (WTF_CSRF_TIME_LIMIT is off), and signing it anew on every page costs
    as much as a database read. Flask-WTF's generate_csrf makes the session's token."""
    raw = session.get("csrf_token")
    if not isinstance(raw, str):
        return str(generate_csrf())
    return _signed(current_app.config.get("WTF_CSRF_SECRET_KEY") or current_app.secret_key, raw)


@functools.lru_cache(maxsize=1024)
def _signed(secret_key: str, raw: str) -> str:
    """What generate_csrf signs: the session's token, with Flask-WTF's salt."""
    return URLSafeTimedSerializer(secret_key, salt="wtf-csrf-token").dumps(raw)
