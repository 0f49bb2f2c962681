"""Liveness and readiness, for load balancers and orchestrators."""

import sqlalchemy as sa
from flask import Blueprint, current_app

from ..db import database_problem, db, retried_once_if_disconnected
from ..schema import SchemaNotReady, ensure_current_schema
from .headers import EVERY_ANSWER, NO_STORE

bp = Blueprint("health", __name__)


_HEALTHY = b'{"status":"ok"}\n'
_HEALTHY_HEADERS = [
    ("Content-Type", "application/json"),
    ("Content-Length", str(len(_HEALTHY))),
    NO_STORE,
    *EVERY_ANSWER,
]


class Liveness:
    """Answer GET /healthz before Flask: orchestrators poll it all the time, and it needs no
    session, CSRF or database. Every other request goes to the app."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == "/healthz" and environ.get("REQUEST_METHOD") in (
            "GET",
            "HEAD",
        ):
            start_response("200 OK", list(_HEALTHY_HEADERS))
            return [b"" if environ["REQUEST_METHOD"] == "HEAD" else _HEALTHY]
        return self.app(environ, start_response)


@bp.get("/healthz")
def healthz():
    """200 while the process serves (Liveness answers first when the app runs as a whole)."""
    return {"status": "ok"}


@retried_once_if_disconnected
def _check_schema() -> None:
    """A pooled connection the database dropped (it restarted) is found here and discarded;
    the check then runs once more on a new one, so that a database back up is ready at once."""
    with db.engine.connect() as connection:
        ensure_current_schema(connection)


@bp.get("/readyz")
def readyz():
    """200 when the database answers and its schema is current; 503 with the reason otherwise."""
    try:
        _check_schema()
    except SchemaNotReady as error:
        return {"status": "unavailable", "reason": str(error)}, 503
    except sa.exc.DBAPIError as error:
        problem = database_problem(error)
        current_app.logger.warning("not ready (%s): %s", problem.kind, problem.detail)
        return {"status": "unavailable", "reason": problem.message}, 503
    return {"status": "ready"}
