"""Fast reads: the SELECTs a console polls and every admin page makes, run on a pooled driver
connection without SQLAlchemy's result machinery, with the same values their column types give."""

from __future__ import annotations

import collections
import functools
import json
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa

from .deadlines import deadlines_of
from .types import UTCDateTime, db, utc_from_db

T = TypeVar("T")

Read = tuple[sa.Select[Any], dict[str, Any] | None]


def retried_once_if_disconnected(read: Callable[..., T]) -> Callable[..., T]:
    """A read that met a pooled connection the database had dropped (a restart, a failover, a
    cut network) runs once more: SQLAlchemy has discarded the dead connections by then. Only
    a quick failure is retried; a read that waited out its deadline is not waited out twice."""

    @functools.wraps(read)
    def wrapped(*args: Any, **kwargs: Any) -> T:
        started = time.monotonic()
        try:
            return read(*args, **kwargs)
        except sa.exc.DBAPIError as error:
            if not error.connection_invalidated or time.monotonic() - started > 1.0:
                raise
        return read(*args, **kwargs)

    return wrapped


def _json_from_db(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


@functools.cache
def _row_reader(statement: sa.Select[Any]) -> Callable[[Sequence[Any]], Any]:
    """Turn a driver's row of this SELECT into a named tuple with the values its column types
    give: aware UTC times, JSON as Python."""
    columns = list(statement.selected_columns)
    row_type = collections.namedtuple("Row", [column.name for column in columns])  # type: ignore[misc]
    converters = [
        utc_from_db
        if isinstance(column.type, UTCDateTime)
        else _json_from_db
        if isinstance(column.type, sa.JSON)
        else None
        for column in columns
    ]

    def read(raw: Sequence[Any]) -> Any:
        return row_type(*(c(v) if c else v for c, v in zip(converters, raw, strict=True)))

    return read


@functools.cache
def _driver_sql(statement: sa.Select[Any], dialect: sa.Dialect) -> tuple[str, Any, dict[str, Any]]:
    """A Core statement compiled once per database: its SQL, the order of its parameters (for
    drivers that take them by position) and its own parameter values."""
    compiled = statement.compile(dialect=dialect)
    return compiled.string, compiled.positiontup, compiled.construct_params(_check=False)


@retried_once_if_disconnected
def driver_reads(*reads: Read) -> list[list[Any]]:
    """Run SELECTs, each a (Core statement, parameters) pair, on one pooled driver connection
    and in one transaction, so that they see one snapshot; return the rows of each, with the
    values their column types say (named tuples of aware times and parsed JSON).

    Driver errors come out as SQLAlchemy's DBAPIError (so the 503 pages and the CLI's exit
    codes treat them as always), a connection found dead is dropped from the pool, and each
    statement has its deadline.
    """
    engine = db.engine
    dbapi_error = engine.dialect.loaded_dbapi.Error
    try:
        connection = engine.raw_connection()
    except dbapi_error as error:
        raise sa.exc.DBAPIError.instance(None, None, error, dbapi_error) from error
    # A lone SELECT needs no transaction: on PostgreSQL, autocommit spares the BEGIN and the
    # ROLLBACK that returning the connection to the pool would otherwise cost.
    alone = len(reads) == 1 and engine.dialect.name != "sqlite"
    try:
        if alone:
            connection.dbapi_connection.autocommit = True  # type: ignore[union-attr]
        cursor = connection.cursor()
        try:
            with deadlines_of(engine).watching(connection.dbapi_connection):
                return _run(cursor, engine.dialect, reads)
        finally:
            cursor.close()
    except dbapi_error as error:
        lost = engine.dialect.is_disconnect(error, connection.dbapi_connection, None)
        if lost:
            connection.invalidate(error)
        raise sa.exc.DBAPIError.instance(
            None, None, error, dbapi_error, connection_invalidated=lost
        ) from error
    finally:
        if alone and connection.dbapi_connection is not None:
            connection.dbapi_connection.autocommit = False  # type: ignore[union-attr]
        connection.close()  # back to the pool, which rolls back what is open


def _run(cursor: Any, dialect: sa.Dialect, reads: Sequence[Read]) -> list[list[Any]]:
    """Execute the reads on a driver cursor, one snapshot (SQLite begins none by itself)."""
    snapshot = dialect.name == "sqlite" and len(reads) > 1
    if snapshot:
        cursor.execute("BEGIN")
    results = []
    for statement, params in reads:
        sql, order, values = _driver_sql(statement, dialect)
        if params:
            values = {**values, **params}
        cursor.execute(sql, tuple(values[name] for name in order) if order else values)
        results.append(list(map(_row_reader(statement), cursor.fetchall())))
    if snapshot:
        cursor.execute("COMMIT")
    return results
