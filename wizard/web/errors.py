"""Error pages and JSON errors: what happened and what to do, never a stack trace."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError, SecurityError

from ..db import database_problem
from ..words import size

MESSAGES = {
    400: "The request could not be understood.",
    401: "You need to unlock the wizard with the admin token first.",
    403: "You are not allowed to do that.",
    404: "There is no page at this address.",
    405: "This page cannot be used that way.",
    413: "That upload is larger than this wizard accepts.",
    429: "Too many attempts. Wait a little, then try again.",
    500: "Something went wrong on the server. Nothing was saved.",
    503: "The wizard cannot use its database right now. Nothing was saved.",
}


def _wants_json():
    """The API answers in JSON, also for an address or a method it does not have."""
    return request.blueprint in {"api", "health", "metrics"} or request.path.startswith("/api/")


def respond(status, message, hint=None, headers=None, **page):
    """An error as JSON for the API, as a page for a person."""
    if _wants_json():
        body = {"error": message}
        if hint:
            body["hint"] = hint
        return body, status, headers or {}
    html = render_template("error.html", status=status, message=message, hint=hint, **page)
    return html, status, headers or {}


def _cookie_withheld():
    """True when the browser sent no session cookie at all with a form it got from us."""
    return current_app.config["SESSION_COOKIE_NAME"] not in request.cookies


def csrf_error(error: CSRFError) -> Any:
    """A form without this session's CSRF token: say why, and what to do."""
    if _wants_json():
        return respond(
            400,
            "A write without a bearer token needs this session's CSRF token in X-CSRFToken.",
            "Scripts send the admin token instead: `Authorization: Bearer <token>`.",
        )
    if _cookie_withheld():
        # Not told apart by Sec-Fetch-Dest: browsers send it only to secure origins, and a
        # frame over plain HTTP is where the cookie is kept out most often.
        https = "" if request.is_secure else " There it also needs HTTPS, which this page lacks."
        return respond(
            400,
            "Your browser did not send this wizard's cookie, so the form could not be trusted. "
            "Nothing was saved.",
            "Inside a console's frame, browsers keep another site's cookies out unless it allows "
            f"them, and some browsers block them everywhere.{https} Open the wizard in a new "
            "tab and carry on there; otherwise, allow cookies for this site and send the form "
            "again.",
            new_tab_url=request.url,
        )
    return respond(
        400,
        "This form has expired or did not come from this wizard. Nothing was saved.",
        "Go back, reload the page, and submit the form again.",
    )


def untrusted_host(error: SecurityError) -> Any:
    """A host name outside WIZARD_TRUSTED_HOSTS: plain text (links would need that host)."""
    return (
        "This wizard does not answer to that host name. Use the address your "
        "administrator gave you (WIZARD_TRUSTED_HOSTS).\n",
        400,
        {"Content-Type": "text/plain; charset=utf-8"},
    )


def http_error(error: HTTPException) -> Any:
    """Any HTTP error: our own words when we gave some, else the status's."""
    message = MESSAGES.get(error.code or 500, error.description)
    headers = {}
    if error.description != type(error).description:
        message = error.description  # our own words: what exactly to do
    if getattr(error, "retry_after", None):
        headers["Retry-After"] = str(error.retry_after)  # type: ignore[attr-defined]
    if error.code == 401 and _wants_json():
        headers["WWW-Authenticate"] = 'Bearer realm="setup-wizard"'
    hint = None
    if error.code == 413:
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        hint = f"The most it accepts is {size(limit)} (WIZARD_MAX_UPLOAD_BYTES)."
    return respond(error.code or 500, message or "", hint, headers=headers)


def database_error(error: sa.exc.DBAPIError) -> Any:
    """The database failed: what happened, in words; the driver's own words go to the log."""
    problem = database_problem(error)
    # The driver's words name hosts and users: the log has them, the page does not.
    current_app.logger.warning("database error (%s): %s", problem.kind, problem.detail)
    hint = {
        "no_schema": None,
        "old_schema": None,
        "too_long": "Check the values sent; nothing was saved.",
    }.get(
        problem.kind,
        "Check that the database is running and that the schema is current "
        "(`setup-wizard db upgrade`), then reload.",
    )
    if request.method not in ("GET", "HEAD"):
        hint = f"Nothing was saved. {hint or ''}".strip()
    return respond(problem.status, problem.message, hint)


def internal_error(error: InternalServerError) -> Any:
    return respond(500, MESSAGES[500])


def init_app(app: Flask) -> None:
    """Register the handlers that turn every failure into a page or a JSON body."""
    app.register_error_handler(CSRFError, csrf_error)
    app.register_error_handler(SecurityError, untrusted_host)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(sa.exc.DBAPIError, database_error)
    app.register_error_handler(InternalServerError, internal_error)
