"""Wrong admin tokens, counted per client in the database: every worker and replica agrees.

A client is an IPv4 address or an IPv6 /64 (one host can hold a whole /64). Every client
together also has a ceiling, so that no supply of addresses buys unlimited guesses, and rows
whose window has passed are removed as new failures come in, so the table stays small.
"""

import ipaddress
import math
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from ..db import SQLITE_BEGIN_IMMEDIATE, UTCDateTime, db, dialect_insert, driver_reads
from ..models import FailedUnlock, table_of

MAX_FAILURES = 10
MAX_FAILURES_ALL_CLIENTS = 1000
WINDOW = timedelta(minutes=5)

ALL_CLIENTS = "*"

FAILURES = table_of(FailedUnlock)

_READ_FAILURES = sa.select(
    FAILURES.c.client_address, FAILURES.c.failures, FAILURES.c.window_started_at
).where(FAILURES.c.client_address.in_([sa.bindparam("client"), ALL_CLIENTS]))


def client_key(address):
    """The client a request counts against: its IPv4 address, or its IPv6 /64."""
    try:
        ip = ipaddress.ip_address((address or "").split("%")[0])
    except ValueError:
        return (address or "unknown")[:64]
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def retry_after(client, now=None):
    """Seconds until this client may try a token again, and until any client may try a wrong
    one again (the ceiling on all clients together); None for each that is open now."""
    now = now or datetime.now(UTC)
    [rows] = driver_reads((_READ_FAILURES, {"client": client}))
    waits = {client: None, ALL_CLIENTS: None}
    for row in rows:
        everyone = row.client_address == ALL_CLIENTS
        wait = (row.window_started_at + WINDOW - now).total_seconds()
        if row.failures >= (MAX_FAILURES_ALL_CLIENTS if everyone else MAX_FAILURES) and wait > 0:
            waits[row.client_address] = math.ceil(wait)
    return waits[client], waits[ALL_CLIENTS]


def record_failure(client, now=None, everyone=True):
    """Count one wrong token from this client and (unless `everyone` is false, once all clients
    together have reached their ceiling) from all clients together; a window older than WINDOW
    starts again, and windows that have passed are removed."""
    now = now or datetime.now(UTC)
    cutoff = sa.literal(now - WINDOW, UTCDateTime())
    stale = FAILURES.c.window_started_at < cutoff
    options = {SQLITE_BEGIN_IMMEDIATE: True}
    with db.engine.connect().execution_options(**options) as connection, connection.begin():
        connection.execute(FAILURES.delete().where(stale))
        for key in (client, ALL_CLIENTS) if everyone else (client,):
            statement = dialect_insert(connection.dialect.name, FAILURES).values(
                client_address=key, window_started_at=now, failures=1
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


def forget_failures(client):
    """A right token clears the client's own count (not the count of all clients)."""
    with db.engine.begin() as connection:
        connection.execute(FAILURES.delete().where(FAILURES.c.client_address == client))
