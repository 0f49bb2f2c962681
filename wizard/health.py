"""Liveness and readiness, for load balancers and orchestrators."""

import sqlalchemy as sa
from flask import Blueprint

from .database import db
from .schema import SchemaNotReady, check_schema

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """200 while the process serves."""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    """200 when the database answers and its schema is current; 503 with the reason otherwise."""
    try:
        with db.engine.connect() as connection:
            check_schema(connection)
    except SchemaNotReady as error:
        return {"status": "unavailable", "reason": str(error)}, 503
    except sa.exc.DBAPIError as error:
        reason = f"the database does not answer ({type(error.orig).__name__})"
        return {"status": "unavailable", "reason": reason}, 503
    return {"status": "ready"}
