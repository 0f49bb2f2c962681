"""Error pages and JSON errors: a clear message and what to do, never a stack trace."""

import sqlalchemy as sa
from flask import render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError, SecurityError

from .database import db

MESSAGES = {
    400: "The request could not be understood.",
    401: "You need to unlock the wizard with the admin token first.",
    403: "You are not allowed to do that.",
    404: "There is no page at this address.",
    405: "This page cannot be used that way.",
    413: "That upload is larger than this wizard accepts.",
    429: "Too many attempts. Wait a little, then try again.",
    500: "Something went wrong on the server. Nothing was saved.",
    503: "The wizard cannot reach its database right now. Nothing was saved.",
}


def _wants_json():
    return request.blueprint in {"api", "health"}


def _respond(status, message, hint=None, headers=None):
    if _wants_json():
        body = {"error": message}
        if hint:
            body["hint"] = hint
        return body, status, headers or {}
    page = render_template("error.html", status=status, message=message, hint=hint)
    return page, status, headers or {}


def init_app(app):
    """Register the handlers that turn every failure into a page or a JSON body."""

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return _respond(
            400,
            "This form has expired or did not come from this wizard. Nothing was saved.",
            "Go back, reload the page, and submit the form again.",
        )

    @app.errorhandler(SecurityError)
    def untrusted_host(error):
        # No page template here: building its links needs the very host name that was refused.
        return (
            "This wizard does not answer to that host name. Use the address your "
            "administrator gave you (WIZARD_TRUSTED_HOSTS).\n",
            400,
            {"Content-Type": "text/plain; charset=utf-8"},
        )

    @app.errorhandler(HTTPException)
    def http_error(error):
        message = MESSAGES.get(error.code, error.description)
        headers = {}
        if error.code in (401, 429) and error.description != type(error).description:
            message = error.description  # our own words: what exactly to do
        if getattr(error, "retry_after", None):
            headers["Retry-After"] = str(error.retry_after)
        if error.code == 401 and _wants_json():
            headers["WWW-Authenticate"] = 'Bearer realm="setup-wizard"'
        return _respond(error.code, message, headers=headers)

    @app.errorhandler(sa.exc.DBAPIError)
    def database_error(error):
        db.session.rollback()
        app.logger.warning("database unavailable: %s", type(error.orig).__name__)
        return _respond(
            503,
            MESSAGES[503],
            "Check that the database is running and that the schema is current "
            "(`setup-wizard db upgrade`), then reload.",
        )

    @app.errorhandler(InternalServerError)
    def internal_error(error):
        return _respond(500, MESSAGES[500])
