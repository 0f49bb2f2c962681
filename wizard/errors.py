"""Error pages and JSON errors: a clear message and what to do, never a stack trace."""

import sqlalchemy as sa
from flask import render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

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


def _respond(status, message, hint=None):
    if _wants_json():
        body = {"error": message}
        if hint:
            body["hint"] = hint
        return body, status
    return render_template("error.html", status=status, message=message, hint=hint), status


def init_app(app):
    """Register the handlers that turn every failure into a page or a JSON body."""

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return _respond(
            400,
            "This form has expired or did not come from this wizard. Nothing was saved.",
            "Go back, reload the page, and submit the form again.",
        )

    @app.errorhandler(HTTPException)
    def http_error(error):
        message = MESSAGES.get(error.code, error.description)
        return _respond(error.code, message)

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
