"""Wrong admin tokens, counted per client in the database: every worker and replica agrees."""

import math
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from .database import SINGLE_READ, SQLITE_BEGIN_IMMEDIATE, UTCDateTime, db, dialect_insert
from .models import FailedUnlock

MAX_FAILURES = 10
WINDOW = timedelta(minutes=5)

FAILURES = FailedUnlock.__table__


_READ_FAILURES = sa.select(FAILURES.c.failures, FAILURES.c.window_started_at).where(
    FAILURES.c.client_address == sa.bindparam("client")
)


def _client(address):
    return (address or "unknown")[:64]


def retry_after(address, now=None):
    """Seconds until this client may try a token again, or None when it may now."""
    now = now or datetime.now(UTC)
    with db.engine.connect().execution_options(**{SINGLE_READ: True}) as connection:
        row = connection.execute(_READ_FAILURES, {"client": _client(address)}).first()
    if row is None or row.failures < MAX_FAILURES:
        return None
    remaining = (row.window_started_at + WINDOW - now).total_seconds()
    return math.ceil(remaining) if remaining > 0 else None


def record_failure(address, now=None):
    """Count one wrong token from this client; a window older than WINDOW starts again."""
    now = now or datetime.now(UTC)
    cutoff = sa.literal(now - WINDOW, UTCDateTime())
    stale = FAILURES.c.window_started_at < cutoff
    options = {SQLITE_BEGIN_IMMEDIATE: True}
    with db.engine.connect().execution_options(**options) as connection, connection.begin():
        statement = dialect_insert(connection.dialect.name, FAILURES).values(
            client_address=_client(address), window_started_at=now, failures=1
        )
        connection.execute(
            statement.on_conflict_do_update(
                index_elements=["client_address"],
                set_={
                    "failures": sa.case((stale, 1), else_=FAILURES.c.failures + 1),
                    "window_started_at": sa.case(
                        (stale, sa.literal(now, UTCDateTime())),
                        else_=FAILURES.c.window_started_at,
                    ),
                },
            )
        )


def forget_failures(address):
    """A right token clears the client's count."""
    with db.engine.begin() as connection:
        connection.execute(FAILURES.delete().where(FAILURES.c.client_address == _client(address)))
